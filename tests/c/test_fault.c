/* core/util/fault: the RCPT_FAULTS grammar, nth/times counting, errors. */
#include <string.h>

#include "check.h"
#include "util/fault.h"

static int fires(rcpt_fault_set *s, rcpt_fault_layer l, const char *op, const char *subj,
                 rcpt_fault_hit *h)
{
    memset(h, 0, sizeof *h);
    return rcpt_fault_check(s, l, op, subj, h);
}

int main(void)
{
    rcpt_err err;
    rcpt_fault_set *s;
    rcpt_fault_hit h;

    /* the example of the header */
    CHECK_INT(rcpt_fault_parse("http:nth=3:status=503;http:host=127.0.0.1:status=429:times=2;"
                               "objstore:op=put:nth=2:error=EIO;objstore:op=put:short=100;"
                               "sqlite:nth=40:error=full;http:timeout:nth=1", &s, &err), RCPT_OK);
    CHECK(rcpt_fault_has_layer(s, RCPT_FAULT_SQLITE));
    /* http call 1: rule 2 (host) and rule 6 (nth=1 timeout) match; rule 2 comes first */
    CHECK(fires(s, RCPT_FAULT_HTTP, "GET", "127.0.0.1:80/x", &h));
    CHECK_INT(h.kind, RCPT_FAULT_STATUS);
    CHECK_INT(h.status, 429);
    CHECK(fires(s, RCPT_FAULT_HTTP, "GET", "127.0.0.1:80/x", &h));
    CHECK_INT(h.status, 429);
    /* call 3: rule 1 (nth=3) fires; rule 2 is used up */
    CHECK(fires(s, RCPT_FAULT_HTTP, "GET", "127.0.0.1:80/x", &h));
    CHECK_INT(h.status, 503);
    CHECK(!fires(s, RCPT_FAULT_HTTP, "GET", "127.0.0.1:80/x", &h));
    /* objstore: put 1 is cut short (rule 4 always), put 2 hits rule 3 first */
    CHECK(fires(s, RCPT_FAULT_OBJSTORE, "put", "a", &h));
    CHECK_INT(h.kind, RCPT_FAULT_SHORT);
    CHECK_INT(h.short_len, 100);
    CHECK(fires(s, RCPT_FAULT_OBJSTORE, "put", "a", &h));
    CHECK_INT(h.kind, RCPT_FAULT_ERROR);
    CHECK_INT(h.code, RCPT_EIO);
    CHECK(!fires(s, RCPT_FAULT_OBJSTORE, "get", "a", &h));
    /* sqlite: only the 40th write */
    int n = 0, at = 0;
    for (int i = 1; i <= 60; i++)
        if (fires(s, RCPT_FAULT_SQLITE, "put", "IMAGE#x/LINE#1", &h)) {
            n++;
            at = i;
            CHECK_INT(h.sqlite_code, 13);
        }
    CHECK_INT(n, 1);
    CHECK_INT(at, 40);
    CHECK_INT(rcpt_fault_injected(s), 6);
    rcpt_fault_free(s);

    /* empty: no rules, nothing fires; NULL set is a no-op */
    CHECK_INT(rcpt_fault_parse(" ; ", &s, &err), RCPT_OK);
    CHECK(!rcpt_fault_has_layer(s, RCPT_FAULT_HTTP));
    CHECK(!fires(s, RCPT_FAULT_HTTP, "GET", "h/p", &h));
    rcpt_fault_free(s);
    CHECK(!fires(NULL, RCPT_FAULT_HTTP, "GET", "h/p", &h));

    /* errors name the rule and the field */
    static const struct { const char *spec, *msg; } BAD[] = {
        {"disk:nth=1:error=full", "layer must be http, objstore or sqlite"},
        {"http:nth=0:status=503", "bad value for nth"},
        {"http:status=abc", "bad value for status"},
        {"http:status=700", "bad value for status"},
        {"http:nth=2", "no effect given"},
        {"objstore:error=EBOGUS", "bad value for error"},
        {"sqlite:error=EIO", "bad value for error"},
        {"sqlite:timeout", "unknown field \"timeout\" for sqlite"},
        {"http:timeout:retry_after=3", "retry_after needs status="},
        {"http:status=503:times=-1", "bad value for times"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        s = (rcpt_fault_set *)1;
        CHECK_INT(rcpt_fault_parse(BAD[i].spec, &s, &err), RCPT_EINVAL);
        CHECK(s == NULL);
        CHECK(strstr(err.msg, BAD[i].msg) != NULL);
        CHECK(strstr(err.msg, "RCPT_FAULTS: ") == err.msg);
    }
    return check_done();
}
