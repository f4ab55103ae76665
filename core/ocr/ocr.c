/* Vision OCR JSON -> lines, words, letters (spec/ocr-geometry.md §2-§4).
 *
 * One pass over the JSON with the pull reader (core/json): no tree and no
 * copy of the input.  Records are written straight into their final place
 * while they are validated: lines, words and letters are three arrays in one
 * allocation sized from the input length (a record cannot take fewer than
 * 200 bytes of JSON), strings are copied once into the same allocation
 * (decoded there when they hold escapes).  Errors name the record by path;
 * a document that is broken JSON further on is reported as JSON (the reader
 * drains the rest after a record error), as the DOM-based parser did.
 *
 * Departures from the original (docs/ocr-format.md says why):
 *   - a letter is one extended grapheme cluster, not one code point;
 *   - the top-level "lines" key is required (the original read a missing
 *     one as zero lines, so a wrong file passed silently); an empty array
 *     is valid.
 * Kept: unknown keys anywhere are ignored; "words" / "letters" may be
 * absent (no words / letters) but not null; ints are accepted as numbers;
 * extracted_data may be absent or null. */
#include "ocr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json/json.h"
#include "unicode_tables.h"

/* ---- UTF-8 and character classes ----------------------------------------- */

/* Decode one code point; invalid bytes decode as U+FFFD, one byte each. */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i)
{
    size_t k = *i;
    unsigned c = s[k];
    if (c < 0x80) {
        *i = k + 1;
        return c;
    }
    int n = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07, min = 0x10000;
    if (!n) {
        *i = k + 1;
        return 0xFFFD;
    }
    for (int j = 1; j <= n; j++) {
        if (k + (size_t)j >= len || (s[k + j] & 0xC0) != 0x80) {
            *i = k + 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[k + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *i = k + 1;
        return 0xFFFD;
    }
    *i = k + (size_t)n + 1;
    return cp;
}

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* str.isspace(): the exact list of Python's _PyUnicode_IsWhitespace */
static int is_space(uint32_t c)
{
    if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_alnum(uint32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    return in_ranges(uc_alnum, NELEM(uc_alnum), c);
}

static int is_decimal(uint32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    return in_ranges(uc_decimal, NELEM(uc_decimal), c);
}

static int is_word(uint32_t c) { return c == '_' || is_alnum(c); }

static int is_mark(uint32_t c)
{
    return c >= 0x300 && in_ranges(uc_mark, NELEM(uc_mark), c);
}

/* ---- the letter rule: one extended grapheme cluster ------------------------
 *
 * Vision's letters are Swift Characters, i.e. extended grapheme clusters
 * (UAX #29); the original checked "exactly one code point" and so rejected
 * the whole image on an accent written as base + combining mark or on an
 * emoji sequence.  We accept one cluster, recognised without ICU by these
 * rules (a practical approximation of UAX #29):
 *   - CR LF is one cluster; any other control character stands alone;
 *   - a base character may be followed by any number of extenders: marks
 *     (general category Mn, Mc, Me, which covers combining accents,
 *     variation selectors and Indic vowel signs), ZWNJ/ZWJ, emoji modifiers
 *     U+1F3FB..1F3FF and tag characters U+E0020..E007F;
 *   - after ZWJ an Extended_Pictographic character continues the cluster
 *     when the cluster started with one (emoji ZWJ sequences);
 *   - two regional indicators form one flag;
 *   - Hangul jamo sequences L* (V+ | LV V* | LVT) T* form one syllable.
 * Not handled: prepended concatenation marks and Indic conjuncts across a
 * virama (rare on receipts); such letters are rejected with the path. */

static int is_pict(uint32_t c)
{
    if (c < 0xA9) return 0;
    if (c == 0xA9 || c == 0xAE || c == 0x203C || c == 0x2049 || c == 0x2122 || c == 0x2139) return 1;
    if ((c >= 0x2194 && c <= 0x2199) || (c >= 0x21A9 && c <= 0x21AA) || (c >= 0x231A && c <= 0x231B) ||
        c == 0x2328 || c == 0x2388 || c == 0x23CF || (c >= 0x23E9 && c <= 0x23F3) ||
        (c >= 0x23F8 && c <= 0x23FA) || c == 0x24C2 || (c >= 0x25AA && c <= 0x25AB) || c == 0x25B6 ||
        c == 0x25C0 || (c >= 0x25FB && c <= 0x25FE) || (c >= 0x2600 && c <= 0x27BF) ||
        (c >= 0x2934 && c <= 0x2935) || (c >= 0x2B05 && c <= 0x2B07) || (c >= 0x2B1B && c <= 0x2B1C) ||
        c == 0x2B50 || c == 0x2B55 || c == 0x3030 || c == 0x303D || c == 0x3297 || c == 0x3299)
        return 1;
    return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x1FC00 && c <= 0x1FFFD);
}

static int is_extend(uint32_t c)
{
    return c == 0x200C || c == 0x200D || (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0020 && c <= 0xE007F) ||
           is_mark(c);
}

static int is_ri(uint32_t c) { return c >= 0x1F1E6 && c <= 0x1F1FF; }

enum { H_NONE, H_L, H_V, H_T, H_LV, H_LVT };

static int hangul(uint32_t c)
{
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0xA960 && c <= 0xA97C)) return H_L;
    if ((c >= 0x1160 && c <= 0x11A7) || (c >= 0xD7B0 && c <= 0xD7C6)) return H_V;
    if ((c >= 0x11A8 && c <= 0x11FF) || (c >= 0xD7CB && c <= 0xD7FB)) return H_T;
    if (c >= 0xAC00 && c <= 0xD7A3) return (c - 0xAC00) % 28 == 0 ? H_LV : H_LVT;
    return H_NONE;
}

