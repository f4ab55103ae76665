/* fuzz_json: the DOM parser and the pull reader of core/json must agree on
 * every input: the same verdict, the same message at the same byte when
 * refused, and when accepted the same values in the same order (numbers bit
 * for bit, flags and exact int64 too; strings after unescaping, valid UTF-8).
 *
 * The DOM folds a repeated key (first position, last value) while the reader
 * hands over every member, so a first pass over the reader decides whether
 * the document has a repeated key; without one every member is compared in
 * order, with one each member is compared with the DOM's value of its key
 * when the key exists there, its values only checked for syntax (the DOM
 * dropped the earlier ones). */
#include "fuzz_util.h"

typedef struct keyspan {
    char *k;
    size_t n;
} keyspan;

static char *decode(const rcpt_json_tok *t, size_t *n)
{
    char *buf = malloc(t->len + 1);
    if (!buf)
        abort();
    if (t->escaped) {
        *n = rcpt_json_unescape(t->s, t->len, buf);
    } else {
        memcpy(buf, t->s, t->len);
        *n = t->len;
    }
    FUZZ_CHECK(*n <= t->len, "unescape grew the string");
    FUZZ_CHECK(fuzz_utf8_ok(buf, *n), "decoded string at byte %zu is not UTF-8", t->offset);
    return buf;
}

/* Pass 1: does any object hold the same key twice?  Returns -1 on a reader
 * error (the caller compares errors), 1 if a key repeats, 0 otherwise. */
static int scan_dup(rcpt_json_reader *r, rcpt_json_tok *t)
{
    if (t->type == RCPT_JSON_ARRAY) {
        for (;;) {
            if (rcpt_json_next(r, t)) return -1;
            if (t->type == RCPT_JSON_T_END_ARRAY) return 0;
            int d = scan_dup(r, t);
            if (d) return d;
        }
    }
    if (t->type != RCPT_JSON_OBJECT)
        return 0;
    keyspan *keys = NULL;
    size_t n = 0, cap = 0;
    int res = 0;
    for (;;) {
        if (rcpt_json_next(r, t)) { res = -1; break; }
        if (t->type == RCPT_JSON_T_END_OBJECT) break;
        FUZZ_CHECK(t->type == RCPT_JSON_T_KEY, "reader gave token %d where a key belongs", t->type);
        size_t kn;
        char *k = decode(t, &kn);
        for (size_t i = 0; i < n && !res; i++)
            if (keys[i].n == kn && memcmp(keys[i].k, k, kn) == 0) res = 1;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            keys = realloc(keys, cap * sizeof *keys);
            if (!keys) abort();
        }
        keys[n++] = (keyspan){k, kn};
        if (res) break;
        if (rcpt_json_next(r, t)) { res = -1; break; }
        int d = scan_dup(r, t);
        if (d) { res = d; break; }
    }
    for (size_t i = 0; i < n; i++) free(keys[i].k);
    free(keys);
    return res;
}

