/* The image write: Line/Word/Letter (and ReceiptLine/Word/Letter) rows of a
 * parsed OCR document, serialised straight into one arena (no item trees,
 * no re-parsing) and handed to the backend's atomic replace.  The JSON is
 * byte-identical to what rcpt_entity_item() + rcpt_item_to_json() give for
 * the same record (tests/c/test_store.c checks it). */
#include "ocr_compact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_PK, F_SK, F_TYPE, F_G0, F_JSON = F_G0 + 6, F_N };
typedef struct row_off {
    size_t off[F_N];
    size_t json_len;
} row_off;

/* A raw writer: each row reserves its worst case once, then writes with a
 * moving pointer (the image write formats ~100,000 numbers and ~250,000
 * small pieces; per-piece capacity checks showed in profiles). */
typedef struct wr {
    char *p;
} wr;

static inline void wput(wr *w, const char *s, size_t n)
{
    memcpy(w->p, s, n);
    w->p += n;
}
#define WLIT(w, s) wput((w), (s), sizeof(s) - 1)

static inline void wstr(wr *w, const char *s) { wput(w, s, strlen(s)); }

/* the same escaping as rcpt_buf_json_str (the item path must match) */
static void wjson(wr *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    *w->p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w->p++ = (char)c;
            continue;
        }
        *w->p++ = '\\';
        switch (c) {
        case '"': *w->p++ = '"'; break;
        case '\\': *w->p++ = '\\'; break;
        case '\n': *w->p++ = 'n'; break;
        case '\r': *w->p++ = 'r'; break;
        case '\t': *w->p++ = 't'; break;
        case '\b': *w->p++ = 'b'; break;
        case '\f': *w->p++ = 'f'; break;
        default:
            *w->p++ = 'u'; *w->p++ = '0'; *w->p++ = '0';
            *w->p++ = hex[c >> 4]; *w->p++ = hex[c & 15];
        }
    }
    *w->p++ = '"';
}

#define DEC_MAX 480 /* rcpt_fmt_decimal of any finite double at <= 20 places fits */

static inline void wdec(wr *w, double v, int d)
{
    int n = rcpt_fmt_decimal(v, d, w->p, DEC_MAX);
    w->p += n > 0 ? n : 0;
}

static void w5(wr *w, long v)
{
    char tmp[24];
    int n = 0;
    if (v < 0)
        v = 0; /* validated ids are >= 0 */
    if (v < 100000) { /* every id in practice: five digits, no loop */
        unsigned u = (unsigned)v;
        w->p[4] = (char)('0' + u % 10); u /= 10;
        w->p[3] = (char)('0' + u % 10); u /= 10;
        w->p[2] = (char)('0' + u % 10); u /= 10;
        w->p[1] = (char)('0' + u % 10); u /= 10;
        w->p[0] = (char)('0' + u);
        w->p += 5;
        return;
    }
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n < 5) tmp[n++] = '0';
    while (n) *w->p++ = tmp[--n];
}

static void wlong(wr *w, long v)
{
    char tmp[24];
    int n = 0;
    if (v < 0) { *w->p++ = '-'; v = -v; }
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *w->p++ = tmp[--n];
}

#define NONE ((size_t)-1)

typedef struct wctx {
    rcpt_buf *a;
    const char *id;
    long rid;
    int compact;       /* the blob of ocr_compact.h instead of the JSON */
} wctx;

static void sk_of(wr *w, long rid, long l, long wd, long c, int depth)
{
    if (rid > 0) { WLIT(w, "RECEIPT#"); w5(w, rid); *w->p++ = '#'; }
    WLIT(w, "LINE#"); w5(w, l);
    if (depth >= 2) { WLIT(w, "#WORD#"); w5(w, wd); }
    if (depth >= 3) { WLIT(w, "#LETTER#"); w5(w, c); }
}

static void wpoint(wr *w, const char *name, rcpt_point p)
{
    *w->p++ = '"';
    wstr(w, name);
    WLIT(w, "\":{\"M\":{\"x\":{\"N\":\"");
    wdec(w, p.x, RCPT_DP_GEOM);
    WLIT(w, "\"},\"y\":{\"N\":\"");
    wdec(w, p.y, RCPT_DP_GEOM);
    WLIT(w, "\"}}}");
}