static int is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029;
}

int rcpt_ocr_is_one_grapheme(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    if (len == 0) return 0;
    size_t i = 0;
    uint32_t c = next_cp(s, len, &i);
    if (i == len) return 1;
    if (c == '\r') {
        uint32_t d = next_cp(s, len, &i);
        return d == '\n' && i == len;
    }
    if (is_control(c)) return 0;
    int pict = is_pict(c);
    int h = hangul(c);
    int ri = is_ri(c);
    int after_zwj = 0, extended = 0;
    while (i < len) {
        uint32_t d = next_cp(s, len, &i);
        if (!extended && h != H_NONE) {
            int k = hangul(d);
            int ok = (h == H_L && (k == H_L || k == H_V || k == H_LV || k == H_LVT)) ||
                     ((h == H_V || h == H_LV) && (k == H_V || k == H_T)) ||
                     ((h == H_T || h == H_LVT) && k == H_T);
            if (ok) {
                h = k;
                continue;
            }
        }
        if (ri && !extended && is_ri(d)) {
            ri = 0; /* a pair; a third indicator starts a new flag */
            extended = 1;
            continue;
        }
        if (after_zwj && pict && is_pict(d)) {
            after_zwj = 0;
            continue;
        }
        if (!is_extend(d)) return 0;
        extended = 1;
        ri = 0;
        after_zwj = d == 0x200D;
    }
    return 1;
}

/* ---- is_noise (spec §3.3) ------------------------------------------------ */

static int is_cur(uint32_t c) { return c == '$' || c == 0x20AC || c == 0xA3 || c == 0xA5; }

/* [\d,]+\.?\d* consuming all of c[0..n) */
static int amount(const uint32_t *c, size_t n)
{
    size_t i = 0;
    while (i < n && (c[i] == ',' || is_decimal(c[i]))) i++;
    if (i == 0) return 0;
    if (i < n && c[i] == '.') i++;
    while (i < n && is_decimal(c[i])) i++;
    return i == n;
}

