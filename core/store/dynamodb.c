/* The DynamoDB backend of the entity store ("dynamodb:TABLE").
 *
 * Transport: core/net/awsjson (JSON protocol, SigV4 service "dynamodb",
 * endpoint AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else
 * https://dynamodb.REGION.amazonaws.com).
 *
 * What is atomic here, and what is not:
 *   - put / delete / update with a condition: one PutItem / DeleteItem /
 *     UpdateItem, atomic per item (as on SQLite).
 *   - transact (st:transaction, locks): one TransactWriteItems, all or
 *     nothing, at most 100 operations and no two on the same item (DynamoDB's
 *     rules; SQLite has neither limit).  A ClientRequestToken makes an HTTP
 *     retry of the same transaction idempotent.
 *   - replace (put_ocr, an image's or a receipt's rows): when the rows plus
 *     the stale keys to delete fit in one transaction (<= 100 ops, < 4 MB),
 *     one TransactWriteItems: atomic.  Otherwise (an image's thousands of
 *     rows) NOT atomic: the rows are written with BatchWriteItem (25 per
 *     request, unprocessed items retried with backoff), and only then the
 *     stale keys (queried before any write) are deleted.  Every write is an
 *     unconditional put of the final item or a delete of a key the new rows
 *     do not have, so a crash at any point leaves new rows plus, at worst,
 *     old rows not yet deleted; re-running the same write converges to the
 *     same table (idempotent).  Readers may see the mix while it runs.
 *   - put_rows (import): BatchWriteItem chunks, not atomic, idempotent.
 *   - scan (export): a paginated consistent Scan, sorted by (PK, SK) in
 *     memory so exports are ordered as on SQLite; attribute names are
 *     sorted too (DynamoDB does not keep attribute order).
 *
 * Queries fetch one item more than the page size so that, as on SQLite, the
 * cursor is NULL exactly on the last page; the cursor is the DynamoDB JSON
 * of the last item's key attributes (the ExclusiveStartKey). */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "../net/awsjson.h"

#define TX_MAX 100
#define TX_BYTES 4000000
#define BATCH_MAX 25
#define BATCH_ATTEMPTS 10

typedef struct ddb {
    rcpt_awsjson *c;
    uint64_t rnd; /* backoff jitter */
    char table[256];
} ddb;

static ddb *D(rcpt_store *st) { return st->impl; }

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* full jitter: uniform in [0, min(3 s, 50 ms * 2^attempt)] */
static long backoff(ddb *d, int attempt)
{
    long cap = 50L << (attempt < 7 ? attempt : 7);
    if (cap > 3000)
        cap = 3000;
    uint64_t x = d->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    d->rnd = x;
    return (long)(x % (uint64_t)(cap + 1));
}

/* ---- JSON building ------------------------------------------------------------- */

static void jstr(rcpt_buf *b, const char *s) { rcpt_buf_json_str(b, s, strlen(s)); }

static void table_field(ddb *d, rcpt_buf *b)
{
    rcpt_buf_puts(b, "\"TableName\":");
    jstr(b, d->table);
}

static void key_json(rcpt_buf *b, const char *pk, const char *sk)
{
    rcpt_buf_puts(b, "{\"PK\":{\"S\":");
    jstr(b, pk);
    rcpt_buf_puts(b, "},\"SK\":{\"S\":");
    jstr(b, sk);
    rcpt_buf_puts(b, "}}");
}

/* expression attribute names and values, collected while building */
typedef struct expr {
    rcpt_buf names, values;
} expr;

static void expr_free(expr *e)
{
    rcpt_buf_free(&e->names);
    rcpt_buf_free(&e->values);
}

static void expr_name(expr *e, const char *ph, const char *name)
{
    rcpt_buf_putc(&e->names, e->names.len ? ',' : '{');
    jstr(&e->names, ph);
    rcpt_buf_putc(&e->names, ':');
    jstr(&e->names, name);
}

static void expr_value(expr *e, const char *ph, const rcpt_av *v)
{
    rcpt_buf_putc(&e->values, e->values.len ? ',' : '{');
    jstr(&e->values, ph);
    rcpt_buf_putc(&e->values, ':');
    rcpt_av_to_json(v, &e->values);
}

static void expr_value_s(expr *e, const char *ph, const char *s)
{
    rcpt_buf_putc(&e->values, e->values.len ? ',' : '{');
    jstr(&e->values, ph);
    rcpt_buf_puts(&e->values, ":{\"S\":");
    jstr(&e->values, s);
    rcpt_buf_putc(&e->values, '}');
}

static void expr_emit(expr *e, rcpt_buf *b)
{
    if (e->names.len) {
        rcpt_buf_puts(b, ",\"ExpressionAttributeNames\":");
        rcpt_buf_append(b, e->names.data, e->names.len);
        rcpt_buf_putc(b, '}');
    }
    if (e->values.len) {
        rcpt_buf_puts(b, ",\"ExpressionAttributeValues\":");
        rcpt_buf_append(b, e->values.data, e->values.len);
        rcpt_buf_putc(b, '}');
    }
}

static const char *cond_name(int k)
{
    switch (k) {
    case RCPT_COND_NOT_EXISTS: return "attribute_not_exists(PK)";
    case RCPT_COND_EXISTS: return "attribute_exists(PK)";
    case RCPT_COND_LOCK_FREE: return "attribute_not_exists(PK) OR expires < :now";
    case RCPT_COND_EQ: return "#attr = :value";
    default: return "none";
    }
}

/* Appends the condition expression text to t (empty when none); placeholders
 * are suffixed with tag so one request can hold several. */
static int cond_text(const rcpt_cond *c, const char *tag, expr *e, rcpt_buf *t, rcpt_err *err)
{
    char n1[32], v1[32];
    if (!c)
        return RCPT_OK;
    switch (c->kind) {
    case RCPT_COND_NONE:
        return RCPT_OK;
    case RCPT_COND_NOT_EXISTS:
        rcpt_buf_puts(t, "attribute_not_exists(PK)");
        return RCPT_OK;
    case RCPT_COND_EXISTS:
        rcpt_buf_puts(t, "attribute_exists(PK)");
        return RCPT_OK;
    case RCPT_COND_LOCK_FREE:
        if (!c->now)
            return rcpt_err_set(err, RCPT_EINVAL, "condition lock_free: now is required");
        snprintf(n1, sizeof n1, "#exp%s", tag);
        snprintf(v1, sizeof v1, ":now%s", tag);
        rcpt_buf_printf(t, "attribute_not_exists(PK) OR %s < %s", n1, v1);
        expr_name(e, n1, "expires");
        expr_value_s(e, v1, c->now);
        return RCPT_OK;
    case RCPT_COND_EQ:
        if (!c->attr || !c->value)
            return rcpt_err_set(err, RCPT_EINVAL, "condition eq: attribute and value are required");
        snprintf(n1, sizeof n1, "#ca%s", tag);
        snprintf(v1, sizeof v1, ":cv%s", tag);
        rcpt_buf_printf(t, "%s = %s", n1, v1);
        expr_name(e, n1, c->attr);
        expr_value(e, v1, c->value);
        return RCPT_OK;
    default:
        return rcpt_err_set(err, RCPT_EINVAL, "condition: unknown kind %d", c->kind);
    }
}

