/* core/ocr on the streaming reader: the edges the single pass adds.
 *   - every field of the real bar receipt equals what the DOM parser reads
 *     from the same bytes (an independent walk);
 *   - keys given twice (the last value wins, records of a replaced array
 *     are dropped), escaped keys;
 *   - a record error before a JSON error reports the JSON error;
 *   - the densest possible documents fit the arena sized from the length;
 *   - inputs are exact-size buffers (no NUL after them: ASan checks reads). */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "json/json.h"
#include "ocr/ocr.h"
#include "util/buf.h"

static int bits_eq(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static int parse_exact(const char *s, size_t len, rcpt_ocr_doc **doc, rcpt_err *err)
{
    char *b = malloc(len ? len : 1);
    if (len) memcpy(b, s, len);
    int rc = rcpt_ocr_parse(b, len, doc, err);
    free(b); /* the document owns its strings */
    return rc;
}

/* ---- the real file against the DOM ----------------------------------------- */

static int num(const rcpt_json *o, const char *k, double *out)
{
    const rcpt_json *v = rcpt_json_get(o, k);
    if (!v || v->type != RCPT_JSON_NUMBER) return 0;
    *out = v->u.num.d;
    return 1;
}

static int same_geom(const rcpt_json *o, const rcpt_ocr_geom *g)
{
    const rcpt_json *t = rcpt_json_get(o, "text");
    if (!t || t->u.str.len != g->text_len || memcmp(t->u.str.s, g->text, g->text_len) || g->text[g->text_len])
        return 0;
    double v;
    const rcpt_json *bb = rcpt_json_get(o, "bounding_box");
    if (!num(bb, "x", &v) || !bits_eq(v, g->bbox.x) || !num(bb, "y", &v) || !bits_eq(v, g->bbox.y) ||
        !num(bb, "width", &v) || !bits_eq(v, g->bbox.width) || !num(bb, "height", &v) ||
        !bits_eq(v, g->bbox.height))
        return 0;
    const char *pk[4] = {"top_left", "top_right", "bottom_left", "bottom_right"};
    const rcpt_point *pp[4] = {&g->top_left, &g->top_right, &g->bottom_left, &g->bottom_right};
    for (int i = 0; i < 4; i++) {
        const rcpt_json *p = rcpt_json_get(o, pk[i]);
        if (!num(p, "x", &v) || !bits_eq(v, pp[i]->x) || !num(p, "y", &v) || !bits_eq(v, pp[i]->y)) return 0;
    }
    return num(o, "angle_degrees", &v) && bits_eq(v, g->angle_degrees) && num(o, "angle_radians", &v) &&
           bits_eq(v, g->angle_radians) && num(o, "confidence", &v) && bits_eq(v, g->confidence);
}

static void test_bar_receipt_vs_dom(void)
{
    const char *dir = getenv("RCPT_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/vision_bar_receipt.ocr.json", dir ? dir : "../shared/data");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    rcpt_buf b = RCPT_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) rcpt_buf_append(&b, chunk, n);
    fclose(f);

    rcpt_json_doc *jd = NULL;
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    CHECK_INT(rcpt_json_parse(b.data, b.len, NULL, &jd, &err, NULL), RCPT_OK);
    CHECK_INT(parse_exact(b.data, b.len, &doc, &err), RCPT_OK);
    rcpt_buf_free(&b);
    if (!jd || !doc) goto out;
    const rcpt_json *lines = rcpt_json_get(rcpt_json_root(jd), "lines");
    CHECK_INT(doc->n_lines, rcpt_json_len(lines));
    size_t wn = 0, cn = 0, with_ed = 0;
    for (size_t i = 0; i < doc->n_lines && i < rcpt_json_len(lines); i++) {
        const rcpt_json *L = rcpt_json_at(lines, i);
        const rcpt_ocr_line *l = &doc->lines[i];
        CHECK(same_geom(L, &l->g));
        CHECK_INT(l->line_id, i + 1);
        const rcpt_json *words = rcpt_json_get(L, "words");
        CHECK_INT(l->n_words, rcpt_json_len(words));
        CHECK(l->words == doc->words + wn);
        for (size_t j = 0; j < l->n_words; j++, wn++) {
            const rcpt_json *W = rcpt_json_at(words, j);
            const rcpt_ocr_word *w = &l->words[j];
            CHECK(same_geom(W, &w->g));
            CHECK(w->line_id == (int)i + 1 && w->word_id == (int)j + 1);
            CHECK_INT(w->is_noise, rcpt_ocr_is_noise(w->g.text, w->g.text_len));
            const rcpt_json *ed = rcpt_json_get(W, "extracted_data");
            if (ed && ed->type == RCPT_JSON_OBJECT) {
                with_ed++;
                CHECK(w->ed_type && !strcmp(w->ed_type, rcpt_json_get(ed, "type")->u.str.s));
                CHECK(w->ed_value && !strcmp(w->ed_value, rcpt_json_get(ed, "value")->u.str.s));
            } else {
                CHECK(w->ed_type == NULL && w->ed_value == NULL);
            }
            const rcpt_json *letters = rcpt_json_get(W, "letters");
            CHECK_INT(w->n_letters, rcpt_json_len(letters));
            CHECK(w->letters == doc->letters + cn);
            for (size_t k = 0; k < w->n_letters; k++, cn++) {
                const rcpt_ocr_letter *c = &w->letters[k];
                CHECK(same_geom(rcpt_json_at(letters, k), &c->g));
                CHECK(c->line_id == (int)i + 1 && c->word_id == (int)j + 1 && c->letter_id == (int)k + 1);
            }
        }
    }
    CHECK_INT(wn, doc->n_words);
    CHECK_INT(cn, doc->n_letters);
    CHECK_INT(with_ed, 12);
out:
    rcpt_json_free(jd);
    rcpt_ocr_free(doc);
}

