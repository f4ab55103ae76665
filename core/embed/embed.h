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

/* ---- OpenAI-compatible HTTP provider (core/embed/openai.c) --------------------
 * POST {base_url}/v1/embeddings with {"model", "input": [...], "dimensions"?,
 * "encoding_format": "float"} and "Authorization: Bearer KEY", through
 * rcpt_http (so: timeouts, retries with full-jitter backoff on 429/5xx and
 * connection errors, Retry-After honoured, messages without headers).
 *   - at most max_batch (<= 2048, OpenAI's limit) inputs per request: larger
 *     calls are split and the answers put back in input order by `index`;
 *   - an empty text is sent as " " (the API refuses empty strings);
 *   - the answer is checked: one item per input, every index present once,
 *     every vector of exactly dim numbers (or dim float32 in base64); a
 *     mismatch, malformed JSON or a missing field is RCPT_EHTTP naming it;
 *   - 401/403 is RCPT_EAUTH with a message of our own: OpenAI's 401 text
 *     echoes part of the key, so it is never copied; other error answers
 *     carry the server's error.message (any occurrence of the key masked);
 *   - vectors are re-normalised to unit L2 length (computed in double):
 *     OpenAI's already are (to ~1e-7), but other servers behind the same API
 *     (Ollama, vLLM) need not be, and rcpt's cosine/score rules assume it.
 * dim is `dimensions` when set, else the model's native size (1536 for
 * text-embedding-3-small and ada-002, 3072 for -3-large); another model
 * without `dimensions` is refused at construction (EINVAL). */
typedef struct rcpt_embed_openai_opts {
    const char *base_url;      /* NULL = "https://api.openai.com" (no trailing /v1) */
    const char *model;         /* NULL = "text-embedding-3-small" */
    size_t dimensions;         /* 0 = not sent (model's native size) */
    const char *api_key;       /* required, non-empty */
    long timeout_ms;           /* per request; 0 = 60000 */
    long connect_timeout_ms;   /* 0 = 5000 */
    int max_attempts;          /* 0 = 5 (retries on 429, 5xx, timeouts) */
    long base_delay_ms;        /* 0 = 500 (first retry's jitter cap) */
    long max_delay_ms;         /* 0 = 30000 (cap of every delay, Retry-After too) */
    size_t max_batch;          /* 0 = 2048 */
} rcpt_embed_openai_opts;

#define RCPT_EMBED_OPENAI_MAX_BATCH 2048

int rcpt_embed_openai_new(const rcpt_embed_openai_opts *o, rcpt_embedder **out, rcpt_err *err);

/* Check and decode one /v1/embeddings answer for n inputs of dim floats into
 * out (row = index).  Exposed for tests. */
int rcpt_embed_openai_parse(const char *body, size_t len, size_t n, size_t dim, float *out,
                            rcpt_err *err);

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
