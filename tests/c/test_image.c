/* core/image: decode/encode round trips, limits, truncation, sha256, warps,
 * LANCZOS resize, CDN sizes, drawing.  Every image is generated here. */
#include "check.h"
#include "image/image.h"
#include "image/image_internal.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char *px(rcpt_image *img, int x, int y)
{
    return img->px + (size_t)y * img->stride + (size_t)x * img->channels;
}

/* a busy test pattern: gradients, a checker and some pseudo-noise */
static void pattern(rcpt_image *img, unsigned seed)
{
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            unsigned char *p = px(img, x, y);
            for (int c = 0; c < img->channels; c++) {
                seed = seed * 1103515245u + 12345u;
                unsigned v = ((x / 8 + y / 8) & 1) ? (x * 3 + y * 5 + c * 60) & 255 : seed >> 24;
                p[c] = (unsigned char)v;
            }
            if (img->channels == 4)
                p[3] = (unsigned char)((x * 7 + y) % 4 == 0 ? 0 : (x * 7 + y) % 4 == 1 ? 255 : 128);
        }
}

static int same_pixels(const rcpt_image *a, const rcpt_image *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->px + (size_t)y * a->stride, b->px + (size_t)y * b->stride,
                   (size_t)a->width * a->channels))
            return 0;
    return 1;
}

static void test_png_round_trip(void)
{
    int chans[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        rcpt_image img, back = RCPT_IMAGE_INIT;
        rcpt_err e;
        CHECK_INT(rcpt_image_new(&img, 67, 41, chans[i], 0, &e), RCPT_OK);
        pattern(&img, 7u + i);
        for (int level = -1; level <= 9; level += 5) {
            rcpt_buf b = RCPT_BUF_INIT;
            CHECK_INT(rcpt_image_encode_png(&img, level, &b, &e), RCPT_OK);
            rcpt_image_info info;
            CHECK_INT(rcpt_image_info_mem(b.data, b.len, &info, &e), RCPT_OK);
            CHECK_INT(info.width, 67);
            CHECK_INT(info.height, 41);
            CHECK_INT(info.channels, chans[i]);
            CHECK_STR(rcpt_image_format_name(info.format), "png");
            CHECK_INT(rcpt_image_decode(b.data, b.len, 0, &back, &e), RCPT_OK);
            CHECK(same_pixels(&img, &back));
            char h1[65], h2[65];
            rcpt_image_sha256(&img, h1, NULL);
            rcpt_image_sha256(&back, h2, NULL);
            CHECK_STR(h1, h2);
            rcpt_image_free(&back);
            rcpt_buf_free(&b);
        }
        rcpt_image_free(&img);
        rcpt_image_free(&img); /* idempotent */
    }
}

static double mean_abs_diff(const rcpt_image *a, const rcpt_image *b)
{
    double s = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * a->channels; x++)
            s += abs(a->px[(size_t)y * a->stride + x] - b->px[(size_t)y * b->stride + x]);
    return s / ((double)a->width * a->height * a->channels);
}

static void test_jpeg_round_trip(void)
{
    int chans[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        rcpt_image img, back = RCPT_IMAGE_INIT;
        rcpt_err e;
        CHECK_INT(rcpt_image_new(&img, 160, 90, chans[i], 0, &e), RCPT_OK);
        for (int y = 0; y < 90; y++) /* smooth content, JPEG's home ground */
            for (int x = 0; x < 160; x++)
                for (int c = 0; c < chans[i]; c++)
                    px(&img, x, y)[c] = (unsigned char)(c == 3 ? 255 : x + y + 30 * c);
        rcpt_buf b = RCPT_BUF_INIT;
        CHECK_INT(rcpt_image_encode_jpeg(&img, 95, &b, &e), RCPT_OK);
        rcpt_image_info info;
        CHECK_INT(rcpt_image_info_mem(b.data, b.len, &info, &e), RCPT_OK);
        CHECK_STR(rcpt_image_format_name(info.format), "jpeg");
        CHECK_INT(info.width, 160);
        CHECK_INT(info.height, 90);
        CHECK_INT(info.channels, chans[i] == 1 ? 1 : 3);
        CHECK_INT(rcpt_image_decode(b.data, b.len, 0, &back, &e), RCPT_OK);
        CHECK_INT(back.width, 160);
        CHECK_INT(back.height, 90);
        CHECK_INT(back.channels, chans[i] == 1 ? 1 : 3);
        rcpt_image cmp = RCPT_IMAGE_INIT;
        rcpt_image_convert(&img, back.channels, &cmp, &e);
        double d = mean_abs_diff(&cmp, &back);
        CHECK(d < 2.0);
        /* and quality matters: q=10 is visibly worse than q=95 */
        rcpt_buf b2 = RCPT_BUF_INIT;
        rcpt_image low = RCPT_IMAGE_INIT;
        CHECK_INT(rcpt_image_encode_jpeg(&img, 10, &b2, &e), RCPT_OK);
        CHECK(b2.len < b.len);
        CHECK_INT(rcpt_image_decode(b2.data, b2.len, 0, &low, &e), RCPT_OK);
        CHECK(mean_abs_diff(&cmp, &low) > d);
        CHECK_INT(rcpt_image_encode_jpeg(&img, 0, &b2, &e), RCPT_EINVAL);
        rcpt_image_free(&low);
        rcpt_image_free(&cmp);
        rcpt_buf_free(&b2);
        rcpt_image_free(&back);
        rcpt_image_free(&img);
        rcpt_buf_free(&b);
    }
}

