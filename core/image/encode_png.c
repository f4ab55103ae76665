/* The default PNG encoder (rcpt_image_encode_png with level -1): our own
 * chunk writer, SUB filter, and OpenCV's compression settings -- deflate of
 * literals and distance-1 runs, what zlib's level 1 with Z_RLE makes --
 * done by our own deflate encoder, in strips on several threads.
 *
 * Why not libpng + zlib: at these settings zlib's deflate is nearly the
 * whole cost (~70 MB/s on the bench crop), spent on machinery that Z_RLE
 * does not need (window and hash bookkeeping, a token buffer flushed every
 * 16K symbols); the encoder below (deflate_rle) does only what RLE needs and
 * is ~2.5 times cheaper, for files within a fraction of a percent of zlib's.
 * And zlib's deflate is single-threaded.
 *
 * Threads: a PNG's image data is one zlib stream, but a deflate stream may
 * be the concatenation of independently compressed pieces (the parallel
 * gzip technique): every piece but the last ends with an empty stored block
 * -- what zlib's Z_SYNC_FLUSH writes -- so that the next starts on a byte
 * boundary, the last ends with a final block.  Each piece only refers back
 * inside itself.  The stream gets the 2-byte zlib header in front and the
 * Adler-32 of all the filtered bytes at the end, combined from the pieces'
 * checksums with zlib's adler32_combine.
 *
 * The strips depend only on the image's size (about STRIP_BYTES of filtered
 * rows each), never on the thread count, so the file is the same bytes
 * whatever the number of threads; the threads only take strips from a
 * shared counter (on a loaded machine a descheduled thread simply does
 * fewer).  Each strip is cut into IDAT chunks (length, type, data, CRC-32)
 * by the thread that compresses it; the main thread then only concatenates
 * and adds the Adler-32 in a last 4-byte IDAT chunk. */
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
};

typedef struct png_strip {
    int y0, y1;          /* rows */
    int first, last;     /* carries the zlib header / ends the stream */
    unsigned char *buf;  /* the strip's IDAT chunks */
    size_t len;
    uLong adler;         /* Adler-32 of the strip's filtered bytes */
    size_t raw;          /* their count */
    int failed;          /* out of memory */
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

/* ---- deflate (RFC 1951) of literals and runs ------------------------------
 *
 * What zlib's level 1 with Z_RLE does -- a byte equal to the one before it
 * starts a match at distance 1 when the run is 3 bytes or longer, anything
 * else is a literal, dynamic Huffman blocks -- written for this one case:
 * no hash, no window, tokens counted as they are made, 64K tokens per
 * block, one 64-bit bit buffer.  On the bench crop zlib does ~70 MB/s and
 * this ~180 MB/s, and the files are a fraction of a percent smaller
 * (tests/c/test_image_png.c inflates every output with zlib).  Huffman
 * lengths: the classic two-queue construction, then lengths over 15 (7 for
 * the code length code) lifted and the Kraft sum repaired. */
enum { BLOCK_TOKENS = 1 << 16, MAX_BITS = 15, MAX_CL_BITS = 7 };

typedef struct bitw {
    unsigned char *p;
    size_t len, cap;
    uint64_t bb; /* pending bits, LSB first */
    int bc;      /* how many */
} bitw;

static int bw_reserve(bitw *w, size_t extra)
{
    size_t need = w->len + extra + 16;
    if (need <= w->cap)
        return 0;
    size_t cap = w->cap * 2 > need ? w->cap * 2 : need;
    unsigned char *p = realloc(w->p, cap);
    if (!p)
        return -1;
    w->p = p;
    w->cap = cap;
    return 0;
}

/* n <= 32 bits; the caller reserved the room */
static inline void bw_put(bitw *w, uint32_t bits, int n)
{
    w->bb |= (uint64_t)bits << w->bc;
    w->bc += n;
    if (w->bc >= 32) {
        unsigned char *o = w->p + w->len;
        o[0] = (unsigned char)w->bb;
        o[1] = (unsigned char)(w->bb >> 8);
        o[2] = (unsigned char)(w->bb >> 16);
        o[3] = (unsigned char)(w->bb >> 24);
        w->len += 4;
        w->bb >>= 32;
        w->bc -= 32;
    }
}

static void bw_align(bitw *w)
{
    while (w->bc > 0) {
        w->p[w->len++] = (unsigned char)w->bb;
        w->bb >>= 8;
        w->bc -= 8;
    }
    w->bb = 0;
    w->bc = 0;
}

/* length 3..258 -> symbol 257..285 and its extra bits (RFC 1951 3.2.5) */
static const unsigned short len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,
                                            15, 17, 19, 23, 27, 31, 35, 43, 51,  59,
                                            67, 83, 99, 115, 131, 163, 195, 227, 258};
