/* LANCZOS resize as Pillow's Image.resize does it (spec §8 CDN sizes).
 *
 * Separable: coefficients per output column/row from the Lanczos-3 kernel
 * stretched by the downscale factor, normalised to sum 1, then rounded to
 * 22-bit fixed point; a horizontal pass over only the source rows the
 * vertical pass will read, then the vertical pass.  Checked pixel for pixel
 * against Pillow 9.4 (Debian 12) on L, RGB and RGBA images. */
#include "image.h"
#include "image_internal.h"

#include <math.h>
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

static void horizontal(const rcpt_image *in, int y_first, rcpt_image *out, const coeffs *c)
{
    int ch = in->channels;
    for (int y = 0; y < out->height; y++) {
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

/* Row-major accumulation (acc holds one output row) so that the source is
 * read a whole row at a time; same sums as Pillow's column-wise loop. */
static void vertical(const rcpt_image *in, rcpt_image *out, const coeffs *c, int shift, int *acc)
{
    size_t n = (size_t)in->width * in->channels;
    for (int yy = 0; yy < out->height; yy++) {
        int ymin = c->bounds[yy * 2] - shift, ymax = c->bounds[yy * 2 + 1];
        const int *k = c->k + (size_t)yy * c->ksize;
        for (size_t i = 0; i < n; i++)
            acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < ymax; y++) {
            const unsigned char *row = in->px + (size_t)(y + ymin) * in->stride;
            int w = k[y];
            for (size_t i = 0; i < n; i++)
                acc[i] += row[i] * w;
        }
        unsigned char *o = out->px + (size_t)yy * out->stride;
        for (size_t i = 0; i < n; i++)
            o[i] = clip8(acc[i]);
    }
}

int rcpt_image_resize(const rcpt_image *src, int width, int height, rcpt_image *out,
                      rcpt_err *err)
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
        horizontal(s, y_first, &tmp, &ch);
        cur = &tmp;
    }
    if (need_v) {
        if ((rc = rcpt_image_new(&dst, width, height, s->channels, 0, err)) != RCPT_OK)
            goto done;
        int *acc = malloc((size_t)width * s->channels * sizeof(int));
        if (!acc) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "resize: out of memory");
            goto done;
        }
        vertical(cur, &dst, &cv, need_h ? y_first : 0, acc);
        free(acc);
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