/* JPEG EXIF orientation is ignored: a file whose APP1 says "rotate 90" still
 * decodes to its stored width x height. */
static void test_exif_ignored(void)
{
    rcpt_image img, back = RCPT_IMAGE_INIT;
    rcpt_err e;
    rcpt_image_new(&img, 64, 16, 3, 100, &e);
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_image_encode_jpeg(&img, 85, &b, &e);
    /* APP1 "Exif\0\0", TIFF little endian, IFD0 with Orientation (0x0112) = 6 */
    static const unsigned char exif[] = {
        0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 0x2A, 0x00, 0x08, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    rcpt_buf withexif = RCPT_BUF_INIT;
    rcpt_buf_append(&withexif, b.data, 2); /* SOI */
    rcpt_buf_append(&withexif, exif, sizeof exif);
    rcpt_buf_append(&withexif, b.data + 2, b.len - 2);
    CHECK_INT(rcpt_image_decode(withexif.data, withexif.len, 0, &back, &e), RCPT_OK);
    CHECK_INT(back.width, 64);
    CHECK_INT(back.height, 16);
    rcpt_image_free(&back);
    rcpt_image_free(&img);
    rcpt_buf_free(&b);
    rcpt_buf_free(&withexif);
}

static void test_sha256(void)
{
    /* 3x2 RGB with known bytes; the expected hash is computed here with a
     * one-shot EVP_Digest over a buffer filled independently */
    unsigned char raw[18];
    for (int i = 0; i < 18; i++)
        raw[i] = (unsigned char)(i * 37 + 5);
    unsigned char md[32];
    unsigned mdlen;
    EVP_Digest(raw, sizeof raw, md, &mdlen, EVP_sha256(), NULL);
    char want[65];
    for (int i = 0; i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    rcpt_image img;
    rcpt_err e;
    rcpt_image_new(&img, 3, 2, 3, 0, &e);
    memcpy(img.px, raw, sizeof raw);
    char got[65];
    CHECK_INT(rcpt_image_sha256(&img, got, &e), RCPT_OK);
    CHECK_STR(got, want);
    /* a padded stride hashes the packed rows only */
    unsigned char padded[2 * 16];
    memset(padded, 0xEE, sizeof padded);
    memcpy(padded, raw, 9);
    memcpy(padded + 16, raw + 9, 9);
    rcpt_image view = {3, 2, 3, 16, padded};
    CHECK_INT(rcpt_image_sha256(&view, got, &e), RCPT_OK);
    CHECK_STR(got, want);
    /* the empty-input digest differs: a real check, not a constant */
    raw[0] ^= 1;
    memcpy(img.px, raw, sizeof raw);
    rcpt_image_sha256(&img, got, &e);
    CHECK(strcmp(got, want) != 0);
    rcpt_image_free(&img);
}

/* PNG's CRC-32 (ISO 3309), bitwise: the test writes its own chunks */
static uint32_t crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_pixel_limit(void)
{
    /* signature + a valid IHDR (with CRC) claiming 100000 x 100000 RGB, then
     * a tiny IDAT and IEND: refused from the header, before any decoding */
    unsigned char png[8 + 25 + 12 + 12];
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(png, sig, 8);
    unsigned char *ihdr = png + 8;
    put32(ihdr, 13);
    memcpy(ihdr + 4, "IHDR", 4);
    put32(ihdr + 8, 100000);
    put32(ihdr + 12, 100000);
    ihdr[16] = 8;
    ihdr[17] = 2;
    ihdr[18] = ihdr[19] = ihdr[20] = 0;
    put32(ihdr + 21, (uint32_t)crc32(0, ihdr + 4, 17));
    unsigned char *idat = ihdr + 25;
    put32(idat, 0);
    memcpy(idat + 4, "IDAT", 4);
    put32(idat + 8, (uint32_t)crc32(0, idat + 4, 4));
    unsigned char *iend = idat + 12;
    put32(iend, 0);
    memcpy(iend + 4, "IEND", 4);
    put32(iend + 8, (uint32_t)crc32(0, iend + 4, 4));
    rcpt_image_info info;
    rcpt_err e;
    CHECK_INT(rcpt_image_info_mem(png, sizeof png, &info, &e), RCPT_OK);
    CHECK_INT(info.width, 100000);
    CHECK_INT(info.height, 100000);
    rcpt_image img = RCPT_IMAGE_INIT;
    CHECK_INT(rcpt_image_decode(png, sizeof png, 0, &img, &e), RCPT_ELIMIT);
    CHECK(strstr(e.msg, "100000x100000") != NULL);
    CHECK(img.px == NULL);
    /* a configurable limit, for PNG and JPEG alike */
    rcpt_image small;
    rcpt_image_new(&small, 200, 100, 3, 50, &e);
    rcpt_buf b = RCPT_BUF_INIT, j = RCPT_BUF_INIT;
    rcpt_image_encode_png(&small, -1, &b, &e);
    rcpt_image_encode_jpeg(&small, 85, &j, &e);
    CHECK_INT(rcpt_image_decode(b.data, b.len, 19999, &img, &e), RCPT_ELIMIT);
    CHECK_INT(rcpt_image_decode(j.data, j.len, 19999, &img, &e), RCPT_ELIMIT);
    CHECK_INT(rcpt_image_decode(b.data, b.len, 20000, &img, &e), RCPT_OK);
    rcpt_image_free(&img);
    CHECK_INT(rcpt_image_decode(j.data, j.len, 20000, &img, &e), RCPT_OK);
    rcpt_image_free(&img);
    rcpt_image_free(&small);
    rcpt_buf_free(&b);
    rcpt_buf_free(&j);
}

static void test_truncated(void)
{
    rcpt_image img, out = RCPT_IMAGE_INIT;
    rcpt_err e;
    rcpt_image_new(&img, 120, 80, 3, 0, &e);
    pattern(&img, 3);
    rcpt_buf png = RCPT_BUF_INIT, jpg = RCPT_BUF_INIT;
    rcpt_image_encode_png(&img, 6, &png, &e);
    rcpt_image_encode_jpeg(&img, 85, &jpg, &e);
    size_t cuts[] = {2, 10, 40, 200, 1000};
    for (int k = 0; k < 5; k++) {
        size_t pc = png.len - cuts[k], jc = jpg.len - cuts[k];
        CHECK_INT(rcpt_image_decode(png.data, pc, 0, &out, &e), RCPT_ECORRUPT);
        CHECK(strncmp(e.msg, "png:", 4) == 0);
        CHECK_INT(rcpt_image_decode(jpg.data, jc, 0, &out, &e), RCPT_ECORRUPT);
        CHECK(strncmp(e.msg, "jpeg:", 5) == 0);
        CHECK(out.px == NULL);
    }
    /* cut inside the header, and garbage */
    CHECK(rcpt_image_decode(jpg.data, 20, 0, &out, &e) == RCPT_ECORRUPT);
    CHECK(rcpt_image_decode(png.data, 20, 0, &out, &e) == RCPT_ECORRUPT);
    CHECK_INT(rcpt_image_decode("GIF89a", 6, 0, &out, &e), RCPT_EINVAL);
    /* a flipped byte in the PNG's IDAT is caught by zlib/CRC */
    png.data[png.len / 2] ^= 0x55;
    CHECK_INT(rcpt_image_decode(png.data, png.len, 0, &out, &e), RCPT_ECORRUPT);
    rcpt_image_free(&img);
    rcpt_buf_free(&png);
    rcpt_buf_free(&jpg);
}

static void test_one_pixel(void)
{
    rcpt_image img, back = RCPT_IMAGE_INIT, w = RCPT_IMAGE_INIT;
    rcpt_err e;
    rcpt_image_new(&img, 1, 1, 3, 0, &e);
    img.px[0] = 10, img.px[1] = 200, img.px[2] = 77;
    rcpt_buf b = RCPT_BUF_INIT;
    CHECK_INT(rcpt_image_encode_png(&img, -1, &b, &e), RCPT_OK);
    CHECK_INT(rcpt_image_decode(b.data, b.len, 0, &back, &e), RCPT_OK);
    CHECK(same_pixels(&img, &back));
    rcpt_image_free(&back);
    rcpt_buf_reset(&b);
    CHECK_INT(rcpt_image_encode_jpeg(&img, 85, &b, &e), RCPT_OK);
    CHECK_INT(rcpt_image_decode(b.data, b.len, 0, &back, &e), RCPT_OK);
    CHECK_INT(back.width, 1);
    CHECK_INT(back.height, 1);
    rcpt_image_free(&back);
    double id[8] = {1, 0, 0, 0, 1, 0, 0, 0};
    CHECK_INT(rcpt_image_warp_perspective(&img, 1, 1, id, 0, &w, &e), RCPT_OK);
    CHECK(same_pixels(&img, &w));
    rcpt_image_free(&w);
    /* any sample of a 1x1 image is that pixel (all taps clamp to it) */
    double half[6] = {0.3, 0, 0, 0, 0.3, 0};
    CHECK_INT(rcpt_image_warp_affine(&img, 3, 3, half, 0, &w, &e), RCPT_OK);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++)
            CHECK(memcmp(px(&w, x, y), img.px, 3) == 0);
    rcpt_image_free(&w);
    CHECK_INT(rcpt_image_resize(&img, 3, 2, &w, &e), RCPT_OK);
    CHECK(memcmp(px(&w, 2, 1), img.px, 3) == 0);
    rcpt_image_free(&w);
    rcpt_image_free(&img);
    rcpt_buf_free(&b);
}

static void test_identity_warp(void)
{
    int chans[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        rcpt_image img, w = RCPT_IMAGE_INIT;
        rcpt_err e;
        rcpt_image_new(&img, 53, 37, chans[i], 0, &e);
        pattern(&img, 11);
        if (chans[i] == 4) /* un-premultiplying loses precision at low alpha */
            for (size_t k = 3; k < img.stride * img.height; k += 4)
                img.px[k] = 255;
        double id8[8] = {1, 0, 0, 0, 1, 0, 0, 0}, id6[6] = {1, 0, 0, 0, 1, 0};
        CHECK_INT(rcpt_image_warp_perspective(&img, 53, 37, id8, 0, &w, &e), RCPT_OK);
        CHECK(same_pixels(&img, &w));
        rcpt_image_free(&w);
        CHECK_INT(rcpt_image_warp_affine(&img, 53, 37, id6, 0, &w, &e), RCPT_OK);
        CHECK(same_pixels(&img, &w));
        rcpt_image_free(&w);
        /* integer translation: a shifted copy, black where it left the image */
        double sh[6] = {1, 0, 5, 0, 1, -3};
        CHECK_INT(rcpt_image_warp_affine(&img, 53, 37, sh, 0, &w, &e), RCPT_OK);
        CHECK(memcmp(px(&w, 10, 10), px(&img, 15, 7), (size_t)chans[i]) == 0);
        static const unsigned char zero[4] = {0, 0, 0, 0};
        CHECK(memcmp(px(&w, 50, 20), zero, (size_t)chans[i]) == 0); /* x + 5 >= 53 */
        CHECK(memcmp(px(&w, 10, 1), zero, (size_t)chans[i]) == 0);  /* y - 3 < 0 */
        rcpt_image_free(&w);
        rcpt_image_free(&img);
    }
}

/* A checkerboard seen through a known perspective: every output pixel whose
 * source point is well inside a square has that square's colour, and
 * output pixels whose source point falls outside the image are black. */
static void test_perspective_landmarks(void)
{
    rcpt_image img, w = RCPT_IMAGE_INIT;
    rcpt_err e;
    rcpt_image_new(&img, 400, 300, 3, 0, &e);
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 400; x++) {
            unsigned char *p = px(&img, x, y);
            int on = (x / 25 + y / 25) & 1;
            p[0] = on ? 230 : 20;
            p[1] = on ? 40 : 210;
            p[2] = (unsigned char)(100 + (x / 25) * 5);
        }
    double c[8] = {0.9, 0.12, 12.0, -0.08, 1.05, 20.0, 0.0004, -0.0002};
    CHECK_INT(rcpt_image_warp_perspective(&img, 420, 320, c, 2, &w, &e), RCPT_OK);
    int inside = 0, outside = 0, bad = 0;
    for (int y = 0; y < 320; y++)
        for (int x = 0; x < 420; x++) {
            double xi = x + 0.5, yi = y + 0.5, den = c[6] * xi + c[7] * yi + 1;
            double sx = (c[0] * xi + c[1] * yi + c[2]) / den;
            double sy = (c[3] * xi + c[4] * yi + c[5]) / den;
            unsigned char *o = px(&w, x, y);
            if (sx < 0 || sy < 0 || sx >= 400 || sy >= 300) {
                outside++;
                bad += o[0] || o[1] || o[2];
                continue;
            }
            double fx = fmod(sx, 25), fy = fmod(sy, 25);
            if (fx < 3 || fx > 22 || fy < 3 || fy > 22 || sx > 396 || sy > 296)
                continue; /* near an edge: the cubic blends neighbours */
            inside++;
            bad += memcmp(o, px(&img, (int)sx, (int)sy), 3) != 0;
        }
    CHECK(inside > 50000);
    CHECK(outside > 1000);
    CHECK_INT(bad, 0);
    /* the same with 1 and 3 threads: identical bytes */
    char h1[65], h2[65];
    rcpt_image_sha256(&w, h1, NULL);
    for (int t = 1; t <= 3; t += 2) {
        rcpt_image w2;
        rcpt_image_warp_perspective(&img, 420, 320, c, t, &w2, &e);
        rcpt_image_sha256(&w2, h2, NULL);
        CHECK_STR(h2, h1);
        rcpt_image_free(&w2);
    }
    /* bad coefficients are refused */
    double nan_c[8] = {1, 0, 0, 0, NAN, 0, 0, 0};
    rcpt_image none = RCPT_IMAGE_INIT;
    CHECK_INT(rcpt_image_warp_perspective(&img, 10, 10, nan_c, 0, &none, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "coeffs[5]") != NULL);
    CHECK(none.px == NULL);
    rcpt_image_free(&w);
    rcpt_image_free(&img);
}

