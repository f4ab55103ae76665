/* rcpt_http: the one HTTP client of rcpt (libcurl easy handle underneath).
 *
 * Every remote service rcpt talks to goes through this layer: S3 (objstore_s3.c),
 * and later Google Places, OpenAI-compatible embeddings, DynamoDB, SQS and the
 * Lambda Runtime API.  It gives them, in one place:
 *
 *   - a client handle that keeps its connection alive between requests
 *     (one easy handle, reset between requests, so curl's connection cache,
 *     DNS cache and TLS sessions survive);
 *   - timeouts on every request (total and connect);
 *   - a retry policy: exponential backoff with full jitter on connection
 *     errors, timeouts, 5xx (except 501/505) and 429, honouring Retry-After
 *     (delta seconds or an HTTP date), every delay capped by max_delay_ms;
 *   - AWS Signature V4 through CURLOPT_AWS_SIGV4 (see rcpt_http_sigv4);
 *   - error messages that name the method, host and path of the request but
 *     never its query string (Google's `key=`, presigned signatures) nor any
 *     header value (Authorization, tokens);
 *   - test hooks: a clock, a sleep, a random source and a fault-injection
 *     callback (rcpt_http_hooks) so tests check the backoff schedule without
 *     waiting and make any attempt fail on purpose.
 *
 * A client is not thread-safe: use one per thread.  curl_global_init is done
 * once per process (pthread_once) by rcpt_http_client_new; nothing else here
 * touches process-wide state.
 *
 * Quick use:
 *
 *   rcpt_http_client *c = rcpt_http_client_new(NULL, &err);   // defaults
 *   const char *hdrs[] = { "Content-Type: application/json" };
 *   rcpt_http_request rq = { .method = "POST", .url = "https://api.example/v1/x",
 *                            .headers = hdrs, .n_headers = 1,
 *                            .body = json, .body_len = n };
 *   rcpt_http_response rs;
 *   rcpt_http_response_init(&rs);
 *   int rc = rcpt_http_do(c, &rq, &rs, &err);
 *   // rc == RCPT_OK: 2xx/3xx, rs.status, rs.body.data/len, rcpt_http_response_header(&rs, "etag")
 *   // rc == RCPT_EHTTP/EAUTH/ENOTFOUND/ECONFLICT: a 4xx/5xx answer; rs is filled too
 *   // rc == RCPT_ETIMEOUT/RCPT_EIO: no answer (rs.status == 0)
 *   rcpt_http_response_free(&rs);
 *   rcpt_http_client_free(c);
 */
#ifndef RCPT_NET_HTTP_H
#define RCPT_NET_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* ---- retry policy ------------------------------------------------------------
 * Attempt k (k = 1 for the first retry) waits
 *     delay = random_uniform(0, min(max_delay_ms, base_delay_ms * 2^(k-1)))
 * ("full jitter"), or, when the answer carried Retry-After,
 *     delay = min(max_delay_ms, Retry-After)        (no jitter: the server asked).
 * Retried: connection refused/reset, DNS-less transport errors, a cut body,
 * timeouts, HTTP 5xx except 501 and 505, HTTP 429.  Everything else is final.
 * Every method is retried (POSTs included): set max_attempts = 1 on a request
 * that must not be repeated. */
typedef struct rcpt_http_retry {
    int max_attempts;      /* >= 1; total attempts including the first */
    long base_delay_ms;    /* first retry's jitter cap */
    long max_delay_ms;     /* cap of every delay, Retry-After included */
} rcpt_http_retry;

#define RCPT_HTTP_RETRY_DEFAULT {4, 200, 20000}

/* ---- AWS Signature V4 ---------------------------------------------------------
 * Sets CURLOPT_AWS_SIGV4 = "aws:amz:REGION:SERVICE", the access key and secret
 * as curl's user name and password, and an X-Amz-Security-Token header when
 * session_token is set.  Rules for a signature that real AWS accepts with
 * curl 7.88 (../shared/STAND-INS.md):
 *   - build the query string with rcpt_http_query_* (sorted, upper-case hex,
 *     every parameter as key=value); curl does not sort nor re-encode;
 *   - S3: send x-amz-content-sha256; this layer adds it for service "s3" when
 *     the body is a buffer (or empty) and the caller did not, and refuses a
 *     read-callback body without it (curl would sign an empty body's hash);
 *   - never pass a removal header ("Name:" with no value): curl 7.88 signs it
 *     as an empty header that is not sent, which breaks the signature.  For
 *     the same reason a request with a body always gets an explicit
 *     Content-Type (application/octet-stream unless the caller set one). */
typedef struct rcpt_http_sigv4 {
    const char *region;         /* "us-east-1" */
    const char *service;        /* "s3", "dynamodb", "sqs", ... */
    const char *access_key;
    const char *secret_key;
    const char *session_token;  /* NULL or "" when not a temporary credential */
} rcpt_http_sigv4;

