/* rcpt_vec collections: rows, the id index, interned metadata keys, the
 * vector matrix.  Queries are in vec_query.c, files in vec_file.c. */
#ifdef __linux__
#define _GNU_SOURCE /* mremap: grow the matrix without copying it */
#endif
#include "vec_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- hashing ----------------------------------------------------------------- */
static uint32_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- collection --------------------------------------------------------------- */
int rcpt_vec_new(rcpt_vec_coll **out, const char *name, int dim, rcpt_err *err)
{
    *out = NULL;
    if (!name || !*name)
        return rcpt_err_set(err, RCPT_EINVAL, "collection name: must be a non-empty string");
    if (dim < 1 || dim > RCPT_VEC_MAX_DIM)
        return rcpt_err_set(err, RCPT_EINVAL, "collection %s: dimension %d out of range 1..%d",
                            name, dim, RCPT_VEC_MAX_DIM);
    rcpt_vec_coll *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name))) {
        free(c);
        return rcpt_err_set(err, RCPT_ENOMEM, "collection %s: out of memory", name);
    }
    c->dim = dim;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    *out = c;
    return RCPT_OK;
}

static void mat_release(rcpt_vec_coll *c)
{
    if (c->mat)
        munmap(c->mat, c->mat_bytes);
    c->mat = NULL;
    c->mat_bytes = 0;
}

void rcpt_vec_free(rcpt_vec_coll *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->rows[i].blob);
    free(c->rows);
    mat_release(c);
    free(c->slots);
    for (uint32_t i = 0; i < c->nkeys; i++)
        free(c->keys[i]);
    free(c->keys);
    free(c->kslots);
    free(c->refs);
    for (uint32_t i = 0; i < c->nsrcs; i++)
        free(c->srcs[i].path);
    free(c->srcs);
    free(c->name);
    free(c);
}

int rcpt_vec_set_lazy(rcpt_vec_coll *c, int on, rcpt_err *err)
{
    if (on && !c->refs) {
        c->refs = calloc(c->cap ? c->cap : 1, sizeof *c->refs);
        if (!c->refs)
            return rcpt_err_set(err, RCPT_ENOMEM, "collection %s: out of memory", c->name);
    }
    c->lazy = on != 0;
    return RCPT_OK;
}

int rcpt_vec_is_lazy(const rcpt_vec_coll *c) { return c->lazy; }
size_t rcpt_vec_lazy_rows(const rcpt_vec_coll *c) { return c->nlazy; }

uint32_t vec_src_add(rcpt_vec_coll *c, const char *path, const struct stat *st)
{
    if (c->nsrcs == UINT32_MAX - 1)
        return 0;
    if (c->nsrcs == c->capsrcs) {
        uint32_t cap = c->capsrcs ? c->capsrcs * 2 : 16;
        vec_src *s = realloc(c->srcs, cap * sizeof *s);
        if (!s)
            return 0;
        c->srcs = s;
        c->capsrcs = cap;
    }
    vec_src *s = &c->srcs[c->nsrcs];
    if (!(s->path = strdup(path)))
        return 0;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
    return ++c->nsrcs;
}

const char *rcpt_vec_name(const rcpt_vec_coll *c) { return c->name; }
int rcpt_vec_dim(const rcpt_vec_coll *c) { return c->dim; }
size_t rcpt_vec_count(const rcpt_vec_coll *c) { return c->n; }
void rcpt_vec_set_threads(rcpt_vec_coll *c, int n) { c->threads = n < 1 ? 1 : n > 64 ? 64 : n; }
int rcpt_vec_threads(const rcpt_vec_coll *c) { return c->threads; }

/* The matrix is an anonymous mapping: page aligned (any SIMD width), grown by
 * mremap without a copy, so a load never holds two matrices at once. */