static int currency(const uint32_t *c, size_t n)
{
    if (n == 1) return is_cur(c[0]);
    if (n >= 2 && is_cur(c[0]) && amount(c + 1, n - 1)) return 1;
    return n >= 2 && is_cur(c[n - 1]) && amount(c, n - 1);
}

static int one_of(uint32_t c, const char *set)
{
    return c < 0x80 && c && strchr(set, (int)c) != NULL;
}

static int single_punct(const uint32_t *c, size_t n) { return n == 1 && one_of(c[0], ".,;:!?\"'-()[]{}"); }
static int single_sep(const uint32_t *c, size_t n) { return n == 1 && one_of(c[0], "|/\\~_=+*&%"); }

static int no_word_no_space(const uint32_t *c, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (is_word(c[i]) || is_space(c[i])) return 0;
    return 1;
}

/* re.match(r'^...$') : Python's $ also matches before a final newline */
static int match_end(int (*f)(const uint32_t *, size_t), const uint32_t *c, size_t n)
{
    return f(c, n) || (n > 0 && c[n - 1] == '\n' && f(c, n - 1));
}

static int noise_cps(const uint32_t *c, size_t n)
{
    size_t i;
    for (i = 0; i < n && is_space(c[i]); i++) {}
    if (i == n) return 1;                                 /* 1 */
    if (match_end(currency, c, n)) return 0;              /* 2 */
    if (match_end(single_punct, c, n)) return 1;          /* 3 */
    if (match_end(single_sep, c, n)) return 1;            /* 4 */
    /* 5: only symbols, except the five that count as words; those fall
     * through (and single ones end up noise at 6, as the spec says) */
    if (match_end(no_word_no_space, c, n) && !(n == 1 && one_of(c[0], "@#&+%"))) return 1;
    if (n == 1 && !is_alnum(c[0])) return 1;              /* 6 */
    size_t a = 0, b = n;                                   /* 7: on strip() */
    while (a < b && is_space(c[a])) a++;
    while (b > a && is_space(c[b - 1])) b--;
    for (i = a; i < b; i++)
        if (!one_of(c[i], "+-=*_./\\~|# ")) return 0;
    return 1;
}

int rcpt_ocr_is_noise(const char *text, size_t len)
{
    uint32_t small[128];
    uint32_t *c = len <= NELEM(small) ? small : malloc(len * sizeof *c);
    if (!c) return 0;
    size_t n = 0, i = 0;
    const unsigned char *s = (const unsigned char *)text;
    while (i < len) c[n++] = next_cp(s, len, &i);
    int r = noise_cps(c, n);
    if (c != small) free(c);
    return r;
}

/* ---- parsing ---------------------------------------------------------------- */

typedef struct where {
    int level;     /* 0 line, 1 word, 2 letter */
    size_t li, wi, ci;
} where;

static int path(char *buf, size_t n, const where *w)
{
    if (w->level == 0) return snprintf(buf, n, "lines[%zu]", w->li);
    if (w->level == 1) return snprintf(buf, n, "lines[%zu].words[%zu]", w->li, w->wi);
    return snprintf(buf, n, "lines[%zu].words[%zu].letters[%zu]", w->li, w->wi, w->ci);
}

/* type < 0: no "got ..." part */
static int bad(rcpt_err *err, const where *w, const char *field, const char *what, int type)
{
    char p[96];
    path(p, sizeof p, w);
    if (type >= 0)
        return rcpt_err_set(err, RCPT_EINVAL, "%s%s%s: %s, got %s", p, field ? "." : "", field ? field : "",
                            what, rcpt_json_type_name(type));
    return rcpt_err_set(err, RCPT_EINVAL, "%s%s%s: %s", p, field ? "." : "", field ? field : "", what);
}

enum {
    K_TEXT = 1 << 0, K_BBOX = 1 << 1, K_TL = 1 << 2, K_TR = 1 << 3, K_BL = 1 << 4, K_BR = 1 << 5,
    K_ADEG = 1 << 6, K_ARAD = 1 << 7, K_CONF = 1 << 8, K_WORDS = 1 << 9, K_LETTERS = 1 << 10,
    K_ED = 1 << 11, K_GEOM = (1 << 9) - 1
};

