/* Entities of spec/ocr-geometry.md §4 and merchant-embed-compaction.md §4.6,
 * §5.7, §8, §9: plain values -> validated DynamoDB items with the spec's
 * key strings, and items -> plain values.
 *
 * Attribute order follows the original's to_item() (keys first, then TYPE,
 * then fields).  DynamoDB does not keep order, but a fixed one makes our
 * JSON text reproducible. */
#include "store.h"

#include <ctype.h>
#include <stdarg.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct ectx {
    const rcpt_av *p;
    const char *ent;
    rcpt_err *err;
} ectx;

#define FAIL(c, field, ...) fail_field((c), (field), __VA_ARGS__)

__attribute__((format(printf, 3, 4)))
static int fail_field(ectx *c, const char *field, const char *fmt, ...)
{
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return rcpt_err_set(c->err, RCPT_EINVAL, "%s.%s: %s", c->ent, field, m);
}

/* ---- UTF-8, UUIDs -------------------------------------------------------- */

/* Decode one code point; returns bytes used or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
    if (!n)
        return 0;
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len;
    unsigned min;
    if ((c & 0xE0) == 0xC0) { len = 2; c &= 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; c &= 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; c &= 0x07; min = 0x10000; }
    else return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
        return 0;
    *cp = c;
    return len;
}

static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        unsigned cp;
        size_t k = utf8_next(u + i, n - i, &cp);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static int extends_grapheme(unsigned cp)
{
    return (cp >= 0x300 && cp <= 0x36F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
           (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
           (cp >= 0xFE20 && cp <= 0xFE2F) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F) ||
           (cp >= 0xE0100 && cp <= 0xE01EF) || cp == 0x200D;
}

/* A letter's text: exactly one user-perceived character.  The original
 * demanded one code point and so lost whole images on "é" written as e +
 * U+0301 or on emoji; we accept one base code point followed by combining
 * marks, variation selectors, skin-tone modifiers, tags and ZWJ sequences,
 * or a pair of regional indicators (a flag). */
static int one_grapheme(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned cp, first;
    size_t k = utf8_next(u, n, &first);
    if (!k)
        return 0;
    size_t i = k;
    int after_zwj = 0, ri = (first >= 0x1F1E6 && first <= 0x1F1FF);
    while (i < n) {
        k = utf8_next(u + i, n - i, &cp);
        if (!k)
            return 0;
        if (after_zwj) {
            after_zwj = 0;
        } else if (cp == 0x200D) {
            after_zwj = 1;
        } else if (ri == 1 && cp >= 0x1F1E6 && cp <= 0x1F1FF) {
            ri = 2;
        } else if (!extends_grapheme(cp)) {
            return 0;
        }
        i += k;
    }
    return !after_zwj;
}

int rcpt_is_uuid4(const char *s)
{
    static const char pat[] = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i], p = pat[i];
        if (p == '-' || p == '4') {
            if (c != p)
                return 0;
        } else if (p == 'y') {
            if (!strchr("89abAB", c))
                return 0;
        } else if (!isxdigit((unsigned char)c)) {
            return 0;
        }
    }
    return 1;
}

int rcpt_uuid4(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r <= 0)
            return RCPT_EIO;
        got += (size_t)r;
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return RCPT_OK;
}

/* ---- reading plain fields -------------------------------------------------- */

static const rcpt_av *field(ectx *c, const char *name)
{
    const rcpt_av *v = rcpt_m_get(c->p, name);
    return v && v->type != RCPT_AV_NULL ? v : NULL;
}

/* *out = the string or NULL when absent/null; required -> error when absent */
static int get_str(ectx *c, const char *name, int required, const char **out)
{
    const rcpt_av *v = field(c, name);
    *out = NULL;
    if (!v)
        return required ? FAIL(c, name, "is required") : RCPT_OK;
    if (v->type != RCPT_AV_S)
        return FAIL(c, name, "must be a string");
    if (!utf8_valid(v->s, v->len))
        return FAIL(c, name, "must be valid UTF-8");
    if (memchr(v->s, '\0', v->len))
        return FAIL(c, name, "must not contain NUL bytes");
    if (required && v->len == 0)
        return FAIL(c, name, "must not be empty");
    *out = v->s;
    return RCPT_OK;
}

static int get_uuid(ectx *c, const char *name, const char **out)
{
    int rc = get_str(c, name, 1, out);
    if (rc)
        return rc;
    if (!rcpt_is_uuid4(*out))
        return FAIL(c, name, "must be a UUIDv4");
    return RCPT_OK;
}

static int get_time(ectx *c, const char *name, int required, const char **out)
{
    int rc = get_str(c, name, required, out);
    if (rc || !*out)
        return rc;
    if (!**out) {
        *out = NULL;
        return RCPT_OK;
    }
    if (!rcpt_iso_valid(*out))
        return FAIL(c, name, "must be an ISO 8601 timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff][+00:00])");
    return RCPT_OK;
}

/* integer >= min; *present = 0 when absent and not required */
static int get_int(ectx *c, const char *name, long long min, int required, long long *out,
                   int *present)
{
    const rcpt_av *v = field(c, name);
    if (present)
        *present = v != NULL;
    if (!v)
        return required ? FAIL(c, name, "is required") : RCPT_OK;
    if (v->type != RCPT_AV_NUM || !isfinite(v->num) || v->num != floor(v->num) ||
        fabs(v->num) > 9.0e15)
        return FAIL(c, name, "must be an integer");
    if (v->num < (double)min)
        return min == 1 ? FAIL(c, name, "must be greater than 0")
                        : FAIL(c, name, "must be >= %lld", min);
    *out = (long long)v->num;
    return RCPT_OK;
}

static int get_enum(ectx *c, const char *name, const char *const *allowed, const char *dflt,
                    const char **out)
{
    int rc = get_str(c, name, 0, out);
    if (rc)
        return rc;
    if (!*out || !**out) {
        if (!dflt)
            return FAIL(c, name, "is required");
        *out = dflt;
        return RCPT_OK;
    }
    for (int i = 0; allowed[i]; i++)
        if (strcmp(*out, allowed[i]) == 0)
            return RCPT_OK;
    char list[200] = "";
    for (int i = 0; allowed[i]; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, allowed[i], sizeof list - strlen(list) - 1);
    }
    return FAIL(c, name, "must be one of %s", list);
}

static int num_of(ectx *c, const rcpt_av *m, const char *path, const char *key, double *out)
{
    const rcpt_av *v = rcpt_m_get(m, key);
    if (!v || v->type == RCPT_AV_NULL)
        return FAIL(c, path, "missing key '%s'", key);
    if (v->type != RCPT_AV_NUM || !isfinite(v->num))
        return FAIL(c, path, "%s must be a finite number", key);
    *out = v->num;
    return RCPT_OK;
}

static int get_point(ectx *c, const char *name, rcpt_point *pt)
{
    const rcpt_av *v = field(c, name);
    if (!v)
        return FAIL(c, name, "is required");
    if (v->type != RCPT_AV_M)
        return FAIL(c, name, "must be a table {x, y}");
    int rc = num_of(c, v, name, "x", &pt->x);
    return rc ? rc : num_of(c, v, name, "y", &pt->y);
}

static int get_num(ectx *c, const char *name, double *out)
{
    const rcpt_av *v = field(c, name);
    if (!v)
        return FAIL(c, name, "is required");
    if (v->type != RCPT_AV_NUM || !isfinite(v->num))
        return FAIL(c, name, "must be a finite number");
    *out = v->num;
    return RCPT_OK;
}

static const char *const STATUS_EMB[] = {"NONE", "PENDING", "SUCCESS", "FAILED", "NOISE", NULL};

