/* The DynamoDB backend's protocol handling without a server: every HTTP
 * attempt is answered by the fault-injection hook of rcpt_http with a scripted
 * DynamoDB answer (status + JSON body), so retries of throttling, of
 * UnprocessedItems and of transaction conflicts, the mapping of errors and the
 * paging are checked exactly.  (The behaviour against a real DynamoDB is
 * tests/spec/store_dynamodb_spec.lua, on DynamoDB Local.) */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net/http.h"
#include "store/store.h"

#define SECRET "test-secret-never-shown"

typedef struct script {
    struct { long status; const char *body; } ans[16];
    int n, next;
    int calls;
} script;

static int fault(void *ud, const rcpt_http_fault_ctx *ctx, rcpt_http_fault *f)
{
    (void)ctx;
    script *s = ud;
    s->calls++;
    memset(f, 0, sizeof *f);
    f->kind = RCPT_HTTP_FAULT_STATUS;
    if (s->next < s->n) {
        f->status = s->ans[s->next].status;
        f->body = s->ans[s->next].body;
        s->next++;
    } else {
        f->status = 418; /* unscripted: a final error, never the network */
        f->body = "{\"__type\":\"Unscripted\",\"message\":\"no answer scripted\"}";
    }
    return 1;
}

static void no_sleep(void *ud, long ms) { (void)ud; (void)ms; }

static rcpt_store *open_scripted(script *s)
{
    rcpt_store *st = NULL;
    rcpt_err e = {0};
    CHECK_INT(rcpt_store_open("dynamodb:tbl", &st, &e), RCPT_OK);
    if (!st)
        return NULL;
    rcpt_http_hooks h = {no_sleep, NULL, NULL, fault, s};
    rcpt_http_client_set_hooks(rcpt_store_dynamodb_http(st), &h);
    return st;
}

static void reset(script *s) { memset(s, 0, sizeof *s); }

static void add(script *s, long status, const char *body)
{
    s->ans[s->n].status = status;
    s->ans[s->n].body = body;
    s->n++;
}

static rcpt_item *kv(const char *pk, const char *sk)
{
    rcpt_item *it = rcpt_item_new();
    rcpt_m_set_str(it, "PK", pk);
    rcpt_m_set_str(it, "SK", sk);
    rcpt_m_set_str(it, "TYPE", "X");
    return it;
}

static void test_errors_and_throttling(void)
{
    script s;
    reset(&s);
    rcpt_store *st = open_scripted(&s);
    if (!st)
        return;
    rcpt_err e = {0};
    /* a refused condition */
    add(&s, 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                 "\"message\":\"The conditional request failed\"}");
    rcpt_item *it = kv("IMAGE#1", "LINE#00001");
    rcpt_cond c = {RCPT_COND_NOT_EXISTS, NULL, NULL, NULL};
    CHECK_INT(rcpt_store_put(st, it, &c, &e), RCPT_ECONFLICT);
    CHECK(strstr(e.msg, "PutItem tbl") != NULL);
    CHECK(strstr(e.msg, "attribute_not_exists(PK)") != NULL);
    CHECK(strstr(e.msg, SECRET) == NULL);
    /* throttled twice, then the item */
    reset(&s);
    add(&s, 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\"}");
    add(&s, 400, "{\"__type\":\"com.amazon.coral.availability#ThrottlingException\"}");
    add(&s, 200, "{\"Item\":{\"PK\":{\"S\":\"IMAGE#1\"},\"SK\":{\"S\":\"LINE#00001\"},\"n\":{\"N\":\"1.5\"}}}");
    rcpt_item *got = NULL;
    CHECK_INT(rcpt_store_get(st, "IMAGE#1", "LINE#00001", &got, &e), RCPT_OK);
    CHECK_INT(s.calls, 3);
    CHECK_STR(got ? rcpt_m_get(got, "n")->s : NULL, "1.5");
    rcpt_item_free(got);
    /* absent item: ENOTFOUND; a missing table is not a missing item */
    reset(&s);
    add(&s, 200, "{}");
    add(&s, 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","
                 "\"message\":\"Requested resource not found\"}");
    CHECK_INT(rcpt_store_get(st, "a", "b", &got, &e), RCPT_ENOTFOUND);
    CHECK_INT(rcpt_store_get(st, "a", "b", &got, &e), RCPT_EHTTP);
    CHECK(strstr(e.msg, "GetItem tbl: ResourceNotFoundException") != NULL);
    /* 5xx: retried by the HTTP layer, then named */
    reset(&s);
    for (int i = 0; i < 4; i++)
        add(&s, 500, "{\"__type\":\"InternalServerError\"}");
    CHECK_INT(rcpt_store_get(st, "a", "b", &got, &e), RCPT_EHTTP);
    CHECK(s.calls >= 4);
    CHECK(strstr(e.msg, "GetItem tbl") != NULL);
    rcpt_item_free(it);
    rcpt_store_close(st);
}

