/* LANCZOS resize as Pillow's Image.resize does it (spec §8 CDN sizes).
 *
 * Separable: coefficients per output column/row from the Lanczos-3 kernel
 * stretched by the downscale factor, normalised to sum 1, then rounded to
 * 22-bit fixed point; a horizontal pass over only the source rows the
 * vertical pass will read, then the vertical pass.  Checked pixel for pixel
 * against Pillow 9.4 (Debian 12) on L, RGB and RGBA images.
 *
 * Speed (the CDN sizes of every image go through here, three per image):
 * the sums are integers (8-bit samples times 22-bit weights, in int32 as
 * Pillow does), so any order of summation gives Pillow's exact value.  On
 * x86-64 with AVX2 (checked at run time) both passes sum 8 int32 lanes at a
 * time: the vertical pass over 8 neighbouring samples of a row, the
 * horizontal one over a block of 8 rows transposed into a small buffer so
 * that one output pixel's 8 rows x channels sit side by side.  Rows (output
 * rows of the vertical pass, 8-row blocks of the horizontal one) are shared
 * out over the online CPUs; each is computed on its own, so the result does
 * not depend on the thread count.  tests/c/test_image.c compares the vector
 * and threaded paths with the scalar one on noise, byte for byte. */
#include "image.h"
#include "image_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos(double x)
{
    if (-3.0 <= x && x < 3.0)
        return sinc(x) * sinc(x / 3);
    return 0.0;
}

typedef struct coeffs {
    int ksize;
    int *bounds; /* per output: first source index, count */
    int *k;      /* per output: ksize fixed-point weights */
} coeffs;

