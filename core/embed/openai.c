/* The OpenAI-compatible embeddings provider (contract in embed.h).
 * All transport behaviour (timeouts, retries, Retry-After, messages without
 * headers) comes from rcpt_http; this file builds the request, splits large
 * calls and checks the answer strictly, because a wrong count or size would
 * otherwise put vectors on the wrong lines. */
#include "../util/mask.h"
#include "embed.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "net/http.h"
#include "util/buf.h"

#define DEFAULT_BASE "https://api.openai.com"
#define DEFAULT_MODEL "text-embedding-3-small"

typedef struct openai_embedder {
    rcpt_embedder base;
    rcpt_http_client *http;
    char *url;        /* {base}/v1/embeddings */
    char *model;
    char *auth;       /* "Authorization: Bearer KEY" */
    char *key;        /* to mask it in any server message we copy */
    size_t dimensions;
    size_t max_batch;
    long timeout_ms;
    rcpt_http_retry retry;
} openai_embedder;

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static size_t native_dim(const char *model)
{
    if (strcmp(model, "text-embedding-3-small") == 0 || strcmp(model, "text-embedding-ada-002") == 0)
        return 1536;
    if (strcmp(model, "text-embedding-3-large") == 0) return 3072;
    return 0;
}


/* ---- answer parsing ----------------------------------------------------------- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* base64 of dim little-endian float32 -> row; 0 or -1 on a bad encoding or size. */
static int decode_b64_row(const char *s, size_t len, size_t dim, float *row)
{
    while (len && s[len - 1] == '=') len--;
    if ((len * 6) / 8 != dim * 4 || len % 4 == 1) return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t ob = 0;
    unsigned char word[4];
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            word[ob % 4] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
            ob++;
            if (ob % 4 == 0) {
                uint32_t u = (uint32_t)word[0] | (uint32_t)word[1] << 8 | (uint32_t)word[2] << 16 |
                             (uint32_t)word[3] << 24;
                memcpy(&row[ob / 4 - 1], &u, 4);
            }
        }
    }
    return ob == dim * 4 ? 0 : -1;
}

int rcpt_embed_openai_parse(const char *body, size_t len, size_t n, size_t dim, float *out,
                            rcpt_err *err)
{
    rcpt_json_doc *doc = NULL;
    int rc = rcpt_json_parse(body, len, NULL, &doc, err, NULL);
    if (rc) {
        if (rc == RCPT_ENOMEM) return rc;
        if (err) err->code = RCPT_EHTTP;
        rcpt_err_prefix(err, "response");
        return RCPT_EHTTP;
    }
    const rcpt_json *root = rcpt_json_root(doc);
    const rcpt_json *data = rcpt_json_get(root, "data");
    unsigned char *seen = NULL;
    if (!data || data->type != RCPT_JSON_ARRAY) {
        rc = rcpt_err_set(err, RCPT_EHTTP, "response.data: missing or not an array");
        goto done;
    }
    if (data->u.arr.n != n) {
        rc = rcpt_err_set(err, RCPT_EHTTP, "response.data: %zu embeddings for %zu inputs",
                          data->u.arr.n, n);
        goto done;
    }
    seen = calloc(n ? n : 1, 1);
    if (!seen) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "response: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const rcpt_json *it = &data->u.arr.items[i];
        const rcpt_json *ix = rcpt_json_get(it, "index");
        size_t idx = i;
        if (ix) {
            if (ix->type != RCPT_JSON_NUMBER || !(ix->flags & RCPT_JSON_F_I64) || ix->u.num.i < 0 ||
                (uint64_t)ix->u.num.i >= n) {
                rc = rcpt_err_set(err, RCPT_EHTTP, "response.data[%zu].index: not an index below %zu", i, n);
                goto done;
            }
            idx = (size_t)ix->u.num.i;
        }
        if (seen[idx]) {
            rc = rcpt_err_set(err, RCPT_EHTTP, "response.data[%zu].index: %zu given twice", i, idx);
            goto done;
        }
        seen[idx] = 1;
        const rcpt_json *emb = rcpt_json_get(it, "embedding");
        float *row = out + idx * dim;
        if (emb && emb->type == RCPT_JSON_ARRAY) {
            if (emb->u.arr.n != dim) {
                rc = rcpt_err_set(err, RCPT_EHTTP, "response.data[%zu].embedding: %zu numbers, expected %zu",
                                  i, emb->u.arr.n, dim);
                goto done;
            }
            for (size_t k = 0; k < dim; k++) {
                const rcpt_json *x = &emb->u.arr.items[k];
                if (x->type != RCPT_JSON_NUMBER) {
                    rc = rcpt_err_set(err, RCPT_EHTTP, "response.data[%zu].embedding[%zu]: not a number", i, k);
                    goto done;
                }
                row[k] = (float)x->u.num.d;
            }
        } else if (emb && emb->type == RCPT_JSON_STRING) {
            if (decode_b64_row(emb->u.str.s, emb->u.str.len, dim, row) != 0) {
                rc = rcpt_err_set(err, RCPT_EHTTP,
                                  "response.data[%zu].embedding: not base64 of %zu float32 values", i, dim);
                goto done;
            }
        } else {
            rc = rcpt_err_set(err, RCPT_EHTTP, "response.data[%zu].embedding: missing", i);
            goto done;
        }
        /* unit length in double (see embed.h); a zero or non-finite vector is an error:
         * it could never be a cosine neighbour of anything */
        double ss = 0;
        for (size_t k = 0; k < dim; k++) ss += (double)row[k] * row[k];
        if (!(ss > 0) || !isfinite(ss)) {
            rc = rcpt_err_set(err, RCPT_EHTTP, "response.data[%zu].embedding: zero or non-finite vector", i);
            goto done;
        }
        double inv = 1.0 / sqrt(ss);
        for (size_t k = 0; k < dim; k++) row[k] = (float)(row[k] * inv);
    }
    rc = RCPT_OK;