/* ---- small documents ------------------------------------------------------- */

#define GEOM "\"bounding_box\":{\"x\":0,\"y\":0,\"width\":0,\"height\":0},\"top_left\":{\"x\":0,\"y\":0}," \
             "\"top_right\":{\"x\":0,\"y\":0},\"bottom_left\":{\"x\":0,\"y\":0}," \
             "\"bottom_right\":{\"x\":0,\"y\":0},\"angle_degrees\":0,\"angle_radians\":0,\"confidence\":1"

static void expect_err(const char *json, const char *msg)
{
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    CHECK_INT(parse_exact(json, strlen(json), &doc, &err), RCPT_EINVAL);
    CHECK(doc == NULL);
    if (!strstr(err.msg, msg)) {
        fprintf(stderr, "  error \"%s\" does not contain \"%s\"\n", err.msg, msg);
        CHECK(0);
    }
}

static rcpt_ocr_doc *expect_ok(const char *json)
{
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    int rc = parse_exact(json, strlen(json), &doc, &err);
    CHECK_INT(rc, RCPT_OK);
    if (rc) fprintf(stderr, "  unexpected error: %s\n", err.msg);
    return doc;
}

static void test_duplicates_and_escapes(void)
{
    /* "words" twice: the second array replaces the first, its letters too */
    rcpt_ocr_doc *d = expect_ok(
        "{\"lines\":[{\"text\":\"L\"," GEOM ",\"words\":[{\"text\":\"old\"," GEOM
        ",\"letters\":[{\"text\":\"o\"," GEOM "}]},{\"text\":\"old2\"," GEOM "}],"
        "\"words\":[{\"text\":\"new\"," GEOM ",\"letters\":[{\"text\":\"x\"," GEOM "},{\"text\":\"y\"," GEOM
        "}],\"letters\":[{\"text\":\"n\"," GEOM "}]}]}]}");
    if (d) {
        CHECK_INT(d->n_lines, 1);
        CHECK_INT(d->n_words, 1);
        CHECK_INT(d->n_letters, 1);
        CHECK_STR(d->words[0].g.text, "new");
        CHECK_INT(d->lines[0].n_words, 1);
        CHECK_INT(d->words[0].n_letters, 1);
        CHECK_STR(d->words[0].letters[0].g.text, "n");
        CHECK(d->words[0].letters == d->letters);
        rcpt_ocr_free(d);
    }
    /* "lines" twice at the top: the last wins; text twice: the last wins;
     * extracted_data replaced by null: none */
    d = expect_ok("{\"lines\":[{\"text\":\"a\"," GEOM "},{\"text\":\"b\"," GEOM "}],"
                  "\"lines\":[{\"text\":\"first\",\"text\":\"second\"," GEOM ",\"words\":[{\"text\":\"w\"," GEOM
                  ",\"extracted_data\":{\"type\":\"phone\",\"value\":\"1\"},\"extracted_data\":null}]}]}");
    if (d) {
        CHECK_INT(d->n_lines, 1);
        CHECK_STR(d->lines[0].g.text, "second");
        CHECK_INT(d->lines[0].g.text_len, 6);
        CHECK(d->words[0].ed_type == NULL);
        rcpt_ocr_free(d);
    }
    /* a coordinate given twice: the last one (even after a bad one) */
    d = expect_ok("{\"lines\":[{\"text\":\"a\"," GEOM ",\"bounding_box\":{\"x\":\"no\",\"x\":0.25,\"y\":1,"
                  "\"width\":2,\"height\":3,\"z\":[1,{\"q\":null}]}}]}");
    if (d) {
        CHECK(bits_eq(d->lines[0].g.bbox.x, 0.25));
        CHECK(bits_eq(d->lines[0].g.bbox.height, 3));
        rcpt_ocr_free(d);
    }
    /* escaped keys mean what they decode to; escaped text is decoded, NUL kept */
    d = expect_ok("{\"l\\u0069nes\":[{\"te\\u0078t\":\"a\\u0000b\\n\\u00e9\"," GEOM ",\"w\\u006Frds\":[{\"text\":\"\\/\","
                  GEOM ",\"extracted_data\":{\"typ\\u0065\":\"url\",\"value\":\"http:\\/\\/x\"}}]}]}");
    if (d) {
        CHECK_INT(d->lines[0].g.text_len, 6);
        CHECK(memcmp(d->lines[0].g.text, "a\0b\n\xc3\xa9", 7) == 0); /* NUL-terminated too */
        CHECK_INT(d->n_words, 1);
        CHECK_STR(d->words[0].g.text, "/");
        CHECK_STR(d->words[0].ed_type, "url");
        CHECK_STR(d->words[0].ed_value, "http://x");
        CHECK_INT(d->words[0].ed_value_len, 8);
        rcpt_ocr_free(d);
    }
    /* unknown keys at every level are skipped, whatever they hold */
    d = expect_ok("{\"receipts\":[{\"a\":[[[]]]}],\"lines\":[{\"text\":\"a\"," GEOM ",\"letters\":5,\"extra\":{\"words\":1},"
                  "\"words\":[{\"text\":\"w\"," GEOM ",\"words\":null,\"letters\":[{\"text\":\"q\"," GEOM
                  ",\"letters\":\"x\",\"extracted_data\":7}]}]}],\"classification\":null}");
    if (d) {
        CHECK_INT(d->n_letters, 1);
        rcpt_ocr_free(d);
    }
    /* an extracted_data type with NUL is refused (it is stored as a C string) */
    expect_err("{\"lines\":[{\"text\":\"a\"," GEOM ",\"words\":[{\"text\":\"w\"," GEOM
               ",\"extracted_data\":{\"type\":\"a\\u0000b\",\"value\":\"v\"}}]}]}",
               "lines[0].words[0].extracted_data.type: must not contain NUL");
    expect_err("{\"lines\":[{\"text\":\"a\"," GEOM ",\"words\":[{\"text\":\"w\"," GEOM
               ",\"extracted_data\":{\"type\":\"t\",\"value\":[1]}}]}]}",
               "lines[0].words[0].extracted_data.value: must be a string, got array");
}

