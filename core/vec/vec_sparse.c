/* Sparse read-only snapshots and their exact multi-query search (see
 * vec_sparse.h for why and for the exactness argument).
 *
 * The file reader shares rcpt_vec_open's checks of the file, its meta table
 * and each row (vec_file.c) but not its loader: that one builds the dense
 * matrix row by row, this one keeps non-zero entries; both follow
 * docs/vector-format.md. */
#include "vec_sparse.h"

#include "vec_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SP_HAVE_AVX2 1
#endif

#define SP_GROUP 8       /* queries per pass: one 8-float lane each */
#define SP_BATCH 1024    /* rows handed to the id/metadata collection at once */

struct rcpt_vec_sparse {
    rcpt_vec_coll *rows;  /* ids, documents, metadata; dimension 1 */
    int dim;
    size_t n;
    size_t *ptr;          /* n + 1: row i's entries are [ptr[i], ptr[i+1]) */
    uint16_t *idx;
    float *val;
    size_t nnz, cap;
};

/* ---- reading ----------------------------------------------------------------------- */
/* rows waiting for the id/metadata collection (their text copied: SQLite's
 * pointers die at the next step) */
typedef struct sp_batch {
    size_t n;
    rcpt_vec_row rows[SP_BATCH];
    rcpt_vec_kv *kvs[SP_BATCH];
    size_t off[2 * SP_BATCH];
    rcpt_buf strs;
} sp_batch;

static void sp_batch_clear(sp_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        rcpt_vec_kv_free(b->kvs[i]);
    b->n = 0;
    rcpt_buf_reset(&b->strs);
}

static int sp_flush(rcpt_vec_sparse *s, sp_batch *b, size_t done, const char *path, rcpt_err *err)
{
    static const float one = 1.0f;
    for (size_t i = 0; i < b->n; i++) {
        b->rows[i].id = b->strs.data + b->off[2 * i];
        b->rows[i].doc = b->strs.data + b->off[2 * i + 1];
        b->rows[i].vec = &one;
    }
    int rc = vec_upsert_raw(s->rows, b->rows, b->n, 0, NULL, err);
    if (rc && rc != RCPT_ENOMEM)
        rc = err ? (err->code = RCPT_ECORRUPT) : RCPT_ECORRUPT;
    /* an id seen before replaces its row instead of adding one */
    if (!rc && rcpt_vec_count(s->rows) != done)
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: an id appears twice (%zu rows read, %zu "
                          "distinct ids)", path, done, rcpt_vec_count(s->rows));
    sp_batch_clear(b);
    return rc;
}

static int sp_push(rcpt_vec_sparse *s, const float *v, int dim)
{
    for (int j = 0; j < dim; j++) {
        if (v[j] == 0.0f)
            continue;
        if (s->nnz == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 65536;
            uint16_t *i = realloc(s->idx, cap * sizeof *i);
            if (i)
                s->idx = i;
            float *f = realloc(s->val, cap * sizeof *f);
            if (f)
                s->val = f;
            if (!i || !f)
                return -1;
            s->cap = cap;
        }
        s->idx[s->nnz] = (uint16_t)j;
        s->val[s->nnz++] = v[j];
    }
    return 0;
}

void rcpt_vec_sparse_free(rcpt_vec_sparse *s)
{
    if (!s)
        return;
    rcpt_vec_free(s->rows);
    free(s->ptr);
    free(s->idx);
    free(s->val);
    free(s);
}

