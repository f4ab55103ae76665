/* core/image/encode_png.c: the default (level -1) PNG encoder that deflates
 * strips of rows on several threads.  Every file is checked three ways:
 * the chunk structure and every CRC; the IDAT stream inflated by zlib (which
 * checks the zlib header and the combined Adler-32) equal to the image's
 * rows SUB-filtered by this test's own filter; and a decode through libpng
 * (rcpt_image_decode) giving back exactly the same pixels.  And the file
 * must be the same bytes for every thread count. */
#include "check.h"
#include "image/image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* gradients, flat runs and LCG noise, so that strips both compress and don't */
static void fill(rcpt_image *img, unsigned seed)
{
    for (int y = 0; y < img->height; y++) {
        unsigned char *p = img->px + (size_t)y * img->stride;
        for (int x = 0; x < img->width * img->channels; x++) {
            seed = seed * 1103515245u + 12345u;
            int zone = (x / 97 + y / 13) % 3;
            p[x] = (unsigned char)(zone == 0 ? 200 : zone == 1 ? (x + 3 * y) & 255 : seed >> 24);
        }
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

/* Structure, CRCs, the inflated stream against our own SUB filter, and the
 * libpng decode.  Returns the number of IDAT chunks (0 on a failed check). */
static int verify(const rcpt_image *img, const rcpt_buf *png)
{
    static const unsigned char sig[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
    CHECK(png->len > 8 + 25 + 12 && memcmp(png->data, sig, 8) == 0);
    if (png->len <= 8 + 25 + 12)
        return 0;
    size_t pos = 8, zlen = 0;
    unsigned char *z = malloc(png->len);
    int idats = 0, seen_end = 0, after_idat = 0, bad = 0;
    while (pos + 12 <= png->len && !seen_end) {
        const unsigned char *c = (const unsigned char *)png->data + pos;
        uint32_t n = get32(c);
        if (pos + 12 + n > png->len) {
            bad = 1;
            break;
        }
        if (get32(c + 8 + n) != (uint32_t)crc32(0, c + 4, n + 4))
            bad = 1;
        if (!memcmp(c + 4, "IHDR", 4)) {
            CHECK_INT(pos, 8);
            CHECK_INT(n, 13);
            CHECK_INT(get32(c + 8), img->width);
            CHECK_INT(get32(c + 12), img->height);
            CHECK_INT(c[16], 8);
            CHECK_INT(c[17], img->channels == 1 ? 0 : img->channels == 3 ? 2 : 6);
            CHECK(c[18] == 0 && c[19] == 0 && c[20] == 0);
        } else if (!memcmp(c + 4, "IDAT", 4)) {
            if (after_idat) /* IDAT chunks must be consecutive */
                bad = 1;
            CHECK(n > 0);
            memcpy(z + zlen, c + 8, n);
            zlen += n;
            idats++;
        } else if (!memcmp(c + 4, "IEND", 4)) {
            CHECK_INT(n, 0);
            seen_end = 1;
        } else {
            bad = 1;
        }
        if (idats && memcmp(c + 4, "IDAT", 4))
            after_idat = 1;
        pos += 12 + n;
    }
    CHECK(!bad);
    CHECK(seen_end);
    CHECK_INT(pos, png->len);
    /* the expected filtered rows, written out here independently */
    size_t rowbytes = (size_t)img->width * img->channels;
    size_t rawlen = (rowbytes + 1) * (size_t)img->height;
    unsigned char *want = malloc(rawlen), *got = malloc(rawlen + 1);
    for (int y = 0; y < img->height; y++) {
        const unsigned char *r = img->px + (size_t)y * img->stride;
        unsigned char *o = want + (size_t)y * (rowbytes + 1);
        o[0] = 1;
        for (size_t i = 0; i < rowbytes; i++)
            o[1 + i] = (unsigned char)(r[i] - (i >= (size_t)img->channels ? r[i - img->channels] : 0));
    }
    uLongf glen = (uLongf)rawlen + 1;
    CHECK_INT(uncompress(got, &glen, z, (uLong)zlen), Z_OK); /* checks the Adler-32 */
    CHECK_INT(glen, rawlen);
    CHECK(glen == rawlen && memcmp(got, want, rawlen) == 0);
    free(want);
    free(got);
    free(z);
    rcpt_image back = RCPT_IMAGE_INIT;
    rcpt_err e;
    CHECK_INT(rcpt_image_decode(png->data, png->len, 0, &back, &e), RCPT_OK);
    CHECK(same_pixels(img, &back));
    rcpt_image_free(&back);
    return bad ? 0 : idats;
}

/* threads 1, 2, 3 and the default: the same bytes; returns the IDAT count */
static int check_image_all_threads(const rcpt_image *img)
{
    rcpt_buf one = RCPT_BUF_INIT;
    rcpt_err e;
    CHECK_INT(rcpt_image_encode_png_mt(img, -1, 1, &one, &e), RCPT_OK);
    int idats = verify(img, &one);
    int threads[] = {2, 3, 0};
    for (int i = 0; i < 3; i++) {
        rcpt_buf b = RCPT_BUF_INIT;
        CHECK_INT(rcpt_image_encode_png_mt(img, -1, threads[i], &b, &e), RCPT_OK);
        CHECK(b.len == one.len && memcmp(b.data, one.data, b.len) == 0);
        rcpt_buf_free(&b);
    }
    /* the plain entry point is the same encoder */
    rcpt_buf p = RCPT_BUF_INIT;
    CHECK_INT(rcpt_image_encode_png(img, -1, &p, &e), RCPT_OK);
    CHECK(p.len == one.len && memcmp(p.data, one.data, p.len) == 0);
    rcpt_buf_free(&p);
    rcpt_buf_free(&one);
    return idats;
}

static void test_small_and_odd(void)
{
    int sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 2}, {67, 41}, {333, 5}, {1001, 3}};
    int chans[] = {1, 3, 4};
    for (int c = 0; c < 3; c++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            rcpt_image img;
            rcpt_err e;
            CHECK_INT(rcpt_image_new(&img, sizes[s][0], sizes[s][1], chans[c], 0, &e), RCPT_OK);
            fill(&img, (unsigned)(c * 31 + s));
            CHECK(check_image_all_threads(&img) >= 1);
            rcpt_image_free(&img);
        }
}

/* several strips (~1 MB of rows each), several chunks per strip */
static void test_large(void)
{
    int chans[] = {1, 3, 4};
    for (int c = 0; c < 3; c++) {
        rcpt_image img;
        rcpt_err e;
        CHECK_INT(rcpt_image_new(&img, 1711, 1203, chans[c], 0, &e), RCPT_OK);
        fill(&img, 99u + c);
        int idats = check_image_all_threads(&img);
        /* ~1/3 of the image is noise: over 256 KB of deflate output per
         * strip for RGB(A), so more chunks than strips */
        CHECK(idats >= (c ? 8 : 2));
        rcpt_image_free(&img);
    }
}

/* rows longer than a strip: one row per strip */
static void test_wide_rows(void)
{
    rcpt_image img;
    rcpt_err e;
    CHECK_INT(rcpt_image_new(&img, 1200000, 3, 1, 0, &e), RCPT_OK);
    fill(&img, 5);
    CHECK(check_image_all_threads(&img) >= 3);
    rcpt_image_free(&img);
}

/* a described buffer whose stride is longer than its rows */
static void test_stride(void)
{
    rcpt_image big, view;
    rcpt_err e;
    CHECK_INT(rcpt_image_new(&big, 300, 250, 3, 0, &e), RCPT_OK);
    fill(&big, 17);
    view = big;
    view.width = 211;
    view.height = 249;
    view.px = big.px + big.stride + 3 * 40; /* offset by one row and 40 pixels */
    CHECK(check_image_all_threads(&view) >= 1);
    rcpt_image_free(&big);
}

/* flat paper: Z_RLE makes runs of the SUB-filtered zeros */
static void test_flat_compresses(void)
{
    rcpt_image img;
    rcpt_err e;
    CHECK_INT(rcpt_image_new(&img, 2000, 1500, 3, 238, &e), RCPT_OK);
    rcpt_buf b = RCPT_BUF_INIT;
    CHECK_INT(rcpt_image_encode_png(&img, -1, &b, &e), RCPT_OK);
    CHECK(verify(&img, &b) >= 1);
    CHECK(b.len < 9000000 / 200);
    rcpt_buf_free(&b);
    rcpt_image_free(&img);
}

/* Literal counts in Fibonacci proportions make the optimal Huffman tree as
 * deep as there are symbols (~24 levels): the encoder must limit the code
 * lengths to 15 and still give inflate a complete code.  One gray row whose
 * SUB-filtered bytes are symbol k F(k) times, never two equal in a row (so
 * that no run replaces them). */
static void test_deep_huffman_tree(void)
{
    enum { K = 23 };
    int left[K];
    long n = 0;
    for (int k = 0, a = 1, b = 1; k < K; k++) {
        left[k] = a;
        n += a;
        int c = a + b;
        a = b;
        b = c;
    }
    rcpt_image img;
    rcpt_err e;
    CHECK_INT(rcpt_image_new(&img, (int)n, 1, 1, 0, &e), RCPT_OK);
    int prev = -1;
    unsigned char v = 0;
    for (long i = 0; i < n; i++) {
        int best = -1;
        for (int k = 0; k < K; k++) /* the most left, not the previous one */
            if (k != prev && left[k] && (best < 0 || left[k] > left[best]))
                best = k;
        if (best < 0) /* only the previous symbol is left: it may repeat */
            best = prev;
        left[best]--;
        prev = best;
        v = (unsigned char)(i == 0 ? 40 + best : v + 40 + best); /* filtered byte 40 + k */
        img.px[i] = v;
    }
    CHECK(check_image_all_threads(&img) >= 1);
    rcpt_image_free(&img);
}

static void test_errors_and_append(void)
{
    rcpt_image img;
    rcpt_err e;
    rcpt_image_new(&img, 10, 10, 3, 1, &e);
    rcpt_buf b = RCPT_BUF_INIT;
    CHECK_INT(rcpt_image_encode_png_mt(&img, -1, -1, &b, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "threads") != NULL);
    CHECK_INT(rcpt_image_encode_png_mt(&img, -1, 65, &b, &e), RCPT_EINVAL);
    CHECK_INT(rcpt_image_encode_png_mt(&img, 10, 1, &b, &e), RCPT_EINVAL);
    CHECK_INT(b.len, 0);
    /* appends after what the buffer holds */
    rcpt_buf_append(&b, "xyz", 3);
    CHECK_INT(rcpt_image_encode_png_mt(&img, -1, 2, &b, &e), RCPT_OK);
    CHECK(memcmp(b.data, "xyz\x89PNG", 7) == 0);
    rcpt_image back = RCPT_IMAGE_INIT;
    CHECK_INT(rcpt_image_decode(b.data + 3, b.len - 3, 0, &back, &e), RCPT_OK);
    CHECK(same_pixels(&img, &back));
    rcpt_image_free(&back);
    rcpt_buf_free(&b);
    rcpt_image_free(&img);
}

int main(void)
{
    test_small_and_odd();
    test_large();
    test_wide_rows();
    test_stride();
    test_flat_compresses();
    test_deep_huffman_tree();
    test_errors_and_append();
    return check_done();
}
