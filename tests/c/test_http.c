/* rcpt_http and the object store's pure parts: query and key encoding, the
 * backoff schedule (clock/sleep/random hooks, no waiting), retries against a
 * loopback server this test runs (500, 503, 429 + Retry-After, a refused
 * connection, a timeout), fault injection, SigV4 headers, keep-alive, the
 * S3 XML parsers, key rules, and that no secret reaches a message. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "net/http.h"
#include "net/objstore.h"
#include "net/xml.h"

/* ---- a scripted loopback HTTP server ------------------------------------------ */

typedef struct answer {
    int status;            /* 0 = hang: accept the request, never answer */
    const char *headers;   /* extra header lines, each ending in \r\n */
    const char *body;
} answer;

typedef struct server {
    int lfd, port;
    pthread_t th;
    const answer *script;
    int n, idx;
    int accepts, requests;
    char last[16384];       /* the last request's head */
    volatile int stop;
    pthread_mutex_t mu;
} server;

static void *serve(void *ud)
{
    server *s = ud;
    while (!s->stop) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->accepts++;
        pthread_mutex_unlock(&s->mu);
        char buf[65536];
        size_t len = 0;
        for (;;) {
            /* read one request head (and its body by Content-Length) */
            char *end = NULL;
            while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
                struct pollfd q = {c, POLLIN, 0};
                if (s->stop || poll(&q, 1, 50) < 0)
                    goto done;
                if (!(q.revents & (POLLIN | POLLHUP)))
                    continue;
                ssize_t k = read(c, buf + len, sizeof buf - 1 - len);
                if (k <= 0)
                    goto done;
                len += (size_t)k;
            }
            size_t head = (size_t)(end - buf) + 4;
            buf[len] = '\0';
            size_t clen = 0;
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < end)
                clen = strtoul(cl + 17, NULL, 10);
            while (len < head + clen) {
                ssize_t k = read(c, buf + len, sizeof buf - 1 - len);
                if (k <= 0)
                    goto done;
                len += (size_t)k;
            }
            pthread_mutex_lock(&s->mu);
            snprintf(s->last, sizeof s->last, "%.*s", (int)head, buf);
            s->requests++;
            answer a = s->script[s->idx < s->n ? s->idx : s->n - 1];
            s->idx++;
            pthread_mutex_unlock(&s->mu);
            memmove(buf, buf + head + clen, len - head - clen);
            len -= head + clen;
            if (a.status == 0) {
                /* hang until the client gives up (closes) or we stop */
                for (;;) {
                    struct pollfd q = {c, POLLIN, 0};
                    if (s->stop)
                        goto done;
                    if (poll(&q, 1, 50) > 0) {
                        char tmp[256];
                        if (read(c, tmp, sizeof tmp) <= 0)
                            goto done;
                    }
                }
            }
            const char *body = a.body ? a.body : "";
            char resp[4096];
            int n = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n%s", a.status,
                             strlen(body), a.headers ? a.headers : "", body);
            if (write(c, resp, (size_t)n) != n)
                goto done;
        }
    done:
        close(c);
    }
    return NULL;
}

static void server_start(server *s, const answer *script, int n)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->script = script;
    s->n = n;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 8) != 0) {
        perror("server");
        exit(2);
    }
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, serve, s);
}

static void server_stop(server *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
}

/* a port where nothing listens: bind, read the port, close */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- hooks ------------------------------------------------------------------------ */

typedef struct rec {
    long sleeps[32];
    int nsleeps;
    uint64_t rnd[32];
    int nrnd, irnd;
    long long now;
    /* fault script: per client-wide seq (1-based), 0 = none */
    rcpt_http_fault faults[16];
    int nfaults;
    unsigned long long seen_seq[32];
    int nseen;
} rec;

static void h_sleep(void *ud, long ms)
{
    rec *r = ud;
    if (r->nsleeps < 32)
        r->sleeps[r->nsleeps++] = ms;
}

static long long h_now(void *ud) { return ((rec *)ud)->now; }

static uint64_t h_rand(void *ud)
{
    rec *r = ud;
    return r->irnd < r->nrnd ? r->rnd[r->irnd++] : 0;
}

