/* The SQLite backend: one table `items` keyed (pk, sk) holding each item's
 * DynamoDB JSON text (OCR rows: a compact blob rendered to the same JSON on
 * read, see ocr_compact.h), with the GSI key columns beside it and partial
 * indexes on them (rows without a GSI cost nothing in that index).  It is a
 * rowid table with a unique (pk, sk) index rather than WITHOUT ROWID: items
 * are ~1 KB, and large rows in a WITHOUT ROWID b-tree make every insert
 * shuffle whole pages (measured 3x slower on the image write).
 *
 * Concurrency: WAL, busy_timeout, every write in BEGIN IMMEDIATE (so a
 * transaction never has to upgrade a read lock, the case where SQLite
 * returns SQLITE_BUSY without calling the busy handler), and a retry loop
 * around steps as a second line of defence. */
#include "sqlite_impl.h"
#include "ocr_compact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_MS 30000

/* The condition of the GSITYPE index, repeated verbatim in a GSITYPE query
 * so that SQLite sees the query implies it.  The rows it leaves out are the
 * compact OCR rows, the only rows whose item is not JSON text: every other
 * write (put_row) stores text.  (A NOT IN list of the OCR types said the
 * same but cost more per insert than the index entry it saved.) */
#define GSITYPE_ROWS "typeof(item) = 'text' AND type IS NOT NULL"