static int mat_grow(rcpt_vec_coll *c, size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t want = cap * (size_t)c->dim * sizeof(float);
    want = (want + page - 1) / page * page;
    if (want <= c->mat_bytes)
        return 0;
    void *p;
    if (!c->mat) {
        p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    } else {
#ifdef __linux__
        p = mremap(c->mat, c->mat_bytes, want, MREMAP_MAYMOVE);
#else
        p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            memcpy(p, c->mat, c->n * (size_t)c->dim * sizeof(float));
            munmap(c->mat, c->mat_bytes);
        }
#endif
    }
    if (p == MAP_FAILED)
        return -1;
#ifdef MADV_HUGEPAGE
    /* 2 MiB pages: the scan streams the whole matrix, and with 4 KiB pages
     * it pays a TLB miss and a prefetcher restart every 4 KiB.  Advice only:
     * failure (THP disabled) changes nothing. */
    madvise(p, want, MADV_HUGEPAGE);
#endif
    c->mat = p;
    c->mat_bytes = want;
    return 0;
}

static int slots_rehash(rcpt_vec_coll *c, size_t nslots)
{
    uint32_t *s = calloc(nslots, sizeof *s);
    if (!s)
        return -1;
    size_t mask = nslots - 1;
    for (size_t r = 0; r < c->n; r++) {
        size_t i = c->rows[r].hash & mask;
        while (s[i])
            i = (i + 1) & mask;
        s[i] = (uint32_t)(r + 1);
    }
    free(c->slots);
    c->slots = s;
    c->nslots = nslots;
    return 0;
}

int rcpt_vec_reserve(rcpt_vec_coll *c, size_t n, rcpt_err *err)
{
    if (n > UINT32_MAX - 1)
        return rcpt_err_set(err, RCPT_ELIMIT, "collection %s: %zu rows is more than supported",
                            c->name, n);
    if (n > c->cap) {
        vec_row *rows = realloc(c->rows, n * sizeof *rows);
        if (!rows)
            return rcpt_err_set(err, RCPT_ENOMEM, "collection %s: out of memory for %zu rows",
                                c->name, n);
        c->rows = rows;
        if (c->refs) {
            vec_ref *refs = realloc(c->refs, n * sizeof *refs);
            if (!refs)
                return rcpt_err_set(err, RCPT_ENOMEM, "collection %s: out of memory for %zu rows",
                                    c->name, n);
            c->refs = refs;
        }
        /* lazy rows never touch their part of the matrix: the mapping only
         * costs memory where vectors are really written */
        if (mat_grow(c, n) != 0)
            return rcpt_err_set(err, RCPT_ENOMEM,
                                "collection %s: cannot map %zu x %d vectors", c->name, n, c->dim);
        c->cap = n;
    }
    /* keep the id table at most half full */
    if (n * 2 > c->nslots) {
        size_t ns = 64;
        while (ns < n * 2)
            ns *= 2;
        if (slots_rehash(c, ns) != 0)
            return rcpt_err_set(err, RCPT_ENOMEM, "collection %s: out of memory", c->name);
    }
    return RCPT_OK;
}

/* Make room for extra rows beyond n, growing by half again each time so a
 * stream of upserts is amortised. */
static int grow_for(rcpt_vec_coll *c, size_t extra, rcpt_err *err)
{
    size_t need = c->n + extra;
    if (need <= c->cap && need * 2 <= c->nslots)
        return RCPT_OK;
    size_t cap = c->cap + c->cap / 2;
    if (cap < 256)
        cap = 256;
    if (cap < need)
        cap = need;
    return rcpt_vec_reserve(c, cap, err);
}