/* the geometry attributes in to_item() order (entities.c set_geom) */
static void wgeom(wr *w, const rcpt_ocr_geom *g)
{
    WLIT(w, "\"text\":{\"S\":");
    wjson(w, g->text, g->text_len);
    WLIT(w, "},\"bounding_box\":{\"M\":{\"x\":{\"N\":\"");
    wdec(w, g->bbox.x, RCPT_DP_GEOM);
    WLIT(w, "\"},\"y\":{\"N\":\"");
    wdec(w, g->bbox.y, RCPT_DP_GEOM);
    WLIT(w, "\"},\"width\":{\"N\":\"");
    wdec(w, g->bbox.width, RCPT_DP_GEOM);
    WLIT(w, "\"},\"height\":{\"N\":\"");
    wdec(w, g->bbox.height, RCPT_DP_GEOM);
    WLIT(w, "\"}}},");
    wpoint(w, "top_right", g->top_right);
    *w->p++ = ',';
    wpoint(w, "top_left", g->top_left);
    *w->p++ = ',';
    wpoint(w, "bottom_right", g->bottom_right);
    *w->p++ = ',';
    wpoint(w, "bottom_left", g->bottom_left);
    WLIT(w, ",\"angle_degrees\":{\"N\":\"");
    wdec(w, g->angle_degrees, RCPT_DP_ANGLE);
    WLIT(w, "\"},\"angle_radians\":{\"N\":\"");
    wdec(w, g->angle_radians, RCPT_DP_ANGLE);
    WLIT(w, "\"},\"confidence\":{\"N\":\"");
    wdec(w, g->confidence, RCPT_DP_CONF);
    WLIT(w, "\"}");
}

static void json_kv(wr *w, const char *k, const char *base, size_t off, int first)
{
    if (!first)
        *w->p++ = ',';
    *w->p++ = '"';
    wstr(w, k);
    WLIT(w, "\":{\"S\":\"");
    /* key strings are made of the validated UUID, digits and ASCII names:
     * nothing to escape */
    wstr(w, base + off);
    WLIT(w, "\"}");
}

/* ---- the compact encoding (SQLite backend) ----------------------------------
 * What the JSON of an OCR row is made of, without the formatting: the JSON
 * of a row is ~900 bytes of which ~600 are 15 numbers printed to 18-20
 * decimals, and formatting them plus storing the text was most of an image
 * write.  The blob keeps the doubles' bits, so rendering it with the same
 * writer gives byte-identical JSON (test_store checks it).  Layout, all
 * integers little-endian:
 *   0  u8  version (1)          1  u8  depth (1 line, 2 word, 3 letter)
 *   2  u8  flags: 1 is_noise, 2 extracted_data present (words only)
 *   3  u8  0
 *   4  i32 receipt_id (0: image row)   8 i32 line_id  12 i32 word_id
 *   16 i32 letter_id
 *   20 15 x f64 bits: bbox x y w h, top_left x y, top_right x y,
 *                     bottom_left x y, bottom_right x y, angle_degrees,
 *                     angle_radians, confidence
 *   140 u32 text length, text; when flag 2: u32 + extracted_data type,
 *       u32 + extracted_data value
 * The image id is the row's PK ("IMAGE#<uuid>"), the TYPE follows from
 * depth and receipt_id, the keys from the ids. */
enum { CB_HEAD = 140, CB_VERSION = 1 };

/* little-endian on disk; a plain copy on a little-endian host */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CB_HOST_LE 1
#else
#define CB_HOST_LE 0
#endif

static inline void put_u32(wr *w, uint32_t v)
{
    if (CB_HOST_LE) {
        memcpy(w->p, &v, 4);
        w->p += 4;
        return;
    }
    for (int i = 0; i < 4; i++)
        *w->p++ = (char)(v >> (8 * i));
}

static inline uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_f64(wr *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    if (CB_HOST_LE) {
        memcpy(w->p, &v, 8);
        w->p += 8;
        return;
    }
    for (int i = 0; i < 8; i++)
        *w->p++ = (char)(v >> (8 * i));
}

static inline double get_f64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