/* ,"ConditionExpression":"..." plus names/values; c2 (may be NULL) is ANDed in */
static int cond_fields2(const rcpt_cond *c, const rcpt_cond *c2, const char *tag, rcpt_buf *b, rcpt_err *err)
{
    expr e = {RCPT_BUF_INIT, RCPT_BUF_INIT};
    rcpt_buf t = RCPT_BUF_INIT, t2 = RCPT_BUF_INIT;
    char tag2[24];
    snprintf(tag2, sizeof tag2, "%sb", tag);
    int rc = cond_text(c, tag, &e, &t, err);
    if (!rc && c2)
        rc = cond_text(c2, tag2, &e, &t2, err);
    if (!rc && t.len && t2.len) {
        rcpt_buf both = RCPT_BUF_INIT;
        rcpt_buf_printf(&both, "(%.*s) AND (%.*s)", (int)t.len, t.data, (int)t2.len, t2.data);
        rcpt_buf_free(&t);
        t = both;
    } else if (!rc && t2.len) {
        rcpt_buf_free(&t);
        t = t2;
        t2 = (rcpt_buf)RCPT_BUF_INIT;
    }
    rcpt_buf_free(&t2);
    if (!rc && t.len) {
        rcpt_buf_puts(b, ",\"ConditionExpression\":");
        rcpt_buf_json_str(b, t.data, t.len);
        expr_emit(&e, b);
    }
    rcpt_buf_free(&t);
    expr_free(&e);
    return rc;
}

static int cond_fields(const rcpt_cond *c, const char *tag, rcpt_buf *b, rcpt_err *err)
{
    return cond_fields2(c, NULL, tag, b, err);
}

static int oom(rcpt_err *err, const char *what) { return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", what); }

static int call(ddb *d, const char *op, rcpt_buf *body, rcpt_awsjson_result *res, rcpt_err *err)
{
    if (body->oom) {
        memset(res, 0, sizeof *res);
        return oom(err, op);
    }
    int rc = rcpt_awsjson_call(d->c, op, d->table, body->data, body->len, res, err);
    /* a missing table must not read as a missing item */
    if (rc == RCPT_ENOTFOUND) {
        rc = RCPT_EHTTP;
        if (err)
            err->code = rc;
    }
    return rc;
}

/* plain {"S":..} tree (moved out of *v) -> typed item */
static int take_item(rcpt_av *v, rcpt_item **out, rcpt_err *err)
{
    *out = NULL;
    if (v->type != RCPT_AV_M)
        return rcpt_err_set(err, RCPT_EHTTP, "answer: item is not an object");
    rcpt_item *it = rcpt_item_new();
    if (!it)
        return oom(err, "item");
    *it = *v;
    memset(v, 0, sizeof *v);
    v->type = RCPT_AV_NULL;
    int rc = rcpt_item_type_plain(it, err);
    if (rc) {
        rcpt_item_free(it);
        return rc;
    }
    *out = it;
    return RCPT_OK;
}

/* ---- get --------------------------------------------------------------------- */

static int d_get(rcpt_store *st, const char *pk, const char *sk, rcpt_item **out, rcpt_err *err)
{
    ddb *d = D(st);
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_awsjson_result r;
    *out = NULL;
    rcpt_buf_putc(&b, '{');
    table_field(d, &b);
    rcpt_buf_puts(&b, ",\"Key\":");
    key_json(&b, pk, sk);
    rcpt_buf_puts(&b, ",\"ConsistentRead\":true}");
    int rc = call(d, "GetItem", &b, &r, err);
    rcpt_buf_free(&b);
    if (!rc) {
        rcpt_av *it = (rcpt_av *)rcpt_awsjson_get(r.body, "Item", RCPT_AV_M);
        if (!it)
            rc = rcpt_err_set(err, RCPT_ENOTFOUND, "item %s / %s: not found", pk, sk);
        else if ((rc = take_item(it, out, err)))
            rcpt_err_prefix(err, "DynamoDB GetItem %s: item %s / %s", d->table, pk, sk);
    }
    rcpt_awsjson_result_free(&r);
    return rc;
}

/* ---- writes ------------------------------------------------------------------- */

static int conflict_single(ddb *d, const char *op, const char *pk, const char *sk, const rcpt_cond *c,
                           rcpt_err *err)
{
    return rcpt_err_set(err, RCPT_ECONFLICT, "DynamoDB %s %s: %s / %s: condition %s failed", op, d->table, pk,
                        sk, cond_name(c ? c->kind : 0));
}

/* the reason codes of a cancelled transaction: from CancellationReasons, or
 * from the message "... reasons [None, ConditionalCheckFailed]" */
static const char *cancel_code(const rcpt_av *body, size_t i, char *tmp, size_t cap)
{
    const rcpt_av *rs = rcpt_awsjson_get(body, "CancellationReasons", RCPT_AV_L);
    if (rs) {
        if (i >= rs->n)
            return NULL;
        const rcpt_av *code = rcpt_awsjson_get(&rs->vals[i], "Code", RCPT_AV_S);
        return code ? code->s : "None";
    }
    const rcpt_av *m = rcpt_awsjson_get(body, "message", RCPT_AV_S);
    if (!m)
        m = rcpt_awsjson_get(body, "Message", RCPT_AV_S);
    const char *p = m ? strrchr(m->s, '[') : NULL;
    if (!p)
        return NULL;
    p++;
    for (size_t k = 0; k < i; k++) {
        p = strchr(p, ',');
        if (!p)
            return NULL;
        p++;
    }
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, ",]");
    if (n >= cap)
        n = cap - 1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return tmp;
}

typedef struct txent {
    size_t op;           /* index in the caller's ops */
    const char *pk, *sk;
    const rcpt_cond *cond;
    const rcpt_cond *check; /* a CHECK on the same item folded into this write, or NULL */
    size_t check_op;
} txent;

