/* Perspective and affine warps with Pillow's BICUBIC sampler (spec §6).
 *
 * Bit-exactness with Pillow decides the arithmetic: the source point is
 * computed in double exactly as Pillow writes it ((a*x + b*y) + c, with
 * x = col + 0.5), the horizontal cubic's polynomial coefficients are exact
 * integers (Pillow computes them from bytes, so they are), and the Horner
 * evaluation p1 + d(p2 + d(p3 + d p4)) keeps Pillow's order, because the
 * result is truncated: a weights-times-samples form that is equal on paper
 * gives 127.99999 instead of 128 in flat regions.
 *
 * Speed without giving that up: on CPUs with AVX2+FMA most pixels are
 * computed 8 at a time in float (weights times samples, gathered taps) with
 * a bound on the error, and only the samples whose truncated byte the bound
 * cannot decide are recomputed with the exact sampler (see "fast path"
 * below); rows are split over threads.  Elsewhere the exact sampler does
 * every pixel.
 *
 * Pillow's edge rule ("a row outside the image repeats the previous row's
 * value") is the same as clamping the row index for every source point that
 * passes the [0,W) x [0,H) test (the first row index is >= -2 and the last
 * <= H+1), so rows are simply clamped. */
#include "image.h"
#include "image_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct warp_job {
    const rcpt_image *src;
    rcpt_image *dst;
    double c[8];
    int perspective;
    int y0, y1;      /* the rows being done now */
    atomic_int *next; /* the first row no thread has taken yet (shared) */
    int fast;        /* rows_fast (AVX2+FMA) rather than rows_exact */
    double *xs, *ys; /* WARP_CHUNK output rows of source points (scratch) */
} warp_job;

/* Rows are handed out WARP_CHUNK at a time (see run_job) */
enum { WARP_CHUNK = 16 };

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

/* Pillow's source points of output row y, in double, in Pillow's order. */
static void source_points(const warp_job *j, int y, double *xs, double *ys)
{
    const double *c = j->c;
    int w = j->dst->width;
    double yi = y + 0.5;
    /* the same products Pillow forms, hoisted out of the column loop; a loop
     * without branches that the compiler vectorises, and the divisions leave
     * the sampler's critical path */
    double by = c[1] * yi, ey = c[4] * yi;
    if (j->perspective) {
        double hy = c[7] * yi;
        for (int x = 0; x < w; x++) {
            double xi = x + 0.5;
            double den = c[6] * xi + hy + 1;
            xs[x] = (c[0] * xi + by + c[2]) / den;
            ys[x] = (c[3] * xi + ey + c[5]) / den;
        }
    } else {
        for (int x = 0; x < w; x++) {
            double xi = x + 0.5;
            xs[x] = c[0] * xi + by + c[2];
            ys[x] = c[3] * xi + ey + c[5];
        }
    }
}

/* Every pixel with the exact sampler (no AVX2, or forced for the tests). */
static void rows_exact(const warp_job *j, int ch)
{
    for (int y = j->y0; y < j->y1; y++) {
        unsigned char *o = j->dst->px + (size_t)y * j->dst->stride;
        source_points(j, y, j->xs, j->ys);
        for (int x = 0; x < j->dst->width; x++, o += ch)
            if (!sample(j->src, j->xs[x], j->ys[x], o, ch))
                memset(o, 0, (size_t)ch);
    }
}

#ifdef RCPT_WARP_AVX2
/* ---- the fast path: float weights, 8 output pixels per step, exact result
 *
 * Pillow's arithmetic is double with truncation, so any other arithmetic
 * differs from it exactly where the value is close to an integer.  The fast
 * path therefore computes an approximation v with a bound E on its error
 * and keeps it only when the bound cannot change the byte:
 * trunc(clamp(v - E)) == trunc(clamp(v + E)).  Every other sample -- about
 * 2E of those of a natural photo, and all those whose exact value is an
 * integer, e.g. flat paper, saturated white, an identity warp -- is redone
 * by the exact sampler.  So the output stays byte-identical to Pillow.
 *
 * The bound (worst case, every tap 0 or 255): d rounded to float is off by
 * <= 2^-25 and each weight, a cubic in d computed in float, by < 4e-7; a
 * row sum h = sum w_t v_t (v_t <= 255, sum |w_t| <= 1.5, so |h| <= 383) is
 * then off by < 4*255*4e-7 + 4 roundings of 2^-15 < 5.2e-4, and the column
 * sum by < 1.5*5.2e-4 + 4*383*4e-7 + 4 roundings of 2^-14 < 1.7e-3.
 * E = 2^-8 = 3.9e-3.  (Measured on 2 million random and 0/255 stencils:
 * max 1e-4.)  tests/c/test_image.c compares whole outputs with a plain
 * transcription of Pillow's formula on noisy, flat and saturated images. */
