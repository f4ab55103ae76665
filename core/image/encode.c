/* PNG (libpng) and JPEG (libjpeg-turbo) into an rcpt_buf. */
#include "image.h"
#include "image_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

static int check_image(const rcpt_image *img, rcpt_err *err)
{
    if (!img || !img->px || img->width < 1 || img->height < 1 ||
        (img->channels != 1 && img->channels != 3 && img->channels != 4))
        return rcpt_err_set(err, RCPT_EINVAL, "image: empty or malformed");
    return RCPT_OK;
}

/* ----------------------------------------------------------------- PNG ---- */

typedef struct png_dst {
    rcpt_buf *out;
    char msg[256];
} png_dst;

static void p_error(png_structp png, png_const_charp msg)
{
    png_dst *d = png_get_error_ptr(png);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void p_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void p_write(png_structp png, png_bytep p, size_t n)
{
    png_dst *d = png_get_io_ptr(png);
    if (rcpt_buf_append(d->out, p, n) != RCPT_OK)
        png_error(png, "out of memory");
}

static void p_flush(png_structp png) { (void)png; }

int rcpt_image_encode_png(const rcpt_image *img, int level, rcpt_buf *out, rcpt_err *err)
{
    return rcpt_image_encode_png_mt(img, level, 0, out, err);
}

int rcpt_image_encode_png_mt(const rcpt_image *img, int level, int threads, rcpt_buf *out,
                             rcpt_err *err)
{
    if (check_image(img, err))
        return RCPT_EINVAL;
    if (level < -1 || level > 9)
        return rcpt_err_set(err, RCPT_EINVAL, "png level %d: must be -1..9", level);
    if (threads < 0 || threads > 64)
        return rcpt_err_set(err, RCPT_EINVAL, "png threads %d: must be 0..64", threads);
    if (level < 0) /* our own writer, threaded (encode_png.c) */
        return rcpt_image__encode_png_fast(img, threads, out, err);
    png_dst dst = {out, ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &dst, p_error, p_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return rcpt_err_set(err, RCPT_ENOMEM, "png encode: out of memory");
    }
    size_t start = out->len;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        out->len = start; /* drop the partial file */
        return rcpt_err_set(err, RCPT_EIO, "png encode: %s", dst.msg);
    }
    png_set_write_fn(png, &dst, p_write, p_flush);
    int ct = img->channels == 1 ? PNG_COLOR_TYPE_GRAY
           : img->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA;
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, ct,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, level);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->px + (size_t)y * img->stride);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (out->oom) {
        out->len = start;
        return rcpt_err_set(err, RCPT_ENOMEM, "png encode: out of memory");
    }
    return RCPT_OK;
}

/* ---------------------------------------------------------------- JPEG ---- */

typedef struct jerr_ctx {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr_ctx;

static void j_error_exit(j_common_ptr cinfo)
{
    jerr_ctx *e = (jerr_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void j_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* A destination manager appending straight to the rcpt_buf: no second copy,
 * and nothing to leak when an error longjmps out mid-image. */
typedef struct jdst {
    struct jpeg_destination_mgr pub;
    rcpt_buf *out;
    size_t start;
    unsigned char chunk[16384];
} jdst;

static void d_init(j_compress_ptr ci)
{
    jdst *d = (jdst *)ci->dest;
    d->pub.next_output_byte = d->chunk;
    d->pub.free_in_buffer = sizeof d->chunk;
}

static boolean d_empty(j_compress_ptr ci)
{
    jdst *d = (jdst *)ci->dest;
    if (rcpt_buf_append(d->out, d->chunk, sizeof d->chunk) != RCPT_OK)
        ERREXIT(ci, JERR_OUT_OF_MEMORY);
    d->pub.next_output_byte = d->chunk;
    d->pub.free_in_buffer = sizeof d->chunk;
    return TRUE;
}

static void d_term(j_compress_ptr ci)
{
    jdst *d = (jdst *)ci->dest;
    if (rcpt_buf_append(d->out, d->chunk, sizeof d->chunk - d->pub.free_in_buffer) != RCPT_OK)
        ERREXIT(ci, JERR_OUT_OF_MEMORY);
}

int rcpt_image_encode_jpeg(const rcpt_image *img, int quality, rcpt_buf *out, rcpt_err *err)
{
    if (check_image(img, err))
        return RCPT_EINVAL;
    if (quality < 1 || quality > 100)
        return rcpt_err_set(err, RCPT_EINVAL, "jpeg quality %d: must be 1..100", quality);
    struct jpeg_compress_struct ci;
    jerr_ctx je;
    jdst *volatile dst = NULL;
    unsigned char *volatile rgb = NULL;
    size_t start = out->len;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = j_error_exit;
    je.pub.output_message = j_output_message;
    if (setjmp(je.jb)) {
        jpeg_destroy_compress(&ci);
        free(dst);
        free(rgb);
        out->len = start;
        return rcpt_err_set(err, RCPT_EIO, "jpeg encode: %s", je.msg);
    }
    jpeg_create_compress(&ci);
    dst = calloc(1, sizeof *dst);
    if (img->channels == 4)
        rgb = malloc((size_t)img->width * 3);
    if (!dst || (img->channels == 4 && !rgb)) {
        snprintf(je.msg, sizeof je.msg, "out of memory");
        longjmp(je.jb, 1);
    }
    dst->pub.init_destination = d_init;
    dst->pub.empty_output_buffer = d_empty;
    dst->pub.term_destination = d_term;
    dst->out = out;
    ci.dest = &dst->pub;
    ci.image_width = (JDIMENSION)img->width;
    ci.image_height = (JDIMENSION)img->height;
    ci.input_components = img->channels == 1 ? 1 : 3;
    ci.in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        const unsigned char *row = img->px + (size_t)ci.next_scanline * img->stride;
        if (img->channels == 4) {
            for (int x = 0; x < img->width; x++)
                memcpy(rgb + 3 * x, row + 4 * x, 3);
            row = rgb;
        }
        JSAMPROW r = (JSAMPROW)row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(dst);
    free(rgb);
    return RCPT_OK;
}
