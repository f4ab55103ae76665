/* rcpt_json: a DOM JSON parser (RFC 8259) that parses a whole document into
 * one arena owned by a rcpt_json_doc.
 *
 * Used by the OCR parser and by every response parser (DynamoDB, Places,
 * embeddings, S3) and fuzz target, so it is strict and general:
 *   - numbers are correctly rounded, bit-identical to Python's float() (the
 *     store formats them back with a shortest-repr formatter, so an error of
 *     one ulp would change the stored string).  NaN, Infinity and numbers
 *     that overflow a double (1e400) are errors; underflow gives 0 like
 *     Python.  A number node says whether its token was an integer (no
 *     fraction, no exponent) and, when that integer fits, its exact int64.
 *   - strings are validated UTF-8, escapes decoded; they may contain NUL
 *     (\u0000) so every string carries its length (and is NUL-terminated
 *     as a convenience).  Lone surrogate escapes are errors.
 *   - objects keep their members in document order; a duplicated key keeps
 *     the position of its first occurrence and the value of its last one,
 *     as Python's json does, so iteration never sees a key twice.
 *   - a leading UTF-8 byte order mark is skipped (RFC 8259 §8.1 allows it).
 *   - nesting deeper than max_depth (default 512) is refused.
 * Errors name the byte offset: "JSON: byte 1234: expected ',' or '}'".
 * No global state: all memory hangs off the document. */
#ifndef RCPT_JSON_H
#define RCPT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "../util/err.h"

typedef enum rcpt_json_type {
    RCPT_JSON_NULL = 0,
    RCPT_JSON_BOOL,
    RCPT_JSON_NUMBER,
    RCPT_JSON_STRING,
    RCPT_JSON_ARRAY,
    RCPT_JSON_OBJECT
} rcpt_json_type;

/* number flags */
#define RCPT_JSON_F_INT 1u   /* the token had no fraction and no exponent */
#define RCPT_JSON_F_I64 2u   /* ... and fits an int64: u.num.i is exact */

typedef struct rcpt_json rcpt_json;
typedef struct rcpt_json_member rcpt_json_member;

struct rcpt_json {
    uint8_t type;    /* rcpt_json_type */
    uint8_t flags;   /* RCPT_JSON_F_* for numbers */
    uint8_t b;       /* the value of a bool */
    union {
        struct { double d; int64_t i; } num;
        struct { const char *s; size_t len; } str;        /* NUL-terminated too */
        struct { rcpt_json *items; size_t n; } arr;
        struct { rcpt_json_member *members; size_t n; } obj;
    } u;
};

struct rcpt_json_member {
    rcpt_json key;   /* always a string node */
    rcpt_json value;
};

typedef struct rcpt_json_opts {
    size_t max_depth;   /* 0 = default 512 */
    size_t max_size;    /* refuse longer input (RCPT_ELIMIT); 0 = no limit */
} rcpt_json_opts;

typedef struct rcpt_json_doc rcpt_json_doc;

/* Parse text[0..len).  opts may be NULL.  On failure *out is NULL, the code
 * is RCPT_EINVAL (malformed), RCPT_ELIMIT (size/depth) or RCPT_ENOMEM, and
 * err_offset (may be NULL) receives the byte offset of the problem. */
int rcpt_json_parse(const char *text, size_t len, const rcpt_json_opts *opts,
                    rcpt_json_doc **out, rcpt_err *err, size_t *err_offset);
void rcpt_json_free(rcpt_json_doc *doc);
/* Free the nodes but keep the decoded text: every string pointer taken from
 * the document stays valid and points into the returned buffer, which the
 * caller free()s.  For consumers (the OCR parser) that copy the structure
 * out but keep the strings.  NULL if doc is NULL. */
char *rcpt_json_release(rcpt_json_doc *doc);
const rcpt_json *rcpt_json_root(const rcpt_json_doc *doc);
/* Bytes held by the document (input copy + nodes), for limits and benches. */
size_t rcpt_json_mem(const rcpt_json_doc *doc);

/* Lookup of a key in an object (NULL if v is not an object or the key is
 * absent).  Linear in the number of members: objects in our formats are
 * small; callers with large maps iterate instead. */
const rcpt_json *rcpt_json_get(const rcpt_json *v, const char *key);
const rcpt_json *rcpt_json_getn(const rcpt_json *v, const char *key, size_t key_len);

