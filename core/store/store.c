/* Backend-independent parts of the store: opening by URL, the thin wrappers
 * over the vtable, conditions, rows, export and import. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

int rcpt_store_open(const char *url, rcpt_store **out, rcpt_err *err)
{
    *out = NULL;
    if (!url || !*url)
        return rcpt_err_set(err, RCPT_EINVAL, "store URL: empty");
    if (strncmp(url, "sqlite:", 7) == 0) {
        if (!url[7])
            return rcpt_err_set(err, RCPT_EINVAL, "store URL '%s': missing a path after sqlite:", url);
        return rcpt_store_open_sqlite(url + 7, out, err);
    }
    if (strncmp(url, "dynamodb:", 9) == 0)
        return rcpt_store_open_dynamodb(url + 9, out, err);
    return rcpt_err_set(err, RCPT_EINVAL, "store URL '%s': unknown scheme (expected sqlite:PATH or dynamodb:TABLE)", url);
}

int rcpt_store_changes(rcpt_store *st, int64_t after, int limit, rcpt_change **out, size_t *n,
                       rcpt_err *err)
{
    *out = NULL;
    *n = 0;
    if (!st->ops->changes)
        return rcpt_err_set(err, RCPT_EINVAL, "the %s store has no change feed (use its stream)",
                            st->ops->name);
    return st->ops->changes(st, after, limit, out, n, err);
}

int rcpt_store_cursor(rcpt_store *st, const char *consumer, int64_t set, int64_t *out,
                      rcpt_err *err)
{
    if (!st->ops->cursor)
        return rcpt_err_set(err, RCPT_EINVAL, "the %s store has no change feed (use its stream)",
                            st->ops->name);
    if (!consumer || !*consumer)
        return rcpt_err_set(err, RCPT_EINVAL, "change cursor: consumer name required");
    return st->ops->cursor(st, consumer, set, out, err);
}

void rcpt_changes_free(rcpt_change *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++) {
        free(c[i].pk);
        free(c[i].sk);
        free(c[i].type);
        free(c[i].old_item);
        free(c[i].new_item);
    }
    free(c);
}

void rcpt_store_close(rcpt_store *st)
{
    if (st)
        st->ops->close(st);
}

int rcpt_store_get(rcpt_store *st, const char *pk, const char *sk, rcpt_item **out, rcpt_err *err)
{
    return st->ops->get(st, pk, sk, out, err);
}

int rcpt_store_put(rcpt_store *st, const rcpt_item *it, const rcpt_cond *cond, rcpt_err *err)
{
    rcpt_txop op = {RCPT_TX_PUT, it, NULL, NULL, {0, NULL, NULL, NULL}};
    if (cond)
        op.cond = *cond;
    return st->ops->transact(st, &op, 1, err);
}

int rcpt_store_delete(rcpt_store *st, const char *pk, const char *sk, const rcpt_cond *cond, rcpt_err *err)
{
    rcpt_txop op = {RCPT_TX_DELETE, NULL, pk, sk, {0, NULL, NULL, NULL}};
    if (cond)
        op.cond = *cond;
    return st->ops->transact(st, &op, 1, err);
}

int rcpt_store_update(rcpt_store *st, const char *pk, const char *sk, const rcpt_item *set,
                      const rcpt_cond *cond, rcpt_item **out, rcpt_err *err)
{
    return st->ops->update(st, pk, sk, set, cond, out, err);
}

int rcpt_store_query(rcpt_store *st, const rcpt_query *q, rcpt_result *out, rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    if (!q->pk)
        return rcpt_err_set(err, RCPT_EINVAL, "query: a partition value is required");
    if (q->index < RCPT_IDX_TABLE || q->index > RCPT_IDX_GSITYPE)
        return rcpt_err_set(err, RCPT_EINVAL, "query: unknown index %d", q->index);
    return st->ops->query(st, q, out, err);
}

int rcpt_store_transact(rcpt_store *st, const rcpt_txop *ops, size_t n, rcpt_err *err)
{
    if (n == 0)
        return RCPT_OK;
    return st->ops->transact(st, ops, n, err);
}

int rcpt_store_queue(rcpt_store *st, const char *name, rcpt_queue **out, rcpt_err *err)
{
    if (!name || !*name)
        return rcpt_err_set(err, RCPT_EINVAL, "queue: a name is required");
    if (!st->ops->queue)
        return rcpt_err_set(err, RCPT_EINVAL, "queue: the %s store has no local queues", st->ops->name);
    return st->ops->queue(st, name, out, err);
}

void rcpt_queue_close(rcpt_queue *q)
{
    if (q)
        q->ops->close(q);
}

void rcpt_msgs_free(rcpt_msg *m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++)
        free(m[i].body);
    free(m);
}

int rcpt_index_from_name(const char *name)
{
    static const char *const N[] = {"TABLE", "GSI1", "GSI2", "GSI3", "GSITYPE"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, N[i]) == 0)
            return i;
    return -1;
}

void rcpt_result_free(rcpt_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        rcpt_item_free(r->items[i]);
    free(r->items);
    free(r->cursor);
    memset(r, 0, sizeof *r);
}

int rcpt_cond_holds(const rcpt_cond *c, const rcpt_item *ex)
{
    if (!c)
        return 1;
    switch (c->kind) {
    case RCPT_COND_NONE:
        return 1;
    case RCPT_COND_NOT_EXISTS:
        return ex == NULL;
    case RCPT_COND_EXISTS:
        return ex != NULL;
    case RCPT_COND_LOCK_FREE: {
        if (!ex)
            return 1;
        /* DynamoDB's `expires < :now` on strings: byte-wise comparison; a
         * missing or non-string attribute makes the comparison false */
        const rcpt_av *e = rcpt_m_get(ex, "expires");
        if (!e || e->type != RCPT_AV_S || !c->now)
            return 0;
        size_t nl = strlen(c->now), m = e->len < nl ? e->len : nl;
        int r = memcmp(e->s, c->now, m);
        return r < 0 || (r == 0 && e->len < nl);
    }
    case RCPT_COND_EQ: {
        if (!ex || !c->attr || !c->value)
            return 0;
        const rcpt_av *a = rcpt_m_get(ex, c->attr);
        return a && rcpt_av_equal(a, c->value);
    }
    default:
        return 0;
    }
}

