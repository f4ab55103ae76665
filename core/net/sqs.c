/* SQS over the JSON protocol: see sqs.h. */
#include "net/sqs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rcpt_sqs {
    rcpt_awsjson *c;
    char *url;
    char name[96]; /* last path segment, for messages */
};

static const char *const SQS_VARS[] = {"AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL", NULL};

static int client(const char *endpoint, const char *region, rcpt_awsjson **out, rcpt_err *err)
{
    rcpt_awsjson_opts o = {0};
    o.region = region;
    o.service = "sqs";
    o.target_prefix = "AmazonSQS";
    o.endpoint = endpoint;
    o.env_endpoint_vars = SQS_VARS;
    o.default_host_prefix = "sqs";
    return rcpt_awsjson_new(&o, out, err);
}

void rcpt_sqs_msgs_free(rcpt_sqs_msg *m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++) {
        free(m[i].id);
        free(m[i].receipt);
        free(m[i].body);
    }
    free(m);
}

int rcpt_sqs_open(const char *url, rcpt_sqs **out, rcpt_err *err)
{
    *out = NULL;
    const char *p = NULL;
    if (!strncmp(url, "https://", 8))
        p = url + 8;
    else if (!strncmp(url, "http://", 7))
        p = url + 7;
    const char *slash = p ? strchr(p, '/') : NULL;
    const char *last = url ? strrchr(url, '/') : NULL;
    if (!p || !slash || slash == p || !last || !last[1])
        return rcpt_err_set(err, RCPT_EINVAL, "SQS queue URL: expected http(s)://HOST/ACCOUNT/NAME");
    char *ep = strndup(url, (size_t)(slash - url));
    rcpt_sqs *q = calloc(1, sizeof *q);
    if (!ep || !q) {
        free(ep);
        free(q);
        return rcpt_err_set(err, RCPT_ENOMEM, "SQS: out of memory");
    }
    snprintf(q->name, sizeof q->name, "%s", last + 1);
    /* AWS_ENDPOINT_URL_SQS wins over the URL's host (a stand-in for a real URL) */
    const char *env = getenv("AWS_ENDPOINT_URL_SQS");
    /* https://sqs.REGION.amazonaws.com/...: sign for the queue's own region */
    char region[64] = "";
    if (!strncmp(p, "sqs.", 4)) {
        const char *r = p + 4, *dot = strchr(r, '.');
        if (dot && dot < slash && (size_t)(dot - r) < sizeof region && !strncmp(dot, ".amazonaws.com", 14))
            snprintf(region, sizeof region, "%.*s", (int)(dot - r), r);
    }
    int rc = client(env && *env ? NULL : ep, region, &q->c, err);
    free(ep);
    if (rc) {
        free(q);
        return rc;
    }
    if (!(q->url = strdup(url))) {
        rcpt_sqs_close(q);
        return rcpt_err_set(err, RCPT_ENOMEM, "SQS: out of memory");
    }
    *out = q;
    return RCPT_OK;
}

void rcpt_sqs_close(rcpt_sqs *q)
{
    if (!q)
        return;
    rcpt_awsjson_free(q->c);
    free(q->url);
    free(q);
}

const char *rcpt_sqs_url(const rcpt_sqs *q) { return q->url; }
rcpt_http_client *rcpt_sqs_http(rcpt_sqs *q) { return rcpt_awsjson_http(q->c); }

static void start(rcpt_sqs *q, rcpt_buf *b)
{
    rcpt_buf_reset(b);
    rcpt_buf_puts(b, "{\"QueueUrl\":");
    rcpt_buf_json_str(b, q->url, strlen(q->url));
}

static int call(rcpt_sqs *q, const char *op, rcpt_buf *b, rcpt_awsjson_result *r, rcpt_err *err)
{
    if (b->oom) {
        memset(r, 0, sizeof *r);
        return rcpt_err_set(err, RCPT_ENOMEM, "SQS %s %s: out of memory", op, q->name);
    }
    return rcpt_awsjson_call(q->c, op, q->name, b->data, b->len, r, err);
}