static int precompute(int in_size, int out_size, coeffs *c)
{
    float in0 = 0.0f, in1 = (float)in_size;
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    c->k = malloc((size_t)out_size * ksize * sizeof(int));
    double *kk = malloc((size_t)ksize * sizeof(double));
    if (!c->bounds || !c->k || !kk) {
        free(kk);
        return RCPT_ENOMEM;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = lanczos((x + xmin - center + 0.5) * ss);
            kk[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                kk[x] /= ww;
        int *k = c->k + (size_t)xx * ksize;
        for (x = 0; x < ksize; x++) {
            double v = x < xmax ? kk[x] : 0.0;
            k[x] = v < 0 ? (int)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int)(0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[xx * 2] = xmin;
        c->bounds[xx * 2 + 1] = xmax;
    }
    free(kk);
    return RCPT_OK;
}

static inline unsigned char clip8(int ss)
{
    int v = ss >> PRECISION_BITS; /* arithmetic shift: floor, as Pillow's table lookup */
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Scalar passes over rows [y0, y1) of the output (the reference: Pillow's
 * loops, row-major accumulation in the vertical pass). */
static void horizontal_rows(const rcpt_image *in, int y_first, rcpt_image *out, const coeffs *c,
                            int y0, int y1)
{
    int ch = in->channels;
    for (int y = y0; y < y1; y++) {
        const unsigned char *row = in->px + (size_t)(y + y_first) * in->stride;
        unsigned char *o = out->px + (size_t)y * out->stride;
        for (int xx = 0; xx < out->width; xx++) {
            int xmin = c->bounds[xx * 2], xmax = c->bounds[xx * 2 + 1];
            const int *k = c->k + (size_t)xx * c->ksize;
            for (int b = 0; b < ch; b++) {
                int ss = 1 << (PRECISION_BITS - 1);
                const unsigned char *p = row + (size_t)xmin * ch + b;
                for (int x = 0; x < xmax; x++)
                    ss += p[x * ch] * k[x];
                o[xx * ch + b] = clip8(ss);
            }
        }
    }
}

/* One output row, samples [i0, n): acc holds them while the taps are added
 * a source row at a time, so that the source is read row by row. */
static void vertical_row(const rcpt_image *in, rcpt_image *out, const coeffs *c, int shift,
                         int yy, size_t i0, int *acc)
{
    size_t n = (size_t)in->width * in->channels;
    int ymin = c->bounds[yy * 2] - shift, ymax = c->bounds[yy * 2 + 1];
    const int *k = c->k + (size_t)yy * c->ksize;
    for (size_t i = i0; i < n; i++)
        acc[i] = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < ymax; y++) {
        const unsigned char *row = in->px + (size_t)(y + ymin) * in->stride;
        int w = k[y];
        for (size_t i = i0; i < n; i++)
            acc[i] += row[i] * w;
    }
    unsigned char *o = out->px + (size_t)yy * out->stride;
    for (size_t i = i0; i < n; i++)
        o[i] = clip8(acc[i]);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RCPT_RESIZE_AVX2 1
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2"))) static inline

/* 8 bytes -> 8 int32 lanes */
AVX2 __m256i ld8(const unsigned char *p)
{
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

/* clip8 of 8 sums, stored as 8 bytes: the arithmetic shift, then the
 * saturating packs clamp to 0..255 as clip8 does */
AVX2 void st8(unsigned char *o, __m256i acc)
{
    __m256i v = _mm256_srai_epi32(acc, PRECISION_BITS);
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)o, _mm_packus_epi16(w, w));
}

/* The vertical pass for one output row: 32 then 8 samples at a time with
 * the sums in registers, the rest (< 8) by the scalar loop. */
__attribute__((target("avx2"))) static void vertical_row_avx2(const rcpt_image *in,
                                                              rcpt_image *out, const coeffs *c,
                                                              int shift, int yy, int *acc)
{
    size_t n = (size_t)in->width * in->channels, i = 0;
    int ymin = c->bounds[yy * 2] - shift, ymax = c->bounds[yy * 2 + 1];
    const int *k = c->k + (size_t)yy * c->ksize;
    const unsigned char *base = in->px + (size_t)ymin * in->stride;
    unsigned char *o = out->px + (size_t)yy * out->stride;
    const __m256i init = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = init, a1 = init, a2 = init, a3 = init;
        const unsigned char *p = base + i;
        for (int y = 0; y < ymax; y++, p += in->stride) {
            __m256i w = _mm256_set1_epi32(k[y]);
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(ld8(p), w));
            a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(ld8(p + 8), w));
            a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(ld8(p + 16), w));
            a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(ld8(p + 24), w));
        }
        st8(o + i, a0);
        st8(o + i + 8, a1);
        st8(o + i + 16, a2);
        st8(o + i + 24, a3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256i a0 = init;
        const unsigned char *p = base + i;
        for (int y = 0; y < ymax; y++, p += in->stride)
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(ld8(p), _mm256_set1_epi32(k[y])));
        st8(o + i, a0);
    }
    if (i < n)
        vertical_row(in, out, c, shift, yy, i, acc);
}

/* The horizontal pass for the 8 output rows y0..y0+7: the source rows are
 * transposed into t (per source column, its 8 rows x ch samples: 8 ch
 * bytes), then each output pixel is ch vectors of 8 lanes -- lane r*ch+b of
 * the block is row r, band b -- summed over the taps.  `ch` is a constant
 * in each caller below, so the byte moves compile to fixed-size ones. */