/* SCAN: the affine crop of a rotated rectangle (spec §8.3 e) is the
 * rectangle's content, upright. */
static void test_affine_rotated_rect(void)
{
    rcpt_image img, crop = RCPT_IMAGE_INIT;
    rcpt_err e;
    rcpt_image_new(&img, 600, 500, 3, 0, &e);
    double cx = 300, cy = 250, rw = 200, rh = 120, a = 20 * M_PI / 180;
    double lx[4] = {-rw / 2, rw / 2, rw / 2, -rw / 2}, ly[4] = {-rh / 2, -rh / 2, rh / 2, rh / 2};
    double q[8];
    for (int i = 0; i < 4; i++) {
        q[2 * i] = cx + lx[i] * cos(a) - ly[i] * sin(a);
        q[2 * i + 1] = cy + lx[i] * sin(a) + ly[i] * cos(a);
    }
    rcpt_image_fill_polygon(&img, q, 4, (rcpt_rgba){200, 150, 100, 255});
    /* a mark near the rectangle's TL corner, to check orientation */
    double mark[8] = {0};
    for (int i = 0; i < 4; i++) {
        double mx = -rw / 2 + 10 + (i == 1 || i == 2) * 20, my = -rh / 2 + 10 + (i >= 2) * 20;
        mark[2 * i] = cx + mx * cos(a) - my * sin(a);
        mark[2 * i + 1] = cy + mx * sin(a) + my * cos(a);
    }
    rcpt_image_fill_polygon(&img, mark, 4, (rcpt_rgba){0, 0, 255, 255});
    int w = (int)rw, h = (int)rh;
    double c[6] = {(q[2] - q[0]) / (w - 1), (q[6] - q[0]) / (h - 1), q[0],
                   (q[3] - q[1]) / (w - 1), (q[7] - q[1]) / (h - 1), q[1]};
    CHECK_INT(rcpt_image_warp_affine(&img, w, h, c, 0, &crop, &e), RCPT_OK);
    CHECK_INT(crop.width, 200);
    CHECK_INT(crop.height, 120);
    int bad = 0;
    for (int y = 4; y < h - 4; y++)
        for (int x = 4; x < w - 4; x++) {
            unsigned char *p = px(&crop, x, y);
            int in_mark = x >= 8 && x <= 32 && y >= 8 && y <= 32;
            int near_mark = x >= 4 && x <= 36 && y >= 4 && y <= 36;
            /* the mark spans crop x, y in [9.5, 29.4]; the cubic reaches 2 px */
            if (in_mark && x >= 14 && x <= 25 && y >= 14 && y <= 25)
                bad += !(p[0] == 0 && p[1] == 0 && p[2] == 255);
            else if (!near_mark)
                bad += !(p[0] == 200 && p[1] == 150 && p[2] == 100);
        }
    CHECK_INT(bad, 0);
    rcpt_image_free(&crop);
    rcpt_image_free(&img);
}