#define FAST_EPS (1.0f / 256)
enum { TILE_W = 64 }; /* output columns per tile (a multiple of 8) */

__attribute__((target("avx2,fma"))) static inline int exact_sample(const rcpt_image *s, double xin, double yin, unsigned char *out,
                               int ch)
{
    return ch == 1 ? sample(s, xin, yin, out, 1) : sample_avx(s, xin, yin, out, ch);
}

/* a = -1 cubic convolution weights of the taps at -1, 0, 1, 2: Pillow's
 * p1 + d(p2 + d(p3 + d p4)) regrouped by sample */
__attribute__((target("avx2,fma"))) static inline void cubic_weights(__m256 d, __m256 w[4])
{
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    __m256 d2 = _mm256_mul_ps(d, d);
    w[0] = _mm256_mul_ps(d, _mm256_fmadd_ps(d, _mm256_sub_ps(two, d), _mm256_set1_ps(-1.0f)));
    w[1] = _mm256_fmadd_ps(d2, _mm256_sub_ps(d, two), one);
    w[2] = _mm256_mul_ps(d, _mm256_fmadd_ps(d, _mm256_sub_ps(one, d), one));
    w[3] = _mm256_mul_ps(d2, _mm256_sub_ps(d, one));
}

/* 8 pixels whose bytes are the low `ch` bytes of the lanes of px */
__attribute__((target("avx2"))) static inline void store_px(unsigned char *o, __m256i px, int ch)
{
    if (ch == 4) {
        _mm256_storeu_si256((__m256i *)o, px);
    } else if (ch == 3) {
        const __m256i pack = _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1,
                                              -1, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1,
                                              -1, -1);
        __m256i p = _mm256_shuffle_epi8(px, pack);
        unsigned char tmp[32];
        _mm256_storeu_si256((__m256i *)tmp, p);
        memcpy(o, tmp, 12);
        memcpy(o + 12, tmp + 16, 12);
    } else {
        __m128i lo = _mm256_castsi256_si128(px), hi = _mm256_extracti128_si256(px, 1);
        __m128i b = _mm_packus_epi16(_mm_packus_epi32(lo, hi), _mm_setzero_si128());
        _mm_storel_epi64((__m128i *)o, b);
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
rows_fast(const warp_job *j, const int CH)
{
    const rcpt_image *s = j->src;
    rcpt_image *d = j->dst;
    double *xs = j->xs, *ys = j->ys;
    const int W = s->width, H = s->height;
    /* the last byte offset a 4-byte load may start at (warp() only comes
     * here when it is >= 0 and the image is under 2 GB) */
    const int last = (int)((size_t)(H - 1) * s->stride + (size_t)W * CH - 4);
    const __m256d vW = _mm256_set1_pd(W), vH = _mm256_set1_pd(H);
    const __m256d half = _mm256_set1_pd(0.5), dzero = _mm256_setzero_pd();
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
    const __m256i W1 = _mm256_set1_epi32(W - 1), H1 = _mm256_set1_epi32(H - 1);
    const __m256i vstride = _mm256_set1_epi32((int)s->stride), vlast = _mm256_set1_epi32(last);
    const __m256i vch = _mm256_set1_epi32(CH), byte = _mm256_set1_epi32(0xff);
    const __m256i lanebit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256 eps = _mm256_set1_ps(FAST_EPS), fzero = _mm256_setzero_ps();
    const __m256 f255 = _mm256_set1_ps(255.0f);
    /* for the RGB(A) path: 16-byte loads, taps to int32 lanes, channel mask */
    const __m256i vlast16 = _mm256_set1_epi32(last - 12);
    const __m128 eps4 = _mm_set1_ps(FAST_EPS), fzero4 = _mm_setzero_ps(), f2554 = _mm_set1_ps(255.0f);
    const int chmask = (1 << CH) - 1;
    __m256i tap[4];
    for (int t = 0; t < 4; t++) {
        char m[32];
        for (int i = 0; i < 16; i++) {
            int b = i / 4, byte_ = i % 4; /* int32 lane b gets channel b of tap t */
            m[i] = m[i + 16] = (char)(byte_ == 0 && b < CH ? t * CH + b : -1);
        }
        tap[t] = _mm256_loadu_si256((const __m256i *)(const void *)m);
    }
    /* Tiles of TILE_W columns by the chunk's rows: a rotated crop's output
     * row crosses many source rows (sin 8 deg x 1200 px = 170 of them, 600 KB
     * of a 3024 px wide RGB photo, more than L2), while a 64-column tile of
     * 16 rows reads a few KB that stay in L1 from one row to the next.
     * Every pixel is still computed on its own, so the order is free. */
    const int nrows = j->y1 - j->y0, full = d->width & ~7;
    for (int r = 0; r < nrows; r++)
        source_points(j, j->y0 + r, xs + (size_t)r * d->width, ys + (size_t)r * d->width);
    for (int tx = 0; tx < full; tx += TILE_W)
    for (int r = 0; r < nrows; r++) {
        const int y = j->y0 + r, tend = full - tx < TILE_W ? full : tx + TILE_W;
        unsigned char *orow = d->px + (size_t)y * d->stride;
        const double *xr = xs + (size_t)r * d->width, *yr = ys + (size_t)r * d->width;
        for (int x = tx; x < tend; x += 8) {
            unsigned char *o = orow + (size_t)x * CH;
            __m256d xa = _mm256_loadu_pd(xr + x), xb = _mm256_loadu_pd(xr + x + 4);
            __m256d ya = _mm256_loadu_pd(yr + x), yb = _mm256_loadu_pd(yr + x + 4);
            /* Pillow's inside test; ordered compares, so NaN is outside */
            __m256d ia = _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(xa, dzero, _CMP_GE_OQ),
                                                     _mm256_cmp_pd(xa, vW, _CMP_LT_OQ)),
                                       _mm256_and_pd(_mm256_cmp_pd(ya, dzero, _CMP_GE_OQ),
                                                     _mm256_cmp_pd(ya, vH, _CMP_LT_OQ)));
            __m256d ib = _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(xb, dzero, _CMP_GE_OQ),
                                                     _mm256_cmp_pd(xb, vW, _CMP_LT_OQ)),
                                       _mm256_and_pd(_mm256_cmp_pd(yb, dzero, _CMP_GE_OQ),
                                                     _mm256_cmp_pd(yb, vH, _CMP_LT_OQ)));
            int in = _mm256_movemask_pd(ia) | _mm256_movemask_pd(ib) << 4;
            if (!in) {
                memset(o, 0, 8 * (size_t)CH);
                continue;
            }
            /* outside lanes sample (0.5, 0.5): no overflow in the conversions,
             * and their result is dropped.  Then Pillow's x - 0.5, floor and
             * fraction, in double, so the taps are the same as Pillow's. */
            xa = _mm256_sub_pd(_mm256_blendv_pd(half, xa, ia), half);
            xb = _mm256_sub_pd(_mm256_blendv_pd(half, xb, ib), half);
            ya = _mm256_sub_pd(_mm256_blendv_pd(half, ya, ia), half);
            yb = _mm256_sub_pd(_mm256_blendv_pd(half, yb, ib), half);
            __m256d fxa = _mm256_floor_pd(xa), fxb = _mm256_floor_pd(xb);
            __m256d fya = _mm256_floor_pd(ya), fyb = _mm256_floor_pd(yb);
            __m256i xi = _mm256_set_m128i(_mm256_cvttpd_epi32(fxb), _mm256_cvttpd_epi32(fxa));
            __m256i yi = _mm256_set_m128i(_mm256_cvttpd_epi32(fyb), _mm256_cvttpd_epi32(fya));
            __m256 wx[4], wy[4];
            cubic_weights(_mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(xb, fxb)),
                                          _mm256_cvtpd_ps(_mm256_sub_pd(xa, fxa))), wx);
            cubic_weights(_mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(yb, fyb)),
                                          _mm256_cvtpd_ps(_mm256_sub_pd(ya, fya))), wy);
            /* tap offsets, clamped to the edge like Pillow's indices */
            __m256i xo[4], yo[4];
            __m256i xt = _mm256_sub_epi32(xi, one), yt = _mm256_sub_epi32(yi, one);
            for (int k = 0; k < 4; k++) {
                __m256i cx = _mm256_min_epi32(_mm256_max_epi32(xt, zero), W1);
                __m256i cy = _mm256_min_epi32(_mm256_max_epi32(yt, zero), H1);
                xo[k] = CH == 1 ? cx : _mm256_mullo_epi32(cx, vch);
                yo[k] = _mm256_mullo_epi32(cy, vstride);
                xt = _mm256_add_epi32(xt, one);
                yt = _mm256_add_epi32(yt, one);
            }
            __m256i inl = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(in), lanebit), lanebit);
            if (CH != 1) {
                /* RGB(A): one pixel at a time, its channels in the lanes and two
                 * source rows per vector; the four taps of a row are one 16-byte
                 * load.  Lanes whose taps are clamped at the left or right edge,
                 * or whose load would pass the buffer's end, are done exactly. */
                __m256i easy = _mm256_andnot_si256(
                    _mm256_or_si256(_mm256_cmpgt_epi32(one, xi),
                                    _mm256_cmpgt_epi32(_mm256_add_epi32(xi, _mm256_set1_epi32(2)), W1)),
                    inl);
                easy = _mm256_andnot_si256(
                    _mm256_cmpgt_epi32(_mm256_add_epi32(yo[3], xo[0]), vlast16), easy);
                int lanes_easy = _mm256_movemask_ps(_mm256_castsi256_ps(easy));
                int ro[4][8], co[8];
                float wxs[4][8], wys[4][8];
                for (int k = 0; k < 4; k++) {
                    _mm256_storeu_si256((__m256i *)ro[k], yo[k]);
                    _mm256_storeu_ps(wxs[k], wx[k]);
                    _mm256_storeu_ps(wys[k], wy[k]);
                }
                _mm256_storeu_si256((__m256i *)co, xo[0]);
                for (int i = 0; i < 8; i++) {
                    unsigned char *op = o + i * CH;
                    if (!(in >> i & 1)) {
                        memset(op, 0, (size_t)CH);
                        continue;
                    }
                    if (!(lanes_easy >> i & 1)) {
                        exact_sample(s, xr[x + i], yr[x + i], op, CH);
                        continue;
                    }
                    const unsigned char *base = s->px + co[i];
                    __m256 h[2];
                    for (int r = 0; r < 2; r++) {
                        __m256i t = _mm256_inserti128_si256(
                            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(base + ro[2 * r][i]))),
                            _mm_loadu_si128((const __m128i *)(const void *)(base + ro[2 * r + 1][i])), 1);
                        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_shuffle_epi8(t, tap[0])),
                                                 _mm256_broadcast_ss(&wxs[0][i]));
                        v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_shuffle_epi8(t, tap[1])),
                                            _mm256_broadcast_ss(&wxs[1][i]), v);
                        v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_shuffle_epi8(t, tap[2])),
                                            _mm256_broadcast_ss(&wxs[2][i]), v);
                        h[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_shuffle_epi8(t, tap[3])),
                                               _mm256_broadcast_ss(&wxs[3][i]), v);
                    }
                    __m256 v = _mm256_mul_ps(h[0], _mm256_set_m128(_mm_broadcast_ss(&wys[1][i]),
                                                                   _mm_broadcast_ss(&wys[0][i])));
                    v = _mm256_fmadd_ps(h[1], _mm256_set_m128(_mm_broadcast_ss(&wys[3][i]),
                                                              _mm_broadcast_ss(&wys[2][i])), v);
                    __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                    __m128i lo = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(_mm_sub_ps(r4, eps4), fzero4), f2554));
                    __m128i hi = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(_mm_add_ps(r4, eps4), fzero4), f2554));
                    if ((_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(lo, hi))) & chmask) != chmask) {
                        exact_sample(s, xr[x + i], yr[x + i], op, CH);
                        continue;
                    }
                    int packed = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packus_epi32(lo, lo), lo));
                    memcpy(op, &packed, (size_t)CH);
                }
                continue;
            }
            /* gray: 8 pixels at a time, taps gathered.  A 4-byte load would
             * pass the buffer's end (bottom-right corner of the source): these
             * 8 pixels take the exact path */
            if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(_mm256_add_epi32(yo[3], xo[3]), vlast))) {
                for (int i = 0; i < 8; i++)
                    if (!exact_sample(s, xr[x + i], yr[x + i], o + i * CH, CH))
                        memset(o + i * CH, 0, (size_t)CH);
                continue;
            }
            __m256 acc[4] = {fzero, fzero, fzero, fzero};
            for (int k = 0; k < 4; k++) {
                __m256 h[4] = {fzero, fzero, fzero, fzero};
                for (int t = 0; t < 4; t++) {
                    __m256i g = _mm256_i32gather_epi32((const int *)(const void *)s->px,
                                                       _mm256_add_epi32(yo[k], xo[t]), 1);
                    for (int b = 0; b < CH; b++) {
                        __m256i v = b ? _mm256_srli_epi32(g, 8 * b) : g;
                        if (b < 3)
                            v = _mm256_and_si256(v, byte);
                        h[b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), wx[t], h[b]);
                    }
                }
                for (int b = 0; b < CH; b++)
                    acc[b] = _mm256_fmadd_ps(h[b], wy[k], acc[b]);
            }
            /* keep the byte where v - E and v + E agree; the other inside
             * lanes are redone exactly; outside lanes are black */
            __m256i ok = inl, px = zero;
            for (int b = 0; b < CH; b++) {
                __m256i lo = _mm256_cvttps_epi32(
                    _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(acc[b], eps), fzero), f255));
                __m256i hi = _mm256_cvttps_epi32(
                    _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(acc[b], eps), fzero), f255));
                ok = _mm256_and_si256(ok, _mm256_cmpeq_epi32(lo, hi));
                px = _mm256_or_si256(px, b ? _mm256_slli_epi32(lo, 8 * b) : lo);
            }
            store_px(o, _mm256_and_si256(px, inl), CH);
            unsigned redo = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_andnot_si256(ok, inl)));
            while (redo) {
                int i = __builtin_ctz(redo);
                redo &= redo - 1;
                exact_sample(s, xr[x + i], yr[x + i], o + i * CH, CH);
            }
        }
    }
    for (int r = 0; r < nrows; r++) {
        unsigned char *orow = d->px + (size_t)(j->y0 + r) * d->stride;
        const double *xr = xs + (size_t)r * d->width, *yr = ys + (size_t)r * d->width;
        for (int x = full; x < d->width; x++)
            if (!exact_sample(s, xr[x], yr[x], orow + (size_t)x * CH, CH))
                memset(orow + (size_t)x * CH, 0, (size_t)CH);
    }
}