static int h_fault(void *ud, const rcpt_http_fault_ctx *ctx, rcpt_http_fault *f)
{
    rec *r = ud;
    if (r->nseen < 32)
        r->seen_seq[r->nseen++] = ctx->seq;
    if (ctx->seq >= 1 && (int)ctx->seq <= r->nfaults && r->faults[ctx->seq - 1].kind) {
        *f = r->faults[ctx->seq - 1];
        return 1;
    }
    return 0;
}

static rcpt_http_hooks hooks_for(rec *r)
{
    rcpt_http_hooks h = {h_sleep, h_now, h_rand, h_fault, r};
    return h;
}

static int no_secret(const char *msg)
{
    return !strstr(msg, "SECRET") && !strstr(msg, "TOKEN") && !strstr(msg, "Signature") &&
           !strstr(msg, "key=") && !strstr(msg, "AKIDEXAMPLE");
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_encoding(void)
{
    rcpt_http_query q;
    rcpt_http_query_init(&q);
    rcpt_http_query_add(&q, "prefix", "a b/c~ü");
    rcpt_http_query_add(&q, "list-type", "2");
    rcpt_http_query_add(&q, "continuation-token", "x+y=/z");
    rcpt_http_query_add(&q, "uploads", "");
    rcpt_http_query_add(&q, "Zed", "1");  /* upper case sorts before lower case (byte order) */
    rcpt_buf b = RCPT_BUF_INIT;
    CHECK_INT(rcpt_http_query_build(&q, &b), RCPT_OK);
    CHECK_STR(b.data, "Zed=1&continuation-token=x%2By%3D%2Fz&list-type=2&prefix=a%20b%2Fc~%C3%BC&uploads=");
    rcpt_http_query_free(&q);

    rcpt_buf_reset(&b);
    rcpt_http_path_encode(&b, "lines/delta/run 1/a+b=c&d.tar.gz", 32);
    CHECK_STR(b.data, "lines/delta/run%201/a%2Bb%3Dc%26d.tar.gz");
    rcpt_buf_reset(&b);
    rcpt_http_pct_encode(&b, "A-Z_a.z~0/9*", 12);
    CHECK_STR(b.data, "A-Z_a.z~0%2F9%2A");
    rcpt_buf_free(&b);

    char d[200];
    rcpt_http_describe(d, sizeof d, "GET", "https://user:pw@maps.googleapis.com/maps/api/place?key=SECRET#frag");
    CHECK_STR(d, "GET maps.googleapis.com/maps/api/place");
    rcpt_http_describe(d, sizeof d, "PUT", "http://127.0.0.1:9000/b/k?uploadId=X&partNumber=1");
    CHECK_STR(d, "PUT 127.0.0.1:9000/b/k");

    char hx[65];
    rcpt_http_sha256_hex("", 0, hx);
    CHECK_STR(hx, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_backoff_schedule(void)
{
    rcpt_http_retry p = {8, 100, 1000};
    /* with the random draw at the cap, the delay is the cap: doubling, then capped */
    long want[] = {100, 200, 400, 800, 1000, 1000};
    long caps[] = {100, 200, 400, 800, 1000, 1000};
    for (int k = 1; k <= 6; k++) {
        CHECK_INT(rcpt_http_backoff_ms(&p, k, NULL, 0, (uint64_t)caps[k - 1]), want[k - 1]);
        CHECK_INT(rcpt_http_backoff_ms(&p, k, NULL, 0, 0), 0);
        /* full jitter: any draw lands in [0, cap] */
        for (uint64_t r = 1; r < 5000; r += 37)
            CHECK(rcpt_http_backoff_ms(&p, k, NULL, 0, r * 2654435761ULL) <= caps[k - 1]);
    }
    /* Retry-After in seconds, capped by max_delay */
    CHECK_INT(rcpt_http_backoff_ms(&p, 1, "3", 0, 0), 1000);
    rcpt_http_retry p2 = {4, 100, 10000};
    CHECK_INT(rcpt_http_backoff_ms(&p2, 1, "3", 0, 0), 3000);
    CHECK_INT(rcpt_http_backoff_ms(&p2, 1, " 0 ", 0, 12345), 0);
    /* Retry-After as an HTTP date, 5 s after "now" (2023-11-14T22:13:20Z) */
    long long now = 1700000000000LL;
    CHECK_INT(rcpt_http_backoff_ms(&p2, 1, "Tue, 14 Nov 2023 22:13:25 GMT", now, 0), 5000);
    /* a date in the past: retry at once */
    CHECK_INT(rcpt_http_backoff_ms(&p2, 1, "Tue, 14 Nov 2023 22:00:00 GMT", now, 0), 0);
    /* unreadable: fall back to jitter */
    CHECK_INT(rcpt_http_backoff_ms(&p2, 2, "soon", now, 200), 200);
}

static void test_retries_5xx(void)
{
    answer script[] = {{500, NULL, "oops"}, {503, NULL, NULL}, {200, "ETag: \"abc\"\r\n", "hello"}};
    server s;
    server_start(&s, script, 3);
    rcpt_http_client_opts o = {{5, 100, 1000}, 5000, 2000, 0, NULL};
    rcpt_err err = {0};
    rcpt_http_client *c = rcpt_http_client_new(&o, &err);
    rec r = {0};
    r.rnd[0] = 100;
    r.rnd[1] = 200;
    r.nrnd = 2;
    rcpt_http_hooks h = hooks_for(&r);
    rcpt_http_client_set_hooks(c, &h);
    char url[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/obj?key=SECRET", s.port);
    rcpt_http_request rq = {0};
    rq.method = "GET";
    rq.url = url;
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_OK);
    CHECK_INT(resp.status, 200);
    CHECK_INT(resp.attempts, 3);
    CHECK_STR(resp.body.data, "hello");
    CHECK_STR(rcpt_http_response_header(&resp, "etag"), "\"abc\"");
    CHECK_INT(r.nsleeps, 2);
    CHECK_INT(r.sleeps[0], 100);
    CHECK_INT(r.sleeps[1], 200);
    CHECK_INT(resp.waited_ms, 300);
    /* keep-alive: all three requests over one connection */
    CHECK_INT(s.requests, 3);
    CHECK_INT(s.accepts, 1);

    /* 501 is final, not retried */
    server_stop(&s);
    answer s501[] = {{501, NULL, "no"}};
    server_start(&s, s501, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.port);
    r.nsleeps = 0;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EHTTP);
    CHECK_INT(resp.attempts, 1);
    CHECK_INT(r.nsleeps, 0);
    CHECK_STR(resp.body.data, "no");

    /* 500 every time: gives up after max_attempts with a clean message */
    server_stop(&s);
    answer s500[] = {{500, NULL, "<Error>SECRET</Error>"}};
    server_start(&s, s500, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/maps/api/place/json?input=x&key=SECRET", s.port);
    rcpt_http_retry three = {3, 10, 50};
    rq.retry = &three;
    r.nsleeps = 0;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EHTTP);
    CHECK_INT(resp.status, 500);
    CHECK_INT(resp.attempts, 3);
    CHECK_INT(r.nsleeps, 2);
    char want[200];
    snprintf(want, sizeof want, "GET 127.0.0.1:%d/maps/api/place/json: HTTP 500 after 3 attempts", s.port);
    CHECK_STR(err.msg, want);
    CHECK(no_secret(err.msg));
    /* 404 maps to ENOTFOUND */
    rcpt_http_response_free(&resp);
    rcpt_http_client_free(c);
    server_stop(&s);
}

static void test_retry_after_429(void)
{
    answer script[] = {{429, "Retry-After: 2\r\n", "slow down"}, {200, NULL, "ok"}};
    server s;
    server_start(&s, script, 2);
    rcpt_http_client_opts o = {{4, 100, 5000}, 5000, 2000, 0, NULL};
    rcpt_err err = {0};
    rcpt_http_client *c = rcpt_http_client_new(&o, &err);
    rec r = {0};
    r.rnd[0] = 77;
    r.nrnd = 1;
    rcpt_http_hooks h = hooks_for(&r);
    rcpt_http_client_set_hooks(c, &h);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", s.port);
    const char *hdr[] = {"Content-Type: application/json", "Authorization: Bearer sk-SECRET"};
    rcpt_http_request rq = {0};
    rq.method = "POST";
    rq.url = url;
    rq.headers = hdr;
    rq.n_headers = 2;
    rq.body = "{\"input\":[\"a\"]}";
    rq.body_len = strlen(rq.body);
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_OK);
    CHECK_INT(resp.status, 200);
    CHECK_INT(r.nsleeps, 1);
    CHECK_INT(r.sleeps[0], 2000);  /* the server's Retry-After, not the jitter */
    CHECK(strstr(s.last, "POST /v1/embeddings HTTP/1.1") != NULL);
    CHECK(strstr(s.last, "Content-Length: 15") != NULL);
    /* Retry-After larger than max_delay: capped */
    server_stop(&s);
    answer big[] = {{503, "Retry-After: 3600\r\n", ""}, {200, NULL, "ok"}};
    server_start(&s, big, 2);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/embeddings", s.port);
    r.nsleeps = 0;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_OK);
    CHECK_INT(r.nsleeps, 1);
    CHECK_INT(r.sleeps[0], 5000);
    rcpt_http_response_free(&resp);
    rcpt_http_client_free(c);
    server_stop(&s);
}

