/* rcpt_http: libcurl easy-handle wrapper with retries, SigV4 and test hooks.
 * See http.h for the contract. */
#include "net/http.h"
#include "util/fault.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* curl_global_init is not thread-safe and must run once per process; the
 * pthread_once guard is the only process-wide state and is write-once. */
static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_OK;
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

struct rcpt_http_client {
    CURL *h;
    rcpt_http_client_opts opts;
    char user_agent[128];
    rcpt_http_hooks hooks;
    int have_hooks;
    uint64_t rng;
    unsigned long long seq;
    rcpt_fault_set *faults;          /* RCPT_FAULTS (tests only), NULL normally */
    char fault_retry_after[24];      /* lives as long as the injected answer */
};

/* ---- response ------------------------------------------------------------ */

void rcpt_http_response_init(rcpt_http_response *r)
{
    memset(r, 0, sizeof *r);
    rcpt_buf_init(&r->body);
}

static void resp_clear_headers(rcpt_http_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->n_headers = 0;
}

void rcpt_http_response_free(rcpt_http_response *r)
{
    if (!r)
        return;
    resp_clear_headers(r);
    free(r->headers);
    rcpt_buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

const char *rcpt_http_response_header(const rcpt_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static int resp_add_header(rcpt_http_response *r, const char *name, size_t nl,
                           const char *value, size_t vl)
{
    if (r->n_headers == r->cap_headers) {
        size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
        rcpt_http_header *h = realloc(r->headers, cap * sizeof *h);
        if (!h)
            return RCPT_ENOMEM;
        r->headers = h;
        r->cap_headers = cap;
    }
    char *n = strndup(name, nl), *v = strndup(value, vl);
    if (!n || !v) {
        free(n);
        free(v);
        return RCPT_ENOMEM;
    }
    r->headers[r->n_headers].name = n;
    r->headers[r->n_headers].value = v;
    r->n_headers++;
    return RCPT_OK;
}

/* ---- URL helpers ----------------------------------------------------------- */

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static int pct_encode(rcpt_buf *out, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    rcpt_buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            rcpt_buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rcpt_buf_append(out, e, 3);
        }
    }
    return out->oom ? RCPT_ENOMEM : RCPT_OK;
}

int rcpt_http_pct_encode(rcpt_buf *out, const char *s, size_t n) { return pct_encode(out, s, n, 0); }
int rcpt_http_path_encode(rcpt_buf *out, const char *s, size_t n) { return pct_encode(out, s, n, 1); }

void rcpt_http_query_init(rcpt_http_query *q) { memset(q, 0, sizeof *q); }

void rcpt_http_query_free(rcpt_http_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->p[i].k);
        free(q->p[i].v);
    }
    free(q->p);
    memset(q, 0, sizeof *q);
}

/* Parameters are stored already encoded: SigV4 sorts by the encoded key. */
int rcpt_http_query_add(rcpt_http_query *q, const char *key, const char *value)
{
    if (q->oom)
        return RCPT_ENOMEM;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        struct rcpt_http_qparam *p = realloc(q->p, cap * sizeof *p);
        if (!p) {
            q->oom = 1;
            return RCPT_ENOMEM;
        }
        q->p = p;
        q->cap = cap;
    }
    rcpt_buf k = RCPT_BUF_INIT, v = RCPT_BUF_INIT;
    pct_encode(&k, key, strlen(key), 0);
    pct_encode(&v, value ? value : "", value ? strlen(value) : 0, 0);
    rcpt_buf_putc(&k, 0);
    rcpt_buf_putc(&v, 0);
    if (k.oom || v.oom) {
        rcpt_buf_free(&k);
        rcpt_buf_free(&v);
        q->oom = 1;
        return RCPT_ENOMEM;
    }
    q->p[q->n].k = rcpt_buf_detach(&k, NULL);
    q->p[q->n].v = rcpt_buf_detach(&v, NULL);
    q->n++;
    return RCPT_OK;
}