__attribute__((target("avx2,fma"))) static void rows_fast_1(const warp_job *j) { rows_fast(j, 1); }
__attribute__((target("avx2,fma"))) static void rows_fast_3(const warp_job *j) { rows_fast(j, 3); }
__attribute__((target("avx2,fma"))) static void rows_fast_4(const warp_job *j) { rows_fast(j, 4); }
#endif

static void do_rows(const warp_job *j)
{
#ifdef RCPT_WARP_AVX2
    if (j->fast) {
        switch (j->src->channels) {
        case 1: rows_fast_1(j); break;
        case 3: rows_fast_3(j); break;
        default: rows_fast_4(j); break;
        }
        return;
    }
#endif
    rows_exact(j, j->src->channels);
}

/* Rows are handed out WARP_CHUNK at a time rather than in one band per
 * thread: on a loaded machine a thread that is descheduled for a while
 * does fewer rows instead of holding the others up at the join.  Each row
 * is computed on its own, so the result does not depend on who did it. */
static void *run_job(void *arg)
{
    warp_job *j = arg;
    int h = j->dst->height;
    for (;;) {
        int y = atomic_fetch_add_explicit(j->next, WARP_CHUNK, memory_order_relaxed);
        if (y >= h)
            break;
        j->y0 = y;
        j->y1 = h - y < WARP_CHUNK ? h : y + WARP_CHUNK;
        do_rows(j);
    }
    return NULL;
}

