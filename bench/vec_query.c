/* Benchmarks of rcpt.vec (run by bench/vec.sh, which prints them beside
 * FAISS and hnswlib):
 *
 *   vec_query gen    FILE N DIM SEED          deterministic normalised float32 rows, raw
 *   vec_query query  FILE N DIM QFILE NQ T OUT  rcpt exact top-10, single queries, T threads;
 *                                               writes the top-10 ids (row numbers) to OUT
 *   vec_query sum    FILE N DIM T              plain threaded read of the same bytes
 *   vec_query load   FILE N DIM SNAP           write a snapshot, then time opening it
 *   vec_query compact DIR NDELTA BASE [eager|lazy] [noverify]
 *                                               build NDELTA deltas of 45+234 rows, apply
 *                                               them to a snapshot of BASE rows, write it
 *                                               (as the compactor does: a lazy collection,
 *                                               vectors copied from file to file, every
 *                                               input verified against its manifest's
 *                                               checksum as on download; `eager`: every
 *                                               vector loaded into memory first;
 *                                               `noverify`: inputs not verified)
 *
 * Every figure is a median of several runs; peak memory is ru_maxrss. */
#include "vec/vec.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* CPU seconds (user + system) so far: on a shared machine wall time mostly
 * measures the other processes */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* splitmix64 -> gaussian-ish values (sum of uniforms): deterministic */
static uint64_t sm(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void fill(float *v, int dim, uint64_t *s)
{
    double n = 0;
    for (int j = 0; j < dim; j++) {
        double x = 0;
        for (int k = 0; k < 4; k++)
            x += (double)(sm(s) >> 11) / 9007199254740992.0 - 0.5;
        v[j] = (float)x;
        n += x * x;
    }
    n = sqrt(n);
    for (int j = 0; j < dim; j++)
        v[j] = (float)(v[j] / n);
}

/* Rows are clustered like real embeddings (2,000 random centres, each row a
 * centre plus noise of the same size), so an approximate index has structure
 * to find; uniform random 1536-d data would be its worst case. */
static int gen(const char *file, long n, int dim, uint64_t seed)
{
    enum { NC = 2000 };
    uint64_t cs = 777; /* the same centres for rows and queries */
    float *centres = malloc((size_t)NC * dim * 4);
    for (int i = 0; i < NC; i++)
        fill(centres + (size_t)i * dim, dim, &cs);
    FILE *f = fopen(file, "wb");
    float *v = malloc((size_t)dim * 4);
    for (long i = 0; i < n; i++) {
        fill(v, dim, &seed);
        const float *c = centres + (size_t)(sm(&seed) % NC) * dim;
        double nn = 0;
        for (int j = 0; j < dim; j++) {
            v[j] = c[j] + 0.8f * v[j];
            nn += (double)v[j] * v[j];
        }
        nn = sqrt(nn);
        for (int j = 0; j < dim; j++)
            v[j] = (float)(v[j] / nn);
        fwrite(v, 4, (size_t)dim, f);
    }
    free(v);
    free(centres);
    return fclose(f) != 0;
}

/* read FILE in chunks straight into a collection (no second copy of the matrix) */
static rcpt_vec_coll *load_raw(const char *file, long n, int dim)
{
    rcpt_vec_coll *c;
    rcpt_err err;
    rcpt_vec_new(&c, "bench", dim, &err);
    rcpt_vec_reserve(c, (size_t)n, &err);
    FILE *f = fopen(file, "rb");
    if (!f)
        return NULL;
    enum { CH = 1000 };
    float *buf = malloc((size_t)CH * dim * 4);
    char (*ids)[16] = malloc(CH * 16);
    rcpt_vec_row rows[CH];
    rcpt_vec_kv kv[CH];
    for (long base = 0; base < n; base += CH) {
        long m = n - base < CH ? n - base : CH;
        if (fread(buf, 4 * (size_t)dim, (size_t)m, f) != (size_t)m) {
            fprintf(stderr, "%s: short file\n", file);
            exit(1);
        }
        for (long i = 0; i < m; i++) {
            snprintf(ids[i], 16, "v%07ld", (base + i) % 10000000L);
            kv[i] = (rcpt_vec_kv){"row", {.type = RCPT_VEC_INT, .i = base + i}};
            rows[i] = (rcpt_vec_row){ids[i], buf + i * dim, NULL, 0, &kv[i], 1};
        }
        if (rcpt_vec_upsert(c, rows, (size_t)m, &err)) {
            fprintf(stderr, "upsert: %s\n", err.msg);
            exit(1);
        }
    }
    fclose(f);
    free(buf);
    free(ids);
    return c;
}

static int query(const char *file, long n, int dim, const char *qfile, int nq, int threads,
                 const char *out)
{
    double t0 = now();
    rcpt_vec_coll *c = load_raw(file, n, dim);
    double tload = now() - t0;
    rcpt_vec_set_threads(c, threads);
    float *q = malloc((size_t)nq * dim * 4);
    FILE *f = fopen(qfile, "rb");
    if (!f || fread(q, 4 * (size_t)dim, (size_t)nq, f) != (size_t)nq)
        return 1;
    fclose(f);
    FILE *o = fopen(out, "w");
    double *lat = malloc((size_t)nq * sizeof *lat);
    rcpt_vec_hit hits[10];
    size_t nh;
    rcpt_err err;
    rcpt_vec_query(c, q, &(rcpt_vec_query_opts){.k = 10}, hits, &nh, &err); /* warm */
    double tall = now();
    for (int i = 0; i < nq; i++) {
        double a = now();
        rcpt_vec_query(c, q + (size_t)i * dim, &(rcpt_vec_query_opts){.k = 10}, hits, &nh, &err);
        lat[i] = now() - a;
        for (size_t k = 0; k < nh; k++)
            fprintf(o, "%s%ld", k ? " " : "", atol(rcpt_vec_row_id(c, hits[k].row) + 1));
        fprintf(o, "\n");
    }
    tall = now() - tall;
    fclose(o);
    /* a filtered query too ($ne on an integer key): the filter is evaluated
     * only for rows whose score could enter the heap */
    rcpt_vec_val v = {.type = RCPT_VEC_INT, .i = 0};
    rcpt_vec_cond cond = {"row", RCPT_VEC_NE, &v, 1};
    double *flat = malloc((size_t)nq * sizeof *flat);
    for (int i = 0; i < nq; i++) {
        double a = now();
        rcpt_vec_query(c, q + (size_t)i * dim, &(rcpt_vec_query_opts){.k = 10, .where = &cond, .nwhere = 1},
                       hits, &nh, &err);
        flat[i] = now() - a;
    }
    double med = median(lat, nq);
    printf("rcpt\tthreads=%d\tload_s=%.2f\tmedian_ms=%.2f\tqps=%.1f\tGBps=%.1f\tfiltered_median_ms=%.2f\tmaxrss_MB=%ld\traw_MB=%.0f\n",
           threads, tload, med * 1e3, nq / tall, (double)n * dim * 4 / med / 1e9,
           median(flat, nq) * 1e3, maxrss_mb(), (double)n * dim * 4 / 1048576.0);
    rcpt_vec_free(c);
    free(q);
    free(lat);
    free(flat);
    return 0;
}

typedef struct sum_arg {
    const float *p;
    size_t n;
    double out;
} sum_arg;

/* The bandwidth limit: read every float once, with the widest loads the CPU
 * has (so the loop is bound by memory, not by a scalar dependency chain). */
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static double sum_avx2(const float *p, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    double s = 0;
    for (int j = 0; j < 8; j++)
        s += t[j];
    for (; i < n; i++)
        s += p[i];
    return s;
}
#endif

static void *sum_run(void *a)
{
    sum_arg *s = a;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
        s->out = sum_avx2(s->p, s->n);
        return NULL;
    }
#endif
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= s->n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += s->p[i + j];
    double t = 0;
    for (int j = 0; j < 16; j++)
        t += acc[j];
    s->out = t;
    return NULL;
}

