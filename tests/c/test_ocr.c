/* core/ocr: the real Vision file, the validation rules with their paths,
 * the letter rule, is_noise (vectors checked against Python's re). */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "ocr/ocr.h"
#include "util/buf.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    rcpt_buf b = RCPT_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) rcpt_buf_append(&b, chunk, n);
    fclose(f);
    return rcpt_buf_detach(&b, len);
}

static int bits_eq(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_bar_receipt(void)
{
    const char *dir = getenv("RCPT_TEST_DATA");
    CHECK(dir != NULL);
    if (!dir) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/vision_bar_receipt.ocr.json", dir);
    size_t len = 0;
    char *json = read_file(path, &len);
    CHECK(json != NULL);
    if (!json) return;
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    CHECK_INT(rcpt_ocr_parse(json, len, &doc, &err), RCPT_OK);
    free(json); /* the document owns its strings */
    if (!doc) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_INT(doc->n_lines, 24);
    CHECK_INT(doc->n_words, 62);
    CHECK_INT(doc->n_letters, 306);
    const rcpt_ocr_line *l = &doc->lines[0];
    CHECK_STR(l->g.text, "614 Gravier LLC");
    CHECK_INT(l->g.text_len, 15);
    /* the literals are the file's digits; the compiler rounds them correctly */
    CHECK(bits_eq(l->g.bbox.x, 0.2577519449629466));
    CHECK(bits_eq(l->g.bbox.y, 0.7993551582887017));
    CHECK(bits_eq(l->g.bbox.width, 0.24224805075024802));
    CHECK(bits_eq(l->g.bbox.height, 0.02041228328432365));
    CHECK(bits_eq(l->g.bottom_left.x, 0.2577519449629466));
    CHECK(bits_eq(l->g.confidence, 0.5));
    CHECK(bits_eq(l->g.angle_degrees, 0.0));
    CHECK_INT(l->line_id, 1);
    CHECK_INT(l->n_words, 3);
    CHECK_STR(l->words[0].g.text, "614");
    CHECK(bits_eq(l->words[0].g.top_right.x, 0.49999999571319464));
    CHECK(bits_eq(l->words[0].g.top_right.y, 0.8197674415730254));
    CHECK_INT(l->words[2].word_id, 3);
    CHECK_STR(l->words[0].letters[1].g.text, "1");
    CHECK_INT(l->words[0].letters[1].letter_id, 2);
    CHECK_INT(l->words[0].letters[1].word_id, 1);
    CHECK_INT(l->words[0].letters[1].line_id, 1);
    /* ids restart per line / per word, arrays are in document order */
    size_t wsum = 0, csum = 0;
    int address = 0, date = 0, other = 0;
    for (size_t i = 0; i < doc->n_lines; i++) {
        const rcpt_ocr_line *L = &doc->lines[i];
        CHECK_INT(L->line_id, (int)i + 1);
        CHECK(L->words == doc->words + wsum);
        for (size_t j = 0; j < L->n_words; j++) {
            const rcpt_ocr_word *W = &L->words[j];
            CHECK_INT(W->word_id, (int)j + 1);
            CHECK_INT(W->line_id, (int)i + 1);
            CHECK(W->letters == doc->letters + csum);
            csum += W->n_letters;
            if (W->ed_type) {
                if (!strcmp(W->ed_type, "address")) address++;
                else if (!strcmp(W->ed_type, "date")) date++;
                else other++;
                CHECK(W->ed_value != NULL && W->ed_value_len > 0);
            } else {
                CHECK(W->ed_value == NULL);
            }
        }
        wsum += L->n_words;
    }
    CHECK_INT(wsum, 62);
    CHECK_INT(csum, 306);
    CHECK_INT(address, 7);
    CHECK_INT(date, 5);
    CHECK_INT(other, 0);
    /* the value is kept exactly */
    for (size_t k = 0; k < doc->n_words; k++)
        if (doc->words[k].ed_type && !strcmp(doc->words[k].ed_type, "date"))
            CHECK_STR(doc->words[k].ed_value, "2022-10-22 01:04:00 +0000");
    rcpt_ocr_free(doc);
}

/* ---- a small document builder: the record at (line 1, word 1, letter 0)
 * can have one key replaced by a raw JSON value or removed -------------- */

enum { AT_LINE, AT_WORD, AT_LETTER, AT_NONE };

static void geom(rcpt_buf *b, const char *text, int at, int target, const char *key, const char *raw)
{
    static const char *const keys[] = {"text", "bounding_box", "top_left", "top_right", "bottom_left",
                                       "bottom_right", "angle_degrees", "angle_radians", "confidence"};
    static const char *const vals[] = {NULL, "{\"x\": 0.1, \"y\": 0.2, \"width\": 0.3, \"height\": 0.04}",
                                       "{\"x\": 0.1, \"y\": 0.24}", "{\"x\": 0.4, \"y\": 0.24}",
                                       "{\"x\": 0.1, \"y\": 0.2}", "{\"y\": 0.2, \"x\": 0.4}", "0", "0", "1"};
    for (int k = 0; k < 9; k++) {
        int mine = at == target && key && !strcmp(key, keys[k]);
        if (mine && !raw) continue; /* removed */
        rcpt_buf_printf(b, "\"%s\": ", keys[k]);
        if (mine) rcpt_buf_puts(b, raw);
        else if (k == 0) rcpt_buf_json_str(b, text, strlen(text));
        else rcpt_buf_puts(b, vals[k]);
        rcpt_buf_puts(b, ", ");
    }
}

static char *mkdoc(int target, const char *key, const char *raw)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_puts(&b, "{\"classification\": {\"kind\": \"NATIVE\"}, \"lines\": [");
    for (int li = 0; li < 2; li++) {
        rcpt_buf_puts(&b, li ? ", {" : "{");
        geom(&b, "ab ab", li == 1 ? AT_LINE : AT_NONE, target, key, raw);
        rcpt_buf_puts(&b, "\"words\": [");
        for (int wi = 0; wi < 2; wi++) {
            int here = li == 1 && wi == 1;
            rcpt_buf_puts(&b, wi ? ", {" : "{");
            geom(&b, "ab", here ? AT_WORD : AT_NONE, target, key, raw);
            rcpt_buf_puts(&b, "\"letters\": [{");
            geom(&b, "a", here ? AT_LETTER : AT_NONE, target, key, raw);
            b.len -= 2;
            rcpt_buf_puts(&b, "}, {");
            geom(&b, "b", AT_NONE, target, key, raw);
            b.len -= 2;
            rcpt_buf_puts(&b, "}]");
            if (here && target == AT_WORD && key && !strcmp(key, "extracted_data"))
                rcpt_buf_printf(&b, ", \"extracted_data\": %s", raw);
            rcpt_buf_puts(&b, "}");
        }
        rcpt_buf_puts(&b, "]}");
    }
    rcpt_buf_puts(&b, "], \"receipts\": []}");
    return rcpt_buf_detach(&b, NULL);
}

