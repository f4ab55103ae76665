/* rcpt_vec: vector collections, their delta/snapshot files and exact search.
 *
 * A collection has a name, a dimension fixed at creation, and rows of
 *   id (string, unique), float32 vector, document (bytes), metadata
 * where metadata is a flat JSON object whose values are strings, numbers
 * (integers and doubles are kept apart), booleans or null.
 *
 * Vectors are L2-normalised when written (a zero, NaN or infinite vector is
 * refused, naming the id), so the score of a query is the COSINE SIMILARITY,
 * computed as the dot product of the normalised query and row: 1 = same
 * direction, 0 = orthogonal, -1 = opposite.  Cosine is the score everywhere in
 * rcpt (queries, merchant matching); there is no distance.
 *
 * The vectors live in one contiguous, page-aligned float32 matrix (row i at
 * i*dim), so a query is one streaming pass over memory, split across threads.
 *
 * Row indices (0..count-1) are valid until the next mutation: a delete moves
 * the last row into the hole.  Files: see docs/vector-format.md.
 *
 * A collection is not thread-safe for concurrent mutation; concurrent queries
 * on an unchanging collection are fine. */
#ifndef RCPT_VEC_VEC_H
#define RCPT_VEC_VEC_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define RCPT_VEC_FORMAT "rcpt-vec"
#define RCPT_VEC_FORMAT_VERSION 1
#define RCPT_VEC_MAX_DIM 65536

typedef struct rcpt_vec_coll rcpt_vec_coll;

/* ---- metadata values ------------------------------------------------------ */
enum {
    RCPT_VEC_NULL = 0,
    RCPT_VEC_BOOL,
    RCPT_VEC_INT,   /* int64; equal to a RCPT_VEC_NUM of the same value */
    RCPT_VEC_NUM,   /* finite double */
    RCPT_VEC_STR
};

typedef struct rcpt_vec_val {
    int type;
    int b;            /* RCPT_VEC_BOOL */
    int64_t i;        /* RCPT_VEC_INT */
    double num;       /* RCPT_VEC_NUM */
    const char *str;  /* RCPT_VEC_STR: str[0..len), may hold NUL bytes */
    size_t len;
} rcpt_vec_val;

typedef struct rcpt_vec_kv {
    const char *key;  /* NUL-terminated, non-empty */
    rcpt_vec_val val;
} rcpt_vec_kv;

/* One row to write.  vec has dim floats (not yet normalised); doc may be NULL
 * (= ""); meta has nmeta entries with distinct keys. */
typedef struct rcpt_vec_row {
    const char *id;
    const float *vec;
    const char *doc;
    size_t doc_len;
    const rcpt_vec_kv *meta;
    size_t nmeta;
} rcpt_vec_row;

/* ---- collections ------------------------------------------------------------ */
int rcpt_vec_new(rcpt_vec_coll **out, const char *name, int dim, rcpt_err *err);
void rcpt_vec_free(rcpt_vec_coll *c);
const char *rcpt_vec_name(const rcpt_vec_coll *c);
int rcpt_vec_dim(const rcpt_vec_coll *c);
size_t rcpt_vec_count(const rcpt_vec_coll *c);
/* Make room for n rows in total (avoids growth steps before a known load). */
int rcpt_vec_reserve(rcpt_vec_coll *c, size_t n, rcpt_err *err);
/* Threads used by queries (default: online CPUs, at most 16; 1 = no threads). */
void rcpt_vec_set_threads(rcpt_vec_coll *c, int n);
int rcpt_vec_threads(const rcpt_vec_coll *c);

/* Insert or replace rows by id.  All rows are checked first (vector finite and
 * non-zero, metadata keys non-empty and distinct, numbers finite); on an error
 * nothing is written and the message names rows[i] and its id.  When an id
 * repeats inside one call the last one wins. */
int rcpt_vec_upsert(rcpt_vec_coll *c, const rcpt_vec_row *rows, size_t n, rcpt_err *err);
/* Delete the given ids; ids not present are ignored.  *deleted (may be NULL)
 * receives how many rows went. */
int rcpt_vec_delete(rcpt_vec_coll *c, const char *const *ids, size_t n, size_t *deleted,
                    rcpt_err *err);
/* For each id present: set the keys in set[0..nset) and remove the keys in
 * remove[0..nremove) (a key both set and removed is set).  Vectors and
 * documents are untouched.  *updated (may be NULL) = ids found. */
int rcpt_vec_update_metadata(rcpt_vec_coll *c, const char *const *ids, size_t n,
                             const rcpt_vec_kv *set, size_t nset,
                             const char *const *remove, size_t nremove, size_t *updated,
                             rcpt_err *err);
