/* s3://BUCKET[/PREFIX] backend of rcpt_objstore, on rcpt_http with SigV4.
 *
 * Every request carries x-amz-content-sha256 with the real hash of its body
 * (s3rver refuses requests without it, and curl 7.88 would otherwise sign
 * an empty body's hash for streamed uploads); query strings are built sorted
 * and encoded by rcpt_http_query (curl does not canonicalise them).
 * Retries, backoff and timeouts are rcpt_http's. */
#include "net/objstore.h"
#include "net/xml.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

typedef struct s3store {
    rcpt_objstore base;
    char bucket[64];
    char *prefix;          /* "" or "some/prefix/" */
    char *endpoint;        /* "http://127.0.0.1:4568" (path-style) or NULL */
    char region[64];
    char *access_key, *secret_key, *session_token;
    rcpt_http_sigv4 sig;
    rcpt_http_client *http;
    long long threshold, part_size;
} s3store;

static const rcpt_objstore_vt s3_vt;

rcpt_http_client *rcpt_objstore_http_client(rcpt_objstore *s)
{
    s = rcpt__objstore_fault_inner(s);
    return s && s->vt == &s3_vt ? ((s3store *)s)->http : NULL;
}

/* ---- XML documents ----------------------------------------------------------- */

int rcpt_s3_parse_error(const char *xml, size_t n, char *code, size_t code_cap, char *message,
                        size_t msg_cap)
{
    if (code_cap)
        code[0] = '\0';
    if (msg_cap)
        message[0] = '\0';
    rcpt_xml x;
    rcpt_xml_init(&x, xml, n);
    int ev, is_error = 0;
    size_t cl = 0, ml = 0;
    while ((ev = rcpt_xml_next(&x)) > 0) {
        if (ev == RCPT_XML_START && x.depth == 1)
            is_error = strcmp(x.name, "Error") == 0;
        else if (ev == RCPT_XML_TEXT && is_error) {
            char *dst = NULL;
            size_t *l = NULL, cap = 0;
            if (strcmp(x.path, "Error/Code") == 0)
                dst = code, l = &cl, cap = code_cap;
            else if (strcmp(x.path, "Error/Message") == 0)
                dst = message, l = &ml, cap = msg_cap;
            if (dst && cap) {
                size_t take = x.text_len;
                if (*l + take >= cap)
                    take = cap - 1 - *l;
                memcpy(dst + *l, x.text.data, take);
                *l += take;
                dst[*l] = '\0';
            }
        }
    }
    rcpt_xml_free(&x);
    /* a message is shown to people: no control characters */
    for (char *p = message; msg_cap && *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    for (char *p = code; code_cap && *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    return ev == RCPT_XML_END && is_error ? 0 : -1;
}

/* "2009-10-12T17:50:30.000Z" -> Unix seconds; 0 when unreadable. */
static long long iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (long long)timegm(&tm);
}

static void strip_quotes(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= 2 && src[0] == '"' && src[n - 1] == '"') {
        src++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int rcpt_s3_parse_list(const char *xml, size_t n, const char *strip, const rcpt_objstore_list_opts *o,
                       int *truncated, rcpt_buf *next_token, rcpt_err *err)
{
    *truncated = 0;
    rcpt_buf_reset(next_token);
    size_t sl = strip ? strlen(strip) : 0;
    rcpt_xml x;
    rcpt_xml_init(&x, xml, n);
    rcpt_buf key = RCPT_BUF_INIT, size = RCPT_BUF_INIT, etag = RCPT_BUF_INIT, lm = RCPT_BUF_INIT,
             pfx = RCPT_BUF_INIT, trunc = RCPT_BUF_INIT;
    int rc = RCPT_OK, ev, root_ok = -1, entries = 0;
    while (rc == RCPT_OK && (ev = rcpt_xml_next(&x)) > 0) {
        if (ev == RCPT_XML_START) {
            if (x.depth == 1)
                root_ok = strcmp(x.name, "ListBucketResult") == 0;
            if (!root_ok)
                break;
            if (strcmp(x.path, "ListBucketResult/Contents") == 0) {
                rcpt_buf_reset(&key);
                rcpt_buf_reset(&size);
                rcpt_buf_reset(&etag);
                rcpt_buf_reset(&lm);
                entries = 1;
            } else if (strcmp(x.path, "ListBucketResult/CommonPrefixes") == 0) {
                rcpt_buf_reset(&pfx);
            }
        } else if (ev == RCPT_XML_TEXT) {
            rcpt_buf *dst = NULL;
            if (strcmp(x.path, "ListBucketResult/Contents/Key") == 0) dst = &key;
            else if (strcmp(x.path, "ListBucketResult/Contents/Size") == 0) dst = &size;
            else if (strcmp(x.path, "ListBucketResult/Contents/ETag") == 0) dst = &etag;
            else if (strcmp(x.path, "ListBucketResult/Contents/LastModified") == 0) dst = &lm;
            else if (strcmp(x.path, "ListBucketResult/CommonPrefixes/Prefix") == 0) dst = &pfx;
            else if (strcmp(x.path, "ListBucketResult/IsTruncated") == 0) dst = &trunc;
            else if (strcmp(x.path, "ListBucketResult/NextContinuationToken") == 0) dst = next_token;
            if (dst)
                rcpt_buf_append(dst, x.text.data, x.text_len);
        } else if (ev == RCPT_XML_CLOSE) {
            if (strcmp(x.path, "ListBucketResult/Contents") == 0) {
                rcpt_buf_putc(&key, 0);
                rcpt_buf_putc(&size, 0);
                rcpt_buf_putc(&etag, 0);
                rcpt_buf_putc(&lm, 0);
                if (key.oom || size.oom || etag.oom || lm.oom) {
                    rc = rcpt_err_set(err, RCPT_ENOMEM, "list: out of memory");
                    break;
                }
                if (key.len <= 1 || strlen(key.data) != key.len - 1) {
                    rc = rcpt_err_set(err, RCPT_ECORRUPT, "list: a <Contents> without a usable <Key>");
                    break;
                }
                char *end;
                errno = 0;
                long long sz = strtoll(size.data, &end, 10);
                if (!size.data[0] || *end || errno || sz < 0) {
                    rc = rcpt_err_set(err, RCPT_ECORRUPT, "list: <Size> of \"%.200s\" is not a size", key.data);
                    break;
                }
                if (sl && strncmp(key.data, strip, sl) != 0)
                    continue;
                char et[130];
                strip_quotes(et, sizeof et, etag.data);
                rcpt_objstore_entry e = {key.data + sl, sz, et, iso8601(lm.data)};
                rc = o->on_entry(o->ud, &e);
            } else if (strcmp(x.path, "ListBucketResult/CommonPrefixes") == 0) {
                rcpt_buf_putc(&pfx, 0);
                if (pfx.oom) {
                    rc = rcpt_err_set(err, RCPT_ENOMEM, "list: out of memory");
                    break;
                }
                if (sl && strncmp(pfx.data, strip, sl) != 0)
                    continue;
                if (o->on_prefix)
                    rc = o->on_prefix(o->ud, pfx.data + sl);
            }
        }
    }
    (void)entries;
    if (rc == RCPT_OK) {
        if (x.err)
            rc = rcpt_err_set(err, RCPT_ECORRUPT, "list: malformed XML: %s", x.err);
        else if (root_ok != 1)
            rc = rcpt_err_set(err, RCPT_ECORRUPT, "list: the answer is not a ListBucketResult");
        else {
            rcpt_buf_putc(&trunc, 0);
            *truncated = trunc.data && strcmp(trunc.data, "true") == 0;
            rcpt_buf_putc(next_token, 0);
            next_token->len--;
            if (*truncated && next_token->len == 0)
                rc = rcpt_err_set(err, RCPT_ECORRUPT, "list: truncated page without NextContinuationToken");
        }
    }
    rcpt_xml_free(&x);
    rcpt_buf_free(&key);
    rcpt_buf_free(&size);
    rcpt_buf_free(&etag);
    rcpt_buf_free(&lm);
    rcpt_buf_free(&pfx);
    rcpt_buf_free(&trunc);
    return rc;
}

/* Text of the first element at path (e.g. "InitiateMultipartUploadResult/UploadId"). */
static int xml_text_at(const char *xml, size_t n, const char *path, rcpt_buf *out)
{
    rcpt_xml x;
    rcpt_xml_init(&x, xml, n);
    int ev, found = 0;
    while ((ev = rcpt_xml_next(&x)) > 0) {
        if (ev == RCPT_XML_TEXT && strcmp(x.path, path) == 0) {
            rcpt_buf_append(out, x.text.data, x.text_len);
            found = 1;
        } else if (ev == RCPT_XML_CLOSE && found) {
            break;
        }
    }
    rcpt_xml_free(&x);
    rcpt_buf_putc(out, 0);
    out->len--;
    return found && !out->oom ? 0 : -1;
}

/* ---- requests ---------------------------------------------------------------------- */

/* URL of key (NULL = the bucket itself) with an optional encoded query. */
static int make_url(s3store *s, const char *key, const rcpt_http_query *q, rcpt_buf *u)
{
    rcpt_buf_reset(u);
    if (s->endpoint)
        rcpt_buf_printf(u, "%s/%s%s", s->endpoint, s->bucket, key ? "/" : "");
    else
        rcpt_buf_printf(u, "https://%s.s3.%s.amazonaws.com/", s->bucket, s->region);
    if (key) {
        rcpt_http_path_encode(u, s->prefix, strlen(s->prefix));
        rcpt_http_path_encode(u, key, strlen(key));
    }
    if (q && q->n) {
        rcpt_buf_putc(u, '?');
        rcpt_http_query_build(q, u);
    }
    return u->oom ? RCPT_ENOMEM : RCPT_OK;
}

/* Turn an S3 failure into the store's error: "s3://b/p: key: GET: Code: Message (HTTP n)". */
static int s3_error(s3store *s, const char *key, const char *op, int rc, const rcpt_http_response *r,
                    const rcpt_err *herr, rcpt_err *err)
{
    if (r->status == 0 || rc == RCPT_EINVAL || rc == RCPT_ENOMEM)
        return rcpt_err_set(err, rc, "%s: %s: %s", s->base.url, key ? key : "(bucket)", herr->msg);
    char code[64], msg[256];
    int have = rcpt_s3_parse_error(r->body.data ? r->body.data : "", r->body.len, code, sizeof code,
                                   msg, sizeof msg) == 0;
    int out = RCPT_EHTTP;
    if (have) {
        if (strcmp(code, "NoSuchKey") == 0 || strcmp(code, "NoSuchUpload") == 0)
            out = RCPT_ENOTFOUND;
        else if (strcmp(code, "AccessDenied") == 0 || strcmp(code, "InvalidAccessKeyId") == 0 ||
                 strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "ExpiredToken") == 0 ||
                 strcmp(code, "InvalidToken") == 0)
            out = RCPT_EAUTH;
        else if (strcmp(code, "PreconditionFailed") == 0)
            out = RCPT_ECONFLICT;
        else if (strcmp(code, "RequestTimeout") == 0 || strcmp(code, "SlowDown") == 0)
            out = RCPT_EHTTP;
    } else if (r->status == 404 && strcmp(op, "HEAD") == 0) {
        out = RCPT_ENOTFOUND;
    } else if (r->status == 403 || r->status == 401) {
        out = RCPT_EAUTH;
    }
    if (have)
        return rcpt_err_set(err, out, "%s: %s: %s: %s: %s (HTTP %ld%s)", s->base.url, key ? key : "(bucket)",
                            op, code, msg, r->status, r->attempts > 1 ? ", retried" : "");
    return rcpt_err_set(err, out, "%s: %s: %s: %s", s->base.url, key ? key : "(bucket)", op,
                        out == RCPT_ENOTFOUND ? "no such key" : herr->msg);
}

typedef struct s3req {
    const char *method;
    const char *key;                 /* for messages and the URL; NULL = bucket */
    const rcpt_http_query *q;
    const char *const *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    rcpt_http_read_fn body_read;
    rcpt_http_rewind_fn body_rewind;
    void *body_ud;
    long long body_size;
    rcpt_http_write_fn sink;
    rcpt_http_rewind_fn sink_reset;
    void *sink_ud;
    const rcpt_http_retry *retry;
    const char *label;               /* names a bucket-level request in messages */
} s3req;

static int s3_do(s3store *s, const s3req *r, rcpt_http_response *resp, rcpt_err *err)
{
    if (r->key && strlen(s->prefix) + strlen(r->key) > RCPT_OBJSTORE_KEY_MAX)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: key \"%.80s...\": with the store's prefix longer than %d bytes",
                            s->base.url, r->key, RCPT_OBJSTORE_KEY_MAX);
    rcpt_buf url = RCPT_BUF_INIT;
    if (make_url(s, r->key, r->q, &url) != RCPT_OK) {
        rcpt_buf_free(&url);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", s->base.url);
    }
    rcpt_http_request rq = {0};
    rq.method = r->method;
    rq.url = url.data;
    rq.headers = r->headers;
    rq.n_headers = r->n_headers;
    rq.body = r->body;
    rq.body_len = r->body_len;
    rq.body_read = r->body_read;
    rq.body_rewind = r->body_rewind;
    rq.body_ud = r->body_ud;
    rq.body_size = r->body_size;
    rq.sink = r->sink;
    rq.sink_reset = r->sink_reset;
    rq.sink_ud = r->sink_ud;
    rq.sigv4 = &s->sig;
    rq.retry = r->retry;
    rcpt_err herr = {0};
    int rc = rcpt_http_do(s->http, &rq, resp, &herr);
    rcpt_buf_free(&url);
    if (rc == RCPT_OK)
        return RCPT_OK;
    return s3_error(s, r->key ? r->key : r->label, r->method, rc, resp, &herr, err);
}