static const char *const key_names[] = {
    "text", "bounding_box", "top_left", "top_right", "bottom_left", "bottom_right",
    "angle_degrees", "angle_radians", "confidence", "words", "letters", "extracted_data"};

static int key_id_raw(const char *s, size_t len)
{
    switch (len) {
    case 4: return memcmp(s, "text", 4) == 0 ? K_TEXT : 0;
    case 5: return memcmp(s, "words", 5) == 0 ? K_WORDS : 0;
    case 7: return memcmp(s, "letters", 7) == 0 ? K_LETTERS : 0;
    case 8: return memcmp(s, "top_left", 8) == 0 ? K_TL : 0;
    case 9: return memcmp(s, "top_right", 9) == 0 ? K_TR : 0;
    case 10: return memcmp(s, "confidence", 10) == 0 ? K_CONF : 0;
    case 11: return memcmp(s, "bottom_left", 11) == 0 ? K_BL : 0;
    case 12:
        if (memcmp(s, "bounding_box", 12) == 0) return K_BBOX;
        return memcmp(s, "bottom_right", 12) == 0 ? K_BR : 0;
    case 13:
        if (memcmp(s, "angle_degrees", 13) == 0) return K_ADEG;
        return memcmp(s, "angle_radians", 13) == 0 ? K_ARAD : 0;
    case 14: return memcmp(s, "extracted_data", 14) == 0 ? K_ED : 0;
    }
    return 0;
}

/* A key as the document means it: escapes decoded ("te\u0078t" is "text").
 * Our longest key is 14 bytes, at most 84 when every byte is a \u escape:
 * a longer raw key cannot match, so KEYBUF bytes do. */
#define KEYBUF 96
static size_t key_text(const rcpt_json_tok *k, char *buf, size_t cap, const char **s)
{
    if (!k->escaped) {
        *s = k->s;
        return k->len;
    }
    if (k->len > cap) {
        *s = "";
        return 0;
    }
    *s = buf;
    return rcpt_json_unescape(k->s, k->len, buf);
}

static int key_id(const rcpt_json_tok *k)
{
    char buf[KEYBUF];
    const char *s;
    size_t n = key_text(k, buf, sizeof buf, &s);
    return key_id_raw(s, n);
}

/* Which of x, y, width, height a key names (-1: none). */
static int coord_id(const rcpt_json_tok *k)
{
    char buf[KEYBUF];
    const char *s;
    size_t n = key_text(k, buf, sizeof buf, &s);
    if (n == 1 && (s[0] == 'x' || s[0] == 'y')) return s[0] - 'x';
    if (n == 5 && !memcmp(s, "width", 5)) return 2;
    if (n == 6 && !memcmp(s, "height", 6)) return 3;
    return -1;
}

/* The document is one allocation: the header, then three record arrays and
 * the string area, all sized from the input length (below), so parsing never
 * reallocates and never copies records; pages that are not used are never
 * touched (malloc, not calloc: on reused heap memory calloc would clear the
 * whole reservation). */
typedef struct parse_ctx {
    rcpt_json_reader R;
    rcpt_json_tok t;
    rcpt_ocr_doc *doc;
    size_t cap;               /* records of each kind */
    char *str, *str_end;      /* string area: next free byte, end */
    rcpt_err *err;
    where w;
} parse_ctx;

/* The smallest valid record (nine keys, every value as short as it can be,
 * e.g. {"text":"","bounding_box":{"x":0,"y":0,"width":0,"height":0},...})
 * takes 220 bytes; only the records being read can be incomplete (one per
 * level).  So a document of len bytes has at most len / 200 + 4 records of
 * each kind, and its strings (each stored with a NUL, never longer than
 * its JSON token with the quotes) fit in len + 16 bytes. */
