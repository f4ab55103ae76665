/* Fault injection for tests: one switch, as data.
 *
 * RCPT_FAULTS holds ';'-separated rules; each rule is ':'-separated fields,
 * the first naming the layer:
 *
 *   RCPT_FAULTS="http:nth=3:status=503;http:host=127.0.0.1:status=429:times=2;
 *                objstore:op=put:nth=2:error=EIO;objstore:op=put:short=100;
 *                sqlite:nth=40:error=full;http:timeout:nth=1"
 *
 * layer      http | objstore | sqlite
 * match      op=NAME       the operation: http method (GET, POST, ...);
 *                          objstore put, get, head, delete, list, copy
 *                          (put_file counts as put, get_file as get);
 *                          sqlite put, delete (the write statements)
 *            key=TEXT      substring of the subject: the object key, the
 *                          http "host/path", the sqlite "pk/sk"
 *            host=TEXT     the same as key= (reads better for http)
 *            nth=N         the rule fires first on the Nth call *that matches
 *                          its op/key* (1-based, counted per rule, per process)
 * effect     http:     status=CODE [retry_after=SECONDS] | timeout | refused | short=BYTES
 *            objstore: error=EIO|ETIMEOUT|ENOTFOUND|EHTTP|EAUTH|ECONFLICT
 *                      short=BYTES (get: the first BYTES are delivered, then
 *                      the call fails with EIO; put: the store receives only
 *                      the first BYTES, then the call fails with EIO)
 *            sqlite:   error=full (SQLITE_FULL, "database or disk is full")
 *                      | error=ioerr (SQLITE_IOERR, "disk I/O error");
 *                      the statement fails and the caller rolls the
 *                      transaction back, as with a real SQLite error
 * count      times=N      fire on the matching calls nth .. nth+N-1 (default
 *                          N = 1 when nth= is given, otherwise every matching
 *                          call); times=always = no limit.  Rules are tried in
 *                          order and one call gets at most one fault: a call
 *                          an earlier rule took still counts for the later
 *                          rules (their window moves on, the fault is lost)
 *
 * The variable is read and parsed once per process (pthread_once).  When it
 * is unset or empty, rcpt_fault_env() returns NULL and every layer's cost is
 * one pointer check.  A malformed value is an error at the first layer that
 * asks (rcpt_http_client_new, rcpt_objstore_open, rcpt_store_open_sqlite
 * fail with a message naming the rule), never silently ignored.
 *
 * RCPT_FAULTS_LOG=PATH appends one line per injected fault
 * ("layer op subject -> effect") so a test can count what was injected.
 *
 * The process-wide rule set is the one piece of global state in librcpt;
 * it exists only for tests and production never sets the variable. */
#ifndef RCPT_UTIL_FAULT_H
#define RCPT_UTIL_FAULT_H

#include <stddef.h>

#include "err.h"

typedef enum { RCPT_FAULT_HTTP = 1, RCPT_FAULT_OBJSTORE, RCPT_FAULT_SQLITE } rcpt_fault_layer;

enum {
    RCPT_FAULT_STATUS = 1,   /* http: answer status */
    RCPT_FAULT_TIMEOUT,      /* http: time out */
    RCPT_FAULT_REFUSED,      /* http: connection refused */
    RCPT_FAULT_SHORT,        /* http/objstore: body cut after short_len bytes */
    RCPT_FAULT_ERROR         /* objstore: fail with code; sqlite: fail with sqlite_code */
};

typedef struct rcpt_fault_hit {
    int kind;
    long status;             /* STATUS */
    char retry_after[24];    /* STATUS: Retry-After value or "" */
    size_t short_len;        /* SHORT */
    int code;                /* ERROR, objstore: an RCPT_E* code */
    int sqlite_code;         /* ERROR, sqlite: SQLITE_FULL or SQLITE_IOERR */
} rcpt_fault_hit;

typedef struct rcpt_fault_set rcpt_fault_set;

/* Parse a rule string (the RCPT_FAULTS syntax).  An empty string gives a
 * set with no rules. */
int rcpt_fault_parse(const char *spec, rcpt_fault_set **out, rcpt_err *err);
void rcpt_fault_free(rcpt_fault_set *s);
/* Does the set hold a rule for layer? */
int rcpt_fault_has_layer(const rcpt_fault_set *s, rcpt_fault_layer layer);
/* Count one call of layer (op, subject) against every rule of that layer;
 * returns 1 and fills *hit when a rule fires (the first in order), else 0.
 * Thread-safe.  Logs the hit to s's log file, if any. */
int rcpt_fault_check(rcpt_fault_set *s, rcpt_fault_layer layer, const char *op,
                     const char *subject, rcpt_fault_hit *hit);
/* How many faults this set has injected. */
unsigned long rcpt_fault_injected(const rcpt_fault_set *s);

/* The process's set from RCPT_FAULTS (parsed once): RCPT_OK with *out NULL
 * when the variable is unset or empty; RCPT_EINVAL (message names the rule)
 * when it is malformed. */
int rcpt_fault_env(rcpt_fault_set **out, rcpt_err *err);

#endif
