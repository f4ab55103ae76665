/* Fault injection rules (see fault.h for the syntax and the contract). */
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* sqlite3.h result codes, repeated so util/ need not include sqlite3.h */
enum { SQ_IOERR = 10, SQ_FULL = 13 };

typedef struct rule {
    rcpt_fault_layer layer;
    char op[16];
    char key[128];
    unsigned long nth;       /* 0 = from the first matching call */
    unsigned long times;     /* 0 = no limit */
    rcpt_fault_hit hit;
    unsigned long seen, fired;
} rule;

struct rcpt_fault_set {
    pthread_mutex_t mu;
    rule *rules;
    size_t n;
    unsigned long injected;
    char log_path[512];
};

static const char *layer_name(rcpt_fault_layer l)
{
    return l == RCPT_FAULT_HTTP ? "http" : l == RCPT_FAULT_OBJSTORE ? "objstore" : "sqlite";
}

static int parse_ulong(const char *v, unsigned long *out)
{
    if (!*v)
        return -1;
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || *end || *v == '-')
        return -1;
    *out = x;
    return 0;
}

static int objstore_code(const char *v)
{
    static const struct { const char *name; int code; } T[] = {
        {"EIO", RCPT_EIO},         {"ETIMEOUT", RCPT_ETIMEOUT}, {"ENOTFOUND", RCPT_ENOTFOUND},
        {"EHTTP", RCPT_EHTTP},     {"EAUTH", RCPT_EAUTH},       {"ECONFLICT", RCPT_ECONFLICT},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(T[i].name, v) == 0)
            return T[i].code;
    return 0;
}

/* one field "name" or "name=value" of rule r (the rule text is in ctx) */
static int parse_field(rule *r, char *f, int *has_times, const char *ctx, rcpt_err *err)
{
    char *eq = strchr(f, '=');
    const char *v = eq ? eq + 1 : "";
    if (eq)
        *eq = '\0';
    int http = r->layer == RCPT_FAULT_HTTP, obj = r->layer == RCPT_FAULT_OBJSTORE;
    if (strcmp(f, "op") == 0 && eq) {
        if (!*v || strlen(v) >= sizeof r->op)
            goto bad;
        snprintf(r->op, sizeof r->op, "%s", v);
    } else if ((strcmp(f, "key") == 0 || strcmp(f, "host") == 0) && eq) {
        if (!*v || strlen(v) >= sizeof r->key)
            goto bad;
        snprintf(r->key, sizeof r->key, "%s", v);
    } else if (strcmp(f, "nth") == 0 && eq) {
        if (parse_ulong(v, &r->nth) || r->nth == 0)
            goto bad;
    } else if (strcmp(f, "times") == 0 && eq) {
        if (strcmp(v, "always") == 0)
            r->times = 0;
        else if (parse_ulong(v, &r->times) || r->times == 0)
            goto bad;
        *has_times = 1;
    } else if (http && strcmp(f, "status") == 0 && eq) {
        unsigned long s;
        if (parse_ulong(v, &s) || s < 100 || s > 599)
            goto bad;
        r->hit.kind = RCPT_FAULT_STATUS;
        r->hit.status = (long)s;
    } else if (http && strcmp(f, "retry_after") == 0 && eq) {
        if (!*v || strlen(v) >= sizeof r->hit.retry_after)
            goto bad;
        snprintf(r->hit.retry_after, sizeof r->hit.retry_after, "%s", v);
    } else if (http && strcmp(f, "timeout") == 0 && !eq) {
        r->hit.kind = RCPT_FAULT_TIMEOUT;
    } else if (http && strcmp(f, "refused") == 0 && !eq) {
        r->hit.kind = RCPT_FAULT_REFUSED;
    } else if ((http || obj) && strcmp(f, "short") == 0 && eq) {
        unsigned long n;
        if (parse_ulong(v, &n))
            goto bad;
        r->hit.kind = RCPT_FAULT_SHORT;
        r->hit.short_len = n;
    } else if (obj && strcmp(f, "error") == 0 && eq) {
        if (!(r->hit.code = objstore_code(v)))
            goto bad;
        r->hit.kind = RCPT_FAULT_ERROR;
    } else if (!http && !obj && strcmp(f, "error") == 0 && eq) {
        if (strcmp(v, "full") == 0)
            r->hit.sqlite_code = SQ_FULL;
        else if (strcmp(v, "ioerr") == 0)
            r->hit.sqlite_code = SQ_IOERR;
        else
            goto bad;
        r->hit.kind = RCPT_FAULT_ERROR;
    } else {
        return rcpt_err_set(err, RCPT_EINVAL, "RCPT_FAULTS: rule \"%s\": unknown field \"%s%s\" for %s",
                            ctx, f, eq ? "=" : "", layer_name(r->layer));
    }
    return RCPT_OK;
bad:
    return rcpt_err_set(err, RCPT_EINVAL, "RCPT_FAULTS: rule \"%s\": bad value for %s: \"%s\"", ctx,
                        f, v);
}