/* Pass 2: walk the DOM value v and the reader together (t starts v). */
static void same_value(const rcpt_json *v, rcpt_json_reader *r, rcpt_json_tok *t, int dups)
{
    FUZZ_CHECK((int)v->type == t->type, "DOM type %d, reader token %d at byte %zu", v->type, t->type,
               t->offset);
    switch (v->type) {
    case RCPT_JSON_BOOL:
        FUZZ_CHECK(v->b == t->b, "bool differs at byte %zu", t->offset);
        return;
    case RCPT_JSON_NUMBER:
        FUZZ_CHECK(memcmp(&v->u.num.d, &t->d, sizeof t->d) == 0, "number at byte %zu: DOM %.17g, reader %.17g",
                   t->offset, v->u.num.d, t->d);
        FUZZ_CHECK(v->flags == t->flags, "number flags differ at byte %zu", t->offset);
        FUZZ_CHECK(!(v->flags & RCPT_JSON_F_I64) || v->u.num.i == t->i, "int64 differs at byte %zu", t->offset);
        FUZZ_CHECK(!(v->flags & RCPT_JSON_F_I64) || (double)v->u.num.i == v->u.num.d,
                   "int64 %lld and double %.17g disagree at byte %zu", (long long)v->u.num.i, v->u.num.d,
                   t->offset);
        return;
    case RCPT_JSON_STRING: {
        size_t n;
        char *s = decode(t, &n);
        FUZZ_CHECK(n == v->u.str.len && memcmp(s, v->u.str.s, n) == 0, "string differs at byte %zu",
                   t->offset);
        FUZZ_CHECK(v->u.str.s[v->u.str.len] == 0, "DOM string not NUL-terminated");
        FUZZ_CHECK(fuzz_utf8_ok(v->u.str.s, v->u.str.len), "DOM string is not UTF-8");
        free(s);
        return;
    }
    case RCPT_JSON_ARRAY:
        for (size_t i = 0;; i++) {
            FUZZ_CHECK(rcpt_json_next(r, t) == RCPT_OK, "reader failed inside an accepted array");
            if (t->type == RCPT_JSON_T_END_ARRAY) {
                FUZZ_CHECK(i == v->u.arr.n, "array of %zu items, reader gave %zu", v->u.arr.n, i);
                return;
            }
            FUZZ_CHECK(i < v->u.arr.n, "reader gave more items than the DOM's %zu", v->u.arr.n);
            same_value(&v->u.arr.items[i], r, t, dups);
        }
    case RCPT_JSON_OBJECT:
        for (size_t i = 0;; i++) {
            FUZZ_CHECK(rcpt_json_next(r, t) == RCPT_OK, "reader failed inside an accepted object");
            if (t->type == RCPT_JSON_T_END_OBJECT) {
                FUZZ_CHECK(dups || i == v->u.obj.n, "object of %zu members, reader gave %zu", v->u.obj.n, i);
                return;
            }
            FUZZ_CHECK(t->type == RCPT_JSON_T_KEY, "expected a key");
            size_t kn;
            char *k = decode(t, &kn);
            const rcpt_json *dv;
            if (!dups) {
                FUZZ_CHECK(i < v->u.obj.n, "more members than the DOM's %zu", v->u.obj.n);
                const rcpt_json_member *m = &v->u.obj.members[i];
                FUZZ_CHECK(m->key.u.str.len == kn && memcmp(m->key.u.str.s, k, kn) == 0,
                           "member %zu: keys differ", i);
                dv = &m->value;
            } else {
                dv = rcpt_json_getn(v, k, kn);
                FUZZ_CHECK(dv != NULL, "reader key missing from the DOM object");
            }
            free(k);
            FUZZ_CHECK(rcpt_json_next(r, t) == RCPT_OK, "reader failed on a member value");
            if (dups) {
                /* the value may be an earlier one of a repeated key, which
                 * the DOM dropped: only its syntax is compared */
                FUZZ_CHECK(rcpt_json_skip(r, t) == RCPT_OK, "skip failed in an accepted document");
                continue;
            }
            same_value(dv, r, t, dups);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    rcpt_json_doc *d = NULL;
    rcpt_err de = {0}, re = {0};
    size_t doff = 0;
    int drc = rcpt_json_parse(s, size, NULL, &d, &de, &doff);

    rcpt_json_reader r;
    rcpt_json_tok t;
    int dups = 0;
    if (drc == RCPT_OK) {
        rcpt_json_reader_init(&r, s, size, 0, &re);
        FUZZ_CHECK(rcpt_json_next(&r, &t) == RCPT_OK, "reader refused what the DOM accepted: %s", re.msg);
        dups = scan_dup(&r, &t);
        FUZZ_CHECK(dups >= 0, "reader refused what the DOM accepted: %s", re.msg);
        rcpt_json_reader_done(&r);
    }

    rcpt_json_reader_init(&r, s, size, 0, &re);
    int rrc = rcpt_json_next(&r, &t);
    if (rrc == RCPT_OK && drc == RCPT_OK) {
        same_value(rcpt_json_root(d), &r, &t, dups);
        rrc = rcpt_json_next(&r, &t);
        FUZZ_CHECK(rrc == RCPT_OK && t.type == RCPT_JSON_T_EOF, "reader did not end where the DOM did");
    } else {
        while (rrc == RCPT_OK && t.type != RCPT_JSON_T_EOF)
            rrc = rcpt_json_next(&r, &t);
        FUZZ_CHECK(drc == rrc, "DOM rc %d \"%s\", reader rc %d \"%s\"", drc, de.msg, rrc, re.msg);
        if (drc) {
            FUZZ_CHECK(strcmp(de.msg, re.msg) == 0, "messages differ: DOM \"%s\", reader \"%s\"", de.msg, re.msg);
            FUZZ_CHECK(doff == r.err_off, "offsets differ: DOM %zu, reader %zu", doff, r.err_off);
            FUZZ_CHECK(doff <= size, "error offset %zu past the input's %zu bytes", doff, size);
            FUZZ_CHECK(d == NULL, "DOM kept a document on error");
        }
    }
    rcpt_json_reader_done(&r);
    /* the skip path: skipping the root must check exactly what next does */
    rcpt_json_reader_init(&r, s, size, 0, NULL);
    int krc = rcpt_json_next(&r, &t);
    if (krc == RCPT_OK) krc = rcpt_json_skip(&r, &t);
    if (krc == RCPT_OK) krc = rcpt_json_next(&r, &t);
    FUZZ_CHECK((krc == RCPT_OK) == (drc == RCPT_OK), "skip verdict %d, DOM %d", krc, drc);
    FUZZ_CHECK(krc != RCPT_OK || t.type == RCPT_JSON_T_EOF, "skip did not reach the end");
    rcpt_json_reader_done(&r);
    rcpt_json_free(d);
    return 0;
}