/* One TransactWriteItems of already-built entries; body holds "[...]". */
static int tx_send(ddb *d, rcpt_buf *items, const txent *ents, size_t n, rcpt_err *err)
{
    char token[37];
    rcpt_uuid4(token);
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_puts(&b, "{\"TransactItems\":");
    rcpt_buf_append(&b, items->data, items->len);
    rcpt_buf_puts(&b, ",\"ClientRequestToken\":");
    jstr(&b, token);
    rcpt_buf_putc(&b, '}');
    int rc = RCPT_OK;
    for (int attempt = 1;; attempt++) {
        rcpt_awsjson_result r;
        rcpt_err e2 = {0};
        rc = call(d, "TransactWriteItems", &b, &r, &e2);
        if (rc == RCPT_ECONFLICT && !strcmp(r.type, "TransactionCanceledException")) {
            char tmp[64];
            size_t bad = n;
            const char *code = NULL;
            int conflict_only = 1;
            for (size_t i = 0; i < n; i++) {
                const char *c = cancel_code(r.body, i, tmp, sizeof tmp);
                if (!c || !strcmp(c, "None"))
                    continue;
                if (strcmp(c, "TransactionConflict") != 0)
                    conflict_only = 0;
                if (bad == n || (code && !strcmp(code, "TransactionConflict"))) {
                    bad = i;
                    code = c == tmp ? NULL : c;
                    if (!code) {
                        static const char *const K[] = {"ConditionalCheckFailed", "TransactionConflict",
                                                        "ItemCollectionSizeLimitExceeded",
                                                        "ProvisionedThroughputExceeded", "ThrottlingError",
                                                        "ValidationError"};
                        for (size_t k = 0; k < sizeof K / sizeof *K; k++)
                            if (!strcmp(tmp, K[k]))
                                code = K[k];
                    }
                    if (!code)
                        code = "unknown reason";
                }
            }
            if (bad < n && conflict_only && attempt < 6) {
                /* another transaction held an item: not our condition, retry */
                rcpt_awsjson_result_free(&r);
                sleep_ms(backoff(d, attempt));
                continue;
            }
            if (bad < n && !strcmp(code, "ConditionalCheckFailed") && ents[bad].check)
                rc = rcpt_err_set(err, RCPT_ECONFLICT,
                                  "DynamoDB TransactWriteItems %s: transaction cancelled: op %zu or op %zu on %s / %s: condition %s AND %s failed",
                                  d->table, ents[bad].check_op + 1, ents[bad].op + 1, ents[bad].pk, ents[bad].sk,
                                  cond_name(ents[bad].check->kind), cond_name(ents[bad].cond ? ents[bad].cond->kind : 0));
            else if (bad < n && !strcmp(code, "ConditionalCheckFailed"))
                rc = rcpt_err_set(err, RCPT_ECONFLICT,
                                  "DynamoDB TransactWriteItems %s: transaction cancelled: op %zu on %s / %s: condition %s failed",
                                  d->table, ents[bad].op + 1, ents[bad].pk, ents[bad].sk,
                                  cond_name(ents[bad].cond ? ents[bad].cond->kind : 0));
            else if (bad < n)
                rc = rcpt_err_set(err, RCPT_EHTTP, "DynamoDB TransactWriteItems %s: transaction cancelled: op %zu on %s / %s: %s",
                                  d->table, ents[bad].op + 1, ents[bad].pk, ents[bad].sk, code);
            else if (err)
                *err = e2;
        } else if (rc && err) {
            *err = e2;
        }
        rcpt_awsjson_result_free(&r);
        break;
    }
    rcpt_buf_free(&b);
    return rc;
}

