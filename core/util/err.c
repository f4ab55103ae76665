#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int rcpt_err_set(rcpt_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int rcpt_err_prefix(rcpt_err *err, const char *fmt, ...)
{
    if (!err)
        return RCPT_OK;
    char head[RCPT_ERR_MSG_MAX], old[RCPT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t h = strlen(head);
    if (h > sizeof err->msg - 3)
        h = sizeof err->msg - 3;
    memcpy(err->msg, head, h);
    memcpy(err->msg + h, ": ", 2);
    size_t rest = sizeof err->msg - h - 3;
    size_t o = strnlen(old, rest);
    memcpy(err->msg + h + 2, old, o);
    err->msg[h + 2 + o] = '\0';
    return err->code;
}

void rcpt_err_clear(rcpt_err *err)
{
    if (err) {
        err->code = RCPT_OK;
        err->msg[0] = '\0';
    }
}

const char *rcpt_err_name(int code)
{
    static const char *const names[] = {
        "OK", "EINVAL", "ENOMEM", "EIO", "ENOTFOUND", "ECONFLICT",
        "ETIMEOUT", "EHTTP", "ECORRUPT", "ELIMIT", "EAUTH",
    };
    if (code < 0 || (size_t)code >= sizeof names / sizeof names[0])
        return "EUNKNOWN";
    return names[code];
}
