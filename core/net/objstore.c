/* rcpt_objstore: URL dispatch, key rules and the checks every backend shares.
 * Backends: objstore_file.c, objstore_s3.c. */
#include "net/objstore.h"

#include <stdlib.h>
#include <string.h>

/* A key as it may appear in a message: bounded, control bytes shown as '?'
 * (a hostile key must not forge log lines). */
static void show_key(char *out, size_t cap, const char *key, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)key[i];
        out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (len > 0 && n + 4 >= cap && n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

int rcpt_objstore_key_check(const char *key, size_t len, rcpt_err *err)
{
    char k[120];
    if (!key || len == 0)
        return rcpt_err_set(err, RCPT_EINVAL, "key: must not be empty");
    show_key(k, sizeof k, key, len);
    if (len > RCPT_OBJSTORE_KEY_MAX)
        return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": longer than %d bytes", k,
                            RCPT_OBJSTORE_KEY_MAX);
    if (memchr(key, '\0', len))
        return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": contains a NUL byte", k);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f)
            return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": contains a control character", k);
        if (c == '\\')
            return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": contains a backslash", k);
    }
    if (key[0] == '/')
        return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": must not start with '/'", k);
    if (key[len - 1] == '/')
        return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": must not end with '/'", k);
    size_t seg = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || key[i] == '/') {
            size_t sl = i - seg;
            if (sl == 0)
                return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": contains \"//\"", k);
            if ((sl == 1 && key[seg] == '.') || (sl == 2 && key[seg] == '.' && key[seg + 1] == '.'))
                return rcpt_err_set(err, RCPT_EINVAL, "key \"%s\": contains a \"%.*s\" segment", k,
                                    (int)sl, key + seg);
            seg = i + 1;
        }
    }
    return RCPT_OK;
}

static int meta_check(const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    if (!o)
        return RCPT_OK;
    const char *strs[2] = {o->content_type, o->content_encoding};
    const char *names[2] = {"content_type", "content_encoding"};
    for (int j = 0; j < 2; j++) {
        if (!strs[j])
            continue;
        if (strlen(strs[j]) > 120)
            return rcpt_err_set(err, RCPT_EINVAL, "%s: longer than 120 bytes", names[j]);
        for (const char *p = strs[j]; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                return rcpt_err_set(err, RCPT_EINVAL, "%s: must be printable ASCII", names[j]);
    }
    size_t total = 0;
    for (size_t i = 0; i < o->n_metadata; i++) {
        const char *n = o->metadata[i].name, *v = o->metadata[i].value;
        if (!n || !*n || !v)
            return rcpt_err_set(err, RCPT_EINVAL, "metadata[%zu]: needs a name and a value", i);
        for (const char *p = n; *p; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                return rcpt_err_set(err, RCPT_EINVAL,
                                    "metadata[%zu] name \"%.40s\": only letters, digits, '-' and '_'", i, n);
        }
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                return rcpt_err_set(err, RCPT_EINVAL, "metadata.%.40s: value must be printable ASCII", n);
        total += strlen(n) + strlen(v);
    }
    if (total > 2048)  /* S3's limit on user metadata */
        return rcpt_err_set(err, RCPT_EINVAL, "metadata: more than 2 KB in total");
    return RCPT_OK;
}

void rcpt_objstore_info_free(rcpt_objstore_info *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->n_metadata; i++) {
        free((char *)info->metadata[i].name);
        free((char *)info->metadata[i].value);
    }
    free(info->metadata);
    info->metadata = NULL;
    info->n_metadata = 0;
}