/* Slot index holding id, or the empty slot where it would go (*found = 0). */
static size_t slot_of(const rcpt_vec_coll *c, const char *id, uint32_t h, int *found)
{
    size_t mask = c->nslots - 1, i = h & mask;
    while (c->slots[i]) {
        const vec_row *r = &c->rows[c->slots[i] - 1];
        if (r->hash == h && strcmp(vec_row_id(r), id) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = 0;
    return i;
}

long rcpt_vec_find(const rcpt_vec_coll *c, const char *id)
{
    if (!c->nslots || !id)
        return -1;
    int found;
    size_t i = slot_of(c, id, hash_str(id), &found);
    return found ? (long)c->slots[i] - 1 : -1;
}

/* Remove slot i (linear probing, backward shift: no tombstones). */
static void slot_remove(rcpt_vec_coll *c, size_t i)
{
    size_t mask = c->nslots - 1, j = i;
    c->slots[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (!c->slots[j])
            return;
        size_t h = c->rows[c->slots[j] - 1].hash & mask;
        /* move j back to i unless its home h lies cyclically in (i, j] */
        int stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            c->slots[i] = c->slots[j];
            c->slots[j] = 0;
            i = j;
        }
    }
}

const char *rcpt_vec_row_id(const rcpt_vec_coll *c, size_t row) { return vec_row_id(&c->rows[row]); }

const char *rcpt_vec_row_doc(const rcpt_vec_coll *c, size_t row, size_t *len)
{
    if (len)
        *len = c->rows[row].doc_len;
    return vec_row_doc(&c->rows[row]);
}

const float *rcpt_vec_row_vec(const rcpt_vec_coll *c, size_t row)
{
    if (c->refs && c->refs[row].src)
        return NULL;
    return c->mat + row * (size_t)c->dim;
}

/* ---- interned keys ------------------------------------------------------------- */
long vec_key_find(const rcpt_vec_coll *c, const char *key)
{
    if (!c->nkslots)
        return -1;
    size_t mask = c->nkslots - 1, i = hash_str(key) & mask;
    while (c->kslots[i]) {
        if (strcmp(c->keys[c->kslots[i] - 1], key) == 0)
            return (long)c->kslots[i] - 1;
        i = (i + 1) & mask;
    }
    return -1;
}

static long key_intern(rcpt_vec_coll *c, const char *key)
{
    long k = vec_key_find(c, key);
    if (k >= 0)
        return k;
    if (c->nkeys == c->capkeys) {
        uint32_t cap = c->capkeys ? c->capkeys * 2 : 16;
        char **keys = realloc(c->keys, cap * sizeof *keys);
        if (!keys)
            return -1;
        c->keys = keys;
        c->capkeys = cap;
    }
    if ((c->nkeys + 1) * 2 > c->nkslots) {
        size_t ns = c->nkslots ? c->nkslots * 2 : 32;
        uint32_t *s = calloc(ns, sizeof *s);
        if (!s)
            return -1;
        for (uint32_t j = 0; j < c->nkeys; j++) {
            size_t i = hash_str(c->keys[j]) & (ns - 1);
            while (s[i])
                i = (i + 1) & (ns - 1);
            s[i] = j + 1;
        }
        free(c->kslots);
        c->kslots = s;
        c->nkslots = ns;
    }
    char *dup = strdup(key);
    if (!dup)
        return -1;
    size_t i = hash_str(key) & (c->nkslots - 1);
    while (c->kslots[i])
        i = (i + 1) & (c->nkslots - 1);
    c->keys[c->nkeys] = dup;
    c->kslots[i] = c->nkeys + 1;
    return c->nkeys++;
}

/* ---- packed metadata -------------------------------------------------------------- */
static size_t entry_size(const rcpt_vec_val *v)
{
    switch (v->type) {
    case RCPT_VEC_BOOL: return 5 + 1;
    case RCPT_VEC_INT:
    case RCPT_VEC_NUM: return 5 + 8;
    case RCPT_VEC_STR: return 5 + 4 + v->len;
    default: return 5;
    }
}

static unsigned char *entry_put(unsigned char *p, uint32_t key, const rcpt_vec_val *v)
{
    memcpy(p, &key, 4);
    p[4] = (unsigned char)v->type;
    p += 5;
    switch (v->type) {
    case RCPT_VEC_BOOL: *p++ = v->b ? 1 : 0; break;
    case RCPT_VEC_INT: memcpy(p, &v->i, 8); p += 8; break;
    case RCPT_VEC_NUM: memcpy(p, &v->num, 8); p += 8; break;
    case RCPT_VEC_STR: {
        uint32_t n = (uint32_t)v->len;
        memcpy(p, &n, 4);
        if (n)
            memcpy(p + 4, v->str, n);
        p += 4 + n;
        break;
    }
    default: break;
    }
    return p;
}

int vec_meta_decode(const rcpt_vec_coll *c, const unsigned char **pp, const unsigned char *end,
                    uint32_t *key_id, rcpt_vec_val *val)
{
    const unsigned char *p = *pp;
    if (end - p < 5)
        return 0;
    memcpy(key_id, p, 4);
    memset(val, 0, sizeof *val);
    val->type = p[4];
    p += 5;
    switch (val->type) {
    case RCPT_VEC_BOOL: val->b = *p++; break;
    case RCPT_VEC_INT: memcpy(&val->i, p, 8); p += 8; break;
    case RCPT_VEC_NUM: memcpy(&val->num, p, 8); p += 8; break;
    case RCPT_VEC_STR: {
        uint32_t n;
        memcpy(&n, p, 4);
        val->str = (const char *)p + 4;
        val->len = n;
        p += 4 + n;
        break;
    }
    default: break;
    }
    (void)c;
    *pp = p;
    return 1;
}

void rcpt_vec_meta_begin(const rcpt_vec_coll *c, size_t row, rcpt_vec_meta_it *it)
{
    const vec_row *r = &c->rows[row];
    it->c = c;
    it->p = vec_row_meta(r);
    it->end = it->p + r->meta_len;
}

int rcpt_vec_meta_next(rcpt_vec_meta_it *it, rcpt_vec_kv *kv)
{
    uint32_t k;
    if (!vec_meta_decode(it->c, &it->p, it->end, &k, &kv->val))
        return 0;
    kv->key = it->c->keys[k];
    return 1;
}

int rcpt_vec_meta_get(const rcpt_vec_coll *c, size_t row, const char *key, rcpt_vec_val *val)
{
    long k = vec_key_find(c, key);
    if (k < 0)
        return 0;
    const vec_row *r = &c->rows[row];
    const unsigned char *p = vec_row_meta(r), *end = p + r->meta_len;
    uint32_t id;
    while (vec_meta_decode(c, &p, end, &id, val))
        if (id == (uint32_t)k)
            return 1;
    return 0;
}

int rcpt_vec_meta_json(const rcpt_vec_coll *c, size_t row, rcpt_buf *out)
{
    rcpt_vec_meta_it it;
    rcpt_vec_kv kv;
    rcpt_vec_meta_begin(c, row, &it);
    rcpt_buf_putc(out, '{');
    int first = 1;
    while (rcpt_vec_meta_next(&it, &kv)) {
        if (!first)
            rcpt_buf_putc(out, ',');
        first = 0;
        vec_json_write_kv(out, &kv);
    }
    return rcpt_buf_putc(out, '}');
}

int vec_val_equal(const rcpt_vec_val *a, const rcpt_vec_val *b)
{
    int an = a->type == RCPT_VEC_INT || a->type == RCPT_VEC_NUM;
    int bn = b->type == RCPT_VEC_INT || b->type == RCPT_VEC_NUM;
    if (an && bn) {
        if (a->type == RCPT_VEC_INT && b->type == RCPT_VEC_INT)
            return a->i == b->i;
        double x = a->type == RCPT_VEC_INT ? (double)a->i : a->num;
        double y = b->type == RCPT_VEC_INT ? (double)b->i : b->num;
        return x == y;
    }
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case RCPT_VEC_NULL: return 1;
    case RCPT_VEC_BOOL: return !a->b == !b->b;
    case RCPT_VEC_STR: return a->len == b->len && (a->len == 0 || memcmp(a->str, b->str, a->len) == 0);
    default: return 0;
    }
}

