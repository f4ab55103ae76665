/* Regressions of the crashes tests/fuzz found: each input that once broke a
 * fuzz target is kept in tests/fuzz/regressions/<target>/ and checked here
 * for the behaviour the fix gave it, in the ordinary builds (gcc, and ASan +
 * UBSan in build-asan).  The fuzz build replays the same files through the
 * targets themselves (ctest -L fuzz in build-fuzz). */
#include <stdlib.h>

#include "check.h"
#include "embed/embed.h"
#include "image/image.h"
#include "json/json.h"
#include "net/objstore.h"
#include "net/places.h"

static char *slurp(const char *rel, size_t *len)
{
    const char *src = getenv("RCPT_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/regressions/%s", src ? src : "..", rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) exit(1);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* json.c: an empty object parsed before anything was pushed on the parser's
 * stack did NULL + 0 (UB); the document is valid and must parse. */
static void test_json_empty_object(void)
{
    static const char *const docs[] = {"{}", "[{}]", "{\"a\":{}}", "[[],{}]"};
    for (size_t i = 0; i < 4; i++) {
        rcpt_json_doc *d = NULL;
        CHECK_INT(rcpt_json_parse(docs[i], strlen(docs[i]), NULL, &d, NULL, NULL), RCPT_OK);
        rcpt_json_free(d);
    }
    size_t n;
    char *s = slurp("json/empty_object_null_stack.json", &n);
    rcpt_json_doc *d = NULL;
    rcpt_err e = {0};
    size_t off = 0;
    int drc = rcpt_json_parse(s, n, NULL, &d, &e, &off);
    CHECK_INT(drc, RCPT_EINVAL); /* the fuzzer's mutation broke the document elsewhere */
    rcpt_json_reader r;
    rcpt_json_tok t;
    rcpt_err re = {0};
    rcpt_json_reader_init(&r, s, n, 0, &re);
    int rrc;
    while ((rrc = rcpt_json_next(&r, &t)) == RCPT_OK && t.type != RCPT_JSON_T_EOF) {}
    CHECK_INT(rrc, drc);
    CHECK_STR(re.msg, e.msg);
    CHECK_INT(r.err_off, off);
    rcpt_json_reader_done(&r);
    free(s);

    /* the same path through the Places and embeddings parsers */
    s = slurp("places/empty_object_null_stack.json", &n);
    rcpt_places_result pr;
    rcpt_places_result_init(&pr);
    CHECK(rcpt_places_parse(RCPT_PLACES_FIND, s, n, "k", &pr, &e) != RCPT_OK);
    rcpt_places_result_free(&pr);
    free(s);
    s = slurp("embeddings/empty_object_null_stack.json", &n);
    float out[3];
    CHECK_INT(rcpt_embed_openai_parse(s, n, 1, 3, out, &e), RCPT_EHTTP);
    free(s);
}

/* xml.c: raw NUL bytes inside a continuation token made a "truncated" page
 * whose token was shorter as a C string than its length. */
static int count_entry(void *ud, const rcpt_objstore_entry *e)
{
    (void)e;
    ++*(int *)ud;
    return 0;
}

static void test_xml_nul(void)
{
    size_t n;
    char *s = slurp("s3xml/nul_in_continuation_token.xml", &n);
    CHECK(memchr(s, 0, n) != NULL);
    int entries = 0, trunc = -1;
    rcpt_objstore_list_opts o = {"/", 0, count_entry, NULL, &entries};
    rcpt_buf next = RCPT_BUF_INIT;
    rcpt_err e = {0};
    CHECK_INT(rcpt_s3_parse_list(s, n, NULL, &o, &trunc, &next, &e), RCPT_ECORRUPT);
    CHECK(strstr(e.msg, "NUL byte") != NULL);
    CHECK_INT(entries, 0);
    CHECK_INT(trunc, 0);
    char code[32], msg[64];
    CHECK_INT(rcpt_s3_parse_error(s, n, code, sizeof code, msg, sizeof msg), -1);
    rcpt_buf_free(&next);
    /* the same document without the NUL bytes is a good truncated page */
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0) s[i] = 'A';
    CHECK_INT(rcpt_s3_parse_list(s, n, NULL, &o, &trunc, &next, &e), RCPT_OK);
    CHECK_INT(trunc, 1);
    CHECK(next.len > 0 && strlen(next.data) == next.len);
    rcpt_buf_free(&next);
    static const char good[] = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                               "<NextContinuationToken>abc</NextContinuationToken></ListBucketResult>";
    char withnul[sizeof good];
    memcpy(withnul, good, sizeof good);
    CHECK_INT(rcpt_s3_parse_list(good, sizeof good - 1, NULL, &o, &trunc, &next, &e), RCPT_OK);
    CHECK_INT(trunc, 1);
    CHECK_STR(next.data, "abc");
    withnul[strstr(good, "abc") - good + 1] = 0;
    CHECK_INT(rcpt_s3_parse_list(withnul, sizeof good - 1, NULL, &o, &trunc, &next, &e), RCPT_ECORRUPT);
    rcpt_buf_free(&next);
    free(s);
}