/* The vector (AVX2) and threaded resize paths against the scalar one on
 * one thread (Pillow's loops; checked against Pillow itself by
 * tests/spec/image_spec.lua where python3-pil is installed): byte for byte,
 * on noise, checkerboards and saturated blocks (sums far from and right at
 * the clamps), every mode, sizes that are not multiples of 8, down- and
 * upscales, one axis at a time, and 1..3 threads. */
static void test_resize_paths_agree(void)
{
    rcpt_err e;
    int chans[] = {1, 3, 4};
    int src_sizes[][2] = {{403, 302}, {1170, 97}, {37, 260}, {9, 9}};
    int out_sizes[][2] = {{138, 300}, {300, 224}, {50, 37}, {403, 100}, {800, 600},
                          {17, 13},   {1, 1},     {9, 40},  {554, 45}};
    int simd_ok = 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    simd_ok = __builtin_cpu_supports("avx2") != 0; /* nonzero, not 1 */
#endif
    long bad = 0, compared = 0;
    for (int ci = 0; ci < 3; ci++)
        for (int si = 0; si < 4; si++) {
            rcpt_image img;
            CHECK_INT(rcpt_image_new(&img, src_sizes[si][0], src_sizes[si][1], chans[ci], 0, &e),
                      RCPT_OK);
            pattern(&img, 77u + (unsigned)(ci * 4 + si));
            /* saturated blocks: Lanczos overshoots past 0 and 255 at their edges */
            for (int y = 0; y < img.height; y++)
                for (int x = 0; x < img.width; x++)
                    if ((x / 5 + y / 7) % 3 == 0)
                        memset(img.px + (size_t)y * img.stride + (size_t)x * img.channels,
                               (x / 5) % 2 ? 255 : 0, (size_t)img.channels);
            for (int oi = 0; oi < 9; oi++) {
                rcpt_image ref = RCPT_IMAGE_INIT;
                int ow = out_sizes[oi][0], oh = out_sizes[oi][1];
                CHECK_INT(rcpt_image__resize(&img, ow, oh, 1, 0, &ref, &e), RCPT_OK);
                for (int threads = 1; threads <= 3; threads++)
                    for (int simd = 0; simd <= simd_ok; simd++) {
                        if (threads == 1 && simd == 0)
                            continue;
                        rcpt_image r = RCPT_IMAGE_INIT;
                        CHECK_INT(rcpt_image__resize(&img, ow, oh, threads, simd, &r, &e), RCPT_OK);
                        CHECK_INT(r.width, ow);
                        CHECK_INT(r.height, oh);
                        bad += memcmp(r.px, ref.px, (size_t)ow * oh * chans[ci]) != 0;
                        compared++;
                        rcpt_image_free(&r);
                    }
                rcpt_image_free(&ref);
            }
            rcpt_image_free(&img);
        }
    CHECK_INT(bad, 0);
    CHECK(compared >= 3 * 4 * 9 * 2);
}

