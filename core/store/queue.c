/* The local OCR job queue: SQS semantics on a table of the store's SQLite
 * file.  A received message gets a fresh receipt handle and becomes
 * invisible until visible_ms; after that it is delivered again with its
 * receive count incremented, and the old handle no longer deletes it. */
#include "sqlite_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sq_queue {
    sq_conn *c;
    char name[1];
} sq_queue;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sq_queue *Q(rcpt_queue *q) { return q->impl; }

static int prep(sq_conn *c, const char *sql, sqlite3_stmt **s, rcpt_err *err)
{
    if (sqlite3_prepare_v2(c->db, sql, -1, s, NULL) != SQLITE_OK)
        return rcpt__sq_fail(c, RCPT_EIO, err, "queue");
    return RCPT_OK;
}

static int q_send(rcpt_queue *q, const char *body, size_t len, char id_out[40], rcpt_err *err)
{
    sq_queue *qq = Q(q);
    sqlite3_stmt *s = NULL;
    char id[37];
    if (rcpt_uuid4(id))
        return rcpt_err_set(err, RCPT_EIO, "queue %s: no randomness for a message id", qq->name);
    int rc = rcpt__sq_begin(qq->c, err);
    if (rc)
        return rc;
    if ((rc = prep(qq->c,
                   "INSERT INTO rcpt_queue(id, queue, body, sent_ms, visible_ms, receive_count, seq)"
                   " VALUES (?1, ?2, ?3, ?4, ?4, 0,"
                   " (SELECT COALESCE(MAX(seq), 0) + 1 FROM rcpt_queue))", &s, err)))
        goto fail;
    int64_t t = now_ms();
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, qq->name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, len ? body : "", (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, t);
    if (rcpt__sq_step(s) != SQLITE_DONE) {
        rc = rcpt__sq_fail(qq->c, RCPT_EIO, err, "queue send");
        goto fail;
    }
    sqlite3_finalize(s);
    if ((rc = rcpt__sq_commit(qq->c, err)))
        return rc;
    snprintf(id_out, 40, "%s", id);
    return RCPT_OK;
fail:
    sqlite3_finalize(s);
    rcpt__sq_rollback(qq->c);
    return rc;
}

static int q_receive(rcpt_queue *q, int max, double vis_s, rcpt_msg **out, size_t *n, rcpt_err *err)
{
    sq_queue *qq = Q(q);
    sqlite3_stmt *sel = NULL, *upd = NULL;
    rcpt_msg *msgs = NULL;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    if (max < 1 || max > 10)
        return rcpt_err_set(err, RCPT_EINVAL, "queue %s: max messages must be 1..10", qq->name);
    if (!(vis_s >= 0 && vis_s <= 43200))
        return rcpt_err_set(err, RCPT_EINVAL, "queue %s: visibility timeout must be 0..43200 s", qq->name);
    msgs = calloc((size_t)max, sizeof *msgs);
    if (!msgs)
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    int rc = rcpt__sq_begin(qq->c, err);
    if (rc) {
        free(msgs);
        return rc;
    }
    if ((rc = prep(qq->c, "SELECT id, body, receive_count, sent_ms FROM rcpt_queue"
                          " WHERE queue = ?1 AND visible_ms <= ?2 ORDER BY seq LIMIT ?3", &sel, err)) ||
        (rc = prep(qq->c, "UPDATE rcpt_queue SET visible_ms = ?1, receive_count = receive_count + 1,"
                          " receipt = ?2 WHERE id = ?3", &upd, err)))
        goto fail;
    int64_t t = now_ms();
    sqlite3_bind_text(sel, 1, qq->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sel, 2, t);
    sqlite3_bind_int(sel, 3, max);
    for (;;) {
        /* inside BEGIN IMMEDIATE no other writer can interfere; retry only
         * before the first row all the same (a reset would restart) */
        int r = k == 0 ? rcpt__sq_step(sel) : sqlite3_step(sel);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = rcpt__sq_fail(qq->c, RCPT_EIO, err, "queue receive");
            goto fail;
        }
        rcpt_msg *m = &msgs[k];
        snprintf(m->id, sizeof m->id, "%s", (const char *)sqlite3_column_text(sel, 0));
        int bl = sqlite3_column_bytes(sel, 1);
        const void *b = sqlite3_column_blob(sel, 1);
        m->body = malloc((size_t)bl + 1);
        if (!m->body) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
            goto fail;
        }
        if (bl)
            memcpy(m->body, b, (size_t)bl);
        m->body[bl] = '\0';
        m->body_len = (size_t)bl;
        m->receive_count = sqlite3_column_int(sel, 2) + 1;
        m->sent_ms = sqlite3_column_int64(sel, 3);
        char u[37];
        rcpt_uuid4(u);
        /* the handle names the message and this delivery */
        snprintf(m->receipt, sizeof m->receipt, "%s:%d:%s", m->id, m->receive_count, u);
        k++;
    }
    for (size_t i = 0; i < k; i++) {
        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, t + (int64_t)(vis_s * 1000.0));
        sqlite3_bind_text(upd, 2, msgs[i].receipt, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 3, msgs[i].id, -1, SQLITE_STATIC);
        if (rcpt__sq_step(upd) != SQLITE_DONE) {
            rc = rcpt__sq_fail(qq->c, RCPT_EIO, err, "queue receive");
            goto fail;
        }
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    sel = upd = NULL;
    if ((rc = rcpt__sq_commit(qq->c, err)))
        goto fail;
    if (k == 0) {
        free(msgs);
        msgs = NULL;
    }
    *out = msgs;
    *n = k;
    return RCPT_OK;
