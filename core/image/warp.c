/* Perspective and affine warps with Pillow's BICUBIC sampler (spec §6).
 *
 * Bit-exactness with Pillow decides the arithmetic: the source point is
 * computed in double exactly as Pillow writes it ((a*x + b*y) + c, with
 * x = col + 0.5), the horizontal cubic's polynomial coefficients are exact
 * integers (Pillow computes them from bytes, so they are), and the Horner
 * evaluation p1 + d(p2 + d(p3 + d p4)) keeps Pillow's order, because the
 * result is truncated: a weights-times-samples form that is equal on paper
 * gives 127.99999 instead of 128 in flat regions.  The speed comes from
 * elsewhere: no per-pixel function pointers, channel count fixed at compile
 * time, row constants hoisted, and the rows split over threads.
 *
 * Pillow's edge rule ("a row outside the image repeats the previous row's
 * value") is the same as clamping the row index for every source point that
 * passes the [0,W) x [0,H) test (the first row index is >= -2 and the last
 * <= H+1), so rows are simply clamped. */
#include "image.h"
#include "image_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct warp_job {
    const rcpt_image *src;
    rcpt_image *dst;
    double c[8];
    int perspective;
    int y0, y1;
    double *xs, *ys; /* one output row of source points (scratch) */
} warp_job;

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static inline unsigned char clip_trunc(double v)
{
    if (v <= 0.0)
        return 0;
    if (v >= 255.0)
        return 255;
    return (unsigned char)v;
}

/* Pillow's BICUBIC macro on four bytes: p2..p4 are integers, hence exact. */
static inline double cubic_u8(int v1, int v2, int v3, int v4, double d)
{
    double p1 = v2;
    double p2 = -v1 + v3;
    double p3 = 2 * (v1 - v2) + v3 - v4;
    double p4 = -v1 + v2 - v3 + v4;
    return p1 + d * (p2 + d * (p3 + d * p4));
}

/* ... and on four doubles (the vertical pass), same operation order. */
static inline double cubic_d(double v1, double v2, double v3, double v4, double d)
{
    double p1 = v2;
    double p2 = -v1 + v3;
    double p3 = 2 * (v1 - v2) + v3 - v4;
    double p4 = -v1 + v2 - v3 + v4;
    return p1 + d * (p2 + d * (p3 + d * p4));
}

/* One output pixel; returns 0 (and writes nothing) when outside. */
static inline __attribute__((always_inline)) int sample(const rcpt_image *s, double xin,
                                                        double yin, unsigned char *out, int ch)
{
    /* written so that NaN also counts as outside (Pillow would cast it to int) */
    if (!(xin >= 0.0 && xin < s->width && yin >= 0.0 && yin < s->height))
        return 0;
    xin -= 0.5;
    yin -= 0.5;
    int x = xin < 0.0 ? (int)floor(xin) : (int)xin;
    int y = yin < 0.0 ? (int)floor(yin) : (int)yin;
    double dx = xin - x, dy = yin - y;
    x--;
    y--;
    int W1 = s->width - 1, H1 = s->height - 1;
    int x0 = clampi(x, 0, W1) * ch, x1 = clampi(x + 1, 0, W1) * ch;
    int x2 = clampi(x + 2, 0, W1) * ch, x3 = clampi(x + 3, 0, W1) * ch;
    const unsigned char *r[4];
    for (int k = 0; k < 4; k++)
        r[k] = s->px + (size_t)clampi(y + k, 0, H1) * s->stride;
    for (int b = 0; b < ch; b++) {
        double v[4];
        for (int k = 0; k < 4; k++) {
            const unsigned char *in = r[k] + b;
            v[k] = cubic_u8(in[x0], in[x1], in[x2], in[x3], dx);
        }
        out[b] = clip_trunc(cubic_d(v[0], v[1], v[2], v[3], dy));
    }
    return 1;
}

/* The same sampler on x86-64 CPUs with AVX2: the channels of one pixel sit
 * in the lanes of a vector, and lane b performs exactly Pillow's operations
 * on band b (integer p2..p4 -- exact --, then mul/add in Pillow's order, no
 * FMA), so the result is bit-identical to the scalar path; the 4th lane is
 * idle for RGB.  Chosen at run time (__builtin_cpu_supports). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RCPT_WARP_AVX2 1
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2"))) static inline

/* One pixel's samples as int32 lanes.  For RGB we read 4 bytes (the 4th is
 * ignored) unless that would read past the last pixel of the buffer. */
AVX2 __m128i ld_px(const unsigned char *p, const unsigned char *last, int ch)
{
    int v;
    if (ch == 4 || p < last)
        memcpy(&v, p, 4);
    else
        v = p[0] | p[1] << 8 | p[2] << 16;
    return _mm_cvtepu8_epi32(_mm_cvtsi32_si128(v));
}

AVX2 __m256d horner(__m256d p1, __m256d p2, __m256d p3, __m256d p4, __m256d d)
{
    /* p1 + d * (p2 + d * (p3 + d * p4)) */
    __m256d v = _mm256_add_pd(p3, _mm256_mul_pd(d, p4));
    v = _mm256_add_pd(p2, _mm256_mul_pd(d, v));
    return _mm256_add_pd(p1, _mm256_mul_pd(d, v));
}