static int d_transact(rcpt_store *st, const rcpt_txop *ops, size_t n, rcpt_err *err)
{
    ddb *d = D(st);
    rcpt_buf b = RCPT_BUF_INIT, json = RCPT_BUF_INIT;
    txent *ents = calloc(n ? n : 1, sizeof *ents);
    rcpt_row *rows = calloc(n ? n : 1, sizeof *rows);
    int rc = RCPT_OK;
    if (!ents || !rows) {
        rc = oom(err, "transaction");
        goto out;
    }
    /* rows' JSON first, in one buffer sized so that it does not move */
    for (size_t i = 0; i < n; i++)
        if (ops[i].kind == RCPT_TX_PUT && rcpt_item_to_json(ops[i].item, &json)) {
            rc = oom(err, "transaction");
            goto out;
        }
    size_t need = json.len;
    rcpt_buf_reset(&json);
    if (rcpt_buf_reserve(&json, need + 1)) {
        rc = oom(err, "transaction");
        goto out;
    }
    size_t ne = 0;
    for (size_t i = 0; i < n; i++) {
        const rcpt_txop *op = &ops[i];
        if (op->kind == RCPT_TX_PUT) {
            if ((rc = rcpt_row_from_item(op->item, &json, &rows[i], err)))
                goto out;
            /* keys travel as C strings through the store API (get, delete):
             * a NUL inside one would address another item */
            if (strlen(rows[i].pk) != rcpt_m_get(op->item, "PK")->len ||
                strlen(rows[i].sk) != rcpt_m_get(op->item, "SK")->len) {
                rc = rcpt_err_set(err, RCPT_EINVAL, "transaction op %zu: item.PK / item.SK: must not contain NUL",
                                  i + 1);
                goto out;
            }
            ents[ne] = (txent){i, rows[i].pk, rows[i].sk, &op->cond, NULL, 0};
        } else if (op->kind == RCPT_TX_DELETE || op->kind == RCPT_TX_CHECK) {
            if (!op->pk || !op->sk) {
                rc = rcpt_err_set(err, RCPT_EINVAL, "transaction op %zu: PK and SK are required", i + 1);
                goto out;
            }
            if (op->kind == RCPT_TX_CHECK && op->cond.kind == RCPT_COND_NONE)
                continue; /* DynamoDB refuses a check without a condition; it checks nothing */
            ents[ne] = (txent){i, op->pk, op->sk, &op->cond, NULL, 0};
        } else {
            rc = rcpt_err_set(err, RCPT_EINVAL, "transaction op %zu: unknown kind", i + 1);
            goto out;
        }
        ne++;
    }
    /* DynamoDB refuses two operations on one item in a transaction: a CHECK
     * followed by a write of the same item becomes that write's condition
     * (both see the item as it was before the transaction, as on SQLite) */
    for (size_t k = 0; k < ne; k++) {
        if (ops[ents[k].op].kind != RCPT_TX_CHECK)
            continue;
        for (size_t j = k + 1; j < ne; j++) {
            if (ops[ents[j].op].kind == RCPT_TX_CHECK || ents[j].check || strcmp(ents[j].pk, ents[k].pk) ||
                strcmp(ents[j].sk, ents[k].sk))
                continue;
            ents[j].check = ents[k].cond;
            ents[j].check_op = ents[k].op;
            memmove(&ents[k], &ents[k + 1], (ne - k - 1) * sizeof *ents);
            ne--;
            k--;
            break;
        }
    }
    if (ne == 0)
        goto out;
    if (ne > TX_MAX) {
        rc = rcpt_err_set(err, RCPT_ELIMIT, "DynamoDB TransactWriteItems %s: %zu operations (DynamoDB allows %d)",
                          d->table, ne, TX_MAX);
        goto out;
    }
    if (ne == 1 && ops[ents[0].op].kind != RCPT_TX_CHECK && !ents[0].check) {
        /* a single write: PutItem / DeleteItem (half the cost of a transaction) */
        const rcpt_txop *op = &ops[ents[0].op];
        const char *name = op->kind == RCPT_TX_PUT ? "PutItem" : "DeleteItem";
        rcpt_buf_putc(&b, '{');
        table_field(d, &b);
        if (op->kind == RCPT_TX_PUT) {
            rcpt_buf_puts(&b, ",\"Item\":");
            rcpt_buf_append(&b, rows[ents[0].op].json, rows[ents[0].op].json_len);
        } else {
            rcpt_buf_puts(&b, ",\"Key\":");
            key_json(&b, op->pk, op->sk);
        }
        if ((rc = cond_fields(&op->cond, "", &b, err)))
            goto out;
        rcpt_buf_putc(&b, '}');
        rcpt_awsjson_result r;
        rc = call(d, name, &b, &r, err);
        if (rc == RCPT_ECONFLICT)
            rc = conflict_single(d, name, ents[0].pk, ents[0].sk, &op->cond, err);
        rcpt_awsjson_result_free(&r);
        goto out;
    }
    rcpt_buf_putc(&b, '[');
    for (size_t k = 0; k < ne; k++) {
        const rcpt_txop *op = &ops[ents[k].op];
        char tag[16];
        snprintf(tag, sizeof tag, "%zu", k);
        if (k)
            rcpt_buf_putc(&b, ',');
        rcpt_buf_puts(&b, op->kind == RCPT_TX_PUT ? "{\"Put\":{" : op->kind == RCPT_TX_DELETE ? "{\"Delete\":{"
                                                                                              : "{\"ConditionCheck\":{");
        table_field(d, &b);
        if (op->kind == RCPT_TX_PUT) {
            rcpt_buf_puts(&b, ",\"Item\":");
            rcpt_buf_append(&b, rows[ents[k].op].json, rows[ents[k].op].json_len);
        } else {
            rcpt_buf_puts(&b, ",\"Key\":");
            key_json(&b, op->pk, op->sk);
        }
        if ((rc = cond_fields2(&op->cond, ents[k].check, tag, &b, err)))
            goto out;
        rcpt_buf_puts(&b, "}}");
    }
    rcpt_buf_putc(&b, ']');
    if (b.oom) {
        rc = oom(err, "transaction");
        goto out;
    }
    rc = tx_send(d, &b, ents, ne, err);
out:
    rcpt_buf_free(&b);
    rcpt_buf_free(&json);
    free(ents);
    free(rows);
    return rc;
}

static int d_update(rcpt_store *st, const char *pk, const char *sk, const rcpt_item *set,
                    const rcpt_cond *cond, rcpt_item **out, rcpt_err *err)
{
    ddb *d = D(st);
    if (out)
        *out = NULL;
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->keys[i], "PK") || !strcmp(set->keys[i], "SK"))
            return rcpt_err_set(err, RCPT_EINVAL, "update: %s is a key attribute and cannot be set", set->keys[i]);
    rcpt_buf b = RCPT_BUF_INIT, t = RCPT_BUF_INIT;
    expr e = {RCPT_BUF_INIT, RCPT_BUF_INIT};
    rcpt_buf_putc(&b, '{');
    table_field(d, &b);
    rcpt_buf_puts(&b, ",\"Key\":");
    key_json(&b, pk, sk);
    rcpt_buf_puts(&t, "SET ");
    for (size_t i = 0; i < set->n; i++) {
        char n1[32], v1[32];
        snprintf(n1, sizeof n1, "#u%zu", i);
        snprintf(v1, sizeof v1, ":u%zu", i);
        rcpt_buf_printf(&t, "%s%s = %s", i ? ", " : "", n1, v1);
        expr_name(&e, n1, set->keys[i]);
        expr_value(&e, v1, &set->vals[i]);
    }
    if (set->n) {
        rcpt_buf_puts(&b, ",\"UpdateExpression\":");
        rcpt_buf_json_str(&b, t.data, t.len);
    }
    rcpt_buf_reset(&t);
    int rc = cond_text(cond, "", &e, &t, err);
    if (!rc) {
        if (t.len) {
            rcpt_buf_puts(&b, ",\"ConditionExpression\":");
            rcpt_buf_json_str(&b, t.data, t.len);
        }
        expr_emit(&e, &b);
        rcpt_buf_puts(&b, ",\"ReturnValues\":\"ALL_NEW\"}");
        rcpt_awsjson_result r;
        rc = call(d, "UpdateItem", &b, &r, err);
        if (rc == RCPT_ECONFLICT) {
            rc = conflict_single(d, "UpdateItem", pk, sk, cond, err);
        } else if (!rc && out) {
            rcpt_av *a = (rcpt_av *)rcpt_awsjson_get(r.body, "Attributes", RCPT_AV_M);
            if (!a)
                rc = rcpt_err_set(err, RCPT_EHTTP, "DynamoDB UpdateItem %s: answer without Attributes", d->table);
            else
                rc = take_item(a, out, err);
        }
        rcpt_awsjson_result_free(&r);
    }
    rcpt_buf_free(&b);
    rcpt_buf_free(&t);
    expr_free(&e);
    return rc;
}

/* ---- query ------------------------------------------------------------------------ */

static const char *const IDX_NAME[] = {NULL, "GSI1", "GSI2", "GSI3", "GSITYPE"};
static const char *const IDX_PK[] = {"PK", "GSI1PK", "GSI2PK", "GSI3PK", "TYPE"};
static const char *const IDX_SK[] = {"SK", "GSI1SK", "GSI2SK", "GSI3SK", NULL};