/* Some S3 answers are 200 with an <Error> body (CopyObject, CompleteMultipartUpload). */
static int check_200_error(s3store *s, const char *key, const char *op, const rcpt_http_response *r,
                           rcpt_err *err)
{
    char code[64], msg[256];
    if (r->body.len && rcpt_s3_parse_error(r->body.data, r->body.len, code, sizeof code, msg, sizeof msg) == 0)
        return rcpt_err_set(err, RCPT_EHTTP, "%s: %s: %s: %s: %s", s->base.url, key, op, code, msg);
    return RCPT_OK;
}

/* ---- header sets ----------------------------------------------------------------------- */

typedef struct hdrs {
    char *v[40];
    size_t n;
    int oom;
} hdrs;

static void h_add(hdrs *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void h_add(hdrs *h, const char *fmt, ...)
{
    if (h->n >= sizeof h->v / sizeof h->v[0]) {
        h->oom = 1;
        return;
    }
    rcpt_buf b = RCPT_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    rcpt_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (b.oom) {
        h->oom = 1;
        rcpt_buf_free(&b);
        return;
    }
    h->v[h->n++] = rcpt_buf_detach(&b, NULL);
}

static void h_free(hdrs *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i]);
    h->n = 0;
}

static void h_put_opts(hdrs *h, const rcpt_objstore_put_opts *o)
{
    h_add(h, "Content-Type: %s", o && o->content_type ? o->content_type : "application/octet-stream");
    if (o && o->content_encoding && *o->content_encoding)
        h_add(h, "Content-Encoding: %s", o->content_encoding);
    for (size_t i = 0; o && i < o->n_metadata; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s", o->metadata[i].name);
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        h_add(h, "x-amz-meta-%s: %s", name, o->metadata[i].value);
    }
    if (o && o->n_metadata > 30)
        h->oom = 1;
}