static const unsigned char len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                            2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
/* the order in which the code length code's lengths are sent */
static const unsigned char cl_order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                           11, 4,  12, 3, 13, 2, 14, 1, 15};

typedef struct lensym {
    unsigned short sym[259];
    unsigned char ebits[259];
    unsigned char eval[259];
} lensym;

static void lensym_init(lensym *t)
{
    int k = 0;
    for (int l = 3; l <= 258; l++) {
        while (k < 28 && len_base[k + 1] <= l)
            k++;
        t->sym[l] = (unsigned short)(257 + k);
        t->ebits[l] = len_extra[k];
        t->eval[l] = (unsigned char)(l - len_base[k]);
    }
}

/* Huffman code lengths for freq[0..n) (n <= 288), none over maxlen; unused
 * symbols get 0.  At least two symbols must be used (the caller sees to
 * it): inflate refuses an incomplete code. */
static void huff_lengths(const uint32_t *freq, int n, int maxlen, unsigned char *len)
{
    int sym[288], m = 0;
    for (int i = 0; i < n; i++) {
        len[i] = 0;
        if (freq[i])
            sym[m++] = i;
    }
    /* leaves by increasing frequency (insertion sort: n is small) */
    for (int i = 1; i < m; i++) {
        int v = sym[i], k = i;
        while (k > 0 && freq[sym[k - 1]] > freq[v]) {
            sym[k] = sym[k - 1];
            k--;
        }
        sym[k] = v;
    }
    /* two-queue construction: the leaves in order, then the internal nodes,
     * which are made in non-decreasing weight order */
    uint64_t w[2 * 288];
    int parent[2 * 288], depth[2 * 288];
    for (int i = 0; i < m; i++)
        w[i] = freq[sym[i]];
    int li = 0, ii = m, next = m;
    for (int k = 0; k < m - 1; k++) {
        int pick[2];
        for (int t = 0; t < 2; t++)
            pick[t] = (li < m && (ii >= next || w[li] <= w[ii])) ? li++ : ii++;
        w[next] = w[pick[0]] + w[pick[1]];
        parent[pick[0]] = parent[pick[1]] = next;
        next++;
    }
    int count[MAX_BITS + 1] = {0};
    depth[next - 1] = 0;
    for (int i = next - 2; i >= 0; i--) {
        depth[i] = depth[parent[i]] + 1;
        if (i < m)
            count[depth[i] > maxlen ? maxlen : depth[i]]++;
    }
    /* the leaves deeper than maxlen were lifted to maxlen: the code is now
     * over-full; move leaves down from shorter lengths until it is exact
     * (each step: one leaf at maxlen removed, one at i split into two at
     * i + 1 -- the number of leaves is unchanged, the Kraft sum drops by one
     * unit of 2^-maxlen) */
    uint32_t total = 0;
    for (int i = 1; i <= maxlen; i++)
        total += (uint32_t)count[i] << (maxlen - i);
    while (total > (1u << maxlen)) {
        count[maxlen]--;
        for (int i = maxlen - 1; i > 0; i--)
            if (count[i]) {
                count[i]--;
                count[i + 1] += 2;
                break;
            }
        total--;
    }
    /* the least frequent symbols get the longest codes */
    int k = 0;
    for (int l = maxlen; l >= 1; l--)
        for (int c = 0; c < count[l]; c++)
            len[sym[k++]] = (unsigned char)l;
}

