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

void rcpt__geom_json(rcpt_buf *b, const rcpt_ocr_geom *g);

enum { F_PK, F_SK, F_TYPE, F_G0, F_JSON = F_G0 + 6, F_N };
typedef struct row_off {
    size_t off[F_N];
    size_t json_len;
} row_off;

static void put5(rcpt_buf *b, long v)
{
    char tmp[24];
    int n = 0;
    if (v < 0) { /* never for validated ids; keep it printable */
        rcpt_buf_printf(b, "%05ld", v);
        return;
    }
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n < 5) tmp[n++] = '0';
    char out[24];
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    rcpt_buf_append(b, out, (size_t)n);
}

#define NONE ((size_t)-1)

typedef struct wctx {
    rcpt_buf *a;
    const char *id;
    long rid;
} wctx;

/* start a NUL-terminated string in the arena, return its offset */
static size_t begin(rcpt_buf *a) { return a->len; }
static void end(rcpt_buf *a) { rcpt_buf_putc(a, '\0'); }

static void sk_of(rcpt_buf *a, long rid, long l, long w, long c, int depth)
{
    if (rid > 0) { rcpt_buf_puts(a, "RECEIPT#"); put5(a, rid); rcpt_buf_putc(a, '#'); }
    rcpt_buf_puts(a, "LINE#"); put5(a, l);
    if (depth >= 2) { rcpt_buf_puts(a, "#WORD#"); put5(a, w); }
    if (depth >= 3) { rcpt_buf_puts(a, "#LETTER#"); put5(a, c); }
}

static void json_kv(rcpt_buf *a, const char *k, const rcpt_buf *src, size_t off, int first)
{
    if (!first)
        rcpt_buf_putc(a, ',');
    rcpt_buf_putc(a, '"');
    rcpt_buf_puts(a, k);
    rcpt_buf_puts(a, "\":{\"S\":");
    /* copy first: appending to a may move src (they are the same buffer) */
    char key[512];
    size_t n = strlen(src->data + off);
    if (n >= sizeof key)
        n = sizeof key - 1;
    memcpy(key, src->data + off, n);
    rcpt_buf_json_str(a, key, n);
    rcpt_buf_putc(a, '}');
}