static void expect_ok(const char *json, size_t len, size_t nl, size_t nw, size_t nc)
{
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    int rc = rcpt_ocr_parse(json, len, &doc, &err);
    CHECK_INT(rc, RCPT_OK);
    if (rc) {
        fprintf(stderr, "  unexpected error: %s\n", err.msg);
        return;
    }
    CHECK_INT(doc->n_lines, nl);
    CHECK_INT(doc->n_words, nw);
    CHECK_INT(doc->n_letters, nc);
    rcpt_ocr_free(doc);
}

static void expect_err(const char *json, size_t len, int code, const char *msg)
{
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    CHECK_INT(rcpt_ocr_parse(json, len, &doc, &err), code);
    CHECK(doc == NULL);
    check_total++;
    if (!strstr(err.msg, msg)) {
        check_failed++;
        fprintf(stderr, "  error \"%s\" does not contain \"%s\"\n", err.msg, msg);
    }
}

static void doc_err(int target, const char *key, const char *raw, const char *msg)
{
    char *j = mkdoc(target, key, raw);
    expect_err(j, strlen(j), RCPT_EINVAL, msg);
    free(j);
}

static void test_validation(void)
{
    char *j = mkdoc(AT_NONE, NULL, NULL);
    expect_ok(j, strlen(j), 2, 4, 8);
    /* truncated at every tenth byte: always an error, never a crash */
    size_t n = strlen(j);
    for (size_t cut = 0; cut < n; cut += 10) {
        rcpt_ocr_doc *doc = NULL;
        CHECK(rcpt_ocr_parse(j, cut, &doc, NULL) != RCPT_OK);
    }
    expect_err(j, n / 2, RCPT_EINVAL, "JSON: byte");
    free(j);

    doc_err(AT_LETTER, "text", "\"ab\"", "lines[1].words[1].letters[0].text: must be exactly one character");
    doc_err(AT_LETTER, "text", "\"\"", "lines[1].words[1].letters[0].text: must be exactly one character");
    doc_err(AT_LETTER, "text", "\"e\\u0301\\u0301x\"", "lines[1].words[1].letters[0].text: must be exactly one");
    doc_err(AT_LETTER, "confidence", "0", "lines[1].words[1].letters[0].confidence: must be > 0 and <= 1, got 0");
    doc_err(AT_WORD, "confidence", "1.5", "lines[1].words[1].confidence: must be > 0 and <= 1");
    doc_err(AT_LINE, "confidence", "-0.1", "lines[1].confidence: must be > 0 and <= 1");
    doc_err(AT_LINE, "confidence", "\"0.5\"", "lines[1].confidence: must be a number, got string");
    doc_err(AT_LINE, "text", "12", "lines[1].text: must be a string, got number");
    doc_err(AT_LINE, "text", NULL, "lines[1].text: required key is missing");
    doc_err(AT_WORD, "angle_radians", NULL, "lines[1].words[1].angle_radians: required key is missing");
    doc_err(AT_WORD, "angle_degrees", "null", "lines[1].words[1].angle_degrees: must be a number, got null");
    doc_err(AT_LETTER, "bounding_box", NULL, "lines[1].words[1].letters[0].bounding_box: required key is missing");
    doc_err(AT_LETTER, "bounding_box", "[1,2,3,4]", "letters[0].bounding_box: must be an object");
    doc_err(AT_LETTER, "bounding_box", "{\"x\": 1, \"y\": 2, \"width\": 3}",
            "lines[1].words[1].letters[0].bounding_box.height: required key is missing");
    doc_err(AT_WORD, "bounding_box", "{\"x\": 1, \"y\": true, \"width\": 3, \"height\": 4}",
            "lines[1].words[1].bounding_box.y: must be a number, got bool");
    doc_err(AT_WORD, "top_left", "{\"x\": 1}", "lines[1].words[1].top_left.y: required key is missing");
    doc_err(AT_LINE, "bottom_right", "{\"x\": \"1\", \"y\": 0}", "lines[1].bottom_right.x: must be a number, got string");
    doc_err(AT_LINE, "angle_degrees", "NaN", "NaN and Infinity are not valid JSON numbers");
    doc_err(AT_LINE, "angle_degrees", "1e400", "number out of range");
    doc_err(AT_WORD, "extracted_data", "\"address\"", "lines[1].words[1].extracted_data: must be an object");
    doc_err(AT_WORD, "extracted_data", "{\"type\": \"phone\"}", "lines[1].words[1].extracted_data.value: required key is missing");
    doc_err(AT_WORD, "extracted_data", "{\"type\": 1, \"value\": \"x\"}", "lines[1].words[1].extracted_data.type: must be a string");

    /* accepted variants */
    j = mkdoc(AT_WORD, "extracted_data", "null");
    expect_ok(j, strlen(j), 2, 4, 8);
    free(j);
    j = mkdoc(AT_LETTER, "text", "\"e\\u0301\"");     /* base + combining mark */
    expect_ok(j, strlen(j), 2, 4, 8);
    free(j);
    j = mkdoc(AT_LETTER, "text", "\"\xc3\xa9\"");     /* precomposed */
    expect_ok(j, strlen(j), 2, 4, 8);
    free(j);
    j = mkdoc(AT_LETTER, "confidence", "1");          /* an int where a number goes */
    expect_ok(j, strlen(j), 2, 4, 8);
    free(j);

    expect_ok("{\"lines\": []}", 13, 0, 0, 0);
    expect_ok("{\"lines\": [], \"barcodes\": [1, {\"a\": null}]}", 43, 0, 0, 0);
    expect_err("{}", 2, RCPT_EINVAL, "lines: required key is missing");
    expect_err("{\"lines\": {}}", 13, RCPT_EINVAL, "lines: must be an array, got object");
    expect_err("[]", 2, RCPT_EINVAL, "document: must be an object");
    expect_err("{\"lines\": [3]}", 14, RCPT_EINVAL, "lines[0]: must be an object, got number");
    expect_err("{\"lines\": [{\"words\": null}]}", 28, RCPT_EINVAL, "lines[0].words: must be an array, got null");
    expect_err("not json at all", 15, RCPT_EINVAL, "JSON: byte 0: invalid literal");
    expect_err("<html><body>502 Bad Gateway</body></html>", 41, RCPT_EINVAL, "JSON: byte 0");
    expect_err("{\"lines\": [{\"text\": \"\xff\"}]}", 25, RCPT_EINVAL, "invalid UTF-8");

    /* the size limit */
    rcpt_ocr_opts o = {10};
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    CHECK_INT(rcpt_ocr_parse_opts("{\"lines\": []}", 13, &o, &doc, &err), RCPT_ELIMIT);
    CHECK(strstr(err.msg, "exceeds the limit of 10 bytes") != NULL);
}

