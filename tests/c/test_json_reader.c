/* core/json pull reader: it must accept exactly what the DOM parser accepts,
 * give the same values (numbers bit for bit, strings after unescaping) and
 * fail with the same message at the same byte.  Every input is copied into
 * a buffer of exactly its size, so that a read past the end (the reader has
 * no NUL padding) is caught by AddressSanitizer. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "json/json.h"

static char *exact_copy(const char *s, size_t len)
{
    char *b = malloc(len ? len : 1);
    if (len) memcpy(b, s, len);
    return b;
}

/* Walk the DOM value v and the reader together; t holds the token that
 * starts v.  Returns 0 on the first difference (and reports it). */
static int same_value(const rcpt_json *v, rcpt_json_reader *r, rcpt_json_tok *t, const char *ctx)
{
    if ((int)v->type != t->type) {
        fprintf(stderr, "%s: DOM type %d, reader token %d at byte %zu\n", ctx, v->type, t->type, t->offset);
        return 0;
    }
    switch (v->type) {
    case RCPT_JSON_BOOL: return v->b == t->b;
    case RCPT_JSON_NUMBER:
        if (memcmp(&v->u.num.d, &t->d, sizeof t->d) != 0 || v->flags != t->flags ||
            ((v->flags & RCPT_JSON_F_I64) && v->u.num.i != t->i)) {
            fprintf(stderr, "%s: number differs at byte %zu\n", ctx, t->offset);
            return 0;
        }
        return 1;
    case RCPT_JSON_STRING: {
        char *buf = malloc(t->len + 1);
        size_t n = t->escaped ? rcpt_json_unescape(t->s, t->len, buf) : t->len;
        if (!t->escaped) memcpy(buf, t->s, t->len);
        int ok = n == v->u.str.len && memcmp(buf, v->u.str.s, n) == 0;
        if (!ok) fprintf(stderr, "%s: string differs at byte %zu\n", ctx, t->offset);
        free(buf);
        return ok;
    }
    case RCPT_JSON_ARRAY:
        for (size_t i = 0;; i++) {
            if (rcpt_json_next(r, t)) return 0;
            if (t->type == RCPT_JSON_T_END_ARRAY) return i == v->u.arr.n;
            if (i >= v->u.arr.n || !same_value(&v->u.arr.items[i], r, t, ctx)) return 0;
        }
    case RCPT_JSON_OBJECT:
        /* the DOM folds repeated keys (first place, last value); the reader
         * gives every member: compare each member with the DOM's value for
         * that key only when the key is not repeated later */
        for (;;) {
            if (rcpt_json_next(r, t)) return 0;
            if (t->type == RCPT_JSON_T_END_OBJECT) return 1;
            if (t->type != RCPT_JSON_T_KEY) return 0;
            char *k = malloc(t->len + 1);
            size_t kn = t->escaped ? rcpt_json_unescape(t->s, t->len, k) : t->len;
            if (!t->escaped) memcpy(k, t->s, t->len);
            const rcpt_json *dv = rcpt_json_getn(v, k, kn);
            free(k);
            if (!dv || rcpt_json_next(r, t)) return 0;
            if (dv->type != (unsigned)t->type) { /* a repeated key's earlier value */
                if (rcpt_json_skip(r, t)) return 0;
                continue;
            }
            if (dv->type != RCPT_JSON_ARRAY && dv->type != RCPT_JSON_OBJECT) continue;
            if (!same_value(dv, r, t, ctx)) return 0;
        }
    }
    return 1;
}

/* DOM and reader on s[0..len): same verdict, same message, same offset;
 * same values when valid. */