/* the ExclusiveStartKey that resumes after item it on index idx */
static char *cursor_of(const rcpt_item *it, int idx)
{
    const char *names[4] = {"PK", "SK", IDX_PK[idx], IDX_SK[idx]};
    size_t nn = idx == 0 ? 2 : IDX_SK[idx] ? 4 : 3;
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_putc(&b, '{');
    for (size_t i = 0; i < nn; i++) {
        const rcpt_av *v = rcpt_m_get(it, names[i]);
        if (!v)
            continue;
        if (b.len > 1)
            rcpt_buf_putc(&b, ',');
        jstr(&b, names[i]);
        rcpt_buf_putc(&b, ':');
        rcpt_av_to_json(v, &b);
    }
    rcpt_buf_putc(&b, '}');
    if (b.oom) {
        rcpt_buf_free(&b);
        return NULL;
    }
    return rcpt_buf_detach(&b, NULL);
}

static int push_items(rcpt_av *list, rcpt_result *res, size_t *cap, rcpt_err *err)
{
    for (size_t i = 0; list && i < list->n; i++) {
        if (res->n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            rcpt_item **ni = realloc(res->items, nc * sizeof *ni);
            if (!ni)
                return oom(err, "query");
            res->items = ni;
            *cap = nc;
        }
        int rc = take_item(&list->vals[i], &res->items[res->n], err);
        if (rc)
            return rc;
        res->n++;
    }
    return RCPT_OK;
}

static int d_query(rcpt_store *st, const rcpt_query *q, rcpt_result *res, rcpt_err *err)
{
    ddb *d = D(st);
    const char *skn = IDX_SK[q->index];
    if (!skn && (q->sk_prefix || q->sk_lo || q->sk_hi))
        return rcpt_err_set(err, RCPT_EINVAL, "query: GSITYPE has no sort key");
    if (q->sk_prefix && (q->sk_lo || q->sk_hi))
        return rcpt_err_set(err, RCPT_EINVAL, "query: DynamoDB takes one sort-key condition (prefix or between, not both)");
    if (q->index == RCPT_IDX_GSITYPE && q->type && strcmp(q->type, q->pk) != 0)
        return RCPT_OK; /* TYPE is the partition: another type matches nothing */
    char *esk = NULL;
    if (q->cursor) {
        rcpt_item *k = NULL;
        rcpt_err e2;
        int ok = rcpt_item_from_json(q->cursor, strlen(q->cursor), &k, &e2) == RCPT_OK && k->n >= 2;
        for (size_t i = 0; ok && i < k->n; i++)
            ok = k->vals[i].type == RCPT_AV_S;
        rcpt_item_free(k);
        if (!ok)
            return rcpt_err_set(err, RCPT_EINVAL, "query: malformed cursor");
        if (!(esk = strdup(q->cursor)))
            return oom(err, "query");
    }
    expr e = {RCPT_BUF_INIT, RCPT_BUF_INIT};
    rcpt_buf kc = RCPT_BUF_INIT, b = RCPT_BUF_INIT;
    expr_name(&e, "#p", IDX_PK[q->index]);
    expr_value_s(&e, ":p", q->pk);
    rcpt_buf_puts(&kc, "#p = :p");
    if (q->sk_prefix) {
        expr_name(&e, "#s", skn);
        expr_value_s(&e, ":s1", q->sk_prefix);
        rcpt_buf_puts(&kc, " AND begins_with(#s, :s1)");
    } else if (q->sk_lo || q->sk_hi) {
        expr_name(&e, "#s", skn);
        if (q->sk_lo)
            expr_value_s(&e, ":s1", q->sk_lo);
        if (q->sk_hi)
            expr_value_s(&e, ":s2", q->sk_hi);
        rcpt_buf_puts(&kc, q->sk_lo && q->sk_hi ? " AND #s BETWEEN :s1 AND :s2" : q->sk_lo ? " AND #s >= :s1"
                                                                                           : " AND #s <= :s2");
    }
    int filter = q->type && q->index != RCPT_IDX_GSITYPE;
    if (filter) {
        expr_name(&e, "#ty", "TYPE");
        expr_value_s(&e, ":ty", q->type);
    }
    size_t cap = 0;
    int rc = RCPT_OK;
    memset(res, 0, sizeof *res);
    for (;;) {
        rcpt_buf_reset(&b);
        rcpt_buf_putc(&b, '{');
        table_field(d, &b);
        if (IDX_NAME[q->index]) {
            rcpt_buf_puts(&b, ",\"IndexName\":");
            jstr(&b, IDX_NAME[q->index]);
        } else {
            rcpt_buf_puts(&b, ",\"ConsistentRead\":true");
        }
        rcpt_buf_puts(&b, ",\"KeyConditionExpression\":");
        rcpt_buf_json_str(&b, kc.data, kc.len);
        if (filter)
            rcpt_buf_puts(&b, ",\"FilterExpression\":\"#ty = :ty\"");
        expr_emit(&e, &b);
        rcpt_buf_printf(&b, ",\"ScanIndexForward\":%s", q->descending ? "false" : "true");
        if (q->limit > 0) /* one more than the page: tells whether another page exists */
            rcpt_buf_printf(&b, ",\"Limit\":%zu", (size_t)q->limit + 1 - res->n);
        if (esk) {
            rcpt_buf_puts(&b, ",\"ExclusiveStartKey\":");
            rcpt_buf_puts(&b, esk);
        }
        rcpt_buf_putc(&b, '}');
        rcpt_awsjson_result r;
        if ((rc = call(d, "Query", &b, &r, err))) {
            rcpt_awsjson_result_free(&r);
            break;
        }
        rc = push_items((rcpt_av *)rcpt_awsjson_get(r.body, "Items", RCPT_AV_L), res, &cap, err);
        const rcpt_item *lek = rcpt_awsjson_get(r.body, "LastEvaluatedKey", RCPT_AV_M);
        free(esk);
        esk = NULL;
        if (!rc && lek && !(q->limit > 0 && res->n > (size_t)q->limit)) {
            /* LastEvaluatedKey is plain-parsed: re-type a copy and write it */
            rcpt_av cp;
            if (rcpt_av_copy(&cp, lek)) {
                rc = oom(err, "query");
            } else {
                rcpt_item *k = NULL;
                if (!(rc = take_item(&cp, &k, err))) {
                    rcpt_buf kb = RCPT_BUF_INIT;
                    rcpt_item_to_json(k, &kb);
                    esk = kb.oom ? NULL : rcpt_buf_detach(&kb, NULL);
                    rcpt_buf_free(&kb);
                    if (!esk)
                        rc = oom(err, "query");
                }
                rcpt_item_free(k);
                rcpt_av_clear(&cp);
            }
        }
        rcpt_awsjson_result_free(&r);
        if (rc || !esk)
            break;
    }
    if (!rc && q->limit > 0 && res->n > (size_t)q->limit) {
        while (res->n > (size_t)q->limit)
            rcpt_item_free(res->items[--res->n]);
        if (!(res->cursor = cursor_of(res->items[res->n - 1], q->index)))
            rc = oom(err, "query");
    }
    free(esk);
    expr_free(&e);
    rcpt_buf_free(&kc);
    rcpt_buf_free(&b);
    if (rc)
        rcpt_result_free(res);
    return rc;
}

