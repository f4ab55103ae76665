/* The image write: Line/Word/Letter (and ReceiptLine/Word/Letter) rows of a
 * parsed OCR document, serialised straight into one arena (no item trees,
 * no re-parsing) and handed to the backend's atomic replace.  The JSON is
 * byte-identical to what rcpt_entity_item() + rcpt_item_to_json() give for
 * the same record (tests/c/test_store.c checks it). */
#include "store.h"

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
    static const char *const GN[6] = {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"};
    BEGIN(F_JSON);
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

int rcpt_ocr_rows(const char *image_id, const rcpt_ocr_doc *doc, int image_level, int receipt_id,
                  rcpt_buf *arena, rcpt_row **rows_out, size_t *n_out, rcpt_err *err)
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
    /* ~900 bytes per row; reserving avoids most reallocations */
    rcpt_buf_reserve(arena, total * (receipt_id > 0 ? 1100 : 900) + 64);
    size_t k = 0;
    int oom = 0;
    for (int pass = 0; pass < 2 && !oom; pass++) {
        if ((pass == 0 && !image_level) || (pass == 1 && receipt_id <= 0))
            continue;
        wctx w = {arena, image_id, pass == 0 ? 0 : receipt_id};
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

int rcpt_store_put_ocr(rcpt_store *st, const char *image_id, const rcpt_ocr_doc *doc,
                       int image_level, int receipt_id, rcpt_err *err)
{
    static const char *const IMG_T[] = {"LINE", "WORD", "LETTER"};
    static const char *const REC_T[] = {"RECEIPT_LINE", "RECEIPT_WORD", "RECEIPT_LETTER"};
    rcpt_buf arena = RCPT_BUF_INIT;
    rcpt_row *rows = NULL;
    size_t n = 0;
    int rc = rcpt_ocr_rows(image_id, doc, image_level, receipt_id, &arena, &rows, &n, err);
    if (rc) {
        rcpt_buf_free(&arena);
        return rc;
    }
    char pk[64], rprefix[48];
    snprintf(pk, sizeof pk, "IMAGE#%s", image_id);
    snprintf(rprefix, sizeof rprefix, "RECEIPT#%05d#LINE#", receipt_id);
    rcpt_replace del[2];
    size_t nd = 0;
    if (image_level)
        del[nd++] = (rcpt_replace){"LINE#", IMG_T, 3};
    if (receipt_id > 0)
        del[nd++] = (rcpt_replace){rprefix, REC_T, 3};
    rc = st->ops->replace(st, pk, del, nd, rows, n, err);
    free(rows);
    rcpt_buf_free(&arena);
    return rc;
}
