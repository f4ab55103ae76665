/* fuzz_dynamodb_json: the DynamoDB JSON reader of core/store/item.c
 * (rcpt_item_from_json, and rcpt_plain_from_json for untyped values) on
 * arbitrary bytes.  Accepted items must survive a round trip: serialised by
 * rcpt_item_to_json and parsed again they are equal (rcpt_av_equal), and the
 * second serialisation is byte for byte the first. */
#include "fuzz_util.h"
#include "store/store.h"

static void check_strings(const rcpt_av *v)
{
    switch (v->type) {
    case RCPT_AV_S:
    case RCPT_AV_N:
        FUZZ_CHECK(v->s != NULL && v->s[v->len] == 0, "string not NUL-terminated at its length");
        break;
    case RCPT_AV_M:
        for (size_t i = 0; i < v->n; i++) {
            FUZZ_CHECK(v->keys[i] != NULL, "NULL key");
            for (size_t k = 0; k < i; k++)
                FUZZ_CHECK(strcmp(v->keys[k], v->keys[i]) != 0, "key '%s' twice in one map", v->keys[i]);
            check_strings(&v->vals[i]);
        }
        break;
    case RCPT_AV_L:
    case RCPT_AV_SS:
        for (size_t i = 0; i < v->n; i++) {
            if (v->type == RCPT_AV_SS)
                FUZZ_CHECK(v->vals[i].type == RCPT_AV_S, "SS element of type %d", v->vals[i].type);
            check_strings(&v->vals[i]);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    rcpt_err err = {0};
    rcpt_item *it = NULL;
    int rc = rcpt_item_from_json(s, size, &it, &err);
    if (rc == RCPT_OK) {
        FUZZ_CHECK(it && it->type == RCPT_AV_M, "accepted item is not a map");
        check_strings(it);
        rcpt_buf a = RCPT_BUF_INIT, b = RCPT_BUF_INIT;
        FUZZ_CHECK(rcpt_item_to_json(it, &a) == RCPT_OK, "serialising an accepted item failed");
        rcpt_item *again = NULL;
        rc = rcpt_item_from_json(a.data, a.len, &again, &err);
        FUZZ_CHECK(rc == RCPT_OK, "re-parsing our own serialisation failed: %s\n%.*s", err.msg,
                   (int)a.len, a.data);
        FUZZ_CHECK(rcpt_av_equal(it, again) && rcpt_av_equal(again, it),
                   "round trip changed the item:\n%.*s", (int)a.len, a.data);
        FUZZ_CHECK(rcpt_item_to_json(again, &b) == RCPT_OK, "serialising again failed");
        FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                   "second serialisation differs:\n%.*s\n%.*s", (int)a.len, a.data, (int)b.len, b.data);
        rcpt_item *copy = rcpt_item_new();
        FUZZ_CHECK(copy && rcpt_av_copy(copy, it) == RCPT_OK && rcpt_av_equal(copy, it), "copy differs");
        rcpt_item_free(copy);
        rcpt_item_free(again);
        rcpt_buf_free(&a);
        rcpt_buf_free(&b);
        rcpt_item_free(it);
    } else {
        FUZZ_CHECK(it == NULL, "error with an item");
        FUZZ_CHECK(err.code == rc && err.msg[0], "error %d without a message", rc);
    }

    rcpt_av *plain = NULL;
    rc = rcpt_plain_from_json(s, size, &plain, &err);
    if (rc == RCPT_OK) {
        check_strings(plain);
        /* a plain object whose members are all typed values is an item */
        rcpt_av copy = {0};
        FUZZ_CHECK(rcpt_av_copy(&copy, plain) == RCPT_OK, "copy of a plain value failed");
        if (copy.type == RCPT_AV_M && rcpt_item_type_plain(&copy, &err) == RCPT_OK)
            check_strings(&copy);
        rcpt_av_clear(&copy);
        rcpt_av_clear(plain);
        free(plain);
    } else {
        FUZZ_CHECK(plain == NULL && err.msg[0], "plain error %d", rc);
    }
    return 0;
}