#define MIN_RECORD_BYTES 200

static int next(parse_ctx *c)
{
    return rcpt_json_next(&c->R, &c->t);
}

/* Copy the current STRING token into the string area, NUL-terminated. */
static int take_string(parse_ctx *c, const rcpt_json_tok *t, const char **s, size_t *len)
{
    if ((size_t)(c->str_end - c->str) < t->len + 1)
        return rcpt_err_set(c->err, RCPT_ELIMIT, "OCR: string area exhausted (internal sizing error)");
    char *dst = c->str;
    size_t n;
    if (t->escaped) {
        n = rcpt_json_unescape(t->s, t->len, dst);
    } else {
        memcpy(dst, t->s, t->len);
        n = t->len;
    }
    dst[n] = 0;
    c->str += n + 1;
    *s = dst;
    *len = n;
    return RCPT_OK;
}

/* An object of numbers: bounding_box {x, y, width, height} or a point
 * {x, y}.  Other keys are ignored; a key given twice keeps its last value;
 * problems are reported after the whole object, in field order, as the
 * original validator does. */
static int coords(parse_ctx *c, const char *field, int n, double *dst)
{
    static const char *const names[4] = {"x", "y", "width", "height"};
    int state[4] = {-1, -1, -1, -1}; /* -1 missing, -2 ok, else the bad type */
    if (c->t.type != RCPT_JSON_OBJECT)
        return bad(c->err, &c->w, field,
                   n == 4 ? "must be an object {x, y, width, height}" : "must be an object {x, y}", c->t.type);
    int rc;
    for (;;) {
        if ((rc = next(c))) return rc;
        if (c->t.type == RCPT_JSON_T_END_OBJECT) break;
        int id = coord_id(&c->t);
        if ((rc = next(c))) return rc;
        if (id < 0 || id >= n) {
            if ((rc = rcpt_json_skip(&c->R, &c->t))) return rc;
            continue;
        }
        if (c->t.type == RCPT_JSON_NUMBER) {
            dst[id] = c->t.d;
            state[id] = -2;
        } else {
            state[id] = c->t.type;
            if ((rc = rcpt_json_skip(&c->R, &c->t))) return rc;
        }
    }
    for (int i = 0; i < n; i++) {
        if (state[i] == -2) continue;
        char f[64];
        snprintf(f, sizeof f, "%s.%s", field, names[i]);
        if (state[i] == -1) return bad(c->err, &c->w, f, "required key is missing", -1);
        return bad(c->err, &c->w, f, "must be a number", state[i]);
    }
    return RCPT_OK;
}

/* extracted_data: null, or {type, value} with two strings (type without
 * NUL: it is stored as a C string). */
static int extracted(parse_ctx *c, rcpt_ocr_word *W)
{
    int rc;
    if (c->t.type == RCPT_JSON_NULL) {
        W->ed_type = W->ed_value = NULL;
        W->ed_value_len = 0;
        return RCPT_OK;
    }
    if (c->t.type != RCPT_JSON_OBJECT)
        return bad(c->err, &c->w, "extracted_data", "must be an object {type, value} or null", c->t.type);
    rcpt_json_tok v[2];
    int state[2] = {-1, -1};
    for (;;) {
        if ((rc = next(c))) return rc;
        if (c->t.type == RCPT_JSON_T_END_OBJECT) break;
        char buf[KEYBUF];
        const char *s;
        size_t n = key_text(&c->t, buf, sizeof buf, &s);
        int id = n == 4 && !memcmp(s, "type", 4) ? 0 : n == 5 && !memcmp(s, "value", 5) ? 1 : -1;
        if ((rc = next(c))) return rc;
        if (id >= 0) {
            v[id] = c->t;
            state[id] = c->t.type == RCPT_JSON_STRING ? -2 : c->t.type;
        }
        if ((rc = rcpt_json_skip(&c->R, &c->t))) return rc;
    }
    static const char *const f[2] = {"extracted_data.type", "extracted_data.value"};
    for (int i = 0; i < 2; i++) {
        if (state[i] == -1) return bad(c->err, &c->w, f[i], "required key is missing", -1);
        if (state[i] != -2) return bad(c->err, &c->w, f[i], "must be a string", state[i]);
        if (i == 0) {
            const char *ts;
            size_t tn;
            if ((rc = take_string(c, &v[0], &ts, &tn))) return rc;
            if (memchr(ts, 0, tn)) return bad(c->err, &c->w, f[0], "must not contain NUL", -1);
            W->ed_type = ts;
        } else {
            if ((rc = take_string(c, &v[1], &W->ed_value, &W->ed_value_len))) return rc;
        }
    }
    return RCPT_OK;
}