static void test_resize_and_cdn(void)
{
    rcpt_image img, r = RCPT_IMAGE_INIT;
    rcpt_err e;
    /* constant images stay constant (RGBA premultiplied and back) */
    int chans[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        rcpt_image_new(&img, 403, 302, chans[i], 0, &e);
        for (size_t k = 0; k < img.stride * img.height; k++)
            img.px[k] = (unsigned char)(chans[i] == 4 && k % 4 == 3 ? 255 : 173 + k % chans[i]);
        int sizes[][2] = {{300, 224}, {50, 37}, {403, 100}, {800, 600}, {1, 1}};
        for (int s = 0; s < 5; s++) {
            CHECK_INT(rcpt_image_resize(&img, sizes[s][0], sizes[s][1], &r, &e), RCPT_OK);
            CHECK_INT(r.width, sizes[s][0]);
            CHECK_INT(r.height, sizes[s][1]);
            int bad = 0;
            for (int y = 0; y < r.height; y++)
                for (int x = 0; x < r.width; x++)
                    bad += memcmp(px(&r, x, y), img.px, (size_t)chans[i]) != 0;
            CHECK_INT(bad, 0);
            rcpt_image_free(&r);
        }
        rcpt_image_free(&img);
    }
    /* translucent: premultiplied and back, so within 1 of the input (the
     * alpha-128 round trip loses the lowest bit, as in Pillow) */
    rcpt_image_new(&img, 97, 31, 4, 0, &e);
    for (size_t k = 0; k < img.stride * img.height; k++)
        img.px[k] = (unsigned char)(k % 4 == 3 ? 128 : 173 + k % 4);
    CHECK_INT(rcpt_image_resize(&img, 40, 20, &r, &e), RCPT_OK);
    int off = 0;
    for (int y = 0; y < r.height; y++)
        for (int x = 0; x < r.width; x++)
            for (int c = 0; c < 4; c++)
                off += abs(px(&r, x, y)[c] - img.px[c]) > (c == 3 ? 0 : 1);
    CHECK_INT(off, 0);
    rcpt_image_free(&r);
    rcpt_image_free(&img);
    /* a step edge: downsampling keeps it where it was and rings (Lanczos) */
    rcpt_image_new(&img, 400, 10, 1, 50, &e);
    for (int y = 0; y < 10; y++)
        memset(img.px + (size_t)y * img.stride + 200, 200, 200);
    CHECK_INT(rcpt_image_resize(&img, 100, 10, &r, &e), RCPT_OK);
    CHECK(r.px[10] == 50 && r.px[90] == 200);
    CHECK(r.px[49] < 125 && r.px[50] > 125);
    int ring = 0;
    for (int x = 40; x < 60; x++)
        ring |= r.px[x] < 50 || r.px[x] > 200;
    CHECK(ring);
    rcpt_image_free(&r);
    rcpt_image_free(&img);
    /* CDN table (spec §8): ratio = min(max/W, max/H), int() truncation */
    struct { int W, H, max, w, h, rs; } t[] = {
        {4032, 3024, 300, 300, 225, 1}, {4032, 3024, 1200, 1200, 900, 1},
        {3024, 4032, 600, 450, 600, 1}, {1000, 800, 1200, 1000, 800, 0},
        {1000, 800, 600, 600, 480, 1},  {1530, 3000, 300, 153, 300, 1},
        {300, 200, 300, 300, 200, 0},   {301, 1, 300, 300, 1, 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int w, h;
        CHECK_INT(rcpt_image_cdn_size(t[i].W, t[i].H, t[i].max, &w, &h), t[i].rs);
        CHECK_INT(w, t[i].w);
        CHECK_INT(h, t[i].h);
    }
}

static void test_convert_crop(void)
{
    rcpt_image img, g = RCPT_IMAGE_INIT, back = RCPT_IMAGE_INIT, c = RCPT_IMAGE_INIT;
    rcpt_err e;
    rcpt_image_new(&img, 4, 3, 3, 0, &e);
    unsigned char *p = px(&img, 1, 1);
    p[0] = 255, p[1] = 0, p[2] = 0;
    p = px(&img, 2, 1);
    p[0] = 255, p[1] = 255, p[2] = 255;
    CHECK_INT(rcpt_image_convert(&img, 1, &g, &e), RCPT_OK);
    CHECK_INT(px(&g, 1, 1)[0], 76); /* 0.299 * 255 */
    CHECK_INT(px(&g, 2, 1)[0], 255);
    CHECK_INT(rcpt_image_convert(&g, 4, &back, &e), RCPT_OK);
    CHECK_INT(px(&back, 1, 1)[2], 76);
    CHECK_INT(px(&back, 1, 1)[3], 255);
    CHECK_INT(rcpt_image_crop(&img, 1, 1, 5, 2, &c, &e), RCPT_OK);
    CHECK_INT(c.width, 5);
    CHECK(memcmp(px(&c, 0, 0), px(&img, 1, 1), 3) == 0);
    CHECK(memcmp(px(&c, 1, 0), px(&img, 2, 1), 3) == 0);
    CHECK_INT(px(&c, 4, 1)[0], 0); /* outside the source: black */
    rcpt_image_free(&c);
    CHECK_INT(rcpt_image_crop(&img, -10, -10, 3, 3, &c, &e), RCPT_OK);
    CHECK_INT(px(&c, 2, 2)[0], 0);
    rcpt_image_free(&c);
    CHECK_INT(rcpt_image_crop(&img, 0, 0, 0, 3, &c, &e), RCPT_EINVAL);
    CHECK_INT(rcpt_image_new(&c, 5, 5, 2, 0, &e), RCPT_EINVAL);
    rcpt_image_free(&g);
    rcpt_image_free(&back);
    rcpt_image_free(&img);
}

static int count_color(rcpt_image *img, unsigned char r, unsigned char g, unsigned char b)
{
    int n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            unsigned char *p = px(img, x, y);
            n += p[0] == r && p[1] == g && p[2] == b;
        }
    return n;
}