static int open_backend(const char *url, const rcpt_objstore_opts *opts,
                        rcpt_objstore **out, rcpt_err *err)
{
    *out = NULL;
    if (!url || !*url)
        return rcpt_err_set(err, RCPT_EINVAL, "objects url: must not be empty");
    if (strncmp(url, "s3://", 5) == 0) {
        const char *b = url + 5;
        size_t bl = strcspn(b, "/");
        if (bl == 0 || bl > 63)
            return rcpt_err_set(err, RCPT_EINVAL, "%s: bucket name must be 1-63 characters", url);
        for (size_t i = 0; i < bl; i++) {
            char c = b[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return rcpt_err_set(err, RCPT_EINVAL,
                                    "%s: bucket name may hold only a-z, 0-9, '-' and '.'", url);
        }
        char bucket[64];
        memcpy(bucket, b, bl);
        bucket[bl] = '\0';
        const char *prefix = b + bl;
        while (*prefix == '/')
            prefix++;
        /* the prefix is a key prefix: same rules, trailing '/' allowed */
        size_t pl = strlen(prefix);
        while (pl && prefix[pl - 1] == '/')
            pl--;
        if (pl) {
            rcpt_err e;
            if (rcpt_objstore_key_check(prefix, pl, &e) != RCPT_OK)
                return rcpt_err_set(err, RCPT_EINVAL, "%s: prefix: %s", url, e.msg);
        }
        char *pfx = strndup(prefix, pl);
        if (!pfx)
            return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
        int rc = rcpt_objstore_s3_open(bucket, pfx, url, opts, out, err);
        free(pfx);
        return rc;
    }
    const char *dir = url;
    if (strncmp(url, "file://", 7) == 0)
        dir = url + 7;
    else if (strncmp(url, "file:", 5) == 0)
        dir = url + 5;
    else if (strstr(url, "://"))
        return rcpt_err_set(err, RCPT_EINVAL, "%s: unknown object store scheme (use file:DIR or s3://BUCKET)",
                            url);
    if (!*dir)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: needs a directory", url);
    return rcpt_objstore_file_open(dir, url, out, err);
}

int rcpt_objstore_open(const char *url, const rcpt_objstore_opts *opts,
                       rcpt_objstore **out, rcpt_err *err)
{
    int rc = open_backend(url, opts, out, err);
    if (rc)
        return rc;
    /* RCPT_FAULTS (tests only): wraps the store when it has objstore rules */
    return rcpt__objstore_fault_wrap(out, err);
}

void rcpt_objstore_close(rcpt_objstore *s)
{
    if (s)
        s->vt->close(s);
}

const char *rcpt_objstore_url(const rcpt_objstore *s) { return s ? s->url : NULL; }

#define KEYCHK(key) do { \
    if (!(key)) return rcpt_err_set(err, RCPT_EINVAL, "%s: key: must not be empty", s->url); \
    int rc_ = rcpt_objstore_key_check((key), strlen(key), err); \
    if (rc_) return rcpt_err_prefix(err, "%s", s->url); } while (0)

int rcpt_objstore_put(rcpt_objstore *s, const char *key, const void *data, size_t len,
                      const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    KEYCHK(key);
    if (meta_check(o, err))
        return rcpt_err_prefix(err, "%s: %s", s->url, key);
    return s->vt->put(s, key, data, len, o, err);
}

int rcpt_objstore_put_file(rcpt_objstore *s, const char *key, const char *path,
                           const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    KEYCHK(key);
    if (!path || !*path)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: %s: source path: must not be empty", s->url, key);
    if (meta_check(o, err))
        return rcpt_err_prefix(err, "%s: %s", s->url, key);
    return s->vt->put_file(s, key, path, o, err);
}

int rcpt_objstore_get(rcpt_objstore *s, const char *key, rcpt_buf *out, rcpt_err *err)
{
    KEYCHK(key);
    return s->vt->get(s, key, out, err);
}

int rcpt_objstore_get_file(rcpt_objstore *s, const char *key, const char *path, rcpt_err *err)
{
    KEYCHK(key);
    if (!path || !*path)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: %s: destination path: must not be empty", s->url, key);
    return s->vt->get_file(s, key, path, err);
}

int rcpt_objstore_head(rcpt_objstore *s, const char *key, rcpt_objstore_info *info, rcpt_err *err)
{
    memset(info, 0, sizeof *info);
    KEYCHK(key);
    return s->vt->head(s, key, info, err);
}

int rcpt_objstore_delete(rcpt_objstore *s, const char *key, rcpt_err *err)
{
    KEYCHK(key);
    return s->vt->del(s, key, err);
}

int rcpt_objstore_list(rcpt_objstore *s, const char *prefix, const rcpt_objstore_list_opts *o,
                       rcpt_err *err)
{
    if (prefix && *prefix) {
        size_t pl = strlen(prefix);
        int dotdot = 0;
        for (const char *p = prefix; *p;) {
            size_t sl = strcspn(p, "/");
            if (sl == 2 && p[0] == '.' && p[1] == '.')
                dotdot = 1;
            p += sl;
            if (*p)
                p++;
        }
        if (pl > RCPT_OBJSTORE_KEY_MAX || prefix[0] == '/' || dotdot || strchr(prefix, '\\'))
            return rcpt_err_set(err, RCPT_EINVAL, "%s: list prefix \"%.100s\": must be a key prefix "
                                "(no leading '/', no '..', no backslash)", s->url, prefix);
    }
    if (!o || !o->on_entry)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: list: needs an on_entry callback", s->url);
    return s->vt->list(s, prefix ? prefix : "", o, err);
}

int rcpt_objstore_sync(rcpt_objstore *s, const char *const *keys, size_t n, rcpt_err *err)
{
    for (size_t i = 0; i < n; i++)
        KEYCHK(keys[i]);
    if (!s->vt->sync)
        return RCPT_OK;
    return s->vt->sync(s, keys, n, err);
}

int rcpt_objstore_copy(rcpt_objstore *s, const char *src_key, const char *dst_key, rcpt_err *err)
{
    KEYCHK(src_key);
    KEYCHK(dst_key);
    if (!s->vt->copy)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: copy is not supported", s->url);
    return s->vt->copy(s, src_key, dst_key, err);
}