static void test_refused_and_timeout(void)
{
    rcpt_http_client_opts o = {{3, 50, 400}, 5000, 2000, 0, NULL};
    rcpt_err err = {0};
    rcpt_http_client *c = rcpt_http_client_new(&o, &err);
    rec r = {0};
    r.rnd[0] = 50;
    r.rnd[1] = 100;
    r.nrnd = 2;
    rcpt_http_hooks h = hooks_for(&r);
    rcpt_http_client_set_hooks(c, &h);
    char url[160];
    int port = dead_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/b/k?X-Amz-Signature=SECRET", port);
    rcpt_http_request rq = {0};
    rq.method = "GET";
    rq.url = url;
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EIO);
    CHECK_INT(resp.status, 0);
    CHECK_INT(resp.attempts, 3);
    CHECK_INT(r.nsleeps, 2);
    CHECK_INT(r.sleeps[0], 50);
    CHECK_INT(r.sleeps[1], 100);
    char want[160];
    snprintf(want, sizeof want, "GET 127.0.0.1:%d/b/k: ", port);
    CHECK(strncmp(err.msg, want, strlen(want)) == 0);
    CHECK(strstr(err.msg, "after 3 attempts") != NULL);
    CHECK(no_secret(err.msg));

    /* a server that never answers: the timeout, retried, then ETIMEOUT */
    answer hang[] = {{0, NULL, NULL}};
    server s;
    server_start(&s, hang, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow?key=SECRET", s.port);
    rq.timeout_ms = 300;
    rcpt_http_retry two = {2, 10, 10};
    rq.retry = &two;
    r.nsleeps = 0;
    r.irnd = 0;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_ETIMEOUT);
    CHECK_INT(resp.attempts, 2);
    CHECK_INT(s.requests, 2);
    CHECK_INT(r.nsleeps, 1);
    CHECK(strstr(err.msg, "/slow") != NULL);
    CHECK(no_secret(err.msg));
    server_stop(&s);
    rcpt_http_response_free(&resp);
    rcpt_http_client_free(c);
}

