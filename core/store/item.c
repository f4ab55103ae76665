/* DynamoDB-typed attribute values, their JSON text, and a small JSON reader.
 * Attribute order is kept as inserted (and as parsed), so an item read from
 * text and written back gives the same bytes: export/import relies on it. */
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rcpt_item *rcpt_item_new(void)
{
    rcpt_item *it = calloc(1, sizeof *it);
    if (it)
        it->type = RCPT_AV_M;
    return it;
}

void rcpt_av_clear(rcpt_av *v)
{
    if (!v)
        return;
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys)
            free(v->keys[i]);
        rcpt_av_clear(&v->vals[i]);
    }
    free(v->keys);
    free(v->vals);
    memset(v, 0, sizeof *v);
}

void rcpt_item_free(rcpt_item *it)
{
    if (it) {
        rcpt_av_clear(it);
        free(it);
    }
}

int rcpt_av_copy(rcpt_av *dst, const rcpt_av *src)
{
    memset(dst, 0, sizeof *dst);
    dst->type = src->type;
    dst->b = src->b;
    dst->num = src->num;
    if (src->s) {
        dst->s = malloc(src->len + 1);
        if (!dst->s)
            return RCPT_ENOMEM;
        memcpy(dst->s, src->s, src->len + 1);
        dst->len = src->len;
    }
    if (src->n) {
        dst->vals = calloc(src->n, sizeof *dst->vals);
        if (!dst->vals)
            goto oom;
        dst->cap = src->n;
        if (src->keys) {
            dst->keys = calloc(src->n, sizeof *dst->keys);
            if (!dst->keys)
                goto oom;
        }
        for (size_t i = 0; i < src->n; i++) {
            dst->n = i + 1;
            if (src->keys && !(dst->keys[i] = strdup(src->keys[i])))
                goto oom;
            if (rcpt_av_copy(&dst->vals[i], &src->vals[i]))
                goto oom;
        }
    }
    return RCPT_OK;
oom:
    rcpt_av_clear(dst);
    return RCPT_ENOMEM;
}

static int grow(rcpt_av *v, int with_keys)
{
    if (v->n < v->cap)
        return RCPT_OK;
    size_t nc = v->cap ? v->cap * 2 : 8;
    rcpt_av *nv = realloc(v->vals, nc * sizeof *nv);
    if (!nv)
        return RCPT_ENOMEM;
    v->vals = nv;
    if (with_keys) {
        char **nk = realloc(v->keys, nc * sizeof *nk);
        if (!nk)
            return RCPT_ENOMEM;
        v->keys = nk;
    }
    v->cap = nc;
    return RCPT_OK;
}

rcpt_av *rcpt_m_set(rcpt_av *m, const char *name, int type)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], name) == 0) {
            rcpt_av_clear(&m->vals[i]);
            m->vals[i].type = type;
            return &m->vals[i];
        }
    if (grow(m, 1))
        return NULL;
    char *k = strdup(name);
    if (!k)
        return NULL;
    m->keys[m->n] = k;
    rcpt_av *v = &m->vals[m->n++];
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

int rcpt_m_remove(rcpt_av *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], name) == 0) {
            free(m->keys[i]);
            rcpt_av_clear(&m->vals[i]);
            memmove(&m->keys[i], &m->keys[i + 1], (m->n - i - 1) * sizeof *m->keys);
            memmove(&m->vals[i], &m->vals[i + 1], (m->n - i - 1) * sizeof *m->vals);
            m->n--;
            return 1;
        }
    return 0;
}