static int get_geom(ectx *c, rcpt_ocr_geom *g, int letter)
{
    const rcpt_av *t = field(c, "text");
    if (!t)
        return FAIL(c, "text", "is required");
    if (t->type != RCPT_AV_S)
        return FAIL(c, "text", "must be a string");
    if (!utf8_valid(t->s, t->len))
        return FAIL(c, "text", "must be valid UTF-8");
    if (letter && !one_grapheme(t->s, t->len))
        return FAIL(c, "text", "must be exactly one character");
    g->text = t->s;
    g->text_len = t->len;
    const rcpt_av *bb = field(c, "bounding_box");
    if (!bb)
        return FAIL(c, "bounding_box", "is required");
    if (bb->type != RCPT_AV_M)
        return FAIL(c, "bounding_box", "must be a table {x, y, width, height}");
    int rc;
    if ((rc = num_of(c, bb, "bounding_box", "x", &g->bbox.x)) ||
        (rc = num_of(c, bb, "bounding_box", "y", &g->bbox.y)) ||
        (rc = num_of(c, bb, "bounding_box", "width", &g->bbox.width)) ||
        (rc = num_of(c, bb, "bounding_box", "height", &g->bbox.height)) ||
        (rc = get_point(c, "top_left", &g->top_left)) ||
        (rc = get_point(c, "top_right", &g->top_right)) ||
        (rc = get_point(c, "bottom_left", &g->bottom_left)) ||
        (rc = get_point(c, "bottom_right", &g->bottom_right)) ||
        (rc = get_num(c, "angle_degrees", &g->angle_degrees)) ||
        (rc = get_num(c, "angle_radians", &g->angle_radians)) ||
        (rc = get_num(c, "confidence", &g->confidence)))
        return rc;
    if (!(g->confidence > 0 && g->confidence <= 1))
        return FAIL(c, "confidence", "must be > 0 and <= 1");
    return RCPT_OK;
}

/* ---- geometry serialisation (shared with the bulk image write) ------------ */

static int set_dec(rcpt_av *m, const char *name, double v, int d)
{
    char tmp[480];
    if (rcpt_fmt_decimal(v, d, tmp, sizeof tmp) < 0)
        return RCPT_EINVAL;
    return rcpt_m_set_n(m, name, tmp);
}

static int set_point(rcpt_av *m, const char *name, rcpt_point p, int d)
{
    rcpt_av *v = rcpt_m_set(m, name, RCPT_AV_M);
    if (!v)
        return RCPT_ENOMEM;
    int rc = set_dec(v, "x", p.x, d);
    return rc ? rc : set_dec(v, "y", p.y, d);
}

static int set_geom(rcpt_av *m, const rcpt_ocr_geom *g)
{
    int rc = rcpt_m_set_s(m, "text", g->text, g->text_len);
    rcpt_av *bb = rcpt_m_set(m, "bounding_box", RCPT_AV_M);
    if (rc || !bb)
        return RCPT_ENOMEM;
    if ((rc = set_dec(bb, "x", g->bbox.x, RCPT_DP_GEOM)) ||
        (rc = set_dec(bb, "y", g->bbox.y, RCPT_DP_GEOM)) ||
        (rc = set_dec(bb, "width", g->bbox.width, RCPT_DP_GEOM)) ||
        (rc = set_dec(bb, "height", g->bbox.height, RCPT_DP_GEOM)) ||
        (rc = set_point(m, "top_right", g->top_right, RCPT_DP_GEOM)) ||
        (rc = set_point(m, "top_left", g->top_left, RCPT_DP_GEOM)) ||
        (rc = set_point(m, "bottom_right", g->bottom_right, RCPT_DP_GEOM)) ||
        (rc = set_point(m, "bottom_left", g->bottom_left, RCPT_DP_GEOM)) ||
        (rc = set_dec(m, "angle_degrees", g->angle_degrees, RCPT_DP_ANGLE)) ||
        (rc = set_dec(m, "angle_radians", g->angle_radians, RCPT_DP_ANGLE)) ||
        (rc = set_dec(m, "confidence", g->confidence, RCPT_DP_CONF)))
        return rc;
    return RCPT_OK;
}

/* ---- keys ------------------------------------------------------------------- */