static void test_fault_injection(void)
{
    answer script[] = {{200, NULL, "0123456789abcdefghijklmnopqrstuvwxyz"}};
    server s;
    server_start(&s, script, 1);
    rcpt_http_client_opts o = {{6, 10, 100}, 5000, 2000, 0, NULL};
    rcpt_err err = {0};
    rcpt_http_client *c = rcpt_http_client_new(&o, &err);
    rec r = {0};
    r.faults[0] = (rcpt_http_fault){RCPT_HTTP_FAULT_STATUS, 503, "<Error/>", NULL, 0};
    r.faults[1] = (rcpt_http_fault){RCPT_HTTP_FAULT_TIMEOUT, 0, NULL, NULL, 0};
    r.faults[2] = (rcpt_http_fault){RCPT_HTTP_FAULT_REFUSED, 0, NULL, NULL, 0};
    r.faults[3] = (rcpt_http_fault){RCPT_HTTP_FAULT_STATUS, 429, NULL, "1", 0};
    r.faults[4] = (rcpt_http_fault){RCPT_HTTP_FAULT_SHORT_BODY, 0, NULL, NULL, 10};
    r.nfaults = 5;
    rcpt_http_hooks h = hooks_for(&r);
    rcpt_http_client_set_hooks(c, &h);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/f", s.port);
    rcpt_http_request rq = {0};
    rq.method = "GET";
    rq.url = url;
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_OK);
    CHECK_INT(resp.attempts, 6);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body.data, "0123456789abcdefghijklmnopqrstuvwxyz");
    CHECK_INT(r.nsleeps, 5);
    CHECK_INT(r.sleeps[3], 100);  /* Retry-After: 1 -> 1000 ms, capped at 100 */
    /* only the short-body attempt and the last one reached the server */
    CHECK_INT(s.requests, 2);
    CHECK_INT(r.nseen, 6);
    CHECK_INT(r.seen_seq[5], 6);

    /* the next call's attempts continue the client-wide sequence; a fault
     * that is not retryable ends the call at once, marked as injected */
    r.faults[6] = (rcpt_http_fault){RCPT_HTTP_FAULT_STATUS, 403, "denied", NULL, 0};
    r.nfaults = 7;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EAUTH);
    CHECK_INT(resp.status, 403);
    CHECK_STR(resp.body.data, "denied");
    /* retries exhausted on injected timeouts */
    for (int i = 7; i < 16; i++)
        r.faults[i] = (rcpt_http_fault){RCPT_HTTP_FAULT_TIMEOUT, 0, NULL, NULL, 0};
    r.nfaults = 16;
    rcpt_http_retry three = {3, 1, 1};
    rq.retry = &three;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_ETIMEOUT);
    CHECK(strstr(err.msg, "(injected) after 3 attempts") != NULL);
    rcpt_http_client_set_hooks(c, NULL);
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_OK);
    rcpt_http_response_free(&resp);
    rcpt_http_client_free(c);
    server_stop(&s);
}