/* ---- building rows ---------------------------------------------------------------- */
static int check_val(const rcpt_vec_val *v)
{
    switch (v->type) {
    case RCPT_VEC_NULL:
    case RCPT_VEC_BOOL:
    case RCPT_VEC_INT: return 1;
    case RCPT_VEC_NUM: return isfinite(v->num);
    case RCPT_VEC_STR: return (v->str || v->len == 0) && v->len < UINT32_MAX;
    default: return 0;
    }
}

typedef struct sort_kv {
    const rcpt_vec_kv *kv;
} sort_kv;

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const sort_kv *)a)->kv->key, ((const sort_kv *)b)->kv->key);
}

/* Build the blob of one row (id, doc, packed metadata).  what names the row in
 * errors. */
static int build_blob(rcpt_vec_coll *c, const char *id, const char *doc, size_t doc_len,
                      const rcpt_vec_kv *meta, size_t nmeta, const char *what, vec_row *out,
                      rcpt_err *err)
{
    size_t id_len = strlen(id);
    if (id_len >= UINT32_MAX || doc_len >= UINT32_MAX)
        return rcpt_err_set(err, RCPT_ELIMIT, "%s: id or document too long", what);
    sort_kv small[32], *sk = small;
    if (nmeta > 32 && !(sk = malloc(nmeta * sizeof *sk)))
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", what);
    size_t msize = 0;
    int rc = RCPT_OK;
    for (size_t j = 0; j < nmeta; j++) {
        if (!meta[j].key || !*meta[j].key) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s: metadata key %zu: must be a non-empty string",
                              what, j + 1);
            goto out;
        }
        if (!check_val(&meta[j].val)) {
            rc = rcpt_err_set(err, RCPT_EINVAL,
                              "%s: metadata.%s: must be a string, finite number, boolean or null",
                              what, meta[j].key);
            goto out;
        }
        sk[j].kv = &meta[j];
        msize += entry_size(&meta[j].val);
    }
    qsort(sk, nmeta, sizeof *sk, cmp_kv);
    for (size_t j = 1; j < nmeta; j++)
        if (strcmp(sk[j - 1].kv->key, sk[j].kv->key) == 0) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s: metadata.%s: key given twice", what,
                              sk[j].kv->key);
            goto out;
        }
    if (msize >= UINT32_MAX) {
        rc = rcpt_err_set(err, RCPT_ELIMIT, "%s: metadata too large", what);
        goto out;
    }
    char *blob = malloc(id_len + 1 + doc_len + 1 + msize);
    if (!blob) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", what);
        goto out;
    }
    memcpy(blob, id, id_len + 1);
    if (doc_len)
        memcpy(blob + id_len + 1, doc, doc_len);
    blob[id_len + 1 + doc_len] = '\0';
    unsigned char *p = (unsigned char *)blob + id_len + 1 + doc_len + 1;
    for (size_t j = 0; j < nmeta; j++) {
        long k = key_intern(c, sk[j].kv->key);
        if (k < 0) {
            free(blob);
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", what);
            goto out;
        }
        p = entry_put(p, (uint32_t)k, &sk[j].kv->val);
    }
    out->blob = blob;
    out->id_len = (uint32_t)id_len;
    out->doc_len = (uint32_t)doc_len;
    out->meta_len = (uint32_t)msize;
    out->hash = hash_str(id);