/* ---- streamed bodies from a file range ------------------------------------------------- */

typedef struct frange {
    int fd;
    off_t start;
    long long len, pos;
} frange;

static size_t fr_read(void *ud, char *dst, size_t n)
{
    frange *r = ud;
    long long left = r->len - r->pos;
    if (left <= 0)
        return 0;
    if ((long long)n > left)
        n = (size_t)left;
    for (;;) {
        ssize_t k = pread(r->fd, dst, n, r->start + (off_t)r->pos);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return (size_t)-1;  /* the file shrank under us, or I/O failed */
        r->pos += k;
        return (size_t)k;
    }
}

static int fr_rewind(void *ud)
{
    ((frange *)ud)->pos = 0;
    return 0;
}

static int fr_sha256(const frange *r, char hex[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    char *buf = malloc(1 << 20);
    int ok = c && buf && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    long long pos = 0;
    while (ok && pos < r->len) {
        size_t want = (size_t)(r->len - pos < (1 << 20) ? r->len - pos : (1 << 20));
        ssize_t k = pread(r->fd, buf, want, r->start + (off_t)pos);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            ok = 0;
            break;
        }
        EVP_DigestUpdate(c, buf, (size_t)k);
        pos += k;
    }
    unsigned char md[32];
    unsigned int ml = 0;
    if (ok)
        ok = EVP_DigestFinal_ex(c, md, &ml) && ml == 32;
    EVP_MD_CTX_free(c);
    free(buf);
    if (!ok)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* ---- multipart ------------------------------------------------------------------------- */

/* The source of a multipart upload: a buffer or a file. */
typedef struct msrc {
    const char *data;
    int fd;
    long long size;
} msrc;

static void abort_upload(s3store *s, const char *key, const char *upload_id)
{
    /* best effort and single attempt: s3rver has no AbortMultipartUpload, and
     * the error that made us abort is the one worth reporting */
    rcpt_http_query q;
    rcpt_http_query_init(&q);
    rcpt_http_query_add(&q, "uploadId", upload_id);
    rcpt_http_retry once = {1, 0, 0};
    s3req r = {.method = "DELETE", .key = key, .q = &q, .retry = &once};
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    rcpt_err ignored;
    s3_do(s, &r, &resp, &ignored);
    rcpt_http_response_free(&resp);
    rcpt_http_query_free(&q);
}

static int multipart(s3store *s, const char *key, const msrc *src, const rcpt_objstore_put_opts *o,
                     rcpt_err *err)
{
    long long psize = s->part_size;
    if ((src->size + psize - 1) / psize > 10000)
        psize = (src->size + 9999) / 10000;
    long long nparts = (src->size + psize - 1) / psize;
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    hdrs h = {0};
    h_put_opts(&h, o);
    rcpt_http_query q;
    rcpt_http_query_init(&q);
    rcpt_http_query_add(&q, "uploads", "");
    int rc = RCPT_OK;
    if (h.oom || q.oom)
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", s->base.url, key);
    if (rc == RCPT_OK) {
        s3req r = {.method = "POST", .key = key, .q = &q, .headers = (const char *const *)h.v,
                   .n_headers = h.n};
        rc = s3_do(s, &r, &resp, err);
    }
    h_free(&h);
    rcpt_http_query_free(&q);
    rcpt_buf upload_id = RCPT_BUF_INIT;
    if (rc == RCPT_OK &&
        xml_text_at(resp.body.data ? resp.body.data : "", resp.body.len,
                    "InitiateMultipartUploadResult/UploadId", &upload_id) != 0)
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: %s: CreateMultipartUpload: no UploadId in the answer",
                          s->base.url, key);
    if (rc != RCPT_OK) {
        rcpt_buf_free(&upload_id);
        rcpt_http_response_free(&resp);
        return rc;
    }
    rcpt_buf done = RCPT_BUF_INIT;
    rcpt_buf_puts(&done, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (long long i = 0; rc == RCPT_OK && i < nparts; i++) {
        long long off = i * psize;
        long long len = src->size - off < psize ? src->size - off : psize;
        char pn[24];
        snprintf(pn, sizeof pn, "%lld", i + 1);
        rcpt_http_query_init(&q);
        rcpt_http_query_add(&q, "partNumber", pn);
        rcpt_http_query_add(&q, "uploadId", upload_id.data);
        s3req r = {.method = "PUT", .key = key, .q = &q};
        frange fr = {src->fd, (off_t)off, len, 0};
        char sha[65], line[100];
        const char *hv[1] = {line};
        if (src->data) {
            r.body = src->data + off;
            r.body_len = (size_t)len;
        } else {
            if (fr_sha256(&fr, sha) != 0) {
                rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: reading part %s of the source failed", s->base.url,
                                  key, pn);
                rcpt_http_query_free(&q);
                break;
            }
            snprintf(line, sizeof line, "x-amz-content-sha256: %s", sha);
            r.headers = hv;
            r.n_headers = 1;
            r.body_read = fr_read;
            r.body_rewind = fr_rewind;
            r.body_ud = &fr;
            r.body_size = len;
        }
        if (q.oom)
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", s->base.url, key);
        else
            rc = s3_do(s, &r, &resp, err);
        rcpt_http_query_free(&q);
        if (rc != RCPT_OK) {
            rcpt_err_prefix(err, "part %s of %lld", pn, nparts);
            break;
        }
        const char *etag = rcpt_http_response_header(&resp, "ETag");
        if (!etag) {
            rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: %s: UploadPart %s: no ETag in the answer", s->base.url,
                              key, pn);
            break;
        }
        rcpt_buf_printf(&done, "<Part><PartNumber>%s</PartNumber><ETag>", pn);
        rcpt_xml_escape(&done, etag, strlen(etag));
        rcpt_buf_puts(&done, "</ETag></Part>");
    }
    rcpt_buf_puts(&done, "</CompleteMultipartUpload>");
    if (rc == RCPT_OK && done.oom)
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", s->base.url, key);
    if (rc == RCPT_OK) {
        rcpt_http_query_init(&q);
        rcpt_http_query_add(&q, "uploadId", upload_id.data);
        const char *hv[1] = {"Content-Type: application/xml"};
        s3req r = {.method = "POST", .key = key, .q = &q, .headers = hv, .n_headers = 1,
                   .body = done.data, .body_len = done.len};
        rc = q.oom ? rcpt_err_set(err, RCPT_ENOMEM, "out of memory") : s3_do(s, &r, &resp, err);
        if (rc == RCPT_OK)
            rc = check_200_error(s, key, "CompleteMultipartUpload", &resp, err);
        rcpt_http_query_free(&q);
    }
    if (rc != RCPT_OK)
        abort_upload(s, key, upload_id.data);
    rcpt_buf_free(&done);
    rcpt_buf_free(&upload_id);
    rcpt_http_response_free(&resp);
    return rc;
}