typedef struct memsrc {
    const char *p;
    size_t n, pos;
} memsrc;

static size_t ms_read(void *ud, char *dst, size_t n)
{
    memsrc *m = ud;
    size_t k = m->n - m->pos < n ? m->n - m->pos : n;
    memcpy(dst, m->p + m->pos, k);
    m->pos += k;
    return k;
}

static int ms_rewind(void *ud)
{
    ((memsrc *)ud)->pos = 0;
    return 0;
}

static void test_sigv4_and_secrets(void)
{
    answer script[] = {{403, NULL, "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>"}};
    server s;
    server_start(&s, script, 1);
    rcpt_err err = {0};
    rcpt_http_client *c = rcpt_http_client_new(NULL, &err);
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/bucket/a%%20b", s.port);
    rcpt_http_sigv4 sig = {"eu-west-1", "s3", "AKIDEXAMPLE", "wJalrXUtnFEMI/SECRETKEY", "TOKEN-abc"};
    rcpt_http_request rq = {0};
    rq.method = "PUT";
    rq.url = url;
    rq.body = "hello";
    rq.body_len = 5;
    rq.sigv4 = &sig;
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EAUTH);
    CHECK(strstr(s.last, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") != NULL);
    CHECK(strstr(s.last, "/eu-west-1/s3/aws4_request") != NULL);
    CHECK(strstr(s.last, "X-Amz-Security-Token: TOKEN-abc") != NULL);
    /* sha256("hello"), added for S3 */
    CHECK(strstr(s.last, "x-amz-content-sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824") !=
          NULL);
    CHECK(strstr(s.last, "Content-Type: application/octet-stream") != NULL);
    CHECK(strstr(s.last, "x-amz-security-token") != NULL || strstr(s.last, "SignedHeaders=") != NULL);
    CHECK(no_secret(err.msg));
    CHECK(strstr(err.msg, "wJalr") == NULL);

    /* a streamed S3 body without its hash is refused before sending */
    memsrc m = {"streamed", 8, 0};
    rq.body = NULL;
    rq.body_len = 0;
    rq.body_read = ms_read;
    rq.body_rewind = ms_rewind;
    rq.body_ud = &m;
    rq.body_size = 8;
    int before = s.requests;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EINVAL);
    CHECK_INT(s.requests, before);
    /* with the header it goes out, streamed, with the right length */
    const char *hv[] = {"x-amz-content-sha256: UNSIGNED-PAYLOAD"};
    rq.headers = hv;
    rq.n_headers = 1;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EAUTH);
    CHECK(strstr(s.last, "Content-Length: 8") != NULL);
    /* a header with a line break is refused */
    const char *evil[] = {"X-A: b\r\nX-Injected: 1"};
    rq.headers = evil;
    CHECK_INT(rcpt_http_do(c, &rq, &resp, &err), RCPT_EINVAL);
    rcpt_http_response_free(&resp);
    rcpt_http_client_free(c);
    server_stop(&s);
}