static int ocr_type(const char *t)
{
    static const char *const T[] = {"LINE", "WORD", "LETTER", "RECEIPT_LINE", "RECEIPT_WORD", "RECEIPT_LETTER"};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(t, T[i]))
            return 1;
    return 0;
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS items("
    " pk TEXT NOT NULL, sk TEXT NOT NULL, type TEXT,"
    " gsi1pk TEXT, gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT, gsi3pk TEXT, gsi3sk TEXT,"
    " item TEXT NOT NULL, UNIQUE (pk, sk));"
    "CREATE INDEX IF NOT EXISTS items_gsi1 ON items(gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS items_gsi2 ON items(gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS items_gsi3 ON items(gsi3pk, gsi3sk) WHERE gsi3pk IS NOT NULL;"
    /* GSITYPE.  Not over the OCR rows: they are 19 of 20 rows, their entry
     * made every image write a quarter slower, and nothing asks for every
     * LETTER of the table (such a query still works, as a scan).  Format 0
     * stores had items_type over every row. */
    "DROP INDEX IF EXISTS items_type;"
    "CREATE INDEX IF NOT EXISTS items_gsitype ON items(type) WHERE " GSITYPE_ROWS ";"
    "CREATE TABLE IF NOT EXISTS rcpt_queue("
    " id TEXT PRIMARY KEY, queue TEXT NOT NULL, body BLOB NOT NULL, sent_ms INTEGER NOT NULL,"
    " visible_ms INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT,"
    " seq INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS rcpt_queue_vis ON rcpt_queue(queue, visible_ms, seq);"
    "CREATE INDEX IF NOT EXISTS rcpt_queue_receipt ON rcpt_queue(receipt) WHERE receipt IS NOT NULL;"
    /* The change feed: the local stand-in for a DynamoDB stream
     * (NEW_AND_OLD_IMAGES) of the types compaction follows.  put_row and
     * del_row write it in the writer's own transaction, so a rolled-back
     * write leaves no entry and a committed one always has one.  The upsert
     * in SQ_PUT does not update an unchanged item, so re-processing adds no
     * MODIFY.  (It used to be three triggers on items; any trigger on a
     * table makes SQLite give every INSERT into it a statement journal, a
     * copy of each 32 KB page the row touches: 6,200 OCR rows wrote 1.2 GB
     * to a temp file, 3/4 of the image write.  Stores made then get the
     * triggers dropped on open, below.) */
    "CREATE TABLE IF NOT EXISTS rcpt_changes("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, event_name TEXT NOT NULL, pk TEXT NOT NULL,"
    " sk TEXT NOT NULL, type TEXT, old_item TEXT, new_item TEXT,"
    " at_ms INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)));"
    "CREATE TABLE IF NOT EXISTS rcpt_change_cursors(consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL);"
    "DROP TRIGGER IF EXISTS rcpt_changes_ins;"
    "DROP TRIGGER IF EXISTS rcpt_changes_upd;"
    "DROP TRIGGER IF EXISTS rcpt_changes_del;";

/* The store format, in PRAGMA user_version.  0: stores made before it was
 * set (JSON text rows, change-feed triggers, items_type over every row);
 * 1 is skipped; 2: OCR rows may be compact blobs (ocr_compact.h), the feed
 * written by put_row/del_row, GSITYPE indexed without the OCR types.
 * A 0 store is upgraded in place on open (triggers and index dropped, the
 * partial index built; its JSON rows stay readable, a rewrite makes them
 * compact).  A store of a higher
 * format is refused with a message rather than misread.  (rcpt before
 * format 2 does not look at the version: it would read a compact row as
 * bad JSON and re-create the triggers, doubling feed entries.) */
#define SQ_FORMAT 2
#define SQ_FORMAT_S "2"

static int user_version(sq_conn *c, int *out, rcpt_err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return rcpt__sq_fail(c, RCPT_EIO, err, "user_version");
    int r = rcpt__sq_step(s);
    *out = r == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    if (r != SQLITE_ROW)
        return rcpt__sq_fail(c, RCPT_EIO, err, "user_version");
    return RCPT_OK;
}

static const char *const SQL[SQ_NSTMT] = {
    [SQ_GET] = "SELECT item FROM items WHERE pk = ?1 AND sk = ?2",
    /* an upsert that updates in place (same rowid, untouched key index) and
     * writes nothing at all when the item text is unchanged: re-processing
     * an image costs reads, not writes */
    [SQ_PUT] = "INSERT INTO items(pk, sk, type, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk,"
               " gsi3sk, item) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
               " ON CONFLICT(pk, sk) DO UPDATE SET type = excluded.type,"
               " gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, gsi2pk = excluded.gsi2pk,"
               " gsi2sk = excluded.gsi2sk, gsi3pk = excluded.gsi3pk, gsi3sk = excluded.gsi3sk,"
               " item = excluded.item WHERE items.item IS NOT excluded.item",
    [SQ_PUT_MANY] = "INSERT INTO items(pk, sk, type, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk,"
                    " gsi3sk, item) SELECT pk, sk, type, g1, g2, g3, g4, g5, g6, item"
                    " FROM rcpt_rows(?1) WHERE true" /* WHERE: the upsert parsing rule */
                    " ON CONFLICT(pk, sk) DO UPDATE SET type = excluded.type,"
                    " gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, gsi2pk = excluded.gsi2pk,"
                    " gsi2sk = excluded.gsi2sk, gsi3pk = excluded.gsi3pk, gsi3sk = excluded.gsi3sk,"
                    " item = excluded.item WHERE items.item IS NOT excluded.item",
    [SQ_GET_OLD] = "SELECT type, item FROM items WHERE pk = ?1 AND sk = ?2",
    [SQ_DEL] = "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
    [SQ_DEL_RANGE] = "SELECT sk, type FROM items WHERE pk = ?1 AND sk >= ?2 AND (?3 IS NULL OR sk < ?3)",
    [SQ_FEED] = "INSERT INTO rcpt_changes(event_name, pk, sk, type, old_item, new_item)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SQ_SCAN] = "SELECT pk, sk, type, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, item"
                " FROM items ORDER BY pk, sk",
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int rcpt__sq_step(sqlite3_stmt *s)
{
    int rc;
    for (int tries = 0;; tries++) {
        rc = sqlite3_step(s);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries > 2000)
            return rc;
        sqlite3_reset(s);
        sleep_ms(5 + tries % 20);
    }
}

int rcpt__sq_fail(sq_conn *c, int code, rcpt_err *err, const char *what)
{
    return rcpt_err_set(err, code, "sqlite %s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static int exec_retry(sq_conn *c, const char *sql)
{
    int rc;
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries > 2000)
            return rc;
        sleep_ms(5 + tries % 20);
    }
}

int rcpt__sq_begin(sq_conn *c, rcpt_err *err)
{
    if (exec_retry(c, "BEGIN IMMEDIATE") != SQLITE_OK)
        return rcpt__sq_fail(c, RCPT_EIO, err, "begin");
    return RCPT_OK;
}

int rcpt__sq_commit(sq_conn *c, rcpt_err *err)
{
    if (exec_retry(c, "COMMIT") != SQLITE_OK) {
        int rc = rcpt__sq_fail(c, RCPT_EIO, err, "commit");
        rcpt__sq_rollback(c);
        return rc;
    }
    return RCPT_OK;
}

void rcpt__sq_rollback(sq_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

void rcpt__sq_unref(sq_conn *c)
{
    if (!c || --c->refs > 0)
        return;
    for (int i = 0; i < SQ_NSTMT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    free(c);
}

static sq_conn *conn(rcpt_store *st) { return st->impl; }

/* RCPT_FAULTS (core/util/fault.h): a write statement fails the way SQLite
 * reports a full disk or an I/O error; the caller rolls the transaction
 * back exactly as for a real failure.  One pointer check when unset. */
static int injected_write_fault(sq_conn *c, const char *op, const char *pk, const char *sk,
                                rcpt_err *err)
{
    if (!c->faults)
        return RCPT_OK;
    char subject[512];
    snprintf(subject, sizeof subject, "%s/%s", pk, sk);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(c->faults, RCPT_FAULT_SQLITE, op, subject, &h))
        return RCPT_OK;
    return rcpt_err_set(err, RCPT_EIO, "sqlite %s: %s: %s (injected fault)", c->path, op,
                        sqlite3_errstr(h.sqlite_code));
}

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* The item JSON in column col of the current row: the text itself, or
 * for a compact OCR row (a BLOB, see ocr_compact.h) its JSON rendered into
 * tmp.  *j stays valid until the statement moves or tmp is reused. */
static int col_json(sqlite3_stmt *s, int col, const char *pk, const char *sk, rcpt_buf *tmp,
                    const char **j, size_t *n, rcpt_err *err)
{
    if (sqlite3_column_type(s, col) == SQLITE_BLOB) {
        const void *b = sqlite3_column_blob(s, col);
        size_t off, len;
        rcpt_buf_reset(tmp);
        int rc = rcpt__ocr_render(pk ? pk : "", sk ? sk : "", b, (size_t)sqlite3_column_bytes(s, col), tmp,
                                  &off, &len, err);
        if (rc)
            return rc;
        *j = tmp->data + off;
        *n = len;
        return RCPT_OK;
    }
    const char *t = (const char *)sqlite3_column_text(s, col);
    *j = t ? t : "";
    *n = (size_t)sqlite3_column_bytes(s, col);
    return RCPT_OK;
}

/* existing item or NULL (ENOTFOUND is not an error here) */
static int load(sq_conn *c, const char *pk, const char *sk, rcpt_item **out, int *exists,
                rcpt_err *err)
{
    sqlite3_stmt *s = c->st[SQ_GET];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sk, -1, SQLITE_STATIC);
    int rc = rcpt__sq_step(s);
    if (out)
        *out = NULL;
    *exists = 0;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return RCPT_OK;
    }
    if (rc != SQLITE_ROW) {
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "get");
        sqlite3_reset(s);
        return rc;
    }
    *exists = 1;
    if (out) {
        rcpt_buf tmp = RCPT_BUF_INIT;
        const char *j;
        size_t n;
        rc = col_json(s, 0, pk, sk, &tmp, &j, &n, err);
        if (!rc && (rc = rcpt_item_from_json(j, n, out, err)))
            rcpt_err_prefix(err, "stored item %s / %s", pk, sk);
        rcpt_buf_free(&tmp);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? RCPT_OK : rc;
}

static int sq_get(rcpt_store *st, const char *pk, const char *sk, rcpt_item **out, rcpt_err *err)
{
    int exists;
    int rc = load(conn(st), pk, sk, out, &exists, err);
    if (rc)
        return rc;
    if (!exists)
        return rcpt_err_set(err, RCPT_ENOTFOUND, "item %s / %s: not found", pk, sk);
    return RCPT_OK;
}

/* ---- writes and the change feed ------------------------------------------ */

static int feed_type(const char *t)
{
    /* the first letter settles it for nearly every row */
    return t && ((t[0] == 'R' && !strcmp(t, "RECEIPT_METADATA")) || (t[0] == 'C' && !strcmp(t, "COMPACTION_RUN")));
}

/* The type of the row at (pk, sk) before a write and, when that is a
 * change-feed type, its item JSON (malloc'd, NULL when absent). */