static void test_draw(void)
{
    rcpt_image img;
    rcpt_err e;
    rcpt_image_new(&img, 100, 80, 3, 0, &e);
    rcpt_rgba red = {255, 0, 0, 255}, half_white = {255, 255, 255, 128};
    /* horizontal 1-px line across, from far outside: clipped, one row painted */
    rcpt_image_draw_line(&img, -1e9, 10.5, 1e9, 10.5, 1, red);
    CHECK_INT(count_color(&img, 255, 0, 0), 100);
    CHECK(px(&img, 0, 10)[0] == 255 && px(&img, 99, 10)[0] == 255 && px(&img, 50, 11)[0] == 0);
    /* a 5-px wide vertical line: 5 columns */
    rcpt_image_draw_line(&img, 50.5, 20, 50.5, 60, 5, red); /* centre of column 50 */
    CHECK(px(&img, 48, 40)[0] == 255 && px(&img, 52, 40)[0] == 255);
    CHECK(px(&img, 47, 40)[0] == 0 && px(&img, 53, 40)[0] == 0);
    /* translucent fill blends: white at alpha 128 over black -> 128 */
    double sq[8] = {60, 30, 90, 30, 90, 70, 60, 70};
    rcpt_image_fill_polygon(&img, sq, 4, half_white);
    CHECK_INT(count_color(&img, 128, 128, 128), 30 * 40);
    /* and over red */
    rcpt_image_fill_rect(&img, 0, 5, 20, 10, half_white);
    CHECK(px(&img, 5, 10)[0] == 255 && px(&img, 5, 10)[1] == 128);
    /* polygon outline: the corners are painted, the middle is not */
    rcpt_image blank;
    rcpt_image_new(&blank, 50, 50, 1, 0, &e);
    double tri[6] = {5, 5, 45, 5, 25, 45};
    rcpt_image_draw_polygon(&blank, tri, 3, 2, (rcpt_rgba){255, 255, 255, 255});
    CHECK(px(&blank, 25, 5)[0] == 255 && px(&blank, 25, 20)[0] == 0);
    /* fully outside or NaN: nothing, no crash */
    double far[8] = {-500, -500, -400, -500, -400, -400, -500, -400};
    rcpt_image_fill_polygon(&blank, far, 4, red);
    double nan_pts[6] = {NAN, 1, 2, 3, 4, 5};
    rcpt_image_fill_polygon(&blank, nan_pts, 3, red);
    rcpt_image_draw_line(&blank, NAN, 0, 10, 10, 3, red);
    /* text: glyph pixels inside its box, none outside */
    rcpt_image t;
    rcpt_image_new(&t, 80, 30, 3, 0, &e);
    int tw = rcpt_image_draw_text(&t, 2, 3, "R1a?", 2, red);
    CHECK_INT(tw, (4 * 6 - 1) * 2);
    CHECK_INT(rcpt_image_text_width("R1a?", 2), tw);
    int in = 0, out = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 80; x++) {
            int lit = px(&t, x, y)[0] == 255;
            if (x >= 2 && x < 2 + tw && y >= 3 && y < 3 + 14)
                in += lit;
            else
                out += lit;
        }
    CHECK(in > 60);
    CHECK_INT(out, 0);
    /* "a" is drawn as "A": same pixels */
    rcpt_image t1, t2;
    rcpt_image_new(&t1, 8, 9, 1, 0, &e);
    rcpt_image_new(&t2, 8, 9, 1, 0, &e);
    rcpt_image_draw_text(&t1, 1, 1, "a", 1, red);
    rcpt_image_draw_text(&t2, 1, 1, "A", 1, red);
    CHECK(same_pixels(&t1, &t2));
    rcpt_image_draw_text(&t2, 1, 1, "B", 1, red);
    CHECK(!same_pixels(&t1, &t2));
    rcpt_image_free(&t1);
    rcpt_image_free(&t2);
    rcpt_image_free(&t);
    rcpt_image_free(&blank);
    rcpt_image_free(&img);
}

