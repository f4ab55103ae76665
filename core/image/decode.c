/* JPEG (libjpeg-turbo, libjpeg API) and PNG (libpng) from memory.
 *
 * Both libraries report fatal errors through a callback that must not
 * return; we longjmp back to the decoder and turn the message into an
 * rcpt_err.  Nothing ever prints or exits.  The pixel limit is checked right
 * after the header is parsed, before the pixel buffer is allocated. */
#include "image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

static int is_jpeg(const unsigned char *p, size_t n)
{
    return n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

static int is_png(const unsigned char *p, size_t n)
{
    return n >= 8 && memcmp(p, png_sig, 8) == 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int limit_check(uint64_t w, uint64_t h, uint64_t max_pixels, const char *fmt,
                       rcpt_err *err)
{
    if (max_pixels == 0)
        max_pixels = RCPT_IMAGE_MAX_PIXELS;
    if (w == 0 || h == 0)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s header: size %llux%llu", fmt,
                            (unsigned long long)w, (unsigned long long)h);
    if (w * h > max_pixels)
        return rcpt_err_set(err, RCPT_ELIMIT,
                            "%s header: %llux%llu = %llu pixels exceeds the limit of %llu", fmt,
                            (unsigned long long)w, (unsigned long long)h,
                            (unsigned long long)(w * h), (unsigned long long)max_pixels);
    if (w > 0x7FFFFFF || h > 0x7FFFFFF)
        return rcpt_err_set(err, RCPT_ELIMIT, "%s header: side too long", fmt);
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

/* libjpeg treats running out of data as a warning and pads with gray; Pillow
 * refuses such a file ("image file is truncated"), so we make that one
 * warning fatal and stay silent about the others (extraneous bytes...). */
static void j_emit_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        j_error_exit(cinfo);
    if (level < 0)
        cinfo->err->num_warnings++;
}

static void j_output_message(j_common_ptr cinfo) { (void)cinfo; }

static int jpeg_channels(const struct jpeg_decompress_struct *ci)
{
    if (ci->num_components == 1)
        return 1;
    if (ci->num_components == 3)
        return 3;
    return 0; /* CMYK / YCCK */
}

static int jpeg_decode(const unsigned char *data, size_t len, uint64_t max_pixels,
                       int header_only, rcpt_image_info *info, rcpt_image *out, rcpt_err *err)
{
    struct jpeg_decompress_struct ci;
    jerr_ctx je;
    /* volatile: changed between setjmp and a possible longjmp */
    unsigned char *volatile px = NULL;
    JSAMPROW *volatile rows = NULL;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = j_error_exit;
    je.pub.emit_message = j_emit_message;
    je.pub.output_message = j_output_message;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        free(px);
        free(rows);
        return rcpt_err_set(err, RCPT_ECORRUPT, "jpeg: %s", je.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    int ch = jpeg_channels(&ci);
    if (!ch) {
        jpeg_destroy_decompress(&ci);
        return rcpt_err_set(err, RCPT_EINVAL, "jpeg: %d-component (CMYK) images are not supported",
                            ci.num_components);
    }
    int rc = limit_check(ci.image_width, ci.image_height, max_pixels, "jpeg", err);
    if (rc || header_only) {
        if (!rc && info) {
            info->width = (int)ci.image_width;
            info->height = (int)ci.image_height;
            info->channels = ch;
            info->format = RCPT_IMAGE_FMT_JPEG;
        }
        jpeg_destroy_decompress(&ci);
        return rc;
    }
    /* Pillow's defaults: islow DCT, fancy upsampling; same library, same pixels */
    ci.out_color_space = ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&ci);
    size_t w = ci.output_width, h = ci.output_height, stride = w * (size_t)ch;
    px = malloc(stride * h);
    rows = malloc(h * sizeof *rows);
    if (!px || !rows) {
        jpeg_destroy_decompress(&ci);
        free(px);
        free(rows);
        return rcpt_err_set(err, RCPT_ENOMEM, "jpeg: out of memory for %zux%zu", w, h);
    }
    for (size_t y = 0; y < h; y++)
        rows[y] = px + y * stride;
    while (ci.output_scanline < ci.output_height)
        jpeg_read_scanlines(&ci, rows + ci.output_scanline, ci.output_height - ci.output_scanline);
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(rows);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = ch;
    out->stride = stride;
    out->px = px;
    return RCPT_OK;
}

/* ----------------------------------------------------------------- PNG ---- */

typedef struct png_src {
    const unsigned char *p;
    size_t len, pos;
    char msg[256];
} png_src;

static void p_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void p_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void p_read(png_structp png, png_bytep dst, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos)
        png_error(png, "truncated data");
    memcpy(dst, s->p + s->pos, n);
    s->pos += n;
}

/* The mode we decode a PNG to, from its IHDR colour type and tRNS. */
static int png_out_channels(int color_type, int has_trns)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return has_trns ? 4 : 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 4;
    case PNG_COLOR_TYPE_PALETTE: return has_trns ? 4 : 3;
    case PNG_COLOR_TYPE_RGB: return has_trns ? 4 : 3;
    default: return 4;
    }
}