struct acc {
    char keys[4][128];
    long long sizes[4];
    char etag[64];
    long long lm;
    int n;
    char prefix[64];
};

static int on_e(void *ud, const rcpt_objstore_entry *e)
{
    struct acc *a = ud;
    if (a->n < 4) {
        snprintf(a->keys[a->n], sizeof a->keys[0], "%s", e->key);
        a->sizes[a->n] = e->size;
        if (a->n == 0) {
            snprintf(a->etag, sizeof a->etag, "%s", e->etag);
            a->lm = e->last_modified;
        }
        a->n++;
    }
    return 0;
}

static int on_p(void *ud, const char *p)
{
    struct acc *a = ud;
    snprintf(a->prefix, sizeof a->prefix, "%s", p);
    return 0;
}

static void test_xml(void)
{
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>tok&amp;1</NextContinuationToken>"
        "<Contents><Key>p/a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x20AC;</Key>"
        "<LastModified>2023-11-14T22:13:20.000Z</LastModified><ETag>&quot;abc&quot;</ETag>"
        "<Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<!-- a comment --><Contents><Key><![CDATA[p/x<y]]></Key><Size>0</Size></Contents>"
        "<CommonPrefixes><Prefix>p/sub/</Prefix></CommonPrefixes>"
        "<Contents><Key>other/z</Key><Size>1</Size></Contents>"
        "</ListBucketResult>";
    struct acc a = {0};
    rcpt_objstore_list_opts o = {0};
    o.on_entry = on_e;
    o.ud = &a;
    o.on_prefix = on_p;
    int trunc = 0;
    rcpt_buf tok = RCPT_BUF_INIT;
    rcpt_err err = {0};
    CHECK_INT(rcpt_s3_parse_list(doc, strlen(doc), "p/", &o, &trunc, &tok, &err), RCPT_OK);
    CHECK_INT(trunc, 1);
    CHECK_STR(tok.data, "tok&1");
    CHECK_INT(a.n, 2);  /* other/z does not start with the prefix */
    CHECK_STR(a.keys[0], "a & b <c> \"d\" 'e' \xc3\xa9\xe2\x82\xac");
    CHECK_INT(a.sizes[0], 42);
    CHECK_STR(a.etag, "abc");
    CHECK_INT(a.lm, 1700000000);
    CHECK_STR(a.keys[1], "x<y");
    CHECK_STR(a.prefix, "sub/");

    /* malformed documents are errors, never crashes */
    const char *bad[] = {
        "<ListBucketResult><Contents><Key>a</Key></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a &bogus; b</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>1x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<Error><Code>x</Code></Error>",
        "<ListBucketResult>",
        "",
        "<ListBucketResult><Contents><Key>&#0;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>&#xD800;</Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult></ListBucketResult><Second/>",
        "<ListBucketResult><![CDATA[x</ListBucketResult>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&a, 0, sizeof a);
        err.code = 0;
        int rc = rcpt_s3_parse_list(bad[i], strlen(bad[i]), "", &o, &trunc, &tok, &err);
        if (rc != RCPT_ECORRUPT)
            fprintf(stderr, "bad[%zu] gave %d\n", i, rc);
        CHECK_INT(rc, RCPT_ECORRUPT);
    }
    /* deep nesting is refused, not a stack overflow */
    rcpt_buf deep = RCPT_BUF_INIT;
    for (int i = 0; i < 100; i++)
        rcpt_buf_puts(&deep, "<a>");
    CHECK_INT(rcpt_s3_parse_list(deep.data, deep.len, "", &o, &trunc, &tok, &err), RCPT_ECORRUPT);
    rcpt_buf_free(&deep);
    rcpt_buf_free(&tok);

    char code[32], msg[64];
    const char *e = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                    "<Message>The specified key does not exist.</Message><Key>k</Key></Error>";
    CHECK_INT(rcpt_s3_parse_error(e, strlen(e), code, sizeof code, msg, sizeof msg), 0);
    CHECK_STR(code, "NoSuchKey");
    CHECK_STR(msg, "The specified key does not exist.");
    /* truncated into small buffers, still terminated */
    char c4[4];
    CHECK_INT(rcpt_s3_parse_error(e, strlen(e), c4, sizeof c4, msg, 8), 0);
    CHECK_STR(c4, "NoS");
    CHECK_STR(msg, "The spe");
    CHECK_INT(rcpt_s3_parse_error("<html>503</html>", 16, code, sizeof code, msg, sizeof msg), -1);
    CHECK_INT(rcpt_s3_parse_error("", 0, code, sizeof code, msg, sizeof msg), -1);

    rcpt_buf esc = RCPT_BUF_INIT;
    rcpt_xml_escape(&esc, "\"a\"&<b>'", 8);
    CHECK_STR(esc.data, "&quot;a&quot;&amp;&lt;b&gt;&apos;");
    rcpt_buf_free(&esc);
}