static int sum(const char *file, long n, int dim, int threads)
{
    size_t total = (size_t)n * dim;
    /* same memory as the collection's matrix: anonymous, with huge pages advised */
    float *m = mmap(NULL, total * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#ifdef MADV_HUGEPAGE
    madvise(m, total * 4, MADV_HUGEPAGE);
#endif
    FILE *f = fopen(file, "rb");
    if (!f || fread(m, 4, total, f) != total)
        return 1;
    fclose(f);
    double lat[15];
    double sink = 0;
    for (int r = 0; r < 15; r++) {
        double a = now();
        pthread_t tid[16];
        sum_arg args[16];
        size_t per = total / (size_t)threads / 16 * 16;
        for (int t = 0; t < threads; t++) {
            args[t].p = m + per * t;
            args[t].n = t == threads - 1 ? total - per * t : per;
            pthread_create(&tid[t], NULL, sum_run, &args[t]);
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            sink += args[t].out;
        }
        lat[r] = now() - a;
    }
    double med = median(lat, 15);
    printf("sum\tthreads=%d\tmedian_ms=%.2f\tpasses_per_s=%.1f\tGBps=%.1f\tmaxrss_MB=%ld\t(sink %g)\n",
           threads, med * 1e3, 1 / med, total * 4 / med / 1e9, maxrss_mb(), sink);
    munmap(m, total * 4);
    return 0;
}

static int load(const char *file, long n, int dim, const char *snap)
{
    rcpt_err err;
    rcpt_vec_coll *c = load_raw(file, n, dim);
    rcpt_vec_manifest man;
    double a = now();
    if (rcpt_vec_write(c, snap, "bench", &man, NULL, &err)) {
        fprintf(stderr, "write: %s\n", err.msg);
        return 1;
    }
    double tw = now() - a;
    rcpt_vec_free(c);
    long rss_before = maxrss_mb();
    a = now();
    if (rcpt_vec_open(snap, NULL, &c, &err)) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    double to = now() - a;
    rcpt_vec_free(c);
    a = now();
    if (rcpt_vec_open(snap, &man, &c, &err)) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    double tv = now() - a;
    rcpt_vec_free(c);
    printf("snapshot\trows=%ld\tbytes=%lld\twrite_s=%.2f\topen_s=%.2f\topen_verified_s=%.2f\tmaxrss_MB=%ld (before reopening: %ld)\n",
           n, (long long)man.bytes, tw, to, tv, maxrss_mb(), rss_before);
    return 0;
}

/* 1 delta = 45 line + 234 word vectors with the metadata of spec §6.5/6.6 */
static void make_delta_rows(rcpt_vec_coll *d, int run, int dim, uint64_t *seed)
{
    rcpt_err err;
    float *v = malloc((size_t)dim * 4);
    char id[96], img[48], text[32];
    snprintf(img, sizeof img, "%08x-1111-2222-3333-%012d", run * 2654435761u, run);
    for (int i = 0; i < 45 + 234; i++) {
        int line = i < 45 ? i + 1 : (i - 45) / 5 + 1, word = i < 45 ? 0 : (i - 45) % 5 + 1;
        if (word)
            snprintf(id, sizeof id, "IMAGE#%s#RECEIPT#00001#LINE#%05d#WORD#%05d", img, line, word);
        else
            snprintf(id, sizeof id, "IMAGE#%s#RECEIPT#00001#LINE#%05d", img, line);
        snprintf(text, sizeof text, "TEXT %d %d", line, word);
        fill(v, dim, seed);
        rcpt_vec_kv kv[7] = {
            {"image_id", {.type = RCPT_VEC_STR, .str = img, .len = strlen(img)}},
            {"receipt_id", {.type = RCPT_VEC_STR, .str = "1", .len = 1}},
            {"line_id", {.type = RCPT_VEC_INT, .i = line}},
            {"word_id", {.type = RCPT_VEC_INT, .i = word}},
            {"text", {.type = RCPT_VEC_STR, .str = text, .len = strlen(text)}},
            {"merchant_name", {.type = RCPT_VEC_STR, .str = "Sprouts Farmers Market", .len = 22}},
            {"embedding_type", {.type = RCPT_VEC_STR, .str = word ? "word" : "line", .len = 4}},
        };
        rcpt_vec_row r = {id, v, text, strlen(text), kv, 7};
        rcpt_vec_upsert(d, &r, 1, &err);
    }
    free(v);
}

static long long fsize(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* The manifest of a bench input file, kept as PATH.manifest.json beside it
 * (the delta files are reused between runs): as the compactor downloads it. */
static int input_manifest(const char *path, const char *version, int64_t count, rcpt_vec_manifest *m)
{
    char mp[600];
    snprintf(mp, sizeof mp, "%s.manifest.json", path);
    rcpt_err err;
    struct stat sd, sm;
    /* a manifest older than its file (the file was made again) is made again */
    FILE *f = stat(path, &sd) == 0 && stat(mp, &sm) == 0 && sm.st_mtime >= sd.st_mtime ? fopen(mp, "rb") : NULL;
    if (f) {
        char buf[2048];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        if (rcpt_vec_manifest_parse(buf, n, m, &err) == RCPT_OK)
            return 0;
    }
    memset(m, 0, sizeof *m);
    snprintf(m->format, sizeof m->format, "%s", RCPT_VEC_FORMAT);
    m->format_version = RCPT_VEC_FORMAT_VERSION;
    snprintf(m->kind, sizeof m->kind, "%s", version ? "snapshot" : "delta");
    snprintf(m->collection, sizeof m->collection, "lines");
    snprintf(m->version, sizeof m->version, "%s", version ? version : "");
    m->dimension = 1536;
    m->count = count;
    snprintf(m->created_at, sizeof m->created_at, "2026-01-01T00:00:00Z");
    if (rcpt_vec_xxh3_file(path, m->xxh3_128, &m->bytes, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_vec_manifest_json(m, &b);
    f = fopen(mp, "wb");
    if (f) {
        fwrite(b.data, 1, b.len, f);
        fclose(f);
    }
    rcpt_buf_free(&b);
    return 0;
}

static int compact(const char *dir, int ndelta, long base, int eager, int verify)
{
    const int dim = 1536;
    rcpt_err err;
    char path[512];
    uint64_t seed = 12345;
    long long delta_bytes = 0;
    /* deltas (made once, reused by both runs) */
    for (int r = 0; r < ndelta; r++) {
        snprintf(path, sizeof path, "%s/delta-%04d.sqlite", dir, r);
        if (fsize(path) > 0) {
            delta_bytes += fsize(path);
            continue;
        }
        rcpt_vec_coll *d;
        rcpt_vec_new(&d, "lines", dim, &err);
        make_delta_rows(d, r, dim, &seed);
        if (rcpt_vec_write(d, path, NULL, NULL, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        delta_bytes += fsize(path);
        rcpt_vec_free(d);
    }
    /* the base snapshot */
    char basep[512], outp[512];
    snprintf(basep, sizeof basep, "%s/base-%ld.sqlite", dir, base);
    snprintf(outp, sizeof outp, "%s/out-%ld.sqlite", dir, base);
    if (fsize(basep) <= 0) {
        rcpt_vec_coll *b;
        rcpt_vec_new(&b, "lines", dim, &err);
        rcpt_vec_reserve(b, (size_t)base, &err);
        for (long i = 0; i < base; i += 279) {
            make_delta_rows(b, 100000 + (int)(i / 279), dim, &seed);
        }
        if (rcpt_vec_write(b, basep, "base", NULL, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        rcpt_vec_free(b);
    }
    /* manifests of the inputs (made untimed, once) */
    rcpt_vec_manifest *mans = calloc((size_t)ndelta + 1, sizeof *mans);
    if (!mans || input_manifest(basep, "base", (base + 278) / 279 * 279, &mans[ndelta]))
        return 1;
    for (int r = 0; verify && r < ndelta; r++) {
        snprintf(path, sizeof path, "%s/delta-%04d.sqlite", dir, r);
        if (input_manifest(path, NULL, 279, &mans[r]))
            return 1;
    }
    /* the compaction: open the snapshot, apply every delta, write a new version */
    double cpu0 = cpu_s();
    double a = now();
    rcpt_vec_coll *c;
    if (rcpt_vec_open_ex(basep, verify ? &mans[ndelta] : NULL, eager ? 0 : RCPT_VEC_LAZY, &c, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    long start = (long)rcpt_vec_count(c);
    double t_open = now() - a;
    size_t merged_total = 0, merged;
    for (int r = 0; r < ndelta; r++) {
        snprintf(path, sizeof path, "%s/delta-%04d.sqlite", dir, r);
        if (rcpt_vec_apply_file(c, path, verify ? &mans[r] : NULL, &merged, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        merged_total += merged;
    }
    double t_apply = now() - a - t_open;
    rcpt_vec_manifest man;
    /* as the compactor writes it: a staging copy (uploaded next), no fsync */
    if (rcpt_vec_write_ex(c, outp, "next", RCPT_VEC_NO_FSYNC, &man, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double total = now() - a;
    printf("compact\t%s%s\tbase_rows=%ld\tdeltas=%d\tmerged=%zu\trows_out=%zu\tseconds=%.2f (open %.2f, apply %.2f, write+xxh3 %.2f)\t"
           "vectors_per_s=%.0f\tbytes_read=%lld\tbytes_written=%lld\tmaxrss_MB=%ld\tcpu_s=%.2f\n",
           eager ? "eager" : "lazy", verify ? "" : ",noverify", start, ndelta, merged_total, rcpt_vec_count(c), total, t_open, t_apply,
           total - t_open - t_apply, merged_total / total, delta_bytes + fsize(basep),
           (long long)man.bytes, maxrss_mb(), cpu_s() - cpu0);
    printf("OUT %s\n", outp);
    rcpt_vec_free(c);
    free(mans);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && !strcmp(argv[1], "gen"))
        return gen(argv[2], atol(argv[3]), atoi(argv[4]), strtoull(argv[5], NULL, 10));
    if (argc >= 9 && !strcmp(argv[1], "query"))
        return query(argv[2], atol(argv[3]), atoi(argv[4]), argv[5], atoi(argv[6]), atoi(argv[7]), argv[8]);
    if (argc >= 6 && !strcmp(argv[1], "sum"))
        return sum(argv[2], atol(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "load"))
        return load(argv[2], atol(argv[3]), atoi(argv[4]), argv[5]);
    if (argc >= 5 && !strcmp(argv[1], "compact"))
        return compact(argv[2], atoi(argv[3]), atol(argv[4]), argc >= 6 && !strcmp(argv[5], "eager"),
                       !(argc >= 7 && !strcmp(argv[6], "noverify")));
    fprintf(stderr, "usage: see the comment at the top of bench/vec_query.c\n");
    return 2;
}