static int qparam_cmp(const void *a, const void *b)
{
    const struct rcpt_http_qparam *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

int rcpt_http_query_build(const rcpt_http_query *q, rcpt_buf *out)
{
    if (q->oom)
        return RCPT_ENOMEM;
    if (q->n == 0)
        return RCPT_OK;
    struct rcpt_http_qparam *s = malloc(q->n * sizeof *s);
    if (!s)
        return RCPT_ENOMEM;
    memcpy(s, q->p, q->n * sizeof *s);
    qsort(s, q->n, sizeof *s, qparam_cmp);
    for (size_t i = 0; i < q->n; i++)
        rcpt_buf_printf(out, "%s%s=%s", i ? "&" : "", s[i].k, s[i].v);
    free(s);
    return out->oom ? RCPT_ENOMEM : RCPT_OK;
}

/* Split url into host[:port] and path, dropping scheme, userinfo, query and
 * fragment: what a message may show of a URL. */
static void url_parts(const char *url, const char **host, size_t *hl, const char **path, size_t *pl)
{
    const char *p = url ? url : "";
    const char *s = strstr(p, "://");
    if (s)
        p = s + 3;
    size_t auth = strcspn(p, "/?#");
    const char *at = memchr(p, '@', auth);
    if (at) {
        auth -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    *host = p;
    *hl = auth;
    p += auth;
    *path = p;
    *pl = strcspn(p, "?#");
}

void rcpt_http_describe(char *out, size_t cap, const char *method, const char *url)
{
    const char *h, *p;
    size_t hl, pl;
    url_parts(url, &h, &hl, &p, &pl);
    snprintf(out, cap, "%s %.*s%.*s", method ? method : "?", (int)hl, h, (int)pl, p);
}

void rcpt_http_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int ml = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(data ? data : "", n, md, &ml, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* ---- backoff ------------------------------------------------------------------ */

/* Retry-After: delta-seconds or an HTTP date; -1 when absent or unreadable. */
static long long retry_after_ms(const char *v, long long now_ms)
{
    if (!v)
        return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!*v)
        return -1;
    if (isdigit((unsigned char)*v)) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end || errno)
            return -1;
        if (s > 365ULL * 86400)  /* absurd: the cap takes care of it */
            s = 365ULL * 86400;
        return (long long)s * 1000;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    long long ms = (long long)t * 1000 - now_ms;
    return ms < 0 ? 0 : ms;
}

long rcpt_http_backoff_ms(const rcpt_http_retry *p, int k, const char *retry_after,
                          long long now_ms, uint64_t rnd)
{
    long maxd = p->max_delay_ms > 0 ? p->max_delay_ms : 0;
    long long ra = retry_after_ms(retry_after, now_ms);
    if (ra >= 0)
        return (long)(ra < maxd ? ra : maxd);
    long long cap = p->base_delay_ms > 0 ? p->base_delay_ms : 0;
    for (int i = 1; i < k && cap < maxd; i++)
        cap *= 2;
    if (cap > maxd)
        cap = maxd;
    return cap > 0 ? (long)(rnd % (uint64_t)(cap + 1)) : 0;
}

/* ---- hooks' defaults -------------------------------------------------------------- */

static void real_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static long long real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void c_sleep(rcpt_http_client *c, long ms)
{
    if (c->have_hooks && c->hooks.sleep_ms)
        c->hooks.sleep_ms(c->hooks.ud, ms);
    else if (ms > 0)
        real_sleep_ms(ms);
}

static long long c_now(rcpt_http_client *c)
{
    return c->have_hooks && c->hooks.now_ms ? c->hooks.now_ms(c->hooks.ud) : real_now_ms();
}

static uint64_t c_rand(rcpt_http_client *c)
{
    return c->have_hooks && c->hooks.random ? c->hooks.random(c->hooks.ud) : xorshift(&c->rng);
}

/* ---- client -------------------------------------------------------------------------- */

/* The fault hook installed from RCPT_FAULTS (core/util/fault.h): the subject
 * of a rule's key=/host= is "host/path" (never the query: it may hold a key). */
static int env_fault(void *ud, const rcpt_http_fault_ctx *ctx, rcpt_http_fault *f)
{
    rcpt_http_client *c = ud;
    char subject[768];
    snprintf(subject, sizeof subject, "%s%s", ctx->host ? ctx->host : "", ctx->path ? ctx->path : "");
    rcpt_fault_hit h;
    if (!rcpt_fault_check(c->faults, RCPT_FAULT_HTTP, ctx->method, subject, &h))
        return 0;
    switch (h.kind) {
    case RCPT_FAULT_STATUS:
        f->kind = RCPT_HTTP_FAULT_STATUS;
        f->status = h.status;
        f->body = NULL;
        if (h.retry_after[0]) {
            memcpy(c->fault_retry_after, h.retry_after, sizeof c->fault_retry_after);
            f->retry_after = c->fault_retry_after;
        }
        break;
    case RCPT_FAULT_TIMEOUT: f->kind = RCPT_HTTP_FAULT_TIMEOUT; break;
    case RCPT_FAULT_REFUSED: f->kind = RCPT_HTTP_FAULT_REFUSED; break;
    case RCPT_FAULT_SHORT:
        f->kind = RCPT_HTTP_FAULT_SHORT_BODY;
        f->short_len = h.short_len;
        break;
    default: return 0;
    }
    return 1;
}

rcpt_http_client *rcpt_http_client_new(const rcpt_http_client_opts *opts, rcpt_err *err)
{
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) {
        rcpt_err_set(err, RCPT_EIO, "http: curl_global_init failed: %s",
                     curl_easy_strerror(g_curl_init_rc));
        return NULL;
    }
    rcpt_http_client *c = calloc(1, sizeof *c);
    if (!c) {
        rcpt_err_set(err, RCPT_ENOMEM, "http: out of memory");
        return NULL;
    }
    if (opts)
        c->opts = *opts;
    if (c->opts.retry.max_attempts <= 0) {
        rcpt_http_retry d = RCPT_HTTP_RETRY_DEFAULT;
        c->opts.retry = d;
    }
    if (c->opts.timeout_ms == 0)
        c->opts.timeout_ms = 30000;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = 5000;
    if (c->opts.stall_timeout_ms == 0)
        c->opts.stall_timeout_ms = 30000;
    snprintf(c->user_agent, sizeof c->user_agent, "%s",
             c->opts.user_agent ? c->opts.user_agent : "rcpt/0.1");
    c->opts.user_agent = c->user_agent;
    c->rng = (uint64_t)real_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)c;
    if (!c->rng)
        c->rng = 88172645463325252ULL;
    c->h = curl_easy_init();
    if (!c->h) {
        free(c);
        rcpt_err_set(err, RCPT_ENOMEM, "http: curl_easy_init failed");
        return NULL;
    }
    rcpt_fault_set *fs;
    rcpt_err ferr;
    if (rcpt_fault_env(&fs, &ferr) != RCPT_OK) {
        curl_easy_cleanup(c->h);
        free(c);
        if (err)
            *err = ferr;
        return NULL;
    }
    if (fs && rcpt_fault_has_layer(fs, RCPT_FAULT_HTTP)) {
        rcpt_http_hooks hk = {.fault = env_fault, .ud = c};
        c->faults = fs;
        rcpt_http_client_set_hooks(c, &hk);
    }
    return c;
}

