/* Flat JSON objects of scalars: the metadata column of the files and the
 * manifest.  A small strict reader (RFC 8259 syntax; nested values refused)
 * and the matching writer. */
#include "vec_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
    const char *s, *end, *beg;
    const char *what;
    rcpt_err *err;
} jp;

static void skip_ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int fail(jp *p, const char *msg)
{
    return rcpt_err_set(p->err, RCPT_EINVAL, "%s: invalid JSON at byte %ld: %s", p->what,
                        (long)(p->s - p->beg), msg);
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = s[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') v |= (unsigned)(ch - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Decode a string at p->s (on the quote) into *o (advanced); a decoded string
 * is never longer than its source, so the output buffer can be sized by the
 * input.  The result is NUL-terminated (the closing quote's room). */
static int parse_str(jp *p, char **o, const char **start, size_t *len)
{
    char *w = *o;
    *start = w;
    p->s++;
    for (;;) {
        if (p->s >= p->end)
            return fail(p, "unterminated string");
        unsigned char ch = (unsigned char)*p->s;
        if (ch == '"') {
            p->s++;
            break;
        }
        if (ch < 0x20)
            return fail(p, "control character in string");
        if (ch != '\\') {
            *w++ = (char)ch;
            p->s++;
            continue;
        }
        if (p->end - p->s < 2)
            return fail(p, "bad escape");
        char e = p->s[1];
        p->s += 2;
        switch (e) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (p->end - p->s < 4 || hex4(p->s, &cp))
                return fail(p, "bad \\u escape");
            p->s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && p->end - p->s >= 6 && p->s[0] == '\\' &&
                p->s[1] == 'u' && hex4(p->s + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p->s += 6;
            }
            /* a lone surrogate is kept as its 3-byte form (WTF-8) rather than lost */
            w = put_utf8(w, cp);
            break;
        }
        default:
            return fail(p, "bad escape");
        }
    }
    *len = (size_t)(w - *start);
    *w++ = '\0';
    *o = w;
    return RCPT_OK;
}

static int parse_num(jp *p, rcpt_vec_val *v)
{
    const char *s = p->s, *q = s;
    int is_int = 1;
    if (q < p->end && *q == '-')
        q++;
    if (q >= p->end || !(*q >= '0' && *q <= '9'))
        return fail(p, "bad number");
    if (*q == '0')
        q++;
    else
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    if (q < p->end && *q == '.') {
        is_int = 0;
        q++;
        if (q >= p->end || !(*q >= '0' && *q <= '9'))
            return fail(p, "bad number");
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < p->end && (*q == 'e' || *q == 'E')) {
        is_int = 0;
        q++;
        if (q < p->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= p->end || !(*q >= '0' && *q <= '9'))
            return fail(p, "bad number");
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    char tmp[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof tmp)
        return fail(p, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    p->s = q;
    if (is_int) {
        errno = 0;
        long long ll = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            v->type = RCPT_VEC_INT;
            v->i = ll;
            return RCPT_OK;
        }
    }
    double d = strtod(tmp, NULL);
    if (!isfinite(d))
        return fail(p, "number out of range");
    v->type = RCPT_VEC_NUM;
    v->num = d;
    return RCPT_OK;
}

static int lit(jp *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
        return 0;
    p->s += n;
    return 1;
}

int rcpt_vec_json_parse(const char *json, size_t len, const char *what, rcpt_vec_kv **out,
                        size_t *nout, rcpt_err *err)
{
    *out = NULL;
    *nout = 0;
    jp p = {json, json + len, json, what ? what : "JSON", err};
    char *strs = malloc(len + 1);
    rcpt_vec_kv *kv = NULL;
    size_t n = 0, cap = 0;
    int rc = RCPT_OK;
    if (!strs)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", p.what);
    char *w = strs;
    skip_ws(&p);
    if (p.s >= p.end || *p.s != '{') {
        rc = fail(&p, "expected an object");
        goto out;
    }
    p.s++;
    skip_ws(&p);
    if (p.s < p.end && *p.s == '}') {
        p.s++;
    } else {
        for (;;) {
            skip_ws(&p);
            if (p.s >= p.end || *p.s != '"') {
                rc = fail(&p, "expected a key");
                goto out;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                rcpt_vec_kv *k2 = realloc(kv, cap * sizeof *k2);
                if (!k2) {
                    rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", p.what);
                    goto out;
                }
                kv = k2;
            }
            rcpt_vec_kv *e = &kv[n];
            memset(e, 0, sizeof *e);
            const char *key;
            size_t klen;
            if ((rc = parse_str(&p, &w, &key, &klen)))
                goto out;
            if (klen == 0 || memchr(key, 0, klen)) {
                rc = rcpt_err_set(err, RCPT_EINVAL, "%s: key %zu: must be a non-empty string "
                                  "without NUL", p.what, n + 1);
                goto out;
            }
            e->key = key;
            for (size_t j = 0; j < n; j++)
                if (strcmp(kv[j].key, key) == 0) {
                    rc = rcpt_err_set(err, RCPT_EINVAL, "%s: %s: key given twice", p.what, key);
                    goto out;
                }
            skip_ws(&p);
            if (p.s >= p.end || *p.s != ':') {
                rc = fail(&p, "expected ':'");
                goto out;
            }
            p.s++;
            skip_ws(&p);
            if (p.s >= p.end) {
                rc = fail(&p, "expected a value");
                goto out;
            }
            char ch = *p.s;
            if (ch == '"') {
                e->val.type = RCPT_VEC_STR;
                if ((rc = parse_str(&p, &w, &e->val.str, &e->val.len)))
                    goto out;
            } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
                if ((rc = parse_num(&p, &e->val)))
                    goto out;
            } else if (lit(&p, "true")) {
                e->val.type = RCPT_VEC_BOOL;
                e->val.b = 1;
            } else if (lit(&p, "false")) {
                e->val.type = RCPT_VEC_BOOL;
            } else if (lit(&p, "null")) {
                e->val.type = RCPT_VEC_NULL;
            } else if (ch == '{' || ch == '[') {
                rc = rcpt_err_set(err, RCPT_EINVAL, "%s: %s: nested objects and arrays are not "
                                  "supported (values are strings, numbers, booleans or null)",
                                  p.what, key);
                goto out;
            } else {
                rc = fail(&p, "bad value");
                goto out;
            }
            n++;
            skip_ws(&p);
            if (p.s < p.end && *p.s == ',') {
                p.s++;
                continue;
            }
            if (p.s < p.end && *p.s == '}') {
                p.s++;
                break;
            }
            rc = fail(&p, "expected ',' or '}'");
            goto out;
        }
    }
    skip_ws(&p);
    if (p.s != p.end) {
        rc = fail(&p, "trailing characters");
        goto out;
    }
    /* one block: entries, then the strings they point to */
    size_t used = (size_t)(w - strs);
    rcpt_vec_kv *res = malloc(n * sizeof *res + used + 1);
    if (!res) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", p.what);
        goto out;
    }
    char *base = (char *)(res + n);
    memcpy(base, strs, used);
    for (size_t j = 0; j < n; j++) {
        res[j] = kv[j];
        res[j].key = base + (kv[j].key - strs);
        if (kv[j].val.type == RCPT_VEC_STR)
            res[j].val.str = base + (kv[j].val.str - strs);
    }
    *out = res;
    *nout = n;
out:
    free(kv);
    free(strs);
    return rc;
}