typedef struct old_row {
    int exists;
    char *type, *item;
} old_row;

static void old_free(old_row *o)
{
    free(o->type);
    free(o->item);
}

static int old_read(sq_conn *c, const char *pk, const char *sk, old_row *o, rcpt_err *err)
{
    sqlite3_stmt *s = c->st[SQ_GET_OLD];
    memset(o, 0, sizeof *o);
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sk, -1, SQLITE_STATIC);
    int r = rcpt__sq_step(s), rc = RCPT_OK;
    if (r == SQLITE_ROW) {
        rcpt_buf tmp = RCPT_BUF_INIT;
        const char *j, *t = (const char *)sqlite3_column_text(s, 0);
        size_t n;
        o->exists = 1;
        o->type = t ? strdup(t) : NULL;
        if (t && !o->type)
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        /* the item only matters for the feed's old image */
        else if (feed_type(t) && !(rc = col_json(s, 1, pk, sk, &tmp, &j, &n, err)) &&
                 !(o->item = strndup(j, n)))
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        rcpt_buf_free(&tmp);
    } else if (r != SQLITE_DONE) {
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "get");
    }
    sqlite3_reset(s);
    if (rc)
        old_free(o);
    return rc;
}

static int feed_add(sq_conn *c, const char *event, const char *pk, const char *sk, const char *type,
                    const char *old_item, const char *new_item, size_t new_len, rcpt_err *err)
{
    sqlite3_stmt *s = c->st[SQ_FEED];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, sk, -1, SQLITE_STATIC);
    bind_opt(s, 4, type);
    bind_opt(s, 5, old_item);
    if (new_item)
        sqlite3_bind_text(s, 6, new_item, (int)new_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 6);
    int r = rcpt__sq_step(s);
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return rcpt__sq_fail(c, RCPT_EIO, err, "change feed");
    return RCPT_OK;
}

/* Upsert one row.  r->json is the item's JSON text, or with blob its compact
 * OCR encoding.  check_old = 0 only when the caller knows no change-feed
 * item lives at the key (put_ocr over its own ranges): then no read. */
static int put_row(sq_conn *c, const rcpt_row *r, int blob, int check_old, rcpt_err *err)
{
    if (injected_write_fault(c, "put", r->pk, r->sk, err))
        return RCPT_EIO;
    old_row old = {0, NULL, NULL};
    int rc;
    if ((check_old || feed_type(r->type)) && (rc = old_read(c, r->pk, r->sk, &old, err)))
        return rc;
    sqlite3_stmt *s = c->st[SQ_PUT];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, r->pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->sk, -1, SQLITE_STATIC);
    bind_opt(s, 3, r->type);
    for (int i = 0; i < 6; i++)
        bind_opt(s, 4 + i, r->gsi[i]);
    if (blob)
        sqlite3_bind_blob(s, 10, r->json, (int)r->json_len, SQLITE_STATIC);
    else
        sqlite3_bind_text(s, 10, r->json, (int)r->json_len, SQLITE_STATIC);
    int st = rcpt__sq_step(s);
    sqlite3_reset(s);
    if (st != SQLITE_DONE) {
        old_free(&old);
        return rcpt__sq_fail(c, RCPT_EIO, err, "put");
    }
    rc = RCPT_OK;
    /* sqlite3_changes is 0 when the upsert found the same item */
    if (sqlite3_changes(c->db) > 0 && (feed_type(r->type) || (old.exists && feed_type(old.type)))) {
        const char *nj = r->json;
        size_t nl = r->json_len, off;
        rcpt_buf tmp = RCPT_BUF_INIT;
        if (blob && !(rc = rcpt__ocr_render(r->pk, r->sk, r->json, r->json_len, &tmp, &off, &nl, err)))
            nj = tmp.data + off;
        if (!rc)
            rc = feed_add(c, old.exists ? "MODIFY" : "INSERT", r->pk, r->sk, r->type, old.item, nj, nl, err);
        rcpt_buf_free(&tmp);
    }
    old_free(&old);
    return rc;
}

/* may_feed = 0 when the caller knows the row is not a change-feed type */
static int del_row(sq_conn *c, const char *pk, const char *sk, int may_feed, rcpt_err *err)
{
    if (injected_write_fault(c, "delete", pk, sk, err))
        return RCPT_EIO;
    old_row old = {0, NULL, NULL};
    int rc;
    if (may_feed && (rc = old_read(c, pk, sk, &old, err)))
        return rc;
    sqlite3_stmt *s = c->st[SQ_DEL];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sk, -1, SQLITE_STATIC);
    int st = rcpt__sq_step(s);
    sqlite3_reset(s);
    rc = RCPT_OK;
    if (st != SQLITE_DONE)
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "delete");
    else if (old.exists && feed_type(old.type) && sqlite3_changes(c->db) > 0)
        rc = feed_add(c, "REMOVE", pk, sk, old.type, old.item, NULL, 0, err);
    old_free(&old);
    return rc;
}

/* ---- rcpt_rows: an array of rows as a table-valued function ------------------
 * put_ocr writes thousands of rows.  One upsert per row costs a statement
 * execution each (cursors on the table and its five indexes opened and
 * closed, the program run from the top): a third of the image write.  A
 * single INSERT ... SELECT FROM rcpt_rows(?1) walks the C array instead.
 * (A multi-row VALUES does not do: any statement that writes several rows
 * and may abort gets a statement journal, a copy of every page it touches
 * that existed before it; one statement per image copies a handful.) */
typedef struct rv_batch {
    const rcpt_row *rows;
    size_t n;
    int blob;                /* item column: compact blob (else JSON text) */
} rv_batch;

typedef struct rv_cursor {
    sqlite3_vtab_cursor base;
    const rv_batch *b;
    size_t i;
} rv_cursor;

enum { RV_ITEM = 9, RV_BATCH = 10 };

