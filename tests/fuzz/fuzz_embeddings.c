/* fuzz_embeddings: rcpt_embed_openai_parse (core/embed/openai.c) on
 * arbitrary bytes for a few (n, dim) shapes.  An accepted answer fills
 * exactly n*dim finite floats, each row of unit length; nothing is written
 * past them (a guard zone after the output is checked). */
#include <math.h>

#include "embed/embed.h"
#include "fuzz_util.h"

#define GUARD 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t shapes[][2] = {{1, 1}, {1, 3}, {2, 4}, {3, 2}, {1, 8}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t n = shapes[k][0], dim = shapes[k][1];
        float *out = malloc((n * dim + GUARD) * sizeof *out);
        if (!out)
            abort();
        for (size_t i = 0; i < n * dim + GUARD; i++)
            out[i] = 12345.0f;
        rcpt_err err = {0};
        int rc = rcpt_embed_openai_parse((const char *)data, size, n, dim, out, &err);
        for (size_t i = n * dim; i < n * dim + GUARD; i++)
            FUZZ_CHECK(out[i] == 12345.0f, "wrote past the %zu x %zu output", n, dim);
        if (rc == RCPT_OK) {
            for (size_t r = 0; r < n; r++) {
                double ss = 0;
                for (size_t j = 0; j < dim; j++) {
                    float v = out[r * dim + j];
                    FUZZ_CHECK(isfinite(v), "row %zu: not finite", r);
                    FUZZ_CHECK(v != 12345.0f, "row %zu: element %zu never written", r, j);
                    ss += (double)v * v;
                }
                FUZZ_CHECK(fabs(ss - 1.0) < 1e-4, "row %zu: squared norm %g", r, ss);
            }
        } else {
            FUZZ_CHECK(err.code == rc && err.msg[0], "error %d without a message", rc);
        }
        free(out);
    }
    return 0;
}
