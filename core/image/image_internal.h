/* Helpers shared by the files of core/image (not part of the public API). */
#ifndef RCPT_IMAGE_INTERNAL_H
#define RCPT_IMAGE_INTERNAL_H

#include "image.h"

/* Pillow's RGBA -> RGBa (premultiplied) into d (same size, 4 channels). */
void rcpt_image__premultiply(const rcpt_image *s, rcpt_image *d);
/* Pillow's RGBa -> RGBA, in place. */
void rcpt_image__unpremultiply(rcpt_image *img);

/* rcpt_image_resize with the thread count (>= 1) and the vector path
 * (simd = 1: AVX2 when compiled for x86-64; the caller checks the CPU)
 * chosen by the caller: the tests compare every combination. */
int rcpt_image__resize(const rcpt_image *src, int width, int height, int threads, int simd,
                       rcpt_image *out, rcpt_err *err);

/* The default PNG encoder (encode_png.c): SUB filter, zlib level 1, Z_RLE,
 * strips deflated on `threads` threads (0 = default); img already checked. */
int rcpt_image__encode_png_fast(const rcpt_image *img, int threads, rcpt_buf *out,
                                rcpt_err *err);

#endif
