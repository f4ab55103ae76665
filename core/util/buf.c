#include "buf.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rcpt_buf_init(rcpt_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void rcpt_buf_free(rcpt_buf *b)
{
    free(b->data);
    rcpt_buf_init(b);
}

void rcpt_buf_reset(rcpt_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int rcpt_buf_reserve(rcpt_buf *b, size_t extra)
{
    if (b->oom)
        return RCPT_ENOMEM;
    if (b->len + extra + 1 <= b->cap)
        return RCPT_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = 1;
            return RCPT_ENOMEM;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return RCPT_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return RCPT_OK;
}

int rcpt_buf_append(rcpt_buf *b, const void *p, size_t n)
{
    if (rcpt_buf_reserve(b, n))
        return RCPT_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RCPT_OK;
}

int rcpt_buf_puts(rcpt_buf *b, const char *s)
{
    return rcpt_buf_append(b, s, strlen(s));
}

int rcpt_buf_putc(rcpt_buf *b, char c)
{
    return rcpt_buf_append(b, &c, 1);
}

int rcpt_buf_vprintf(rcpt_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || rcpt_buf_reserve(b, (size_t)n))
        return RCPT_ENOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return RCPT_OK;
}

int rcpt_buf_printf(rcpt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rcpt_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int rcpt_buf_json_str(rcpt_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (rcpt_buf_reserve(b, n + 2))
        return RCPT_ENOMEM;
    b->data[b->len++] = '"';
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rcpt_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            len = 6;
        }
        rcpt_buf_append(b, esc, len);
    }
    rcpt_buf_append(b, s + run, n - run);
    return rcpt_buf_putc(b, '"');
}

char *rcpt_buf_detach(rcpt_buf *b, size_t *len)
{
    if (b->oom) {
        rcpt_buf_free(b);
        return NULL;
    }
    if (!b->data && rcpt_buf_reserve(b, 0))
        return NULL;
    char *p = b->data;
    if (len)
        *len = b->len;
    p[b->len] = '\0';
    rcpt_buf_init(b);
    return p;
}