/* Upsert every row of src into dst (same dimension required, names may
 * differ).  Vectors are copied bit for bit, so applying the same rows twice
 * changes nothing.  *merged (may be NULL) = rows in src. */
int rcpt_vec_apply(rcpt_vec_coll *dst, const rcpt_vec_coll *src, size_t *merged, rcpt_err *err);

/* Lazy (file-backed) rows, for compaction.  In a lazy collection, rows loaded
 * from files (rcpt_vec_apply_file, rcpt_vec_open_ex with RCPT_VEC_LAZY) are
 * checked as usual (unit length, metadata, count, checksum) but their
 * vectors are not copied into memory: rcpt_vec_write reads them again from
 * their files, straight into the new file.  So merging deltas into a
 * snapshot touches each vector's bytes about as often as a file copy does,
 * and memory holds ids and metadata only.  The files must stay in place and
 * unchanged until the collection is written (their size, mtime and inode are
 * checked then: a changed file is RCPT_ECORRUPT).  A query, or a vector read
 * (rcpt_vec_row_vec returns NULL), on a lazy row is refused; upsert and
 * update_metadata work as usual.  Turning lazy off keeps the rows already
 * loaded lazy. */
int rcpt_vec_set_lazy(rcpt_vec_coll *c, int on, rcpt_err *err);
int rcpt_vec_is_lazy(const rcpt_vec_coll *c);
/* Rows whose vector is still in a file. */
size_t rcpt_vec_lazy_rows(const rcpt_vec_coll *c);

/* ---- reading rows ----------------------------------------------------------- */
/* Row index of id, or -1. */
long rcpt_vec_find(const rcpt_vec_coll *c, const char *id);
const char *rcpt_vec_row_id(const rcpt_vec_coll *c, size_t row);
/* The document, NUL-terminated (it may also hold NUL bytes: use *len). */
const char *rcpt_vec_row_doc(const rcpt_vec_coll *c, size_t row, size_t *len);
/* The normalised vector; NULL for a lazy row (still in its file). */
const float *rcpt_vec_row_vec(const rcpt_vec_coll *c, size_t row);

/* Iterate a row's metadata in key order:
 *   rcpt_vec_meta_it it; rcpt_vec_meta_begin(c, row, &it);
 *   rcpt_vec_kv kv; while (rcpt_vec_meta_next(&it, &kv)) ...
 * Pointers in kv stay valid until the next mutation. */
typedef struct rcpt_vec_meta_it {
    const rcpt_vec_coll *c;
    const unsigned char *p, *end;
} rcpt_vec_meta_it;
void rcpt_vec_meta_begin(const rcpt_vec_coll *c, size_t row, rcpt_vec_meta_it *it);
int rcpt_vec_meta_next(rcpt_vec_meta_it *it, rcpt_vec_kv *kv);
/* Look one key up in a row's metadata: 1 found (in *val), 0 absent. */
int rcpt_vec_meta_get(const rcpt_vec_coll *c, size_t row, const char *key, rcpt_vec_val *val);
/* Append the row's metadata as a JSON object (keys sorted). */
int rcpt_vec_meta_json(const rcpt_vec_coll *c, size_t row, rcpt_buf *out);

/* ---- query ------------------------------------------------------------------ */
enum { RCPT_VEC_EQ = 0, RCPT_VEC_NE, RCPT_VEC_IN };

/* One condition on a metadata key.  EQ: the key is present with an equal value
 * (1 == 1.0, "1" != 1, true != 1).  NE: the key is absent or its value differs.
 * IN: the key is present and equals one of vals.  Conditions combine by AND. */
typedef struct rcpt_vec_cond {
    const char *key;
    int op;
    const rcpt_vec_val *vals;  /* EQ/NE: vals[0]; IN: vals[0..nvals) */
    size_t nvals;
} rcpt_vec_cond;

typedef struct rcpt_vec_query_opts {
    size_t k;                        /* hits wanted (0 = none) */
    const rcpt_vec_cond *where;
    size_t nwhere;
    const char *const *exclude_ids;  /* rows never returned */
    size_t nexclude;
} rcpt_vec_query_opts;

typedef struct rcpt_vec_hit {
    size_t row;
    float score;  /* cosine similarity */
} rcpt_vec_hit;

/* Exact top-k: hits[0..*nhits) in descending score, equal scores by id
 * (byte order) ascending.  hits must hold opts->k entries.  q has dim floats
 * and is normalised here (a zero or non-finite query is EINVAL). */
int rcpt_vec_query(const rcpt_vec_coll *c, const float *q, const rcpt_vec_query_opts *opts,
                   rcpt_vec_hit *hits, size_t *nhits, rcpt_err *err);