static char *str_of(const rcpt_av *m, const char *name)
{
    const rcpt_av *v = rcpt_awsjson_get(m, name, RCPT_AV_S);
    return v ? strndup(v->s, v->len) : NULL;
}

int rcpt_sqs_send(rcpt_sqs *q, const char *body, size_t len, char **id_out, rcpt_err *err)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_awsjson_result r;
    *id_out = NULL;
    start(q, &b);
    rcpt_buf_puts(&b, ",\"MessageBody\":");
    rcpt_buf_json_str(&b, body, len);
    rcpt_buf_putc(&b, '}');
    int rc = call(q, "SendMessage", &b, &r, err);
    if (!rc && !(*id_out = str_of(r.body, "MessageId")))
        rc = rcpt_err_set(err, RCPT_EHTTP, "SQS SendMessage %s: answer without MessageId", q->name);
    rcpt_awsjson_result_free(&r);
    rcpt_buf_free(&b);
    return rc;
}

int rcpt_sqs_send_batch(rcpt_sqs *q, const char *const *bodies, const size_t *lens, size_t n, char ***ids_out,
                        char ***fail_out, size_t *nfailed, rcpt_err *err)
{
    char **ids = calloc(n ? n : 1, sizeof *ids), **fails = calloc(n ? n : 1, sizeof *fails);
    rcpt_buf b = RCPT_BUF_INIT;
    int rc = RCPT_OK;
    *ids_out = NULL;
    *fail_out = NULL;
    *nfailed = 0;
    if (!ids || !fails) {
        free(ids);
        free(fails);
        return rcpt_err_set(err, RCPT_ENOMEM, "SQS SendMessageBatch: out of memory");
    }
    for (size_t s = 0; s < n && !rc; s += 10) {
        size_t e = s + 10 < n ? s + 10 : n;
        start(q, &b);
        rcpt_buf_puts(&b, ",\"Entries\":[");
        for (size_t i = s; i < e; i++) {
            rcpt_buf_printf(&b, "%s{\"Id\":\"m%zu\",\"MessageBody\":", i > s ? "," : "", i);
            rcpt_buf_json_str(&b, bodies[i], lens ? lens[i] : strlen(bodies[i]));
            rcpt_buf_putc(&b, '}');
        }
        rcpt_buf_puts(&b, "]}");
        rcpt_awsjson_result r;
        rc = call(q, "SendMessageBatch", &b, &r, err);
        if (!rc) {
            const rcpt_av *ok = rcpt_awsjson_get(r.body, "Successful", RCPT_AV_L);
            const rcpt_av *bad = rcpt_awsjson_get(r.body, "Failed", RCPT_AV_L);
            for (size_t k = 0; ok && k < ok->n; k++) {
                const rcpt_av *id = rcpt_awsjson_get(&ok->vals[k], "Id", RCPT_AV_S);
                size_t i = id && id->s[0] == 'm' ? strtoul(id->s + 1, NULL, 10) : n;
                if (i >= s && i < e && !ids[i])
                    ids[i] = str_of(&ok->vals[k], "MessageId");
            }
            for (size_t k = 0; bad && k < bad->n; k++) {
                const rcpt_av *id = rcpt_awsjson_get(&bad->vals[k], "Id", RCPT_AV_S);
                size_t i = id && id->s[0] == 'm' ? strtoul(id->s + 1, NULL, 10) : n;
                if (i < s || i >= e || fails[i])
                    continue;
                const rcpt_av *code = rcpt_awsjson_get(&bad->vals[k], "Code", RCPT_AV_S);
                const rcpt_av *msg = rcpt_awsjson_get(&bad->vals[k], "Message", RCPT_AV_S);
                rcpt_buf f = RCPT_BUF_INIT;
                rcpt_buf_printf(&f, "%s: %s", code ? code->s : "Failed", msg ? msg->s : "");
                fails[i] = rcpt_buf_detach(&f, NULL);
            }
            for (size_t i = s; i < e; i++)
                if (!ids[i]) {
                    (*nfailed)++;
                    if (!fails[i])
                        fails[i] = strdup("NoAnswer: the batch answer did not mention this entry");
                }
        }
        rcpt_awsjson_result_free(&r);
    }
    rcpt_buf_free(&b);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            free(ids[i]);
            free(fails[i]);
        }
        free(ids);
        free(fails);
        *nfailed = 0;
        return rc;
    }
    *ids_out = ids;
    *fail_out = fails;
    return RCPT_OK;
}