AVX2 __m256d cubic_i4(__m128i t0, __m128i t1, __m128i t2, __m128i t3, __m256d d)
{
    __m128i q2 = _mm_sub_epi32(t2, t0);
    __m128i q3 = _mm_sub_epi32(_mm_add_epi32(_mm_slli_epi32(_mm_sub_epi32(t0, t1), 1), t2), t3);
    __m128i q4 = _mm_add_epi32(_mm_sub_epi32(_mm_sub_epi32(t1, t0), t2), t3);
    return horner(_mm256_cvtepi32_pd(t1), _mm256_cvtepi32_pd(q2), _mm256_cvtepi32_pd(q3),
                  _mm256_cvtepi32_pd(q4), d);
}

AVX2 __m256d cubic_d4(__m256d v1, __m256d v2, __m256d v3, __m256d v4, __m256d d)
{
    __m256d p2 = _mm256_sub_pd(v3, v1);                       /* -v1 + v3 */
    __m256d t = _mm256_sub_pd(v1, v2);
    __m256d p3 = _mm256_sub_pd(_mm256_add_pd(_mm256_add_pd(t, t), v3), v4);
    __m256d p4 = _mm256_add_pd(_mm256_sub_pd(_mm256_sub_pd(v2, v1), v3), v4);
    return horner(v2, p2, p3, p4, d);
}

AVX2 int sample_avx(const rcpt_image *s, double xin, double yin, unsigned char *out, int ch)
{
    if (!(xin >= 0.0 && xin < s->width && yin >= 0.0 && yin < s->height))
        return 0;
    xin -= 0.5;
    yin -= 0.5;
    int x = xin < 0.0 ? (int)floor(xin) : (int)xin;
    int y = yin < 0.0 ? (int)floor(yin) : (int)yin;
    __m256d dx = _mm256_set1_pd(xin - x), dy = _mm256_set1_pd(yin - y);
    x--;
    y--;
    int W1 = s->width - 1, H1 = s->height - 1;
    const unsigned char *last = s->px + (size_t)H1 * s->stride + (size_t)W1 * ch;
    __m256d v[4];
    if (x >= 0 && x + 3 <= W1 && y >= 0 && y + 3 <= H1) {
        const unsigned char *r = s->px + (size_t)y * s->stride + (size_t)x * ch;
        for (int k = 0; k < 4; k++, r += s->stride)
            v[k] = cubic_i4(ld_px(r, last, ch), ld_px(r + ch, last, ch),
                            ld_px(r + 2 * ch, last, ch), ld_px(r + 3 * ch, last, ch), dx);
    } else {
        int x0 = clampi(x, 0, W1) * ch, x1 = clampi(x + 1, 0, W1) * ch;
        int x2 = clampi(x + 2, 0, W1) * ch, x3 = clampi(x + 3, 0, W1) * ch;
        for (int k = 0; k < 4; k++) {
            const unsigned char *r = s->px + (size_t)clampi(y + k, 0, H1) * s->stride;
            v[k] = cubic_i4(ld_px(r + x0, last, ch), ld_px(r + x1, last, ch),
                            ld_px(r + x2, last, ch), ld_px(r + x3, last, ch), dx);
        }
    }
    __m256d o = cubic_d4(v[0], v[1], v[2], v[3], dy);
    /* v <= 0 -> 0, v >= 255 -> 255, else truncate: clamp then truncate is the same */
    o = _mm256_min_pd(_mm256_max_pd(o, _mm256_setzero_pd()), _mm256_set1_pd(255.0));
    __m128i i = _mm256_cvttpd_epi32(o);
    i = _mm_packus_epi16(_mm_packus_epi32(i, i), i);
    int packed = _mm_cvtsi128_si32(i);
    memcpy(out, &packed, (size_t)ch);
    return 1;
}
#endif

#define DEFINE_ROWS(NAME, CH, SAMPLE, ATTR)                                                  \
    ATTR static void NAME(const warp_job *j)                                                 \
    {                                                                                        \
        const double *c = j->c;                                                              \
        const rcpt_image *s = j->src;                                                        \
        rcpt_image *d = j->dst;                                                              \
        double *xs = j->xs, *ys = j->ys;                                                     \
        for (int y = j->y0; y < j->y1; y++) {                                                \
            unsigned char *o = d->px + (size_t)y * d->stride;                                \
            double yi = y + 0.5;                                                             \
            /* the same products Pillow forms, hoisted out of the column loop */             \
            double by = c[1] * yi, ey = c[4] * yi;                                           \
            /* source points of the whole row first: a loop without branches that the      \
             * compiler vectorises, and the divisions leave the sampler's critical path */   \
            if (j->perspective) {                                                            \
                double hy = c[7] * yi;                                                       \
                for (int x = 0; x < d->width; x++) {                                         \
                    double xi = x + 0.5;                                                     \
                    double den = c[6] * xi + hy + 1;                                         \
                    xs[x] = (c[0] * xi + by + c[2]) / den;                                   \
                    ys[x] = (c[3] * xi + ey + c[5]) / den;                                   \
                }                                                                            \
            } else {                                                                         \
                for (int x = 0; x < d->width; x++) {                                         \
                    double xi = x + 0.5;                                                     \
                    xs[x] = c[0] * xi + by + c[2];                                           \
                    ys[x] = c[3] * xi + ey + c[5];                                           \
                }                                                                            \
            }                                                                                \
            for (int x = 0; x < d->width; x++, o += CH)                                      \
                if (!SAMPLE(s, xs[x], ys[x], o, CH))                                         \
                    memset(o, 0, CH);                                                        \
        }                                                                                    \
    }
