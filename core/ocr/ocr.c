/* Vision OCR JSON -> lines, words, letters (spec/ocr-geometry.md §2-§4).
 *
 * Two passes over the JSON DOM: the first checks the array shapes and counts
 * words and letters, so lines, words and letters are three arrays in one
 * allocation; the second fills and validates every record.  The strings are
 * the JSON parser's decoded text, kept (rcpt_json_release) while the DOM
 * nodes are freed, so a parsed document costs about its JSON size plus
 * ~150 bytes per record.
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

static int bad(rcpt_err *err, const where *w, const char *field, const char *what, const rcpt_json *v)
{
    char p[96];
    path(p, sizeof p, w);
    if (v)
        return rcpt_err_set(err, RCPT_EINVAL, "%s%s%s: %s, got %s", p, field ? "." : "", field ? field : "",
                            what, rcpt_json_type_name(v->type));
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

static int key_id(const rcpt_json *k)
{
    const char *s = k->u.str.s;
    switch (k->u.str.len) {
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

static int num(const rcpt_json *v, double *out, rcpt_err *err, const where *w, const char *field)
{
    if (v->type != RCPT_JSON_NUMBER) return bad(err, w, field, "must be a number", v);
    *out = v->u.num.d; /* the parser refuses NaN/Infinity/overflow: finite */
    return RCPT_OK;
}

/* Field names are only formatted on the error path: this runs for every
 * corner of every record. */
static int point(const rcpt_json *v, rcpt_point *pt, rcpt_err *err, const where *w, const char *field)
{
    if (v->type != RCPT_JSON_OBJECT) return bad(err, w, field, "must be an object {x, y}", v);
    const rcpt_json *c[2] = {NULL, NULL};
    for (size_t i = 0; i < v->u.obj.n; i++) {
        const rcpt_json *k = &v->u.obj.members[i].key;
        if (k->u.str.len == 1 && (k->u.str.s[0] == 'x' || k->u.str.s[0] == 'y'))
            c[k->u.str.s[0] - 'x'] = &v->u.obj.members[i].value;
    }
    double *dst[2] = {&pt->x, &pt->y};
    for (int i = 0; i < 2; i++) {
        if (c[i] && c[i]->type == RCPT_JSON_NUMBER) {
            *dst[i] = c[i]->u.num.d;
            continue;
        }
        char f[64];
        snprintf(f, sizeof f, "%s.%c", field, 'x' + i);
        if (!c[i]) return bad(err, w, f, "required key is missing", NULL);
        return bad(err, w, f, "must be a number", c[i]);
    }
    return RCPT_OK;
}

static int bbox(const rcpt_json *v, rcpt_bbox *b, rcpt_err *err, const where *w)
{
    if (v->type != RCPT_JSON_OBJECT) return bad(err, w, "bounding_box", "must be an object {x, y, width, height}", v);
    static const char *const names[4] = {"x", "y", "width", "height"};
    const rcpt_json *c[4] = {NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < v->u.obj.n; i++) {
        const rcpt_json *k = &v->u.obj.members[i].key;
        const char *s = k->u.str.s;
        int id = -1;
        if (k->u.str.len == 1 && (s[0] == 'x' || s[0] == 'y')) id = s[0] - 'x';
        else if (k->u.str.len == 5 && !memcmp(s, "width", 5)) id = 2;
        else if (k->u.str.len == 6 && !memcmp(s, "height", 6)) id = 3;
        if (id >= 0) c[id] = &v->u.obj.members[i].value;
    }
    double *dst[4] = {&b->x, &b->y, &b->width, &b->height};
    for (int i = 0; i < 4; i++) {
        if (c[i] && c[i]->type == RCPT_JSON_NUMBER) {
            *dst[i] = c[i]->u.num.d;
            continue;
        }
        char f[64];
        snprintf(f, sizeof f, "bounding_box.%s", names[i]);
        if (!c[i]) return bad(err, w, f, "required key is missing", NULL);
        return bad(err, w, f, "must be a number", c[i]);
    }
    return RCPT_OK;
}

