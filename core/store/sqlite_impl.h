/* Private to core/store: the SQLite connection shared by the store and the
 * queues opened from it (refcounted: the last one closes it). */
#ifndef RCPT_STORE_SQLITE_IMPL_H
#define RCPT_STORE_SQLITE_IMPL_H

#include <sqlite3.h>

#include "store.h"
#include "util/fault.h"

enum {
    SQ_GET, SQ_GET_OLD, SQ_PUT, SQ_DEL, SQ_DEL_RANGE /* the SKs of a range */, SQ_FEED, SQ_SCAN,
    SQ_PUT_MANY /* SQ_PUT of an array of rows (the rcpt_rows table function) */, SQ_NSTMT
};

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *st[SQ_NSTMT];
    int refs;
    rcpt_fault_set *faults;          /* RCPT_FAULTS sqlite rules (tests only), else NULL */
    char path[1];
} sq_conn;

/* sqlite3_step with retries on SQLITE_BUSY / SQLITE_LOCKED, so a writer in
 * another process shows up as a wait, never as "database is locked" */
int rcpt__sq_step(sqlite3_stmt *s);
int rcpt__sq_begin(sq_conn *c, rcpt_err *err);
int rcpt__sq_commit(sq_conn *c, rcpt_err *err);
void rcpt__sq_rollback(sq_conn *c);
int rcpt__sq_fail(sq_conn *c, int code, rcpt_err *err, const char *what);
void rcpt__sq_unref(sq_conn *c);
int rcpt__sq_queue_open(sq_conn *c, const char *name, rcpt_queue **out, rcpt_err *err);

#endif