static int attr_int(const rcpt_av *attrs, const char *name, long long *out)
{
    const rcpt_av *v = rcpt_awsjson_get(attrs, name, RCPT_AV_S);
    if (v) {
        *out = strtoll(v->s, NULL, 10);
        return 1;
    }
    v = rcpt_awsjson_get(attrs, name, RCPT_AV_NUM);
    if (v) {
        *out = (long long)v->num;
        return 1;
    }
    return 0;
}

int rcpt_sqs_receive(rcpt_sqs *q, int max, double visibility_s, int wait_s, rcpt_sqs_msg **out, size_t *n,
                     rcpt_err *err)
{
    *out = NULL;
    *n = 0;
    if (max < 1)
        max = 1;
    if (wait_s < 0)
        wait_s = 0;
    if (wait_s > 20)
        wait_s = 20;
    rcpt_sqs_msg *m = calloc((size_t)max, sizeof *m);
    if (!m)
        return rcpt_err_set(err, RCPT_ENOMEM, "SQS ReceiveMessage: out of memory");
    rcpt_buf b = RCPT_BUF_INIT;
    size_t got = 0;
    int rc = RCPT_OK;
    long vis = visibility_s < 0 ? -1 : (long)visibility_s + ((double)(long)visibility_s < visibility_s);
    for (int first = 1; got < (size_t)max && !rc; first = 0) {
        size_t want = (size_t)max - got > 10 ? 10 : (size_t)max - got;
        start(q, &b);
        rcpt_buf_printf(&b, ",\"MaxNumberOfMessages\":%zu,\"WaitTimeSeconds\":%d", want, first ? wait_s : 0);
        if (vis >= 0)
            rcpt_buf_printf(&b, ",\"VisibilityTimeout\":%ld", vis);
        rcpt_buf_puts(&b, ",\"AttributeNames\":[\"ApproximateReceiveCount\",\"SentTimestamp\"]}");
        rcpt_awsjson_result r;
        rc = call(q, "ReceiveMessage", &b, &r, err);
        size_t before = got;
        const rcpt_av *ms = rc ? NULL : rcpt_awsjson_get(r.body, "Messages", RCPT_AV_L);
        for (size_t i = 0; ms && i < ms->n && got < (size_t)max && !rc; i++) {
            const rcpt_av *x = &ms->vals[i];
            rcpt_sqs_msg *o = &m[got];
            const rcpt_av *body = rcpt_awsjson_get(x, "Body", RCPT_AV_S);
            o->id = str_of(x, "MessageId");
            o->receipt = str_of(x, "ReceiptHandle");
            o->body = body ? strndup(body->s, body->len) : NULL;
            o->body_len = body ? body->len : 0;
            got++;
            if (!o->id || !o->receipt || !o->body) {
                rc = rcpt_err_set(err, RCPT_EHTTP, "SQS ReceiveMessage %s: a message without MessageId, ReceiptHandle or Body",
                                  q->name);
                break;
            }
            const rcpt_av *attrs = rcpt_awsjson_get(x, "Attributes", RCPT_AV_M);
            long long v;
            o->receive_count = attr_int(attrs, "ApproximateReceiveCount", &v) ? (int)v : 1;
            o->sent_ms = attr_int(attrs, "SentTimestamp", &v) ? v : 0;
        }
        rcpt_awsjson_result_free(&r);
        if (got == before)
            break; /* the queue had nothing more */
    }
    rcpt_buf_free(&b);
    if (rc) {
        rcpt_sqs_msgs_free(m, got);
        return rc;
    }
    *out = m;
    *n = got;
    return RCPT_OK;
}