int rcpt_vec_sparse_open(const char *path, const rcpt_vec_manifest *man, double max_density,
                         rcpt_vec_sparse **out, rcpt_err *err)
{
    *out = NULL;
    if (!(max_density > 0))
        max_density = 0.25;
    int64_t size = 0;
    int rc;
    if ((rc = vec_file_check(path, man, &size, err)))
        return rc;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    rcpt_vec_sparse *s = calloc(1, sizeof *s);
    sp_batch *b = calloc(1, sizeof *b);
    float *vbuf = NULL;
    vec_file_meta meta = {0};
    if (!s || !b) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = vec_file_open_db(path, &db, err)) ||
        (rc = vec_file_meta_read(db, path, size, man, &meta, err)))
        goto out;
    const int64_t dim = meta.dim, count = meta.count;
    s->dim = (int)dim;
    if ((rc = rcpt_vec_new(&s->rows, meta.name, 1, err)) || (rc = rcpt_vec_reserve(s->rows, (size_t)count, err)))
        goto out;
    s->ptr = malloc(((size_t)count + 1) * sizeof *s->ptr);
    vbuf = malloc((size_t)dim * sizeof *vbuf);
    if (!s->ptr || !vbuf) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        goto out;
    }
    s->ptr[0] = 0;
    if (sqlite3_prepare_v2(db, "SELECT id, vec, document, metadata FROM rows", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = vec_file_corrupt(db, err, path, "rows table");
        goto out;
    }
    size_t nrow = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        nrow++;
        vec_file_row row;
        if ((rc = vec_file_row_read(st, path, nrow, &meta, 1, &row, err)))
            goto out;
        /* little-endian on disk, like every host rcpt runs on (vec_file.c
         * swaps on a big-endian one; this reader refuses to run there) */
        const uint16_t one16 = 1;
        unsigned char le;
        memcpy(&le, &one16, 1);
        if (!le) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s: sparse reading needs a little-endian host", path);
            goto out;
        }
        memcpy(vbuf, row.blob, (size_t)row.blen);
        double ss = 0;
        for (int j = 0; j < (int)dim; j++)
            ss += (double)vbuf[j] * vbuf[j];
        double nrm = sqrt(ss);
        if (!isfinite(nrm) || fabs(nrm - 1.0) > 1e-3) {
            rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: rows[%zu] (id %.80s): vector length %g, "
                              "expected 1", path, nrow, row.id, nrm);
            goto out;
        }
        if (sp_push(s, vbuf, (int)dim)) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
            goto out;
        }
        s->ptr[nrow] = s->nnz;
        /* too dense to pay off: say so early, before the whole file is read */
        if (nrow >= 256 && (double)s->nnz > max_density * (double)dim * (double)nrow) {
            rc = rcpt_err_set(err, RCPT_ELIMIT, "%s: %.0f%% of the vector entries are non-zero "
                              "(a sparse copy pays off below %.0f%%)", path,
                              100.0 * (double)s->nnz / ((double)dim * (double)nrow), 100 * max_density);
            goto out;
        }
        size_t i = b->n, nkv;
        char what[160];
        snprintf(what, sizeof what, "%s: rows[%zu] (id %.80s).metadata", path, nrow, row.id);
        if ((rc = rcpt_vec_json_parse(row.md, (size_t)row.mdlen, what, &b->kvs[i], &nkv, err))) {
            rc = err ? (err->code = RCPT_ECORRUPT) : RCPT_ECORRUPT;
            goto out;
        }
        b->off[2 * i] = b->strs.len;
        rcpt_buf_append(&b->strs, row.id, (size_t)row.idlen + 1);
        b->off[2 * i + 1] = b->strs.len;
        rcpt_buf_append(&b->strs, row.doc, (size_t)row.doclen);
        rcpt_buf_putc(&b->strs, '\0');
        memset(&b->rows[i], 0, sizeof b->rows[i]);
        b->rows[i].doc_len = (size_t)row.doclen;
        b->rows[i].meta = b->kvs[i];
        b->rows[i].nmeta = nkv;
        b->n++;
        if (b->strs.oom) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
            goto out;
        }
        if (b->n == SP_BATCH && (rc = sp_flush(s, b, nrow, path, err)))
            goto out;
    }
    if (r != SQLITE_DONE) {
        rc = vec_file_corrupt(db, err, path, "rows table");
        goto out;
    }
    if (nrow != (size_t)count) {
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: %zu rows, meta.count says %lld", path, nrow,
                          (long long)count);
        goto out;
    }
    if ((rc = sp_flush(s, b, nrow, path, err)))
        goto out;
    s->n = nrow;
    /* give back the growth slack: this copy lives as long as the snapshot */
    if (s->nnz && s->nnz < s->cap) {
        uint16_t *i = realloc(s->idx, s->nnz * sizeof *i);
        if (i)
            s->idx = i;
        float *f = realloc(s->val, s->nnz * sizeof *f);
        if (f)
            s->val = f;
        s->cap = s->nnz;
    }
    *out = s;
    s = NULL;
out:
    if (st)
        sqlite3_finalize(st);
    if (db)
        sqlite3_close(db);
    if (b) {
        sp_batch_clear(b);
        rcpt_buf_free(&b->strs);
        free(b);
    }
    rcpt_vec_sparse_free(s);
    free(vbuf);
    vec_file_meta_free(&meta);
    return rc;
}

int rcpt_vec_sparse_dim(const rcpt_vec_sparse *s) { return s->dim; }
size_t rcpt_vec_sparse_count(const rcpt_vec_sparse *s) { return s->n; }
size_t rcpt_vec_sparse_nnz(const rcpt_vec_sparse *s) { return s->nnz; }
const rcpt_vec_coll *rcpt_vec_sparse_rows(const rcpt_vec_sparse *s) { return s->rows; }