/* decode.c: a PNG whose IHDR says 0 x N was reported as a valid image by
 * rcpt_image_info_mem. */
static void test_png_zero_size(void)
{
    size_t n;
    char *s = slurp("image/png_zero_width_ihdr.png", &n);
    rcpt_image_info info;
    rcpt_err e = {0};
    CHECK_INT(rcpt_image_info_mem(s, n, &info, &e), RCPT_ECORRUPT);
    CHECK(strstr(e.msg, "IHDR size 0x") != NULL);
    rcpt_image img = RCPT_IMAGE_INIT;
    CHECK_INT(rcpt_image_decode(s, n, 0, &img, &e), RCPT_ECORRUPT);
    CHECK(img.px == NULL);
    free(s);
}

/* decode.c: info() scanned chunk names for tRNS by hand and said RGBA for a
 * palette PNG whose tRNS has a bad CRC, which libpng drops: decode gave RGB. */
static void test_png_trns_agrees(void)
{
    size_t n;
    char *s = slurp("image/png_trns_bad_crc.png", &n);
    rcpt_image_info info;
    rcpt_err e = {0};
    CHECK_INT(rcpt_image_info_mem(s, n, &info, &e), RCPT_OK);
    rcpt_image img = RCPT_IMAGE_INIT;
    CHECK_INT(rcpt_image_decode(s, n, 0, &img, &e), RCPT_OK);
    CHECK_INT(info.width, 3);
    CHECK_INT(info.height, 2);
    CHECK_INT(img.channels, 3);
    CHECK_INT(info.channels, img.channels);
    rcpt_image_free(&img);
    free(s);
}

/* places.c (and the same helper in embed/openai.c): the key was masked
 * before control characters were dropped, so "AIza...\u0000...Key" came out
 * as the whole key once the NUL was gone. */
static void test_places_key_split(void)
{
    static const char key[] = "AIzaFuzzKey-0123456789";
    size_t n;
    char *s = slurp("places/key_split_by_nul.json", &n);
    rcpt_places_result r;
    rcpt_places_result_init(&r);
    rcpt_err e = {0};
    CHECK(rcpt_places_parse(RCPT_PLACES_FIND, s, n, key, &r, &e) != RCPT_OK);
    CHECK(strstr(e.msg, "REQUEST_DENIED") != NULL);
    CHECK(strstr(e.msg, key) == NULL);
    CHECK(strstr(e.msg, "***") != NULL);
    rcpt_places_result_free(&r);
    free(s);
    static const char tab[] = "{\"status\":\"REQUEST_DENIED\",\"error_message\":\"bad AIzaFuzz\\tKey-0123456789\\n!\"}";
    CHECK(rcpt_places_parse(RCPT_PLACES_DETAILS, tab, strlen(tab), key, &r, &e) != RCPT_OK);
    CHECK(strstr(e.msg, "bad ***!") != NULL);
    rcpt_places_result_free(&r);
}

/* places.c: user_ratings_total 1.29e23 was converted to long long (UB). */
static void test_places_number_ranges(void)
{
    size_t n;
    char *s = slurp("places/user_ratings_total_overflow.json", &n);
    rcpt_places_result r;
    rcpt_places_result_init(&r);
    rcpt_err e = {0};
    CHECK_INT(rcpt_places_parse(RCPT_PLACES_DETAILS, s, n, NULL, &r, &e), RCPT_EHTTP);
    CHECK(strstr(e.msg, "result.user_ratings_total: must be a whole number >= 0") != NULL);
    rcpt_places_result_free(&r);
    free(s);
    static const char *const bad[] = {
        "{\"status\":\"OK\",\"result\":{\"user_ratings_total\":-1}}",
        "{\"status\":\"OK\",\"result\":{\"user_ratings_total\":1.5}}",
        "{\"status\":\"OK\",\"result\":{\"price_level\":3e9}}",
        "{\"status\":\"OK\",\"result\":{\"price_level\":5}}"};
    for (size_t i = 0; i < 4; i++) {
        CHECK_INT(rcpt_places_parse(RCPT_PLACES_DETAILS, bad[i], strlen(bad[i]), NULL, &r, &e), RCPT_EHTTP);
        rcpt_places_result_free(&r);
    }
    static const char ok[] = "{\"status\":\"OK\",\"result\":{\"user_ratings_total\":9007199254740992,\"price_level\":0}}";
    CHECK_INT(rcpt_places_parse(RCPT_PLACES_DETAILS, ok, strlen(ok), NULL, &r, &e), RCPT_OK);
    CHECK(r.places[0].user_ratings_total == 9007199254740992LL);
    CHECK_INT(r.places[0].price_level, 0);
    rcpt_places_result_free(&r);
}

int main(void)
{
    test_json_empty_object();
    test_xml_nul();
    test_png_zero_size();
    test_png_trns_agrees();
    test_places_key_split();
    test_places_number_ranges();
    return check_done();
}