rcpt_av *rcpt_l_push(rcpt_av *l, int type)
{
    if (grow(l, 0))
        return NULL;
    rcpt_av *v = &l->vals[l->n++];
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

static int set_bytes(rcpt_av *v, const char *s, size_t len)
{
    v->s = malloc(len + 1);
    if (!v->s)
        return RCPT_ENOMEM;
    if (len)
        memcpy(v->s, s, len);
    v->s[len] = '\0';
    v->len = len;
    return RCPT_OK;
}

int rcpt_m_set_s(rcpt_av *m, const char *name, const char *s, size_t len)
{
    rcpt_av *v = rcpt_m_set(m, name, RCPT_AV_S);
    return v ? set_bytes(v, s, len) : RCPT_ENOMEM;
}

int rcpt_m_set_str(rcpt_av *m, const char *name, const char *s)
{
    return rcpt_m_set_s(m, name, s, strlen(s));
}

int rcpt_m_set_s_or_null(rcpt_av *m, const char *name, const char *s)
{
    if (!s || !*s)
        return rcpt_m_set_null(m, name);
    return rcpt_m_set_str(m, name, s);
}

int rcpt_m_set_n(rcpt_av *m, const char *name, const char *num)
{
    rcpt_av *v = rcpt_m_set(m, name, RCPT_AV_N);
    return v ? set_bytes(v, num, strlen(num)) : RCPT_ENOMEM;
}

int rcpt_m_set_int(rcpt_av *m, const char *name, long long x)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", x);
    return rcpt_m_set_n(m, name, tmp);
}

int rcpt_m_set_bool(rcpt_av *m, const char *name, int b)
{
    rcpt_av *v = rcpt_m_set(m, name, RCPT_AV_BOOL);
    if (!v)
        return RCPT_ENOMEM;
    v->b = !!b;
    return RCPT_OK;
}

int rcpt_m_set_null(rcpt_av *m, const char *name)
{
    return rcpt_m_set(m, name, RCPT_AV_NULL) ? RCPT_OK : RCPT_ENOMEM;
}

int rcpt_m_set_num(rcpt_av *m, const char *name, double x, int is_int)
{
    rcpt_av *v = rcpt_m_set(m, name, RCPT_AV_NUM);
    if (!v)
        return RCPT_ENOMEM;
    v->num = x;
    v->b = is_int;
    return RCPT_OK;
}

const rcpt_av *rcpt_m_get(const rcpt_av *m, const char *name)
{
    if (!m || m->type != RCPT_AV_M)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], name) == 0)
            return &m->vals[i];
    return NULL;
}

const char *rcpt_m_str(const rcpt_av *m, const char *name)
{
    const rcpt_av *v = rcpt_m_get(m, name);
    return v && v->type == RCPT_AV_S ? v->s : NULL;
}

int rcpt_av_equal(const rcpt_av *a, const rcpt_av *b)
{
    if (a->type == RCPT_AV_N && b->type == RCPT_AV_N)
        return a->len == b->len && memcmp(a->s, b->s, a->len) == 0 ? 1
               : strtod(a->s, NULL) == strtod(b->s, NULL);
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case RCPT_AV_S:
        return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    case RCPT_AV_BOOL:
        return a->b == b->b;
    case RCPT_AV_NULL:
        return 1;
    case RCPT_AV_NUM:
        return a->num == b->num;
    case RCPT_AV_M:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++) {
            const rcpt_av *o = rcpt_m_get(b, a->keys[i]);
            if (!o || !rcpt_av_equal(&a->vals[i], o))
                return 0;
        }
        return 1;
    default: /* L, SS: ordered */
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!rcpt_av_equal(&a->vals[i], &b->vals[i]))
                return 0;
        return 1;
    }
}

/* ---- writer --------------------------------------------------------------- */

static void write_m_body(const rcpt_av *m, rcpt_buf *b)
{
    rcpt_buf_putc(b, '{');
    for (size_t i = 0; i < m->n; i++) {
        if (i)
            rcpt_buf_putc(b, ',');
        rcpt_buf_json_str(b, m->keys[i], strlen(m->keys[i]));
        rcpt_buf_putc(b, ':');
        rcpt_av_to_json(&m->vals[i], b);
    }
    rcpt_buf_putc(b, '}');
}