DEFINE_ROWS(rows_1, 1, sample, )
DEFINE_ROWS(rows_3, 3, sample, )
DEFINE_ROWS(rows_4, 4, sample, )
#ifdef RCPT_WARP_AVX2
DEFINE_ROWS(rows_3_avx2, 3, sample_avx, __attribute__((target("avx2"))))
DEFINE_ROWS(rows_4_avx2, 4, sample_avx, __attribute__((target("avx2"))))
#endif

static void *run_job(void *arg)
{
    const warp_job *j = arg;
#ifdef RCPT_WARP_AVX2
    if (j->src->channels != 1 && __builtin_cpu_supports("avx2")) {
        if (j->src->channels == 3)
            rows_3_avx2(j);
        else
            rows_4_avx2(j);
        return NULL;
    }
#endif
    switch (j->src->channels) {
    case 1: rows_1(j); break;
    case 3: rows_3(j); break;
    default: rows_4(j); break;
    }
    return NULL;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

static int warp(const rcpt_image *src, int width, int height, const double *coeffs, int ncoef,
                int threads, rcpt_image *out, rcpt_err *err)
{
    const char *what = ncoef == 8 ? "warp_perspective" : "warp_affine";
    if (!src || !src->px || src->width < 1 || src->height < 1 ||
        (src->channels != 1 && src->channels != 3 && src->channels != 4))
        return rcpt_err_set(err, RCPT_EINVAL, "%s: source image empty or malformed", what);
    for (int i = 0; i < ncoef; i++)
        if (!isfinite(coeffs[i]))
            return rcpt_err_set(err, RCPT_EINVAL, "%s: coeffs[%d] is not finite", what, i + 1);
    if (threads < 0 || threads > 64)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: threads %d: must be 0..64", what, threads);
    rcpt_image dst;
    int rc = rcpt_image_new(&dst, width, height, src->channels, 0, err);
    if (rc)
        return rcpt_err_prefix(err, "%s", what);
    rcpt_image pre = RCPT_IMAGE_INIT;
    const rcpt_image *s = src;
    if (src->channels == 4) {
        if ((rc = rcpt_image_new(&pre, src->width, src->height, 4, 0, err)) != RCPT_OK) {
            rcpt_image_free(&dst);
            return rcpt_err_prefix(err, "%s", what);
        }
        rcpt_image__premultiply(src, &pre);
        s = &pre;
    }
    if (threads == 0)
        threads = default_threads();
    /* a thread per band of at least 32 rows; small outputs stay on this thread */
    if (threads > height / 32)
        threads = height / 32 > 0 ? height / 32 : 1;
    warp_job jobs[64];
    pthread_t tid[64];
    int started[64] = {0};
    double *scratch = malloc((size_t)threads * 2 * (size_t)width * sizeof(double));
    if (!scratch) {
        rcpt_image_free(&pre);
        rcpt_image_free(&dst);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", what);
    }
    for (int t = 0; t < threads; t++) {
        warp_job *j = &jobs[t];
        j->xs = scratch + (size_t)t * 2 * width;
        j->ys = j->xs + width;
        j->src = s;
        j->dst = &dst;
        memset(j->c, 0, sizeof j->c);
        memcpy(j->c, coeffs, (size_t)ncoef * sizeof(double));
        j->perspective = ncoef == 8;
        j->y0 = (int)((long long)height * t / threads);
        j->y1 = (int)((long long)height * (t + 1) / threads);
    }
    /* bands 1..n-1 on new threads, band 0 here; a thread that cannot be
     * created has its band done here too, so the result never depends on it */
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            run_job(&jobs[t]);
    }
    free(scratch);
    rcpt_image_free(&pre);
    if (dst.channels == 4)
        rcpt_image__unpremultiply(&dst);
    *out = dst;
    return RCPT_OK;
}

int rcpt_image_warp_perspective(const rcpt_image *src, int width, int height,
                                const double coeffs[8], int threads, rcpt_image *out,
                                rcpt_err *err)
{
    return warp(src, width, height, coeffs, 8, threads, out, err);
}

int rcpt_image_warp_affine(const rcpt_image *src, int width, int height,
                           const double coeffs[6], int threads, rcpt_image *out, rcpt_err *err)
{
    return warp(src, width, height, coeffs, 6, threads, out, err);
}