__attribute__((target("avx2"), always_inline)) static inline void
horizontal_block(const rcpt_image *in, int y_first, rcpt_image *out, const coeffs *c, int y0,
                 unsigned char *t, const int ch)
{
    const int W = in->width, L = 8 * ch;
    for (int r = 0; r < 8; r++) {
        const unsigned char *row = in->px + (size_t)(y0 + r + y_first) * in->stride;
        unsigned char *d = t + r * ch;
        int x = 0;
        if (ch == 3) {
            /* 4-byte moves: the 4th byte lands on row r + 1's slot of the
             * same column, which is written after this one (so not for the
             * last row: its 4th byte would land on the next column's row 0);
             * the last pixel of a row is moved alone so as not to read past it */
            for (; r < 7 && x < W - 1; x++) {
                uint32_t v;
                memcpy(&v, row + x * 3, 4);
                memcpy(d + (size_t)x * L, &v, 4);
            }
        }
        for (; x < W; x++)
            memcpy(d + (size_t)x * L, row + (size_t)x * ch, (size_t)ch);
    }
    const __m256i init = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
    unsigned char o[32];
    for (int xx = 0; xx < out->width; xx++) {
        int xmin = c->bounds[xx * 2], xmax = c->bounds[xx * 2 + 1];
        const int *k = c->k + (size_t)xx * c->ksize;
        const unsigned char *p = t + (size_t)xmin * L;
        __m256i a0 = init, a1 = init, a2 = init, a3 = init;
        for (int x = 0; x < xmax; x++, p += L) {
            __m256i w = _mm256_set1_epi32(k[x]);
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(ld8(p), w));
            if (ch >= 3) {
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(ld8(p + 8), w));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(ld8(p + 16), w));
            }
            if (ch == 4)
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(ld8(p + 24), w));
        }
        st8(o, a0);
        if (ch >= 3) {
            st8(o + 8, a1);
            st8(o + 16, a2);
        }
        if (ch == 4)
            st8(o + 24, a3);
        unsigned char *dst = out->px + (size_t)y0 * out->stride + (size_t)xx * ch;
        for (int r = 0; r < 8; r++)
            memcpy(dst + (size_t)r * out->stride, o + r * ch, (size_t)ch);
    }
}

__attribute__((target("avx2"))) static void horizontal_block_avx2(const rcpt_image *in,
                                                                  int y_first, rcpt_image *out,
                                                                  const coeffs *c, int y0,
                                                                  unsigned char *t)
{
    switch (in->channels) {
    case 1: horizontal_block(in, y_first, out, c, y0, t, 1); break;
    case 3: horizontal_block(in, y_first, out, c, y0, t, 3); break;
    default: horizontal_block(in, y_first, out, c, y0, t, 4); break;
    }
}
#endif

/* Work shared out over threads: the horizontal pass in blocks of 8 output
 * rows, then (after a join) the vertical pass in chunks of output rows. */
enum { VCHUNK = 8 };

typedef struct resize_job {
    const rcpt_image *in;
    rcpt_image *out;
    const coeffs *c;
    int shift; /* vertical: the first source row held by `in`; horizontal: y_first */
    int horizontal, simd;
    atomic_int *next;
    int *acc;         /* vertical: one output row of int sums */
    unsigned char *t; /* horizontal: the 8-row transpose buffer */
} resize_job;

static void *run_job(void *arg)
{
    resize_job *j = arg;
    int h = j->out->height;
    int step = j->horizontal ? 8 : VCHUNK;
    for (;;) {
        int y = atomic_fetch_add_explicit(j->next, step, memory_order_relaxed);
        if (y >= h)
            break;
        int y1 = h - y < step ? h : y + step;
        if (j->horizontal) {
#ifdef RCPT_RESIZE_AVX2
            if (j->simd && y1 - y == 8) {
                horizontal_block_avx2(j->in, j->shift, j->out, j->c, y, j->t);
                continue;
            }
#endif
            horizontal_rows(j->in, j->shift, j->out, j->c, y, y1);
        } else {
            for (int yy = y; yy < y1; yy++) {
#ifdef RCPT_RESIZE_AVX2
                if (j->simd) {
                    vertical_row_avx2(j->in, j->out, j->c, j->shift, yy, j->acc);
                    continue;
                }
#endif
                vertical_row(j->in, j->out, j->c, j->shift, yy, 0, j->acc);
            }
        }
    }
    return NULL;
}

/* One pass over `threads` threads (this one included); a thread that cannot
 * be created leaves its rows to the others.  Returns RCPT_ENOMEM when the
 * per-thread buffers cannot be had. */