int rcpt_av_to_json(const rcpt_av *v, rcpt_buf *b)
{
    switch (v->type) {
    case RCPT_AV_S:
        rcpt_buf_puts(b, "{\"S\":");
        rcpt_buf_json_str(b, v->s, v->len);
        rcpt_buf_putc(b, '}');
        break;
    case RCPT_AV_N:
        rcpt_buf_puts(b, "{\"N\":");
        rcpt_buf_json_str(b, v->s, v->len);
        rcpt_buf_putc(b, '}');
        break;
    case RCPT_AV_NUM: { /* plain values never reach the table; written as N */
        char tmp[64];
        if (v->b)
            snprintf(tmp, sizeof tmp, "%.0f", v->num);
        else
            rcpt_fmt_repr(v->num, tmp, sizeof tmp);
        rcpt_buf_puts(b, "{\"N\":\"");
        rcpt_buf_puts(b, tmp);
        rcpt_buf_puts(b, "\"}");
        break;
    }
    case RCPT_AV_BOOL:
        rcpt_buf_puts(b, v->b ? "{\"BOOL\":true}" : "{\"BOOL\":false}");
        break;
    case RCPT_AV_NULL:
        rcpt_buf_puts(b, "{\"NULL\":true}");
        break;
    case RCPT_AV_M:
        rcpt_buf_puts(b, "{\"M\":");
        write_m_body(v, b);
        rcpt_buf_putc(b, '}');
        break;
    case RCPT_AV_L:
    case RCPT_AV_SS:
        rcpt_buf_puts(b, v->type == RCPT_AV_L ? "{\"L\":[" : "{\"SS\":[");
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                rcpt_buf_putc(b, ',');
            if (v->type == RCPT_AV_SS)
                rcpt_buf_json_str(b, v->vals[i].s, v->vals[i].len);
            else
                rcpt_av_to_json(&v->vals[i], b);
        }
        rcpt_buf_puts(b, "]}");
        break;
    default:
        return RCPT_EINVAL;
    }
    return b->oom ? RCPT_ENOMEM : RCPT_OK;
}

int rcpt_item_to_json(const rcpt_item *it, rcpt_buf *b)
{
    write_m_body(it, b);
    return b->oom ? RCPT_ENOMEM : RCPT_OK;
}

/* ---- reader --------------------------------------------------------------- */

/* A generic JSON tree first (plain values: S, NUM, BOOL, NULL, M, L), then a
 * typed pass for DynamoDB JSON.  Depth is bounded so hostile input cannot
 * exhaust the C stack. */
typedef struct jp {
    const char *p, *end, *start;
    rcpt_err *err;
    int depth;
} jp;

#define JP_MAX_DEPTH 64

static int jp_fail(jp *j, const char *what)
{
    return rcpt_err_set(j->err, RCPT_EINVAL, "JSON: %s at byte %ld", what, (long)(j->p - j->start));
}

