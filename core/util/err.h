/* rcpt_err: how every core function reports failure.
 *
 * Library code never prints.  A function that can fail returns an int status
 * (RCPT_OK or one of the codes below) and, when given a non-NULL rcpt_err,
 * fills it with the same code and a message meant for a person: it names the
 * field or the object that was wrong ("lines[3].words[2].text: must be a
 * string").  Messages never contain secrets (keys, signatures, signed URLs). */
#ifndef RCPT_UTIL_ERR_H
#define RCPT_UTIL_ERR_H

#include <stddef.h>

enum {
    RCPT_OK = 0,
    RCPT_EINVAL,     /* bad input: malformed JSON, a rule broken, a bad key */
    RCPT_ENOMEM,     /* allocation failed */
    RCPT_EIO,        /* file system or database error */
    RCPT_ENOTFOUND,  /* the thing asked for does not exist */
    RCPT_ECONFLICT,  /* a condition on a write did not hold (lock taken, item exists) */
    RCPT_ETIMEOUT,   /* a deadline passed */
    RCPT_EHTTP,      /* a remote service answered with an error */
    RCPT_ECORRUPT,   /* stored data failed a checksum or a format check */
    RCPT_ELIMIT,     /* a configured limit was exceeded (pixels, sizes) */
    RCPT_EAUTH       /* credentials refused */
};

#define RCPT_ERR_MSG_MAX 512

typedef struct rcpt_err {
    int code;
    char msg[RCPT_ERR_MSG_MAX];
} rcpt_err;

/* Record an error and return its code, so callers can write
 *   return rcpt_err_set(err, RCPT_EINVAL, "%s: must be a number", path);
 * err may be NULL. */
int rcpt_err_set(rcpt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with "prefix: " (used to add context
 * such as the object key or the record id while an error travels up). */
int rcpt_err_prefix(rcpt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void rcpt_err_clear(rcpt_err *err);

/* A short stable name for a code ("EINVAL", ...), used as errorType. */
const char *rcpt_err_name(int code);

#endif