/* ---- operations --------------------------------------------------------------------------- */

static int s_put(rcpt_objstore *so, const char *key, const void *data, size_t len,
                 const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    s3store *s = (s3store *)so;
    if ((long long)len > s->threshold) {
        msrc src = {data ? data : "", -1, (long long)len};
        return multipart(s, key, &src, o, err);
    }
    hdrs h = {0};
    h_put_opts(&h, o);
    if (h.oom) {
        h_free(&h);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", so->url, key);
    }
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    s3req r = {.method = "PUT", .key = key, .headers = (const char *const *)h.v, .n_headers = h.n,
               .body = data, .body_len = len};
    int rc = s3_do(s, &r, &resp, err);
    rcpt_http_response_free(&resp);
    h_free(&h);
    return rc;
}

static int s_put_file(rcpt_objstore *so, const char *key, const char *path,
                      const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    s3store *s = (s3store *)so;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rcpt_err_set(err, errno == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s: %s: cannot open %s: %s",
                            so->url, key, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rcpt_err_set(err, RCPT_EINVAL, "%s: %s: %s is not a regular file", so->url, key, path);
    }
    int rc;
    if ((long long)st.st_size > s->threshold) {
        msrc src = {NULL, fd, (long long)st.st_size};
        rc = multipart(s, key, &src, o, err);
    } else {
        frange fr = {fd, 0, (long long)st.st_size, 0};
        char sha[65];
        if (fr_sha256(&fr, sha) != 0) {
            close(fd);
            return rcpt_err_set(err, RCPT_EIO, "%s: %s: reading %s failed", so->url, key, path);
        }
        hdrs h = {0};
        h_put_opts(&h, o);
        h_add(&h, "x-amz-content-sha256: %s", sha);
        if (h.oom) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", so->url, key);
        } else {
            rcpt_http_response resp;
            rcpt_http_response_init(&resp);
            s3req r = {.method = "PUT", .key = key, .headers = (const char *const *)h.v, .n_headers = h.n,
                       .body_read = fr_read, .body_rewind = fr_rewind, .body_ud = &fr,
                       .body_size = fr.len};
            rc = s3_do(s, &r, &resp, err);
            rcpt_http_response_free(&resp);
        }
        h_free(&h);
    }
    close(fd);
    return rc;
}