static void jp_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static int jp_string(jp *j, rcpt_buf *out)
{
    if (j->p >= j->end || *j->p != '"')
        return jp_fail(j, "expected a string");
    j->p++;
    rcpt_buf_reset(out);
    for (;;) {
        const char *s = j->p;
        while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20)
            j->p++;
        rcpt_buf_append(out, s, (size_t)(j->p - s));
        if (j->p >= j->end)
            return jp_fail(j, "unterminated string");
        char c = *j->p++;
        if (c == '"')
            break;
        if (c != '\\')
            return jp_fail(j, "control character in string");
        if (j->p >= j->end)
            return jp_fail(j, "unterminated string");
        c = *j->p++;
        switch (c) {
        case '"': rcpt_buf_putc(out, '"'); break;
        case '\\': rcpt_buf_putc(out, '\\'); break;
        case '/': rcpt_buf_putc(out, '/'); break;
        case 'b': rcpt_buf_putc(out, '\b'); break;
        case 'f': rcpt_buf_putc(out, '\f'); break;
        case 'n': rcpt_buf_putc(out, '\n'); break;
        case 'r': rcpt_buf_putc(out, '\r'); break;
        case 't': rcpt_buf_putc(out, '\t'); break;
        case 'u': {
            unsigned cp;
            if (j->end - j->p < 4 || !hex4(j->p, &cp))
                return jp_fail(j, "bad \\u escape");
            j->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !hex4(j->p + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return jp_fail(j, "unpaired surrogate");
                j->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                return jp_fail(j, "unpaired surrogate");
            }
            char u[4];
            size_t n;
            if (cp < 0x80) { u[0] = (char)cp; n = 1; }
            else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
            else if (cp < 0x10000) { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
            else { u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
            rcpt_buf_append(out, u, n);
            break;
        }
        default:
            return jp_fail(j, "bad escape");
        }
    }
    rcpt_buf_putc(out, '\0');
    out->len--;
    return out->oom ? RCPT_ENOMEM : RCPT_OK;
}

static int jp_value(jp *j, rcpt_av *v, rcpt_buf *tmp);

static int jp_value(jp *j, rcpt_av *v, rcpt_buf *tmp)
{
    jp_ws(j);
    if (j->p >= j->end)
        return jp_fail(j, "unexpected end");
    char c = *j->p;
    int rc;
    if (c == '{' || c == '[') {
        if (++j->depth > JP_MAX_DEPTH)
            return jp_fail(j, "nested too deeply");
        int obj = c == '{';
        v->type = obj ? RCPT_AV_M : RCPT_AV_L;
        j->p++;
        jp_ws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            j->depth--;
            return RCPT_OK;
        }
        for (;;) {
            rcpt_av *slot;
            jp_ws(j);
            if (obj) {
                if ((rc = jp_string(j, tmp)))
                    return rc;
                if (memchr(tmp->data, '\0', tmp->len))
                    return jp_fail(j, "NUL in a key");
                slot = rcpt_m_set(v, tmp->data, RCPT_AV_NULL);
                jp_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return jp_fail(j, "expected ':'");
                j->p++;
            } else {
                slot = rcpt_l_push(v, RCPT_AV_NULL);
            }
            if (!slot)
                return rcpt_err_set(j->err, RCPT_ENOMEM, "out of memory");
            if ((rc = jp_value(j, slot, tmp)))
                return rc;
            jp_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
                j->p++;
                break;
            }
            return jp_fail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        j->depth--;
        return RCPT_OK;
    }
    if (c == '"') {
        if ((rc = jp_string(j, tmp)))
            return rc;
        v->type = RCPT_AV_S;
        return set_bytes(v, tmp->data ? tmp->data : "", tmp->len);
    }
    if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
        j->p += 4; v->type = RCPT_AV_BOOL; v->b = 1; return RCPT_OK;
    }
    if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
        j->p += 5; v->type = RCPT_AV_BOOL; v->b = 0; return RCPT_OK;
    }
    if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4; v->type = RCPT_AV_NULL; return RCPT_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const char *s = j->p;
        int is_int = 1;
        while (j->p < j->end && (strchr("0123456789+-", *j->p) || *j->p == '.' || *j->p == 'e' || *j->p == 'E')) {
            if (*j->p == '.' || *j->p == 'e' || *j->p == 'E')
                is_int = 0;
            j->p++;
        }
        char num[64];
        size_t n = (size_t)(j->p - s);
        if (n >= sizeof num)
            return jp_fail(j, "number too long");
        memcpy(num, s, n);
        num[n] = '\0';
        char *endp;
        errno = 0;
        double d = strtod(num, &endp);
        if (*endp || !isfinite(d))
            return jp_fail(j, "bad number");
        v->type = RCPT_AV_NUM;
        v->num = d;
        v->b = is_int;
        /* keep the text so typed N values can reuse it */
        return set_bytes(v, num, n);
    }
    return jp_fail(j, "unexpected character");
}

static int parse_tree(const char *json, size_t len, rcpt_av *root, rcpt_err *err)
{
    jp j = {json, json + len, json, err, 0};
    rcpt_buf tmp = RCPT_BUF_INIT;
    memset(root, 0, sizeof *root);
    int rc = jp_value(&j, root, &tmp);
    if (!rc) {
        jp_ws(&j);
        if (j.p != j.end)
            rc = rcpt_err_set(err, RCPT_EINVAL, "JSON: trailing characters after the value");
    }
    rcpt_buf_free(&tmp);
    if (rc)
        rcpt_av_clear(root);
    return rc;
}

int rcpt_plain_from_json(const char *json, size_t len, rcpt_av **out, rcpt_err *err)
{
    rcpt_av *v = calloc(1, sizeof *v);
    if (!v)
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    int rc = parse_tree(json, len, v, err);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    return RCPT_OK;
}