static int parse_rule(char *text, rule *r, rcpt_err *err)
{
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%s", text);
    memset(r, 0, sizeof *r);
    char *save = NULL;
    char *f = strtok_r(text, ":", &save);
    if (!f)
        return rcpt_err_set(err, RCPT_EINVAL, "RCPT_FAULTS: empty rule");
    if (strcmp(f, "http") == 0)
        r->layer = RCPT_FAULT_HTTP;
    else if (strcmp(f, "objstore") == 0)
        r->layer = RCPT_FAULT_OBJSTORE;
    else if (strcmp(f, "sqlite") == 0)
        r->layer = RCPT_FAULT_SQLITE;
    else
        return rcpt_err_set(err, RCPT_EINVAL,
                            "RCPT_FAULTS: rule \"%s\": layer must be http, objstore or sqlite", ctx);
    int has_times = 0;
    while ((f = strtok_r(NULL, ":", &save))) {
        int rc = parse_field(r, f, &has_times, ctx, err);
        if (rc)
            return rc;
    }
    if (!r->hit.kind)
        return rcpt_err_set(err, RCPT_EINVAL, "RCPT_FAULTS: rule \"%s\": no effect given", ctx);
    if (r->hit.retry_after[0] && r->hit.kind != RCPT_FAULT_STATUS)
        return rcpt_err_set(err, RCPT_EINVAL,
                            "RCPT_FAULTS: rule \"%s\": retry_after needs status=", ctx);
    if (!has_times)
        r->times = r->nth ? 1 : 0;
    return RCPT_OK;
}

int rcpt_fault_parse(const char *spec, rcpt_fault_set **out, rcpt_err *err)
{
    *out = NULL;
    rcpt_fault_set *s = calloc(1, sizeof *s);
    char *copy = strdup(spec ? spec : "");
    if (!s || !copy) {
        free(s);
        free(copy);
        return rcpt_err_set(err, RCPT_ENOMEM, "RCPT_FAULTS: out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    int rc = RCPT_OK;
    char *save = NULL;
    for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        while (*t == ' ' || *t == '\n' || *t == '\t')
            t++;
        size_t tl = strlen(t);
        while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\n' || t[tl - 1] == '\t'))
            t[--tl] = '\0';
        if (!*t)
            continue;
        rule *nr = realloc(s->rules, (s->n + 1) * sizeof *nr);
        if (!nr) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "RCPT_FAULTS: out of memory");
            break;
        }
        s->rules = nr;
        if ((rc = parse_rule(t, &s->rules[s->n], err)))
            break;
        s->n++;
    }
    free(copy);
    if (rc) {
        rcpt_fault_free(s);
        return rc;
    }
    *out = s;
    return RCPT_OK;
}

void rcpt_fault_free(rcpt_fault_set *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->rules);
    free(s);
}

int rcpt_fault_has_layer(const rcpt_fault_set *s, rcpt_fault_layer layer)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->rules[i].layer == layer)
            return 1;
    return 0;
}

static void describe(const rcpt_fault_hit *h, rcpt_fault_layer layer, char *out, size_t cap)
{
    switch (h->kind) {
    case RCPT_FAULT_STATUS: snprintf(out, cap, "status %ld", h->status); break;
    case RCPT_FAULT_TIMEOUT: snprintf(out, cap, "timeout"); break;
    case RCPT_FAULT_REFUSED: snprintf(out, cap, "refused"); break;
    case RCPT_FAULT_SHORT: snprintf(out, cap, "short %zu", h->short_len); break;
    default:
        if (layer == RCPT_FAULT_SQLITE)
            snprintf(out, cap, "error %s", h->sqlite_code == SQ_FULL ? "full" : "ioerr");
        else
            snprintf(out, cap, "error %s", rcpt_err_name(h->code));
    }
}

/* one line per injected fault, O_APPEND so parallel processes interleave
 * whole lines; the subject is cut short (it never holds secrets: keys,
 * host/path without the query, pk/sk) */
static void log_hit(const rcpt_fault_set *s, rcpt_fault_layer layer, const char *op,
                    const char *subject, const rcpt_fault_hit *h)
{
    if (!s->log_path[0])
        return;
    int fd = open(s->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char eff[64], line[400];
    describe(h, layer, eff, sizeof eff);
    int n = snprintf(line, sizeof line, "%s %s %.200s -> %s\n", layer_name(layer), op ? op : "-",
                     subject ? subject : "-", eff);
    if (n > 0) {
        size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        if (write(fd, line, len) < 0) {
            /* best effort: a test log that cannot be written only loses a count */
        }
    }
    close(fd);
}

int rcpt_fault_check(rcpt_fault_set *s, rcpt_fault_layer layer, const char *op,
                     const char *subject, rcpt_fault_hit *hit)
{
    if (!s)
        return 0;
    int fired = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        rule *r = &s->rules[i];
        if (r->layer != layer)
            continue;
        if (r->op[0] && (!op || strcasecmp(r->op, op) != 0))
            continue;
        if (r->key[0] && (!subject || !strstr(subject, r->key)))
            continue;
        r->seen++;
        if (fired)
            continue;            /* later rules still count the call */
        /* a window of calls, nth .. nth+times-1: "the Nth call" stays the Nth
         * call even when an earlier rule took that call */
        unsigned long start = r->nth ? r->nth : 1;
        if (r->seen < start || (r->times && r->seen >= start + r->times))
            continue;
        r->fired++;
        s->injected++;
        *hit = r->hit;
        fired = 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (fired)
        log_hit(s, layer, op, subject, hit);
    return fired;
}

unsigned long rcpt_fault_injected(const rcpt_fault_set *s)
{
    return s ? s->injected : 0;
}

/* ---- the process's set ---------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static rcpt_fault_set *g_set;
static rcpt_err g_err;
static int g_rc;

static void env_once(void)
{
    const char *v = getenv("RCPT_FAULTS");
    if (!v || !*v)
        return;
    g_rc = rcpt_fault_parse(v, &g_set, &g_err);
    if (g_rc == RCPT_OK) {
        const char *lp = getenv("RCPT_FAULTS_LOG");
        if (lp)
            snprintf(g_set->log_path, sizeof g_set->log_path, "%s", lp);
    }
}

int rcpt_fault_env(rcpt_fault_set **out, rcpt_err *err)
{
    pthread_once(&g_once, env_once);
    *out = g_set;
    if (g_rc && err)
        *err = g_err;
    return g_rc;
}