out:
    if (sk != small)
        free(sk);
    return rc;
}

/* Put a prepared row in place (insert or replace).  Room was reserved. */
static void place_row(rcpt_vec_coll *c, vec_row *r, const float *v, int normalise, double norm,
                      const vec_ref *ref)
{
    int found;
    size_t s = slot_of(c, vec_row_id(r), r->hash, &found);
    size_t row;
    if (found) {
        row = c->slots[s] - 1;
        free(c->rows[row].blob);
        if (c->refs && c->refs[row].src)
            c->nlazy--;
    } else {
        row = c->n++;
        c->slots[s] = (uint32_t)(row + 1);
    }
    c->rows[row] = *r;
    if (c->refs) {
        c->refs[row] = ref ? *ref : (vec_ref){0, 0};
        if (ref && ref->src) {
            c->nlazy++;
            return;
        }
    }
    float *dst = c->mat + row * (size_t)c->dim;
    if (normalise) {
        for (int j = 0; j < c->dim; j++)
            dst[j] = (float)((double)v[j] / norm);
    } else {
        memcpy(dst, v, (size_t)c->dim * sizeof(float));
    }
}

double vec_norm_check(const float *v, int dim)
{
    float acc[16] = {0};
    int j = 0;
    for (; j + 16 <= dim; j += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += v[j + k] * v[j + k];
    double s = 0;
    for (int k = 0; k < 16; k++)
        s += acc[k];
    for (; j < dim; j++)
        s += (double)v[j] * v[j];
    return sqrt(s);
}

static double vec_norm(const float *v, int dim)
{
    double s = 0;
    for (int j = 0; j < dim; j++)
        s += (double)v[j] * v[j];
    return sqrt(s);
}

static int upsert_impl(rcpt_vec_coll *c, const rcpt_vec_row *rows, size_t n, int raw,
                       int check_norm, const vec_ref *refs, rcpt_err *err)
{
    if (n == 0)
        return RCPT_OK;
    vec_row *prep = calloc(n, sizeof *prep);
    double *norms = malloc(n * sizeof *norms);
    int rc = RCPT_OK;
    size_t built = 0;
    if (!prep || !norms) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "collection %s: out of memory", c->name);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char what[160];
        const char *id = rows[i].id;
        what[0] = '\0';
        if (!id || !*id) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s: rows[%zu].id: must be a non-empty string",
                              c->name, i + 1);
            goto out;
        }