/* ---- the warp against a plain transcription of Pillow's sampler ----
 * (spec §6: point at the pixel centre, inside test, a = -1 cubic in
 * Pillow's Horner order on integer coefficients, clamped taps, truncation).
 * Written for clarity, not speed, so that the fast path in warp.c -- float
 * weights, gathered taps, 8 pixels at a time, the exact redo of undecided
 * samples, the edge and bottom-right-corner cases -- has an independent
 * reference.  Opaque images only: with alpha 255 premultiplying is the
 * identity. */
static double ref_cubic(double v1, double v2, double v3, double v4, double d)
{
    double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
    return p1 + d * (p2 + d * (p3 + d * p4));
}

static void ref_warp(const rcpt_image *s, const double *c, int persp, rcpt_image *out)
{
    for (int y = 0; y < out->height; y++)
        for (int x = 0; x < out->width; x++) {
            unsigned char *o = out->px + (size_t)y * out->stride + (size_t)x * out->channels;
            double xi = x + 0.5, yi = y + 0.5, xs, ys;
            if (persp) {
                double den = c[6] * xi + c[7] * yi + 1;
                xs = (c[0] * xi + c[1] * yi + c[2]) / den;
                ys = (c[3] * xi + c[4] * yi + c[5]) / den;
            } else {
                xs = c[0] * xi + c[1] * yi + c[2];
                ys = c[3] * xi + c[4] * yi + c[5];
            }
            memset(o, 0, (size_t)out->channels);
            if (!(xs >= 0 && xs < s->width && ys >= 0 && ys < s->height))
                continue;
            xs -= 0.5;
            ys -= 0.5;
            int x0 = (int)floor(xs), y0 = (int)floor(ys);
            double dx = xs - x0, dy = ys - y0;
            for (int b = 0; b < s->channels; b++) {
                double v[4];
                for (int k = 0; k < 4; k++) {
                    int yy = y0 - 1 + k;
                    yy = yy < 0 ? 0 : yy >= s->height ? s->height - 1 : yy;
                    double t[4];
                    for (int i = 0; i < 4; i++) {
                        int xx = x0 - 1 + i;
                        xx = xx < 0 ? 0 : xx >= s->width ? s->width - 1 : xx;
                        t[i] = s->px[(size_t)yy * s->stride + (size_t)xx * s->channels + b];
                    }
                    v[k] = ref_cubic(t[0], t[1], t[2], t[3], dx);
                }
                double r = ref_cubic(v[0], v[1], v[2], v[3], dy);
                o[b] = r <= 0 ? 0 : r >= 255 ? 255 : (unsigned char)r;
            }
        }
}