int rcpt_image_default_threads(void)
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
        threads = rcpt_image_default_threads();
    /* a thread per band of at least 32 rows; small outputs stay on this thread */
    if (threads > height / 32)
        threads = height / 32 > 0 ? height / 32 : 1;
    /* the fast path addresses the source with int32 byte offsets and 4-byte
     * loads: it needs a source under 2 GB holding at least 4 bytes */
    size_t bytes = (size_t)(s->height - 1) * s->stride + (size_t)s->width * (size_t)s->channels;
    int fast = 0;
#ifdef RCPT_WARP_AVX2
    fast = bytes >= 4 && bytes < ((size_t)1 << 31) - 64 && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
#endif
    (void)bytes;
    atomic_int next = 0;
    warp_job jobs[64];
    pthread_t tid[64];
    int started[64] = {0};
    double *scratch = malloc((size_t)threads * 2 * WARP_CHUNK * (size_t)width * sizeof(double));
    if (!scratch) {
        rcpt_image_free(&pre);
        rcpt_image_free(&dst);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", what);
    }
    for (int t = 0; t < threads; t++) {
        warp_job *j = &jobs[t];
        j->xs = scratch + (size_t)t * 2 * WARP_CHUNK * width;
        j->ys = j->xs + (size_t)WARP_CHUNK * width;
        j->src = s;
        j->dst = &dst;
        memset(j->c, 0, sizeof j->c);
        memcpy(j->c, coeffs, (size_t)ncoef * sizeof(double));
        j->perspective = ncoef == 8;
        j->fast = fast;
        j->next = &next;
    }
    /* threads 1..n-1 are new, thread 0 is this one; rows a thread that
     * could not be created would have done are taken by the others */
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < threads; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
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