static void test_big(void)
{
    /* ~10 MB of lines: parses, counts right */
    char *one = mkdoc(AT_NONE, NULL, NULL);
    const char *a = strchr(one, '[') + 1;       /* first line object ... */
    const char *z = strstr(one, "], \"receipts\""); /* ... to the end of lines */
    size_t unit = (size_t)(z - a);
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_puts(&b, "{\"lines\": [");
    size_t reps = 0;
    while (b.len < ((size_t)10 << 20)) {
        if (reps++) rcpt_buf_putc(&b, ',');
        rcpt_buf_append(&b, a, unit);
    }
    rcpt_buf_puts(&b, "]}");
    CHECK(!b.oom);
    expect_ok(b.data, b.len, 2 * reps, 4 * reps, 8 * reps);
    rcpt_buf_free(&b);
    free(one);
}

static void test_graphemes(void)
{
    static const struct { const char *s; int one; } v[] = {
        {"a", 1}, {"\xc3\xa9", 1}, {"e\xcc\x81", 1}, {"e\xcc\x81\xcc\xa3", 1}, {"ab", 0}, {"", 0},
        {"\xf0\x9f\x91\x8d", 1},                                 /* thumbs up */
        {"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 1},                 /* + skin tone */
        {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7", 1}, /* family ZWJ */
        {"\xf0\x9f\x87\xba\xf0\x9f\x87\xb8", 1},                 /* flag US */
        {"\xf0\x9f\x87\xba\xf0\x9f\x87\xb8\xf0\x9f\x87\xba", 0}, /* three indicators */
        {"1\xef\xb8\x8f\xe2\x83\xa3", 1},                        /* keycap */
        {"\xe2\x9d\xa4\xef\xb8\x8f", 1},                         /* heart + VS16 */
        {"\xea\xb0\x81", 1},                                     /* Hangul syllable */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 1},             /* L V T jamo */
        {"\xea\xb0\x81\xea\xb0\x81", 0},
        {"\r\n", 1}, {"\n", 1}, {"\na", 0}, {"a\xe2\x80\x8d" "b", 0}, {"\xe4\xb8\xad\xe6\x96\x87", 0},
        {"\xe0\xa4\x95\xe0\xa4\xbe", 1},                         /* Devanagari ka + aa sign */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        check_total++;
        if (rcpt_ocr_is_one_grapheme(v[i].s, strlen(v[i].s)) != v[i].one) {
            check_failed++;
            fprintf(stderr, "grapheme case %zu: expected %d\n", i, v[i].one);
        }
    }
}

static void test_noise(void)
{
    /* generated from a Python implementation of spec §3.3 (re.match,
     * Unicode classes): {text, byte length, is_noise} */
    static const struct { const char *s; size_t n; int noise; } v[] = {
#include "noise_vectors.inc"
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        check_total++;
        if (rcpt_ocr_is_noise(v[i].s, v[i].n) != v[i].noise) {
            check_failed++;
            fprintf(stderr, "is_noise(\"%s\") != %d\n", v[i].s, v[i].noise);
        }
    }
    /* a long text goes through the heap path */
    char longw[600];
    memset(longw, '-', sizeof longw);
    CHECK_INT(rcpt_ocr_is_noise(longw, sizeof longw), 1);
    longw[300] = 'A';
    CHECK_INT(rcpt_ocr_is_noise(longw, sizeof longw), 0);
    CHECK_INT(rcpt_ocr_is_noise("\xff", 1), 1); /* invalid byte = U+FFFD, a symbol */
}

int main(void)
{
    test_bar_receipt();
    test_validation();
    test_big();
    test_graphemes();
    test_noise();
    return check_done();
}
