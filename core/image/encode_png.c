/* The default PNG encoder (rcpt_image_encode_png with level -1): our own
 * chunk writer, SUB filter, zlib level 1 with Z_RLE -- OpenCV's settings --
 * deflated in strips on several threads.
 *
 * Why not libpng: at level 1 the deflate is the whole cost, and zlib's
 * deflate is single-threaded.  A PNG's image data is one zlib stream, but a
 * zlib stream may be the concatenation of independently compressed raw
 * deflate pieces (the parallel-gzip technique): each piece starts from an
 * empty history, every piece but the last ends with Z_SYNC_FLUSH (which
 * closes the current block and byte-aligns the output with an empty stored
 * block), the last with Z_FINISH (final block).  The stream gets the 2-byte
 * zlib header in front and the Adler-32 of all the uncompressed bytes at the
 * end, combined from the pieces' checksums with adler32_combine.
 *
 * Splitting costs nearly nothing in size here: Z_RLE only ever refers back
 * one byte, so a fresh history at a strip boundary loses at most one match
 * per strip; the flush adds ~5 bytes and a new Huffman table per strip.
 *
 * The strips depend only on the image's size (about STRIP_BYTES of filtered
 * rows each), never on the thread count, so the file is the same bytes
 * whatever the number of threads; the threads only take strips from a
 * shared counter (on a loaded machine a descheduled thread simply does
 * fewer).  Each strip is written straight into IDAT chunks (length, type,
 * data, CRC-32) by the thread that compresses it; the main thread then only
 * concatenates. */
#include "image.h"
#include "image_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    STRIP_BYTES = 1 << 20, /* filtered bytes per strip (the unit of work) */
    CHUNK_DATA = 1 << 18,  /* IDAT data bytes per chunk, at most */
    FEED_BYTES = 1 << 16,  /* filtered rows handed to deflate per call */
};

typedef struct png_strip {
    int y0, y1;          /* rows */
    int first, last;     /* carries the zlib header / ends the stream */
    unsigned char *buf;  /* complete IDAT chunks; the last strip's last chunk
                          * is left open for the Adler-32 */
    size_t len, cap;
    size_t open;         /* offset of the chunk being filled */
    uLong adler;         /* Adler-32 of the strip's filtered bytes */
    size_t raw;          /* their count */
    int failed;          /* out of memory or a zlib error */
} png_strip;