static int setf(rcpt_av *m, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int setf(rcpt_av *m, const char *name, const char *fmt, ...)
{
    rcpt_buf b = RCPT_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    rcpt_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    int rc = b.oom ? RCPT_ENOMEM : rcpt_m_set_s(m, name, b.data ? b.data : "", b.len);
    rcpt_buf_free(&b);
    return rc;
}

/* ---- the builders -------------------------------------------------------------- */

typedef struct ids {
    const char *image_id;
    long long receipt_id, line_id, word_id, letter_id;
} ids;

static int geom_ids(ectx *c, const char *type, ids *d)
{
    int rc, rec = strncmp(type, "RECEIPT_", 8) == 0;
    const char *base = rec ? type + 8 : type;
    memset(d, 0, sizeof *d);
    if ((rc = get_uuid(c, "image_id", &d->image_id)))
        return rc;
    if (rec && (rc = get_int(c, "receipt_id", 1, 1, &d->receipt_id, NULL)))
        return rc;
    /* §4.2: Line and Letter ids > 0, Word ids >= 0; receipt words and
     * letters >= 0, receipt lines > 0 */
    long long lmin = 1, wmin = 0, cmin = rec ? 0 : 1;
    if (strcmp(base, "LINE") == 0)
        return get_int(c, "line_id", 1, 1, &d->line_id, NULL);
    if (strcmp(base, "WORD") == 0) {
        lmin = 0;
    } else { /* LETTER */
        lmin = rec ? 0 : 1;
        wmin = rec ? 0 : 1;
    }
    if ((rc = get_int(c, "line_id", lmin, 1, &d->line_id, NULL)) ||
        (rc = get_int(c, "word_id", wmin, 1, &d->word_id, NULL)))
        return rc;
    if (strcmp(base, "LETTER") == 0)
        return get_int(c, "letter_id", cmin, 1, &d->letter_id, NULL);
    return RCPT_OK;
}

static int build_geom(ectx *c, const char *type, rcpt_item *it)
{
    ids d;
    rcpt_ocr_geom g;
    int rc;
    int rec = strncmp(type, "RECEIPT_", 8) == 0;
    const char *base = rec ? type + 8 : type;
    int is_word = strcmp(base, "WORD") == 0, is_letter = strcmp(base, "LETTER") == 0;
    if ((rc = geom_ids(c, type, &d)) || (rc = get_geom(c, &g, is_letter)))
        return rc;
    const char *status = NULL, *ed_type = NULL, *ed_value = NULL;
    size_t ed_type_len = 0, ed_value_len = 0;
    const rcpt_av *edv = NULL;
    if (rec && !is_letter && (rc = get_enum(c, "embedding_status", STATUS_EMB, "NONE", &status)))
        return rc;
    if (is_word && (edv = field(c, "extracted_data"))) {
        if (edv->type != RCPT_AV_M)
            return FAIL(c, "extracted_data", "must be a table {type, value} or nil");
        /* kept byte for byte, NULs included, like the text */
        const rcpt_av *t = rcpt_m_get(edv, "type"), *v = rcpt_m_get(edv, "value");
        if (!t || t->type != RCPT_AV_S || !t->len || !utf8_valid(t->s, t->len))
            return FAIL(c, "extracted_data", "type must be a non-empty UTF-8 string");
        if (v && v->type != RCPT_AV_NULL && (v->type != RCPT_AV_S || !utf8_valid(v->s, v->len)))
            return FAIL(c, "extracted_data", "value must be a UTF-8 string");
        ed_type = t->s;
        ed_type_len = t->len;
        if (v && v->type == RCPT_AV_S) {
            ed_value = v->s;
            ed_value_len = v->len;
        }
    }
    int is_noise = 0;
    if (rec && !is_letter) {
        const rcpt_av *n = field(c, "is_noise");
        if (n && n->type != RCPT_AV_BOOL)
            return FAIL(c, "is_noise", "must be a boolean");
        /* §3.2 sets ReceiptWord.is_noise = is_noise_text(text): the OCR
         * doc path takes the parser's flag; a caller building a receipt
         * word by hand passes it (rcpt.ocr.is_noise), default false */
        is_noise = n ? n->b : 0;
    }
    const char *id = d.image_id;
    char sk[160];
    if (!rec) {
        if (strcmp(base, "LINE") == 0)
            snprintf(sk, sizeof sk, "LINE#%05lld", d.line_id);
        else if (is_word)
            snprintf(sk, sizeof sk, "LINE#%05lld#WORD#%05lld", d.line_id, d.word_id);
        else
            snprintf(sk, sizeof sk, "LINE#%05lld#WORD#%05lld#LETTER#%05lld", d.line_id, d.word_id, d.letter_id);
    } else {
        if (strcmp(base, "LINE") == 0)
            snprintf(sk, sizeof sk, "RECEIPT#%05lld#LINE#%05lld", d.receipt_id, d.line_id);
        else if (is_word)
            snprintf(sk, sizeof sk, "RECEIPT#%05lld#LINE#%05lld#WORD#%05lld", d.receipt_id, d.line_id, d.word_id);
        else
            snprintf(sk, sizeof sk, "RECEIPT#%05lld#LINE#%05lld#WORD#%05lld#LETTER#%05lld", d.receipt_id,
                     d.line_id, d.word_id, d.letter_id);
    }
    if ((rc = setf(it, "PK", "IMAGE#%s", id)) || (rc = rcpt_m_set_str(it, "SK", sk)))
        return rc;
    if (!rec && strcmp(base, "LINE") == 0) {
        if ((rc = setf(it, "GSI1PK", "IMAGE#%s", id)) || (rc = rcpt_m_set_str(it, "GSI1SK", sk)))
            return rc;
    } else if (!rec && is_word) {
        if ((rc = setf(it, "GSI2PK", "IMAGE#%s", id)) || (rc = rcpt_m_set_str(it, "GSI2SK", sk)))
            return rc;
    } else if (rec && !is_letter) {
        if ((rc = setf(it, "GSI1PK", "EMBEDDING_STATUS#%s", status)) ||
            (rc = setf(it, "GSI1SK", "%s#IMAGE#%s#%s", is_word ? "WORD" : "LINE", id, sk)))
            return rc;
        if (is_word && ((rc = rcpt_m_set_str(it, "GSI2PK", "RECEIPT")) ||
                        (rc = setf(it, "GSI2SK", "IMAGE#%s#%s", id, sk))))
            return rc;
        if ((rc = setf(it, "GSI3PK", "IMAGE#%s#RECEIPT#%05lld", id, d.receipt_id)) ||
            (rc = rcpt_m_set_str(it, "GSI3SK", is_word ? "WORD" : "LINE")))
            return rc;
    }
    if ((rc = rcpt_m_set_str(it, "TYPE", type)) || (rc = set_geom(it, &g)))
        return rc;
    if (is_word) {
        if (ed_type) {
            rcpt_av *m = rcpt_m_set(it, "extracted_data", RCPT_AV_M);
            if (!m || rcpt_m_set_s(m, "type", ed_type, ed_type_len) ||
                rcpt_m_set_s(m, "value", ed_value ? ed_value : "", ed_value_len))
                return RCPT_ENOMEM;
        } else if ((rc = rcpt_m_set_null(it, "extracted_data"))) {
            return rc;
        }
    }
    if (rec && !is_letter) {
        if ((rc = rcpt_m_set_str(it, "embedding_status", status)) ||
            (rc = rcpt_m_set_bool(it, "is_noise", is_noise)) ||
            (rc = rcpt_m_set_str(it, "image_id", id)) ||
            (rc = rcpt_m_set_int(it, "receipt_id", d.receipt_id)) ||
            (rc = rcpt_m_set_int(it, "line_id", d.line_id)))
            return rc;
        if (is_word && (rc = rcpt_m_set_int(it, "word_id", d.word_id)))
            return rc;
    }
    return RCPT_OK;
}

static const char *const CDN_KEYS[] = {
    "cdn_s3_key", "cdn_webp_s3_key", "cdn_avif_s3_key",
    "cdn_thumbnail_s3_key", "cdn_thumbnail_webp_s3_key", "cdn_thumbnail_avif_s3_key",
    "cdn_small_s3_key", "cdn_small_webp_s3_key", "cdn_small_avif_s3_key",
    "cdn_medium_s3_key", "cdn_medium_webp_s3_key", "cdn_medium_avif_s3_key", NULL};

/* width, height, timestamp_added, raw bucket/key; then sha256/cdn (after
 * the entity's own fields, as in the original) */
static int image_common(ectx *c, rcpt_item *it)
{
    long long w, h;
    const char *ts, *rb, *rk;
    int rc;
    if ((rc = get_int(c, "width", 1, 1, &w, NULL)) || (rc = get_int(c, "height", 1, 1, &h, NULL)) ||
        (rc = get_time(c, "timestamp_added", 1, &ts)) ||
        (rc = get_str(c, "raw_s3_bucket", 1, &rb)) || (rc = get_str(c, "raw_s3_key", 1, &rk)))
        return rc;
    if ((rc = rcpt_m_set_int(it, "width", w)) || (rc = rcpt_m_set_int(it, "height", h)) ||
        (rc = rcpt_m_set_str(it, "timestamp_added", ts)) ||
        (rc = rcpt_m_set_str(it, "raw_s3_bucket", rb)) || (rc = rcpt_m_set_str(it, "raw_s3_key", rk)))
        return rc;
    return RCPT_OK;
}

static int image_cdn(ectx *c, rcpt_item *it)
{
    const char *s;
    int rc;
    if ((rc = get_str(c, "sha256", 0, &s)) || (rc = rcpt_m_set_s_or_null(it, "sha256", s)) ||
        (rc = get_str(c, "cdn_s3_bucket", 0, &s)) || (rc = rcpt_m_set_s_or_null(it, "cdn_s3_bucket", s)))
        return rc;
    for (int i = 0; CDN_KEYS[i]; i++)
        if ((rc = get_str(c, CDN_KEYS[i], 0, &s)) || (rc = rcpt_m_set_s_or_null(it, CDN_KEYS[i], s)))
            return rc;
    return RCPT_OK;
}

static int build_image(ectx *c, rcpt_item *it)
{
    static const char *const TYPES[] = {"SCAN", "PHOTO", "NATIVE", NULL};
    const char *id, *itype;
    long long count = 0;
    int has_count, rc;
    if ((rc = get_uuid(c, "image_id", &id)) || (rc = get_enum(c, "image_type", TYPES, "SCAN", &itype)) ||
        (rc = get_int(c, "receipt_count", 0, 0, &count, &has_count)))
        return rc;
    if ((rc = setf(it, "PK", "IMAGE#%s", id)) || (rc = rcpt_m_set_str(it, "SK", "IMAGE")) ||
        (rc = setf(it, "GSI1PK", "IMAGE#%s", id)) || (rc = rcpt_m_set_str(it, "GSI1SK", "IMAGE")) ||
        (rc = setf(it, "GSI2PK", "IMAGE#%s", id)) || (rc = rcpt_m_set_str(it, "GSI2SK", "IMAGE")) ||
        (rc = setf(it, "GSI3PK", "IMAGE#%s", itype)) ||
        (rc = setf(it, "GSI3SK", "NUM_RECEIPTS#%05lld", has_count ? count : 0)) ||
        (rc = rcpt_m_set_str(it, "TYPE", "IMAGE")) || (rc = image_common(c, it)) ||
        (rc = image_cdn(c, it)) || (rc = rcpt_m_set_str(it, "image_type", itype)))
        return rc;
    return has_count ? rcpt_m_set_int(it, "receipt_count", count) : rcpt_m_set_null(it, "receipt_count");
}

static int build_receipt(ectx *c, rcpt_item *it)
{
    const char *id;
    long long rid;
    rcpt_point tl, tr, bl, br;
    int rc;
    if ((rc = get_uuid(c, "image_id", &id)) || (rc = get_int(c, "receipt_id", 1, 1, &rid, NULL)) ||
        (rc = get_point(c, "top_left", &tl)) || (rc = get_point(c, "top_right", &tr)) ||
        (rc = get_point(c, "bottom_left", &bl)) || (rc = get_point(c, "bottom_right", &br)))
        return rc;
    /* DESIGN.md: every Receipt uses one convention, normalised y-up like the
     * lines; a y-down (PHOTO-style) set of corners is refused here. */
    if (tl.y < bl.y || tr.y < br.y)
        return FAIL(c, tl.y < bl.y ? "top_left" : "top_right",
                    "y is below the bottom corner's (corners must be normalised y-up)");
    if ((rc = setf(it, "PK", "IMAGE#%s", id)) || (rc = setf(it, "SK", "RECEIPT#%05lld", rid)) ||
        (rc = setf(it, "GSI1PK", "IMAGE#%s", id)) || (rc = setf(it, "GSI1SK", "RECEIPT#%05lld", rid)) ||
        (rc = rcpt_m_set_str(it, "GSI2PK", "RECEIPT")) ||
        (rc = setf(it, "GSI2SK", "IMAGE#%s#RECEIPT#%05lld", id, rid)) ||
        (rc = rcpt_m_set_str(it, "TYPE", "RECEIPT")) || (rc = image_common(c, it)) ||
        (rc = set_point(it, "top_left", tl, RCPT_DP_CORNER)) ||
        (rc = set_point(it, "top_right", tr, RCPT_DP_CORNER)) ||
        (rc = set_point(it, "bottom_left", bl, RCPT_DP_CORNER)) ||
        (rc = set_point(it, "bottom_right", br, RCPT_DP_CORNER)))
        return rc;
    return image_cdn(c, it);
}

static const char *const OCR_STATUS[] = {"PENDING", "COMPLETED", "FAILED", NULL};

static int build_ocr_job(ectx *c, rcpt_item *it)
{
    static const char *const JT[] = {"FIRST_PASS", "REFINEMENT", NULL};
    const char *id, *job, *b, *k, *ca, *ua, *st, *jt;
    long long rid = 0;
    int has_rid, rc;
    if ((rc = get_uuid(c, "image_id", &id)) || (rc = get_uuid(c, "job_id", &job)) ||
        (rc = get_str(c, "s3_bucket", 1, &b)) || (rc = get_str(c, "s3_key", 1, &k)) ||
        (rc = get_time(c, "created_at", 1, &ca)) || (rc = get_time(c, "updated_at", 0, &ua)) ||
        (rc = get_enum(c, "status", OCR_STATUS, "PENDING", &st)) ||
        (rc = get_enum(c, "job_type", JT, "FIRST_PASS", &jt)) ||
        (rc = get_int(c, "receipt_id", 1, 0, &rid, &has_rid)))
        return rc;
    if ((rc = setf(it, "PK", "IMAGE#%s", id)) || (rc = setf(it, "SK", "OCR_JOB#%s", job)) ||
        (rc = setf(it, "GSI1PK", "OCR_JOB_STATUS#%s", st)) || (rc = setf(it, "GSI1SK", "OCR_JOB#%s", job)) ||
        (rc = setf(it, "GSI2PK", "OCR_JOB_STATUS#%s", st)) || (rc = setf(it, "GSI2SK", "OCR_JOB#%s", job)) ||
        (rc = rcpt_m_set_str(it, "TYPE", "OCR_JOB")) || (rc = rcpt_m_set_str(it, "s3_bucket", b)) ||
        (rc = rcpt_m_set_str(it, "s3_key", k)) || (rc = rcpt_m_set_str(it, "created_at", ca)) ||
        (rc = rcpt_m_set_s_or_null(it, "updated_at", ua)) || (rc = rcpt_m_set_str(it, "status", st)) ||
        (rc = rcpt_m_set_str(it, "job_type", jt)))
        return rc;
    return has_rid ? rcpt_m_set_int(it, "receipt_id", rid) : rcpt_m_set_null(it, "receipt_id");
}

static int build_routing(ectx *c, rcpt_item *it)
{
    const char *id, *job, *b, *k, *ca, *ua, *st;
    long long count = 0;
    int rc;
    if ((rc = get_uuid(c, "image_id", &id)) || (rc = get_uuid(c, "job_id", &job)) ||
        (rc = get_str(c, "s3_bucket", 1, &b)) || (rc = get_str(c, "s3_key", 1, &k)) ||
        (rc = get_time(c, "created_at", 1, &ca)) || (rc = get_time(c, "updated_at", 0, &ua)) ||
        (rc = get_enum(c, "status", OCR_STATUS, NULL, &st)) ||
        (rc = get_int(c, "receipt_count", 0, 0, &count, NULL)))
        return rc;
    if ((rc = setf(it, "PK", "IMAGE#%s", id)) || (rc = setf(it, "SK", "ROUTING#%s", job)) ||
        (rc = setf(it, "GSI1PK", "OCR_ROUTING_DECISION_STATUS#%s", st)) ||
        (rc = setf(it, "GSI1SK", "ROUTING#%s", job)) ||
        (rc = rcpt_m_set_str(it, "TYPE", "OCR_ROUTING_DECISION")) ||
        (rc = rcpt_m_set_str(it, "s3_bucket", b)) || (rc = rcpt_m_set_str(it, "s3_key", k)) ||
        (rc = rcpt_m_set_str(it, "created_at", ca)) || (rc = rcpt_m_set_s_or_null(it, "updated_at", ua)) ||
        (rc = rcpt_m_set_int(it, "receipt_count", count)))
        return rc;
    return rcpt_m_set_str(it, "status", st);
}

/* ---- ReceiptMetadata validation_status (§4.7) ------------------------------- */

static int address_is_quality(const char *a)
{
    if (!a)
        return 0;
    double points = 0;
    int ntok = 0, has_number = 0, single_non_numeric = 0;
    char tok[128];
    const char *p = a;
    /* count tokens first: short alphabetic tokens count half only when
     * there is more than one token */
    for (const char *q = a; *q;) {
        while (*q && isspace((unsigned char)*q)) q++;
        if (!*q) break;
        ntok++;
        while (*q && !isspace((unsigned char)*q)) q++;
    }
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        size_t n = 0;
        while (*p && !isspace((unsigned char)*p)) {
            if (n < sizeof tok - 1 && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80))
                tok[n++] = *p;
            p++;
        }
        tok[n] = '\0';
        if (!n)
            continue;
        int digits = 0, alpha = 1;
        for (size_t i = 0; i < n; i++) {
            if (isdigit((unsigned char)tok[i])) digits++;
            if (isdigit((unsigned char)tok[i])) alpha = 0;
        }
        if (digits) {
            points += 1;
            has_number = 1;
        } else if (alpha && n >= 3) {
            points += 1;
        } else if (alpha && ntok > 1) {
            points += 0.5;
        }
        if (ntok == 1 && digits != (int)n)
            single_non_numeric = 1;
    }
    return points >= 2 || single_non_numeric || (has_number && ntok > 1);
}