static int record(parse_ctx *c, int level, void *rec);

/* An array of records (words of a line, letters of a word).  The current
 * token is its value; absent = empty, anything but an array = error. */
static int children(parse_ctx *c, int level, const char *name)
{
    rcpt_ocr_doc *d = c->doc;
    if (c->t.type != RCPT_JSON_ARRAY) return bad(c->err, &c->w, name, "must be an array", c->t.type);
    where saved = c->w;
    size_t i = 0;
    int rc;
    for (;; i++) {
        if ((rc = next(c))) return rc;
        if (c->t.type == RCPT_JSON_T_END_ARRAY) break;
        c->w = saved;
        c->w.level = level;
        if (level == 1) c->w.wi = i;
        else c->w.ci = i;
        if (c->t.type != RCPT_JSON_OBJECT) return bad(c->err, &c->w, NULL, "must be an object", c->t.type);
        size_t *n = level == 1 ? &d->n_words : &d->n_letters;
        if (*n >= c->cap) return rcpt_err_set(c->err, RCPT_ELIMIT, "OCR: too many records (internal sizing error)");
        void *rec = level == 1 ? (void *)&d->words[(*n)++] : (void *)&d->letters[(*n)++];
        if ((rc = record(c, level, rec))) return rc;
    }
    c->w = saved;
    return RCPT_OK;
}