static int rv_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **errmsg)
{
    (void)aux; (void)argc; (void)argv; (void)errmsg;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(pk, sk, type, g1, g2, g3, g4, g5, g6, item,"
                                      " batch HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_vtab *v = sqlite3_malloc(sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    *out = v;
    return SQLITE_OK;
}

static int rv_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

/* the only plan: batch = ?, handed to xFilter */
static int rv_best_index(sqlite3_vtab *v, sqlite3_index_info *ix)
{
    (void)v;
    for (int i = 0; i < ix->nConstraint; i++)
        if (ix->aConstraint[i].iColumn == RV_BATCH && ix->aConstraint[i].op == SQLITE_INDEX_CONSTRAINT_EQ &&
            ix->aConstraint[i].usable) {
            ix->aConstraintUsage[i].argvIndex = 1;
            ix->aConstraintUsage[i].omit = 1;
            ix->estimatedCost = 1;
            ix->idxNum = 1;
            return SQLITE_OK;
        }
    return SQLITE_CONSTRAINT;
}

static int rv_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    (void)v;
    rv_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int rv_close(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int rv_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxs, int argc, sqlite3_value **argv)
{
    (void)idx; (void)idxs;
    rv_cursor *c = (rv_cursor *)cur;
    c->b = argc > 0 ? sqlite3_value_pointer(argv[0], "rcpt_rows") : NULL;
    c->i = 0;
    return SQLITE_OK;
}

static int rv_next(sqlite3_vtab_cursor *cur)
{
    ((rv_cursor *)cur)->i++;
    return SQLITE_OK;
}

static int rv_eof(sqlite3_vtab_cursor *cur)
{
    rv_cursor *c = (rv_cursor *)cur;
    return !c->b || c->i >= c->b->n;
}

static void rv_text(sqlite3_context *ctx, const char *s)
{
    if (s)
        sqlite3_result_text(ctx, s, -1, SQLITE_STATIC);
    else
        sqlite3_result_null(ctx);
}

/* the row strings outlive the statement (the caller's arena): SQLITE_STATIC */
static int rv_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    rv_cursor *c = (rv_cursor *)cur;
    const rcpt_row *r = &c->b->rows[c->i];
    switch (col) {
    case 0: rv_text(ctx, r->pk); break;
    case 1: rv_text(ctx, r->sk); break;
    case 2: rv_text(ctx, r->type); break;
    case RV_ITEM:
        if (c->b->blob)
            sqlite3_result_blob(ctx, r->json, (int)r->json_len, SQLITE_STATIC);
        else
            sqlite3_result_text(ctx, r->json, (int)r->json_len, SQLITE_STATIC);
        break;
    case RV_BATCH: sqlite3_result_null(ctx); break;
    default: rv_text(ctx, r->gsi[col - 3]); break;
    }
    return SQLITE_OK;
}

static int rv_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((rv_cursor *)cur)->i;
    return SQLITE_OK;
}

/* eponymous-only (no xCreate): used as rcpt_rows(?1), never created */
static const sqlite3_module RV_MODULE = {
    .iVersion = 0,
    .xConnect = rv_connect,
    .xBestIndex = rv_best_index,
    .xDisconnect = rv_disconnect,
    .xOpen = rv_open,
    .xClose = rv_close,
    .xFilter = rv_filter,
    .xNext = rv_next,
    .xEof = rv_eof,
    .xColumn = rv_column,
    .xRowid = rv_rowid,
};

/* put_row for rows known to hold no change-feed item before or after (the
 * caller checked: no row of a feed type, none at the keys), in one
 * statement.  Faults are checked row by row in order first, as put_row
 * does; a hit fails the call before anything is written. */
static int put_rows_fast(sq_conn *c, const rcpt_row *rows, size_t n, int blob, rcpt_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (injected_write_fault(c, "put", rows[i].pk, rows[i].sk, err))
            return RCPT_EIO;
    rv_batch b = {rows, n, blob};
    sqlite3_stmt *s = c->st[SQ_PUT_MANY];
    sqlite3_reset(s);
    sqlite3_bind_pointer(s, 1, &b, "rcpt_rows", NULL);
    int st = rcpt__sq_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s); /* b is on this stack frame */
    if (st != SQLITE_DONE)
        return rcpt__sq_fail(c, RCPT_EIO, err, "put");
    return RCPT_OK;
}

static int needs_item(const rcpt_cond *c)
{
    return c->kind == RCPT_COND_LOCK_FREE || c->kind == RCPT_COND_EQ;
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

static int check_cond(sq_conn *c, const rcpt_cond *cond, const char *pk, const char *sk,
                      size_t opi, size_t nops, rcpt_err *err)
{
    if (cond->kind == RCPT_COND_NONE)
        return RCPT_OK;
    rcpt_item *ex = NULL;
    int exists, rc = load(c, pk, sk, needs_item(cond) ? &ex : NULL, &exists, err);
    if (rc)
        return rc;
    int ok;
    if (needs_item(cond))
        ok = rcpt_cond_holds(cond, exists ? ex : NULL);
    else
        ok = cond->kind == RCPT_COND_NOT_EXISTS ? !exists : cond->kind == RCPT_COND_EXISTS ? exists : 0;
    rcpt_item_free(ex);
    if (ok)
        return RCPT_OK;
    if (nops > 1)
        return rcpt_err_set(err, RCPT_ECONFLICT, "transaction cancelled: op %zu on %s / %s: condition %s failed",
                            opi + 1, pk, sk, cond_name(cond->kind));
    return rcpt_err_set(err, RCPT_ECONFLICT, "%s / %s: condition %s failed", pk, sk, cond_name(cond->kind));
}

static int sq_transact(rcpt_store *st, const rcpt_txop *ops, size_t n, rcpt_err *err)
{
    sq_conn *c = conn(st);
    rcpt_buf json = RCPT_BUF_INIT;
    int rc = rcpt__sq_begin(c, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        const rcpt_txop *op = &ops[i];
        const char *pk = op->pk, *sk = op->sk;
        rcpt_row row;
        if (op->kind == RCPT_TX_PUT) {
            rcpt_buf_reset(&json);
            if ((rc = rcpt_row_from_item(op->item, &json, &row, err)))
                break;
            pk = row.pk;
            sk = row.sk;
        } else if (!pk || !sk) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "transaction op %zu: PK and SK are required", i + 1);
            break;
        }
        if ((rc = check_cond(c, &op->cond, pk, sk, i, n, err)))
            break;
        if (op->kind == RCPT_TX_PUT)
            rc = put_row(c, &row, 0, 1, err);
        else if (op->kind == RCPT_TX_DELETE)
            rc = del_row(c, pk, sk, 1, err);
        else if (op->kind != RCPT_TX_CHECK)
            rc = rcpt_err_set(err, RCPT_EINVAL, "transaction op %zu: unknown kind", i + 1);
    }
    rcpt_buf_free(&json);
    if (rc) {
        rcpt__sq_rollback(c);
        return rc;
    }
    return rcpt__sq_commit(c, err);
}