static void agree(const char *s0, size_t len, const char *ctx)
{
    char *s = exact_copy(s0, len);
    rcpt_json_doc *d = NULL;
    rcpt_err de = {0}, re = {0};
    size_t doff = 0;
    int drc = rcpt_json_parse(s, len, NULL, &d, &de, &doff);

    rcpt_json_reader r;
    rcpt_json_tok t;
    rcpt_json_reader_init(&r, s, len, 0, &re);
    int rrc = rcpt_json_next(&r, &t);
    if (!rrc && !drc) {
        int ok = same_value(rcpt_json_root(d), &r, &t, ctx);
        CHECK(ok);
        if (ok) {
            rrc = rcpt_json_next(&r, &t);
            CHECK_INT(rrc, RCPT_OK);
            CHECK_INT(t.type, RCPT_JSON_T_EOF);
        }
    } else {
        while (!rrc && t.type != RCPT_JSON_T_EOF) rrc = rcpt_json_next(&r, &t);
        check_total++;
        if (drc != rrc || (drc && (strcmp(de.msg, re.msg) != 0 || doff != r.err_off))) {
            check_failed++;
            fprintf(stderr, "%s: DOM rc %d \"%s\" (byte %zu), reader rc %d \"%s\" (byte %zu)\n", ctx, drc,
                    de.msg, doff, rrc, re.msg, r.err_off);
        }
    }
    rcpt_json_reader_done(&r);
    rcpt_json_free(d);
    free(s);
}

static const char *const cases[] = {
    "", "   ", "{}", "[]", "[1]", " {\"a\": [1, -2.5, 3e2, true, false, null, \"x\\u0000y\"], \"b\": {}, \"c\": []} ",
    "{\"a\": 1", "{\"a\" 1}", "{\"a\": 1,}", "[1 2]", "[1,]", "{a: 1}", "[1] x", "<html>", "[NaN]", "[Infinity]",
    "[-Infinity]", "NaN", "-Infinity", "Infinity", "[1e400]", "[-1e400]", "[01]", "[1.]", "[1e]", "[-]", "[+1]",
    "[tru]", "tru", "nul", "fals", "true", "null", "0", "-0", "-", "1e", "1.5e+3", "\"abc", "\"a\\", "\"a\\u12",
    "\"a\\ud83d", "\"a\\ud83d\\u", "\"\\ud83d\\ude00\"", "[\"\\ud83d\"]", "[\"\\ude00x\"]", "[\"\\ud83dx\"]",
    "[\"\\u12g4\"]", "[\"\\x\"]", "[\"a\tb\"]", "[\"\xc3\x28\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]",
    "[\"\xf4\x90\x80\x80\"]", "[\"\xff\"]", "[\"ab\xe2\x82\"]", "\"\xe2\x82", "\"\xf0\x9f\x98", "[\"abc",
    "\xef\xbb\xbf{\"k\": 1, \"j\": 2, \"k\": 3}", "\xef\xbb\xbf", "\xef\xbb", "{\"k\": 1, \"k\": [1, 2]}",
    "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\\ud83d\\ude00\", \"caf\xc3\xa9 \xf0\x9f\x98\x80\"]",
    "[\"a long ascii string that crosses several sixteen byte blocks of the input\"]",
    "{\"te\\u0078t\": \"v\"}", "[1,\n\t\r 2]", "[12345678901234567890, -9223372036854775808, 9223372036854775807]",
    "[9223372036854775808, -9223372036854775809, 0.1e1, 1E2, 1e-2]", "[0.000000000000000000001234567890123]",
};

static void test_cases(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ctx[64];
        snprintf(ctx, sizeof ctx, "case %zu", i);
        agree(cases[i], strlen(cases[i]), ctx);
    }
    /* an embedded NUL byte is not the end of the input */
    agree("[\"a\0b\"]", 7, "NUL in string");
    agree("[1]\0", 4, "NUL after value");
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The real bar receipt, whole, truncated and with bytes changed. */
static void test_bar_receipt(void)
{
    const char *dir = getenv("RCPT_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/vision_bar_receipt.ocr.json", dir ? dir : "../shared/data");
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL && len > 300000);
    if (!text) return;
    agree(text, len, "bar receipt");
    int cuts = getenv("RCPT_LONG") ? 2000 : 200;
    for (int i = 0; i < cuts; i++) {
        size_t cut = (size_t)(rnd() % len);
        agree(text, cut, "bar receipt truncated");
    }
    /* one changed byte in a small window (whole-document walks are slow) */
    static const char subst[] = "{}[]\",:0-.e\\ \n\x01\xff\xc3tnfNI";
    size_t window = 3000;
    for (int i = 0; i < cuts * 5; i++) {
        size_t at = (size_t)(rnd() % window);
        char saved = text[at];
        text[at] = subst[rnd() % (sizeof subst - 1)];
        agree(text, window + 2000, "bar receipt mutated"); /* a prefix: truncated too */
        text[at] = saved;
    }
    free(text);
}