/* ---- batch writes ------------------------------------------------------------------ */

typedef struct bent {
    const char *pk, *sk;
    const char *json; /* item JSON for a put, NULL for a delete */
    size_t json_len;
} bent;

static int same_key(const bent *a, const char *pk, const char *sk)
{
    return !strcmp(a->pk, pk) && !strcmp(a->sk, sk);
}

/* One BatchWriteItem of n <= 25 entries, retrying UnprocessedItems with backoff. */
static int batch_chunk(ddb *d, const bent *ents, size_t n, rcpt_err *err)
{
    unsigned char *pending = malloc(n);
    rcpt_buf b = RCPT_BUF_INIT;
    if (!pending)
        return oom(err, "BatchWriteItem");
    memset(pending, 1, n);
    size_t left = n;
    int rc = RCPT_OK, attempt;
    for (attempt = 1; left && attempt <= BATCH_ATTEMPTS; attempt++) {
        if (attempt > 1)
            sleep_ms(backoff(d, attempt - 1));
        rcpt_buf_reset(&b);
        rcpt_buf_puts(&b, "{\"RequestItems\":{");
        jstr(&b, d->table);
        rcpt_buf_puts(&b, ":[");
        int first = 1;
        for (size_t i = 0; i < n; i++) {
            if (!pending[i])
                continue;
            if (!first)
                rcpt_buf_putc(&b, ',');
            first = 0;
            if (ents[i].json) {
                rcpt_buf_puts(&b, "{\"PutRequest\":{\"Item\":");
                rcpt_buf_append(&b, ents[i].json, ents[i].json_len);
            } else {
                rcpt_buf_puts(&b, "{\"DeleteRequest\":{\"Key\":");
                key_json(&b, ents[i].pk, ents[i].sk);
            }
            rcpt_buf_puts(&b, "}}");
        }
        rcpt_buf_puts(&b, "]}}");
        rcpt_awsjson_result r;
        if ((rc = call(d, "BatchWriteItem", &b, &r, err))) {
            rcpt_awsjson_result_free(&r);
            break;
        }
        memset(pending, 0, n);
        left = 0;
        const rcpt_av *u = rcpt_awsjson_get(r.body, "UnprocessedItems", RCPT_AV_M);
        const rcpt_av *l = u ? rcpt_awsjson_get(u, d->table, RCPT_AV_L) : NULL;
        for (size_t i = 0; l && i < l->n; i++) {
            const rcpt_av *req = &l->vals[i], *m;
            const rcpt_av *k = NULL;
            if ((m = rcpt_awsjson_get(req, "PutRequest", RCPT_AV_M)))
                k = rcpt_awsjson_get(m, "Item", RCPT_AV_M);
            else if ((m = rcpt_awsjson_get(req, "DeleteRequest", RCPT_AV_M)))
                k = rcpt_awsjson_get(m, "Key", RCPT_AV_M);
            const rcpt_av *pk = k ? rcpt_awsjson_get(k, "PK", RCPT_AV_M) : NULL;
            const rcpt_av *sk = k ? rcpt_awsjson_get(k, "SK", RCPT_AV_M) : NULL;
            pk = pk ? rcpt_awsjson_get(pk, "S", RCPT_AV_S) : NULL;
            sk = sk ? rcpt_awsjson_get(sk, "S", RCPT_AV_S) : NULL;
            for (size_t j = 0; pk && sk && j < n; j++)
                if (!pending[j] && same_key(&ents[j], pk->s, sk->s)) {
                    pending[j] = 1;
                    left++;
                    break;
                }
        }
        rcpt_awsjson_result_free(&r);
    }
    if (!rc && left)
        rc = rcpt_err_set(err, RCPT_ELIMIT, "DynamoDB BatchWriteItem %s: %zu items still unprocessed after %d attempts",
                          d->table, left, BATCH_ATTEMPTS);
    free(pending);
    rcpt_buf_free(&b);
    return rc;
}

/* chunks of 25; a key seen twice starts a new chunk (DynamoDB refuses duplicates in one request) */
static int batch_write(ddb *d, const bent *ents, size_t n, rcpt_err *err)
{
    size_t start = 0;
    while (start < n) {
        size_t end = start;
        while (end < n && end - start < BATCH_MAX) {
            int dup = 0;
            for (size_t k = start; k < end && !dup; k++)
                dup = same_key(&ents[k], ents[end].pk, ents[end].sk);
            if (dup)
                break;
            end++;
        }
        int rc = batch_chunk(d, ents + start, end - start, err);
        if (rc)
            return rc;
        start = end;
    }
    return RCPT_OK;
}

static int d_put_rows(rcpt_store *st, const rcpt_row *rows, size_t n, rcpt_err *err)
{
    bent *e = malloc((n ? n : 1) * sizeof *e);
    if (!e)
        return oom(err, "put_rows");
    for (size_t i = 0; i < n; i++)
        e[i] = (bent){rows[i].pk, rows[i].sk, rows[i].json, rows[i].json_len};
    int rc = batch_write(D(st), e, n, err);
    free(e);
    return rc;
}

/* ---- replace ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static int strv_push(strv *s, const char *x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return RCPT_ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    if (!(s->v[s->n] = strdup(x)))
        return RCPT_ENOMEM;
    s->n++;
    return RCPT_OK;
}

static void strv_free(strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* The ExclusiveStartKey of the next page of a table Query/Scan: the page's
 * LastEvaluatedKey (PK and SK strings) as key JSON in *esk, or *esk left NULL
 * on the last page. */