#define WHAT() (what[0] ? what : (snprintf(what, sizeof what, "%s: rows[%zu] (id %.80s)", \
                                          c->name, i + 1, id), what))
        /* `what` names the row in errors: formatted only when one happens
         * (per row it cost more than the rest of a file row's checks) */
        if (refs && refs[i].src) {
            if (!c->refs) {
                rc = rcpt_err_set(err, RCPT_EINVAL, "%s: a file-backed row needs a lazy collection",
                                  WHAT());
                goto out;
            }
            norms[i] = 1; /* checked by the loader */
            goto build;
        }
        if (!rows[i].vec) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s: vector missing", WHAT());
            goto out;
        }
        /* raw rows are copied as they are: their length is only checked */
        double nrm = raw ? vec_norm_check(rows[i].vec, c->dim) : vec_norm(rows[i].vec, c->dim);
        if (!isfinite(nrm)) {
            rc = rcpt_err_set(err, raw ? RCPT_ECORRUPT : RCPT_EINVAL,
                              "%s: vector has a NaN or infinite component", WHAT());
            goto out;
        }
        if (nrm == 0) {
            rc = rcpt_err_set(err, raw ? RCPT_ECORRUPT : RCPT_EINVAL,
                              "%s: zero vector cannot be normalised", WHAT());
            goto out;
        }
        if (check_norm && fabs(nrm - 1.0) > 1e-3) {
            rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: vector length %g, expected 1", WHAT(), nrm);
            goto out;
        }
        norms[i] = nrm;
    build:
        rc = build_blob(c, id, rows[i].doc ? rows[i].doc : "", rows[i].doc ? rows[i].doc_len : 0,
                        rows[i].meta, rows[i].nmeta, "", &prep[i], err);
        if (rc && err) {
            /* build_blob's message starts after an empty name: prefix the row */
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s%s", WHAT(), err->msg);
            memcpy(err->msg, m, sizeof m);
        }
        if (rc)
            goto out;
        built++;
    }