/* Number of items (array) or members (object); 0 for other types. */
size_t rcpt_json_len(const rcpt_json *v);
/* i-th item of an array, NULL when out of range or not an array. */
const rcpt_json *rcpt_json_at(const rcpt_json *v, size_t i);
/* i-th member of an object in document order, NULL when out of range. */
const rcpt_json_member *rcpt_json_member_at(const rcpt_json *v, size_t i);

/* "null", "bool", "number", "string", "array", "object" */
const char *rcpt_json_type_name(int type);

/* Correctly rounded decimal -> double of one JSON number token (the same
 * routine the parser uses); returns RCPT_EINVAL if s[0..len) is not exactly
 * one JSON number or overflows.  Exposed for tests and for other parsers
 * (e.g. DynamoDB's N strings). */
int rcpt_json_number(const char *s, size_t len, double *out);

/* ---- pull reader ------------------------------------------------------------
 *
 * A streaming tokenizer over the caller's buffer: no tree, no copy of the
 * input.  The caller asks for the next token; the reader keeps the nesting
 * (so it checks commas, colons and brackets itself) and gives keys and
 * strings as raw spans of the input.  A span with escapes is decoded by
 * rcpt_json_unescape into memory the caller chooses, so a string is only
 * ever copied once, into its final place.  The grammar, the number
 * conversion and the messages ("JSON: byte N: ...") are the DOM parser's:
 * the two accept exactly the same documents.  Duplicate keys are handed to
 * the caller as they come (the caller decides; last-wins is its job). */

enum {
    /* a value: the rcpt_json_type of a scalar, or the start of a container
     * (RCPT_JSON_ARRAY / RCPT_JSON_OBJECT) */
    RCPT_JSON_T_END_ARRAY = 6,
    RCPT_JSON_T_END_OBJECT,
    RCPT_JSON_T_KEY,      /* an object key; the reader has consumed the ':' */
    RCPT_JSON_T_EOF       /* the document is complete and nothing follows */
};

typedef struct rcpt_json_tok {
    int type;            /* rcpt_json_type or RCPT_JSON_T_* */
    int b;               /* bool value */
    unsigned flags;      /* RCPT_JSON_F_* for numbers */
    double d;            /* number value */
    int64_t i;           /* exact integer when flags has RCPT_JSON_F_I64 */
    const char *s;       /* STRING / KEY: the raw bytes between the quotes */
    size_t len;
    int escaped;         /* the raw span holds escapes: use rcpt_json_unescape */
    size_t offset;       /* byte offset of the token in the input */
} rcpt_json_tok;

#define RCPT_JSON_READER_MAX_DEPTH 1024

typedef struct rcpt_json_reader {
    const char *base, *p, *end;
    size_t depth, max_depth;
    int state;
    int failed;          /* 1 once a JSON error was reported */
    uint64_t kinds[RCPT_JSON_READER_MAX_DEPTH / 64]; /* bit set = object */
    void *cloc;          /* "C" locale for the rare strtod fallback, lazily made */
    rcpt_err *err;
    size_t err_off;      /* byte offset of the last error */
} rcpt_json_reader;

/* Start reading text[0..len) (the buffer must stay valid and unchanged while
 * the reader is used).  max_depth 0 = 512, capped at
 * RCPT_JSON_READER_MAX_DEPTH.  Errors go to err (may be NULL). */
void rcpt_json_reader_init(rcpt_json_reader *r, const char *text, size_t len, size_t max_depth,
                           rcpt_err *err);
/* Release what the reader may hold (a locale); the reader can be dropped
 * at any token. */
void rcpt_json_reader_done(rcpt_json_reader *r);
/* Next token into *t.  RCPT_OK, or RCPT_EINVAL (malformed), RCPT_ELIMIT
 * (depth), RCPT_ENOMEM; after an error the reader must not be used again. */
int rcpt_json_next(rcpt_json_reader *r, rcpt_json_tok *t);
/* t was just returned by rcpt_json_next: if it opened an array or an
 * object, read (and check) everything up to its end; otherwise nothing. */
int rcpt_json_skip(rcpt_json_reader *r, const rcpt_json_tok *t);
/* Decode the raw span of a STRING or KEY token (already validated by the
 * reader) into dst, which has room for len bytes (decoding never grows);
 * returns the decoded length.  No NUL is added. */
size_t rcpt_json_unescape(const char *raw, size_t len, char *dst);

/* Offset of the first byte of s[0..len) that does not start a valid UTF-8
 * sequence (overlong forms, surrogates and code points above U+10FFFF are
 * invalid, as in the parser), or len when all of it is valid.  For
 * encoders. */
size_t rcpt_json_utf8_check(const char *s, size_t len);

#endif
