/* The image struct itself: allocation, crop, convert, sha256, the CDN size rule. */
#include "image.h"
#include "image_internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

const char *rcpt_image_format_name(int format)
{
    switch (format) {
    case RCPT_IMAGE_FMT_JPEG: return "jpeg";
    case RCPT_IMAGE_FMT_PNG: return "png";
    default: return "unknown";
    }
}

int rcpt_image_new(rcpt_image *img, int width, int height, int channels, unsigned char fill,
                   rcpt_err *err)
{
    if (width < 1 || height < 1)
        return rcpt_err_set(err, RCPT_EINVAL, "image size %dx%d: width and height must be >= 1",
                            width, height);
    if (channels != 1 && channels != 3 && channels != 4)
        return rcpt_err_set(err, RCPT_EINVAL, "channels %d: must be 1, 3 or 4", channels);
    size_t stride = (size_t)width * (size_t)channels;
    if (stride > ((size_t)1 << 31) || (size_t)height > SIZE_MAX / stride)
        return rcpt_err_set(err, RCPT_ELIMIT, "image size %dx%d: too large", width, height);
    unsigned char *px = malloc(stride * (size_t)height);
    if (!px)
        return rcpt_err_set(err, RCPT_ENOMEM, "image %dx%dx%d: out of memory", width, height,
                            channels);
    memset(px, fill, stride * (size_t)height);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->stride = stride;
    img->px = px;
    return RCPT_OK;
}

void rcpt_image_free(rcpt_image *img)
{
    if (!img)
        return;
    free(img->px);
    *img = (rcpt_image)RCPT_IMAGE_INIT;
}

static int check_image(const rcpt_image *img, rcpt_err *err)
{
    if (!img || !img->px || img->width < 1 || img->height < 1 ||
        (img->channels != 1 && img->channels != 3 && img->channels != 4) ||
        img->stride < (size_t)img->width * (size_t)img->channels)
        return rcpt_err_set(err, RCPT_EINVAL, "image: empty or malformed");
    return RCPT_OK;
}

int rcpt_image_crop(const rcpt_image *src, int x, int y, int width, int height, rcpt_image *out,
                    rcpt_err *err)
{
    if (check_image(src, err))
        return RCPT_EINVAL;
    rcpt_image dst;
    int rc = rcpt_image_new(&dst, width, height, src->channels, 0, err);
    if (rc)
        return rc;
    int ch = src->channels;
    /* overlap of [x, x+w) x [y, y+h) with the source */
    long x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    long x1 = (long)x + width, y1 = (long)y + height;
    if (x1 > src->width) x1 = src->width;
    if (y1 > src->height) y1 = src->height;
    for (long yy = y0; yy < y1 && x0 < x1; yy++)
        memcpy(dst.px + (size_t)(yy - y) * dst.stride + (size_t)(x0 - x) * ch,
               src->px + (size_t)yy * src->stride + (size_t)x0 * ch, (size_t)(x1 - x0) * ch);
    *out = dst;
    return RCPT_OK;
}

/* Pillow's L = R*299/1000 + G*587/1000 + B*114/1000, in its fixed-point form */
static unsigned char luma(unsigned r, unsigned g, unsigned b)
{
    return (unsigned char)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
}

int rcpt_image_convert(const rcpt_image *src, int channels, rcpt_image *out, rcpt_err *err)
{
    if (check_image(src, err))
        return RCPT_EINVAL;
    rcpt_image dst;
    int rc = rcpt_image_new(&dst, src->width, src->height, channels, 0, err);
    if (rc)
        return rc;
    int sc = src->channels;
    for (int y = 0; y < src->height; y++) {
        const unsigned char *s = src->px + (size_t)y * src->stride;
        unsigned char *d = dst.px + (size_t)y * dst.stride;
        for (int x = 0; x < src->width; x++, s += sc, d += channels) {
            unsigned r = s[0], g = sc >= 3 ? s[1] : s[0], b = sc >= 3 ? s[2] : s[0];
            unsigned a = sc == 4 ? s[3] : 255;
            if (channels == 1) {
                d[0] = sc == 1 ? s[0] : luma(r, g, b);
            } else {
                d[0] = (unsigned char)r;
                d[1] = (unsigned char)g;
                d[2] = (unsigned char)b;
                if (channels == 4)
                    d[3] = (unsigned char)a;
            }
        }
    }
    *out = dst;
    return RCPT_OK;
}

int rcpt_image_sha256(const rcpt_image *img, char hex[65], rcpt_err *err)
{
    if (check_image(img, err))
        return RCPT_EINVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return rcpt_err_set(err, RCPT_ENOMEM, "sha256: out of memory");
    int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t row = (size_t)img->width * (size_t)img->channels;
    if (ok && img->stride == row) {
        ok = EVP_DigestUpdate(ctx, img->px, row * (size_t)img->height);
    } else {
        for (int y = 0; ok && y < img->height; y++)
            ok = EVP_DigestUpdate(ctx, img->px + (size_t)y * img->stride, row);
    }
    unsigned char md[32];
    unsigned mdlen = 0;
    if (ok)
        ok = EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok || mdlen != 32)
        return rcpt_err_set(err, RCPT_EIO, "sha256: digest failed");
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return RCPT_OK;
}

int rcpt_image_cdn_size(int width, int height, int max_dim, int *out_w, int *out_h)
{
    double ratio = (double)max_dim / width;
    double rh = (double)max_dim / height;
    if (rh < ratio)
        ratio = rh;
    if (!(ratio < 1.0)) {
        *out_w = width;
        *out_h = height;
        return 0;
    }
    int w = (int)(width * ratio), h = (int)(height * ratio);
    *out_w = w < 1 ? 1 : w;
    *out_h = h < 1 ? 1 : h;
    return 1;
}

/* Pillow's RGBA -> RGBa: c * a / 255 rounded, in its integer form. */
void rcpt_image__premultiply(const rcpt_image *s, rcpt_image *d)
{
    for (int y = 0; y < s->height; y++) {
        const unsigned char *in = s->px + (size_t)y * s->stride;
        unsigned char *out = d->px + (size_t)y * d->stride;
        for (int x = 0; x < s->width; x++, in += 4, out += 4) {
            unsigned a = in[3], t;
            for (int b = 0; b < 3; b++) {
                t = in[b] * a + 128;
                out[b] = (unsigned char)(((t >> 8) + t) >> 8);
            }
            out[3] = (unsigned char)a;
        }
    }
}

/* Pillow's RGBa -> RGBA: 255 * c / a truncated and clipped; a = 0 or 255 unchanged. */
void rcpt_image__unpremultiply(rcpt_image *img)
{
    for (int y = 0; y < img->height; y++) {
        unsigned char *p = img->px + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++, p += 4) {
            unsigned a = p[3];
            if (a == 0 || a == 255)
                continue;
            for (int b = 0; b < 3; b++) {
                unsigned v = 255u * p[b] / a;
                p[b] = (unsigned char)(v > 255 ? 255 : v);
            }
        }
    }
}