done:
    free(seen);
    rcpt_json_free(doc);
    return rc;
}

/* "error": {"message": ...} of an error answer, masked, or "". */
static void server_message(const openai_embedder *oe, const rcpt_buf *body, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (!body->len) return;
    rcpt_json_doc *doc = NULL;
    if (rcpt_json_parse(body->data, body->len, NULL, &doc, NULL, NULL) != RCPT_OK) return;
    const rcpt_json *m = rcpt_json_get(rcpt_json_get(rcpt_json_root(doc), "error"), "message");
    if (m && m->type == RCPT_JSON_STRING) rcpt_copy_masked(dst, cap, m->u.str.s, m->u.str.len, oe->key);
    rcpt_json_free(doc);
}

/* ---- one request ------------------------------------------------------------------ */

static int embed_chunk(openai_embedder *oe, const char *const *texts, const size_t *lens, size_t n,
                       float *out, rcpt_err *err)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_puts(&b, "{\"model\":");
    rcpt_buf_json_str(&b, oe->model, strlen(oe->model));
    if (oe->dimensions) rcpt_buf_printf(&b, ",\"dimensions\":%zu", oe->dimensions);
    rcpt_buf_puts(&b, ",\"encoding_format\":\"float\",\"input\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) rcpt_buf_putc(&b, ',');
        if (lens[i] == 0)
            rcpt_buf_puts(&b, "\" \"");
        else
            rcpt_buf_json_str(&b, texts[i], lens[i]);
    }
    if (rcpt_buf_puts(&b, "]}") != RCPT_OK) {
        rcpt_buf_free(&b);
        return rcpt_err_set(err, RCPT_ENOMEM, "embeddings: out of memory building the request");
    }
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", oe->auth};
    rcpt_http_request rq = {
        .method = "POST", .url = oe->url, .headers = hdrs, .n_headers = 3,
        .body = b.data, .body_len = b.len, .timeout_ms = oe->timeout_ms, .retry = &oe->retry,
    };
    rcpt_http_response rs;
    rcpt_http_response_init(&rs);
    int rc = rcpt_http_do(oe->http, &rq, &rs, err);
    rcpt_buf_free(&b);
    if (rc == RCPT_EAUTH) {
        /* never the server's text: OpenAI's 401 message quotes part of the key */
        rcpt_err_set(err, RCPT_EAUTH, "embeddings: the API key was refused (HTTP %ld)", rs.status);
    } else if (rc != RCPT_OK && rs.status >= 400) {
        char m[256];
        server_message(oe, &rs.body, m, sizeof m);
        if (m[0] && err) {
            size_t l = strlen(err->msg);
            snprintf(err->msg + l, sizeof err->msg - l, ": %s", m);
        }
        rcpt_err_prefix(err, "embeddings");
    } else if (rc != RCPT_OK) {
        rcpt_err_prefix(err, "embeddings");
    } else if (rs.status != 200) {
        rc = rcpt_err_set(err, RCPT_EHTTP, "embeddings: unexpected HTTP %ld", rs.status);
    } else {
        rc = rcpt_embed_openai_parse(rs.body.data ? rs.body.data : "", rs.body.len, n, oe->base.dim, out, err);
        if (rc) rcpt_err_prefix(err, "embeddings");
    }
    rcpt_http_response_free(&rs);
    return rc;
}

