/* core/json: grammar, strings, numbers (bit-identical to a correctly
 * rounded strtod, which is what Python's float() is), errors with offsets. */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "json/json.h"

static rcpt_json_doc *parse(const char *s, rcpt_err *err)
{
    rcpt_json_doc *d = NULL;
    rcpt_json_parse(s, strlen(s), NULL, &d, err, NULL);
    return d;
}

/* parse must fail with code and a message containing want */
static void bad(const char *s, size_t len, int code, const char *want, long off)
{
    rcpt_json_doc *d = NULL;
    rcpt_err err = {0};
    size_t o = 0;
    int rc = rcpt_json_parse(s, len, NULL, &d, &err, &o);
    CHECK_INT(rc, code);
    CHECK(d == NULL);
    if (!strstr(err.msg, want)) {
        fprintf(stderr, "  input %.40s: message \"%s\" lacks \"%s\"\n", s, err.msg, want);
        CHECK(0);
    }
    if (off >= 0) CHECK_INT(o, off);
}

static void test_values(void)
{
    rcpt_err err = {0};
    rcpt_json_doc *d = parse(" {\"a\": [1, -2.5, 3e2, true, false, null, \"x\\u0000y\"], \"b\": {}, \"c\": []} ", &err);
    CHECK(d != NULL);
    if (!d) return;
    const rcpt_json *r = rcpt_json_root(d);
    CHECK_INT(r->type, RCPT_JSON_OBJECT);
    CHECK_INT(rcpt_json_len(r), 3);
    CHECK_STR(rcpt_json_member_at(r, 0)->key.u.str.s, "a");
    CHECK_STR(rcpt_json_member_at(r, 2)->key.u.str.s, "c");
    const rcpt_json *a = rcpt_json_get(r, "a");
    CHECK_INT(rcpt_json_len(a), 7);
    CHECK_INT(rcpt_json_at(a, 0)->flags, RCPT_JSON_F_INT | RCPT_JSON_F_I64);
    CHECK_INT(rcpt_json_at(a, 0)->u.num.i, 1);
    CHECK_INT(rcpt_json_at(a, 1)->flags, 0);
    CHECK(rcpt_json_at(a, 1)->u.num.d == -2.5);
    CHECK_INT(rcpt_json_at(a, 2)->flags, 0); /* 3e2 is not an integer token */
    CHECK(rcpt_json_at(a, 2)->u.num.d == 300.0);
    CHECK_INT(rcpt_json_at(a, 3)->type, RCPT_JSON_BOOL);
    CHECK_INT(rcpt_json_at(a, 3)->b, 1);
    CHECK_INT(rcpt_json_at(a, 4)->b, 0);
    CHECK_INT(rcpt_json_at(a, 5)->type, RCPT_JSON_NULL);
    const rcpt_json *s = rcpt_json_at(a, 6);
    CHECK_INT(s->u.str.len, 3);
    CHECK(memcmp(s->u.str.s, "x\0y", 4) == 0);
    CHECK(rcpt_json_at(a, 7) == NULL);
    CHECK_INT(rcpt_json_get(r, "b")->type, RCPT_JSON_OBJECT);
    CHECK_INT(rcpt_json_len(rcpt_json_get(r, "c")), 0);
    CHECK(rcpt_json_get(r, "zz") == NULL);
    CHECK(rcpt_json_get(a, "a") == NULL);
    CHECK_STR(rcpt_json_type_name(RCPT_JSON_ARRAY), "array");
    rcpt_json_free(d);

    /* int64 edges; integers beyond int64 stay numbers without F_I64 */
    d = parse("[9223372036854775807, -9223372036854775808, 9223372036854775808, 18446744073709551616, -0]", &err);
    CHECK(d != NULL);
    if (d) {
        r = rcpt_json_root(d);
        CHECK(rcpt_json_at(r, 0)->u.num.i == INT64_MAX);
        CHECK(rcpt_json_at(r, 1)->u.num.i == INT64_MIN);
        CHECK_INT(rcpt_json_at(r, 2)->flags, RCPT_JSON_F_INT);
        CHECK(rcpt_json_at(r, 2)->u.num.d == 9223372036854775808.0);
        CHECK_INT(rcpt_json_at(r, 3)->flags, RCPT_JSON_F_INT);
        CHECK(rcpt_json_at(r, 3)->u.num.d == 18446744073709551616.0);
        CHECK(signbit(rcpt_json_at(r, 4)->u.num.d));
        rcpt_json_free(d);
    }
}

