/* rcpt_vec_sparse: a read-only, query-only copy of a snapshot file whose
 * vectors are mostly zeros (the local n-gram embedder: a `lines` vector of
 * 1536 floats has ~65 non-zero entries).
 *
 * Why: rcpt_vec_open holds every vector densely (1,000 receipts of `lines`
 * = 45,000 x 1536 float32 = 276 MB) and a query reads all of it.  Here each
 * row keeps only its non-zero entries, bit for bit (index u16 + float32,
 * ~17 MB for the same snapshot), plus its id, document and metadata.
 *
 * Queries are EXACT: the same hits, in the same order, with the same float
 * scores as rcpt_vec_query over the dense collection.  A pass over the
 * sparse rows computes every row's score for up to 8 queries at once; that
 * sum runs in another order than the dense kernel, so it can differ from it
 * by at most eps = 2.5 x dim x 2^-24 (two recursive float sums of at most
 * dim products whose magnitudes add up to <= |q||row| ~ 1).  Every row
 * within 2 x eps of the k-th best approximate score is then rescored with
 * the dense kernel itself (the row rebuilt from its entries), and the k
 * best of those, ties by id, are the answer.  (The true top k all lie in
 * that window: the k rows with the best approximations have true scores
 * >= T - eps, so the k-th true score S >= T - eps, and a true top-k row
 * has approximation >= S - eps >= T - 2 eps.)
 *
 * Files are read and checked as rcpt_vec_open does (docs/vector-format.md);
 * a file denser than max_density (non-zeros / (rows x dim)) is refused with
 * RCPT_ELIMIT before it is read whole, so the caller opens it densely
 * instead (OpenAI vectors have no zeros). */
#ifndef RCPT_VEC_SPARSE_H
#define RCPT_VEC_SPARSE_H

#include "vec.h"

typedef struct rcpt_vec_sparse rcpt_vec_sparse;

/* Open path (verified against man when given).  max_density <= 0: 0.25. */
int rcpt_vec_sparse_open(const char *path, const rcpt_vec_manifest *man, double max_density,
                         rcpt_vec_sparse **out, rcpt_err *err);
void rcpt_vec_sparse_free(rcpt_vec_sparse *s);
int rcpt_vec_sparse_dim(const rcpt_vec_sparse *s);
size_t rcpt_vec_sparse_count(const rcpt_vec_sparse *s);
size_t rcpt_vec_sparse_nnz(const rcpt_vec_sparse *s);
/* The rows' ids, documents and metadata, as a collection of dimension 1
 * whose row i is row i here (hits[].row): read it with rcpt_vec_row_id,
 * rcpt_vec_row_doc, rcpt_vec_meta_begin; its vectors are placeholders. */
const rcpt_vec_coll *rcpt_vec_sparse_rows(const rcpt_vec_sparse *s);

/* nq queries (qs: nq x dim floats, each normalised here) with the same
 * opts: hits[i*k .. i*k + nhits[i]) for query i, as rcpt_vec_query returns
 * them (k = opts->k capped at the row count). */
int rcpt_vec_sparse_query(const rcpt_vec_sparse *s, const float *qs, size_t nq,
                          const rcpt_vec_query_opts *opts, rcpt_vec_hit *hits, size_t *nhits,
                          rcpt_err *err);

#endif
