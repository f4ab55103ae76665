/* rcpt_xml: see xml.h.  A hand-written pull reader: S3 documents are small
 * and regular, and pulling one event at a time keeps the callers (list,
 * error, multipart parsers) simple state machines over x.path. */
#include "net/xml.h"

#include <stdlib.h>
#include <string.h>

void rcpt_xml_init(rcpt_xml *x, const char *doc, size_t len)
{
    memset(x, 0, sizeof *x);
    x->p = doc;
    x->end = doc + len;
    rcpt_buf_init(&x->text);
    /* XML has no NUL character (not even as &#0;), and the events hand text
     * and names to C-string callers: a raw NUL would cut a key or a
     * continuation token short, so such a document is refused whole
     * (found by tests/fuzz/fuzz_s3xml) */
    if (len && memchr(doc, '\0', len)) {
        x->err = "NUL byte in the document";
        x->p = x->end;
    }
}

void rcpt_xml_free(rcpt_xml *x) { rcpt_buf_free(&x->text); }

static int put_utf8(rcpt_buf *out, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return rcpt_buf_append(out, b, n) == 0 ? 0 : -1;
}

int rcpt_xml_unescape(rcpt_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
        rcpt_buf_append(out, s + i, run);
        i += run;
        if (!amp)
            break;
        const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
        if (!semi)
            return -1;
        const char *e = s + i + 1;
        size_t el = (size_t)(semi - e);
        if (el == 3 && memcmp(e, "amp", 3) == 0) rcpt_buf_putc(out, '&');
        else if (el == 2 && memcmp(e, "lt", 2) == 0) rcpt_buf_putc(out, '<');
        else if (el == 2 && memcmp(e, "gt", 2) == 0) rcpt_buf_putc(out, '>');
        else if (el == 4 && memcmp(e, "quot", 4) == 0) rcpt_buf_putc(out, '"');
        else if (el == 4 && memcmp(e, "apos", 4) == 0) rcpt_buf_putc(out, '\'');
        else if (el >= 2 && e[0] == '#') {
            int hex = e[1] == 'x' || e[1] == 'X';
            size_t d0 = hex ? 2 : 1;
            if (d0 >= el)
                return -1;
            unsigned long cp = 0;
            for (size_t k = d0; k < el; k++) {
                char c = e[k];
                int v = (c >= '0' && c <= '9') ? c - '0'
                      : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
                      : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
                if (v < 0)
                    return -1;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
                if (cp > 0x10FFFF)
                    return -1;
            }
            if (put_utf8(out, cp) != 0)
                return -1;
        } else
            return -1;
        i = (size_t)(semi - s) + 1;
    }
    return out->oom ? -1 : 0;
}

int rcpt_xml_escape(rcpt_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': rcpt_buf_puts(out, "&amp;"); break;
        case '<': rcpt_buf_puts(out, "&lt;"); break;
        case '>': rcpt_buf_puts(out, "&gt;"); break;
        case '"': rcpt_buf_puts(out, "&quot;"); break;
        case '\'': rcpt_buf_puts(out, "&apos;"); break;
        default: rcpt_buf_putc(out, s[i]);
        }
    }
    return out->oom ? -1 : 0;
}