static void test_strings(void)
{
    rcpt_err err = {0};
    rcpt_json_doc *d = parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\\ud83d\\ude00\", \"caf\xc3\xa9 \xf0\x9f\x98\x80\","
                             " \"a long ascii string that crosses several eight byte words\"]", &err);
    CHECK(d != NULL);
    if (!d) return;
    const rcpt_json *r = rcpt_json_root(d);
    CHECK_STR(rcpt_json_at(r, 0)->u.str.s, "\"\\/\b\f\n\r\t");
    CHECK_STR(rcpt_json_at(r, 1)->u.str.s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_INT(rcpt_json_at(r, 1)->u.str.len, 9);
    CHECK_STR(rcpt_json_at(r, 2)->u.str.s, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    CHECK_STR(rcpt_json_at(r, 3)->u.str.s, "a long ascii string that crosses several eight byte words");
    rcpt_json_free(d);

    bad("[\"\\ud83d\"]", 10, RCPT_EINVAL, "lone high surrogate", 2);
    bad("[\"\\ude00x\"]", 11, RCPT_EINVAL, "lone low surrogate", 2);
    bad("[\"\\ud83dx\"]", 11, RCPT_EINVAL, "lone high surrogate", 2);
    bad("[\"\\u12g4\"]", 10, RCPT_EINVAL, "invalid \\u escape", 2);
    bad("[\"\\x\"]", 6, RCPT_EINVAL, "invalid escape", 2);
    bad("[\"a\tb\"]", 7, RCPT_EINVAL, "control character", 3);
    bad("[\"\xc3\x28\"]", 6, RCPT_EINVAL, "invalid UTF-8", 2);       /* bad continuation */
    bad("[\"\xc0\xaf\"]", 6, RCPT_EINVAL, "invalid UTF-8", 2);       /* overlong */
    bad("[\"\xed\xa0\x80\"]", 7, RCPT_EINVAL, "invalid UTF-8", 2);   /* encoded surrogate */
    bad("[\"\xf4\x90\x80\x80\"]", 8, RCPT_EINVAL, "invalid UTF-8", 2); /* > U+10FFFF */
    bad("[\"\xff\"]", 5, RCPT_EINVAL, "invalid UTF-8", 2);
    bad("[\"ab\xe2\x82\"]", 7, RCPT_EINVAL, "invalid UTF-8", 4);     /* truncated */
    bad("[\"abc", 5, RCPT_EINVAL, "unterminated string", 5);
    /* an embedded NUL byte in the input is not the end of the document */
    bad("[\"a\0b\"]", 7, RCPT_EINVAL, "control character", 3);
}

static void test_errors(void)
{
    bad("", 0, RCPT_EINVAL, "empty document", 0);
    bad("   ", 3, RCPT_EINVAL, "empty document", 3);
    bad("{\"a\": 1", 7, RCPT_EINVAL, "unexpected end of input", 7);
    bad("{\"a\" 1}", 7, RCPT_EINVAL, "expected ':'", 5);
    bad("{\"a\": 1,}", 9, RCPT_EINVAL, "expected a string key", 8);
    bad("[1 2]", 5, RCPT_EINVAL, "expected ',' or ']'", 3);
    bad("[1,]", 4, RCPT_EINVAL, "expected a value", 3);
    bad("{a: 1}", 6, RCPT_EINVAL, "expected a string key", 1);
    bad("[1] x", 5, RCPT_EINVAL, "unexpected data after", 4);
    bad("<html>", 6, RCPT_EINVAL, "expected a value", 0);
    bad("[NaN]", 5, RCPT_EINVAL, "NaN and Infinity", 1);
    bad("[Infinity]", 10, RCPT_EINVAL, "NaN and Infinity", 1);
    bad("[-Infinity]", 11, RCPT_EINVAL, "NaN and Infinity", 1);
    bad("[1e400]", 7, RCPT_EINVAL, "out of range", 1);
    bad("[-1e400]", 8, RCPT_EINVAL, "out of range", 1);
    bad("[1.7976931348623159e308]", 24, RCPT_EINVAL, "out of range", 1);
    bad("[01]", 4, RCPT_EINVAL, "leading zeros", -1);
    bad("[1.]", 4, RCPT_EINVAL, "decimal point", -1);
    bad("[1e]", 4, RCPT_EINVAL, "exponent", -1);
    bad("[-]", 3, RCPT_EINVAL, "invalid number", -1);
    bad("[+1]", 4, RCPT_EINVAL, "expected a value", 1);
    bad("[tru]", 5, RCPT_EINVAL, "invalid literal", 1);

    /* depth: 512 nested arrays parse, 513 do not */
    char deep[1100];
    for (int i = 0; i < 512; i++) deep[i] = '[', deep[512 + i] = ']';
    rcpt_json_doc *d = NULL;
    rcpt_err err = {0};
    CHECK_INT(rcpt_json_parse(deep, 1024, NULL, &d, &err, NULL), RCPT_OK);
    rcpt_json_free(d);
    for (int i = 0; i < 513; i++) deep[i] = '[', deep[513 + i] = ']';
    CHECK_INT(rcpt_json_parse(deep, 1026, NULL, &d, &err, NULL), RCPT_ELIMIT);
    CHECK(strstr(err.msg, "nesting deeper than 512") != NULL);
    rcpt_json_opts o = {4, 0};
    CHECK_INT(rcpt_json_parse("[[[[[1]]]]]", 11, &o, &d, &err, NULL), RCPT_ELIMIT);
    o.max_depth = 0;
    o.max_size = 10;
    CHECK_INT(rcpt_json_parse("[1,2,3,4,5,6]", 13, &o, &d, &err, NULL), RCPT_ELIMIT);
    CHECK(strstr(err.msg, "exceeds the limit of 10 bytes") != NULL);
}

static void test_duplicates_bom(void)
{
    rcpt_err err = {0};
    rcpt_json_doc *d = parse("\xef\xbb\xbf{\"k\": 1, \"j\": 2, \"k\": 3}", &err);
    CHECK(d != NULL);
    if (!d) return;
    const rcpt_json *r = rcpt_json_root(d);
    CHECK_INT(rcpt_json_len(r), 2);
    CHECK_STR(rcpt_json_member_at(r, 0)->key.u.str.s, "k"); /* first position */
    CHECK_INT(rcpt_json_member_at(r, 0)->value.u.num.i, 3);  /* last value */
    CHECK_STR(rcpt_json_member_at(r, 1)->key.u.str.s, "j");
    rcpt_json_free(d);

    /* a large object (hashed path): 100 keys, each twice */
    char big[4000];
    size_t n = 0;
    big[n++] = '{';
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < 100; i++) n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\": %d", n > 1 ? "," : "", i, rep * 1000 + i);
    big[n++] = '}';
    big[n] = 0;
    d = parse(big, &err);
    CHECK(d != NULL);
    if (!d) return;
    r = rcpt_json_root(d);
    CHECK_INT(rcpt_json_len(r), 100);
    CHECK_STR(rcpt_json_member_at(r, 42)->key.u.str.s, "k42");
    CHECK_INT(rcpt_json_get(r, "k42")->u.num.i, 1042);
    rcpt_json_free(d);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void same_as_strtod(const char *s)
{
    double want = strtod(s, NULL), got = 0;
    int rc = rcpt_json_number(s, strlen(s), &got);
    if (isinf(want)) {
        CHECK_INT(rc, RCPT_EINVAL);
        return;
    }
    check_total++;
    if (rc != RCPT_OK || memcmp(&got, &want, sizeof got) != 0) {
        check_failed++;
        fprintf(stderr, "number %s: got %.17g (rc %d), expected %.17g\n", s, got, rc, want);
    }
}