static void one_row(wctx *w, row_off *ro, const char *type, int depth, const rcpt_ocr_geom *g,
                    long l, long wd, long c, const rcpt_ocr_word *word)
{
    rcpt_buf *a = w->a;
    int rec = w->rid > 0;
    for (int i = 0; i < F_N; i++)
        ro->off[i] = NONE;
    ro->off[F_PK] = begin(a); rcpt_buf_puts(a, "IMAGE#"); rcpt_buf_puts(a, w->id); end(a);
    ro->off[F_SK] = begin(a); sk_of(a, w->rid, l, wd, c, depth); end(a);
    ro->off[F_TYPE] = begin(a); rcpt_buf_puts(a, type); end(a);
    if (!rec && depth == 1) {
        ro->off[F_G0 + 0] = ro->off[F_PK];
        ro->off[F_G0 + 1] = ro->off[F_SK];
    } else if (!rec && depth == 2) {
        ro->off[F_G0 + 2] = ro->off[F_PK];
        ro->off[F_G0 + 3] = ro->off[F_SK];
    } else if (rec && depth < 3) {
        ro->off[F_G0 + 0] = begin(a); rcpt_buf_puts(a, "EMBEDDING_STATUS#NONE"); end(a);
        ro->off[F_G0 + 1] = begin(a); rcpt_buf_puts(a, depth == 2 ? "WORD#IMAGE#" : "LINE#IMAGE#");
        rcpt_buf_puts(a, w->id); rcpt_buf_putc(a, '#'); sk_of(a, w->rid, l, wd, c, depth); end(a);
        if (depth == 2) {
            ro->off[F_G0 + 2] = begin(a); rcpt_buf_puts(a, "RECEIPT"); end(a);
            ro->off[F_G0 + 3] = begin(a); rcpt_buf_puts(a, "IMAGE#"); rcpt_buf_puts(a, w->id);
            rcpt_buf_putc(a, '#'); sk_of(a, w->rid, l, wd, c, depth); end(a);
        }
        ro->off[F_G0 + 4] = begin(a); rcpt_buf_puts(a, "IMAGE#"); rcpt_buf_puts(a, w->id);
        rcpt_buf_puts(a, "#RECEIPT#"); put5(a, w->rid); end(a);
        ro->off[F_G0 + 5] = begin(a); rcpt_buf_puts(a, depth == 2 ? "WORD" : "LINE"); end(a);
    }
    static const char *const GN[6] = {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"};
    size_t js = begin(a);
    ro->off[F_JSON] = js;
    rcpt_buf_putc(a, '{');
    json_kv(a, "PK", a, ro->off[F_PK], 1);
    json_kv(a, "SK", a, ro->off[F_SK], 0);
    for (int i = 0; i < 6; i++)
        if (ro->off[F_G0 + i] != NONE)
            json_kv(a, GN[i], a, ro->off[F_G0 + i], 0);
    json_kv(a, "TYPE", a, ro->off[F_TYPE], 0);
    rcpt_buf_putc(a, ',');
    rcpt__geom_json(a, g);
    if (word) {
        if (word->ed_type) {
            rcpt_buf_puts(a, ",\"extracted_data\":{\"M\":{\"type\":{\"S\":");
            rcpt_buf_json_str(a, word->ed_type, strlen(word->ed_type));
            rcpt_buf_puts(a, "},\"value\":{\"S\":");
            const char *v = word->ed_value ? word->ed_value : "";
            rcpt_buf_json_str(a, v, word->ed_value ? word->ed_value_len : 0);
            rcpt_buf_puts(a, "}}}");
        } else {
            rcpt_buf_puts(a, ",\"extracted_data\":{\"NULL\":true}");
        }
    }
    if (rec && depth < 3) {
        rcpt_buf_puts(a, ",\"embedding_status\":{\"S\":\"NONE\"},\"is_noise\":{\"BOOL\":");
        rcpt_buf_puts(a, depth == 2 && word->is_noise ? "true}" : "false}");
        rcpt_buf_puts(a, ",\"image_id\":{\"S\":\"");
        rcpt_buf_puts(a, w->id);
        rcpt_buf_printf(a, "\"},\"receipt_id\":{\"N\":\"%ld\"},\"line_id\":{\"N\":\"%ld\"}", w->rid, l);
        if (depth == 2)
            rcpt_buf_printf(a, ",\"word_id\":{\"N\":\"%ld\"}", wd);
    }
    rcpt_buf_putc(a, '}');
    ro->json_len = a->len - js;
    end(a);
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
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0 && !image_level) || (pass == 1 && receipt_id <= 0))
            continue;
        wctx w = {arena, image_id, pass == 0 ? 0 : receipt_id};
        /* depth first (line, its words, each word's letters): that is SK
         * order, so the (pk, sk) index is appended to instead of being
         * split at random places */
        for (size_t i = 0; i < doc->n_lines; i++) {
            const rcpt_ocr_line *ln = &doc->lines[i];
            one_row(&w, &offs[k++], pass ? "RECEIPT_LINE" : "LINE", 1, &ln->g, ln->line_id, 0, 0, NULL);
            for (size_t j = 0; j < ln->n_words; j++) {
                const rcpt_ocr_word *wd = &ln->words[j];
                one_row(&w, &offs[k++], pass ? "RECEIPT_WORD" : "WORD", 2, &wd->g, wd->line_id,
                        wd->word_id, 0, wd);
                for (size_t c = 0; c < wd->n_letters; c++) {
                    const rcpt_ocr_letter *lt = &wd->letters[c];
                    one_row(&w, &offs[k++], pass ? "RECEIPT_LETTER" : "LETTER", 3, &lt->g, lt->line_id,
                            lt->word_id, lt->letter_id, NULL);
                }
            }
        }
    }
    if (arena->oom) {
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