#undef WHAT
    if ((rc = grow_for(c, n, err)))
        goto out;
    for (size_t i = 0; i < n; i++)
        place_row(c, &prep[i], rows[i].vec, !raw, norms[i], refs ? &refs[i] : NULL);
    built = 0;
out:
    for (size_t i = 0; i < built; i++)
        free(prep[i].blob);
    free(prep);
    free(norms);
    return rc;
}

int rcpt_vec_upsert(rcpt_vec_coll *c, const rcpt_vec_row *rows, size_t n, rcpt_err *err)
{
    return upsert_impl(c, rows, n, 0, 0, NULL, err);
}

int vec_upsert_raw(rcpt_vec_coll *c, const rcpt_vec_row *rows, size_t n, int check_norm,
                   const vec_ref *refs, rcpt_err *err)
{
    return upsert_impl(c, rows, n, 1, check_norm, refs, err);
}

int rcpt_vec_delete(rcpt_vec_coll *c, const char *const *ids, size_t n, size_t *deleted,
                    rcpt_err *err)
{
    size_t del = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || !c->nslots)
            continue;
        int found;
        size_t s = slot_of(c, ids[i], hash_str(ids[i]), &found);
        if (!found)
            continue;
        size_t row = c->slots[s] - 1, last = c->n - 1;
        free(c->rows[row].blob);
        if (c->refs && c->refs[row].src)
            c->nlazy--;
        slot_remove(c, s);
        if (row != last) {
            /* move the last row into the hole and repoint its slot */
            vec_row *lr = &c->rows[last];
            size_t ls = slot_of(c, vec_row_id(lr), lr->hash, &found);
            c->slots[ls] = (uint32_t)(row + 1);
            c->rows[row] = *lr;
            if (c->refs)
                c->refs[row] = c->refs[last];
            if (!c->refs || !c->refs[last].src)
                memcpy(c->mat + row * (size_t)c->dim, c->mat + last * (size_t)c->dim,
                       (size_t)c->dim * sizeof(float));
        }
        c->n--;
        del++;
    }
    if (deleted)
        *deleted = del;
    (void)err;
    return RCPT_OK;
}

int rcpt_vec_update_metadata(rcpt_vec_coll *c, const char *const *ids, size_t n,
                             const rcpt_vec_kv *set, size_t nset,
                             const char *const *remove, size_t nremove, size_t *updated,
                             rcpt_err *err)
{
    size_t upd = 0;
    for (size_t j = 0; j < nset; j++) {
        if (!set[j].key || !*set[j].key)
            return rcpt_err_set(err, RCPT_EINVAL, "%s: update_metadata: set key %zu: must be a "
                                "non-empty string", c->name, j + 1);
        if (!check_val(&set[j].val))
            return rcpt_err_set(err, RCPT_EINVAL, "%s: update_metadata: %s: must be a string, "
                                "finite number, boolean or null", c->name, set[j].key);
        for (size_t m = 0; m < j; m++)
            if (strcmp(set[m].key, set[j].key) == 0)
                return rcpt_err_set(err, RCPT_EINVAL, "%s: update_metadata: %s: key given twice",
                                    c->name, set[j].key);
    }
    rcpt_vec_kv *kv = NULL;
    size_t capkv = 0;
    int rc = RCPT_OK;
    for (size_t i = 0; i < n; i++) {
        long row = ids[i] ? rcpt_vec_find(c, ids[i]) : -1;
        if (row < 0)
            continue;
        vec_row *r = &c->rows[row];
        /* old entries not removed and not overwritten, then the new ones */
        rcpt_vec_meta_it it;
        rcpt_vec_kv e;
        size_t nk = 0;
        rcpt_vec_meta_begin(c, (size_t)row, &it);
        for (;;) {
            if (nk + nset + 1 > capkv) {
                size_t cap = (nk + nset + 1) * 2;
                rcpt_vec_kv *k2 = realloc(kv, cap * sizeof *k2);
                if (!k2) {
                    rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", c->name);
                    goto out;
                }
                kv = k2;
                capkv = cap;
            }
            if (!rcpt_vec_meta_next(&it, &e))
                break;
            int drop = 0;
            for (size_t j = 0; j < nremove && !drop; j++)
                drop = remove[j] && strcmp(remove[j], e.key) == 0;
            for (size_t j = 0; j < nset && !drop; j++)
                drop = strcmp(set[j].key, e.key) == 0;
            if (!drop)
                kv[nk++] = e;
        }
        for (size_t j = 0; j < nset; j++)
            kv[nk++] = set[j];
        char what[160];
        snprintf(what, sizeof what, "%s: id %.80s", c->name, vec_row_id(r));
        vec_row nr;
        /* kv points into r's blob: build the new blob before freeing it */
        rc = build_blob(c, vec_row_id(r), vec_row_doc(r), r->doc_len, kv, nk, what, &nr, err);
        if (rc)
            goto out;
        free(r->blob);
        *r = nr;
        upd++;
    }
out:
    free(kv);
    if (updated)
        *updated = upd;
    return rc;
}

