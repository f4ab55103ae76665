/* Exact top-k search: one streaming pass over the matrix, split across
 * threads, a small heap per thread.  The scan is memory bound (a 100k x 1536
 * collection is 614 MB per query), so the kernel only has to keep up with
 * memory: AVX2+FMA on x86-64 CPUs that have it, a portable loop elsewhere
 * (GCC vectorises it as SSE2 / NEON).  Filters are evaluated only for rows
 * whose score could enter the heap. */
#include "vec_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VEC_HAVE_AVX2 1
#endif

typedef vec_dot_fn dot_fn;

/* Eight independent partial sums: enough lanes for the vectoriser and no
 * loop-carried dependency on one accumulator. */
static float dot_portable(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#ifdef VEC_HAVE_AVX2
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}
#endif

dot_fn vec_pick_dot(void)
{
#ifdef VEC_HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return dot_avx2;
#endif
    return dot_portable;
}

/* ---- filters ----------------------------------------------------------------- */
typedef struct rcond {
    long key;  /* interned key id, -1 if no row has it */
    int op;
    const rcpt_vec_val *vals;
    size_t nvals;
} rcond;

static int row_matches(const rcpt_vec_coll *c, size_t row, const rcond *conds, size_t nc)
{
    const vec_row *r = &c->rows[row];
    for (size_t i = 0; i < nc; i++) {
        const rcond *k = &conds[i];
        rcpt_vec_val v;
        int have = 0;
        if (k->key >= 0) {
            const unsigned char *p = vec_row_meta(r), *end = p + r->meta_len;
            uint32_t id;
            while (vec_meta_decode(c, &p, end, &id, &v))
                if (id == (uint32_t)k->key) {
                    have = 1;
                    break;
                }
        }
        int ok;
        switch (k->op) {
        case RCPT_VEC_EQ: ok = have && vec_val_equal(&v, &k->vals[0]); break;
        case RCPT_VEC_NE: ok = !have || !vec_val_equal(&v, &k->vals[0]); break;
        default:
            ok = 0;
            for (size_t j = 0; have && j < k->nvals && !ok; j++)
                ok = vec_val_equal(&v, &k->vals[j]);
        }
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- heap ---------------------------------------------------------------------- */
/* a is worse than b: lower score, or equal score and larger id */
int vec_hit_worse(const rcpt_vec_coll *c, const rcpt_vec_hit *a, const rcpt_vec_hit *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    return strcmp(vec_row_id(&c->rows[a->row]), vec_row_id(&c->rows[b->row])) > 0;
}

/* min-heap on "worse": h[0] is the worst kept hit */
void vec_hit_heap_down(const rcpt_vec_coll *c, rcpt_vec_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && vec_hit_worse(c, &h[l], &h[m]))
            m = l;
        if (r < n && vec_hit_worse(c, &h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        rcpt_vec_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void vec_hit_heap_up(const rcpt_vec_coll *c, rcpt_vec_hit *h, size_t i)
{
    while (i) {
        size_t p = (i - 1) / 2;
        if (!vec_hit_worse(c, &h[i], &h[p]))
            return;
        rcpt_vec_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

typedef struct scan {
    const rcpt_vec_coll *c;
    const float *q;
    dot_fn dot;
    size_t lo, hi, k;
    const rcond *conds;
    size_t nconds;
    const uint64_t *excluded;  /* bitmap over rows, or NULL */
    rcpt_vec_hit *heap;
    size_t n;
} scan;

static void *scan_run(void *arg)
{
    scan *s = arg;
    const rcpt_vec_coll *c = s->c;
    const int dim = c->dim;
    const float *row = c->mat + s->lo * (size_t)dim;
    for (size_t i = s->lo; i < s->hi; i++, row += dim) {
        float sc = s->dot(s->q, row, dim);
        rcpt_vec_hit h = {i, sc};
        if (s->n == s->k && !vec_hit_worse(c, &s->heap[0], &h))
            continue;
        if (s->excluded && (s->excluded[i >> 6] >> (i & 63) & 1))
            continue;
        if (s->nconds && !row_matches(c, i, s->conds, s->nconds))
            continue;
        if (s->n < s->k) {
            s->heap[s->n] = h;
            vec_hit_heap_up(c, s->heap, s->n++);
        } else {
            s->heap[0] = h;
            vec_hit_heap_down(c, s->heap, s->n, 0);
        }
    }
    return NULL;
}


int rcpt_vec_query(const rcpt_vec_coll *c, const float *q, const rcpt_vec_query_opts *opts,
                   rcpt_vec_hit *hits, size_t *nhits, rcpt_err *err)
{
    *nhits = 0;
    size_t k = opts ? opts->k : 10;
    if (k == 0 || c->n == 0)
        return RCPT_OK;
    if (c->nlazy)
        return rcpt_err_set(err, RCPT_EINVAL, "query %s: the collection is lazy (%zu vectors are "
                            "still in their files): open it without lazy to query it", c->name,
                            c->nlazy);
    if (k > c->n)
        k = c->n;
    for (size_t i = 0; opts && i < opts->nwhere; i++) {
        const rcpt_vec_cond *w = &opts->where[i];
        if (!w->key || !*w->key)
            return rcpt_err_set(err, RCPT_EINVAL, "where[%zu]: key must be a non-empty string", i + 1);
        if (w->op < RCPT_VEC_EQ || w->op > RCPT_VEC_IN || (w->op != RCPT_VEC_IN && w->nvals != 1) ||
            (w->nvals && !w->vals))
            return rcpt_err_set(err, RCPT_EINVAL, "where.%s: bad condition", w->key);
    }
    int dim = c->dim;
    float *qn = aligned_alloc(64, ((size_t)dim * sizeof(float) + 63) / 64 * 64);
    rcond *conds = opts && opts->nwhere ? calloc(opts->nwhere, sizeof *conds) : NULL;
    uint64_t *excl = opts && opts->nexclude ? calloc((c->n + 63) / 64, sizeof *excl) : NULL;
    int threads = c->threads;
    /* threads only pay off on big scans (creating one costs ~50 us) */
    size_t work = c->n * (size_t)dim;
    if (work < ((size_t)1 << 20))
        threads = 1;
    if ((size_t)threads > c->n)
        threads = (int)c->n;
    scan *sc = calloc((size_t)threads, sizeof *sc);
    rcpt_vec_hit *heaps = malloc((size_t)threads * k * sizeof *heaps);
    int rc = RCPT_OK;
    if (!qn || (opts && opts->nwhere && !conds) || (opts && opts->nexclude && !excl) || !sc ||
        !heaps) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "query %s: out of memory", c->name);
        goto out;
    }
    double nrm = 0;
    for (int j = 0; j < dim; j++)
        nrm += (double)q[j] * q[j];
    nrm = sqrt(nrm);
    if (!isfinite(nrm) || nrm == 0) {
        rc = rcpt_err_set(err, RCPT_EINVAL, "query %s: query vector is %s", c->name,
                          nrm == 0 ? "zero" : "not finite");
        goto out;
    }
    for (int j = 0; j < dim; j++)
        qn[j] = (float)((double)q[j] / nrm);
    size_t nconds = opts ? opts->nwhere : 0;
    for (size_t i = 0; i < nconds; i++) {
        conds[i].key = vec_key_find(c, opts->where[i].key);
        conds[i].op = opts->where[i].op;
        conds[i].vals = opts->where[i].vals;
        conds[i].nvals = opts->where[i].nvals;
    }
    for (size_t i = 0; excl && i < opts->nexclude; i++) {
        long r = rcpt_vec_find(c, opts->exclude_ids[i]);
        if (r >= 0)
            excl[(size_t)r >> 6] |= (uint64_t)1 << ((size_t)r & 63);
    }
    dot_fn dot = vec_pick_dot();
    size_t per = (c->n + (size_t)threads - 1) / (size_t)threads;
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 0; t < threads; t++) {
        scan *s = &sc[t];
        s->c = c;
        s->q = qn;
        s->dot = dot;
        s->lo = (size_t)t * per;
        s->hi = s->lo + per > c->n ? c->n : s->lo + per;
        if (s->lo > s->hi)
            s->lo = s->hi;
        s->k = k;
        s->conds = conds;
        s->nconds = nconds;
        s->excluded = excl;
        s->heap = heaps + (size_t)t * k;
        if (t > 0 && pthread_create(&tid[t], NULL, scan_run, s) == 0)
            started[t] = 1;
    }
    /* the caller's thread takes the first share, and any share whose thread
     * could not start */
    scan_run(&sc[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            scan_run(&sc[t]);
    }
    /* merge: collect, then select the k best with one more heap */
    size_t n = 0;
    for (int t = 0; t < threads; t++)
        for (size_t i = 0; i < sc[t].n; i++) {
            rcpt_vec_hit h = sc[t].heap[i];
            if (n < k) {
                hits[n] = h;
                vec_hit_heap_up(c, hits, n++);
            } else if (vec_hit_worse(c, &hits[0], &h)) {
                hits[0] = h;
                vec_hit_heap_down(c, hits, n, 0);
            }
        }
    /* heap sort: repeatedly move the worst to the end -> best first */
    for (size_t m = n; m > 1; m--) {
        rcpt_vec_hit t = hits[0];
        hits[0] = hits[m - 1];
        hits[m - 1] = t;
        vec_hit_heap_down(c, hits, m - 1, 0);
    }
    *nhits = n;
out:
    free(qn);
    free(conds);
    free(excl);
    free(sc);
    free(heaps);
    return rc;
}