void rcpt_http_client_free(rcpt_http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    free(c);
}

void rcpt_http_client_set_hooks(rcpt_http_client *c, const rcpt_http_hooks *hooks)
{
    if (hooks) {
        c->hooks = *hooks;
        c->have_hooks = 1;
    } else {
        memset(&c->hooks, 0, sizeof c->hooks);
        c->have_hooks = 0;
    }
}

/* ---- one attempt ------------------------------------------------------------------------ */

typedef struct attempt {
    const rcpt_http_request *req;
    rcpt_http_response *resp;
    size_t cut_at;          /* SHORT_BODY fault: keep this many bytes */
    int cut;                /* the body was cut on purpose */
    size_t got;
    int sink_failed, read_failed, oom;
} attempt;

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    attempt *a = ud;
    size_t len = size * n;
    size_t l = len;
    while (l && (p[l - 1] == '\r' || p[l - 1] == '\n'))
        l--;
    if (l >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new status line (100 Continue, then the final answer) */
        resp_clear_headers(a->resp);
        const char *sp = memchr(p, ' ', l);
        a->resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    const char *colon = memchr(p, ':', l);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *e = p + l;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (resp_add_header(a->resp, p, nl, v, (size_t)(e - v)) != RCPT_OK) {
        a->oom = 1;
        return 0;
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    attempt *a = ud;
    size_t len = size * n, take = len;
    if (a->cut_at != (size_t)-1) {
        if (a->got >= a->cut_at) {
            a->cut = 1;
            return 0;
        }
        if (a->got + take > a->cut_at)
            take = a->cut_at - a->got;
    }
    a->got += take;
    long st = a->resp->status;
    if (a->req->sink && st >= 200 && st < 300) {
        if (take && a->req->sink(a->req->sink_ud, p, take) != 0) {
            a->sink_failed = 1;
            return 0;
        }
    } else if (rcpt_buf_append(&a->resp->body, p, take) != RCPT_OK) {
        a->oom = 1;
        return 0;
    }
    if (take < len) {
        a->cut = 1;
        return 0;
    }
    return len;
}

static size_t on_read(char *dst, size_t size, size_t n, void *ud)
{
    attempt *a = ud;
    size_t r = a->req->body_read(a->req->body_ud, dst, size * n);
    if (r == (size_t)-1) {
        a->read_failed = 1;
        return CURL_READFUNC_ABORT;
    }
    return r;
}

static int has_header(const rcpt_http_request *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strncasecmp(req->headers[i], name, nl) == 0 && req->headers[i][nl] == ':')
            return 1;
    return 0;
}

