/* Internals shared by the rcpt_vec sources (not a public header). */
#ifndef RCPT_VEC_INT_H
#define RCPT_VEC_INT_H

#include "vec.h"

#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <time.h>

/* A row's strings live in one allocation: id NUL, document NUL, packed metadata.
 * Packed metadata is a sequence of entries sorted by key name:
 *   u32 key id, u8 type, payload (bool: u8; int/num: 8 bytes; str: u32 len + bytes)
 * Keys are interned per collection, so a filter compares integers. */
typedef struct vec_row {
    char *blob;
    uint32_t id_len, doc_len, meta_len;
    uint32_t hash;
} vec_row;

/* A file that lazy rows read their vectors from when the collection is
 * written (rcpt_vec_set_lazy): its identity when it was loaded, so a file
 * replaced or changed in between is refused instead of read. */
typedef struct vec_src {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} vec_src;

/* Where a row's vector is: src 0 = in the matrix; otherwise rowid `rowid`
 * of the rows table of srcs[src - 1]. */
typedef struct vec_ref {
    uint32_t src;
    int64_t rowid;
} vec_ref;

struct rcpt_vec_coll {
    char *name;
    int dim;
    int threads;
    size_t n, cap;
    float *mat;         /* cap * dim floats, page aligned */
    size_t mat_bytes;   /* bytes mapped */
    vec_row *rows;      /* cap rows */
    uint32_t *slots;    /* open addressing id -> row + 1 (0 = empty) */
    size_t nslots;      /* power of two */
    char **keys;        /* interned metadata keys */
    uint32_t nkeys, capkeys;
    uint32_t *kslots;   /* key -> key id + 1 */
    size_t nkslots;
    int lazy;           /* rows loaded from files keep their vectors there */
    vec_ref *refs;      /* cap entries once lazy was set, else NULL */
    size_t nlazy;       /* rows whose vector is in a file */
    vec_src *srcs;
    uint32_t nsrcs, capsrcs;
};

static inline const char *vec_row_id(const vec_row *r) { return r->blob; }
static inline const char *vec_row_doc(const vec_row *r) { return r->blob + r->id_len + 1; }
static inline const unsigned char *vec_row_meta(const vec_row *r)
{
    return (const unsigned char *)r->blob + r->id_len + 1 + r->doc_len + 1;
}

/* Key id of key, or -1 if no row ever used it. */
long vec_key_find(const rcpt_vec_coll *c, const char *key);
/* Insert rows whose vectors are already unit length (files, apply): copied bit
 * for bit.  check_norm: refuse vectors whose length is not 1 (corrupt file). */
/* refs (may be NULL): rows with refs[i].src != 0 are lazy, their vec is NULL
 * (the loader checked their length already) and their vector stays in the
 * file. */
int vec_upsert_raw(rcpt_vec_coll *c, const rcpt_vec_row *rows, size_t n, int check_norm,
                   const vec_ref *refs, rcpt_err *err);
/* Length of v (dim floats), for the unit-length check of rows read from
 * files: 16 independent float sums (vectorised), not the exact double sum
 * that normalisation uses. */
double vec_norm_check(const float *v, int dim);
/* Register the file a lazy load reads from (st: its stat before loading):
 * the src number for vec_ref, or 0 when out of memory. */
uint32_t vec_src_add(rcpt_vec_coll *c, const char *path, const struct stat *st);
/* Compare two values as filters do: 1 equal, 0 not. */
int vec_val_equal(const rcpt_vec_val *a, const rcpt_vec_val *b);
/* Decode the packed entry at *p (advancing it). */
int vec_meta_decode(const rcpt_vec_coll *c, const unsigned char **p, const unsigned char *end,
                    uint32_t *key_id, rcpt_vec_val *val);

/* The dot product rcpt_vec_query scores with (AVX2+FMA when the CPU has
 * it): rcpt_vec_sparse rescores with the same function, so its scores are
 * the same floats. */
typedef float (*vec_dot_fn)(const float *a, const float *b, int n);
vec_dot_fn vec_pick_dot(void);
/* Top-k hits (vec_query.c): a is worse than b (lower score, or an equal score
 * and a larger id); a min-heap on that order keeps the k best with h[0] the
 * worst kept.  Shared by the dense and the sparse query so both rank alike. */
int vec_hit_worse(const rcpt_vec_coll *c, const rcpt_vec_hit *a, const rcpt_vec_hit *b);
void vec_hit_heap_down(const rcpt_vec_coll *c, rcpt_vec_hit *h, size_t n, size_t i);
void vec_hit_heap_up(const rcpt_vec_coll *c, rcpt_vec_hit *h, size_t i);

/* ---- reading vector files (vec_file.c; rcpt_vec_open and rcpt_vec_sparse_open) ---- */
struct sqlite3;
struct sqlite3_stmt;

/* A file's meta table, checked (vec_file_meta_read). */
typedef struct vec_file_meta {
    char *name, *kind, *version, *format;
    int64_t dim, count, fver;
} vec_file_meta;

/* One row of `SELECT id, vec, document, metadata ... FROM rows`, checked;
 * the pointers are SQLite's, valid until the next step. */
typedef struct vec_file_row {
    const char *id, *doc, *md;
    const void *blob;
    int idlen, blen, doclen, mdlen;
} vec_file_row;

/* Verify path against man (when given) and check that its size is the one
 * its SQLite header says; *size = its bytes. */
int vec_file_check(const char *path, const rcpt_vec_manifest *man, int64_t *size, rcpt_err *err);
/* The error for a failed SQLite call on path's db: ENOMEM, else ECORRUPT
 * "path: what: sqlite message". */
int vec_file_corrupt(struct sqlite3 *db, rcpt_err *err, const char *path, const char *what);
/* Open path read-only into *db (the caller closes *db, set even on failure). */
int vec_file_open_db(const char *path, struct sqlite3 **db, rcpt_err *err);
/* Read and check the meta table of db (the file at path, size bytes), and
 * compare it with man when given.  On failure *m holds nothing to free. */
int vec_file_meta_read(struct sqlite3 *db, const char *path, int64_t size,
                       const rcpt_vec_manifest *man, vec_file_meta *m, rcpt_err *err);
void vec_file_meta_free(vec_file_meta *m);
/* Check the current row (nrow, 1-based) of st: column types, at most
 * m->count rows, id and text (nonempty_id: refuse an empty id here), vector
 * size; fill *row. */
int vec_file_row_read(struct sqlite3_stmt *st, const char *path, size_t nrow,
                      const vec_file_meta *m, int nonempty_id, vec_file_row *row, rcpt_err *err);

/* Append `"key":value`. */
int vec_json_write_kv(rcpt_buf *out, const rcpt_vec_kv *kv);

#endif