static void wblob(wr *w, int depth, long rid, long l, long wd, long c, const rcpt_ocr_geom *g,
                  const rcpt_ocr_word *word)
{
    int has_ed = word && word->ed_type;
    *w->p++ = CB_VERSION;
    *w->p++ = (char)depth;
    *w->p++ = (char)((word && word->is_noise ? 1 : 0) | (has_ed ? 2 : 0));
    *w->p++ = 0;
    put_u32(w, (uint32_t)rid);
    put_u32(w, (uint32_t)l);
    put_u32(w, (uint32_t)wd);
    put_u32(w, (uint32_t)c);
    const double v[15] = {g->bbox.x, g->bbox.y, g->bbox.width, g->bbox.height, g->top_left.x,
                          g->top_left.y, g->top_right.x, g->top_right.y, g->bottom_left.x,
                          g->bottom_left.y, g->bottom_right.x, g->bottom_right.y, g->angle_degrees,
                          g->angle_radians, g->confidence};
    for (int i = 0; i < 15; i++)
        put_f64(w, v[i]);
    put_u32(w, (uint32_t)g->text_len);
    wput(w, g->text, g->text_len);
    if (has_ed) {
        size_t tl = strlen(word->ed_type), vl = word->ed_value ? word->ed_value_len : 0;
        put_u32(w, (uint32_t)tl);
        wput(w, word->ed_type, tl);
        put_u32(w, (uint32_t)vl);
        if (vl)
            wput(w, word->ed_value, vl);
    }
}