/* canonical codes (RFC 1951 3.2.2), bit-reversed for the LSB-first writer */
static void huff_codes(const unsigned char *len, int n, uint16_t *code)
{
    int count[MAX_BITS + 1] = {0};
    uint32_t next[MAX_BITS + 2];
    for (int i = 0; i < n; i++)
        count[len[i]]++;
    count[0] = 0;
    uint32_t c = 0;
    for (int b = 1; b <= MAX_BITS; b++) {
        c = (c + (uint32_t)count[b - 1]) << 1;
        next[b] = c;
    }
    for (int i = 0; i < n; i++) {
        int l = len[i];
        if (!l) {
            code[i] = 0;
            continue;
        }
        uint32_t v = next[l]++, r = 0;
        for (int b = 0; b < l; b++, v >>= 1)
            r = r << 1 | (v & 1);
        code[i] = (uint16_t)r;
    }
}

/* a second used symbol when a tree would have only one */
static void two_symbols(uint32_t *freq, int n)
{
    int used = 0;
    for (int i = 0; i < n && used < 2; i++)
        used += freq[i] != 0;
    for (int i = 0; used < 2 && i < n; i++)
        if (!freq[i]) {
            freq[i] = 1;
            used++;
        }
}

/* One dynamic block of tokens (t < 256: literal t; else a run of t - 256
 * bytes at distance 1).  Returns -1 when out of memory. */
static int write_block(bitw *w, const uint16_t *tok, size_t ntok, uint32_t *lfreq, int final,
                       const lensym *ls)
{
    unsigned char llen[286 + 2]; /* literal/length lengths, then the 2 distance ones */
    uint16_t lcode[286];
    lfreq[256] = 1; /* end of block */
    two_symbols(lfreq, 286);
    huff_lengths(lfreq, 286, MAX_BITS, llen);
    huff_codes(llen, 286, lcode);
    int hlit = 286;
    while (hlit > 257 && !llen[hlit - 1])
        hlit--;
    /* distances: only distance 1 (code 0) is used; codes 0 and 1 get one
     * bit each, a complete code, as inflate wants */
    llen[hlit] = llen[hlit + 1] = 1;
    const int hdist = 2, nall = hlit + hdist;
    /* run-length code of the code lengths (16: repeat the previous 3-6
     * times, 17: 3-10 zeros, 18: 11-138 zeros) */
    unsigned char cls[288], clx[288];
    int ncl = 0;
    uint32_t clfreq[19] = {0};
    for (int i = 0; i < nall;) {
        int v = llen[i], r = 1;
        while (i + r < nall && llen[i + r] == v)
            r++;
        i += r;
        if (v == 0) {
            while (r >= 11) {
                int c = r > 138 ? 138 : r;
                cls[ncl] = 18, clx[ncl++] = (unsigned char)(c - 11);
                r -= c;
            }
            if (r >= 3) {
                cls[ncl] = 17, clx[ncl++] = (unsigned char)(r - 3);
                r = 0;
            }
        } else {
            cls[ncl] = (unsigned char)v, clx[ncl++] = 0;
            r--;
            while (r >= 3) {
                int c = r > 6 ? 6 : r;
                cls[ncl] = 16, clx[ncl++] = (unsigned char)(c - 3);
                r -= c;
            }
        }
        while (r-- > 0)
            cls[ncl] = (unsigned char)v, clx[ncl++] = 0;
    }
    for (int i = 0; i < ncl; i++)
        clfreq[cls[i]]++;
    two_symbols(clfreq, 19);
    unsigned char cllen[19];
    uint16_t clcode[19];
    huff_lengths(clfreq, 19, MAX_CL_BITS, cllen);
    huff_codes(cllen, 19, clcode);
    int hclen = 19;
    while (hclen > 4 && !cllen[cl_order[hclen - 1]])
        hclen--;
    /* room for the whole block, counted exactly */
    uint64_t bits = 3 + 14 + 3 * (uint64_t)hclen + llen[256];
    static const unsigned char clxbits[19] = {[16] = 2, [17] = 3, [18] = 7};
    for (int i = 0; i < ncl; i++)
        bits += cllen[cls[i]] + clxbits[cls[i]];
    for (int s = 0; s < 256; s++)
        bits += (uint64_t)lfreq[s] * llen[s];
    for (int s = 257; s < 286; s++)
        bits += (uint64_t)lfreq[s] * (llen[s] + len_extra[s - 257] + 1);
    if (bw_reserve(w, (size_t)(bits / 8) + 8))
        return -1;
    bw_put(w, (uint32_t)(final | 2 << 1), 3); /* BFINAL, BTYPE = 2 (dynamic) */
    bw_put(w, (uint32_t)(hlit - 257), 5);
    bw_put(w, (uint32_t)(hdist - 1), 5);
    bw_put(w, (uint32_t)(hclen - 4), 4);
    for (int i = 0; i < hclen; i++)
        bw_put(w, cllen[cl_order[i]], 3);
    for (int i = 0; i < ncl; i++) {
        bw_put(w, clcode[cls[i]], cllen[cls[i]]);
        if (clxbits[cls[i]])
            bw_put(w, clx[i], clxbits[cls[i]]);
    }
    for (size_t i = 0; i < ntok; i++) {
        unsigned t = tok[i];
        if (t < 256) {
            bw_put(w, lcode[t], llen[t]);
        } else {
            unsigned l = t - 256, s = ls->sym[l];
            /* code, extra bits, then distance code 0 (the one-bit code 0) */
            bw_put(w, lcode[s] | (uint32_t)ls->eval[l] << llen[s], llen[s] + ls->ebits[l] + 1);
        }
    }
    bw_put(w, lcode[256], llen[256]);
    return 0;
}

