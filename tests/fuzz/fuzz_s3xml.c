/* fuzz_s3xml: the S3 XML readers (core/net/xml.c and the two document
 * parsers of core/net/objstore_s3.c) on arbitrary bytes: rcpt_xml_next
 * event by event, rcpt_s3_parse_error with roomy and tiny buffers, and
 * rcpt_s3_parse_list with and without a prefix to strip and with a callback
 * that stops early.  Malformed input must be an error, never a crash. */
#include "fuzz_util.h"
#include "net/objstore.h"
#include "net/xml.h"

typedef struct seen {
    size_t entries, prefixes, stop_after;
} seen;

static int on_entry(void *ud, const rcpt_objstore_entry *e)
{
    seen *s = ud;
    FUZZ_CHECK(e->key != NULL && e->etag != NULL, "NULL key or etag");
    FUZZ_CHECK(e->size >= 0, "negative size %lld", e->size);
    (void)strlen(e->key);
    (void)strlen(e->etag);
    s->entries++;
    return s->stop_after && s->entries + s->prefixes >= s->stop_after ? 77 : 0;
}

static int on_prefix(void *ud, const char *p)
{
    seen *s = ud;
    FUZZ_CHECK(p != NULL, "NULL prefix");
    (void)strlen(p);
    s->prefixes++;
    return s->stop_after && s->entries + s->prefixes >= s->stop_after ? 77 : 0;
}

static void tokens(const char *s, size_t n)
{
    rcpt_xml x;
    rcpt_xml_init(&x, s, n);
    int ev, steps = 0;
    while ((ev = rcpt_xml_next(&x)) > 0) {
        FUZZ_CHECK(x.depth >= 0 && x.depth <= RCPT_XML_MAX_DEPTH + 1, "depth %d", x.depth);
        FUZZ_CHECK(memchr(x.path, 0, sizeof x.path) != NULL, "path not terminated");
        if (ev == RCPT_XML_START || ev == RCPT_XML_CLOSE)
            FUZZ_CHECK(x.name != NULL, "event %d without a name", ev);
        if (ev == RCPT_XML_TEXT)
            FUZZ_CHECK(x.text_len == 0 || (x.text.data && x.text.data[x.text_len] == 0), "text not terminated");
        FUZZ_CHECK(++steps <= (int)n + 2, "more events (%d) than bytes (%zu)", steps, n);
    }
    FUZZ_CHECK(ev == RCPT_XML_END || (ev == RCPT_XML_ERROR && x.err != NULL), "error without a reason");
    rcpt_xml_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    tokens(s, size);

    char code[64], msg[256], c1[1], m1[1], c3[3], m5[5];
    int er = rcpt_s3_parse_error(s, size, code, sizeof code, msg, sizeof msg);
    FUZZ_CHECK(er == 0 || er == -1, "parse_error returned %d", er);
    FUZZ_CHECK(strlen(code) < sizeof code && strlen(msg) < sizeof msg, "unterminated");
    int er1 = rcpt_s3_parse_error(s, size, c1, sizeof c1, m1, sizeof m1);
    FUZZ_CHECK(er1 == er && c1[0] == 0 && m1[0] == 0, "1-byte buffers");
    int er3 = rcpt_s3_parse_error(s, size, c3, sizeof c3, m5, sizeof m5);
    FUZZ_CHECK(er3 == er && strlen(c3) < 3 && strlen(m5) < 5, "small buffers");
    FUZZ_CHECK(strncmp(c3, code, strlen(c3)) == 0, "a small code buffer is not a prefix of the large one");
    FUZZ_CHECK(rcpt_s3_parse_error(s, size, NULL, 0, NULL, 0) == er, "no buffers");

    static const char *const strips[] = {NULL, "lines/"};
    size_t total = 0;
    for (int k = 0; k < 2; k++) {
        seen sn = {0, 0, 0};
        rcpt_objstore_list_opts o = {"/", 0, on_entry, on_prefix, &sn};
        rcpt_buf next = RCPT_BUF_INIT;
        rcpt_err err = {0};
        int trunc = -1;
        int rc = rcpt_s3_parse_list(s, size, strips[k], &o, &trunc, &next, &err);
        FUZZ_CHECK(rc == RCPT_OK || rc == RCPT_ECORRUPT || rc == RCPT_ENOMEM, "list rc %d", rc);
        FUZZ_CHECK(rc == RCPT_OK || (err.code == rc && err.msg[0]), "list error without a message");
        FUZZ_CHECK(trunc == 0 || trunc == 1, "truncated %d", trunc);
        if (rc == RCPT_OK && trunc)
            FUZZ_CHECK(next.len > 0 && strlen(next.data) == next.len, "truncated without a token");
        if (k == 0)
            total = sn.entries + sn.prefixes;
        else
            FUZZ_CHECK(sn.entries + sn.prefixes <= total || rc != RCPT_OK, "strip found more");
        rcpt_buf_free(&next);
        /* a callback that stops: its value comes back */
        if (k == 0 && rc == RCPT_OK && total > 0) {
            seen st = {0, 0, 1};
            rcpt_objstore_list_opts o2 = {"/", 0, on_entry, on_prefix, &st};
            rcpt_buf next2 = RCPT_BUF_INIT;
            rc = rcpt_s3_parse_list(s, size, NULL, &o2, &trunc, &next2, &err);
            FUZZ_CHECK(rc == 77 && st.entries + st.prefixes == 1, "stop: rc %d after %zu", rc,
                       st.entries + st.prefixes);
            rcpt_buf_free(&next2);
        }
    }
    return 0;
}