const char *rcpt_metadata_status(const char *merchant_name, const char *address, const char *phone,
                                 const char *const *fields, size_t n, int min_match, int min_unsure)
{
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i];
        if (strcmp(f, "name") == 0) {
            size_t len = merchant_name ? strlen(merchant_name) : 0;
            const char *s = merchant_name;
            while (len && isspace((unsigned char)*s)) s++, len--;
            while (len && isspace((unsigned char)s[len - 1])) len--;
            count += len > 2;
        } else if (strcmp(f, "phone") == 0) {
            int d = 0;
            for (const char *s = phone ? phone : ""; *s; s++)
                d += isdigit((unsigned char)*s) != 0;
            count += d >= 7;
        } else if (strcmp(f, "address") == 0) {
            count += address_is_quality(address);
        } else {
            count++;
        }
    }
    if (count >= min_match)
        return "MATCHED";
    if (count >= min_unsure)
        return "UNSURE";
    return "NO_MATCH";
}

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *e;
    long x = strtol(v, &e, 10);
    return *e ? dflt : (int)x;
}

static int build_metadata(ectx *c, rcpt_item *it)
{
    static const char *const VB[] = {"PHONE_LOOKUP", "ADDRESS_LOOKUP", "NEARBY_LOOKUP",
                                     "TEXT_SEARCH", "INFERENCE", NULL};
    const char *id, *place, *name, *cat, *addr, *phone, *vb, *reason, *ts, *cp, *cn, *ca, *cph;
    long long rid;
    int rc;
    if ((rc = get_uuid(c, "image_id", &id)) || (rc = get_int(c, "receipt_id", 1, 1, &rid, NULL)) ||
        (rc = get_str(c, "place_id", 0, &place)) || (rc = get_str(c, "merchant_name", 0, &name)) ||
        (rc = get_str(c, "merchant_category", 0, &cat)) || (rc = get_str(c, "address", 0, &addr)) ||
        (rc = get_str(c, "phone_number", 0, &phone)) || (rc = get_enum(c, "validated_by", VB, NULL, &vb)) ||
        (rc = get_str(c, "reasoning", 0, &reason)) || (rc = get_time(c, "timestamp", 1, &ts)) ||
        (rc = get_str(c, "canonical_place_id", 0, &cp)) ||
        (rc = get_str(c, "canonical_merchant_name", 0, &cn)) ||
        (rc = get_str(c, "canonical_address", 0, &ca)) ||
        (rc = get_str(c, "canonical_phone_number", 0, &cph)))
        return rc;
    const rcpt_av *mf = field(c, "matched_fields");
    const char *fields[64];
    size_t nf = 0;
    if (mf) {
        if (mf->type != RCPT_AV_L && mf->type != RCPT_AV_SS)
            return FAIL(c, "matched_fields", "must be a list of strings");
        if (mf->n > 64)
            return FAIL(c, "matched_fields", "too many entries (max 64)");
        for (size_t i = 0; i < mf->n; i++) {
            if (mf->vals[i].type != RCPT_AV_S || !utf8_valid(mf->vals[i].s, mf->vals[i].len))
                return FAIL(c, "matched_fields", "entry %zu must be a string", i + 1);
            for (size_t k = 0; k < nf; k++)
                if (strcmp(fields[k], mf->vals[i].s) == 0)
                    return FAIL(c, "matched_fields", "must be unique ('%s' repeats)", fields[k]);
            fields[nf++] = mf->vals[i].s;
        }
    }
    const char *status = rcpt_metadata_status(name, addr, phone, fields, nf,
                                              env_int("MIN_FIELDS_FOR_MATCH", 2),
                                              env_int("MIN_FIELDS_FOR_UNSURE", 1));
    const char *mname = cn && *cn ? cn : (name ? name : "");
    rcpt_buf g = RCPT_BUF_INIT;
    rcpt_buf_puts(&g, "MERCHANT#");
    for (const char *s = mname; *s; s++)
        rcpt_buf_putc(&g, *s == ' ' ? '_' : (char)toupper((unsigned char)*s));
    char sk[64];
    snprintf(sk, sizeof sk, "RECEIPT#%05lld#METADATA", rid);
    rc = (g.oom ? RCPT_ENOMEM : 0);
    if (!rc)
        rc = setf(it, "PK", "IMAGE#%s", id);
    if (!rc) rc = rcpt_m_set_str(it, "SK", sk);
    if (!rc) rc = rcpt_m_set_s(it, "GSI1PK", g.data, g.len);
    rcpt_buf_free(&g);
    if (!rc) rc = setf(it, "GSI1SK", "IMAGE#%s#%s", id, sk);
    if (!rc && place && *place) {
        if (!(rc = setf(it, "GSI2PK", "PLACE#%s", place)))
            rc = setf(it, "GSI2SK", "IMAGE#%s#%s", id, sk);
    }
    if (rc || (rc = rcpt_m_set_str(it, "GSI3PK", "MERCHANT_VALIDATION")) ||
        (rc = setf(it, "GSI3SK", "STATUS#%s", status)) ||
        (rc = rcpt_m_set_str(it, "TYPE", "RECEIPT_METADATA")) ||
        (rc = rcpt_m_set_str(it, "place_id", place ? place : "")) ||
        (rc = rcpt_m_set_str(it, "merchant_name", name ? name : "")) ||
        (rc = rcpt_m_set_s_or_null(it, "merchant_category", cat)) ||
        (rc = rcpt_m_set_s_or_null(it, "address", addr)) ||
        (rc = rcpt_m_set_s_or_null(it, "phone_number", phone)))
        return rc;
    if (nf) {
        rcpt_av *ss = rcpt_m_set(it, "matched_fields", RCPT_AV_SS);
        if (!ss)
            return RCPT_ENOMEM;
        for (size_t i = 0; i < nf; i++) {
            rcpt_av *e = rcpt_l_push(ss, RCPT_AV_S);
            if (!e || !(e->s = strdup(fields[i])))
                return RCPT_ENOMEM;
            e->len = strlen(fields[i]);
        }
    }
    if ((rc = rcpt_m_set_s_or_null(it, "validated_by", vb)) ||
        (rc = rcpt_m_set_str(it, "timestamp", ts)) ||
        (rc = rcpt_m_set_s_or_null(it, "reasoning", reason)) ||
        (rc = rcpt_m_set_s_or_null(it, "canonical_place_id", cp)) ||
        (rc = rcpt_m_set_s_or_null(it, "canonical_merchant_name", cn)) ||
        (rc = rcpt_m_set_s_or_null(it, "canonical_address", ca)) ||
        (rc = rcpt_m_set_s_or_null(it, "canonical_phone_number", cph)))
        return rc;
    return rcpt_m_set_str(it, "validation_status", status);
}