/* A photo-like source: noise over gradients, flat paper (every sample of a
 * stencil equal: the exact value is an integer, which the fast path must
 * hand to the exact sampler), saturated white and black blocks (values
 * beyond 0..255 before clamping) and hard edges. */
static void photo_like(rcpt_image *img, unsigned seed)
{
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            unsigned char *p = px(img, x, y);
            int zone = (x / 40 + 3 * (y / 40)) % 4;
            for (int c = 0; c < img->channels; c++) {
                seed = seed * 1103515245u + 12345u;
                int v = zone == 0   ? 236 - 4 * c                       /* flat paper */
                        : zone == 1 ? ((x / 5 + y / 7) & 1 ? 255 : 0)     /* hard edges */
                        : zone == 2 ? 255                                 /* saturated */
                                    : (x + 2 * y + 50 * c) % 200 + (int)(seed >> 28); /* noise */
                p[c] = (unsigned char)v;
            }
            if (img->channels == 4)
                p[3] = 255;
        }
}

static void test_warp_matches_reference(void)
{
    /* perspective (PHOTO-like, reaching past every edge of the source) and
     * affine (SCAN-like rotation, and a shear), odd output widths (the last
     * pixels of a row are not a full block of 8) */
    static const double persp[][8] = {
        {0.91, -0.038, 60, -0.057, 0.884, 40, -2.7e-4, -2.6e-4},
        {1.3, 0.2, -40.5, -0.15, 1.2, -20.25, 0.001, -0.0015},
    };
    static const double aff[][6] = {
        {0.991, -0.139, 108.7, 0.139, 0.991, -12.9},
        {0.7, -0.4, 130.3, 0.35, 0.8, -7.9},
    };
    int chans[] = {1, 3, 4};
    for (int ci = 0; ci < 3; ci++) {
        rcpt_image src, ref, got;
        rcpt_err e;
        rcpt_image_new(&src, 421, 333, chans[ci], 0, &e);
        photo_like(&src, 7u + (unsigned)ci);
        for (int m = 0; m < 4; m++) {
            int persp_m = m < 2, w = persp_m ? 403 : 389, h = persp_m ? 371 : 301;
            const double *c = persp_m ? persp[m] : aff[m - 2];
            rcpt_image_new(&ref, w, h, chans[ci], 0, &e);
            ref_warp(&src, c, persp_m, &ref);
            int inside = 0, outside = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    const unsigned char *o = px(&ref, x, y);
                    int any = 0;
                    for (int b = 0; b < chans[ci]; b++)
                        any |= o[b];
                    any ? inside++ : outside++;
                }
            /* the cases reach both the inside and the black outside */
            CHECK(inside > w * h / 4);
            CHECK(outside > 500);
            char want[65], h1[65], hn[65];
            rcpt_image_sha256(&ref, want, NULL);
            for (int t = 0; t <= 3; t++) { /* 0 = default; 1 = this thread only */
                int rc = persp_m ? rcpt_image_warp_perspective(&src, w, h, c, t, &got, &e)
                                 : rcpt_image_warp_affine(&src, w, h, c, t, &got, &e);
                CHECK_INT(rc, RCPT_OK);
                if (rc)
                    continue;
                if (!same_pixels(&ref, &got)) {
                    int diff = 0, maxd = 0;
                    for (size_t i = 0; i < got.stride * (size_t)h; i++) {
                        int d = abs(got.px[i] - ref.px[i]);
                        diff += d != 0;
                        maxd = d > maxd ? d : maxd;
                    }
                    fprintf(stderr, "  channels %d case %d threads %d: %d samples differ (max %d)\n",
                            chans[ci], m, t, diff, maxd);
                }
                CHECK(same_pixels(&ref, &got));
                rcpt_image_sha256(&got, t == 1 ? h1 : hn, NULL);
                if (t > 1) /* several threads == one thread, byte for byte */
                    CHECK_STR(hn, h1);
                rcpt_image_free(&got);
            }
            CHECK_STR(h1, want);
            rcpt_image_free(&ref);
        }
        rcpt_image_free(&src);
    }
    /* a source whose every stencil is flat: all samples are integers, so
     * every one goes to the exact sampler, and comes out unchanged */
    rcpt_image flat, w;
    rcpt_err e;
    rcpt_image_new(&flat, 64, 48, 3, 200, &e);
    double sh[6] = {0.83, 0.1, 3.3, -0.1, 0.9, 2.7};
    CHECK_INT(rcpt_image_warp_affine(&flat, 50, 40, sh, 2, &w, &e), RCPT_OK);
    CHECK(px(&w, 20, 20)[0] == 200 && px(&w, 20, 20)[2] == 200);
    rcpt_image_free(&w);
    rcpt_image_free(&flat);
}

int main(void)
{
    test_png_round_trip();
    test_jpeg_round_trip();
    test_exif_ignored();
    test_sha256();
    test_pixel_limit();
    test_truncated();
    test_one_pixel();
    test_identity_warp();
    test_perspective_landmarks();
    test_affine_rotated_rect();
    test_warp_matches_reference();
    test_resize_and_cdn();
    test_resize_paths_agree();
    test_convert_crop();
    test_draw();
    return check_done();
}