/* ---- request -------------------------------------------------------------------
 * Body: either a buffer (body/body_len; body may be NULL when body_len is 0)
 * or a read callback (body_read, with body_size the exact length, which
 * becomes Content-Length).  A read-callback body is re-read from the start on
 * each retry: body_rewind must then be set, else max_attempts is taken as 1.
 *
 * Response body: into rcpt_http_response.body, unless sink is set; then the
 * bytes of a 2xx answer go to sink (streamed, e.g. to a file) and sink_reset
 * is called before every retry (a sink without sink_reset makes the request
 * single-attempt).  Error answers (>= 300) always land in response.body, so
 * the caller can parse an error document.
 *
 * Callback return conventions: body_read returns the number of bytes put in
 * dst (0 = end), or (size_t)-1 on error; sink returns 0 on success, non-zero
 * on error; the rewind/reset callbacks return 0 on success. */
typedef size_t (*rcpt_http_read_fn)(void *ud, char *dst, size_t n);
typedef int (*rcpt_http_write_fn)(void *ud, const char *src, size_t n);
typedef int (*rcpt_http_rewind_fn)(void *ud);

typedef struct rcpt_http_request {
    const char *method;              /* "GET", "HEAD", "PUT", "POST", "DELETE", ... */
    const char *url;                 /* absolute http(s) URL, query already encoded */
    const char *const *headers;      /* "Name: value" strings; n_headers of them */
    size_t n_headers;

    const void *body;                /* buffer body */
    size_t body_len;
    rcpt_http_read_fn body_read;     /* or streamed body */
    rcpt_http_rewind_fn body_rewind;
    void *body_ud;
    long long body_size;             /* exact size of the streamed body */

    rcpt_http_write_fn sink;         /* optional streamed response body */
    rcpt_http_rewind_fn sink_reset;
    void *sink_ud;

    long timeout_ms;                 /* whole transfer; 0 = client default, < 0 = none */
    long connect_timeout_ms;         /* 0 = client default */
    const rcpt_http_sigv4 *sigv4;    /* NULL = unsigned */
    const rcpt_http_retry *retry;    /* NULL = client default */
} rcpt_http_request;

/* ---- response ------------------------------------------------------------------ */
typedef struct rcpt_http_header {
    char *name;                      /* as received */
    char *value;                     /* trimmed */
} rcpt_http_header;

typedef struct rcpt_http_response {
    long status;                     /* 0 when no HTTP answer was received */
    rcpt_http_header *headers;       /* of the final answer only */
    size_t n_headers, cap_headers;
    rcpt_buf body;
    int attempts;                    /* attempts made, retries included */
    long long waited_ms;             /* total backoff slept between attempts */
} rcpt_http_response;

void rcpt_http_response_init(rcpt_http_response *r);
void rcpt_http_response_free(rcpt_http_response *r);
/* Value of the first header named name (case-insensitive), or NULL. */
const char *rcpt_http_response_header(const rcpt_http_response *r, const char *name);

/* ---- test hooks and the fault-injection seam ------------------------------------
 * All optional; NULL members fall back to the real thing (nanosleep,
 * CLOCK_REALTIME, a per-client xorshift seeded from the clock and address).
 *
 * fault: called before every attempt with the attempt's context.  Return 0
 * to let the attempt go to the network unchanged, or fill *f and return 1:
 *   RCPT_HTTP_FAULT_STATUS    no network; the attempt answers f->status with
 *                             f->body (may be NULL) and, when f->retry_after
 *                             is set, a Retry-After header with that value.
 *   RCPT_HTTP_FAULT_TIMEOUT   no network; the attempt fails as a timeout.
 *   RCPT_HTTP_FAULT_REFUSED   no network; the attempt fails as a refused connection.
 *   RCPT_HTTP_FAULT_SHORT_BODY the request really goes out, but the answer's
 *                             body is cut after f->short_len bytes and the
 *                             attempt fails as a partial transfer.
 * Injected failures go through the same retry logic as real ones, so a test
 * sees retries, backoff and the final error exactly as in production.
 * ctx->seq counts every attempt of the client (1, 2, ...), so "fail the Nth
 * call" is `return ctx->seq == N`.  Fault injection at the object-store
 * level uses the same hooks: rcpt_objstore_http_client() gives the S3
 * store's client. */
enum {
    RCPT_HTTP_FAULT_STATUS = 1,
    RCPT_HTTP_FAULT_TIMEOUT,
    RCPT_HTTP_FAULT_REFUSED,
    RCPT_HTTP_FAULT_SHORT_BODY
};

typedef struct rcpt_http_fault_ctx {
    const char *method;
    const char *host;                /* host[:port] */
    const char *path;                /* without the query */
    int attempt;                     /* 1-based within this rcpt_http_do call */
    unsigned long long seq;          /* 1-based over the client's life */
} rcpt_http_fault_ctx;