static int sq_update(rcpt_store *st, const char *pk, const char *sk, const rcpt_item *set,
                     const rcpt_cond *cond, rcpt_item **out, rcpt_err *err)
{
    sq_conn *c = conn(st);
    rcpt_item *ex = NULL;
    rcpt_buf json = RCPT_BUF_INIT;
    int exists;
    if (out)
        *out = NULL;
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->keys[i], "PK") || !strcmp(set->keys[i], "SK"))
            return rcpt_err_set(err, RCPT_EINVAL, "update: %s is a key attribute and cannot be set", set->keys[i]);
    int rc = rcpt__sq_begin(c, err);
    if (rc)
        return rc;
    if ((rc = load(c, pk, sk, &ex, &exists, err)))
        goto fail;
    if (cond && !rcpt_cond_holds(cond, ex)) {
        rc = rcpt_err_set(err, RCPT_ECONFLICT, "%s / %s: condition %s failed", pk, sk, cond_name(cond->kind));
        goto fail;
    }
    if (!ex) {
        ex = rcpt_item_new();
        if (!ex || rcpt_m_set_str(ex, "PK", pk) || rcpt_m_set_str(ex, "SK", sk))
            goto oom;
    }
    for (size_t i = 0; i < set->n; i++) {
        rcpt_av *slot = rcpt_m_set(ex, set->keys[i], RCPT_AV_NULL);
        if (!slot || rcpt_av_copy(slot, &set->vals[i]))
            goto oom;
    }
    rcpt_row row;
    if ((rc = rcpt_row_from_item(ex, &json, &row, err)) || (rc = put_row(c, &row, 0, 1, err)))
        goto fail;
    rcpt_buf_free(&json);
    if ((rc = rcpt__sq_commit(c, err))) {
        rcpt_item_free(ex);
        return rc;
    }
    if (out)
        *out = ex;
    else
        rcpt_item_free(ex);
    return RCPT_OK;
oom:
    rc = rcpt_err_set(err, RCPT_ENOMEM, "update: out of memory");
fail:
    rcpt__sq_rollback(c);
    rcpt_item_free(ex);
    rcpt_buf_free(&json);
    return rc;
}

/* the smallest string greater than every string starting with p, or NULL */
static char *prefix_hi(const char *p)
{
    size_t n = strlen(p);
    char *h = malloc(n + 1);
    if (!h)
        return NULL;
    memcpy(h, p, n + 1);
    while (n > 0) {
        unsigned char ch = (unsigned char)h[n - 1];
        if (ch < 0xFF) {
            h[n - 1] = (char)(ch + 1);
            h[n] = '\0';
            return h;
        }
        n--;
    }
    free(h);
    return NULL;
}

/* cursor: "<len>:<bytes>" for the sort key, pk, sk */
static char *cursor_make(const char *a, const char *b, const char *c3)
{
    rcpt_buf buf = RCPT_BUF_INIT;
    const char *v[3] = {a ? a : "", b, c3};
    for (int i = 0; i < 3; i++)
        rcpt_buf_printf(&buf, "%zu:%s", strlen(v[i]), v[i]);
    if (buf.oom) {
        rcpt_buf_free(&buf);
        return NULL;
    }
    return rcpt_buf_detach(&buf, NULL);
}

static int cursor_parse(const char *cur, char *out[3])
{
    const char *p = cur;
    for (int i = 0; i < 3; i++) {
        char *e;
        unsigned long n = strtoul(p, &e, 10);
        if (e == p || *e != ':' || strlen(e + 1) < n)
            return -1;
        out[i] = strndup(e + 1, n);
        if (!out[i])
            return -1;
        p = e + 1 + n;
    }
    return *p ? -1 : 0;
}