static int run_pass(const rcpt_image *in, rcpt_image *out, const coeffs *c, int shift,
                    int horizontal, int simd, int threads)
{
    enum { MAXT = 8 };
    if (threads > MAXT)
        threads = MAXT;
    int units = horizontal ? (out->height + 7) / 8 : (out->height + VCHUNK - 1) / VCHUNK;
    /* a thread per 4 units at least: tiny images stay on this thread */
    if (threads > units / 4)
        threads = units / 4 > 0 ? units / 4 : 1;
    size_t per = horizontal ? (size_t)in->width * 8 * in->channels + 32
                            : (size_t)in->width * in->channels * sizeof(int);
    unsigned char *mem = malloc(per * (size_t)threads);
    if (!mem)
        return RCPT_ENOMEM;
    atomic_int next = 0;
    resize_job jobs[MAXT];
    pthread_t tid[MAXT];
    int started[MAXT] = {0};
    for (int t = 0; t < threads; t++) {
        jobs[t] = (resize_job){in, out, c, shift, horizontal, simd, &next, NULL, NULL};
        if (horizontal)
            jobs[t].t = mem + per * t;
        else
            jobs[t].acc = (int *)(void *)(mem + per * t);
    }
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < threads; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
    free(mem);
    return RCPT_OK;
}

int rcpt_image__resize(const rcpt_image *src, int width, int height, int threads, int simd,
                       rcpt_image *out, rcpt_err *err)
{
    if (!src || !src->px || src->width < 1 || src->height < 1)
        return rcpt_err_set(err, RCPT_EINVAL, "resize: source image empty");
    if (width < 1 || height < 1)
        return rcpt_err_set(err, RCPT_EINVAL, "resize to %dx%d: width and height must be >= 1",
                            width, height);
    rcpt_image pre = RCPT_IMAGE_INIT, tmp = RCPT_IMAGE_INIT, dst = RCPT_IMAGE_INIT;
    coeffs ch = {0, NULL, NULL}, cv = {0, NULL, NULL};
    int rc;
    if (width == src->width && height == src->height) /* Pillow returns a copy */
        return rcpt_image_crop(src, 0, 0, width, height, out, err);
    const rcpt_image *s = src;
    if (src->channels == 4) {
        if ((rc = rcpt_image_new(&pre, src->width, src->height, 4, 0, err)) != RCPT_OK)
            goto done;
        rcpt_image__premultiply(src, &pre);
        s = &pre;
    }
    if (precompute(s->width, width, &ch) || precompute(s->height, height, &cv)) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "resize: out of memory");
        goto done;
    }
    int need_h = width != s->width, need_v = height != s->height;
    int y_first = cv.bounds[0];
    int y_last = cv.bounds[height * 2 - 2] + cv.bounds[height * 2 - 1];
    const rcpt_image *cur = s;
    if (need_h) {
        if ((rc = rcpt_image_new(&tmp, width, y_last - y_first, s->channels, 0, err)) != RCPT_OK)
            goto done;
        if (run_pass(s, &tmp, &ch, y_first, 1, simd, threads)) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "resize: out of memory");
            goto done;
        }
        cur = &tmp;
    }
    if (need_v) {
        if ((rc = rcpt_image_new(&dst, width, height, s->channels, 0, err)) != RCPT_OK)
            goto done;
        if (run_pass(cur, &dst, &cv, need_h ? y_first : 0, 0, simd, threads)) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "resize: out of memory");
            goto done;
        }
        rcpt_image_free(&tmp);
    } else {
        dst = tmp; /* only a horizontal pass: all rows were used */
        tmp = (rcpt_image)RCPT_IMAGE_INIT;
    }
    if (dst.channels == 4)
        rcpt_image__unpremultiply(&dst);
    *out = dst;
    dst = (rcpt_image)RCPT_IMAGE_INIT;
    rc = RCPT_OK;
done:
    rcpt_image_free(&pre);
    rcpt_image_free(&tmp);
    rcpt_image_free(&dst);
    free(ch.bounds);
    free(ch.k);
    free(cv.bounds);
    free(cv.k);
    return rc;
}

int rcpt_image_resize(const rcpt_image *src, int width, int height, rcpt_image *out,
                      rcpt_err *err)
{
    int simd = 0;
#ifdef RCPT_RESIZE_AVX2
    simd = __builtin_cpu_supports("avx2") != 0;
#endif
    return rcpt_image__resize(src, width, height, rcpt_image_default_threads(), simd, out, err);
}