static void test_batch_unprocessed(void)
{
    script s;
    reset(&s);
    rcpt_store *st = open_scripted(&s);
    if (!st)
        return;
    rcpt_err e = {0};
    rcpt_item *items[30];
    rcpt_row rows[30];
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_reserve(&b, 30 * 200);
    for (int i = 0; i < 30; i++) {
        char sk[16];
        snprintf(sk, sizeof sk, "s%02d", i);
        items[i] = kv("p", sk);
        CHECK_INT(rcpt_row_from_item(items[i], &b, &rows[i], &e), RCPT_OK);
    }
    /* chunk 1 (25): one item comes back unprocessed, then goes through; chunk 2 (5) at once */
    add(&s, 200, "{\"UnprocessedItems\":{\"tbl\":[{\"PutRequest\":{\"Item\":{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"s03\"},"
                 "\"TYPE\":{\"S\":\"X\"}}}}]}}");
    add(&s, 200, "{\"UnprocessedItems\":{}}");
    add(&s, 200, "{}");
    CHECK_INT(st->ops->put_rows(st, rows, 30, &e), RCPT_OK);
    CHECK_INT(s.calls, 3);
    /* never processed: gives up after its attempts and says how many are left */
    reset(&s);
    for (int i = 0; i < 16; i++)
        add(&s, 200, "{\"UnprocessedItems\":{\"tbl\":[{\"PutRequest\":{\"Item\":{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"s01\"}}}}]}}");
    CHECK_INT(st->ops->put_rows(st, rows, 3, &e), RCPT_ELIMIT);
    CHECK(strstr(e.msg, "BatchWriteItem tbl: 1 items still unprocessed") != NULL);
    CHECK_INT(s.calls, 10);
    for (int i = 0; i < 30; i++)
        rcpt_item_free(items[i]);
    rcpt_buf_free(&b);
    rcpt_store_close(st);
}

static void test_transactions(void)
{
    script s;
    reset(&s);
    rcpt_store *st = open_scripted(&s);
    if (!st)
        return;
    rcpt_err e = {0};
    rcpt_item *a = kv("p", "a"), *b = kv("p", "b");
    rcpt_cond ne = {RCPT_COND_NOT_EXISTS, NULL, NULL, NULL};
    rcpt_txop ops[3] = {
        {RCPT_TX_PUT, a, NULL, NULL, {0, NULL, NULL, NULL}},
        {RCPT_TX_PUT, b, NULL, NULL, ne},
        {RCPT_TX_DELETE, NULL, "p", "c", {0, NULL, NULL, NULL}},
    };
    add(&s, 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
                 "\"CancellationReasons\":[{\"Code\":\"None\"},{\"Code\":\"ConditionalCheckFailed\","
                 "\"Message\":\"The conditional request failed\"},{\"Code\":\"None\"}],"
                 "\"message\":\"Transaction cancelled\"}");
    CHECK_INT(rcpt_store_transact(st, ops, 3, &e), RCPT_ECONFLICT);
    CHECK(strstr(e.msg, "transaction cancelled: op 2 on p / b: condition attribute_not_exists(PK) failed") != NULL);
    /* DynamoDB Local's form: the reasons only in the message */
    reset(&s);
    add(&s, 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
                 "\"Message\":\"Transaction cancelled, please refer cancellation reasons for specific reasons "
                 "[None, None, ConditionalCheckFailed]\"}");
    CHECK_INT(rcpt_store_transact(st, ops, 3, &e), RCPT_ECONFLICT);
    CHECK(strstr(e.msg, "op 3 on p / c") != NULL);
    /* another transaction held an item: retried, then done */
    reset(&s);
    add(&s, 400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
                 "\"CancellationReasons\":[{\"Code\":\"TransactionConflict\"},{\"Code\":\"None\"},{\"Code\":\"None\"}]}");
    add(&s, 200, "{}");
    CHECK_INT(rcpt_store_transact(st, ops, 3, &e), RCPT_OK);
    CHECK_INT(s.calls, 2);
    /* more than 100 operations: refused before any request */
    reset(&s);
    rcpt_txop many[101];
    for (int i = 0; i < 101; i++)
        many[i] = ops[0];
    CHECK_INT(rcpt_store_transact(st, many, 101, &e), RCPT_ELIMIT);
    CHECK_INT(s.calls, 0);
    rcpt_item_free(a);
    rcpt_item_free(b);
    rcpt_store_close(st);
}

static void test_query_pages(void)
{
    script s;
    reset(&s);
    rcpt_store *st = open_scripted(&s);
    if (!st)
        return;
    rcpt_err e = {0};
    /* DynamoDB stops a page early (1 MB): the backend follows LastEvaluatedKey */
    add(&s, 200, "{\"Items\":[{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"1\"}}],\"LastEvaluatedKey\":{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"1\"}}}");
    add(&s, 200, "{\"Items\":[{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"2\"}},{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"3\"}}]}");
    rcpt_query q = {RCPT_IDX_TABLE, "p", NULL, NULL, NULL, NULL, 0, 2, NULL};
    rcpt_result r;
    CHECK_INT(rcpt_store_query(st, &q, &r, &e), RCPT_OK);
    CHECK_INT(r.n, 2);
    CHECK_INT(s.calls, 2);
    /* three items arrived for a page of two: the cursor resumes after the second */
    CHECK_STR(r.cursor, "{\"PK\":{\"S\":\"p\"},\"SK\":{\"S\":\"2\"}}");
    rcpt_result_free(&r);
    q.cursor = "garbage";
    CHECK_INT(rcpt_store_query(st, &q, &r, &e), RCPT_EINVAL);
    rcpt_store_close(st);
}

int main(void)
{
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_REGION", "eu-west-1", 1);
    test_errors_and_throttling();
    test_batch_unprocessed();
    test_transactions();
    test_query_pages();
    /* configuration errors name the variable, never its value */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    rcpt_store *st = NULL;
    rcpt_err e = {0};
    CHECK_INT(rcpt_store_open("dynamodb:tbl", &st, &e), RCPT_EAUTH);
    CHECK(strstr(e.msg, "AWS_SECRET_ACCESS_KEY") != NULL);
    CHECK_INT(rcpt_store_open("dynamodb:a b", &st, &e), RCPT_EINVAL);
    return check_done();
}