static int table_start_key(const rcpt_av *body, char **esk, rcpt_err *err, const char *what)
{
    const rcpt_av *lek = rcpt_awsjson_get(body, "LastEvaluatedKey", RCPT_AV_M);
    const rcpt_av *lp = lek ? rcpt_awsjson_get(lek, "PK", RCPT_AV_M) : NULL;
    const rcpt_av *ls = lek ? rcpt_awsjson_get(lek, "SK", RCPT_AV_M) : NULL;
    lp = lp ? rcpt_awsjson_get(lp, "S", RCPT_AV_S) : NULL;
    ls = ls ? rcpt_awsjson_get(ls, "S", RCPT_AV_S) : NULL;
    if (!lp || !ls)
        return RCPT_OK;
    rcpt_buf kb = RCPT_BUF_INIT;
    key_json(&kb, lp->s, ls->s);
    *esk = kb.oom ? NULL : rcpt_buf_detach(&kb, NULL);
    rcpt_buf_free(&kb);
    return *esk ? RCPT_OK : oom(err, what);
}

/* SKs under pk starting with prefix whose TYPE is one of types and that are not in keep */
static int stale_keys(ddb *d, const char *pk, const rcpt_replace *del, const char **keep, size_t nkeep,
                      strv *out, rcpt_err *err)
{
    rcpt_buf b = RCPT_BUF_INIT;
    char *esk = NULL;
    int rc = RCPT_OK;
    for (;;) {
        rcpt_buf_reset(&b);
        rcpt_buf_putc(&b, '{');
        table_field(d, &b);
        rcpt_buf_puts(&b, ",\"ConsistentRead\":true,\"KeyConditionExpression\":\"PK = :p AND begins_with(SK, :s)\","
                          "\"ProjectionExpression\":\"PK, SK, #t\",\"ExpressionAttributeNames\":{\"#t\":\"TYPE\"},"
                          "\"ExpressionAttributeValues\":{\":p\":{\"S\":");
        jstr(&b, pk);
        rcpt_buf_puts(&b, "},\":s\":{\"S\":");
        jstr(&b, del->prefix);
        rcpt_buf_puts(&b, "}}");
        if (esk) {
            rcpt_buf_puts(&b, ",\"ExclusiveStartKey\":");
            rcpt_buf_puts(&b, esk);
            free(esk);
            esk = NULL;
        }
        rcpt_buf_putc(&b, '}');
        rcpt_awsjson_result r;
        if ((rc = call(d, "Query", &b, &r, err))) {
            rcpt_awsjson_result_free(&r);
            break;
        }
        const rcpt_av *items = rcpt_awsjson_get(r.body, "Items", RCPT_AV_L);
        for (size_t i = 0; items && i < items->n && !rc; i++) {
            const rcpt_av *s = rcpt_awsjson_get(&items->vals[i], "SK", RCPT_AV_M);
            const rcpt_av *t = rcpt_awsjson_get(&items->vals[i], "TYPE", RCPT_AV_M);
            s = s ? rcpt_awsjson_get(s, "S", RCPT_AV_S) : NULL;
            t = t ? rcpt_awsjson_get(t, "S", RCPT_AV_S) : NULL;
            if (!s || !t)
                continue;
            int typed = 0;
            for (size_t k = 0; k < del->ntypes && !typed; k++)
                typed = !strcmp(t->s, del->types[k]);
            const char *sk = s->s;
            if (!typed || (nkeep && bsearch(&sk, keep, nkeep, sizeof *keep, cmp_str)))
                continue;
            if (strv_push(out, sk))
                rc = oom(err, "replace");
        }
        if (!rc)
            rc = table_start_key(r.body, &esk, err, "replace");
        rcpt_awsjson_result_free(&r);
        if (rc || !esk)
            break;
    }
    free(esk);
    rcpt_buf_free(&b);
    return rc;
}

static int d_replace(rcpt_store *st, const char *pk, const rcpt_replace *del, size_t ndel,
                     const rcpt_row *rows, size_t n, rcpt_err *err)
{
    ddb *d = D(st);
    const char **sks = malloc((n ? n : 1) * sizeof *sks);
    strv stale = {0};
    bent *e = NULL;
    txent *te = NULL;
    rcpt_buf b = RCPT_BUF_INIT;
    int rc = RCPT_OK;
    if (!sks)
        return oom(err, "replace");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].pk, pk) != 0) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "replace: row %zu is outside partition %s", i + 1, pk);
            goto out;
        }
        sks[i] = rows[i].sk;
    }
    qsort(sks, n, sizeof *sks, cmp_str);
    /* the stale keys are read before anything is written: a re-run after a
     * crash finds the same set minus what was already deleted */
    for (size_t k = 0; k < ndel && !rc; k++)
        rc = stale_keys(d, pk, &del[k], sks, n, &stale, err);
    if (rc)
        goto out;
    size_t total = n + stale.n, bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += rows[i].json_len + 64 + strlen(d->table);
    if (total == 0)
        goto out;
    if (total <= TX_MAX && bytes + stale.n * 256 < TX_BYTES) {
        /* fits in one transaction: atomic */
        te = calloc(total, sizeof *te);
        if (!te) {
            rc = oom(err, "replace");
            goto out;
        }
        rcpt_buf_putc(&b, '[');
        for (size_t i = 0; i < total; i++) {
            if (i)
                rcpt_buf_putc(&b, ',');
            if (i < n) {
                rcpt_buf_puts(&b, "{\"Put\":{");
                table_field(d, &b);
                rcpt_buf_puts(&b, ",\"Item\":");
                rcpt_buf_append(&b, rows[i].json, rows[i].json_len);
                te[i] = (txent){i, rows[i].pk, rows[i].sk, NULL, NULL, 0};
            } else {
                rcpt_buf_puts(&b, "{\"Delete\":{");
                table_field(d, &b);
                rcpt_buf_puts(&b, ",\"Key\":");
                key_json(&b, pk, stale.v[i - n]);
                te[i] = (txent){i, pk, stale.v[i - n], NULL, NULL, 0};
            }
            rcpt_buf_puts(&b, "}}");
        }
        rcpt_buf_putc(&b, ']');
        if (b.oom)
            rc = oom(err, "replace");
        else
            rc = tx_send(d, &b, te, total, err);
        goto out;
    }
    /* too big for one transaction: the new rows first, then the stale keys */
    e = malloc(total * sizeof *e);
    if (!e) {
        rc = oom(err, "replace");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        e[i] = (bent){rows[i].pk, rows[i].sk, rows[i].json, rows[i].json_len};
    for (size_t i = 0; i < stale.n; i++)
        e[n + i] = (bent){pk, stale.v[i], NULL, 0};
    if (!(rc = batch_write(d, e, n, err)))
        rc = batch_write(d, e + n, stale.n, err);
out:
    free(sks);
    free(e);
    free(te);
    strv_free(&stale);
    rcpt_buf_free(&b);
    return rc;
}

/* ---- scan (export) --------------------------------------------------------------------- */