fail:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    rcpt__sq_rollback(qq->c);
    rcpt_msgs_free(msgs, k);
    return rc;
}

static int q_del(rcpt_queue *q, const char *receipt, rcpt_err *err)
{
    sq_queue *qq = Q(q);
    sqlite3_stmt *s = NULL;
    int rc = rcpt__sq_begin(qq->c, err);
    if (rc)
        return rc;
    if ((rc = prep(qq->c, "DELETE FROM rcpt_queue WHERE queue = ?1 AND receipt = ?2", &s, err)))
        goto fail;
    sqlite3_bind_text(s, 1, qq->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, receipt, -1, SQLITE_STATIC);
    if (rcpt__sq_step(s) != SQLITE_DONE) {
        rc = rcpt__sq_fail(qq->c, RCPT_EIO, err, "queue delete");
        goto fail;
    }
    int changed = sqlite3_changes(qq->c->db);
    sqlite3_finalize(s);
    if ((rc = rcpt__sq_commit(qq->c, err)))
        return rc;
    if (!changed)
        return rcpt_err_set(err, RCPT_ENOTFOUND,
                            "queue %s: receipt handle unknown or stale (message redelivered or deleted)", qq->name);
    return RCPT_OK;
fail:
    sqlite3_finalize(s);
    rcpt__sq_rollback(qq->c);
    return rc;
}

static int q_count(rcpt_queue *q, long *visible, long *inflight, rcpt_err *err)
{
    sq_queue *qq = Q(q);
    sqlite3_stmt *s = NULL;
    int rc = prep(qq->c, "SELECT COALESCE(SUM(visible_ms <= ?2), 0), COALESCE(SUM(visible_ms > ?2), 0)"
                         " FROM rcpt_queue WHERE queue = ?1", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_text(s, 1, qq->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms());
    if (rcpt__sq_step(s) != SQLITE_ROW) {
        rc = rcpt__sq_fail(qq->c, RCPT_EIO, err, "queue count");
    } else {
        if (visible)
            *visible = (long)sqlite3_column_int64(s, 0);
        if (inflight)
            *inflight = (long)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return rc;
}

static void q_close(rcpt_queue *q)
{
    sq_queue *qq = Q(q);
    rcpt__sq_unref(qq->c);
    free(qq);
    free(q);
}

static const rcpt_queue_ops SQ_QUEUE_OPS = {q_send, q_receive, q_del, q_count, q_close};

int rcpt__sq_queue_open(sq_conn *c, const char *name, rcpt_queue **out, rcpt_err *err)
{
    size_t n = strlen(name);
    if (n > 80)
        return rcpt_err_set(err, RCPT_EINVAL, "queue name: at most 80 characters");
    rcpt_queue *q = calloc(1, sizeof *q);
    sq_queue *qq = calloc(1, sizeof *qq + n);
    if (!q || !qq) {
        free(q);
        free(qq);
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    }
    memcpy(qq->name, name, n + 1);
    qq->c = c;
    c->refs++;
    q->ops = &SQ_QUEUE_OPS;
    q->impl = qq;
    *out = q;
    return RCPT_OK;
}