static const char *const CSTATE[] = {"PENDING", "PROCESSING", "COMPLETED", "FAILED", NULL};

static int build_run(ectx *c, rcpt_item *it)
{
    const char *run, *id, *lp, *wp, *ls, *ws, *ca, *ua, *t[4], *le, *we;
    static const char *const TN[] = {"lines_started_at", "lines_finished_at", "words_started_at",
                                     "words_finished_at"};
    long long rid, lm = 0, wm = 0;
    int rc;
    if ((rc = get_uuid(c, "run_id", &run)) || (rc = get_uuid(c, "image_id", &id)) ||
        (rc = get_int(c, "receipt_id", 1, 1, &rid, NULL)) ||
        (rc = get_str(c, "lines_delta_prefix", 1, &lp)) || (rc = get_str(c, "words_delta_prefix", 1, &wp)) ||
        (rc = get_enum(c, "lines_state", CSTATE, "PENDING", &ls)) ||
        (rc = get_enum(c, "words_state", CSTATE, "PENDING", &ws)) ||
        (rc = get_int(c, "lines_merged_vectors", 0, 0, &lm, NULL)) ||
        (rc = get_int(c, "words_merged_vectors", 0, 0, &wm, NULL)) ||
        (rc = get_time(c, "created_at", 1, &ca)) || (rc = get_time(c, "updated_at", 0, &ua)) ||
        (rc = get_str(c, "lines_error", 0, &le)) || (rc = get_str(c, "words_error", 0, &we)))
        return rc;
    for (int i = 0; i < 4; i++)
        if ((rc = get_time(c, TN[i], 0, &t[i])))
            return rc;
    if ((rc = setf(it, "PK", "IMAGE#%s", id)) ||
        (rc = setf(it, "SK", "RECEIPT#%05lld#COMPACTION_RUN#%s", rid, run)) ||
        (rc = rcpt_m_set_str(it, "GSI1PK", "RUNS")) || (rc = setf(it, "GSI1SK", "CREATED_AT#%s", ca)) ||
        (rc = rcpt_m_set_str(it, "TYPE", "COMPACTION_RUN")) || (rc = rcpt_m_set_str(it, "run_id", run)) ||
        (rc = rcpt_m_set_str(it, "image_id", id)) || (rc = rcpt_m_set_int(it, "receipt_id", rid)) ||
        (rc = rcpt_m_set_str(it, "lines_delta_prefix", lp)) ||
        (rc = rcpt_m_set_str(it, "words_delta_prefix", wp)) ||
        (rc = rcpt_m_set_str(it, "lines_state", ls)) || (rc = rcpt_m_set_str(it, "words_state", ws)))
        return rc;
    for (int i = 0; i < 4; i++)
        if ((rc = rcpt_m_set_s_or_null(it, TN[i], t[i])))
            return rc;
    if ((rc = rcpt_m_set_s_or_null(it, "lines_error", le)) ||
        (rc = rcpt_m_set_s_or_null(it, "words_error", we)) ||
        (rc = rcpt_m_set_int(it, "lines_merged_vectors", lm)) ||
        (rc = rcpt_m_set_int(it, "words_merged_vectors", wm)) ||
        (rc = rcpt_m_set_str(it, "created_at", ca)))
        return rc;
    return rcpt_m_set_s_or_null(it, "updated_at", ua);
}