int rcpt_row_from_item(const rcpt_item *it, rcpt_buf *b, rcpt_row *row, rcpt_err *err)
{
    static const char *const G[6] = {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"};
    memset(row, 0, sizeof *row);
    if (!it || it->type != RCPT_AV_M)
        return rcpt_err_set(err, RCPT_EINVAL, "item: must be a map");
    row->pk = rcpt_m_str(it, "PK");
    row->sk = rcpt_m_str(it, "SK");
    if (!row->pk || !*row->pk)
        return rcpt_err_set(err, RCPT_EINVAL, "item.PK: must be a non-empty string");
    if (!row->sk || !*row->sk)
        return rcpt_err_set(err, RCPT_EINVAL, "item.SK: must be a non-empty string");
    row->type = rcpt_m_str(it, "TYPE");
    for (int i = 0; i < 6; i++)
        row->gsi[i] = rcpt_m_str(it, G[i]);
    size_t start = b->len;
    int rc = rcpt_item_to_json(it, b);
    if (rc)
        return rcpt_err_set(err, rc, "item: out of memory");
    row->json = b->data + start; /* caller must not grow b before using row */
    row->json_len = b->len - start;
    return RCPT_OK;
}

/* ---- export / import ---------------------------------------------------------- */

typedef struct exp_ctx {
    int (*write)(void *, const char *, size_t);
    void *ud;
    size_t count;
} exp_ctx;

static int export_row(void *ud, const rcpt_row *row)
{
    exp_ctx *e = ud;
    if (e->write(e->ud, "{\"Item\":", 8) || e->write(e->ud, row->json, row->json_len) ||
        e->write(e->ud, "}\n", 2))
        return RCPT_EIO;
    e->count++;
    return RCPT_OK;
}

int rcpt_store_export(rcpt_store *st, int (*write)(void *, const char *, size_t), void *ud,
                      size_t *count, rcpt_err *err)
{
    exp_ctx e = {write, ud, 0};
    int rc = st->ops->scan(st, export_row, &e, err);
    if (rc == RCPT_EIO && err && !err->msg[0])
        rcpt_err_set(err, rc, "export: write failed after %zu items", e.count);
    if (count)
        *count = e.count;
    return rc;
}

#define IMPORT_BATCH 2000

int rcpt_store_import(rcpt_store *st, int (*read_line)(void *, rcpt_buf *, int *), void *ud,
                      rcpt_progress_fn progress, void *pud, size_t *count, rcpt_err *err)
{
    rcpt_buf line = RCPT_BUF_INIT, json = RCPT_BUF_INIT;
    rcpt_item **items = calloc(IMPORT_BATCH, sizeof *items);
    rcpt_row *rows = calloc(IMPORT_BATCH, sizeof *rows);
    size_t n = 0, total = 0, lineno = 0;
    int rc = RCPT_OK, eof = 0;
    if (!items || !rows) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "import: out of memory");
        goto out;
    }
    while (!eof) {
        rcpt_buf_reset(&line);
        if ((rc = read_line(ud, &line, &eof))) {
            rcpt_err_set(err, rc, "import: read failed at line %zu", lineno + 1);
            goto out;
        }
        if (line.len || !eof)
            lineno++;
        const char *p = line.data ? line.data : "";
        size_t len = line.len;
        while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' '))
            len--;
        if (len) {
            rcpt_av *plain = NULL;
            if ((rc = rcpt_plain_from_json(p, len, &plain, err))) {
                rcpt_err_prefix(err, "import: line %zu", lineno);
                goto out;
            }
            rcpt_av *inner = (rcpt_av *)rcpt_m_get(plain, "Item");
            if (!inner || inner->type != RCPT_AV_M || plain->n != 1) {
                rcpt_item_free(plain);
                rc = rcpt_err_set(err, RCPT_EINVAL, "import: line %zu: expected {\"Item\": {...}}", lineno);
                goto out;
            }
            /* move the inner map out of the wrapper, then type it */
            items[n] = rcpt_item_new();
            if (!items[n]) {
                rcpt_item_free(plain);
                goto oom;
            }
            *items[n] = *inner;
            memset(inner, 0, sizeof *inner);
            inner->type = RCPT_AV_NULL;
            rcpt_item_free(plain);
            if ((rc = rcpt_item_type_plain(items[n], err))) {
                rcpt_item_free(items[n]);
                items[n] = NULL;
                rcpt_err_prefix(err, "import: line %zu", lineno);
                goto out;
            }
            n++;
        }
        if (n == IMPORT_BATCH || (eof && n)) {
            rcpt_buf_reset(&json);
            /* rows point into json: size it first so it does not move */
            for (size_t i = 0; i < n; i++)
                if ((rc = rcpt_item_to_json(items[i], &json)))
                    goto oom;
            size_t need = json.len;
            rcpt_buf_reset(&json);
            if ((rc = rcpt_buf_reserve(&json, need + 1)))
                goto oom;
            for (size_t i = 0; i < n; i++)
                if ((rc = rcpt_row_from_item(items[i], &json, &rows[i], err))) {
                    rcpt_err_prefix(err, "import: item %zu", total + i + 1);
                    goto out;
                }
            if ((rc = st->ops->put_rows(st, rows, n, err)))
                goto out;
            total += n;
            for (size_t i = 0; i < n; i++) {
                rcpt_item_free(items[i]);
                items[i] = NULL;
            }
            n = 0;
            if (progress && (rc = progress(pud, total)))
                goto out;
        }
    }
    goto out;
oom:
    rcpt_err_set(err, RCPT_ENOMEM, "import: out of memory");
out:
    if (items)
        for (size_t i = 0; i < n; i++)
            rcpt_item_free(items[i]);
    free(items);
    free(rows);
    rcpt_buf_free(&line);
    rcpt_buf_free(&json);
    if (count)
        *count = total;
    return rc;
}