static void test_tokens_and_skip(void)
{
    const char *s = "{\"a\": [1, {\"b\": [true, null]}, \"x\"], \"c\\n\": \"\\u00e9\", \"d\": {}}";
    char *b = exact_copy(s, strlen(s));
    rcpt_err err = {0};
    rcpt_json_reader r;
    rcpt_json_tok t;
    rcpt_json_reader_init(&r, b, strlen(s), 0, &err);
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_OBJECT);
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_T_KEY);
    CHECK(t.len == 1 && t.s[0] == 'a' && !t.escaped);
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_ARRAY);
    CHECK_INT(rcpt_json_skip(&r, &t), RCPT_OK); /* the whole array, nested object included */
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_T_KEY);
    CHECK(t.escaped);
    char k[8];
    CHECK_INT(rcpt_json_unescape(t.s, t.len, k), 2);
    CHECK(k[0] == 'c' && k[1] == '\n');
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_STRING);
    CHECK_INT(rcpt_json_unescape(t.s, t.len, k), 2);
    CHECK(memcmp(k, "\xc3\xa9", 2) == 0);
    CHECK_INT(rcpt_json_skip(&r, &t), RCPT_OK); /* a scalar: nothing to skip */
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_T_KEY);
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_OBJECT);
    CHECK_INT(rcpt_json_skip(&r, &t), RCPT_OK);
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_T_END_OBJECT);
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK);
    CHECK_INT(t.type, RCPT_JSON_T_EOF);
    CHECK_INT(rcpt_json_next(&r, &t), RCPT_OK); /* EOF again, not an error */
    CHECK_INT(t.type, RCPT_JSON_T_EOF);
    rcpt_json_reader_done(&r);
    free(b);

    /* depth: the default is the DOM's 512; max_depth is honoured */
    char deep[1100];
    for (int i = 0; i < 513; i++) deep[i] = '[', deep[513 + i] = ']';
    agree(deep, 1026, "513 levels");
    agree(deep + 1, 1024, "512 levels");
    rcpt_json_reader_init(&r, deep, 1026, 3, &err);
    int rc;
    do rc = rcpt_json_next(&r, &t);
    while (!rc && t.type != RCPT_JSON_T_EOF);
    CHECK_INT(rc, RCPT_ELIMIT);
    CHECK(strstr(err.msg, "nesting deeper than 3 levels") != NULL);
    CHECK_INT(r.err_off, 3);
    rcpt_json_reader_done(&r);
}

static void test_utf8_check(void)
{
    CHECK_INT(rcpt_json_utf8_check("abc", 3), 3);
    CHECK_INT(rcpt_json_utf8_check("caf\xc3\xa9", 5), 5);
    CHECK_INT(rcpt_json_utf8_check("ab\xff", 3), 2);
    CHECK_INT(rcpt_json_utf8_check("a\xc3", 2), 1);          /* cut */
    CHECK_INT(rcpt_json_utf8_check("\xed\xa0\x80", 3), 0);   /* surrogate */
    CHECK_INT(rcpt_json_utf8_check("\xf0\x9f\x98\x80!", 5), 5);
    CHECK_INT(rcpt_json_utf8_check("\xc0\xaf", 2), 0);       /* overlong */
    CHECK_INT(rcpt_json_utf8_check("a\0b", 3), 3);           /* NUL is valid UTF-8 */
}

int main(void)
{
    test_cases();
    test_tokens_and_skip();
    test_utf8_check();
    test_bar_receipt();
    return check_done();
}