static int sq_query(rcpt_store *st, const rcpt_query *q, rcpt_result *res, rcpt_err *err)
{
    static const char *const PCOL[] = {"pk", "gsi1pk", "gsi2pk", "gsi3pk", "type"};
    static const char *const SCOL[] = {"sk", "gsi1sk", "gsi2sk", "gsi3sk", NULL};
    sq_conn *c = conn(st);
    const char *pc = PCOL[q->index], *sc = SCOL[q->index];
    const char *dir = q->descending ? "DESC" : "ASC";
    char *cur[3] = {NULL, NULL, NULL}, *hi = NULL;
    rcpt_buf sql = RCPT_BUF_INIT, tmp = RCPT_BUF_INIT;
    sqlite3_stmt *s = NULL;
    int rc = RCPT_OK;
    if (q->cursor && cursor_parse(q->cursor, cur)) {
        rc = rcpt_err_set(err, RCPT_EINVAL, "query: malformed cursor");
        goto out;
    }
    if (!sc && (q->sk_prefix || q->sk_lo || q->sk_hi)) {
        rc = rcpt_err_set(err, RCPT_EINVAL, "query: GSITYPE has no sort key");
        goto out;
    }
    rcpt_buf_printf(&sql, "SELECT pk, sk, %s, item FROM items WHERE %s = ?1", sc ? sc : "NULL", pc);
    if (q->index == RCPT_IDX_GSITYPE && !ocr_type(q->pk))
        rcpt_buf_puts(&sql, " AND " GSITYPE_ROWS);
    if (q->sk_prefix) {
        hi = prefix_hi(q->sk_prefix);
        rcpt_buf_printf(&sql, " AND %s >= ?2%s", sc, hi ? " AND " : "");
        if (hi)
            rcpt_buf_printf(&sql, "%s < ?3", sc);
    }
    if (q->sk_lo)
        rcpt_buf_printf(&sql, " AND %s >= ?4", sc);
    if (q->sk_hi)
        rcpt_buf_printf(&sql, " AND %s <= ?5", sc);
    if (q->type)
        rcpt_buf_puts(&sql, " AND type = ?6");
    if (q->cursor) {
        if (sc)
            rcpt_buf_printf(&sql, " AND (%s, pk, sk) %s (?7, ?8, ?9)", sc, q->descending ? "<" : ">");
        else
            rcpt_buf_printf(&sql, " AND (pk, sk) %s (?8, ?9)", q->descending ? "<" : ">");
    }
    if (sc)
        rcpt_buf_printf(&sql, " ORDER BY %s %s, pk %s, sk %s", sc, dir, dir, dir);
    else
        rcpt_buf_printf(&sql, " ORDER BY pk %s, sk %s", dir, dir);
    if (q->limit > 0)
        rcpt_buf_printf(&sql, " LIMIT %d", q->limit + 1);
    if (sql.oom) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "query: out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(c->db, sql.data, -1, &s, NULL) != SQLITE_OK) {
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "query");
        goto out;
    }
    sqlite3_bind_text(s, 1, q->pk, -1, SQLITE_STATIC);
    if (q->sk_prefix) {
        sqlite3_bind_text(s, 2, q->sk_prefix, -1, SQLITE_STATIC);
        if (hi)
            sqlite3_bind_text(s, 3, hi, -1, SQLITE_STATIC);
    }
    if (q->sk_lo) sqlite3_bind_text(s, 4, q->sk_lo, -1, SQLITE_STATIC);
    if (q->sk_hi) sqlite3_bind_text(s, 5, q->sk_hi, -1, SQLITE_STATIC);
    if (q->type) sqlite3_bind_text(s, 6, q->type, -1, SQLITE_STATIC);
    if (q->cursor) {
        if (sc) sqlite3_bind_text(s, 7, cur[0], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 8, cur[1], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 9, cur[2], -1, SQLITE_STATIC);
    }
    size_t cap = 0;
    for (;;) {
        /* retry BUSY only before the first row: a reset later would restart
         * the scan and return rows twice */
        int r = res->n == 0 ? rcpt__sq_step(s) : sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = rcpt__sq_fail(c, RCPT_EIO, err, "query");
            goto out;
        }
        if (q->limit > 0 && res->n == (size_t)q->limit) {
            /* one more row exists: the page ends at the previous one */
            rcpt_item *last = res->items[res->n - 1];
            const char *lp = rcpt_m_str(last, "PK"), *ls = rcpt_m_str(last, "SK");
            static const char *const SN[] = {"SK", "GSI1SK", "GSI2SK", "GSI3SK", NULL};
            const char *lsort = SN[q->index] ? rcpt_m_str(last, SN[q->index]) : "";
            res->cursor = cursor_make(lsort, lp ? lp : "", ls ? ls : "");
            break;
        }
        if (res->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rcpt_item **ni = realloc(res->items, nc * sizeof *ni);
            if (!ni) {
                rc = rcpt_err_set(err, RCPT_ENOMEM, "query: out of memory");
                goto out;
            }
            res->items = ni;
            cap = nc;
        }
        const char *j;
        size_t jn;
        const char *rpk = (const char *)sqlite3_column_text(s, 0), *rsk = (const char *)sqlite3_column_text(s, 1);
        if ((rc = col_json(s, 3, rpk, rsk, &tmp, &j, &jn, err)))
            goto out;
        if ((rc = rcpt_item_from_json(j, jn, &res->items[res->n], err))) {
            rcpt_err_prefix(err, "stored item %s / %s", sqlite3_column_text(s, 0), sqlite3_column_text(s, 1));
            goto out;
        }
        res->n++;
    }
out:
    sqlite3_finalize(s);
    rcpt_buf_free(&sql);
    rcpt_buf_free(&tmp);
    free(hi);
    for (int i = 0; i < 3; i++)
        free(cur[i]);
    if (rc)
        rcpt_result_free(res);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Put the rows (upserts: unchanged items are not rewritten), then delete the
 * items in the replaced ranges whose SK the new rows do not have.  The
 * ranges are read first: that gives the stale keys and tells whether a
 * change-feed item lives there (never, for put_ocr's ranges, unless someone
 * imported one there); only then does each put read the old row. */
static int replace_rows(sq_conn *c, const char *pk, const rcpt_replace *del, size_t ndel,
                        const rcpt_row *rows, size_t n, int blob, rcpt_err *err)
{
    const char **sks = malloc((n ? n : 1) * sizeof *sks);
    char **stale = NULL;
    size_t nstale = 0, capstale = 0;
    int check_old = 0, del_feed = 0;
    if (!sks)
        return rcpt_err_set(err, RCPT_ENOMEM, "replace: out of memory");
    size_t last = 0; /* rows come grouped by range: try the last one first */
    for (size_t i = 0; i < n; i++) {
        sks[i] = rows[i].sk;
        if (ndel && strncmp(rows[i].sk, del[last].prefix, strlen(del[last].prefix)) == 0)
            continue;
        size_t d = 0;
        while (d < ndel && strncmp(rows[i].sk, del[d].prefix, strlen(del[d].prefix)) != 0)
            d++;
        if (d == ndel)
            check_old = 1; /* a row outside the ranges read below */
        else
            last = d;
    }
    for (size_t d = 0; d < ndel; d++)
        for (size_t t = 0; t < del[d].ntypes; t++)
            del_feed |= feed_type(del[d].types[t]);
    size_t k = 1;
    while (k < n && strcmp(sks[k - 1], sks[k]) <= 0)
        k++;
    if (k < n) /* put_ocr's rows come in SK order already */
        qsort(sks, n, sizeof *sks, cmp_str);
    int rc = rcpt__sq_begin(c, err);
    if (rc) {
        free(sks);
        return rc;
    }
    sqlite3_stmt *s = c->st[SQ_DEL_RANGE];
    for (size_t d = 0; d < ndel && !rc; d++) {
        char *hi = prefix_hi(del[d].prefix);
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, pk, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, del[d].prefix, -1, SQLITE_STATIC);
        bind_opt(s, 3, hi);
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            const char *sk = (const char *)sqlite3_column_text(s, 0);
            const char *ty = (const char *)sqlite3_column_text(s, 1);
            if (feed_type(ty))
                check_old = 1;
            size_t t = 0;
            while (t < del[d].ntypes && !(ty && !strcmp(ty, del[d].types[t])))
                t++;
            if (t == del[d].ntypes || (n && bsearch(&sk, sks, n, sizeof *sks, cmp_str)))
                continue;
            if (nstale == capstale) {
                size_t nc = capstale ? capstale * 2 : 64;
                char **ns = realloc(stale, nc * sizeof *ns);
                if (!ns) {
                    rc = rcpt_err_set(err, RCPT_ENOMEM, "replace: out of memory");
                    break;
                }
                stale = ns;
                capstale = nc;
            }
            if (!(stale[nstale] = strdup(sk))) {
                rc = rcpt_err_set(err, RCPT_ENOMEM, "replace: out of memory");
                break;
            }
            nstale++;
        }
        if (!rc && r != SQLITE_DONE)
            rc = rcpt__sq_fail(c, RCPT_EIO, err, "replace (scan)");
        sqlite3_reset(s);
        free(hi);
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (strcmp(rows[i].pk, pk) != 0)
            rc = rcpt_err_set(err, RCPT_EINVAL, "replace: row %zu is outside partition %s", i + 1, pk);
        else if (feed_type(rows[i].type))
            check_old = 1;
    }
    if (!rc && !check_old)
        rc = put_rows_fast(c, rows, n, blob, err);
    for (size_t i = 0; i < n && !rc && check_old; i++)
        rc = put_row(c, &rows[i], blob, 1, err);
    for (size_t i = 0; i < nstale && !rc; i++)
        rc = del_row(c, pk, stale[i], del_feed, err);
    for (size_t i = 0; i < nstale; i++)
        free(stale[i]);
    free(stale);
    free(sks);
    if (rc) {
        rcpt__sq_rollback(c);
        return rc;
    }
    return rcpt__sq_commit(c, err);
}

