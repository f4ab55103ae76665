/* The RCPT_FAULTS wrapper of an object store (core/util/fault.h): forwards
 * every call to the real store unless a rule of layer "objstore" fires.
 * Installed by rcpt_objstore_open only when RCPT_FAULTS has such rules. */
#include "net/objstore.h"
#include "util/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fstore {
    rcpt_objstore base;
    rcpt_objstore_vt vt;             /* scheme copied from the inner store */
    rcpt_objstore *inner;
    rcpt_fault_set *faults;
} fstore;

static fstore *fs_of(rcpt_objstore *s) { return (fstore *)s; }

static int injected(rcpt_objstore *s, const char *op, const char *key, const rcpt_fault_hit *h,
                    rcpt_err *err)
{
    if (h->kind == RCPT_FAULT_SHORT)
        return rcpt_err_set(err, RCPT_EIO, "%s: %s %s: transfer cut short after %zu bytes"
                            " (injected fault)", s->url, op, key, h->short_len);
    return rcpt_err_set(err, h->code, "%s: %s %s: %s (injected fault)", s->url, op, key,
                        rcpt_err_name(h->code));
}

static int f_put(rcpt_objstore *s, const char *key, const void *data, size_t len,
                 const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "put", key, &h))
        return f->inner->vt->put(f->inner, key, data, len, o, err);
    if (h.kind == RCPT_FAULT_SHORT) {
        /* the store sees only the first bytes, as after a torn upload of a
         * store without atomic puts; the caller is told it failed */
        rcpt_err e2;
        f->inner->vt->put(f->inner, key, data, len < h.short_len ? len : h.short_len, o, &e2);
    }
    return injected(s, "put", key, &h, err);
}

static int f_put_file(rcpt_objstore *s, const char *key, const char *path,
                      const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "put", key, &h))
        return f->inner->vt->put_file(f->inner, key, path, o, err);
    if (h.kind == RCPT_FAULT_SHORT) {
        FILE *fp = fopen(path, "rb");
        if (fp) {
            char *b = malloc(h.short_len ? h.short_len : 1);
            if (b) {
                size_t n = fread(b, 1, h.short_len, fp);
                rcpt_err e2;
                f->inner->vt->put(f->inner, key, b, n, o, &e2);
                free(b);
            }
            fclose(fp);
        }
    }
    return injected(s, "put", key, &h, err);
}

static int f_get(rcpt_objstore *s, const char *key, rcpt_buf *out, rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "get", key, &h))
        return f->inner->vt->get(f->inner, key, out, err);
    if (h.kind == RCPT_FAULT_SHORT) {
        /* the caller's buffer holds the bytes that arrived, as after a
         * dropped connection; the status says it failed */
        size_t start = out->len;
        int rc = f->inner->vt->get(f->inner, key, out, err);
        if (rc)
            return rc;
        if (out->len - start > h.short_len)
        {
            out->len = start + h.short_len;
            out->data[out->len] = '\0';
        }
    }
    return injected(s, "get", key, &h, err);
}

static int f_get_file(rcpt_objstore *s, const char *key, const char *path, rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "get", key, &h))
        return f->inner->vt->get_file(f->inner, key, path, err);
    /* get_file never leaves a partial file at path: a cut body is an error */
    return injected(s, "get", key, &h, err);
}

static int f_head(rcpt_objstore *s, const char *key, rcpt_objstore_info *info, rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "head", key, &h))
        return f->inner->vt->head(f->inner, key, info, err);
    return injected(s, "head", key, &h, err);
}

static int f_del(rcpt_objstore *s, const char *key, rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "delete", key, &h))
        return f->inner->vt->del(f->inner, key, err);
    return injected(s, "delete", key, &h, err);
}

static int f_list(rcpt_objstore *s, const char *prefix, const rcpt_objstore_list_opts *o,
                  rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "list", prefix ? prefix : "", &h))
        return f->inner->vt->list(f->inner, prefix, o, err);
    return injected(s, "list", prefix ? prefix : "", &h, err);
}

static int f_copy(rcpt_objstore *s, const char *src, const char *dst, rcpt_err *err)
{
    fstore *f = fs_of(s);
    rcpt_fault_hit h;
    if (!rcpt_fault_check(f->faults, RCPT_FAULT_OBJSTORE, "copy", dst, &h))
        return f->inner->vt->copy(f->inner, src, dst, err);
    return injected(s, "copy", dst, &h, err);
}

static void f_close(rcpt_objstore *s)
{
    fstore *f = fs_of(s);
    rcpt_objstore_close(f->inner);
    free(f);
}

/* no fault rule of its own: a sync is forwarded */
static int f_sync(rcpt_objstore *s, const char *const *keys, size_t n, rcpt_err *err)
{
    fstore *f = fs_of(s);
    return f->inner->vt->sync ? f->inner->vt->sync(f->inner, keys, n, err) : RCPT_OK;
}

static const rcpt_objstore_vt F_VT = {
    "fault", f_put, f_put_file, f_get, f_get_file, f_head, f_del, f_list, f_copy, f_close, f_sync,
};

int rcpt__objstore_fault_wrap(rcpt_objstore **s, rcpt_err *err)
{
    rcpt_fault_set *set;
    int rc = rcpt_fault_env(&set, err);
    if (rc) {
        rcpt_objstore_close(*s);
        *s = NULL;
        return rc;
    }
    if (!rcpt_fault_has_layer(set, RCPT_FAULT_OBJSTORE))
        return RCPT_OK;
    fstore *f = calloc(1, sizeof *f);
    if (!f) {
        rcpt_objstore_close(*s);
        *s = NULL;
        return rcpt_err_set(err, RCPT_ENOMEM, "objects: out of memory");
    }
    f->vt = F_VT;
    f->vt.scheme = (*s)->vt->scheme;
    f->base.vt = &f->vt;
    f->base.url = (*s)->url;         /* owned by the inner store */
    f->inner = *s;
    f->faults = set;
    *s = &f->base;
    return RCPT_OK;
}

rcpt_objstore *rcpt__objstore_fault_inner(rcpt_objstore *s)
{
    return s && s->vt->close == f_close ? fs_of(s)->inner : s;
}
