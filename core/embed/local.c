/* The local deterministic embedder (see embed.h for the feature set).
 * Streaming: one pass over the code points, no allocation per text; only a
 * window of the last four symbols and running hashes are kept. */
#include "embed.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFF 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL
#define SYM_BEGIN 0x110001u   /* "<": outside Unicode, so never a real character */
#define SYM_END 0x110002u     /* ">" */

#define W_WORD 1.0
#define W_GRAM 0.5
#define W_BIGRAM 0.5

/* a fixed 64-bit avalanche (the splitmix64 finaliser constants) */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline uint64_t fnv_cp(uint64_t h, uint32_t c)
{
    h = (h ^ (c & 0xFF)) * FNV_PRIME;
    h = (h ^ ((c >> 8) & 0xFF)) * FNV_PRIME;
    h = (h ^ ((c >> 16) & 0xFF)) * FNV_PRIME;
    return (h ^ (c >> 24)) * FNV_PRIME;
}

typedef struct sink {
    double *acc;
    uint64_t dim;
    int added;
} sink;

static inline void add(sink *s, uint64_t h, double w)
{
    h = mix64(h);
    uint64_t b = ((h >> 32) * s->dim) >> 32;
    s->acc[b] += (h & 1) ? -w : w;
    s->added = 1;
}

static uint32_t lower(uint32_t c)
{
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x17F) {
        if ((c <= 0x137 || (c >= 0x14A && c <= 0x177)) && !(c & 1)) return c + 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && (c & 1)) return c + 1;
        if (c == 0x178) return 0xFF;
        return c;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;   /* Greek */
    if (c >= 0x410 && c <= 0x42F) return c + 32;                 /* Cyrillic */
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

static int space(uint32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static uint32_t decode(const unsigned char *s, size_t len, size_t *i)
{
    size_t k = *i;
    unsigned c = s[k];
    int n = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
    if (n == 0) {
        *i = k + 1;
        return c;
    }
    if (n < 0 || k + (size_t)n >= len) {
        *i = k + 1;
        return 0xFFFD;
    }
    uint32_t cp = c & (0x3F >> n);
    for (int j = 1; j <= n; j++) {
        if ((s[k + j] & 0xC0) != 0x80) {
            *i = k + 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[k + j] & 0x3F);
    }
    *i = k + (size_t)n + 1;
    return cp;
}

typedef struct word_state {
    uint32_t win[4];
    size_t nsym;
    uint64_t wh;
} word_state;

static void push_sym(sink *s, word_state *w, uint32_t c)
{
    w->win[0] = w->win[1];
    w->win[1] = w->win[2];
    w->win[2] = w->win[3];
    w->win[3] = c;
    w->nsym++;
    for (size_t n = 2; n <= 4; n++) {
        if (w->nsym < n) break;
        uint64_t h = FNV_OFF ^ (0x100 * n);
        for (size_t k = 4 - n; k < 4; k++) h = fnv_cp(h, w->win[k]);
        add(s, h, W_GRAM);
    }
}

void rcpt_embed_local_one(size_t dim, const char *text, size_t len, float *out, double *work)
{
    sink s = {work, dim, 0};
    memset(work, 0, dim * sizeof *work);
    const unsigned char *t = (const unsigned char *)text;
    word_state w;
    int inword = 0, have_prev = 0;
    uint64_t prev = 0;
    size_t i = 0;
    for (;;) {
        int end = i >= len;
        uint32_t c = end ? ' ' : decode(t, len, &i);
        if (space(c)) {
            if (inword) {
                push_sym(&s, &w, SYM_END);
                uint64_t uh = mix64(w.wh);
                add(&s, uh ^ 0x776f7264ULL, W_WORD);
                if (have_prev) add(&s, (prev * 0x9E3779B97F4A7C15ULL) ^ uh, W_BIGRAM);
                prev = uh;
                have_prev = 1;
                inword = 0;
            }
            if (end) break;
            continue;
        }
        c = lower(c);
        if (!inword) {
            inword = 1;
            memset(&w, 0, sizeof w);
            w.wh = FNV_OFF;
            push_sym(&s, &w, SYM_BEGIN);
        }
        push_sym(&s, &w, c);
        w.wh = fnv_cp(w.wh, c);
    }
    if (!s.added) {
        word_state e;
        memset(&e, 0, sizeof e);
        push_sym(&s, &e, SYM_BEGIN);
        push_sym(&s, &e, SYM_END);
    }
    double ss = 0;
    for (size_t k = 0; k < dim; k++) ss += work[k] * work[k];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    for (size_t k = 0; k < dim; k++) out[k] = (float)(work[k] * inv);
}

typedef struct local_embedder {
    rcpt_embedder base;
    double *work;
} local_embedder;

static int local_embed(rcpt_embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out,
                       rcpt_err *err)
{
    local_embedder *le = (local_embedder *)e;
    for (size_t i = 0; i < n; i++) rcpt_embed_local_one(e->dim, texts[i], lens[i], out + i * e->dim, le->work);
    return RCPT_OK;
}

static void local_destroy(rcpt_embedder *e)
{
    local_embedder *le = (local_embedder *)e;
    free(le->work);
    free(le);
}

int rcpt_embed_local_new(size_t dim, rcpt_embedder **out, rcpt_err *err)
{
    *out = NULL;
    if (dim == 0) dim = RCPT_EMBED_LOCAL_DIM_DEFAULT;
    if (dim > RCPT_EMBED_DIM_MAX)
        return rcpt_err_set(err, RCPT_EINVAL, "local embedder: dim must be between 1 and %d, got %zu",
                            RCPT_EMBED_DIM_MAX, dim);
    local_embedder *le = calloc(1, sizeof *le);
    double *work = malloc(dim * sizeof *work);
    if (!le || !work) {
        free(le);
        free(work);
        return rcpt_err_set(err, RCPT_ENOMEM, "local embedder: out of memory");
    }
    le->base.name = "local";
    le->base.dim = dim;
    le->base.embed = local_embed;
    le->base.destroy = local_destroy;
    le->work = work;
    *out = &le->base;
    return RCPT_OK;
}