static int build_lock(ectx *c, rcpt_item *it)
{
    static const char *const COLL[] = {"lines", "words", NULL};
    const char *lock, *owner, *exp, *coll, *hb;
    int rc;
    if ((rc = get_str(c, "lock_id", 1, &lock)) || (rc = get_uuid(c, "owner", &owner)) ||
        (rc = get_time(c, "expires", 1, &exp)) || (rc = get_enum(c, "collection", COLL, NULL, &coll)) ||
        (rc = get_time(c, "heartbeat", 0, &hb)))
        return rc;
    if ((rc = setf(it, "PK", "LOCK#%s#%s", coll, lock)) || (rc = rcpt_m_set_str(it, "SK", "LOCK")) ||
        (rc = setf(it, "GSI1PK", "LOCK#%s", coll)) || (rc = setf(it, "GSI1SK", "EXPIRES#%s", exp)) ||
        (rc = rcpt_m_set_str(it, "TYPE", "COMPACTION_LOCK")) || (rc = rcpt_m_set_str(it, "owner", owner)) ||
        (rc = rcpt_m_set_str(it, "expires", exp)) || (rc = rcpt_m_set_str(it, "collection", coll)))
        return rc;
    return rcpt_m_set_s_or_null(it, "heartbeat", hb);
}

/* ---- PlacesCache (§5.7) -------------------------------------------------------- */

static void trim(const char *s, const char **b, size_t *n)
{
    size_t len = strlen(s);
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    *b = s;
    *n = len;
}

static void md5_hex8(const char *s, size_t n, char out[9])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(s, n, md, &mdlen, EVP_md5(), NULL);
    for (int i = 0; i < 4; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void pad_left(rcpt_buf *b, const char *s, size_t n, size_t width)
{
    for (size_t i = n; i < width; i++)
        rcpt_buf_putc(b, '_');
    rcpt_buf_append(b, s, n);
}

char *rcpt_places_sk(const char *type, const char *value, rcpt_err *err)
{
    const char *v;
    size_t n;
    trim(value, &v, &n);
    if (!n) {
        rcpt_err_set(err, RCPT_EINVAL, "PLACES_CACHE.search_value: must not be empty");
        return NULL;
    }
    rcpt_buf b = RCPT_BUF_INIT, t = RCPT_BUF_INIT;
    rcpt_buf_puts(&b, "VALUE#");
    if (strcmp(type, "PHONE") == 0) {
        for (size_t i = 0; i < n; i++)
            if (isdigit((unsigned char)v[i]) || strchr("()+-", v[i]))
                rcpt_buf_putc(&t, v[i]);
        pad_left(&b, t.data ? t.data : "", t.len, 30);
    } else if (strcmp(type, "ADDRESS") == 0) {
        char h[9];
        md5_hex8(v, n, h);
        rcpt_buf_puts(&b, h);
        rcpt_buf_putc(&b, '_');
        pad_left(&b, v, n, 400);
    } else if (strcmp(type, "URL") == 0) {
        for (size_t i = 0; i < n; i++)
            rcpt_buf_putc(&t, v[i] == ' ' ? '_' : (char)tolower((unsigned char)v[i]));
        pad_left(&b, t.data ? t.data : "", t.len, 100);
    } else {
        rcpt_err_set(err, RCPT_EINVAL, "PLACES_CACHE.search_type: must be one of ADDRESS, PHONE, URL");
        rcpt_buf_free(&b);
        rcpt_buf_free(&t);
        return NULL;
    }
    rcpt_buf_free(&t);
    if (b.oom) {
        rcpt_buf_free(&b);
        rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        return NULL;
    }
    return rcpt_buf_detach(&b, NULL);
}

/* lowercase, blvd/st/ave/rd (optional '.') expanded, punctuation removed,
 * whitespace collapsed */
static char *normalize_address(const char *s)
{
    rcpt_buf b = RCPT_BUF_INIT;
    const char *p = s;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        char tok[256];
        size_t n = 0;
        for (const char *q = w; q < p && n < sizeof tok - 1; q++)
            tok[n++] = (char)tolower((unsigned char)*q);
        tok[n] = '\0';
        /* abbreviation with optional '.' and trailing punctuation */
        char core[256];
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!ispunct((unsigned char)tok[i]))
                core[k++] = tok[i];
        core[k] = '\0';
        const char *exp = NULL;
        if (strcmp(core, "blvd") == 0) exp = "boulevard";
        else if (strcmp(core, "st") == 0) exp = "street";
        else if (strcmp(core, "ave") == 0) exp = "avenue";
        else if (strcmp(core, "rd") == 0) exp = "road";
        if (!k)
            continue;
        if (b.len)
            rcpt_buf_putc(&b, ' ');
        rcpt_buf_puts(&b, exp ? exp : core);
    }
    rcpt_buf_putc(&b, '\0');
    if (b.oom) {
        rcpt_buf_free(&b);
        return NULL;
    }
    return rcpt_buf_detach(&b, NULL);
}

