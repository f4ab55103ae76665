/* rcpt_buf: a growable byte buffer, the one way core code builds strings,
 * JSON documents and request bodies.  Appends never fail silently: after an
 * allocation failure the buffer is marked (oom) and every later append is a
 * no-op returning RCPT_ENOMEM, so a caller may append many pieces and check
 * once at the end. */
#ifndef RCPT_UTIL_BUF_H
#define RCPT_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct rcpt_buf {
    char *data;   /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    int oom;
} rcpt_buf;

#define RCPT_BUF_INIT {NULL, 0, 0, 0}

void rcpt_buf_init(rcpt_buf *b);
void rcpt_buf_free(rcpt_buf *b);
void rcpt_buf_reset(rcpt_buf *b);               /* len = 0, keeps memory */
int rcpt_buf_reserve(rcpt_buf *b, size_t extra);
int rcpt_buf_append(rcpt_buf *b, const void *p, size_t n);
int rcpt_buf_puts(rcpt_buf *b, const char *s);
int rcpt_buf_putc(rcpt_buf *b, char c);
int rcpt_buf_printf(rcpt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int rcpt_buf_vprintf(rcpt_buf *b, const char *fmt, va_list ap);
/* Append s[0..n) as a JSON string literal, quotes included.  Control
 * characters are escaped; bytes >= 0x80 are copied as they are (the caller
 * guarantees UTF-8).  NUL bytes inside s are written as \u0000. */
int rcpt_buf_json_str(rcpt_buf *b, const char *s, size_t n);
/* Hand the memory to the caller (free() it); the buffer becomes empty. */
char *rcpt_buf_detach(rcpt_buf *b, size_t *len);

#endif