void rcpt_vec_kv_free(rcpt_vec_kv *kv) { free(kv); }

int vec_json_write_kv(rcpt_buf *out, const rcpt_vec_kv *kv)
{
    rcpt_buf_json_str(out, kv->key, strlen(kv->key));
    rcpt_buf_putc(out, ':');
    const rcpt_vec_val *v = &kv->val;
    switch (v->type) {
    case RCPT_VEC_BOOL: return rcpt_buf_puts(out, v->b ? "true" : "false");
    case RCPT_VEC_INT: return rcpt_buf_printf(out, "%" PRId64, v->i);
    case RCPT_VEC_NUM: {
        /* shortest form that reads back to the same double, and always with
         * a '.' or exponent so it reads back as a double, not an integer */
        char tmp[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v->num);
            if (strtod(tmp, NULL) == v->num)
                break;
        }
        if (!strpbrk(tmp, ".eEn"))
            strcat(tmp, ".0");
        return rcpt_buf_puts(out, tmp);
    }
    case RCPT_VEC_STR: return rcpt_buf_json_str(out, v->str ? v->str : "", v->len);
    default: return rcpt_buf_puts(out, "null");
    }
}

int rcpt_vec_json_write(rcpt_buf *out, const rcpt_vec_kv *kv, size_t n)
{
    rcpt_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            rcpt_buf_putc(out, ',');
        vec_json_write_kv(out, &kv[i]);
    }
    return rcpt_buf_putc(out, '}');
}
