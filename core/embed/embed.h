/* rcpt_embedder: text -> vector providers behind one interface.
 *
 * A provider is a small vtable so the Lua binding (bindings/l_embed.c) and
 * the pipeline treat every provider alike: the local deterministic embedder
 * here, and the OpenAI-compatible HTTP client added beside it
 * (rcpt_embed_openai_new, another file in core/embed/).
 *
 * The local embedder: character n-gram feature hashing, L2-normalised.
 *   - text is lowercased (ASCII, Latin-1 and Latin Extended-A, by fixed
 *     tables: no locale) and split on Unicode whitespace;
 *   - features per word w (in code points): the word itself ("w:" + w), and
 *     every 2-, 3- and 4-gram of "<" w ">" (boundary markers); plus
 *     "b:" + w1 + " " + w2 for adjacent word pairs (bigrams, weight 0.5);
 *   - each feature is hashed with 64-bit FNV-1a followed by a fixed
 *     avalanche mix; the bucket is a multiply-shift of the high 32 bits by
 *     dim and the sign is bit 0, so colliding features cancel on average
 *     instead of piling up (signed feature hashing);
 *   - weights are small dyadic numbers, summed exactly in double, so the
 *     result does not depend on feature order, the machine or the compiler;
 *     the vector is then scaled to unit L2 norm in index order.
 *   - an empty or all-space text embeds as the single feature "<>", so
 *     every vector has norm 1.
 * Same text -> the same float32 bits everywhere. */
#ifndef RCPT_EMBED_H
#define RCPT_EMBED_H

#include <stddef.h>

#include "../util/err.h"

typedef struct rcpt_embedder rcpt_embedder;

struct rcpt_embedder {
    const char *name;     /* "local", "openai", ... */
    size_t dim;
    /* out receives n * dim floats, row i = texts[i]. */
    int (*embed)(rcpt_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                 float *out, rcpt_err *err);
    void (*destroy)(rcpt_embedder *e);
};

#define RCPT_EMBED_LOCAL_DIM_DEFAULT 1536
#define RCPT_EMBED_DIM_MAX 65536

/* dim 0 = default 1536; 1 <= dim <= RCPT_EMBED_DIM_MAX. */
int rcpt_embed_local_new(size_t dim, rcpt_embedder **out, rcpt_err *err);

/* One text into out[0..dim) with the local embedder's features (no
 * allocation beyond the stack; exposed for tests and benches). */
void rcpt_embed_local_one(size_t dim, const char *text, size_t len, float *out, double *work);

static inline int rcpt_embed(rcpt_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                             float *out, rcpt_err *err)
{
    return e->embed(e, texts, lens, n, out, err);
}

static inline void rcpt_embed_free(rcpt_embedder *e)
{
    if (e) e->destroy(e);
}

#endif