/* Raw deflate of d[0..n): blocks of BLOCK_TOKENS tokens; the stream's last
 * strip ends with a final block, the others with an empty stored block
 * (what Z_SYNC_FLUSH writes) so that the next strip starts on a byte. */
static int deflate_rle(bitw *w, const unsigned char *d, size_t n, int last, uint16_t *tok,
                       const lensym *ls)
{
    size_t i = 0;
    do {
        uint32_t lfreq[286] = {0};
        size_t nt = 0;
        while (i < n && nt < BLOCK_TOKENS) {
            unsigned char c = d[i];
            if (i > 0 && c == d[i - 1] && i + 2 < n && d[i + 1] == c && d[i + 2] == c) {
                size_t lim = n - i < 258 ? n - i : 258, l = 3;
                while (l < lim && d[i + l] == c)
                    l++;
                tok[nt++] = (uint16_t)(256 + l);
                lfreq[ls->sym[l]]++;
                i += l;
            } else {
                tok[nt++] = c;
                lfreq[c]++;
                i++;
            }
        }
        if (write_block(w, tok, nt, lfreq, last && i == n, ls))
            return -1;
    } while (i < n);
    if (bw_reserve(w, 16))
        return -1;
    if (!last) {
        bw_put(w, 0, 3); /* BFINAL 0, BTYPE 0 (stored), then LEN 0, NLEN 0xffff */
        bw_align(w);
        static const unsigned char empty[4] = {0, 0, 0xff, 0xff};
        memcpy(w->p + w->len, empty, 4);
        w->len += 4;
    } else {
        bw_align(w);
    }
    return 0;
}

/* The strip's deflate bytes as IDAT chunks of at most CHUNK_DATA bytes,
 * the first one after the zlib header when the strip is the first. */