static int has_body(const rcpt_http_request *req)
{
    return req->body_read || req->body_len > 0 || strcmp(req->method, "PUT") == 0 ||
           strcmp(req->method, "POST") == 0 || strcmp(req->method, "PATCH") == 0;
}

/* Build the header list once per call (it does not change between attempts). */
static struct curl_slist *build_headers(const rcpt_http_request *req, int *oom)
{
    struct curl_slist *l = NULL, *t;
#define ADD(s) do { t = curl_slist_append(l, (s)); if (!t) { *oom = 1; return l; } l = t; } while (0)
    for (size_t i = 0; i < req->n_headers; i++)
        ADD(req->headers[i]);
    if (has_body(req) && !has_header(req, "Content-Type"))
        ADD("Content-Type: application/octet-stream");
    if (req->sigv4) {
        if (req->sigv4->session_token && *req->sigv4->session_token) {
            rcpt_buf b = RCPT_BUF_INIT;
            rcpt_buf_printf(&b, "X-Amz-Security-Token: %s", req->sigv4->session_token);
            if (b.oom) {
                *oom = 1;
                return l;
            }
            t = curl_slist_append(l, b.data);
            rcpt_buf_free(&b);
            if (!t) {
                *oom = 1;
                return l;
            }
            l = t;
        }
        if (strcmp(req->sigv4->service, "s3") == 0 && !req->body_read &&
            !has_header(req, "x-amz-content-sha256")) {
            char hx[65], line[96];
            rcpt_http_sha256_hex(req->body, req->body_len, hx);
            snprintf(line, sizeof line, "x-amz-content-sha256: %s", hx);
            ADD(line);
        }
    }
#undef ADD
    return l;
}

static void set_common(rcpt_http_client *c, const rcpt_http_request *req, attempt *a,
                       struct curl_slist *hl, char *sigv4)
{
    CURL *h = c->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    long to = req->timeout_ms ? req->timeout_ms : c->opts.timeout_ms;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, to > 0 ? to : 0L);
    long cto = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : c->opts.connect_timeout_ms;
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cto);
    if (c->opts.stall_timeout_ms > 0) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (c->opts.stall_timeout_ms + 999) / 1000);
    }
    const char *m = req->method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req->body_read) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, a);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_size);
        if (strcmp(m, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    } else if (has_body(req)) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        if (strcmp(m, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
    if (req->sigv4) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, req->sigv4->access_key);
        curl_easy_setopt(h, CURLOPT_PASSWORD, req->sigv4->secret_key);
    }
}