static void test_keys(void)
{
    rcpt_err err = {0};
    const char *good[] = {"raw/img.png", "ocr_results/a-b_c.json", "lines/snapshot/timestamped/20250101_000000/x",
                          "a..b", ".hidden", "a/.b/c", "ü/emoji-\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_INT(rcpt_objstore_key_check(good[i], strlen(good[i]), &err), RCPT_OK);
    struct {
        const char *k;
        size_t n;
        const char *why;
    } bad[] = {
        {"", 0, "empty"},           {"/abs", 4, "start with '/'"}, {"a/", 2, "end with '/'"},
        {"a//b", 4, "\"//\""},      {"../x", 4, "\"..\""},          {"a/../b", 6, "\"..\""},
        {"a/./b", 5, "\".\""},      {"..", 2, "\"..\""},            {"a\\b", 3, "backslash"},
        {"a\0b", 3, "NUL"},         {"a\nb", 3, "control"},         {"a\x7f", 2, "control"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(rcpt_objstore_key_check(bad[i].k, bad[i].n, &err), RCPT_EINVAL);
        if (!strstr(err.msg, bad[i].why))
            fprintf(stderr, "key %zu: message \"%s\" lacks \"%s\"\n", i, err.msg, bad[i].why);
        CHECK(strstr(err.msg, bad[i].why) != NULL);
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    char big[1100];
    memset(big, 'k', sizeof big);
    CHECK_INT(rcpt_objstore_key_check(big, 1024, &err), RCPT_OK);
    CHECK_INT(rcpt_objstore_key_check(big, 1025, &err), RCPT_EINVAL);
    CHECK(strstr(err.msg, "longer than 1024") != NULL);

    /* opening: URLs and credentials */
    rcpt_objstore *st = NULL;
    CHECK_INT(rcpt_objstore_open("s3://Bad_Bucket", NULL, &st, &err), RCPT_EINVAL);
    CHECK_INT(rcpt_objstore_open("gs://b", NULL, &st, &err), RCPT_EINVAL);
    CHECK_INT(rcpt_objstore_open("s3://b/../x", NULL, &st, &err), RCPT_EINVAL);
    CHECK(st == NULL);
}

static const char *fake_env(void *ud, const char *name)
{
    (void)ud;
    if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0) return "AKIDEXAMPLE";
    if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0) return "SECRETSECRET";
    if (strcmp(name, "AWS_SESSION_TOKEN") == 0) return "TOKENTOKEN";
    if (strcmp(name, "AWS_REGION") == 0) return "eu-central-1";
    return NULL;
}

struct lacc {
    int n;
    char k[64];
    char p[64];
};

static const char *getenv_ep(void *ud, const char *name)
{
    if (strcmp(name, "AWS_ENDPOINT_URL_S3") == 0)
        return ud;
    return fake_env(NULL, name);
}

static int lp_e(void *ud, const rcpt_objstore_entry *e)
{
    struct lacc *a = ud;
    a->n++;
    snprintf(a->k, sizeof a->k, "%s", e->key);
    return 0;
}

static int lp_p(void *ud, const char *p)
{
    struct lacc *a = ud;
    snprintf(a->p, sizeof a->p, "%s", p);
    return 0;
}

static void test_s3_against_loopback(void)
{
    /* virtual-hosted URLs cannot be reached here; an endpoint override is
     * path-style: check the request line, the query and the headers */
    answer script[] = {
        {500, NULL, "<Error><Code>InternalError</Code><Message>try again</Message></Error>"},
        {404, NULL, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"},
        {200, NULL,
         "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>pre/fix/a b</Key><Size>3</Size>"
         "</Contents><CommonPrefixes><Prefix>pre/fix/d/</Prefix></CommonPrefixes></ListBucketResult>"},
    };
    server s;
    server_start(&s, script, 3);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/", s.port);
    const char *env_ep = ep;
    rcpt_objstore_opts o = {0};
    o.getenv = getenv_ep;
    o.getenv_ud = (void *)env_ep;
    o.http.retry = (rcpt_http_retry){2, 1, 2};
    rcpt_objstore *st = NULL;
    rcpt_err err = {0};
    CHECK_INT(rcpt_objstore_open("s3://bkt/pre/fix/", &o, &st, &err), RCPT_OK);
    rcpt_buf b = RCPT_BUF_INIT;
    CHECK_INT(rcpt_objstore_get(st, "dir/a b+c", &b, &err), RCPT_ENOTFOUND);
    CHECK(strstr(s.last, "GET /bkt/pre/fix/dir/a%20b%2Bc HTTP/1.1") != NULL);
    CHECK(strstr(s.last, "/eu-central-1/s3/aws4_request") != NULL);
    CHECK(strstr(s.last, "X-Amz-Security-Token: TOKENTOKEN") != NULL);
    CHECK(strstr(err.msg, "NoSuchKey") != NULL);
    CHECK(strstr(err.msg, "dir/a b+c") != NULL);
    CHECK(no_secret(err.msg));
    CHECK_INT(s.requests, 2);  /* the 500 was retried */

    struct lacc acc = {0};
    rcpt_objstore_list_opts lo = {0};
    lo.delimiter = "/";
    lo.on_entry = lp_e;
    lo.on_prefix = lp_p;
    lo.ud = &acc;
    CHECK_INT(rcpt_objstore_list(st, "", &lo, &err), RCPT_OK);
    CHECK(strstr(s.last, "GET /bkt?delimiter=%2F&list-type=2&max-keys=1000&prefix=pre%2Ffix%2F HTTP/1.1") != NULL);
    CHECK_INT(acc.n, 1);
    CHECK_STR(acc.k, "a b");
    CHECK_STR(acc.p, "d/");
    CHECK(rcpt_objstore_http_client(st) != NULL);
    rcpt_buf_free(&b);
    rcpt_objstore_close(st);
    server_stop(&s);

    /* the key length limit counts the store's prefix */
    o.getenv = fake_env;
    CHECK_INT(rcpt_objstore_open("s3://bkt/pre", &o, &st, &err), RCPT_OK);
    char big[1030];
    memset(big, 'k', 1022);
    big[1022] = '\0';
    rcpt_buf b2 = RCPT_BUF_INIT;
    CHECK_INT(rcpt_objstore_get(st, big, &b2, &err), RCPT_EINVAL);
    rcpt_objstore_close(st);
}

int main(void)
{
    test_encoding();
    test_backoff_schedule();
    test_retries_5xx();
    test_retry_after_429();
    test_refused_and_timeout();
    test_fault_injection();
    test_sigv4_and_secrets();
    test_xml();
    test_keys();
    test_s3_against_loopback();
    return check_done();
}