/* One line, word or letter; the current token is its '{'. */
static int record(parse_ctx *c, int level, void *rec)
{
    rcpt_ocr_doc *d = c->doc;
    rcpt_ocr_line *L = NULL;
    rcpt_ocr_word *W = NULL;
    rcpt_ocr_letter *C = NULL;
    rcpt_ocr_geom *g;
    size_t first_word = d->n_words, first_letter = d->n_letters;
    if (level == 0) {
        L = rec;
        memset(L, 0, sizeof *L);
        g = &L->g;
        L->line_id = (int)c->w.li + 1;
        L->words = d->words + first_word;
    } else if (level == 1) {
        W = rec;
        memset(W, 0, sizeof *W);
        g = &W->g;
        W->line_id = (int)c->w.li + 1;
        W->word_id = (int)c->w.wi + 1;
        W->letters = d->letters + first_letter;
    } else {
        C = rec;
        memset(C, 0, sizeof *C);
        g = &C->g;
        C->line_id = (int)c->w.li + 1;
        C->word_id = (int)c->w.wi + 1;
        C->letter_id = (int)c->w.ci + 1;
    }
    unsigned seen = 0;
    int rc;
    for (;;) {
        if ((rc = next(c))) return rc;
        if (c->t.type == RCPT_JSON_T_END_OBJECT) break;
        int id = key_id(&c->t);
        /* words only count on lines, letters and extracted_data on words */
        if ((id == K_WORDS && level != 0) || ((id == K_LETTERS || id == K_ED) && level != 1)) id = 0;
        seen |= (unsigned)id;
        if ((rc = next(c))) return rc;
        const rcpt_json_tok *t = &c->t;
        switch (id) {
        case K_TEXT:
            if (t->type != RCPT_JSON_STRING) return bad(c->err, &c->w, "text", "must be a string", t->type);
            if ((rc = take_string(c, t, &g->text, &g->text_len))) return rc;
            break;
        case K_BBOX: rc = coords(c, "bounding_box", 4, &g->bbox.x); break;
        case K_TL: rc = coords(c, "top_left", 2, &g->top_left.x); break;
        case K_TR: rc = coords(c, "top_right", 2, &g->top_right.x); break;
        case K_BL: rc = coords(c, "bottom_left", 2, &g->bottom_left.x); break;
        case K_BR: rc = coords(c, "bottom_right", 2, &g->bottom_right.x); break;
        case K_ADEG:
        case K_ARAD:
        case K_CONF: {
            const char *f = id == K_ADEG ? "angle_degrees" : id == K_ARAD ? "angle_radians" : "confidence";
            if (t->type != RCPT_JSON_NUMBER) return bad(c->err, &c->w, f, "must be a number", t->type);
            /* the reader refuses NaN/Infinity/overflow: always finite */
            if (id == K_ADEG) g->angle_degrees = t->d;
            else if (id == K_ARAD) g->angle_radians = t->d;
            else if (!(t->d > 0 && t->d <= 1)) {
                char msg[96];
                snprintf(msg, sizeof msg, "must be > 0 and <= 1, got %.17g", t->d);
                return bad(c->err, &c->w, "confidence", msg, -1);
            } else {
                g->confidence = t->d;
            }
            break;
        }
        case K_WORDS:
            /* given twice: the last array wins, the first one's records go */
            d->n_words = first_word;
            d->n_letters = first_letter;
            rc = children(c, 1, "words");
            L->n_words = d->n_words - first_word;
            break;
        case K_LETTERS:
            d->n_letters = first_letter;
            rc = children(c, 2, "letters");
            W->n_letters = d->n_letters - first_letter;
            break;
        case K_ED: rc = extracted(c, W); break;
        default: rc = rcpt_json_skip(&c->R, &c->t); break;
        }
        if (rc) return rc;
    }
    if ((seen & K_GEOM) != K_GEOM) {
        for (int b = 0; b < 9; b++)
            if (!(seen & (1u << b))) return bad(c->err, &c->w, key_names[b], "required key is missing", -1);
    }
    if (W) W->is_noise = rcpt_ocr_is_noise(g->text, g->text_len);
    if (C && !rcpt_ocr_is_one_grapheme(g->text, g->text_len))
        return bad(c->err, &c->w, "text",
                   g->text_len ? "must be exactly one character (one grapheme cluster)"
                               : "must be exactly one character, got an empty string",
                   -1);
    return RCPT_OK;
}

/* The lines array (current token: its value). */
static int lines(parse_ctx *c)
{
    rcpt_ocr_doc *d = c->doc;
    if (c->t.type != RCPT_JSON_ARRAY)
        return rcpt_err_set(c->err, RCPT_EINVAL, "lines: must be an array, got %s", rcpt_json_type_name(c->t.type));
    d->n_lines = d->n_words = d->n_letters = 0; /* "lines" given twice: the last wins */
    int rc;
    for (size_t li = 0;; li++) {
        if ((rc = next(c))) return rc;
        if (c->t.type == RCPT_JSON_T_END_ARRAY) break;
        c->w.level = 0;
        c->w.li = li;
        if (c->t.type != RCPT_JSON_OBJECT) return bad(c->err, &c->w, NULL, "must be an object", c->t.type);
        if (d->n_lines >= c->cap) return rcpt_err_set(c->err, RCPT_ELIMIT, "OCR: too many records (internal sizing error)");
        if ((rc = record(c, 0, &d->lines[d->n_lines++]))) return rc;
    }
    return RCPT_OK;
}