static void test_numbers(void)
{
    /* strtod (glibc, "C" locale) rounds correctly, as Python's float() does */
    setlocale(LC_NUMERIC, "C");
    static const char *const hard[] = {
        "0", "-0", "1", "0.1", "0.2", "0.3", "1e23", "8.98846567431158e307", "2.2250738585072011e-308",
        "2.2250738585072012e-308", "2.2250738585072014e-308", "4.9406564584124654e-324", "2.4703282292062327e-324",
        "2.4703282292062328e-324", "1e-400", "9007199254740993", "9007199254740995", "9007199254740992.5",
        "1.7976931348623157e308", "1.7976931348623158e308", "0.49999999571319464", "0.2577519449629466",
        "0.24224805075024802", "123456789012345678901234567890", "0.000000000000000000000000000001",
        "3.0000000000000000000000000001", "7.2057594037927933e16", "1448997445238699", "5e-324",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9999999999999999999999999999999999999999999999999999999999999999999999",
    };
    for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) same_as_strtod(hard[i]);

    char b[64];
    /* shortest-ish reprs of random doubles, as Vision and Python write them */
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rnd() & 0x7FFFFFFFFFFFFFFFULL;
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d)) continue;
        snprintf(b, sizeof b, "%.*g", 15 + (int)(rnd() % 3), d);
        same_as_strtod(b);
    }
    /* random digit strings with random exponents, 1 to 19 digits */
    for (int i = 0; i < 200000; i++) {
        char *p = b;
        int nd = 1 + (int)(rnd() % 19);
        if (rnd() & 1) *p++ = '-';
        *p++ = (char)('1' + rnd() % 9);
        int dot = (int)(rnd() % (unsigned)nd);
        for (int k = 1; k < nd; k++) {
            if (k == dot) *p++ = '.';
            *p++ = (char)('0' + rnd() % 10);
        }
        snprintf(p, 16, "e%d", (int)(rnd() % 700) - 350);
        same_as_strtod(b);
    }
    /* values in [0, 1] with 16-17 digits: the OCR geometry case */
    for (int i = 0; i < 100000; i++) {
        snprintf(b, sizeof b, "0.%016llu", (unsigned long long)(rnd() % 10000000000000000ULL));
        same_as_strtod(b);
    }
    double x;
    CHECK_INT(rcpt_json_number("1.5x", 4, &x), RCPT_EINVAL);
    CHECK_INT(rcpt_json_number("", 0, &x), RCPT_EINVAL);
}

int main(void)
{
    test_values();
    test_strings();
    test_errors();
    test_duplicates_bom();
    test_numbers();
    return check_done();
}