/* Fill g from the object o; children/ed returned for the caller. */
static int geom(const rcpt_json *o, rcpt_ocr_geom *g, const where *w, rcpt_err *err,
                const rcpt_json **words, const rcpt_json **letters, const rcpt_json **ed)
{
    if (o->type != RCPT_JSON_OBJECT) return bad(err, w, NULL, "must be an object", o);
    unsigned seen = 0;
    int rc = RCPT_OK;
    for (size_t i = 0; i < o->u.obj.n && rc == RCPT_OK; i++) {
        const rcpt_json *k = &o->u.obj.members[i].key, *v = &o->u.obj.members[i].value;
        int id = key_id(k);
        seen |= (unsigned)id;
        switch (id) {
        case K_TEXT:
            if (v->type != RCPT_JSON_STRING) return bad(err, w, "text", "must be a string", v);
            g->text = v->u.str.s;
            g->text_len = v->u.str.len;
            break;
        case K_BBOX: rc = bbox(v, &g->bbox, err, w); break;
        case K_TL: rc = point(v, &g->top_left, err, w, "top_left"); break;
        case K_TR: rc = point(v, &g->top_right, err, w, "top_right"); break;
        case K_BL: rc = point(v, &g->bottom_left, err, w, "bottom_left"); break;
        case K_BR: rc = point(v, &g->bottom_right, err, w, "bottom_right"); break;
        case K_ADEG: rc = num(v, &g->angle_degrees, err, w, "angle_degrees"); break;
        case K_ARAD: rc = num(v, &g->angle_radians, err, w, "angle_radians"); break;
        case K_CONF:
            rc = num(v, &g->confidence, err, w, "confidence");
            if (!rc && !(g->confidence > 0 && g->confidence <= 1)) {
                char msg[96];
                snprintf(msg, sizeof msg, "must be > 0 and <= 1, got %.17g", g->confidence);
                return bad(err, w, "confidence", msg, NULL);
            }
            break;
        case K_WORDS: if (words) *words = v; break;
        case K_LETTERS: if (letters) *letters = v; break;
        case K_ED: if (ed) *ed = v; break;
        }
    }
    if (rc) return rc;
    if ((seen & K_GEOM) != K_GEOM) {
        for (int b = 0; b < 9; b++)
            if (!(seen & (1u << b))) return bad(err, w, key_names[b], "required key is missing", NULL);
    }
    return RCPT_OK;
}

/* children arrays: absent = empty, anything but an array = error */
static int kids(const rcpt_json *v, const char *name, const where *w, rcpt_err *err, size_t *n)
{
    *n = 0;
    if (!v) return RCPT_OK;
    if (v->type != RCPT_JSON_ARRAY) return bad(err, w, name, "must be an array", v);
    *n = v->u.arr.n;
    return RCPT_OK;
}

typedef struct ocr_private {
    char *text;   /* the JSON's decoded text: every string points into it */
} ocr_private;

void rcpt_ocr_free(rcpt_ocr_doc *doc)
{
    if (!doc) return;
    ocr_private *p = doc->arena;
    if (p) free(p->text);
    free(doc);
}

static int fill(const rcpt_json *lines, rcpt_ocr_doc *doc, rcpt_err *err)
{
    size_t wn = 0, cn = 0;
    where w = {0, 0, 0, 0};
    for (size_t li = 0; li < lines->u.arr.n; li++) {
        rcpt_ocr_line *L = &doc->lines[li];
        const rcpt_json *words = NULL;
        w.level = 0;
        w.li = li;
        int rc = geom(&lines->u.arr.items[li], &L->g, &w, err, &words, NULL, NULL);
        if (rc) return rc;
        L->line_id = (int)li + 1;
        L->words = doc->words + wn;
        kids(words, "words", &w, err, &L->n_words); /* shape checked by count() */
        for (size_t wi = 0; wi < L->n_words; wi++) {
            rcpt_ocr_word *W = &doc->words[wn++];
            const rcpt_json *letters = NULL, *ed = NULL;
            w.level = 1;
            w.wi = wi;
            if ((rc = geom(&words->u.arr.items[wi], &W->g, &w, err, NULL, &letters, &ed))) return rc;
            W->line_id = (int)li + 1;
            W->word_id = (int)wi + 1;
            W->is_noise = rcpt_ocr_is_noise(W->g.text, W->g.text_len);
            if (ed && ed->type != RCPT_JSON_NULL) {
                if (ed->type != RCPT_JSON_OBJECT)
                    return bad(err, &w, "extracted_data", "must be an object {type, value} or null", ed);
                const rcpt_json *t = rcpt_json_get(ed, "type"), *v = rcpt_json_get(ed, "value");
                if (!t) return bad(err, &w, "extracted_data.type", "required key is missing", NULL);
                if (t->type != RCPT_JSON_STRING) return bad(err, &w, "extracted_data.type", "must be a string", t);
                if (memchr(t->u.str.s, 0, t->u.str.len))
                    return bad(err, &w, "extracted_data.type", "must not contain NUL", NULL);
                if (!v) return bad(err, &w, "extracted_data.value", "required key is missing", NULL);
                if (v->type != RCPT_JSON_STRING)
                    return bad(err, &w, "extracted_data.value", "must be a string", v);
                W->ed_type = t->u.str.s;
                W->ed_value = v->u.str.s;
                W->ed_value_len = v->u.str.len;
            }
            W->letters = doc->letters + cn;
            kids(letters, "letters", &w, err, &W->n_letters);
            for (size_t ci = 0; ci < W->n_letters; ci++) {
                rcpt_ocr_letter *C = &doc->letters[cn++];
                w.level = 2;
                w.ci = ci;
                if ((rc = geom(&letters->u.arr.items[ci], &C->g, &w, err, NULL, NULL, NULL))) return rc;
                if (!rcpt_ocr_is_one_grapheme(C->g.text, C->g.text_len))
                    return bad(err, &w, "text",
                               C->g.text_len ? "must be exactly one character (one grapheme cluster)"
                                             : "must be exactly one character, got an empty string",
                               NULL);
                C->line_id = (int)li + 1;
                C->word_id = (int)wi + 1;
                C->letter_id = (int)ci + 1;
            }
        }
    }
    return RCPT_OK;
}