typedef struct png_job {
    const rcpt_image *img;
    png_strip *strips;
    int nstrips;
    atomic_int next;
} png_job;

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Room for a new chunk: header, CHUNK_DATA bytes, the CRC and (for the
 * stream's last chunk) the 4 Adler-32 bytes. */
static int reserve_chunk(png_strip *s)
{
    size_t need = s->len + 8 + CHUNK_DATA + 8;
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap * 2 > need ? s->cap * 2 : need;
    unsigned char *p = realloc(s->buf, cap);
    if (!p)
        return -1;
    s->buf = p;
    s->cap = cap;
    return 0;
}

static int open_chunk(png_strip *s, z_stream *z)
{
    if (reserve_chunk(s))
        return -1;
    s->open = s->len;
    z->next_out = s->buf + s->open + 8;
    z->avail_out = CHUNK_DATA;
    return 0;
}

/* Finish the chunk whose data ends at `end` (header and CRC); an empty one
 * is dropped. */
static void close_chunk(png_strip *s, unsigned char *end)
{
    unsigned char *c = s->buf + s->open;
    size_t n = (size_t)(end - (c + 8));
    if (n == 0) {
        s->len = s->open;
        return;
    }
    put32(c, (uint32_t)n);
    memcpy(c + 4, "IDAT", 4);
    put32(c + 8 + n, (uint32_t)crc32(0, c + 4, (uInt)(n + 4)));
    s->len = s->open + 8 + n + 4;
}

/* PNG filter type 1 (SUB): each byte minus the same channel of the pixel on
 * its left; the first pixel stays. */
static void filter_sub(unsigned char *o, const unsigned char *row, size_t n, int bpp)
{
    o[0] = 1;
    o++;
    memcpy(o, row, (size_t)bpp);
    for (size_t i = (size_t)bpp; i < n; i++)
        o[i] = (unsigned char)(row[i] - row[i - (size_t)bpp]);
}

static void do_strip(const png_job *j, png_strip *s, z_stream *z, unsigned char *feed,
                     size_t feed_cap)
{
    const rcpt_image *img = j->img;
    const int bpp = img->channels;
    const size_t rowbytes = (size_t)img->width * (size_t)bpp;
    const size_t rows_per_feed = feed_cap / (rowbytes + 1);
    s->adler = adler32(0, NULL, 0);
    s->raw = 0;
    if (deflateReset(z) != Z_OK || open_chunk(s, z)) {
        s->failed = 1;
        return;
    }
    if (s->first) {
        /* CMF 0x78: deflate, 32K window; FLG 0x01: "fastest", no
         * dictionary, and 0x7801 is a multiple of 31 */
        *z->next_out++ = 0x78;
        *z->next_out++ = 0x01;
        z->avail_out -= 2;
    }
    for (int y = s->y0; y < s->y1;) {
        int n = s->y1 - y < (int)rows_per_feed ? s->y1 - y : (int)rows_per_feed;
        for (int k = 0; k < n; k++)
            filter_sub(feed + (size_t)k * (rowbytes + 1),
                       img->px + (size_t)(y + k) * img->stride, rowbytes, bpp);
        y += n;
        size_t len = (size_t)n * (rowbytes + 1);
        s->adler = adler32(s->adler, feed, (uInt)len);
        s->raw += len;
        int flush = y < s->y1 ? Z_NO_FLUSH : s->last ? Z_FINISH : Z_SYNC_FLUSH;
        z->next_in = feed;
        z->avail_in = (uInt)len;
        for (;;) {
            int rc = deflate(z, flush);
            if (rc == Z_STREAM_ERROR) {
                s->failed = 1;
                return;
            }
            if (rc == Z_STREAM_END)
                break;
            if (z->avail_out == 0) { /* chunk full: more output may follow */
                close_chunk(s, z->next_out);
                if (open_chunk(s, z)) {
                    s->failed = 1;
                    return;
                }
                continue;
            }
            /* output space left: deflate has taken all the input and, for
             * Z_SYNC_FLUSH, written the whole flush (Z_FINISH loops until
             * Z_STREAM_END) */
            if (flush != Z_FINISH)
                break;
        }
    }
    if (s->last) /* left open: the main thread appends the Adler-32 */
        s->len = (size_t)(z->next_out - s->buf);
    else
        close_chunk(s, z->next_out);
}

static void *png_worker(void *arg)
{
    png_job *j = arg;
    size_t rowbytes = (size_t)j->img->width * (size_t)j->img->channels + 1;
    size_t feed_cap = rowbytes > FEED_BYTES ? rowbytes : FEED_BYTES;
    unsigned char *feed = malloc(feed_cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    /* raw deflate (no zlib wrapper: we write the header and the checksum),
     * libpng's and OpenCV's memLevel 8 */
    int ok = feed && deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_RLE) == Z_OK;
    for (;;) {
        int i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (i >= j->nstrips)
            break;
        if (ok)
            do_strip(j, &j->strips[i], &z, feed, feed_cap);
        else
            j->strips[i].failed = 1;
    }
    if (ok)
        deflateEnd(&z);
    free(feed);
    return NULL;
}

static void put_chunk(rcpt_buf *out, const char *type, const unsigned char *data, size_t n)
{
    unsigned char h[8];
    put32(h, (uint32_t)n);
    memcpy(h + 4, type, 4);
    uLong crc = crc32(0, h + 4, 4);
    if (n) /* crc32(crc, NULL, 0) would return the initial value, not crc */
        crc = crc32(crc, data, (uInt)n);
    unsigned char c[4];
    put32(c, (uint32_t)crc);
    rcpt_buf_append(out, h, 8);
    if (n)
        rcpt_buf_append(out, data, n);
    rcpt_buf_append(out, c, 4);
}

int rcpt_image__encode_png_fast(const rcpt_image *img, int threads, rcpt_buf *out,
                                rcpt_err *err)
{
    const size_t rowbytes = (size_t)img->width * (size_t)img->channels + 1;
    /* a strip of at least one row; a row over 2^31 bytes is refused by
     * rcpt_image_new, and adler32/crc32 take uInt lengths */
    int rows = (int)(STRIP_BYTES / rowbytes);
    if (rows < 1)
        rows = 1;
    int nstrips = (img->height + rows - 1) / rows;
    if (threads == 0)
        threads = rcpt_image_default_threads();
    if (threads > nstrips)
        threads = nstrips;
    png_strip *strips = calloc((size_t)nstrips, sizeof *strips);
    if (!strips)
        return rcpt_err_set(err, RCPT_ENOMEM, "png encode: out of memory");
    for (int i = 0; i < nstrips; i++) {
        strips[i].y0 = i * rows;
        strips[i].y1 = i == nstrips - 1 ? img->height : (i + 1) * rows;
        strips[i].first = i == 0;
        strips[i].last = i == nstrips - 1;
    }
    png_job job = {img, strips, nstrips, 0};
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, png_worker, &job) == 0;
    png_worker(&job); /* this thread too; strips of threads not created
                       * are taken by the others */
    for (int t = 1; t < threads; t++)
        if (started[t])
            pthread_join(tid[t], NULL);

    int rc = RCPT_OK;
    uLong adler = adler32(0, NULL, 0);
    size_t total = 8 + 25 + 12;
    for (int i = 0; i < nstrips; i++) {
        if (strips[i].failed)
            rc = RCPT_ENOMEM;
        else {
            adler = i == 0 ? strips[i].adler
                           : adler32_combine(adler, strips[i].adler, (z_off_t)strips[i].raw);
            total += strips[i].len + 12;
        }
    }
    size_t start = out->len;
    if (rc == RCPT_OK && rcpt_buf_reserve(out, total) != RCPT_OK)
        rc = RCPT_ENOMEM;
    if (rc == RCPT_OK) {
        png_strip *l = &strips[nstrips - 1];
        unsigned char adl[4];
        put32(adl, (uint32_t)adler);
        memcpy(l->buf + l->len, adl, 4);
        close_chunk(l, l->buf + l->len + 4);

        static const unsigned char sig[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
        unsigned char ihdr[13];
        put32(ihdr, (uint32_t)img->width);
        put32(ihdr + 4, (uint32_t)img->height);
        ihdr[8] = 8; /* bit depth */
        ihdr[9] = img->channels == 1 ? 0 : img->channels == 3 ? 2 : 6; /* gray, RGB, RGBA */
        ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
        rcpt_buf_append(out, sig, 8);
        put_chunk(out, "IHDR", ihdr, 13);
        for (int i = 0; i < nstrips; i++)
            rcpt_buf_append(out, strips[i].buf, strips[i].len);
        put_chunk(out, "IEND", NULL, 0);
        if (out->oom) {
            out->len = start;
            rc = RCPT_ENOMEM;
        }
    }
    for (int i = 0; i < nstrips; i++)
        free(strips[i].buf);
    free(strips);
    if (rc)
        return rcpt_err_set(err, rc, "png encode: out of memory");
    return RCPT_OK;
}