static int openai_embed(rcpt_embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out,
                        rcpt_err *err)
{
    openai_embedder *oe = (openai_embedder *)e;
    for (size_t at = 0; at < n; at += oe->max_batch) {
        size_t k = n - at < oe->max_batch ? n - at : oe->max_batch;
        int rc = embed_chunk(oe, texts + at, lens + at, k, out + at * e->dim, err);
        if (rc) {
            if (n > oe->max_batch) rcpt_err_prefix(err, "inputs %zu..%zu of %zu", at, at + k - 1, n);
            return rc;
        }
    }
    return RCPT_OK;
}

static void openai_destroy(rcpt_embedder *e)
{
    openai_embedder *oe = (openai_embedder *)e;
    rcpt_http_client_free(oe->http);
    free(oe->url);
    free(oe->model);
    if (oe->auth) {
        /* the key should not linger in freed memory */
        memset(oe->auth, 0, strlen(oe->auth));
        free(oe->auth);
    }
    if (oe->key) {
        memset(oe->key, 0, strlen(oe->key));
        free(oe->key);
    }
    free(oe);
}

int rcpt_embed_openai_new(const rcpt_embed_openai_opts *o, rcpt_embedder **out, rcpt_err *err)
{
    *out = NULL;
    rcpt_embed_openai_opts d;
    memset(&d, 0, sizeof d);
    if (!o) o = &d;
    const char *base = o->base_url && *o->base_url ? o->base_url : DEFAULT_BASE;
    const char *model = o->model && *o->model ? o->model : DEFAULT_MODEL;
    if (!o->api_key || !*o->api_key)
        return rcpt_err_set(err, RCPT_EINVAL, "openai embedder: api_key: required");
    for (const char *p = o->api_key; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return rcpt_err_set(err, RCPT_EINVAL, "openai embedder: api_key: contains a space or control character");
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        return rcpt_err_set(err, RCPT_EINVAL, "openai embedder: base_url: must start with http:// or https://");
    size_t dim = o->dimensions ? o->dimensions : native_dim(model);
    if (!dim)
        return rcpt_err_set(err, RCPT_EINVAL,
                            "openai embedder: dimensions: required for model '%s' (its size is not known)", model);
    if (dim > RCPT_EMBED_DIM_MAX)
        return rcpt_err_set(err, RCPT_EINVAL, "openai embedder: dimensions: %zu is above %d", dim,
                            RCPT_EMBED_DIM_MAX);
    if (o->max_batch > RCPT_EMBED_OPENAI_MAX_BATCH)
        return rcpt_err_set(err, RCPT_EINVAL, "openai embedder: max_batch: at most %d",
                            RCPT_EMBED_OPENAI_MAX_BATCH);
    if (o->max_attempts < 0 || o->base_delay_ms < 0 || o->max_delay_ms < 0 || o->timeout_ms < 0 ||
        o->connect_timeout_ms < 0)
        return rcpt_err_set(err, RCPT_EINVAL, "openai embedder: timeouts and retry settings must be >= 0");

    openai_embedder *oe = calloc(1, sizeof *oe);
    if (!oe) return rcpt_err_set(err, RCPT_ENOMEM, "openai embedder: out of memory");
    oe->base.name = "openai";
    oe->base.dim = dim;
    oe->base.embed = openai_embed;
    oe->base.destroy = openai_destroy;
    oe->dimensions = o->dimensions;
    oe->max_batch = o->max_batch ? o->max_batch : RCPT_EMBED_OPENAI_MAX_BATCH;
    oe->timeout_ms = o->timeout_ms ? o->timeout_ms : 60000;
    oe->retry.max_attempts = o->max_attempts ? o->max_attempts : 5;
    oe->retry.base_delay_ms = o->base_delay_ms ? o->base_delay_ms : 500;
    oe->retry.max_delay_ms = o->max_delay_ms ? o->max_delay_ms : 30000;

    rcpt_buf u = RCPT_BUF_INIT, a = RCPT_BUF_INIT;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') bl--;
    rcpt_buf_append(&u, base, bl);
    rcpt_buf_puts(&u, "/v1/embeddings");
    rcpt_buf_printf(&a, "Authorization: Bearer %s", o->api_key);
    oe->url = rcpt_buf_detach(&u, NULL);
    oe->auth = rcpt_buf_detach(&a, NULL);
    oe->model = dupstr(model);
    oe->key = dupstr(o->api_key);
    rcpt_http_client_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.retry = oe->retry;
    ho.timeout_ms = oe->timeout_ms;
    ho.connect_timeout_ms = o->connect_timeout_ms;
    int rc = RCPT_OK;
    if (!oe->url || !oe->auth || !oe->model || !oe->key) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "openai embedder: out of memory");
    } else if (!(oe->http = rcpt_http_client_new(&ho, err))) {
        rc = err && err->code ? err->code : RCPT_EIO;
        rcpt_err_prefix(err, "openai embedder");
    }
    if (rc) {
        openai_destroy(&oe->base);
        return rc;
    }
    *out = &oe->base;
    return RCPT_OK;
}