typedef struct rcpt_http_fault {
    int kind;
    long status;                     /* FAULT_STATUS */
    const char *body;                /* FAULT_STATUS, NUL-terminated or NULL */
    const char *retry_after;         /* FAULT_STATUS: Retry-After value or NULL */
    size_t short_len;                /* FAULT_SHORT_BODY */
} rcpt_http_fault;

typedef struct rcpt_http_hooks {
    void (*sleep_ms)(void *ud, long ms);
    long long (*now_ms)(void *ud);   /* wall clock, ms since the Unix epoch */
    uint64_t (*random)(void *ud);    /* uniform 64-bit values for the jitter */
    int (*fault)(void *ud, const rcpt_http_fault_ctx *ctx, rcpt_http_fault *f);
    void *ud;
} rcpt_http_hooks;

/* ---- client ----------------------------------------------------------------------- */
typedef struct rcpt_http_client rcpt_http_client;

typedef struct rcpt_http_client_opts {
    rcpt_http_retry retry;           /* default policy; max_attempts 0 = RCPT_HTTP_RETRY_DEFAULT */
    long timeout_ms;                 /* default total timeout; 0 = 30000, < 0 = none */
    long connect_timeout_ms;         /* default connect timeout; 0 = 5000 */
    long stall_timeout_ms;           /* abort when < 1 byte/s flows this long; 0 = 30000, < 0 = off */
    const char *user_agent;          /* NULL = "rcpt/0.1" */
} rcpt_http_client_opts;

/* opts may be NULL (all defaults). */
rcpt_http_client *rcpt_http_client_new(const rcpt_http_client_opts *opts, rcpt_err *err);
void rcpt_http_client_free(rcpt_http_client *c);
/* Install (or, with NULL, remove) test hooks; the struct is copied. */
void rcpt_http_client_set_hooks(rcpt_http_client *c, const rcpt_http_hooks *hooks);

/* Perform req with retries.  resp must be initialised; it is reset first.
 * Returns:
 *   RCPT_OK         a 1xx-3xx final answer (redirects are not followed);
 *   RCPT_ENOTFOUND  404;  RCPT_EAUTH 401/403;  RCPT_ECONFLICT 409/412;
 *   RCPT_EHTTP      any other >= 400 (after retries for the retryable ones);
 *                   in all these resp->status/headers/body hold the answer;
 *   RCPT_ETIMEOUT   the last attempt timed out;
 *   RCPT_EIO        the last attempt failed without an answer (refused, reset,
 *                   cut short, DNS, TLS), or a body/sink callback failed;
 *   RCPT_EINVAL     the request itself is malformed (no method/URL, ...).
 * The message reads "METHOD host/path: what happened[ after N attempts]". */
int rcpt_http_do(rcpt_http_client *c, const rcpt_http_request *req,
                 rcpt_http_response *resp, rcpt_err *err);

/* The delay before retry number k (1-based) under policy p, given the
 * answer's Retry-After value (NULL if none), the clock now_ms and one random
 * draw.  Exposed so tests and other layers can reason about the schedule. */
long rcpt_http_backoff_ms(const rcpt_http_retry *p, int k, const char *retry_after,
                          long long now_ms, uint64_t rnd);

/* ---- URL helpers ---------------------------------------------------------------------
 * Percent-encoding as AWS SigV4 wants it: every byte outside A-Za-z0-9-_.~
 * becomes %XX with upper-case hex.  rcpt_http_path_encode keeps '/' (an S3
 * key is encoded per segment). */
int rcpt_http_pct_encode(rcpt_buf *out, const char *s, size_t n);
int rcpt_http_path_encode(rcpt_buf *out, const char *s, size_t n);

/* A query string under construction: add parameters in any order, then
 * build "a=1&b=&c=x%2Fy" sorted by encoded key (then value), each parameter
 * as key=value even when the value is empty (`uploads=`). */
typedef struct rcpt_http_query {
    struct rcpt_http_qparam { char *k, *v; } *p;
    size_t n, cap;
    int oom;
} rcpt_http_query;

void rcpt_http_query_init(rcpt_http_query *q);
void rcpt_http_query_free(rcpt_http_query *q);
int rcpt_http_query_add(rcpt_http_query *q, const char *key, const char *value);
/* Append the sorted, encoded query (without '?') to out. */
int rcpt_http_query_build(const rcpt_http_query *q, rcpt_buf *out);

/* Lower-case hex SHA-256 of a buffer (OpenSSL libcrypto); out gets 64
 * characters and a NUL.  What S3's x-amz-content-sha256 wants. */
void rcpt_http_sha256_hex(const void *data, size_t n, char out[65]);

/* Write "METHOD host/path" of url into out (no scheme, no query, no
 * userinfo): the only form of a URL that may appear in a message. */
void rcpt_http_describe(char *out, size_t cap, const char *method, const char *url);

#endif