int rcpt_sqs_delete(rcpt_sqs *q, const char *receipt, rcpt_err *err)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_awsjson_result r;
    start(q, &b);
    rcpt_buf_puts(&b, ",\"ReceiptHandle\":");
    rcpt_buf_json_str(&b, receipt, strlen(receipt));
    rcpt_buf_putc(&b, '}');
    int rc = call(q, "DeleteMessage", &b, &r, err);
    if (rc && (strstr(r.type, "ReceiptHandleIsInvalid") || strstr(r.type, "InvalidReceiptHandle")))
        rc = rcpt_err_set(err, RCPT_ENOTFOUND, "SQS DeleteMessage %s: receipt handle is invalid (%s)", q->name, r.type);
    rcpt_awsjson_result_free(&r);
    rcpt_buf_free(&b);
    return rc;
}

int rcpt_sqs_count(rcpt_sqs *q, long *visible, long *inflight, rcpt_err *err)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_awsjson_result r;
    start(q, &b);
    rcpt_buf_puts(&b, ",\"AttributeNames\":[\"ApproximateNumberOfMessages\",\"ApproximateNumberOfMessagesNotVisible\"]}");
    int rc = call(q, "GetQueueAttributes", &b, &r, err);
    if (!rc) {
        const rcpt_av *a = rcpt_awsjson_get(r.body, "Attributes", RCPT_AV_M);
        long long v1, v2;
        if (!attr_int(a, "ApproximateNumberOfMessages", &v1) || !attr_int(a, "ApproximateNumberOfMessagesNotVisible", &v2))
            rc = rcpt_err_set(err, RCPT_EHTTP, "SQS GetQueueAttributes %s: answer without the message counts", q->name);
        else
            *visible = (long)v1, *inflight = (long)v2;
    }
    rcpt_awsjson_result_free(&r);
    rcpt_buf_free(&b);
    return rc;
}

static int by_name(const char *endpoint, const char *op, const char *name, int visibility_s, char **url_out,
                   rcpt_err *err)
{
    *url_out = NULL;
    if (!name || !*name || strlen(name) > 80)
        return rcpt_err_set(err, RCPT_EINVAL, "SQS %s: a queue name is 1-80 characters", op);
    rcpt_awsjson *c = NULL;
    int rc = client(endpoint, NULL, &c, err);
    if (rc)
        return rc;
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_puts(&b, "{\"QueueName\":");
    rcpt_buf_json_str(&b, name, strlen(name));
    if (visibility_s >= 0)
        rcpt_buf_printf(&b, ",\"Attributes\":{\"VisibilityTimeout\":\"%d\"}", visibility_s);
    rcpt_buf_putc(&b, '}');
    rcpt_awsjson_result r;
    rc = b.oom ? rcpt_err_set(err, RCPT_ENOMEM, "SQS %s: out of memory", op)
               : rcpt_awsjson_call(c, op, name, b.data, b.len, &r, err);
    if (!b.oom) {
        if (!rc && !(*url_out = str_of(r.body, "QueueUrl")))
            rc = rcpt_err_set(err, RCPT_EHTTP, "SQS %s %s: answer without QueueUrl", op, name);
        rcpt_awsjson_result_free(&r);
    }
    rcpt_buf_free(&b);
    rcpt_awsjson_free(c);
    return rc;
}

int rcpt_sqs_create_queue(const char *endpoint, const char *name, int visibility_s, char **url_out, rcpt_err *err)
{
    return by_name(endpoint, "CreateQueue", name, visibility_s, url_out, err);
}

int rcpt_sqs_queue_url(const char *endpoint, const char *name, char **url_out, rcpt_err *err)
{
    return by_name(endpoint, "GetQueueUrl", name, -1, url_out, err);
}
