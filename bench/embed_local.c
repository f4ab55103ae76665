/* bench_embed_local [N] [DIM]: throughput of the local deterministic
 * embedder on receipt-like lines (texts/s, median of 7 runs of N texts),
 * plus the words-with-context form the pipeline embeds
 * ("<TARGET>w</TARGET> <POS>..</POS> <CONTEXT>..</CONTEXT>", longer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embed/embed.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double run(rcpt_embedder *e, const char **texts, const size_t *lens, size_t n, float *out)
{
    double t[7];
    rcpt_err err;
    for (int r = 0; r < 7; r++) {
        double t0 = now_s();
        rcpt_embed(e, texts, lens, n, out, &err);
        t[r] = now_s() - t0;
    }
    qsort(t, 7, sizeof t[0], cmp);
    return n / t[3];
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 20000;
    size_t dim = argc > 2 ? (size_t)atol(argv[2]) : 1536;
    static const char *words[] = {"TOTAL", "SUBTOTAL", "TAX", "VISA", "12.99", "3.50", "BURGER", "FRIES",
                                  "614", "Gravier", "LLC", "New", "Orleans,", "LA", "70130", "THANK", "YOU",
                                  "Server:", "Table", "#1042", "Draft", "IPA", "x2", "$8.00"};
    size_t nw = sizeof words / sizeof words[0];
    char **lines = malloc(n * sizeof *lines), **ctx = malloc(n * sizeof *ctx);
    size_t *ll = malloc(n * sizeof *ll), *cl = malloc(n * sizeof *cl);
    unsigned s = 12345;
    double chars = 0, cchars = 0;
    for (size_t i = 0; i < n; i++) {
        char b[256] = "";
        int k = 2 + (int)(i % 4);
        for (int j = 0; j < k; j++) {
            s = s * 1103515245u + 12345u;
            strcat(b, words[(s >> 16) % nw]);
            if (j + 1 < k) strcat(b, " ");
        }
        lines[i] = strdup(b);
        ll[i] = strlen(b);
        chars += (double)ll[i];
        char c[512];
        snprintf(c, sizeof c, "<TARGET>%s</TARGET> <POS>middle</POS> <CONTEXT>%s %s</CONTEXT>", words[i % nw], b,
                 words[(i + 7) % nw]);
        ctx[i] = strdup(c);
        cl[i] = strlen(c);
        cchars += (double)cl[i];
    }
    rcpt_embedder *e;
    rcpt_err err;
    if (rcpt_embed_local_new(dim, &e, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float *out = malloc(n * dim * sizeof *out);
    double a = run(e, (const char **)lines, ll, n, out);
    double b = run(e, (const char **)ctx, cl, n, out);
    printf("local embedder, dim %zu, %zu texts per run, median of 7 runs\n", dim, n);
    printf("  receipt lines (avg %.0f chars):        %9.0f texts/s\n", chars / n, a);
    printf("  words with context (avg %.0f chars):   %9.0f texts/s\n", cchars / n, b);
    rcpt_embed_free(e);
    return 0;
}