typedef struct bsink {
    rcpt_buf *out;
    size_t start;
} bsink;

static int bs_write(void *ud, const char *p, size_t n)
{
    bsink *b = ud;
    return rcpt_buf_append(b->out, p, n);
}

static int bs_reset(void *ud)
{
    bsink *b = ud;
    b->out->len = b->start;
    if (b->out->data)
        b->out->data[b->start] = '\0';
    return 0;
}

static int s_get(rcpt_objstore *so, const char *key, rcpt_buf *out, rcpt_err *err)
{
    s3store *s = (s3store *)so;
    bsink b = {out, out->len};
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    s3req r = {.method = "GET", .key = key, .sink = bs_write, .sink_reset = bs_reset, .sink_ud = &b};
    int rc = s3_do(s, &r, &resp, err);
    if (rc != RCPT_OK)
        bs_reset(&b);
    else if (out->oom)
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", so->url, key);
    else if (!out->data)
        rcpt_buf_puts(out, "");  /* an empty object still gives a NUL-terminated buffer */
    rcpt_http_response_free(&resp);
    return rc;
}

typedef struct fsink {
    int fd;
} fsink;

static int fs_write(void *ud, const char *p, size_t n)
{
    fsink *f = ud;
    while (n) {
        ssize_t k = write(f->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int fs_reset(void *ud)
{
    fsink *f = ud;
    return ftruncate(f->fd, 0) == 0 && lseek(f->fd, 0, SEEK_SET) == 0 ? 0 : -1;
}

static int s_get_file(rcpt_objstore *so, const char *key, const char *path, rcpt_err *err)
{
    s3store *s = (s3store *)so;
    rcpt_buf tmp = RCPT_BUF_INIT;
    const char *sl = strrchr(path, '/');
    if (sl)
        rcpt_buf_printf(&tmp, "%.*s/.rcpt-tmp-XXXXXX", (int)(sl - path), path);
    else
        rcpt_buf_puts(&tmp, ".rcpt-tmp-XXXXXX");
    if (tmp.oom) {
        rcpt_buf_free(&tmp);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", so->url);
    }
    fsink f = {mkstemp(tmp.data)};
    if (f.fd < 0) {
        int e = errno;
        rcpt_buf_free(&tmp);
        return rcpt_err_set(err, RCPT_EIO, "%s: %s: cannot create a file beside %s: %s", so->url, key, path,
                            strerror(e));
    }
    fchmod(f.fd, 0644);
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    s3req r = {.method = "GET", .key = key, .sink = fs_write, .sink_reset = fs_reset, .sink_ud = &f};
    int rc = s3_do(s, &r, &resp, err);
    rcpt_http_response_free(&resp);
    if (rc == RCPT_OK && (fsync(f.fd) != 0 || close(f.fd) != 0)) {
        rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: writing %s: %s", so->url, key, path, strerror(errno));
        f.fd = -1;
    } else if (rc == RCPT_OK) {
        f.fd = -1;
        if (rename(tmp.data, path) != 0)
            rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: cannot rename into %s: %s", so->url, key, path,
                              strerror(errno));
    }
    if (f.fd >= 0)
        close(f.fd);
    if (rc != RCPT_OK)
        unlink(tmp.data);
    rcpt_buf_free(&tmp);
    return rc;
}

static int s_head(rcpt_objstore *so, const char *key, rcpt_objstore_info *info, rcpt_err *err)
{
    s3store *s = (s3store *)so;
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    s3req r = {.method = "HEAD", .key = key};
    int rc = s3_do(s, &r, &resp, err);
    if (rc == RCPT_OK) {
        const char *v;
        info->size = (v = rcpt_http_response_header(&resp, "Content-Length")) ? strtoll(v, NULL, 10) : 0;
        if ((v = rcpt_http_response_header(&resp, "ETag")))
            strip_quotes(info->etag, sizeof info->etag, v);
        if ((v = rcpt_http_response_header(&resp, "Content-Type")))
            snprintf(info->content_type, sizeof info->content_type, "%s", v);
        if ((v = rcpt_http_response_header(&resp, "Content-Encoding")))
            snprintf(info->content_encoding, sizeof info->content_encoding, "%s", v);
        if ((v = rcpt_http_response_header(&resp, "Last-Modified"))) {
            time_t t = curl_getdate(v, NULL);
            info->last_modified = t == (time_t)-1 ? 0 : (long long)t;
        }
        for (size_t i = 0; i < resp.n_headers; i++) {
            const char *n = resp.headers[i].name;
            if (strncasecmp(n, "x-amz-meta-", 11) != 0 || !n[11])
                continue;
            rcpt_objstore_meta *m = realloc(info->metadata, (info->n_metadata + 1) * sizeof *m);
            if (!m) {
                rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", so->url, key);
                break;
            }
            info->metadata = m;
            char *nn = strdup(n + 11), *vv = strdup(resp.headers[i].value);
            if (!nn || !vv) {
                free(nn);
                free(vv);
                rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", so->url, key);
                break;
            }
            for (char *p = nn; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p + 32);
            m[info->n_metadata].name = nn;
            m[info->n_metadata].value = vv;
            info->n_metadata++;
        }
    }
    rcpt_http_response_free(&resp);
    return rc;
}

static int s_del(rcpt_objstore *so, const char *key, rcpt_err *err)
{
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    s3req r = {.method = "DELETE", .key = key};
    int rc = s3_do((s3store *)so, &r, &resp, err);
    if (rc == RCPT_ENOTFOUND)  /* S3 answers 204 for a missing key; some stand-ins 404 */
        rc = RCPT_OK;
    rcpt_http_response_free(&resp);
    return rc;
}

static int s_list(rcpt_objstore *so, const char *prefix, const rcpt_objstore_list_opts *o, rcpt_err *err)
{
    s3store *s = (s3store *)so;
    rcpt_buf full = RCPT_BUF_INIT, token = RCPT_BUF_INIT, next = RCPT_BUF_INIT;
    rcpt_buf_printf(&full, "%s%s", s->prefix, prefix);
    char mk[16];
    snprintf(mk, sizeof mk, "%d", o->page_size > 0 && o->page_size <= 1000 ? o->page_size : 1000);
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    int rc = full.oom ? rcpt_err_set(err, RCPT_ENOMEM, "out of memory") : RCPT_OK;
    for (int page = 0; rc == RCPT_OK; page++) {
        rcpt_http_query q;
        rcpt_http_query_init(&q);
        rcpt_http_query_add(&q, "list-type", "2");
        rcpt_http_query_add(&q, "max-keys", mk);
        if (full.len)
            rcpt_http_query_add(&q, "prefix", full.data);
        if (o->delimiter && *o->delimiter)
            rcpt_http_query_add(&q, "delimiter", o->delimiter);
        if (page)
            rcpt_http_query_add(&q, "continuation-token", token.data);
        char label[300];
        snprintf(label, sizeof label, "list \"%.200s\"", prefix);
        s3req r = {.method = "GET", .key = NULL, .q = &q, .label = label};
        rc = q.oom ? rcpt_err_set(err, RCPT_ENOMEM, "out of memory") : s3_do(s, &r, &resp, err);
        rcpt_http_query_free(&q);
        if (rc != RCPT_OK)
            break;
        int truncated = 0;
        rcpt_err perr = {0};
        rc = rcpt_s3_parse_list(resp.body.data ? resp.body.data : "", resp.body.len, s->prefix, o,
                                &truncated, &next, &perr);
        if (rc != RCPT_OK) {
            if (perr.code)
                rcpt_err_set(err, perr.code, "%s: list \"%.200s\": %s", so->url, prefix, perr.msg);
            break;
        }
        if (!truncated)
            break;
        if (page > 0 && strcmp(next.data, token.data) == 0) {
            rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: list \"%.200s\": the server repeated a continuation token",
                              so->url, prefix);
            break;
        }
        rcpt_buf_reset(&token);
        rcpt_buf_append(&token, next.data, next.len);
        rcpt_buf_putc(&token, 0);
        token.len--;
    }
    rcpt_http_response_free(&resp);
    rcpt_buf_free(&full);
    rcpt_buf_free(&token);
    rcpt_buf_free(&next);
    return rc;
}

static int s_copy(rcpt_objstore *so, const char *src, const char *dst, rcpt_err *err)
{
    s3store *s = (s3store *)so;
    rcpt_buf cs = RCPT_BUF_INIT;
    rcpt_buf_printf(&cs, "x-amz-copy-source: /%s/", s->bucket);
    rcpt_http_path_encode(&cs, s->prefix, strlen(s->prefix));
    rcpt_http_path_encode(&cs, src, strlen(src));
    if (cs.oom) {
        rcpt_buf_free(&cs);
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    }
    /* Content-Type is sent because every body-carrying request gets one (a
     * SigV4 rule, see http.h); with the default COPY directive S3 keeps the
     * source's content type and metadata */
    const char *hv[1] = {cs.data};
    rcpt_http_response resp;
    rcpt_http_response_init(&resp);
    s3req r = {.method = "PUT", .key = dst, .headers = hv, .n_headers = 1};
    int rc = s3_do(s, &r, &resp, err);
    if (rc == RCPT_OK)
        rc = check_200_error(s, dst, "CopyObject", &resp, err);
    else if (rc == RCPT_ENOTFOUND)
        rcpt_err_prefix(err, "copy from %s", src);
    rcpt_http_response_free(&resp);
    rcpt_buf_free(&cs);
    return rc;
}

static void s_close(rcpt_objstore *so)
{
    s3store *s = (s3store *)so;
    rcpt_http_client_free(s->http);
    free(s->prefix);
    free(s->endpoint);
    if (s->secret_key)
        memset(s->secret_key, 0, strlen(s->secret_key));
    free(s->access_key);
    free(s->secret_key);
    free(s->session_token);
    free(s->base.url);
    free(s);
}

static const rcpt_objstore_vt s3_vt = {
    "s3", s_put, s_put_file, s_get, s_get_file, s_head, s_del, s_list, s_copy, s_close,
    NULL, /* sync: a put is durable once S3 acknowledged it */
};

static const char *env_get(const rcpt_objstore_opts *o, const char *name)
{
    const char *v = o && o->getenv ? o->getenv(o->getenv_ud, name) : getenv(name);
    return v && *v ? v : NULL;
}

int rcpt_objstore_s3_open(const char *bucket, const char *prefix, const char *url,
                          const rcpt_objstore_opts *opts, rcpt_objstore **out, rcpt_err *err)
{
    *out = NULL;
    const char *ak = env_get(opts, "AWS_ACCESS_KEY_ID");
    const char *sk = env_get(opts, "AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk)
        return rcpt_err_set(err, RCPT_EAUTH, "%s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set", url);
    const char *tok = env_get(opts, "AWS_SESSION_TOKEN");
    const char *ep = env_get(opts, "AWS_ENDPOINT_URL_S3");
    if (!ep)
        ep = env_get(opts, "AWS_ENDPOINT_URL");
    const char *region = env_get(opts, "AWS_REGION");
    if (!region)
        region = env_get(opts, "AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    if (strlen(region) >= 64 || strpbrk(region, ":/ "))
        return rcpt_err_set(err, RCPT_EINVAL, "%s: AWS_REGION: not a region name", url);
    if (ep && strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: the S3 endpoint URL must start with http:// or https://",
                            url);
    s3store *s = calloc(1, sizeof *s);
    if (!s)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
    snprintf(s->bucket, sizeof s->bucket, "%s", bucket);
    snprintf(s->region, sizeof s->region, "%s", region);
    rcpt_buf p = RCPT_BUF_INIT;
    rcpt_buf_puts(&p, "");
    if (*prefix)
        rcpt_buf_printf(&p, "%s/", prefix);
    s->prefix = rcpt_buf_detach(&p, NULL);
    if (ep) {
        size_t el = strlen(ep);
        while (el && ep[el - 1] == '/')
            el--;
        s->endpoint = strndup(ep, el);
    }
    s->access_key = strdup(ak);
    s->secret_key = strdup(sk);
    s->session_token = tok ? strdup(tok) : NULL;
    s->base.url = strdup(url);
    s->base.vt = &s3_vt;
    s->threshold = opts && opts->multipart_threshold > 0 ? opts->multipart_threshold : 64LL << 20;
    s->part_size = opts && opts->part_size > 0 ? opts->part_size : 16LL << 20;
    if (!s->prefix || (ep && !s->endpoint) || !s->access_key || !s->secret_key || (tok && !s->session_token) ||
        !s->base.url) {
        s_close(&s->base);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
    }
    /* a large object may take minutes: no total timeout unless asked, the
     * stall timeout (no byte for 30 s) catches a dead connection instead */
    rcpt_http_client_opts ho;
    memset(&ho, 0, sizeof ho);
    if (opts)
        ho = opts->http;
    if (ho.timeout_ms == 0)
        ho.timeout_ms = -1;
    s->http = rcpt_http_client_new(&ho, err);
    if (!s->http) {
        s_close(&s->base);
        return err ? err->code : RCPT_ENOMEM;
    }
    s->sig.region = s->region;
    s->sig.service = "s3";
    s->sig.access_key = s->access_key;
    s->sig.secret_key = s->secret_key;
    s->sig.session_token = s->session_token;
    *out = &s->base;
    return RCPT_OK;
}