/* attribute names sorted, recursively: DynamoDB returns them in no set order */
static void sort_attrs(rcpt_av *v)
{
    if (v->type == RCPT_AV_M) {
        for (size_t i = 1; i < v->n; i++) /* insertion sort: items have ~30 attributes */
            for (size_t j = i; j > 0 && strcmp(v->keys[j - 1], v->keys[j]) > 0; j--) {
                char *k = v->keys[j];
                v->keys[j] = v->keys[j - 1];
                v->keys[j - 1] = k;
                rcpt_av t = v->vals[j];
                v->vals[j] = v->vals[j - 1];
                v->vals[j - 1] = t;
            }
    }
    if (v->type == RCPT_AV_M || v->type == RCPT_AV_L)
        for (size_t i = 0; i < v->n; i++)
            sort_attrs(&v->vals[i]);
}

typedef struct srow {
    rcpt_item *it;
    char *json;
    size_t len;
    const char *pk, *sk;
} srow;

static int cmp_srow(const void *a, const void *b)
{
    const srow *x = a, *y = b;
    int c = strcmp(x->pk, y->pk);
    return c ? c : strcmp(x->sk, y->sk);
}

static int d_scan(rcpt_store *st, int (*fn)(void *, const rcpt_row *), void *ud, rcpt_err *err)
{
    ddb *d = D(st);
    srow *rows = NULL;
    size_t n = 0, cap = 0;
    char *esk = NULL;
    rcpt_buf b = RCPT_BUF_INIT;
    int rc = RCPT_OK;
    for (;;) {
        rcpt_buf_reset(&b);
        rcpt_buf_putc(&b, '{');
        table_field(d, &b);
        rcpt_buf_puts(&b, ",\"ConsistentRead\":true");
        if (esk) {
            rcpt_buf_puts(&b, ",\"ExclusiveStartKey\":");
            rcpt_buf_puts(&b, esk);
            free(esk);
            esk = NULL;
        }
        rcpt_buf_putc(&b, '}');
        rcpt_awsjson_result r;
        if ((rc = call(d, "Scan", &b, &r, err))) {
            rcpt_awsjson_result_free(&r);
            break;
        }
        rcpt_av *items = (rcpt_av *)rcpt_awsjson_get(r.body, "Items", RCPT_AV_L);
        for (size_t i = 0; items && i < items->n && !rc; i++) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 256;
                srow *nr = realloc(rows, nc * sizeof *nr);
                if (!nr) {
                    rc = oom(err, "scan");
                    break;
                }
                rows = nr;
                cap = nc;
            }
            srow *s = &rows[n];
            memset(s, 0, sizeof *s);
            if ((rc = take_item(&items->vals[i], &s->it, err)))
                break;
            n++;
            sort_attrs(s->it);
            s->pk = rcpt_m_str(s->it, "PK");
            s->sk = rcpt_m_str(s->it, "SK");
            rcpt_buf jb = RCPT_BUF_INIT;
            rcpt_item_to_json(s->it, &jb);
            if (jb.oom || !s->pk || !s->sk) {
                rcpt_buf_free(&jb);
                rc = s->pk && s->sk ? oom(err, "scan") : rcpt_err_set(err, RCPT_ECORRUPT, "DynamoDB Scan %s: an item without string PK and SK", d->table);
                break;
            }
            s->json = rcpt_buf_detach(&jb, &s->len);
        }
        if (!rc)
            rc = table_start_key(r.body, &esk, err, "scan");
        rcpt_awsjson_result_free(&r);
        if (rc || !esk)
            break;
    }
    if (!rc && n)
        qsort(rows, n, sizeof *rows, cmp_srow);
    for (size_t i = 0; i < n && !rc; i++) {
        static const char *const G[6] = {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"};
        rcpt_row row;
        row.pk = rows[i].pk;
        row.sk = rows[i].sk;
        row.type = rcpt_m_str(rows[i].it, "TYPE");
        for (int g = 0; g < 6; g++)
            row.gsi[g] = rcpt_m_str(rows[i].it, G[g]);
        row.json = rows[i].json;
        row.json_len = rows[i].len;
        rc = fn(ud, &row);
    }
    for (size_t i = 0; i < n; i++) {
        rcpt_item_free(rows[i].it);
        free(rows[i].json);
    }
    free(rows);
    free(esk);
    rcpt_buf_free(&b);
    return rc;
}

static void d_close(rcpt_store *st)
{
    ddb *d = D(st);
    rcpt_awsjson_free(d->c);
    free(d);
    free(st);
}

static const rcpt_store_ops DDB_OPS = {
    "dynamodb", d_get, d_transact, d_update, d_query, d_replace, d_scan, d_put_rows, NULL, d_close,
    NULL, NULL, /* no change feed: on AWS compaction gets the DynamoDB stream */
    NULL,       /* put_ocr: the JSON rows through d_replace */
};

int rcpt_ddb_client_new(rcpt_awsjson **out, rcpt_err *err)
{
    static const char *const VARS[] = {"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", NULL};
    rcpt_awsjson_opts o = {0};
    o.service = "dynamodb";
    o.target_prefix = "DynamoDB_20120810";
    o.env_endpoint_vars = VARS;
    o.default_host_prefix = "dynamodb";
    return rcpt_awsjson_new(&o, out, err);
}

int rcpt_ddb_table_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 3 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

int rcpt_store_open_dynamodb(const char *table, rcpt_store **out, rcpt_err *err)
{
    *out = NULL;
    if (!rcpt_ddb_table_name_ok(table))
        return rcpt_err_set(err, RCPT_EINVAL,
                            "store URL dynamodb:%s: a table name is 3-255 characters of a-z A-Z 0-9 _ - .", table);
    ddb *d = calloc(1, sizeof *d);
    rcpt_store *st = calloc(1, sizeof *st);
    if (!d || !st) {
        free(d);
        free(st);
        return oom(err, "dynamodb");
    }
    snprintf(d->table, sizeof d->table, "%s", table);
    d->rnd = ((uint64_t)(uintptr_t)d ^ (uint64_t)time(NULL)) * 0x9E3779B97F4A7C15ULL | 1;
    int rc = rcpt_ddb_client_new(&d->c, err);
    if (rc) {
        rcpt_err_prefix(err, "store dynamodb:%s", table);
        free(d);
        free(st);
        return rc;
    }
    st->ops = &DDB_OPS;
    st->impl = d;
    *out = st;
    return RCPT_OK;
}

rcpt_http_client *rcpt_store_dynamodb_http(rcpt_store *st)
{
    return st && st->ops == &DDB_OPS ? rcpt_awsjson_http(D(st)->c) : NULL;
}
