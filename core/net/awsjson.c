/* AWS JSON protocol client: see awsjson.h. */
#include "net/awsjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rcpt_awsjson {
    rcpt_http_client *http;
    char *endpoint, *url;
    char *access_key, *secret_key, *session_token;
    char region[64], service[32], prefix[64];
    int max_attempts;
    uint64_t rnd;
};

static const char *env_get(const rcpt_awsjson_opts *o, const char *name)
{
    const char *v = o->getenv ? o->getenv(o->getenv_ud, name) : getenv(name);
    return v && *v ? v : NULL;
}

void rcpt_awsjson_free(rcpt_awsjson *c)
{
    if (!c)
        return;
    rcpt_http_client_free(c->http);
    free(c->endpoint);
    free(c->url);
    free(c->access_key);
    if (c->secret_key) /* do not leave the secret in freed memory */
        memset(c->secret_key, 0, strlen(c->secret_key));
    free(c->secret_key);
    free(c->session_token);
    free(c);
}

int rcpt_awsjson_new(const rcpt_awsjson_opts *o, rcpt_awsjson **out, rcpt_err *err)
{
    *out = NULL;
    const char *svc = o->service ? o->service : "?";
    const char *ak = env_get(o, "AWS_ACCESS_KEY_ID"), *sk = env_get(o, "AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk)
        return rcpt_err_set(err, RCPT_EAUTH, "%s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set", svc);
    const char *tok = env_get(o, "AWS_SESSION_TOKEN");
    const char *region = o->region && *o->region ? o->region : env_get(o, "AWS_REGION");
    if (!region)
        region = env_get(o, "AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    if (strlen(region) >= 64 || strpbrk(region, ":/ "))
        return rcpt_err_set(err, RCPT_EINVAL, "%s: AWS_REGION: not a region name", svc);
    const char *ep = o->endpoint && *o->endpoint ? o->endpoint : NULL;
    for (const char *const *v = o->env_endpoint_vars; !ep && v && *v; v++)
        ep = env_get(o, *v);
    rcpt_awsjson *c = calloc(1, sizeof *c);
    if (!c)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", svc);
    snprintf(c->region, sizeof c->region, "%s", region);
    snprintf(c->service, sizeof c->service, "%s", svc);
    snprintf(c->prefix, sizeof c->prefix, "%s", o->target_prefix ? o->target_prefix : "");
    c->max_attempts = o->max_attempts > 0 ? o->max_attempts : 8;
    rcpt_buf b = RCPT_BUF_INIT;
    if (ep) {
        size_t el = strlen(ep);
        while (el && ep[el - 1] == '/')
            el--;
        rcpt_buf_append(&b, ep, el);
    } else {
        rcpt_buf_printf(&b, "https://%s.%s.amazonaws.com", o->default_host_prefix ? o->default_host_prefix : svc,
                        region);
    }
    c->endpoint = rcpt_buf_detach(&b, NULL);
    if (c->endpoint && strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0) {
        rcpt_awsjson_free(c);
        return rcpt_err_set(err, RCPT_EINVAL, "%s: the endpoint URL must start with http:// or https://", svc);
    }
    if (c->endpoint) {
        rcpt_buf_printf(&b, "%s/", c->endpoint);
        c->url = rcpt_buf_detach(&b, NULL);
    }
    c->access_key = strdup(ak);
    c->secret_key = strdup(sk);
    c->session_token = tok ? strdup(tok) : NULL;
    c->rnd = (uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL;
    if (!c->endpoint || !c->url || !c->access_key || !c->secret_key || (tok && !c->session_token)) {
        rcpt_awsjson_free(c);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", svc);
    }
    rcpt_http_client_opts ho = {0};
    ho.timeout_ms = 65000; /* SQS long polls take up to 20 s */
    if (!(c->http = rcpt_http_client_new(&ho, err))) {
        rcpt_awsjson_free(c);
        return err ? err->code : RCPT_ENOMEM;
    }
    *out = c;
    return RCPT_OK;
}

const char *rcpt_awsjson_endpoint(const rcpt_awsjson *c) { return c->endpoint; }
const char *rcpt_awsjson_region(const rcpt_awsjson *c) { return c->region; }
rcpt_http_client *rcpt_awsjson_http(rcpt_awsjson *c) { return c->http; }

void rcpt_awsjson_result_free(rcpt_awsjson_result *r)
{
    if (!r)
        return;
    rcpt_item_free(r->body);
    memset(r, 0, sizeof *r);
}

const rcpt_av *rcpt_awsjson_get(const rcpt_av *m, const char *name, int type)
{
    if (!m || m->type != RCPT_AV_M)
        return NULL;
    const rcpt_av *v = rcpt_m_get(m, name);
    return v && v->type == type ? v : NULL;
}

static int is_throttle(const char *t)
{
    static const char *const T[] = {"ProvisionedThroughputExceededException", "ThrottlingException",
                                    "RequestLimitExceeded", "Throttling", "RequestThrottled",
                                    "LimitExceededException", "InternalServerError",
                                    "ServiceUnavailable", "TransactionInProgressException",
                                    "RequestThrottledException", NULL};
    for (int i = 0; T[i]; i++)
        if (strcmp(t, T[i]) == 0)
            return 1;
    return 0;
}

static uint64_t next_rnd(rcpt_awsjson *c)
{
    uint64_t x = c->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rnd = x;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException" -> the part after '#';
 * SQS also sends x-amzn-query-error "AWS.SimpleQueueService.NonExistentQueue;Sender" */
static void error_type(const rcpt_av *body, const rcpt_http_response *rs, char *out, size_t cap)
{
    out[0] = '\0';
    const rcpt_av *t = rcpt_awsjson_get(body, "__type", RCPT_AV_S);
    const char *s = t ? t->s : NULL;
    if (!s) {
        const char *h = rcpt_http_response_header(rs, "x-amzn-errortype");
        s = h;
    }
    if (!s)
        return;
    const char *h = strrchr(s, '#');
    h = h ? h + 1 : s;
    size_t n = strcspn(h, ":");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, h, n);
    out[n] = '\0';
}

static const char *error_message(const rcpt_av *body)
{
    const rcpt_av *m = rcpt_awsjson_get(body, "message", RCPT_AV_S);
    if (!m)
        m = rcpt_awsjson_get(body, "Message", RCPT_AV_S);
    return m ? m->s : "";
}

int rcpt_awsjson_call(rcpt_awsjson *c, const char *op, const char *what, const char *body, size_t len,
                      rcpt_awsjson_result *res, rcpt_err *err)
{
    return rcpt_awsjson_call_raw(c, op, what, body, len, NULL, res, err);
}

int rcpt_awsjson_call_raw(rcpt_awsjson *c, const char *op, const char *what, const char *body, size_t len,
                          rcpt_buf *raw, rcpt_awsjson_result *res, rcpt_err *err)
{
    memset(res, 0, sizeof *res);
    char target[160], svcname[48];
    const char *sep = what && *what ? " " : "";
    if (!what)
        what = "";
    snprintf(target, sizeof target, "X-Amz-Target: %s.%s", c->prefix, op);
    snprintf(svcname, sizeof svcname, "%s", strcmp(c->service, "sqs") == 0 ? "SQS" : "DynamoDB");
    const char *hdrs[] = {target, "Content-Type: application/x-amz-json-1.0"};
    rcpt_http_sigv4 sig = {c->region, c->service, c->access_key, c->secret_key, c->session_token};
    rcpt_http_request rq = {0};
    rq.method = "POST";
    rq.url = c->url;
    rq.headers = hdrs;
    rq.n_headers = 2;
    rq.body = body;
    rq.body_len = len;
    rq.sigv4 = &sig;
    rcpt_http_response rs;
    rcpt_http_response_init(&rs);
    int rc = RCPT_OK;
    for (int attempt = 1;; attempt++) {
        rcpt_err herr = {0};
        rcpt_awsjson_result_free(res);
        rc = rcpt_http_do(c->http, &rq, &rs, &herr);
        res->status = rs.status;
        res->attempts += rs.attempts;
        if (rs.status == 0) {
            rcpt_err_set(err, rc ? rc : RCPT_EIO, "%s %s%s%s: %s", svcname, op, sep, what, herr.msg);
            break;
        }
        /* parse the answer, error or not; an empty body is {} */
        if (rs.body.len) {
            rcpt_err perr = {0};
            if (rcpt_plain_from_json(rs.body.data, rs.body.len, &res->body, &perr)) {
                res->body = NULL;
                if (rs.status < 300) {
                    rc = rcpt_err_set(err, RCPT_EHTTP, "%s %s%s%s: answer is not JSON: %s", svcname, op, sep, what,
                                      perr.msg);
                    break;
                }
            }
        } else if (!(res->body = rcpt_item_new())) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s %s%s%s: out of memory", svcname, op, sep, what);
            break;
        }
        if (raw) {
            rcpt_buf_reset(raw);
            if (rs.body.len)
                rcpt_buf_append(raw, rs.body.data, rs.body.len);
        }
        if (rs.status < 300) {
            rc = RCPT_OK;
            break;
        }
        error_type(res->body, &rs, res->type, sizeof res->type);
        if (rs.status == 400 && is_throttle(res->type) && attempt < c->max_attempts) {
            rcpt_http_retry p = RCPT_HTTP_RETRY_DEFAULT;
            p.base_delay_ms = 50;
            p.max_delay_ms = 5000;
            sleep_ms(rcpt_http_backoff_ms(&p, attempt, NULL, 0, next_rnd(c)));
            continue;
        }
        const char *t = res->type;
        if (!strcmp(t, "ConditionalCheckFailedException") || !strcmp(t, "TransactionCanceledException"))
            rc = RCPT_ECONFLICT;
        else if (!strcmp(t, "ResourceNotFoundException") || !strcmp(t, "QueueDoesNotExist") ||
                 !strcmp(t, "NonExistentQueue"))
            rc = RCPT_ENOTFOUND;
        else if (rs.status == 401 || rs.status == 403 || strstr(t, "Signature") || strstr(t, "Token") ||
                 strstr(t, "AccessDenied") || strstr(t, "Credential"))
            rc = RCPT_EAUTH;
        else if (!strcmp(t, "ValidationException") || !strcmp(t, "SerializationException") ||
                 strstr(t, "InvalidParameter"))
            rc = RCPT_EINVAL;
        else
            rc = RCPT_EHTTP;
        rcpt_err_set(err, rc, "%s %s%s%s: %s%s%s (HTTP %ld%s)", svcname, op, sep, what, *t ? t : "error",
                     *error_message(res->body) ? ": " : "", error_message(res->body), rs.status,
                     attempt > 1 || rs.attempts > 1 ? ", after retries" : "");
        break;
    }
    rcpt_http_response_free(&rs);
    return rc;
}
