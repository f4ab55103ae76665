/* core/embed local embedder: similar receipt lines are closer than
 * unrelated ones, same text -> same bits, unit norm, dimensions. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "embed/embed.h"

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

static double norm(const float *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

int main(void)
{
    rcpt_embedder *e = NULL;
    rcpt_err err = {0};
    CHECK_INT(rcpt_embed_local_new(0, &e, &err), RCPT_OK);
    if (!e) return check_done();
    CHECK_INT(e->dim, 1536);
    CHECK_STR(e->name, "local");
    const char *texts[] = {"TOTAL 12.99", "TOTAL 12.98", "614 Gravier LLC", "total 12.99", "", "   ",
                           "614 GRAVIER ST", "Visa ending in 4242", "TOTAL 12.99"};
    size_t n = sizeof texts / sizeof texts[0], lens[16];
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    float *v = malloc(n * 1536 * sizeof *v);
    CHECK_INT(rcpt_embed(e, texts, lens, n, v, &err), RCPT_OK);
#define V(i) (v + (size_t)(i) * 1536)
    for (size_t i = 0; i < n; i++) CHECK_NEAR(norm(V(i), 1536), 1.0, 1e-6);
    double near = cosine(V(0), V(1), 1536);
    double far1 = cosine(V(0), V(2), 1536), far2 = cosine(V(0), V(7), 1536);
    CHECK(near > 0.5);
    CHECK(near > far1 + 0.3);
    CHECK(near > far2 + 0.3);
    CHECK(cosine(V(2), V(6), 1536) > far1); /* shared merchant words */
    /* case does not matter; the same text gives the same bits */
    CHECK(memcmp(V(0), V(3), 1536 * sizeof(float)) == 0);
    CHECK(memcmp(V(0), V(8), 1536 * sizeof(float)) == 0);
    /* empty and blank texts: the same unit vector */
    CHECK(memcmp(V(4), V(5), 1536 * sizeof(float)) == 0);
    /* a batch gives what single calls give */
    float one[1536];
    double work[1536];
    rcpt_embed_local_one(1536, texts[2], lens[2], one, work);
    CHECK(memcmp(one, V(2), sizeof one) == 0);
    /* pinned: these bits must be the same on every machine and build (the
     * vector store keeps vectors across runs); FNV-1a of the float32 bytes */
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)V(0);
    for (size_t i = 0; i < 1536 * 4; i++) h = (h ^ p[i]) * 1099511628211ULL;
    printf("fingerprint of \"TOTAL 12.99\" at 1536: %016llx\n", (unsigned long long)h);
    CHECK(h == 0x2d9e414c43f8f5f8ULL);
    free(v);
    rcpt_embed_free(e);

    /* other dimensions */
    CHECK_INT(rcpt_embed_local_new(8, &e, &err), RCPT_OK);
    float s[8];
    const char *t = "caf\xc3\xa9 CAF\xc3\x89";
    size_t tl = strlen(t);
    CHECK_INT(rcpt_embed(e, &t, &tl, 1, s, &err), RCPT_OK);
    CHECK_NEAR(norm(s, 8), 1.0, 1e-6);
    rcpt_embed_free(e);
    CHECK_INT(rcpt_embed_local_new(RCPT_EMBED_DIM_MAX + 1, &e, &err), RCPT_EINVAL);
    CHECK(e == NULL);
    CHECK(strstr(err.msg, "dim must be between 1 and") != NULL);
    return check_done();
}