static int sq_replace(rcpt_store *st, const char *pk, const rcpt_replace *del, size_t ndel,
                      const rcpt_row *rows, size_t n, rcpt_err *err)
{
    return replace_rows(conn(st), pk, del, ndel, rows, n, 0, err);
}

/* The image write with the rows in their compact encoding (ocr_compact.h):
 * no number is formatted and each row is ~1/4 of its JSON, which is what
 * SQLite then copies through its pages and the WAL. */
static int sq_put_ocr(rcpt_store *st, const char *image_id, const rcpt_ocr_doc *doc,
                      int image_level, int receipt_id, rcpt_err *err)
{
    rcpt_buf arena = RCPT_BUF_INIT;
    rcpt_row *rows = NULL;
    size_t n = 0;
    int rc = rcpt__ocr_rows_compact(image_id, doc, image_level, receipt_id, &arena, &rows, &n, err);
    if (rc) {
        rcpt_buf_free(&arena);
        return rc;
    }
    char pk[64], rprefix[48];
    rcpt_replace del[2];
    size_t nd = rcpt__ocr_replace_set(image_id, image_level, receipt_id, pk, rprefix, del);
    rc = replace_rows(conn(st), pk, del, nd, rows, n, 1, err);
    free(rows);
    rcpt_buf_free(&arena);
    return rc;
}

static int sq_put_rows(rcpt_store *st, const rcpt_row *rows, size_t n, rcpt_err *err)
{
    sq_conn *c = conn(st);
    int rc = rcpt__sq_begin(c, err);
    for (size_t i = 0; i < n && !rc; i++)
        rc = put_row(c, &rows[i], 0, 1, err);
    if (rc) {
        rcpt__sq_rollback(c);
        return rc;
    }
    return rcpt__sq_commit(c, err);
}

static int sq_scan(rcpt_store *st, int (*fn)(void *, const rcpt_row *), void *ud, rcpt_err *err)
{
    sq_conn *c = conn(st);
    sqlite3_stmt *s = NULL;
    /* a private statement: fn may call back into the store */
    if (sqlite3_prepare_v2(c->db, SQL[SQ_SCAN], -1, &s, NULL) != SQLITE_OK)
        return rcpt__sq_fail(c, RCPT_EIO, err, "scan");
    int rc = RCPT_OK, rows = 0;
    rcpt_buf tmp = RCPT_BUF_INIT;
    for (;;) {
        int r = rows++ == 0 ? rcpt__sq_step(s) : sqlite3_step(s); /* see sq_query */
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = rcpt__sq_fail(c, RCPT_EIO, err, "scan");
            break;
        }
        rcpt_row row;
        row.pk = (const char *)sqlite3_column_text(s, 0);
        row.sk = (const char *)sqlite3_column_text(s, 1);
        row.type = (const char *)sqlite3_column_text(s, 2);
        for (int i = 0; i < 6; i++)
            row.gsi[i] = (const char *)sqlite3_column_text(s, 3 + i);
        if ((rc = col_json(s, 9, row.pk, row.sk, &tmp, &row.json, &row.json_len, err)) ||
            (rc = fn(ud, &row)))
            break;
    }
    sqlite3_finalize(s);
    rcpt_buf_free(&tmp);
    return rc;
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? strdup(t) : NULL;
}

static int sq_changes(rcpt_store *st, int64_t after, int limit, rcpt_change **out, size_t *n,
                      rcpt_err *err)
{
    sq_conn *c = conn(st);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT seq, event_name, pk, sk, type, old_item, new_item, at_ms"
                           " FROM rcpt_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2", -1, &s,
                           NULL) != SQLITE_OK)
        return rcpt__sq_fail(c, RCPT_EIO, err, "changes");
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
    rcpt_change *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = RCPT_OK;
    for (int rows = 0;; rows++) {
        int r = rows == 0 ? rcpt__sq_step(s) : sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = rcpt__sq_fail(c, RCPT_EIO, err, "changes");
            break;
        }
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rcpt_change *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = rcpt_err_set(err, RCPT_ENOMEM, "changes: out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        rcpt_change *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->seq = sqlite3_column_int64(s, 0);
        snprintf(e->event, sizeof e->event, "%s", (const char *)sqlite3_column_text(s, 1));
        e->pk = col_dup(s, 2);
        e->sk = col_dup(s, 3);
        e->type = col_dup(s, 4);
        e->old_item = col_dup(s, 5);
        e->new_item = col_dup(s, 6);
        e->at_ms = sqlite3_column_int64(s, 7);
        if (!e->pk || !e->sk || (sqlite3_column_type(s, 5) != SQLITE_NULL && !e->old_item) ||
            (sqlite3_column_type(s, 6) != SQLITE_NULL && !e->new_item)) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "changes: out of memory");
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc) {
        rcpt_changes_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return RCPT_OK;
}