enum { OUT_DONE, OUT_RETRY_STATUS, OUT_RETRY_NET, OUT_FAIL_NET, OUT_FAIL_LOCAL };

static int retryable_status(long st)
{
    return st == 429 || (st >= 500 && st <= 599 && st != 501 && st != 505);
}

static int retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

int rcpt_http_do(rcpt_http_client *c, const rcpt_http_request *req,
                 rcpt_http_response *resp, rcpt_err *err)
{
    char what[300];
    rcpt_http_describe(what, sizeof what, req ? req->method : NULL, req ? req->url : NULL);
    if (!c || !req || !req->method || !*req->method || !req->url || !*req->url)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: request needs a method and a URL", what);
    if (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: URL must start with http:// or https://", what);
    for (size_t i = 0; i < req->n_headers; i++)
        if (!req->headers[i] || !strchr(req->headers[i], ':') ||
            strpbrk(req->headers[i], "\r\n"))
            return rcpt_err_set(err, RCPT_EINVAL, "%s: headers[%zu]: must be \"Name: value\" on one line",
                                what, i);
    if (req->body_read && req->body_size < 0)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: a streamed body needs body_size", what);
    if (req->sigv4) {
        const rcpt_http_sigv4 *s = req->sigv4;
        if (!s->region || !*s->region || !s->service || !*s->service || !s->access_key ||
            !*s->access_key || !s->secret_key)
            return rcpt_err_set(err, RCPT_EINVAL, "%s: sigv4 needs region, service, access key and secret",
                                what);
        if (strchr(s->region, ':') || strchr(s->service, ':'))
            return rcpt_err_set(err, RCPT_EINVAL, "%s: sigv4 region/service must not contain ':'", what);
        if (strcmp(s->service, "s3") == 0 && req->body_read && !has_header(req, "x-amz-content-sha256"))
            return rcpt_err_set(err, RCPT_EINVAL,
                                "%s: an S3 streamed body needs an x-amz-content-sha256 header", what);
    }

    const char *host, *path;
    size_t hl, pl;
    url_parts(req->url, &host, &hl, &path, &pl);
    char hostbuf[256], pathbuf[1024];
    snprintf(hostbuf, sizeof hostbuf, "%.*s", (int)hl, host);
    snprintf(pathbuf, sizeof pathbuf, "%.*s", (int)pl, path);

    rcpt_http_retry pol = req->retry ? *req->retry : c->opts.retry;
    int max = pol.max_attempts > 0 ? pol.max_attempts : 1;
    if (req->body_read && !req->body_rewind)
        max = 1;
    if (req->sink && !req->sink_reset)
        max = 1;

    int oom = 0;
    struct curl_slist *hlist = build_headers(req, &oom);
    char sigv4[160] = "";
    if (req->sigv4)
        snprintf(sigv4, sizeof sigv4, "aws:amz:%s:%s", req->sigv4->region, req->sigv4->service);
    if (oom) {
        curl_slist_free_all(hlist);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", what);
    }

    resp->status = 0;
    resp_clear_headers(resp);
    rcpt_buf_reset(&resp->body);
    resp->attempts = 0;
    resp->waited_ms = 0;

    int rc = RCPT_OK;
    CURLcode last_curl = CURLE_OK;
    const char *local_why = NULL;
    int injected = 0;
    for (int at = 1;; at++) {
        attempt a = {req, resp, (size_t)-1, 0, 0, 0, 0, 0};
        resp->attempts = at;
        resp->status = 0;
        resp_clear_headers(resp);
        rcpt_buf_reset(&resp->body);
        c->seq++;
        int outcome;
        rcpt_http_fault f;
        memset(&f, 0, sizeof f);
        int faulted = 0;
        if (c->have_hooks && c->hooks.fault) {
            rcpt_http_fault_ctx ctx = {req->method, hostbuf, pathbuf, at, c->seq};
            faulted = c->hooks.fault(c->hooks.ud, &ctx, &f) == 1;
        }
        injected = faulted;
        if (faulted && f.kind == RCPT_HTTP_FAULT_STATUS) {
            resp->status = f.status;
            if (f.retry_after)
                resp_add_header(resp, "Retry-After", 11, f.retry_after, strlen(f.retry_after));
            if (f.body)
                rcpt_buf_puts(&resp->body, f.body);
            outcome = retryable_status(f.status) ? OUT_RETRY_STATUS : OUT_DONE;
        } else if (faulted && (f.kind == RCPT_HTTP_FAULT_TIMEOUT || f.kind == RCPT_HTTP_FAULT_REFUSED)) {
            last_curl = f.kind == RCPT_HTTP_FAULT_TIMEOUT ? CURLE_OPERATION_TIMEDOUT : CURLE_COULDNT_CONNECT;
            outcome = OUT_RETRY_NET;
        } else {
            if (faulted && f.kind == RCPT_HTTP_FAULT_SHORT_BODY)
                a.cut_at = f.short_len;
            else
                injected = 0;
            set_common(c, req, &a, hlist, sigv4);
            CURLcode cr = curl_easy_perform(c->h);
            last_curl = cr;
            if (a.oom) {
                outcome = OUT_FAIL_LOCAL;
                local_why = "out of memory";
            } else if (a.sink_failed) {
                outcome = OUT_FAIL_LOCAL;
                local_why = "writing the response body failed";
            } else if (a.read_failed) {
                outcome = OUT_FAIL_LOCAL;
                local_why = "reading the request body failed";
            } else if (a.cut) {
                last_curl = CURLE_PARTIAL_FILE;
                outcome = OUT_RETRY_NET;
            } else if (cr != CURLE_OK) {
                outcome = retryable_curl(cr) ? OUT_RETRY_NET : OUT_FAIL_NET;
            } else {
                long st = 0;
                curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
                resp->status = st;
                outcome = retryable_status(st) ? OUT_RETRY_STATUS : OUT_DONE;
            }
        }
        if (outcome == OUT_DONE || outcome == OUT_FAIL_NET || outcome == OUT_FAIL_LOCAL || at >= max) {
            if (outcome == OUT_FAIL_LOCAL) {
                rc = rcpt_err_set(err, strcmp(local_why, "out of memory") == 0 ? RCPT_ENOMEM : RCPT_EIO,
                                  "%s: %s", what, local_why);
            } else if (outcome == OUT_RETRY_NET || outcome == OUT_FAIL_NET) {
                resp->status = 0;
                rc = last_curl == CURLE_OPERATION_TIMEDOUT ? RCPT_ETIMEOUT : RCPT_EIO;
                const char *why = last_curl == CURLE_PARTIAL_FILE ? "response body cut short"
                                                                  : curl_easy_strerror(last_curl);
                if (at > 1)
                    rcpt_err_set(err, rc, "%s: %s%s after %d attempts", what, why,
                                 injected ? " (injected)" : "", at);
                else
                    rcpt_err_set(err, rc, "%s: %s%s", what, why, injected ? " (injected)" : "");
            } else {
                long st = resp->status;
                if (st < 400) {
                    rc = RCPT_OK;
                } else {
                    rc = st == 404 ? RCPT_ENOTFOUND
                       : (st == 401 || st == 403) ? RCPT_EAUTH
                       : (st == 409 || st == 412) ? RCPT_ECONFLICT : RCPT_EHTTP;
                    if (at > 1)
                        rcpt_err_set(err, rc, "%s: HTTP %ld after %d attempts", what, st, at);
                    else
                        rcpt_err_set(err, rc, "%s: HTTP %ld", what, st);
                }
            }
            break;
        }
        /* retry */
        long delay = rcpt_http_backoff_ms(&pol, at, rcpt_http_response_header(resp, "Retry-After"),
                                          c_now(c), c_rand(c));
        if ((req->body_read && req->body_rewind(req->body_ud) != 0) ||
            (req->sink && req->sink_reset(req->sink_ud) != 0)) {
            rc = rcpt_err_set(err, RCPT_EIO, "%s: could not rewind the body for a retry", what);
            break;
        }
        c_sleep(c, delay);
        resp->waited_ms += delay;
    }
    curl_slist_free_all(hlist);
    return rc;
}