/* ---- flat JSON objects (metadata, manifests) --------------------------------- */
/* Parse `{"k": scalar, ...}`: *kv (malloc'd, free with rcpt_vec_kv_free) gets
 * the entries; strings point into one allocation owned by *kv.  Nested
 * arrays/objects are EINVAL naming `what` and the key. */
int rcpt_vec_json_parse(const char *json, size_t len, const char *what, rcpt_vec_kv **kv,
                        size_t *n, rcpt_err *err);
void rcpt_vec_kv_free(rcpt_vec_kv *kv);
/* Append kv[0..n) as a JSON object in the given order. */
int rcpt_vec_json_write(rcpt_buf *out, const rcpt_vec_kv *kv, size_t n);

/* ---- files -------------------------------------------------------------------- */
typedef struct rcpt_vec_manifest {
    char format[32];       /* "rcpt-vec" */
    int format_version;
    char kind[16];         /* "snapshot" or "delta" */
    char collection[256];
    int dimension;
    int64_t count;
    char version[128];     /* snapshot version id ("" for deltas) */
    /* The content checksum of the file's bytes: xxh3_128 (32 hex digits, the
     * canonical big-endian form xxh128sum prints) in files written by this
     * rcpt; sha256 (64 hex) in manifests of older ones, still verified.
     * "" = absent; xxh3_128 is the one verified when both are set.  It guards against corrupt, torn or
     * truncated files, not against an adversary (docs/vector-format.md). */
    char xxh3_128[33];
    char sha256[65];
    int64_t bytes;         /* file size */
    char created_at[32];   /* UTC, 2026-01-02T03:04:05Z */
} rcpt_vec_manifest;

/* Write the collection as a delta (version NULL) or a snapshot (version set)
 * to path: temp file in the same folder, one transaction, fsync, rename.
 * *man (may be NULL) receives the manifest; manifest_json (may be NULL) gets
 * its JSON text appended. */
int rcpt_vec_write(const rcpt_vec_coll *c, const char *path, const char *version,
                   rcpt_vec_manifest *man, rcpt_buf *manifest_json, rcpt_err *err);
/* rcpt_vec_write with flags.  RCPT_VEC_NO_FSYNC: skip the fsyncs of the file
 * and its folder (still written to a temp name and renamed): for a staging
 * copy that is uploaded next, whose durability is the object store's. */
#define RCPT_VEC_NO_FSYNC 1
int rcpt_vec_write_ex(const rcpt_vec_coll *c, const char *path, const char *version, int flags,
                      rcpt_vec_manifest *man, rcpt_buf *manifest_json, rcpt_err *err);
/* Read a file written by rcpt_vec_write.  When man is non-NULL the file is
 * verified against it first (rcpt_vec_verify).  Any damage (not SQLite,
 * truncated, wrong dimension, bad blob, bad metadata, count mismatch, vectors
 * that are not unit length) is RCPT_ECORRUPT; a missing file RCPT_ENOTFOUND. */
int rcpt_vec_open(const char *path, const rcpt_vec_manifest *man, rcpt_vec_coll **out,
                  rcpt_err *err);
/* rcpt_vec_open with flags.  RCPT_VEC_LAZY: a lazy collection whose rows keep
 * their vectors in path (see rcpt_vec_set_lazy). */
#define RCPT_VEC_LAZY 2
int rcpt_vec_open_ex(const char *path, const rcpt_vec_manifest *man, int flags,
                     rcpt_vec_coll **out, rcpt_err *err);
/* Open path (verified against man when given) and apply it to dst. */
int rcpt_vec_apply_file(rcpt_vec_coll *dst, const char *path, const rcpt_vec_manifest *man,
                        size_t *merged, rcpt_err *err);
/* Check the file's size and checksum (xxh3_128, or sha256 of an older
 * manifest) against the manifest: RCPT_ECORRUPT on a mismatch. */
int rcpt_vec_verify(const char *path, const rcpt_vec_manifest *man, rcpt_err *err);
/* Hex XXH3-128 of a file (out: 33 bytes, canonical big-endian order). */
int rcpt_vec_xxh3_file(const char *path, char out[33], int64_t *bytes, rcpt_err *err);
/* Hex sha256 of a file (out: 65 bytes). */
int rcpt_vec_sha256_file(const char *path, char out[65], int64_t *bytes, rcpt_err *err);
/* Hex sha256 of data[0..len) (out: 65 bytes). */
int rcpt_vec_sha256(const void *data, size_t len, char out[65], rcpt_err *err);

int rcpt_vec_manifest_parse(const char *json, size_t len, rcpt_vec_manifest *man,
                            rcpt_err *err);
int rcpt_vec_manifest_json(const rcpt_vec_manifest *man, rcpt_buf *out);

#endif