static int build_places(ectx *c, rcpt_item *it)
{
    static const char *const ST[] = {"ADDRESS", "PHONE", "URL", NULL};
    const char *stype, *sval, *place, *resp, *lu;
    long long qc = 0, ttl = 0;
    int has_ttl, rc;
    if ((rc = get_enum(c, "search_type", ST, NULL, &stype)) ||
        (rc = get_str(c, "search_value", 1, &sval)) || (rc = get_str(c, "place_id", 0, &place)) ||
        (rc = get_str(c, "places_response", 0, &resp)) || (rc = get_time(c, "last_updated", 1, &lu)) ||
        (rc = get_int(c, "query_count", 0, 0, &qc, NULL)) ||
        (rc = get_int(c, "time_to_live", 0, 0, &ttl, &has_ttl)))
        return rc;
    if (!has_ttl)
        ttl = (long long)time(NULL) + 30LL * 24 * 3600;
    char *sk = rcpt_places_sk(stype, sval, c->err);
    if (!sk)
        return c->err ? c->err->code : RCPT_EINVAL;
    rc = setf(it, "PK", "PLACES#%s", stype);
    if (!rc) rc = rcpt_m_set_str(it, "SK", sk);
    free(sk);
    if (rc || (rc = rcpt_m_set_str(it, "GSI1PK", "PLACE_ID")) ||
        (rc = setf(it, "GSI1SK", "PLACE_ID#%s", place ? place : "")) ||
        (rc = rcpt_m_set_str(it, "TYPE", "PLACES_CACHE")) ||
        (rc = rcpt_m_set_str(it, "place_id", place ? place : "")) ||
        (rc = rcpt_m_set_str(it, "places_response", resp ? resp : "{}")) ||
        (rc = rcpt_m_set_str(it, "last_updated", lu)) || (rc = rcpt_m_set_int(it, "query_count", qc)) ||
        (rc = rcpt_m_set_str(it, "search_type", stype)) || (rc = rcpt_m_set_str(it, "search_value", sval)))
        return rc;
    if (strcmp(stype, "ADDRESS") == 0) {
        const char *v;
        size_t n;
        trim(sval, &v, &n);
        char h[9];
        md5_hex8(v, n, h);
        char *norm = normalize_address(sval);
        if (!norm)
            return RCPT_ENOMEM;
        rc = rcpt_m_set_str(it, "normalized_value", norm);
        free(norm);
        if (rc || (rc = rcpt_m_set_str(it, "value_hash", h)))
            return rc;
    }
    return rcpt_m_set_int(it, "time_to_live", ttl);
}

/* ---- dispatch ------------------------------------------------------------------------ */

static const char *const KNOWN[] = {
    "IMAGE", "LINE", "WORD", "LETTER", "RECEIPT", "RECEIPT_LINE", "RECEIPT_WORD",
    "RECEIPT_LETTER", "OCR_JOB", "OCR_ROUTING_DECISION", "RECEIPT_METADATA",
    "COMPACTION_RUN", "COMPACTION_LOCK", "PLACES_CACHE", NULL};

int rcpt_entity_known(const char *type)
{
    for (int i = 0; KNOWN[i]; i++)
        if (strcmp(type, KNOWN[i]) == 0)
            return 1;
    return 0;
}

static int is_geom(const char *t)
{
    return !strcmp(t, "LINE") || !strcmp(t, "WORD") || !strcmp(t, "LETTER") ||
           !strcmp(t, "RECEIPT_LINE") || !strcmp(t, "RECEIPT_WORD") || !strcmp(t, "RECEIPT_LETTER");
}

int rcpt_entity_item(const char *type, const rcpt_av *plain, rcpt_item **out, rcpt_err *err)
{
    if (!rcpt_entity_known(type))
        return rcpt_err_set(err, RCPT_EINVAL, "unknown entity type '%s'", type);
    if (!plain || plain->type != RCPT_AV_M)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: must be a table of fields", type);
    ectx c = {plain, type, err};
    rcpt_item *it = rcpt_item_new();
    if (!it)
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    int rc;
    if (is_geom(type)) rc = build_geom(&c, type, it);
    else if (!strcmp(type, "IMAGE")) rc = build_image(&c, it);
    else if (!strcmp(type, "RECEIPT")) rc = build_receipt(&c, it);
    else if (!strcmp(type, "OCR_JOB")) rc = build_ocr_job(&c, it);
    else if (!strcmp(type, "OCR_ROUTING_DECISION")) rc = build_routing(&c, it);
    else if (!strcmp(type, "RECEIPT_METADATA")) rc = build_metadata(&c, it);
    else if (!strcmp(type, "COMPACTION_RUN")) rc = build_run(&c, it);
    else if (!strcmp(type, "COMPACTION_LOCK")) rc = build_lock(&c, it);
    else rc = build_places(&c, it);
    if (rc) {
        if (rc == RCPT_ENOMEM)
            rcpt_err_set(err, rc, "%s: out of memory", type);
        rcpt_item_free(it);
        return rc;
    }
    *out = it;
    return RCPT_OK;
}

/* keys only: build from the id fields with dummy values for the rest would
 * validate too much, so keys are composed here directly */