static int sq_cursor(rcpt_store *st, const char *consumer, int64_t set, int64_t *out, rcpt_err *err)
{
    sq_conn *c = conn(st);
    sqlite3_stmt *s = NULL;
    int rc = RCPT_OK;
    if (set < 0) {
        /* reading registers the consumer (at 0): entries are kept until every
         * registered consumer has passed them */
        if (sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO rcpt_change_cursors(consumer, seq)"
                               " VALUES (?1, 0)", -1, &s, NULL) != SQLITE_OK)
            return rcpt__sq_fail(c, RCPT_EIO, err, "change cursor");
        sqlite3_bind_text(s, 1, consumer, -1, SQLITE_STATIC);
        int w = rcpt__sq_step(s);
        sqlite3_finalize(s);
        s = NULL;
        if (w != SQLITE_DONE)
            return rcpt__sq_fail(c, RCPT_EIO, err, "change cursor");
        if (sqlite3_prepare_v2(c->db, "SELECT seq FROM rcpt_change_cursors WHERE consumer = ?1",
                               -1, &s, NULL) != SQLITE_OK)
            return rcpt__sq_fail(c, RCPT_EIO, err, "change cursor");
        sqlite3_bind_text(s, 1, consumer, -1, SQLITE_STATIC);
        int r = rcpt__sq_step(s);
        if (r == SQLITE_ROW)
            *out = sqlite3_column_int64(s, 0);
        else if (r == SQLITE_DONE)
            *out = 0;
        else
            rc = rcpt__sq_fail(c, RCPT_EIO, err, "change cursor");
        sqlite3_finalize(s);
        return rc;
    }
    if ((rc = rcpt__sq_begin(c, err)))
        return rc;
    if (sqlite3_prepare_v2(c->db, "INSERT INTO rcpt_change_cursors(consumer, seq) VALUES (?1, ?2)"
                           " ON CONFLICT(consumer) DO UPDATE SET seq = excluded.seq", -1, &s,
                           NULL) != SQLITE_OK) {
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "change cursor");
        rcpt__sq_rollback(c);
        return rc;
    }
    sqlite3_bind_text(s, 1, consumer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, set);
    if (rcpt__sq_step(s) != SQLITE_DONE)
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "change cursor");
    sqlite3_finalize(s);
    /* entries every consumer has passed are not needed any more */
    if (!rc && sqlite3_exec(c->db, "DELETE FROM rcpt_changes WHERE seq <="
                            " (SELECT MIN(seq) FROM rcpt_change_cursors)", NULL, NULL, NULL) != SQLITE_OK)
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "change cursor (prune)");
    if (rc) {
        rcpt__sq_rollback(c);
        return rc;
    }
    if (out)
        *out = set;
    return rcpt__sq_commit(c, err);
}

static int sq_queue(rcpt_store *st, const char *name, rcpt_queue **out, rcpt_err *err)
{
    return rcpt__sq_queue_open(conn(st), name, out, err);
}

static void sq_close(rcpt_store *st)
{
    rcpt__sq_unref(conn(st));
    free(st);
}

static const rcpt_store_ops SQ_OPS = {
    "sqlite", sq_get, sq_transact, sq_update, sq_query, sq_replace, sq_scan, sq_put_rows,
    sq_queue, sq_close, sq_changes, sq_cursor, sq_put_ocr,
};

int rcpt_store_open_sqlite(const char *path, rcpt_store **out, rcpt_err *err)
{
    *out = NULL;
    size_t pl = strlen(path);
    sq_conn *c = calloc(1, sizeof *c + pl);
    rcpt_store *st = calloc(1, sizeof *st);
    if (!c || !st) {
        free(c);
        free(st);
        return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    }
    memcpy(c->path, path, pl + 1);
    c->refs = 1;
    int rc = RCPT_OK;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = rcpt_err_set(err, RCPT_EIO, "sqlite %s: cannot open: %s", path,
                          c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, BUSY_MS);
    if (sqlite3_create_module(c->db, "rcpt_rows", &RV_MODULE, NULL) != SQLITE_OK) {
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "module");
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 0);
    /* 32 KB pages: an image write is thousands of ~1 KB items, and with
     * 4 KB pages SQLite spends about twice the CPU on b-tree and WAL frame
     * work (measured with bench/store_bench.sh).  Only takes effect when the
     * file is created. */
    if (exec_retry(c, "PRAGMA page_size=32768") != SQLITE_OK ||
        exec_retry(c, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
        /* WAL + NORMAL: no fsync per commit, only at checkpoints.  After a
         * crash or power loss the store is consistent (every transaction
         * whole or absent) but the last commits before it may be gone; a
         * redelivered job writes them again (docs/reliability.md). */
        exec_retry(c, "PRAGMA synchronous=NORMAL") != SQLITE_OK ||
        /* an image write is ~6 MB of pages: keep them in memory instead of
         * reading them back through the OS */
        exec_retry(c, "PRAGMA cache_size=-65536") != SQLITE_OK ||
        exec_retry(c, "PRAGMA mmap_size=268435456") != SQLITE_OK) {
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "pragma");
        goto fail;
    }
    if ((rc = rcpt__sq_begin(c, err)))
        goto fail;
    int version = 0;
    if ((rc = user_version(c, &version, err))) {
        rcpt__sq_rollback(c);
        goto fail;
    }
    if (version > SQ_FORMAT) {
        rc = rcpt_err_set(err, RCPT_EINVAL, "sqlite %s: store format %d is newer than this rcpt reads (%d):"
                          " use a newer rcpt, or export with it and import here", path, version, SQ_FORMAT);
        rcpt__sq_rollback(c);
        goto fail;
    }
    if (exec_retry(c, SCHEMA) != SQLITE_OK ||
        (version < SQ_FORMAT && exec_retry(c, "PRAGMA user_version=" SQ_FORMAT_S) != SQLITE_OK)) {
        rc = rcpt__sq_fail(c, RCPT_EIO, err, "schema");
        rcpt__sq_rollback(c);
        goto fail;
    }
    if ((rc = rcpt__sq_commit(c, err)))
        goto fail;
    for (int i = 0; i < SQ_NSTMT; i++)
        if (i != SQ_SCAN &&
            sqlite3_prepare_v3(c->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) != SQLITE_OK) {
            rc = rcpt__sq_fail(c, RCPT_EIO, err, "prepare");
            goto fail;
        }

    rcpt_fault_set *fs;
    if ((rc = rcpt_fault_env(&fs, err)))
        goto fail;
    if (rcpt_fault_has_layer(fs, RCPT_FAULT_SQLITE))
        c->faults = fs;
    st->ops = &SQ_OPS;
    st->impl = c;
    *out = st;
    return RCPT_OK;
fail:
    rcpt__sq_unref(c);
    free(st);
    return rc;
}