int rcpt_vec_apply(rcpt_vec_coll *dst, const rcpt_vec_coll *src, size_t *merged, rcpt_err *err)
{
    if (merged)
        *merged = 0;
    if (dst->dim != src->dim)
        return rcpt_err_set(err, RCPT_EINVAL, "apply %s into %s: dimension %d != %d", src->name,
                            dst->name, src->dim, dst->dim);
    enum { CHUNK = 512 };
    rcpt_vec_row rows[CHUNK];
    rcpt_vec_kv *kv = NULL;
    size_t capkv = 0;
    int rc = RCPT_OK;
    if (dst == src) {
        if (merged)
            *merged = src->n;
        return RCPT_OK;
    }
    if (src->nlazy)
        return rcpt_err_set(err, RCPT_EINVAL, "apply %s into %s: the source is lazy (its vectors "
                            "are still in files): only a file can be applied from it", src->name,
                            dst->name);
    for (size_t base = 0; base < src->n && rc == RCPT_OK; base += CHUNK) {
        size_t m = src->n - base < CHUNK ? src->n - base : CHUNK;
        size_t total = 0;
        for (size_t i = 0; i < m; i++) {
            rcpt_vec_meta_it it;
            rcpt_vec_kv e;
            rcpt_vec_meta_begin(src, base + i, &it);
            while (rcpt_vec_meta_next(&it, &e))
                total++;
        }
        if (total > capkv) {
            rcpt_vec_kv *k2 = realloc(kv, total * sizeof *k2);
            if (!k2) {
                rc = rcpt_err_set(err, RCPT_ENOMEM, "apply: out of memory");
                break;
            }
            kv = k2;
            capkv = total;
        }
        size_t at = 0;
        for (size_t i = 0; i < m; i++) {
            size_t row = base + i;
            rcpt_vec_meta_it it;
            rows[i].id = rcpt_vec_row_id(src, row);
            rows[i].vec = rcpt_vec_row_vec(src, row);
            rows[i].doc = rcpt_vec_row_doc(src, row, &rows[i].doc_len);
            rows[i].meta = kv + at;
            rcpt_vec_meta_begin(src, row, &it);
            size_t k0 = at;
            while (rcpt_vec_meta_next(&it, &kv[at]))
                at++;
            rows[i].nmeta = at - k0;
        }
        rc = vec_upsert_raw(dst, rows, m, 0, NULL, err);
    }
    free(kv);
    if (rc == RCPT_OK && merged)
        *merged = src->n;
    return rc;
}