static int key_ids(ectx *c, const char *type, char *pk, char *sk, size_t cap, int prefix)
{
    const char *id, *job;
    long long rid = 0, l = 0, w = 0, ch = 0;
    int has_r = 0, has_l = 0, has_w = 0, has_c = 0, rc;
    if (!strcmp(type, "COMPACTION_LOCK")) {
        const char *lock, *coll;
        static const char *const COLL[] = {"lines", "words", NULL};
        if ((rc = get_enum(c, "collection", COLL, NULL, &coll)))
            return rc;
        if (prefix && !field(c, "lock_id"))
            return FAIL(c, "lock_id", "is required (all locks of a collection: GSI1 LOCK#%s)", coll);
        if ((rc = get_str(c, "lock_id", 1, &lock)))
            return rc;
        snprintf(pk, cap, "LOCK#%s#%s", coll, lock);
        snprintf(sk, cap, "LOCK");
        return RCPT_OK;
    }
    if (!strcmp(type, "PLACES_CACHE")) {
        static const char *const ST[] = {"ADDRESS", "PHONE", "URL", NULL};
        const char *stype, *sval;
        if ((rc = get_enum(c, "search_type", ST, NULL, &stype)))
            return rc;
        snprintf(pk, cap, "PLACES#%s", stype);
        if (prefix) {
            snprintf(sk, cap, "VALUE#");
            return RCPT_OK;
        }
        if ((rc = get_str(c, "search_value", 1, &sval)))
            return rc;
        char *s = rcpt_places_sk(stype, sval, c->err);
        if (!s)
            return RCPT_EINVAL;
        snprintf(sk, cap, "%s", s);
        free(s);
        return RCPT_OK;
    }
    if ((rc = get_uuid(c, "image_id", &id)))
        return rc;
    snprintf(pk, cap, "IMAGE#%s", id);
    int rec = !strncmp(type, "RECEIPT", 7) || !strcmp(type, "COMPACTION_RUN");
    if ((rc = get_int(c, "receipt_id", 0, !prefix && rec, &rid, &has_r)) ||
        (rc = get_int(c, "line_id", 0, 0, &l, &has_l)) || (rc = get_int(c, "word_id", 0, 0, &w, &has_w)) ||
        (rc = get_int(c, "letter_id", 0, 0, &ch, &has_c)))
        return rc;
    const char *base = !strncmp(type, "RECEIPT_", 8) && is_geom(type) ? type + 8 : type;
    char head[48] = "";
    if (is_geom(type) && base != type) {
        if (!has_r)
            return FAIL(c, "receipt_id", "is required");
        snprintf(head, sizeof head, "RECEIPT#%05lld#", rid);
    }
    if (is_geom(type)) {
        int need = !strcmp(base, "LINE") ? 1 : !strcmp(base, "WORD") ? 2 : 3;
        if (!prefix) {
            if (!has_l) return FAIL(c, "line_id", "is required");
            if (need >= 2 && !has_w) return FAIL(c, "word_id", "is required");
            if (need >= 3 && !has_c) return FAIL(c, "letter_id", "is required");
        }
        if (!prefix || (has_l && need == 1))
            snprintf(sk, cap, need == 1 ? "%sLINE#%05lld" : need == 2 ? "%sLINE#%05lld#WORD#%05lld"
                                                                  : "%sLINE#%05lld#WORD#%05lld#LETTER#%05lld",
                     head, l, w, ch);
        else if (!has_l)
            snprintf(sk, cap, "%sLINE#", head);
        else if (!has_w || need == 2)
            snprintf(sk, cap, need == 2 && has_w ? "%sLINE#%05lld#WORD#%05lld" : "%sLINE#%05lld#", head, l, w);
        else
            snprintf(sk, cap, has_c ? "%sLINE#%05lld#WORD#%05lld#LETTER#%05lld" : "%sLINE#%05lld#WORD#%05lld#",
                     head, l, w, ch);
        return RCPT_OK;
    }
    if (!strcmp(type, "IMAGE")) {
        snprintf(sk, cap, "IMAGE");
    } else if (!strcmp(type, "RECEIPT")) {
        if (has_r) snprintf(sk, cap, "RECEIPT#%05lld", rid);
        else snprintf(sk, cap, "RECEIPT#");
    } else if (!strcmp(type, "OCR_JOB") || !strcmp(type, "OCR_ROUTING_DECISION")) {
        const char *tag = !strcmp(type, "OCR_JOB") ? "OCR_JOB#" : "ROUTING#";
        const rcpt_av *jv = field(c, "job_id");
        if (prefix && !jv) {
            snprintf(sk, cap, "%s", tag);
            return RCPT_OK;
        }
        if ((rc = get_uuid(c, "job_id", &job)))
            return rc;
        snprintf(sk, cap, "%s%s", tag, job);
    } else if (!strcmp(type, "RECEIPT_METADATA")) {
        if (has_r) snprintf(sk, cap, "RECEIPT#%05lld#METADATA", rid);
        else snprintf(sk, cap, "RECEIPT#");
    } else { /* COMPACTION_RUN */
        const rcpt_av *rv = field(c, "run_id");
        if (prefix && !rv) {
            if (has_r) snprintf(sk, cap, "RECEIPT#%05lld#COMPACTION_RUN#", rid);
            else snprintf(sk, cap, "RECEIPT#");
            return RCPT_OK;
        }
        const char *run;
        if ((rc = get_uuid(c, "run_id", &run)))
            return rc;
        snprintf(sk, cap, "RECEIPT#%05lld#COMPACTION_RUN#%s", rid, run);
    }
    return RCPT_OK;
}

static int key_common(const char *type, const rcpt_av *plain, char **pk, char **sk, int prefix,
                      rcpt_err *err)
{
    if (!rcpt_entity_known(type))
        return rcpt_err_set(err, RCPT_EINVAL, "unknown entity type '%s'", type);
    if (!plain || plain->type != RCPT_AV_M)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: must be a table of ids", type);
    ectx c = {plain, type, err};
    char p[600], s[600];
    int rc = key_ids(&c, type, p, s, sizeof p, prefix);
    if (rc)
        return rc;
    *pk = strdup(p);
    *sk = strdup(s);
    if (!*pk || !*sk) {
        free(*pk);
        free(*sk);
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    }
    return RCPT_OK;
}

int rcpt_entity_key(const char *type, const rcpt_av *plain, char **pk, char **sk, rcpt_err *err)
{
    return key_common(type, plain, pk, sk, 0, err);
}

int rcpt_entity_prefix(const char *type, const rcpt_av *plain, char **pk, char **sk_prefix,
                       rcpt_err *err)
{
    return key_common(type, plain, pk, sk_prefix, 1, err);
}

/* ---- item -> plain ------------------------------------------------------------------- */

static int to_plain(const rcpt_av *v, rcpt_av *out)
{
    memset(out, 0, sizeof *out);
    switch (v->type) {
    case RCPT_AV_N: {
        out->type = RCPT_AV_NUM;
        out->num = strtod(v->s, NULL);
        out->b = !strpbrk(v->s, ".eE");
        return RCPT_OK;
    }
    case RCPT_AV_M:
    case RCPT_AV_L:
    case RCPT_AV_SS:
        out->type = v->type == RCPT_AV_M ? RCPT_AV_M : RCPT_AV_L;
        for (size_t i = 0; i < v->n; i++) {
            rcpt_av *slot;
            if (v->type == RCPT_AV_M) {
                if (v->vals[i].type == RCPT_AV_NULL)
                    continue;
                slot = rcpt_m_set(out, v->keys[i], RCPT_AV_NULL);
            } else {
                slot = rcpt_l_push(out, RCPT_AV_NULL);
            }
            if (!slot || to_plain(&v->vals[i], slot))
                return RCPT_ENOMEM;
        }
        return RCPT_OK;
    default:
        return rcpt_av_copy(out, v);
    }
}

int rcpt_entity_plain(const rcpt_item *it, rcpt_av **out, rcpt_err *err)
{
    static const char *const KEYS[] = {"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK",
                                       "GSI3PK", "GSI3SK", "TYPE", NULL};
    rcpt_av *p = rcpt_item_new();
    if (!p || to_plain(it, p))
        goto oom;
    for (int i = 0; KEYS[i]; i++)
        rcpt_m_remove(p, KEYS[i]);
    const char *pk = rcpt_m_str(it, "PK"), *sk = rcpt_m_str(it, "SK");
    const char *type = rcpt_m_str(it, "TYPE");
    if (pk && !strncmp(pk, "IMAGE#", 6) && !rcpt_m_get(p, "image_id") &&
        rcpt_m_set_str(p, "image_id", pk + 6))
        goto oom;
    if (type && !strcmp(type, "COMPACTION_LOCK") && pk && !strncmp(pk, "LOCK#", 5)) {
        const char *h = strchr(pk + 5, '#');
        if (h && rcpt_m_set_str(p, "lock_id", h + 1))
            goto oom;
    }
    if (sk && pk && !strncmp(pk, "IMAGE#", 6)) {
        /* SK is NAME#value pairs */
        char *copy = strdup(sk), *save = NULL;
        if (!copy)
            goto oom;
        for (char *name = strtok_r(copy, "#", &save); name; name = strtok_r(NULL, "#", &save)) {
            char *val = strtok_r(NULL, "#", &save);
            if (!val)
                break;
            const char *f = !strcmp(name, "RECEIPT") ? "receipt_id" : !strcmp(name, "LINE") ? "line_id"
                          : !strcmp(name, "WORD") ? "word_id" : !strcmp(name, "LETTER") ? "letter_id"
                          : NULL;
            int r = 0;
            if (f)
                r = rcpt_m_set_num(p, f, strtod(val, NULL), 1);
            else if (!strcmp(name, "OCR_JOB") || !strcmp(name, "ROUTING"))
                r = rcpt_m_set_str(p, "job_id", val);
            if (r) {
                free(copy);
                goto oom;
            }
        }
        free(copy);
    }
    *out = p;
    return RCPT_OK;
oom:
    rcpt_item_free(p);
    return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
}