static void test_json_error_wins(void)
{
    /* the record is wrong (text is a number), and the document is broken
     * further on: the document is reported, as the DOM parser did */
    expect_err("{\"lines\":[{\"text\":1," GEOM "}], \"x\": [1,}", "JSON: byte");
    expect_err("{\"lines\":[{\"text\":1," GEOM "}]", "unexpected end of input");
    expect_err("[1, 2", "unexpected end of input");
    /* and when the rest is fine, the record */
    expect_err("{\"lines\":[{\"text\":1," GEOM "}], \"x\": [1]}", "lines[0].text: must be a string, got number");
    expect_err("[1, 2]", "document: must be an object");
    expect_err("{\"lines\":[]} {}", "unexpected data after the JSON value");
    expect_err("", "empty document");
}

/* The densest documents: minimal records, no spaces.  The arena is sized
 * from the length alone, so these must fit. */
static void test_dense(void)
{
    static const char *const shapes[3] = {"lines", "words", "letters"};
    for (int s = 0; s < 3; s++) {
        rcpt_buf b = RCPT_BUF_INIT;
        int n = 3000;
        rcpt_buf_puts(&b, "{\"lines\":[");
        if (s >= 1) rcpt_buf_puts(&b, "{\"text\":\"\"," GEOM ",\"words\":[");
        if (s == 2) rcpt_buf_puts(&b, "{\"text\":\"\"," GEOM ",\"letters\":[");
        for (int i = 0; i < n; i++) {
            if (i) rcpt_buf_putc(&b, ',');
            rcpt_buf_puts(&b, s == 2 ? "{\"text\":\"a\"," GEOM "}" : "{\"text\":\"\"," GEOM "}");
        }
        if (s == 2) rcpt_buf_puts(&b, "]}");
        if (s >= 1) rcpt_buf_puts(&b, "]}");
        rcpt_buf_puts(&b, "]}");
        rcpt_ocr_doc *d = NULL;
        rcpt_err err = {0};
        int rc = parse_exact(b.data, b.len, &d, &err);
        CHECK_INT(rc, RCPT_OK);
        if (rc) fprintf(stderr, "  dense %s: %s\n", shapes[s], err.msg);
        if (d) {
            size_t got = s == 0 ? d->n_lines : s == 1 ? d->n_words : d->n_letters;
            CHECK_INT(got, n);
            if (s == 2) CHECK_INT(d->letters[n - 1].letter_id, n);
            rcpt_ocr_free(d);
        }
        rcpt_buf_free(&b);
    }
}

int main(void)
{
    test_bar_receipt_vs_dom();
    test_duplicates_and_escapes();
    test_json_error_wins();
    test_dense();
    return check_done();
}