static int one_row(wctx *x, row_off *ro, const char *type, int depth, const rcpt_ocr_geom *g,
                   long l, long wd, long c, const rcpt_ocr_word *word)
{
    rcpt_buf *a = x->a;
    int rec = x->rid > 0;
    size_t ed = word && word->ed_type ? strlen(word->ed_type) + (word->ed_value ? word->ed_value_len : 0) : 0;
    size_t bound = 4096 + 15 * (DEC_MAX + 40) + 6 * (g->text_len + ed);
    if (rcpt_buf_reserve(a, bound))
        return RCPT_ENOMEM;
    char *base = a->data;
    wr w = {base + a->len};
#define BEGIN(f) (ro->off[f] = (size_t)(w.p - base))
#define END() (*w.p++ = '\0')
    for (int i = 0; i < F_N; i++)
        ro->off[i] = NONE;
    BEGIN(F_PK); WLIT(&w, "IMAGE#"); wstr(&w, x->id); END();
    BEGIN(F_SK); sk_of(&w, x->rid, l, wd, c, depth); END();
    BEGIN(F_TYPE); wstr(&w, type); END();
    if (!rec && depth == 1) {
        ro->off[F_G0 + 0] = ro->off[F_PK];
        ro->off[F_G0 + 1] = ro->off[F_SK];
    } else if (!rec && depth == 2) {
        ro->off[F_G0 + 2] = ro->off[F_PK];
        ro->off[F_G0 + 3] = ro->off[F_SK];
    } else if (rec && depth < 3) {
        BEGIN(F_G0 + 0); WLIT(&w, "EMBEDDING_STATUS#NONE"); END();
        BEGIN(F_G0 + 1);
        if (depth == 2) WLIT(&w, "WORD#IMAGE#"); else WLIT(&w, "LINE#IMAGE#");
        wstr(&w, x->id); *w.p++ = '#'; sk_of(&w, x->rid, l, wd, c, depth); END();
        if (depth == 2) {
            BEGIN(F_G0 + 2); WLIT(&w, "RECEIPT"); END();
            BEGIN(F_G0 + 3); WLIT(&w, "IMAGE#"); wstr(&w, x->id); *w.p++ = '#';
            sk_of(&w, x->rid, l, wd, c, depth); END();
        }
        BEGIN(F_G0 + 4); WLIT(&w, "IMAGE#"); wstr(&w, x->id); WLIT(&w, "#RECEIPT#"); w5(&w, x->rid); END();
        BEGIN(F_G0 + 5); if (depth == 2) WLIT(&w, "WORD"); else WLIT(&w, "LINE"); END();
    }
    BEGIN(F_JSON);
    if (x->compact) {
        wblob(&w, depth, x->rid, l, wd, c, g, word);
        ro->json_len = (size_t)(w.p - base) - ro->off[F_JSON];
        a->len = (size_t)(w.p - base);
        return RCPT_OK;
    }
    static const char *const GN[6] = {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"};
    *w.p++ = '{';
    json_kv(&w, "PK", base, ro->off[F_PK], 1);
    json_kv(&w, "SK", base, ro->off[F_SK], 0);
    for (int i = 0; i < 6; i++)
        if (ro->off[F_G0 + i] != NONE)
            json_kv(&w, GN[i], base, ro->off[F_G0 + i], 0);
    json_kv(&w, "TYPE", base, ro->off[F_TYPE], 0);
    *w.p++ = ',';
    wgeom(&w, g);
    if (word) {
        if (word->ed_type) {
            WLIT(&w, ",\"extracted_data\":{\"M\":{\"type\":{\"S\":");
            wjson(&w, word->ed_type, strlen(word->ed_type));
            WLIT(&w, "},\"value\":{\"S\":");
            wjson(&w, word->ed_value ? word->ed_value : "", word->ed_value ? word->ed_value_len : 0);
            WLIT(&w, "}}}");
        } else {
            WLIT(&w, ",\"extracted_data\":{\"NULL\":true}");
        }
    }
    if (rec && depth < 3) {
        WLIT(&w, ",\"embedding_status\":{\"S\":\"NONE\"},\"is_noise\":{\"BOOL\":");
        if (depth == 2 && word->is_noise) WLIT(&w, "true}"); else WLIT(&w, "false}");
        WLIT(&w, ",\"image_id\":{\"S\":\"");
        wstr(&w, x->id);
        WLIT(&w, "\"},\"receipt_id\":{\"N\":\"");
        wlong(&w, x->rid);
        WLIT(&w, "\"},\"line_id\":{\"N\":\"");
        wlong(&w, l);
        WLIT(&w, "\"}");
        if (depth == 2) {
            WLIT(&w, ",\"word_id\":{\"N\":\"");
            wlong(&w, wd);
            WLIT(&w, "\"}");
        }
    }
    *w.p++ = '}';
    ro->json_len = (size_t)(w.p - base) - ro->off[F_JSON];
    END();
#undef BEGIN
#undef END
    a->len = (size_t)(w.p - base);
    return RCPT_OK;
}

static int check_geom(const rcpt_ocr_geom *g, const char *what, size_t i, rcpt_err *err)
{
    const double v[] = {g->bbox.x, g->bbox.y, g->bbox.width, g->bbox.height, g->top_left.x,
                        g->top_left.y, g->top_right.x, g->top_right.y, g->bottom_left.x,
                        g->bottom_left.y, g->bottom_right.x, g->bottom_right.y, g->angle_degrees,
                        g->angle_radians, g->confidence};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        if (v[k] != v[k] || v[k] - v[k] != 0)
            return rcpt_err_set(err, RCPT_EINVAL, "%s[%zu]: non-finite number", what, i);
    if (!(g->confidence > 0 && g->confidence <= 1))
        return rcpt_err_set(err, RCPT_EINVAL, "%s[%zu].confidence: must be > 0 and <= 1", what, i);
    if (!g->text)
        return rcpt_err_set(err, RCPT_EINVAL, "%s[%zu].text: missing", what, i);
    return RCPT_OK;
}

static int make_rows(const char *image_id, const rcpt_ocr_doc *doc, int image_level, int receipt_id,
                     int compact, rcpt_buf *arena, rcpt_row **rows_out, size_t *n_out, rcpt_err *err)
{
    *rows_out = NULL;
    *n_out = 0;
    if (!rcpt_is_uuid4(image_id))
        return rcpt_err_set(err, RCPT_EINVAL, "image_id: must be a UUIDv4");
    if (receipt_id < 0)
        return rcpt_err_set(err, RCPT_EINVAL, "receipt_id: must be greater than 0");
    if (!image_level && receipt_id == 0)
        return rcpt_err_set(err, RCPT_EINVAL, "put_ocr: nothing to write (no image rows, no receipt_id)");
    int rc;
    for (size_t i = 0; i < doc->n_lines; i++)
        if ((rc = check_geom(&doc->lines[i].g, "lines", i, err)))
            return rc;
    for (size_t i = 0; i < doc->n_words; i++)
        if ((rc = check_geom(&doc->words[i].g, "words", i, err)))
            return rc;
    for (size_t i = 0; i < doc->n_letters; i++)
        if ((rc = check_geom(&doc->letters[i].g, "letters", i, err)))
            return rc;
    size_t per = doc->n_lines + doc->n_words + doc->n_letters, nested = doc->n_lines;
    for (size_t i = 0; i < doc->n_lines; i++) {
        nested += doc->lines[i].n_words;
        for (size_t j = 0; j < doc->lines[i].n_words; j++)
            nested += doc->lines[i].words[j].n_letters;
    }
    if (nested != per) /* rows are written from the nested pointers */
        return rcpt_err_set(err, RCPT_EINVAL, "put_ocr: doc is inconsistent (%zu nested records, %zu counted)",
                            nested, per);
    size_t total = per * ((image_level ? 1 : 0) + (receipt_id > 0 ? 1 : 0));
    row_off *offs = malloc((total ? total : 1) * sizeof *offs);
    rcpt_row *rows = calloc(total ? total : 1, sizeof *rows);
    if (!offs || !rows) {
        free(offs);
        free(rows);
        return rcpt_err_set(err, RCPT_ENOMEM, "put_ocr: out of memory");
    }
    /* ~900 bytes per row (~300 compact); reserving avoids most reallocations */
    rcpt_buf_reserve(arena, total * (compact ? 400 : receipt_id > 0 ? 1100 : 900) + 64);
    size_t k = 0;
    int oom = 0;
    for (int pass = 0; pass < 2 && !oom; pass++) {
        if ((pass == 0 && !image_level) || (pass == 1 && receipt_id <= 0))
            continue;
        wctx w = {arena, image_id, pass == 0 ? 0 : receipt_id, compact};
        /* depth first (line, its words, each word's letters): that is SK
         * order, so the (pk, sk) index is appended to instead of being
         * split at random places */
        for (size_t i = 0; i < doc->n_lines; i++) {
            const rcpt_ocr_line *ln = &doc->lines[i];
            oom |= one_row(&w, &offs[k++], pass ? "RECEIPT_LINE" : "LINE", 1, &ln->g, ln->line_id, 0, 0, NULL);
            for (size_t j = 0; j < ln->n_words; j++) {
                const rcpt_ocr_word *wd = &ln->words[j];
                oom |= one_row(&w, &offs[k++], pass ? "RECEIPT_WORD" : "WORD", 2, &wd->g, wd->line_id,
                               wd->word_id, 0, wd);
                for (size_t c = 0; c < wd->n_letters; c++) {
                    const rcpt_ocr_letter *lt = &wd->letters[c];
                    oom |= one_row(&w, &offs[k++], pass ? "RECEIPT_LETTER" : "LETTER", 3, &lt->g,
                                   lt->line_id, lt->word_id, lt->letter_id, NULL);
                }
            }
        }
    }
    if (oom || arena->oom) {
        free(offs);
        free(rows);
        return rcpt_err_set(err, RCPT_ENOMEM, "put_ocr: out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        const char *base = arena->data;
        rows[i].pk = base + offs[i].off[F_PK];
        rows[i].sk = base + offs[i].off[F_SK];
        rows[i].type = base + offs[i].off[F_TYPE];
        for (int g = 0; g < 6; g++)
            rows[i].gsi[g] = offs[i].off[F_G0 + g] == NONE ? NULL : base + offs[i].off[F_G0 + g];
        rows[i].json = base + offs[i].off[F_JSON];
        rows[i].json_len = offs[i].json_len;
    }
    free(offs);
    *rows_out = rows;
    *n_out = k;
    return RCPT_OK;
}

int rcpt_ocr_rows(const char *image_id, const rcpt_ocr_doc *doc, int image_level, int receipt_id,
                  rcpt_buf *arena, rcpt_row **rows, size_t *n, rcpt_err *err)
{
    return make_rows(image_id, doc, image_level, receipt_id, 0, arena, rows, n, err);
}

int rcpt__ocr_rows_compact(const char *image_id, const rcpt_ocr_doc *doc, int image_level,
                           int receipt_id, rcpt_buf *arena, rcpt_row **rows, size_t *n, rcpt_err *err)
{
    return make_rows(image_id, doc, image_level, receipt_id, 1, arena, rows, n, err);
}

static int bad_blob(rcpt_err *err, const char *pk, const char *sk, const char *why)
{
    return rcpt_err_set(err, RCPT_EINVAL, "stored item %s / %s: compact OCR row: %s", pk, sk, why);
}

int rcpt__ocr_render(const char *pk, const char *sk, const void *blob, size_t len, rcpt_buf *out,
                     size_t *json_off, size_t *json_len, rcpt_err *err)
{
    static const char *const T[2][3] = {{"LINE", "WORD", "LETTER"},
                                        {"RECEIPT_LINE", "RECEIPT_WORD", "RECEIPT_LETTER"}};
    const unsigned char *p = blob, *end = p + len;
    if (len < CB_HEAD + 4 || p[0] != CB_VERSION)
        return bad_blob(err, pk, sk, "unknown version or too short");
    int depth = p[1], flags = p[2];
    if (depth < 1 || depth > 3 || (flags & ~3) || ((flags & 2) && depth != 2))
        return bad_blob(err, pk, sk, "bad header");
    if (strncmp(pk, "IMAGE#", 6) != 0 || !rcpt_is_uuid4(pk + 6))
        return bad_blob(err, pk, sk, "PK is not IMAGE#<uuid>");
    long rid = (int32_t)get_u32(p + 4), l = (int32_t)get_u32(p + 8), wd = (int32_t)get_u32(p + 12),
         c = (int32_t)get_u32(p + 16);
    double v[15];
    for (int i = 0; i < 15; i++)
        v[i] = get_f64(p + 20 + 8 * i);
    rcpt_ocr_geom g = {NULL, 0, {v[0], v[1], v[2], v[3]}, {v[4], v[5]}, {v[6], v[7]}, {v[8], v[9]},
                       {v[10], v[11]}, v[12], v[13], v[14]};
    const unsigned char *q = p + CB_HEAD;
    g.text_len = get_u32(q);
    q += 4;
    if (g.text_len > (size_t)(end - q))
        return bad_blob(err, pk, sk, "text runs past the end");
    g.text = (const char *)q;
    q += g.text_len;
    rcpt_ocr_word word;
    memset(&word, 0, sizeof word);
    word.is_noise = flags & 1;
    char *ed_type = NULL;
    if (flags & 2) {
        size_t tl, vl;
        if ((size_t)(end - q) < 4 || (tl = get_u32(q)) > (size_t)(end - q) - 4)
            return bad_blob(err, pk, sk, "extracted_data.type runs past the end");
        const unsigned char *tp = q + 4;
        q = tp + tl;
        if ((size_t)(end - q) < 4 || (vl = get_u32(q)) > (size_t)(end - q) - 4)
            return bad_blob(err, pk, sk, "extracted_data.value runs past the end");
        /* the writer takes a NUL-terminated type */
        if (!(ed_type = malloc(tl + 1)))
            return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        memcpy(ed_type, tp, tl);
        ed_type[tl] = '\0';
        word.ed_type = ed_type;
        word.ed_value = (const char *)q + 4;
        word.ed_value_len = vl;
        q += 4 + vl;
    }
    if (q != end) {
        free(ed_type);
        return bad_blob(err, pk, sk, "trailing bytes");
    }
    char id[37];
    memcpy(id, pk + 6, 37);
    wctx x = {out, id, rid, 0};
    row_off ro;
    int rc = one_row(&x, &ro, T[rid > 0][depth - 1], depth, &g, l, wd, c, depth == 2 ? &word : NULL);
    free(ed_type);
    if (rc || out->oom)
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    *json_off = ro.off[F_JSON];
    *json_len = ro.json_len;
    return RCPT_OK;
}

size_t rcpt__ocr_replace_set(const char *image_id, int image_level, int receipt_id, char pk[64],
                             char rprefix[48], rcpt_replace del[2])
{
    static const char *const IMG_T[] = {"LINE", "WORD", "LETTER"};
    static const char *const REC_T[] = {"RECEIPT_LINE", "RECEIPT_WORD", "RECEIPT_LETTER"};
    snprintf(pk, 64, "IMAGE#%s", image_id);
    snprintf(rprefix, 48, "RECEIPT#%05d#LINE#", receipt_id);
    size_t nd = 0;
    if (image_level)
        del[nd++] = (rcpt_replace){"LINE#", IMG_T, 3};
    if (receipt_id > 0)
        del[nd++] = (rcpt_replace){rprefix, REC_T, 3};
    return nd;
}

int rcpt_store_put_ocr(rcpt_store *st, const char *image_id, const rcpt_ocr_doc *doc,
                       int image_level, int receipt_id, rcpt_err *err)
{
    if (st->ops->put_ocr)
        return st->ops->put_ocr(st, image_id, doc, image_level, receipt_id, err);
    rcpt_buf arena = RCPT_BUF_INIT;
    rcpt_row *rows = NULL;
    size_t n = 0;
    int rc = rcpt_ocr_rows(image_id, doc, image_level, receipt_id, &arena, &rows, &n, err);
    if (rc) {
        rcpt_buf_free(&arena);
        return rc;
    }
    char pk[64], rprefix[48];
    rcpt_replace del[2];
    size_t nd = rcpt__ocr_replace_set(image_id, image_level, receipt_id, pk, rprefix, del);
    rc = st->ops->replace(st, pk, del, nd, rows, n, err);
    free(rows);
    rcpt_buf_free(&arena);
    return rc;
}
