/* The OpenAI /v1/embeddings answer checks (rcpt_embed_openai_parse): rows
 * placed by "index" (not by position), float and base64 encodings,
 * re-normalisation, and every malformed answer refused with a message that
 * names the field.  Also the constructor's option checks. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "embed/embed.h"

static int parse(const char *body, size_t n, size_t dim, float *out, rcpt_err *e)
{
    rcpt_err_clear(e);
    return rcpt_embed_openai_parse(body, strlen(body), n, dim, out, e);
}

int main(void)
{
    float out[3 * 2];
    rcpt_err e = {0};

    /* shuffled indices: each row lands by index; (3,4) is scaled to unit length */
    CHECK_INT(parse("{\"object\":\"list\",\"data\":["
                    "{\"object\":\"embedding\",\"index\":2,\"embedding\":[0,-2]},"
                    "{\"object\":\"embedding\",\"index\":0,\"embedding\":[3,4]},"
                    "{\"object\":\"embedding\",\"index\":1,\"embedding\":[1e-3,0]}],"
                    "\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}",
                    3, 2, out, &e), RCPT_OK);
    CHECK_NEAR(out[0], 0.6, 1e-7);
    CHECK_NEAR(out[1], 0.8, 1e-7);
    CHECK_NEAR(out[2], 1.0, 0);
    CHECK_NEAR(out[3], 0.0, 0);
    CHECK_NEAR(out[4], 0.0, 0);
    CHECK_NEAR(out[5], -1.0, 0);

    /* no index: position order */
    CHECK_INT(parse("{\"data\":[{\"embedding\":[0,5]},{\"embedding\":[5,0]}]}", 2, 2, out, &e), RCPT_OK);
    CHECK_NEAR(out[1], 1.0, 0);
    CHECK_NEAR(out[2], 1.0, 0);

    /* base64 float32 little-endian: [1.0, 0.0] = 0000803f 00000000 */
    CHECK_INT(parse("{\"data\":[{\"index\":0,\"embedding\":\"AACAPwAAAAA=\"}]}", 1, 2, out, &e), RCPT_OK);
    CHECK_NEAR(out[0], 1.0, 0);
    CHECK_NEAR(out[1], 0.0, 0);

    static const struct { const char *body; size_t n, dim; const char *want; } bad[] = {
        {"", 1, 2, "response"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,0]}]", 1, 2, "response"},
        {"<html>502</html>", 1, 2, "response"},
        {"{}", 1, 2, "response.data: missing"},
        {"{\"data\":{}}", 1, 2, "response.data: missing or not an array"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,0]}]}", 2, 2, "1 embeddings for 2 inputs"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,0]},{\"index\":0,\"embedding\":[1,0]}]}", 2, 2,
         "response.data[1].index: 0 given twice"},
        {"{\"data\":[{\"index\":5,\"embedding\":[1,0]}]}", 1, 2, "response.data[0].index: not an index below 1"},
        {"{\"data\":[{\"index\":-1,\"embedding\":[1,0]}]}", 1, 2, "response.data[0].index"},
        {"{\"data\":[{\"index\":0.5,\"embedding\":[1,0]}]}", 1, 2, "response.data[0].index"},
        {"{\"data\":[{\"index\":\"0\",\"embedding\":[1,0]}]}", 1, 2, "response.data[0].index"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,0,0]}]}", 1, 2, "response.data[0].embedding: 3 numbers, expected 2"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1]}]}", 1, 2, "1 numbers, expected 2"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1,\"0\"]}]}", 1, 2, "response.data[0].embedding[1]: not a number"},
        {"{\"data\":[{\"index\":0}]}", 1, 2, "response.data[0].embedding: missing"},
        {"{\"data\":[{\"index\":0,\"embedding\":[0,0]}]}", 1, 2, "zero or non-finite"},
        {"{\"data\":[{\"index\":0,\"embedding\":[1e308,1e308]}]}", 1, 2, "zero or non-finite"},
        {"{\"data\":[{\"index\":0,\"embedding\":\"AACAPw==\"}]}", 1, 2, "not base64 of 2 float32"},
        {"{\"data\":[{\"index\":0,\"embedding\":\"AACAP!AAAAA=\"}]}", 1, 2, "not base64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].body, bad[i].n, bad[i].dim, out, &e);
        CHECK_INT(rc, RCPT_EHTTP);
        if (!strstr(e.msg, bad[i].want)) {
            fprintf(stderr, "case %zu: message \"%s\" lacks \"%s\"\n", i, e.msg, bad[i].want);
            CHECK(0);
        }
    }

    /* constructor checks; dim from the model or from dimensions */
    rcpt_embedder *em = NULL;
    rcpt_embed_openai_opts o = {0};
    CHECK_INT(rcpt_embed_openai_new(&o, &em, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "api_key") != NULL);
    o.api_key = "sk-with space";
    CHECK_INT(rcpt_embed_openai_new(&o, &em, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "sk-with") == NULL);
    o.api_key = "sk-x";
    o.model = "text-embedding-3-large";
    CHECK_INT(rcpt_embed_openai_new(&o, &em, &e), RCPT_OK);
    CHECK_INT(em->dim, 3072);
    CHECK_STR(em->name, "openai");
    rcpt_embed_free(em);
    o.model = "nomic-embed-text";
    CHECK_INT(rcpt_embed_openai_new(&o, &em, &e), RCPT_EINVAL);
    o.dimensions = 768;
    CHECK_INT(rcpt_embed_openai_new(&o, &em, &e), RCPT_OK);
    CHECK_INT(em->dim, 768);
    /* nothing to embed: no request at all (base_url is the real one; no network here) */
    CHECK_INT(rcpt_embed(em, NULL, NULL, 0, out, &e), RCPT_OK);
    rcpt_embed_free(em);
    o.max_batch = 4096;
    CHECK_INT(rcpt_embed_openai_new(&o, &em, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "max_batch") != NULL);
    return check_done();
}