static int document(parse_ctx *c)
{
    int rc = next(c);
    if (rc) return rc;
    if (c->t.type != RCPT_JSON_OBJECT)
        return rcpt_err_set(c->err, RCPT_EINVAL, "document: must be an object {\"lines\": [...]}, got %s",
                            rcpt_json_type_name(c->t.type));
    int have_lines = 0;
    for (;;) {
        if ((rc = next(c))) return rc;
        if (c->t.type == RCPT_JSON_T_END_OBJECT) break;
        char buf[KEYBUF];
        const char *s;
        size_t n = key_text(&c->t, buf, sizeof buf, &s);
        int is_lines = n == 5 && !memcmp(s, "lines", 5);
        if ((rc = next(c))) return rc;
        if (is_lines) {
            have_lines = 1;
            rc = lines(c);
        } else {
            rc = rcpt_json_skip(&c->R, &c->t); /* classification, receipts, ... */
        }
        if (rc) return rc;
    }
    if (!have_lines) return rcpt_err_set(c->err, RCPT_EINVAL, "lines: required key is missing");
    if ((rc = next(c))) return rc; /* nothing may follow */
    return RCPT_OK;
}

void rcpt_ocr_free(rcpt_ocr_doc *doc)
{
    free(doc);
}

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

int rcpt_ocr_parse_opts(const char *json, size_t len, const rcpt_ocr_opts *opts, rcpt_ocr_doc **out,
                        rcpt_err *err)
{
    *out = NULL;
    size_t max = opts && opts->max_size ? opts->max_size : RCPT_OCR_MAX_SIZE_DEFAULT;
    if (len > max)
        return rcpt_err_set(err, RCPT_ELIMIT, "OCR JSON of %zu bytes exceeds the limit of %zu bytes", len, max);
    size_t cap = len / MIN_RECORD_BYTES + 4;
    size_t off_lines = align16(sizeof(rcpt_ocr_doc));
    size_t off_words = off_lines + align16(cap * sizeof(rcpt_ocr_line));
    size_t off_letters = off_words + align16(cap * sizeof(rcpt_ocr_word));
    size_t off_str = off_letters + align16(cap * sizeof(rcpt_ocr_letter));
    size_t total = off_str + len + 16;
    char *mem = malloc(total);
    if (!mem) return rcpt_err_set(err, RCPT_ENOMEM, "OCR: out of memory for a %zu-byte document", len);
    rcpt_ocr_doc *doc = (rcpt_ocr_doc *)(void *)mem;
    memset(doc, 0, sizeof *doc);
    doc->lines = (rcpt_ocr_line *)(void *)(mem + off_lines);
    doc->words = (rcpt_ocr_word *)(void *)(mem + off_words);
    doc->letters = (rcpt_ocr_letter *)(void *)(mem + off_letters);
    doc->arena = mem + off_str;

    parse_ctx c;
    memset(&c.w, 0, sizeof c.w);
    c.doc = doc;
    c.cap = cap;
    c.str = mem + off_str;
    c.str_end = mem + total;
    c.err = err;
    rcpt_json_reader_init(&c.R, json, len, 0, err);
    int rc = document(&c);
    if (rc == RCPT_EINVAL && !c.R.failed) {
        /* A broken document is reported as JSON first, whatever record
         * problem comes before the break (the DOM parser's order, and what a
         * truncated upload should say): read on, and if the rest is not
         * JSON, say that instead. */
        rcpt_err syn = {0};
        c.R.err = &syn;
        for (;;) {
            if (rcpt_json_next(&c.R, &c.t)) {
                if (err) *err = syn;
                rc = syn.code;
                break;
            }
            if (c.t.type == RCPT_JSON_T_EOF) break;
        }
    }
    rcpt_json_reader_done(&c.R);
    if (rc) {
        free(mem);
        return rc;
    }
    *out = doc;
    return RCPT_OK;
}

int rcpt_ocr_parse(const char *json, size_t len, rcpt_ocr_doc **out, rcpt_err *err)
{
    return rcpt_ocr_parse_opts(json, len, NULL, out, err);
}