/* ---- the approximate pass ------------------------------------------------------------ */
/* out[r*8 + j] = sum over row r's entries of val * qt[idx*8 + j] */
static void approx_portable(const rcpt_vec_sparse *s, const float *qt, float *out)
{
    for (size_t r = 0; r < s->n; r++) {
        float acc[SP_GROUP] = {0};
        for (size_t e = s->ptr[r]; e < s->ptr[r + 1]; e++) {
            const float v = s->val[e], *q = qt + (size_t)s->idx[e] * SP_GROUP;
            for (int j = 0; j < SP_GROUP; j++)
                acc[j] += v * q[j];
        }
        memcpy(out + r * SP_GROUP, acc, sizeof acc);
    }
}

#ifdef SP_HAVE_AVX2
__attribute__((target("avx2,fma"))) static void approx_avx2(const rcpt_vec_sparse *s,
                                                             const float *qt, float *out)
{
    for (size_t r = 0; r < s->n; r++) {
        /* four chains: one FMA's latency does not stall the next entry */
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        size_t e = s->ptr[r], end = s->ptr[r + 1];
#define SP_FMA(acc, x) acc = _mm256_fmadd_ps(_mm256_set1_ps(s->val[x]), \
                                             _mm256_load_ps(qt + (size_t)s->idx[x] * SP_GROUP), acc)
        for (; e + 4 <= end; e += 4) {
            SP_FMA(a0, e);
            SP_FMA(a1, e + 1);
            SP_FMA(a2, e + 2);
            SP_FMA(a3, e + 3);
        }
        for (; e < end; e++)
            SP_FMA(a0, e);
#undef SP_FMA
        a0 = _mm256_add_ps(a0, a2);
        a1 = _mm256_add_ps(a1, a3);
        _mm256_storeu_ps(out + r * SP_GROUP, _mm256_add_ps(a0, a1));
    }
}
#endif

/* ---- selection ------------------------------------------------------------------------- */
static int sp_row_matches(const rcpt_vec_coll *c, size_t row, const rcpt_vec_cond *w, size_t nw)
{
    for (size_t i = 0; i < nw; i++) {
        rcpt_vec_val v;
        int have = rcpt_vec_meta_get(c, row, w[i].key, &v);
        int ok = 0;
        switch (w[i].op) {
        case RCPT_VEC_EQ: ok = have && vec_val_equal(&v, &w[i].vals[0]); break;
        case RCPT_VEC_NE: ok = !have || !vec_val_equal(&v, &w[i].vals[0]); break;
        default:
            for (size_t j = 0; have && j < w[i].nvals && !ok; j++)
                ok = vec_val_equal(&v, &w[i].vals[j]);
        }
        if (!ok)
            return 0;
    }
    return 1;
}

/* hits are ranked and kept with vec_query.c's heap (vec_hit_*), so ties
 * break the same way as in the dense query */

/* min-heap of floats: f[0] is the smallest kept */
static void flt_down(float *f, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && f[l] < f[m])
            m = l;
        if (r < n && f[r] < f[m])
            m = r;
        if (m == i)
            return;
        float t = f[i];
        f[i] = f[m];
        f[m] = t;
        i = m;
    }
}

static void flt_up(float *f, size_t i)
{
    while (i) {
        size_t p = (i - 1) / 2;
        if (!(f[i] < f[p]))
            return;
        float t = f[i];
        f[i] = f[p];
        f[p] = t;
        i = p;
    }
}

/* eligibility of a row, evaluated once per call: 0 unknown, 1 yes, 2 no */
static int eligible(const rcpt_vec_sparse *s, unsigned char *elig, size_t row,
                    const rcpt_vec_query_opts *o)
{
    if (!elig[row])
        elig[row] = sp_row_matches(s->rows, row, o->where, o->nwhere) ? 1 : 2;
    return elig[row] == 1;
}

int rcpt_vec_sparse_query(const rcpt_vec_sparse *s, const float *qs, size_t nq,
                          const rcpt_vec_query_opts *opts, rcpt_vec_hit *hits, size_t *nhits,
                          rcpt_err *err)
{
    rcpt_vec_query_opts o = {.k = 10};
    if (opts)
        o = *opts;
    for (size_t i = 0; i < nq; i++)
        nhits[i] = 0;
    size_t k = o.k;
    if (k == 0 || s->n == 0 || nq == 0)
        return RCPT_OK;
    if (k > s->n)
        k = s->n;
    for (size_t i = 0; i < o.nwhere; i++) {
        const rcpt_vec_cond *w = &o.where[i];
        if (!w->key || !*w->key)
            return rcpt_err_set(err, RCPT_EINVAL, "where[%zu]: key must be a non-empty string", i + 1);
        if (w->op < RCPT_VEC_EQ || w->op > RCPT_VEC_IN || (w->op != RCPT_VEC_IN && w->nvals != 1) ||
            (w->nvals && !w->vals))
            return rcpt_err_set(err, RCPT_EINVAL, "where.%s: bad condition", w->key);
    }
    const int dim = s->dim;
    const char *name = rcpt_vec_name(s->rows);
    size_t dimpad = ((size_t)dim * sizeof(float) + 63) / 64 * 64;
    float *qn = aligned_alloc(64, dimpad * SP_GROUP);
    float *qt = aligned_alloc(64, ((size_t)dim * SP_GROUP * sizeof(float) + 63) / 64 * 64);
    float *approx = malloc(s->n * SP_GROUP * sizeof *approx);
    float *dense = aligned_alloc(64, dimpad);
    float *tops = malloc(k * sizeof *tops);
    unsigned char *elig = calloc(s->n, 1);
    int rc = RCPT_OK;
    if (!qn || !qt || !approx || !dense || !tops || !elig) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "query %s: out of memory", name);
        goto out;
    }
    memset(dense, 0, dimpad);
    /* excluded rows and rows the filter refuses are never eligible */
    for (size_t i = 0; i < o.nexclude; i++) {
        long r = rcpt_vec_find(s->rows, o.exclude_ids[i]);
        if (r >= 0)
            elig[r] = 2;
    }
    if (!o.nwhere)
        for (size_t r = 0; r < s->n; r++)
            if (!elig[r])
                elig[r] = 1;
    vec_dot_fn dot = vec_pick_dot();
    void (*pass)(const rcpt_vec_sparse *, const float *, float *) = approx_portable;
