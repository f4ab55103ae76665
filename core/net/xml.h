/* rcpt_xml: the smallest XML reader that S3 needs (ListObjectsV2, multipart
 * and error documents).  It reads elements, text, CDATA, the five named
 * entities and numeric character references; it skips the XML declaration,
 * processing instructions, comments and attributes.  No DTD, no namespaces
 * (a prefix stays part of the name).  Input is not trusted: malformed input
 * is an error, never a crash (this is a fuzz target of issue 7).
 *
 * Use: rcpt_xml_init(&x, doc, len), then rcpt_xml_next() until it returns
 * RCPT_XML_END (or RCPT_XML_ERROR, x.err says why).  Each START / TEXT /
 * CLOSE event fills x.name (START/CLOSE, NUL-terminated) or x.text (TEXT,
 * entities decoded, x.text_len bytes, NUL-terminated).  x.depth is the depth
 * of the current element (1 = root) and x.path its names joined with '/'. */
#ifndef RCPT_NET_XML_H
#define RCPT_NET_XML_H

#include <stddef.h>

#include "util/buf.h"

enum { RCPT_XML_ERROR = -1, RCPT_XML_END = 0, RCPT_XML_START, RCPT_XML_TEXT, RCPT_XML_CLOSE };

#define RCPT_XML_MAX_DEPTH 32

typedef struct rcpt_xml {
    const char *p, *end;
    int depth;
    char path[512];               /* "ListBucketResult/Contents/Key" */
    size_t off[RCPT_XML_MAX_DEPTH + 1];  /* length of path at each depth */
    const char *name;             /* START / CLOSE: last path component */
    rcpt_buf text;                /* TEXT */
    size_t text_len;
    int self_close;               /* <a/>: the next event is its CLOSE */
    int pending_pop;              /* after a CLOSE, shorten the path */
    int root_done;
    const char *err;
} rcpt_xml;

void rcpt_xml_init(rcpt_xml *x, const char *doc, size_t len);
void rcpt_xml_free(rcpt_xml *x);
int rcpt_xml_next(rcpt_xml *x);

/* Decode entities of s[0..n) into out (appended). 0 on success, -1 on a bad
 * reference. */
int rcpt_xml_unescape(rcpt_buf *out, const char *s, size_t n);
/* Append s with & < > " ' escaped. */
int rcpt_xml_escape(rcpt_buf *out, const char *s, size_t n);

#endif