static int fail(rcpt_xml *x, const char *why)
{
    x->err = why;
    x->p = x->end;
    return RCPT_XML_ERROR;
}

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t nl = strlen(needle);
    while ((size_t)(end - p) >= nl) {
        const char *q = memchr(p, needle[0], (size_t)(end - p) - nl + 1);
        if (!q)
            return NULL;
        if (memcmp(q, needle, nl) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

static int name_char(unsigned char c)
{
    return c > ' ' && c != '>' && c != '/' && c != '=' && c != '<' && c != '"' && c != '\'';
}

static const char *cur_name(const rcpt_xml *x)
{
    size_t o = x->off[x->depth - 1];
    return x->path + o + (x->depth > 1 ? 1 : 0);
}

int rcpt_xml_next(rcpt_xml *x)
{
    if (x->err)
        return RCPT_XML_ERROR;
    if (x->pending_pop) {
        x->pending_pop = 0;
        x->depth--;
        x->path[x->off[x->depth]] = '\0';
        if (x->depth == 0)
            x->root_done = 1;
    }
    if (x->self_close) {
        /* <a/>: START was reported, now its CLOSE */
        x->self_close = 0;
        x->name = cur_name(x);
        x->pending_pop = 1;
        return RCPT_XML_CLOSE;
    }
    for (;;) {
        if (x->p >= x->end) {
            if (x->depth > 0)
                return fail(x, "unexpected end of document inside an element");
            if (!x->root_done)
                return fail(x, "no root element");
            return RCPT_XML_END;
        }
        if (*x->p != '<') {
            const char *lt = memchr(x->p, '<', (size_t)(x->end - x->p));
            const char *e = lt ? lt : x->end;
            if (x->depth == 0) {
                for (const char *q = x->p; q < e; q++)
                    if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
                        return fail(x, "text outside the root element");
                x->p = e;
                continue;
            }
            rcpt_buf_reset(&x->text);
            if (rcpt_xml_unescape(&x->text, x->p, (size_t)(e - x->p)) != 0)
                return fail(x, "bad entity reference");
            rcpt_buf_putc(&x->text, 0);
            if (x->text.oom)
                return fail(x, "out of memory");
            x->text_len = x->text.len - 1;
            x->p = e;
            return RCPT_XML_TEXT;
        }
        const char *p = x->p;
        size_t left = (size_t)(x->end - p);
        if (left >= 4 && memcmp(p, "<!--", 4) == 0) {
            const char *e = find(p + 4, x->end, "-->");
            if (!e)
                return fail(x, "unterminated comment");
            x->p = e + 3;
            continue;
        }
        if (left >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            const char *e = find(p + 9, x->end, "]]>");
            if (!e)
                return fail(x, "unterminated CDATA");
            if (x->depth == 0)
                return fail(x, "CDATA outside the root element");
            rcpt_buf_reset(&x->text);
            rcpt_buf_append(&x->text, p + 9, (size_t)(e - (p + 9)));
            rcpt_buf_putc(&x->text, 0);
            if (x->text.oom)
                return fail(x, "out of memory");
            x->text_len = x->text.len - 1;
            x->p = e + 3;
            return RCPT_XML_TEXT;
        }
        if (left >= 2 && (p[1] == '?' || p[1] == '!')) {
            const char *e = memchr(p, '>', left);
            if (!e)
                return fail(x, "unterminated declaration");
            x->p = e + 1;
            continue;
        }
        if (left >= 2 && p[1] == '/') {
            const char *n = p + 2, *q = n;
            while (q < x->end && name_char((unsigned char)*q))
                q++;
            size_t nl = (size_t)(q - n);
            while (q < x->end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
                q++;
            if (q >= x->end || *q != '>')
                return fail(x, "malformed closing tag");
            if (x->depth == 0)
                return fail(x, "closing tag without an open element");
            const char *cur = cur_name(x);
            if (strlen(cur) != nl || memcmp(cur, n, nl) != 0)
                return fail(x, "mismatched closing tag");
            x->p = q + 1;
            x->name = cur;
            x->pending_pop = 1;
            return RCPT_XML_CLOSE;
        }
        /* a start tag; attributes are skipped, honouring quotes */
        const char *n = p + 1, *q = n;
        while (q < x->end && name_char((unsigned char)*q))
            q++;
        size_t nl = (size_t)(q - n);
        if (nl == 0)
            return fail(x, "malformed start tag");
        if (x->depth == 0 && x->root_done)
            return fail(x, "more than one root element");
        char quote = 0;
        while (q < x->end && (quote || *q != '>')) {
            if (quote && *q == quote)
                quote = 0;
            else if (!quote && (*q == '"' || *q == '\''))
                quote = *q;
            q++;
        }
        if (q >= x->end)
            return fail(x, "unterminated start tag");
        int self = q[-1] == '/';
        if (x->depth >= RCPT_XML_MAX_DEPTH)
            return fail(x, "elements nested too deep");
        size_t o = x->off[x->depth];
        size_t sep = x->depth ? 1 : 0;
        if (o + sep + nl + 1 > sizeof x->path)
            return fail(x, "element path too long");
        if (sep)
            x->path[o] = '/';
        memcpy(x->path + o + sep, n, nl);
        x->path[o + sep + nl] = '\0';
        x->depth++;
        x->off[x->depth] = o + sep + nl;
        x->name = x->path + o + sep;
        x->p = q + 1;
        x->self_close = self;
        return RCPT_XML_START;
    }
}