static int make_chunks(png_strip *s, const unsigned char *z, size_t n)
{
    static const unsigned char hdr[2] = {0x78, 0x01}; /* deflate, 32K window,
                                                        * "fastest"; 0x7801 % 31 == 0 */
    size_t total = n + (s->first ? 2 : 0);
    size_t nchunks = (total + CHUNK_DATA - 1) / CHUNK_DATA;
    s->buf = malloc(total + 12 * nchunks);
    if (!s->buf)
        return -1;
    unsigned char *o = s->buf;
    size_t done = 0;
    while (done < n) {
        size_t room = CHUNK_DATA, k = 0;
        unsigned char *data = o + 8;
        if (s->first && done == 0) {
            memcpy(data, hdr, 2);
            k = 2;
        }
        size_t take = n - done < room - k ? n - done : room - k;
        memcpy(data + k, z + done, take);
        done += take;
        put32(o, (uint32_t)(k + take));
        memcpy(o + 4, "IDAT", 4);
        put32(data + k + take, (uint32_t)crc32(0, o + 4, (uInt)(4 + k + take)));
        o += 12 + k + take;
    }
    s->len = (size_t)(o - s->buf);
    return 0;
}

static void do_strip(const png_job *j, png_strip *s, unsigned char *raw, bitw *w, uint16_t *tok,
                     const lensym *ls)
{
    const rcpt_image *img = j->img;
    const size_t rowbytes = (size_t)img->width * (size_t)img->channels;
    for (int y = s->y0; y < s->y1; y++)
        filter_sub(raw + (size_t)(y - s->y0) * (rowbytes + 1),
                   img->px + (size_t)y * img->stride, rowbytes, img->channels);
    s->raw = (size_t)(s->y1 - s->y0) * (rowbytes + 1);
    s->adler = adler32_z(adler32(0, NULL, 0), raw, s->raw);
    w->len = 0;
    w->bb = 0;
    w->bc = 0;
    if (deflate_rle(w, raw, s->raw, s->last, tok, ls) || make_chunks(s, w->p, w->len))
        s->failed = 1;
}

static void *png_worker(void *arg)
{
    png_job *j = arg;
    const rcpt_image *img = j->img;
    size_t rowbytes = (size_t)img->width * (size_t)img->channels + 1;
    size_t rows = STRIP_BYTES / rowbytes > 0 ? STRIP_BYTES / rowbytes : 1;
    unsigned char *raw = malloc(rows * rowbytes);
    uint16_t *tok = malloc(BLOCK_TOKENS * sizeof *tok);
    lensym *ls = malloc(sizeof *ls);
    bitw w = {NULL, 0, 0, 0, 0};
    int ok = raw && tok && ls;
    if (ls)
        lensym_init(ls);
    for (;;) {
        int i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (i >= j->nstrips)
            break;
        if (ok)
            do_strip(j, &j->strips[i], raw, &w, tok, ls);
        else
            j->strips[i].failed = 1;
    }
    free(w.p);
    free(raw);
    free(tok);
    free(ls);
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
    size_t total = 8 + 25 + 16 + 12;
    for (int i = 0; i < nstrips; i++) {
        if (strips[i].failed)
            rc = RCPT_ENOMEM;
        else {
            adler = i == 0 ? strips[i].adler
                           : adler32_combine(adler, strips[i].adler, (z_off_t)strips[i].raw);
            total += strips[i].len;
        }
    }
    size_t start = out->len;
    if (rc == RCPT_OK && rcpt_buf_reserve(out, total) != RCPT_OK)
        rc = RCPT_ENOMEM;
    if (rc == RCPT_OK) {
        unsigned char adl[4];
        put32(adl, (uint32_t)adler);
        static const unsigned char sig[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
        unsigned char ihdr[13];
        put32(ihdr, (uint32_t)img->width);
        put32(ihdr + 4, (uint32_t)img->height);
        ihdr[8] = 8; /* bit depth */
        ihdr[9] = img->channels == 1 ? 0 : img->channels == 3 ? 2 : 6; /* gray, RGB, RGBA */
        ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
        rcpt_buf_append(out, sig, 8);
        put_chunk(out, "IHDR", ihdr, 13);
        /* each strip freed once copied, so that the allocator can reuse it
         * (the compressed image is briefly held twice: see docs/image.md) */
        for (int i = 0; i < nstrips; i++) {
            rcpt_buf_append(out, strips[i].buf, strips[i].len);
            free(strips[i].buf);
            strips[i].buf = NULL;
        }
        put_chunk(out, "IDAT", adl, 4); /* the zlib stream's Adler-32 */
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