/* plain tree of {"S":..}/{"N":..}/... -> typed value, in place */
static int typed(rcpt_av *v, const char *path, rcpt_err *err)
{
    if (v->type != RCPT_AV_M || v->n != 1)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: must be an object with one type key", path);
    char *t = v->keys[0];
    rcpt_av inner = v->vals[0];
    free(v->keys);
    free(v->vals);
    memset(v, 0, sizeof *v);
    int rc = RCPT_OK;
    char sub[256];
    if (strcmp(t, "S") == 0 || strcmp(t, "N") == 0) {
        int isn = t[0] == 'N';
        if (inner.type != RCPT_AV_S) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s.%s: must be a string", path, t);
        } else {
            *v = inner;
            v->type = isn ? RCPT_AV_N : RCPT_AV_S;
            if (isn) {
                char *e;
                strtod(v->s, &e);
                if (!v->len || *e)
                    rc = rcpt_err_set(err, RCPT_EINVAL, "%s.N: not a number", path);
            }
            free(t);
            return rc;
        }
    } else if (strcmp(t, "BOOL") == 0) {
        if (inner.type != RCPT_AV_BOOL)
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s.BOOL: must be true or false", path);
        else
            v->type = RCPT_AV_BOOL, v->b = inner.b;
    } else if (strcmp(t, "NULL") == 0) {
        if (inner.type != RCPT_AV_BOOL || !inner.b)
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s.NULL: must be true", path);
        else
            v->type = RCPT_AV_NULL;
    } else if (strcmp(t, "M") == 0) {
        if (inner.type != RCPT_AV_M) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s.M: must be an object", path);
        } else {
            for (size_t i = 0; i < inner.n && !rc; i++) {
                snprintf(sub, sizeof sub, "%s.%s", path, inner.keys[i]);
                rc = typed(&inner.vals[i], sub, err);
            }
            if (!rc) {
                *v = inner;
                free(t);
                return rc;
            }
        }
    } else if (strcmp(t, "L") == 0) {
        if (inner.type != RCPT_AV_L) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s.L: must be an array", path);
        } else {
            for (size_t i = 0; i < inner.n && !rc; i++) {
                snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                rc = typed(&inner.vals[i], sub, err);
            }
            if (!rc) {
                *v = inner;
                free(t);
                return rc;
            }
        }
    } else if (strcmp(t, "SS") == 0) {
        if (inner.type != RCPT_AV_L) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "%s.SS: must be an array of strings", path);
        } else {
            for (size_t i = 0; i < inner.n && !rc; i++)
                if (inner.vals[i].type != RCPT_AV_S)
                    rc = rcpt_err_set(err, RCPT_EINVAL, "%s.SS[%zu]: must be a string", path, i);
            if (!rc) {
                *v = inner;
                v->type = RCPT_AV_SS;
                free(t);
                return rc;
            }
        }
    } else {
        rc = rcpt_err_set(err, RCPT_EINVAL, "%s: unsupported type '%s'", path, t);
    }
    free(t);
    rcpt_av_clear(&inner);
    if (rc)
        v->type = RCPT_AV_NULL;
    return rc;
}

int rcpt_item_type_plain(rcpt_item *it, rcpt_err *err)
{
    if (it->type != RCPT_AV_M)
        return rcpt_err_set(err, RCPT_EINVAL, "item: must be a JSON object");
    for (size_t i = 0; i < it->n; i++) {
        int rc = typed(&it->vals[i], it->keys[i], err);
        if (rc)
            return rc;
    }
    return RCPT_OK;
}

int rcpt_item_from_json(const char *json, size_t len, rcpt_item **out, rcpt_err *err)
{
    rcpt_item *it = calloc(1, sizeof *it);
    if (!it)
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    int rc = parse_tree(json, len, it, err);
    if (!rc && it->type != RCPT_AV_M)
        rc = rcpt_err_set(err, RCPT_EINVAL, "item: must be a JSON object");
    for (size_t i = 0; !rc && i < it->n; i++)
        rc = typed(&it->vals[i], it->keys[i], err);
    if (rc) {
        rcpt_item_free(it);
        return rc;
    }
    *out = it;
    return RCPT_OK;
}
