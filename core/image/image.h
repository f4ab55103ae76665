/* Pixels: decode, encode, resize, warp, draw (spec/ocr-geometry.md §6, §8).
 *
 * An rcpt_image owns one pixel buffer of 8-bit samples, channels 1 (gray),
 * 3 (RGB) or 4 (RGBA, straight alpha), rows `stride` bytes apart.  Every
 * function here creates packed images (stride == width * channels) but reads
 * any stride, so a caller may describe a buffer it owns.
 *
 * Decoding follows what the original system saw through Pillow:
 *  - width and height are those stored in the file; EXIF orientation is NOT
 *    applied (PIL's Image.open ignores it, and so do the OCR coordinates the
 *    original paired with those pixels; spec §11 item 2);
 *  - JPEG: gray stays gray (1), YCbCr/RGB become RGB (3), CMYK is refused;
 *  - PNG: gray (1), RGB (3), RGBA (4); palette becomes RGB (RGBA when it has
 *    transparency); gray+alpha becomes RGBA (we have no LA mode: a 2-channel
 *    image would need its own path everywhere for a mode receipts never use);
 *    16-bit samples are reduced to 8 bits.
 *  - a pixel limit (default RCPT_IMAGE_MAX_PIXELS) is checked from the header,
 *    before any pixel memory is allocated.
 *
 * Warping reproduces Pillow's Image.transform with BICUBIC (spec §6): output
 * pixel (x, y) samples the source at the mapping of (x + 0.5, y + 0.5), black
 * (0, also alpha 0) outside [0,W) x [0,H), a = -1 cubic in double precision,
 * truncation to 8 bits; RGBA is premultiplied before and un-premultiplied
 * after.  Resizing reproduces Pillow's LANCZOS resize (support 3, separable,
 * 22-bit fixed-point coefficients, premultiplied RGBA). */
#ifndef RCPT_IMAGE_H
#define RCPT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/err.h"

#define RCPT_IMAGE_MAX_PIXELS 100000000ULL /* 100 MP */

typedef struct rcpt_image {
    int width, height, channels; /* channels: 1, 3 or 4 */
    size_t stride;               /* bytes from one row to the next */
    unsigned char *px;           /* malloc'd; NULL when empty */
} rcpt_image;

#define RCPT_IMAGE_INIT {0, 0, 0, 0, NULL}

enum { RCPT_IMAGE_FMT_UNKNOWN = 0, RCPT_IMAGE_FMT_JPEG, RCPT_IMAGE_FMT_PNG };

typedef struct rcpt_image_info {
    int width, height;
    int channels; /* what rcpt_image_decode will produce: 1, 3 or 4 */
    int format;   /* RCPT_IMAGE_FMT_* */
} rcpt_image_info;

/* "jpeg", "png" or "unknown" */
const char *rcpt_image_format_name(int format);

/* A new packed image, every byte = fill.  Refuses w, h < 1, channels not in
 * {1,3,4} and sizes over 2^31 bytes per row. */
int rcpt_image_new(rcpt_image *img, int width, int height, int channels, unsigned char fill,
                   rcpt_err *err);
/* Frees the pixels; the struct becomes RCPT_IMAGE_INIT.  Idempotent. */
void rcpt_image_free(rcpt_image *img);

/* Dimensions and mode from the header only (no pixel decoding). */
int rcpt_image_info_mem(const void *data, size_t len, rcpt_image_info *info, rcpt_err *err);

/* Decode a JPEG or PNG held in memory.  max_pixels == 0 means the default
 * limit.  Truncated or corrupt data -> RCPT_ECORRUPT; over the limit ->
 * RCPT_ELIMIT; unknown format -> RCPT_EINVAL.  *out is untouched on failure. */
int rcpt_image_decode(const void *data, size_t len, uint64_t max_pixels, rcpt_image *out,
                      rcpt_err *err);

/* PNG in the image's own mode (gray / RGB / RGBA).  level: zlib level 0..9
 * (libpng, adaptive filters, one thread), or -1 for our default: SUB
 * filter, zlib level 1, Z_RLE (OpenCV's settings; receipts are mostly flat
 * paper, which compresses well anyway), written by our own encoder that
 * deflates strips of about 1 MB of rows on `threads` threads
 * (0 = rcpt_image_default_threads()).  With level -1 the file is the same
 * bytes for every thread count (core/image/encode_png.c, docs/image.md).
 * Appends to out. */
int rcpt_image_encode_png(const rcpt_image *img, int level, rcpt_buf *out, rcpt_err *err);
int rcpt_image_encode_png_mt(const rcpt_image *img, int level, int threads, rcpt_buf *out,
                             rcpt_err *err);