/* First pass: shapes of lines/words/letters arrays, and the totals. */
static int count(const rcpt_json *lines, size_t *nw, size_t *nc, rcpt_err *err)
{
    where w = {0, 0, 0, 0};
    *nw = *nc = 0;
    for (size_t li = 0; li < lines->u.arr.n; li++) {
        const rcpt_json *L = &lines->u.arr.items[li];
        w.level = 0;
        w.li = li;
        if (L->type != RCPT_JSON_OBJECT) return bad(err, &w, NULL, "must be an object", L);
        size_t n;
        const rcpt_json *words = rcpt_json_getn(L, "words", 5);
        int rc = kids(words, "words", &w, err, &n);
        if (rc) return rc;
        *nw += n;
        for (size_t wi = 0; wi < n; wi++) {
            const rcpt_json *W = &words->u.arr.items[wi];
            w.level = 1;
            w.wi = wi;
            if (W->type != RCPT_JSON_OBJECT) return bad(err, &w, NULL, "must be an object", W);
            size_t m;
            if ((rc = kids(rcpt_json_getn(W, "letters", 7), "letters", &w, err, &m))) return rc;
            *nc += m;
        }
    }
    if (lines->u.arr.n > INT32_MAX || *nw > INT32_MAX || *nc > INT32_MAX)
        return rcpt_err_set(err, RCPT_ELIMIT, "lines: too many records");
    return RCPT_OK;
}

int rcpt_ocr_parse_opts(const char *json, size_t len, const rcpt_ocr_opts *opts, rcpt_ocr_doc **out,
                        rcpt_err *err)
{
    *out = NULL;
    size_t max = opts && opts->max_size ? opts->max_size : RCPT_OCR_MAX_SIZE_DEFAULT;
    if (len > max)
        return rcpt_err_set(err, RCPT_ELIMIT, "OCR JSON of %zu bytes exceeds the limit of %zu bytes", len, max);
    rcpt_json_doc *jd;
    rcpt_json_opts jo = {0, 0};
    int rc = rcpt_json_parse(json, len, &jo, &jd, err, NULL);
    if (rc) return rc;
    const rcpt_json *root = rcpt_json_root(jd);
    const rcpt_json *lines = NULL;
    size_t nw = 0, nc = 0;
    if (root->type != RCPT_JSON_OBJECT) {
        rc = rcpt_err_set(err, RCPT_EINVAL, "document: must be an object {\"lines\": [...]}, got %s",
                          rcpt_json_type_name(root->type));
    } else if (!(lines = rcpt_json_getn(root, "lines", 5))) {
        rc = rcpt_err_set(err, RCPT_EINVAL, "lines: required key is missing");
    } else if (lines->type != RCPT_JSON_ARRAY) {
        rc = rcpt_err_set(err, RCPT_EINVAL, "lines: must be an array, got %s", rcpt_json_type_name(lines->type));
    } else {
        rc = count(lines, &nw, &nc, err);
    }
    if (rc) {
        rcpt_json_free(jd);
        return rc;
    }
    size_t nl = lines->u.arr.n;
    size_t sz = sizeof(rcpt_ocr_doc) + sizeof(ocr_private) + 16 + nl * sizeof(rcpt_ocr_line) +
                nw * sizeof(rcpt_ocr_word) + nc * sizeof(rcpt_ocr_letter);
    rcpt_ocr_doc *doc = calloc(1, sz);
    if (!doc) {
        rcpt_json_free(jd);
        return rcpt_err_set(err, RCPT_ENOMEM, "OCR: out of memory for %zu lines, %zu words, %zu letters", nl, nw,
                            nc);
    }
    char *p = (char *)(doc + 1);
    ocr_private *priv = (ocr_private *)p;
    p += (sizeof(ocr_private) + 15) & ~(size_t)15;
    doc->arena = priv;
    doc->lines = (rcpt_ocr_line *)p;
    doc->n_lines = nl;
    doc->words = (rcpt_ocr_word *)(doc->lines + nl);
    doc->n_words = nw;
    doc->letters = (rcpt_ocr_letter *)(doc->words + nw);
    doc->n_letters = nc;
    rc = fill(lines, doc, err);
    if (rc) {
        rcpt_json_free(jd);
        free(doc);
        return rc;
    }
    priv->text = rcpt_json_release(jd);
    *out = doc;
    return RCPT_OK;
}

int rcpt_ocr_parse(const char *json, size_t len, rcpt_ocr_doc **out, rcpt_err *err)
{
    return rcpt_ocr_parse_opts(json, len, NULL, out, err);
}