/* IHDR by hand: the size, checked before libpng is even set up. */
static int png_header(const unsigned char *p, size_t len, rcpt_image_info *info, rcpt_err *err)
{
    if (len < 33 || memcmp(p + 12, "IHDR", 4) != 0 || be32(p + 8) != 13)
        return rcpt_err_set(err, RCPT_ECORRUPT, "png: missing or truncated IHDR");
    /* PNG allows 1 .. 2^31-1 (libpng refuses the rest later, but the header
     * info must not report a 0-wide image as valid: found by
     * tests/fuzz/fuzz_image) */
    uint32_t w = be32(p + 16), h = be32(p + 20);
    if (w == 0 || h == 0 || w > 0x7FFFFFFFu || h > 0x7FFFFFFFu)
        return rcpt_err_set(err, RCPT_ECORRUPT, "png: IHDR size %ux%u is not a valid image size",
                            (unsigned)w, (unsigned)h);
    info->width = (int)w;
    info->height = (int)h;
    info->channels = png_out_channels(p[25], 0); /* tRNS: libpng decides (png_decode) */
    info->format = RCPT_IMAGE_FMT_PNG;
    return RCPT_OK;
}

/* Decode, or with info_only fill *io from libpng's reading of the chunks
 * before the first IDAT (no pixel memory): libpng decides whether a tRNS
 * counts (a damaged or misplaced one is dropped with a warning), so the
 * header info and the decoded mode always agree (found by tests/fuzz/fuzz_image). */
static int png_decode(const unsigned char *data, size_t len, uint64_t max_pixels, int info_only,
                      rcpt_image_info *io, rcpt_image *out, rcpt_err *err)
{
    png_src src = {data, len, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, p_error, p_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return rcpt_err_set(err, RCPT_ENOMEM, "png: out of memory");
    }
    unsigned char *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    volatile int rc = RCPT_OK;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(px);
        free(rows);
        if (rc)
            return rc;
        return rcpt_err_set(err, RCPT_ECORRUPT, "png: %s", src.msg);
    }
    png_set_read_fn(png, &src, p_read);
    /* our own limit is the one that matters; lift libpng's 1e6-per-side cap */
    png_set_user_limits(png, 0x7FFFFFFF, 0x7FFFFFFF);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info);
    int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if ((rc = limit_check(w, h, max_pixels, "png", err)) != RCPT_OK)
        png_longjmp(png, 1);
    int ch = png_out_channels(ct, trns);
    if (info_only) {
        png_destroy_read_struct(&png, &info, NULL);
        io->width = (int)w;
        io->height = (int)h;
        io->channels = ch;
        io->format = RCPT_IMAGE_FMT_PNG;
        return RCPT_OK;
    }
    png_set_expand(png); /* palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha */
    png_set_strip_16(png);
    if (ch == 4 && (ct & PNG_COLOR_MASK_COLOR) == 0)
        png_set_gray_to_rgb(png);
    if (ch == 4 && !(ct & PNG_COLOR_MASK_ALPHA) && !trns)
        png_set_add_alpha(png, 0xFF, PNG_FILLER_AFTER);
    int passes = png_set_interlace_handling(png);
    (void)passes;
    png_read_update_info(png, info);
    size_t stride = (size_t)w * (size_t)ch;
    if (png_get_rowbytes(png, info) != stride) {
        snprintf(src.msg, sizeof src.msg, "unexpected row size after transforms");
        png_longjmp(png, 1);
    }
    px = malloc(stride * h);
    rows = malloc(h * sizeof(png_bytep));
    if (!px || !rows) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "png: out of memory for %ux%u", (unsigned)w,
                          (unsigned)h);
        png_longjmp(png, 1);
    }
    for (size_t y = 0; y < h; y++)
        rows[y] = px + y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = ch;
    out->stride = stride;
    out->px = px;
    return RCPT_OK;
}

int rcpt_image_info_mem(const void *data, size_t len, rcpt_image_info *info, rcpt_err *err)
{
    const unsigned char *p = data;
    if (is_png(p, len)) {
        int rc = png_header(p, len, info, err);
        return rc ? rc : png_decode(p, len, UINT64_MAX, 1, info, NULL, err);
    }
    if (is_jpeg(p, len))
        return jpeg_decode(p, len, UINT64_MAX, 1, info, NULL, err);
    return rcpt_err_set(err, RCPT_EINVAL, "image: not a JPEG or PNG (%zu bytes)", len);
}

int rcpt_image_decode(const void *data, size_t len, uint64_t max_pixels, rcpt_image *out,
                      rcpt_err *err)
{
    const unsigned char *p = data;
    if (is_png(p, len)) {
        /* refuse an oversized header before libpng is even set up */
        rcpt_image_info info;
        int rc = png_header(p, len, &info, err);
        if (!rc)
            rc = limit_check((uint64_t)info.width, (uint64_t)info.height, max_pixels, "png", err);
        if (rc)
            return rc;
        return png_decode(p, len, max_pixels, 0, NULL, out, err);
    }
    if (is_jpeg(p, len))
        return jpeg_decode(p, len, max_pixels, 0, NULL, out, err);
    return rcpt_err_set(err, RCPT_EINVAL, "image: not a JPEG or PNG (%zu bytes)", len);
}