#ifdef SP_HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        pass = approx_avx2;
#endif
    /* |approx - dense kernel| <= eps (vec_sparse.h) */
    const float eps = (float)(2.5 * dim / 16777216.0);
    for (size_t g = 0; g < nq; g += SP_GROUP) {
        size_t ng = nq - g < SP_GROUP ? nq - g : SP_GROUP;
        /* normalise as rcpt_vec_query does, so the rescoring sees its floats */
        for (size_t j = 0; j < ng; j++) {
            const float *q = qs + (g + j) * (size_t)dim;
            float *d = qn + j * (dimpad / sizeof(float));
            double nrm = 0;
            for (int x = 0; x < dim; x++)
                nrm += (double)q[x] * q[x];
            nrm = sqrt(nrm);
            if (!isfinite(nrm) || nrm == 0) {
                rc = rcpt_err_set(err, RCPT_EINVAL, "query %s: query vector %zu is %s", name,
                                  g + j + 1, nrm == 0 ? "zero" : "not finite");
                goto out;
            }
            for (int x = 0; x < dim; x++)
                d[x] = (float)((double)q[x] / nrm);
        }
        for (int x = 0; x < dim; x++)
            for (size_t j = 0; j < SP_GROUP; j++)
                qt[(size_t)x * SP_GROUP + j] = j < ng ? qn[j * (dimpad / sizeof(float)) + (size_t)x] : 0.0f;
        pass(s, qt, approx);
        for (size_t j = 0; j < ng; j++) {
            const float *qj = qn + j * (dimpad / sizeof(float));
            /* T: the k-th best approximation among eligible rows */
            size_t nt = 0;
            for (size_t r = 0; r < s->n; r++) {
                float a = approx[r * SP_GROUP + j];
                if (nt == k && !(a > tops[0]))
                    continue;
                if (!eligible(s, elig, r, &o))
                    continue;
                if (nt < k) {
                    tops[nt] = a;
                    flt_up(tops, nt++);
                } else {
                    tops[0] = a;
                    flt_down(tops, nt, 0);
                }
            }
            float lo = nt < k ? -INFINITY : tops[0] - 2 * eps;
            /* rescore the window with the dense kernel; keep the k best */
            rcpt_vec_hit *h = hits + (g + j) * k;
            size_t nh = 0;
            for (size_t r = 0; r < s->n; r++) {
                if (!(approx[r * SP_GROUP + j] >= lo) || !eligible(s, elig, r, &o))
                    continue;
                for (size_t e = s->ptr[r]; e < s->ptr[r + 1]; e++)
                    dense[s->idx[e]] = s->val[e];
                rcpt_vec_hit x = {r, dot(qj, dense, dim)};
                for (size_t e = s->ptr[r]; e < s->ptr[r + 1]; e++)
                    dense[s->idx[e]] = 0.0f;
                if (nh < k) {
                    h[nh] = x;
                    vec_hit_heap_up(s->rows, h, nh++);
                } else if (vec_hit_worse(s->rows, &h[0], &x)) {
                    h[0] = x;
                    vec_hit_heap_down(s->rows, h, nh, 0);
                }
            }
            for (size_t m = nh; m > 1; m--) {
                rcpt_vec_hit t = h[0];
                h[0] = h[m - 1];
                h[m - 1] = t;
                vec_hit_heap_down(s->rows, h, m - 1, 0);
            }
            nhits[g + j] = nh;
        }
    }
out:
    free(qn);
    free(qt);
    free(approx);
    free(dense);
    free(tops);
    free(elig);
    return rc;
}