/* Baseline JPEG, 4:2:0, quality 1..100 (the CDN uses 85).  RGBA is flattened
 * by dropping alpha (Pillow's convert("RGB")); gray stays gray.  Appends. */
int rcpt_image_encode_jpeg(const rcpt_image *img, int quality, rcpt_buf *out, rcpt_err *err);

/* SHA-256 of the packed pixel bytes (row-major, channels bytes per pixel,
 * no padding: PIL's tobytes()), as 64 lowercase hex digits + NUL. */
int rcpt_image_sha256(const rcpt_image *img, char hex[65], rcpt_err *err);

/* LANCZOS resize to width x height (Pillow's algorithm). */
int rcpt_image_resize(const rcpt_image *src, int width, int height, rcpt_image *out,
                      rcpt_err *err);

/* The CDN size rule of spec §8 for a max dimension: ratio = min(max/W, max/H);
 * when ratio < 1 the new size is (int(W*ratio), int(H*ratio)) and 1 is
 * returned, else the original size and 0 (no resize).  A side that would
 * truncate to 0 is kept at 1 (Pillow would refuse such a resize). */
int rcpt_image_cdn_size(int width, int height, int max_dim, int *out_w, int *out_h);

/* Pillow Image.transform(size, PERSPECTIVE | AFFINE, coeffs, BICUBIC).
 * Coefficients map destination to source: perspective
 *   xs = (a x + b y + c) / (g x + h y + 1), ys = (d x + e y + f) / (g x + h y + 1),
 * affine xs = a x + b y + c, ys = d x + e y + f.
 * threads: rows are shared out (16 at a time) over this many threads;
 * 0 = rcpt_image_default_threads().  The result is byte-identical to
 * Pillow's whatever the thread count or CPU: on x86-64 with AVX2+FMA most
 * samples are computed in float with a proven error bound and only those
 * the bound cannot decide are recomputed in Pillow's double arithmetic
 * (core/image/warp.c, docs/image.md). */
/* The thread count a warp with threads = 0 uses: the online CPUs, 1..8. */
int rcpt_image_default_threads(void);
int rcpt_image_warp_perspective(const rcpt_image *src, int width, int height,
                                const double coeffs[8], int threads, rcpt_image *out,
                                rcpt_err *err);
int rcpt_image_warp_affine(const rcpt_image *src, int width, int height,
                           const double coeffs[6], int threads, rcpt_image *out, rcpt_err *err);

/* Copy of a rectangle; the part outside the source is black (Pillow's crop). */
int rcpt_image_crop(const rcpt_image *src, int x, int y, int width, int height, rcpt_image *out,
                    rcpt_err *err);
/* Convert between gray (ITU-R 601-2 luma, Pillow's L), RGB and RGBA
 * (alpha 255 when added, dropped when removed). */
int rcpt_image_convert(const rcpt_image *src, int channels, rcpt_image *out, rcpt_err *err);

/* ---- drawing (for `rcpt render`); everything is clipped to the image ----
 * Colours are straight RGBA; alpha < 255 blends over what is there.  On a
 * gray image the colour's luma is used. */
typedef struct rcpt_rgba {
    unsigned char r, g, b, a;
} rcpt_rgba;

/* A segment of the given width (>= 1) in pixel coordinates (pixel centres at
 * +0.5); width 1 is a Bresenham line, wider ones a filled rectangle with
 * square caps. */
void rcpt_image_draw_line(rcpt_image *img, double x0, double y0, double x1, double y1,
                          double width, rcpt_rgba color);
/* Closed outline through n points (xy = x0, y0, x1, y1, ...). */
void rcpt_image_draw_polygon(rcpt_image *img, const double *xy, int n, double width,
                             rcpt_rgba color);
/* Filled polygon (even-odd rule, pixel centres inside are painted). */
void rcpt_image_fill_polygon(rcpt_image *img, const double *xy, int n, rcpt_rgba color);
void rcpt_image_fill_rect(rcpt_image *img, int x, int y, int width, int height,
                          rcpt_rgba color);
/* Text in the built-in 5x7 font (cell 6x8, times scale), top-left at (x, y).
 * Digits, letters (lowercase drawn as uppercase) and " .,:;-_#/()%+=*'!?<>[]";
 * other bytes are drawn as a box.  Returns the width in pixels. */
int rcpt_image_draw_text(rcpt_image *img, int x, int y, const char *text, int scale,
                         rcpt_rgba color);
int rcpt_image_text_width(const char *text, int scale);

#endif
