/* file:DIR backend of rcpt_objstore.
 *
 * An object KEY is the file DIR/KEY.  Its content type, encoding, ETag and
 * user metadata live in a sidecar DIR/.rcpt-meta/KEY.meta (one "name<TAB>value"
 * line each; names starting with ':' are ours).  A put writes a temporary
 * file .rcpt-tmp-XXXXXX in the target's own folder, fsyncs it and renames it
 * over the target (then fsyncs the folder), so a reader sees the old object
 * or the new one, never a mix, and a crash leaves at worst a temp file that
 * listing ignores. */
#define _GNU_SOURCE /* sync_file_range */
#include "net/objstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define META_DIR ".rcpt-meta"
#define TMP_PREFIX ".rcpt-tmp-"

typedef struct fstore {
    rcpt_objstore base;
    char *dir;
} fstore;

static const rcpt_objstore_vt file_vt;

/* ---- paths ------------------------------------------------------------------ */

static char *join(const char *a, const char *b, const char *suffix)
{
    rcpt_buf p = RCPT_BUF_INIT;
    rcpt_buf_printf(&p, "%s/%s%s", a, b, suffix ? suffix : "");
    return p.oom ? (rcpt_buf_free(&p), NULL) : rcpt_buf_detach(&p, NULL);
}

static int reserved_key(const char *key)
{
    for (const char *p = key; *p;) {
        if (strncmp(p, ".rcpt-", 6) == 0)
            return 1;
        p += strcspn(p, "/");
        if (*p)
            p++;
    }
    return 0;
}

static int check_reserved(fstore *f, const char *key, rcpt_err *err)
{
    if (reserved_key(key))
        return rcpt_err_set(err, RCPT_EINVAL, "%s: key \"%.200s\": a segment starting with \".rcpt-\" "
                            "is reserved by the file store", f->base.url, key);
    return RCPT_OK;
}

/* mkdir -p of the folders of path (not path itself). */
static int mkparents(const char *root, const char *path, const char *url, const char *key, rcpt_err *err)
{
    char *p = strdup(path);
    if (!p)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
    size_t rl = strlen(root);
    for (char *s = p + rl + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return rcpt_err_set(err, RCPT_EIO, "%s: %s: cannot create folder: %s", url, key, strerror(e));
        }
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(p);
            return rcpt_err_set(err, RCPT_ECONFLICT,
                                "%s: %s: a parent of this key is an object (the file store cannot hold both)",
                                url, key);
        }
        *s = '/';
    }
    free(p);
    return RCPT_OK;
}

static void fsync_dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return;
    char *sl = strrchr(d, '/');
    if (sl) {
        *sl = '\0';
        int fd = open(*d ? d : "/", O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    free(d);
}

/* ---- atomic writer ------------------------------------------------------------ */

typedef struct awriter {
    char *tmp;
    int fd;
    EVP_MD_CTX *md5;
} awriter;

static int aw_open(awriter *w, const char *target, const char *url, const char *key, rcpt_err *err)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    const char *sl = strrchr(target, '/');
    rcpt_buf t = RCPT_BUF_INIT;
    rcpt_buf_printf(&t, "%.*s/" TMP_PREFIX "XXXXXX", (int)(sl - target), target);
    if (t.oom)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
    w->tmp = rcpt_buf_detach(&t, NULL);
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        int e = errno;
        free(w->tmp);
        w->tmp = NULL;
        return rcpt_err_set(err, RCPT_EIO, "%s: %s: cannot create a temporary file: %s", url, key, strerror(e));
    }
    fchmod(w->fd, 0644);
    w->md5 = EVP_MD_CTX_new();
    if (!w->md5 || !EVP_DigestInit_ex(w->md5, EVP_md5(), NULL)) {
        /* MD5 may be unavailable (FIPS): the ETag is then left empty */
        EVP_MD_CTX_free(w->md5);
        w->md5 = NULL;
    }
    return RCPT_OK;
}

static int aw_write(awriter *w, const void *data, size_t n)
{
    const char *p = data;
    if (w->md5)
        EVP_DigestUpdate(w->md5, data, n);
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void aw_abort(awriter *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp) {
        unlink(w->tmp);
        free(w->tmp);
    }
    EVP_MD_CTX_free(w->md5);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}

/* fsync (sync_data), rename over target, fsync the folder (sync_dir).
 * Neither for the metadata sidecar, whose loss after a power cut only costs
 * the content type, and head() notices a stale one by its size: one fsync
 * pair per object, not three fsyncs.  Neither for a put with no_sync, whose
 * caller syncs later (f_sync).  etag gets the md5 hex. */
static int aw_commit(awriter *w, const char *target, char etag[33], const char *url, const char *key,
                     int sync_data, int sync_dir, rcpt_err *err)
{
    etag[0] = '\0';
    if (w->md5) {
        unsigned char md[16];
        unsigned int ml = 0;
        EVP_DigestFinal_ex(w->md5, md, &ml);
        for (unsigned i = 0; i < 16 && ml == 16; i++)
            snprintf(etag + 2 * i, 3, "%02x", md[i]);
    }
    if ((sync_data && fsync(w->fd) != 0) || close(w->fd) != 0) {
        int e = errno;
        w->fd = -1;
        aw_abort(w);
        return rcpt_err_set(err, RCPT_EIO, "%s: %s: writing failed: %s", url, key, strerror(e));
    }
    w->fd = -1;
    if (rename(w->tmp, target) != 0) {
        int e = errno;
        aw_abort(w);
        return rcpt_err_set(err, e == EISDIR || e == ENOTEMPTY || e == EEXIST ? RCPT_ECONFLICT : RCPT_EIO,
                            "%s: %s: cannot put: %s%s", url, key, strerror(e),
                            e == EISDIR || e == ENOTEMPTY ? " (other keys lie under this one)" : "");
    }
    if (sync_dir)
        fsync_dir_of(target);
    free(w->tmp);
    w->tmp = NULL;
    EVP_MD_CTX_free(w->md5);
    w->md5 = NULL;
    return RCPT_OK;
}

/* ---- metadata sidecar --------------------------------------------------------- */

static int write_meta(fstore *f, const char *key, const rcpt_objstore_put_opts *o, const char *etag,
                      long long size, const rcpt_objstore_info *copy_from, rcpt_err *err)
{
    char *path = NULL;
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_printf(&b, "%s/" META_DIR "/%s.meta", f->dir, key);
    path = b.oom ? (rcpt_buf_free(&b), NULL) : rcpt_buf_detach(&b, NULL);
    if (!path)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", f->base.url);
    int rc = mkparents(f->dir, path, f->base.url, key, err);
    rcpt_buf m = RCPT_BUF_INIT;
    if (rc == RCPT_OK) {
        const char *ct = o && o->content_type ? o->content_type
                       : copy_from && copy_from->content_type[0] ? copy_from->content_type
                       : "application/octet-stream";
        const char *ce = o && o->content_encoding ? o->content_encoding
                       : copy_from ? copy_from->content_encoding : "";
        rcpt_buf_printf(&m, ":content-type\t%s\n:etag\t%s\n:size\t%lld\n", ct, etag, size);
        if (ce && *ce)
            rcpt_buf_printf(&m, ":content-encoding\t%s\n", ce);
        if (o) {
            for (size_t i = 0; i < o->n_metadata; i++) {
                for (const char *p = o->metadata[i].name; *p; p++)
                    rcpt_buf_putc(&m, (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p));
                rcpt_buf_printf(&m, "\t%s\n", o->metadata[i].value);
            }
        } else if (copy_from) {
            for (size_t i = 0; i < copy_from->n_metadata; i++)
                rcpt_buf_printf(&m, "%s\t%s\n", copy_from->metadata[i].name, copy_from->metadata[i].value);
        }
        if (m.oom)
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", f->base.url);
    }
    if (rc == RCPT_OK) {
        awriter w;
        char unused[33];
        rc = aw_open(&w, path, f->base.url, key, err);
        if (rc == RCPT_OK) {
            if (aw_write(&w, m.data, m.len) != 0) {
                int e = errno;
                aw_abort(&w);
                rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: writing metadata: %s", f->base.url, key, strerror(e));
            } else {
                rc = aw_commit(&w, path, unused, f->base.url, key, 0, 0, err);
            }
        }
    }
    rcpt_buf_free(&m);
    free(path);
    return rc;
}

static void read_meta(fstore *f, const char *key, rcpt_objstore_info *info, long long *meta_size)
{
    *meta_size = -1;
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_printf(&b, "%s/" META_DIR "/%s.meta", f->dir, key);
    if (b.oom) {
        rcpt_buf_free(&b);
        return;
    }
    FILE *fp = fopen(b.data, "rb");
    rcpt_buf_free(&b);
    if (!fp)
        return;
    char line[4096];
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        const char *v = tab + 1;
        if (strcmp(line, ":content-type") == 0)
            snprintf(info->content_type, sizeof info->content_type, "%s", v);
        else if (strcmp(line, ":content-encoding") == 0)
            snprintf(info->content_encoding, sizeof info->content_encoding, "%s", v);
        else if (strcmp(line, ":etag") == 0)
            snprintf(info->etag, sizeof info->etag, "%s", v);
        else if (strcmp(line, ":size") == 0)
            *meta_size = strtoll(v, NULL, 10);
        else if (line[0] != ':') {
            rcpt_objstore_meta *m = realloc(info->metadata, (info->n_metadata + 1) * sizeof *m);
            if (!m)
                break;
            info->metadata = m;
            char *n = strdup(line), *vv = strdup(v);
            if (!n || !vv) {
                free(n);
                free(vv);
                break;
            }
            m[info->n_metadata].name = n;
            m[info->n_metadata].value = vv;
            info->n_metadata++;
        }
    }
    fclose(fp);
}

/* Remove empty folders from the one holding path up to (not including) root. */
static void prune_dirs(const char *root, const char *path)
{
    char *p = strdup(path);
    if (!p)
        return;
    size_t rl = strlen(root);
    for (;;) {
        char *sl = strrchr(p, '/');
        if (!sl || (size_t)(sl - p) <= rl)
            break;
        *sl = '\0';
        if (rmdir(p) != 0)
            break;
    }
    free(p);
}

/* ---- operations ------------------------------------------------------------------- */

/* The file a put of key writes (*path, the caller frees it), its parent
 * directories made; a key that other keys lie under is refused. */
static int put_path(fstore *f, const char *key, char **path, rcpt_err *err)
{
    const char *url = f->base.url;
    *path = NULL;
    int rc = check_reserved(f, key, err);
    if (rc)
        return rc;
    char *p = join(f->dir, key, NULL);
    if (!p)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
    rc = mkparents(f->dir, p, url, key, err);
    struct stat st;
    if (rc == RCPT_OK && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
        rc = rcpt_err_set(err, RCPT_ECONFLICT,
                          "%s: %s: other keys lie under this one (the file store cannot hold both)", url, key);
    if (rc) {
        free(p);
        return rc;
    }
    *path = p;
    return RCPT_OK;
}

static int f_put_common(fstore *f, const char *key, const void *data, size_t len, int src_fd,
                        const rcpt_objstore_put_opts *o, const rcpt_objstore_info *copy_from,
                        rcpt_err *err)
{
    const char *url = f->base.url;
    char *path;
    int rc = put_path(f, key, &path, err);
    if (rc)
        return rc;
    awriter w;
    if (rc == RCPT_OK)
        rc = aw_open(&w, path, url, key, err);
    long long size = 0;
    if (rc == RCPT_OK) {
        if (src_fd < 0) {
            if (aw_write(&w, data, len) != 0) {
                int e = errno;
                aw_abort(&w);
                rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: writing failed: %s", url, key, strerror(e));
            }
            size = (long long)len;
        } else {
            char *chunk = malloc(1 << 20);
            if (!chunk) {
                aw_abort(&w);
                rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
            }
            while (rc == RCPT_OK) {
                ssize_t k = read(src_fd, chunk, 1 << 20);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k < 0) {
                    int e = errno;
                    aw_abort(&w);
                    rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: reading the source failed: %s", url, key,
                                      strerror(e));
                    break;
                }
                if (k == 0)
                    break;
                if (aw_write(&w, chunk, (size_t)k) != 0) {
                    int e = errno;
                    aw_abort(&w);
                    rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: writing failed: %s", url, key, strerror(e));
                    break;
                }
                size += k;
            }
            free(chunk);
        }
    }
    char etag[33];
    if (rc == RCPT_OK)
        rc = aw_commit(&w, path, etag, url, key, !(o && o->no_sync), !(o && o->no_sync), err);
    if (rc == RCPT_OK)
        rc = write_meta(f, key, o, etag, size, copy_from, err);
    free(path);
    return rc;
}

static int f_put(rcpt_objstore *s, const char *key, const void *data, size_t len,
                 const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    return f_put_common((fstore *)s, key, data, len, -1, o, NULL, err);
}

/* put_file with move_source: the source's bytes are hashed (the ETag),
 * fsync'ed and the file renamed over the target; the same guarantees as the
 * copy (a reader sees the old object or the new one: rename is atomic; the
 * bytes are durable before the name points at them) without writing the
 * bytes a second time.  *moved = 0 when the source lies on another file
 * system (EXDEV): the caller copies instead. */
static int put_moved(fstore *f, const char *key, const char *src, int fd, const rcpt_objstore_put_opts *o,
                     int *moved, rcpt_err *err)
{
    const char *url = f->base.url;
    *moved = 0;
    char *path;
    int rc = put_path(f, key, &path, err);
    if (rc)
        return rc;
    EVP_MD_CTX *md5 = NULL;
    char *chunk = NULL;
    long long size = 0;
    if (rc == RCPT_OK) {
        chunk = malloc(1 << 20);
        md5 = EVP_MD_CTX_new();
        if (md5 && !EVP_DigestInit_ex(md5, EVP_md5(), NULL)) {
            EVP_MD_CTX_free(md5);  /* MD5 unavailable (FIPS): no ETag, as aw_open */
            md5 = NULL;
        }
        if (!chunk)
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
    }
    while (rc == RCPT_OK) {
        ssize_t k = read(fd, chunk, 1 << 20);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: reading the source failed: %s", url, key, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        if (md5)
            EVP_DigestUpdate(md5, chunk, (size_t)k);
        size += k;
    }
    free(chunk);
    char etag[33] = "";
    if (md5 && rc == RCPT_OK) {
        unsigned char md[16];
        unsigned int ml = 0;
        EVP_DigestFinal_ex(md5, md, &ml);
        for (unsigned i = 0; i < 16 && ml == 16; i++)
            snprintf(etag + 2 * i, 3, "%02x", md[i]);
    }
    EVP_MD_CTX_free(md5);
    int sync = !(o && o->no_sync);
    if (rc == RCPT_OK) {
        fchmod(fd, 0644);  /* as aw_open: a scratch file may be 0600 */
        if (sync && fsync(fd) != 0)
            rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: writing failed: %s", url, key, strerror(errno));
    }
    if (rc == RCPT_OK) {
        if (rename(src, path) != 0) {
            int e = errno;
            if (e != EXDEV)
                rc = rcpt_err_set(err, e == EISDIR || e == ENOTEMPTY || e == EEXIST ? RCPT_ECONFLICT : RCPT_EIO,
                                  "%s: %s: cannot put: %s", url, key, strerror(e));
        } else {
            *moved = 1;
            if (sync)
                fsync_dir_of(path);
            rc = write_meta(f, key, o, etag, size, NULL, err);
        }
    }
    free(path);
    return rc;
}

static int f_put_file(rcpt_objstore *s, const char *key, const char *src,
                      const rcpt_objstore_put_opts *o, rcpt_err *err)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rcpt_err_set(err, errno == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s: %s: cannot open %s: %s",
                            s->url, key, src, strerror(errno));
    if (o && o->move_source) {
        int moved = 0;
        int rc = put_moved((fstore *)s, key, src, fd, o, &moved, err);
        if (rc != RCPT_OK || moved) {
            close(fd);
            return rc;
        }
        if (lseek(fd, 0, SEEK_SET) != 0) {
            int e = errno;
            close(fd);
            return rcpt_err_set(err, RCPT_EIO, "%s: %s: cannot read %s: %s", s->url, key, src, strerror(e));
        }
    }
    int rc = f_put_common((fstore *)s, key, NULL, 0, fd, o, NULL, err);
    close(fd);
    return rc;
}

/* Open an object for reading: ENOTFOUND when absent or not a regular file. */
static int open_obj(fstore *f, const char *key, int *fd, struct stat *st, rcpt_err *err)
{
    int rc = check_reserved(f, key, err);
    if (rc)
        return rc;
    char *path = join(f->dir, key, NULL);
    if (!path)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", f->base.url);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = errno;
    free(path);
    if (*fd < 0) {
        if (e == ENOENT || e == ENOTDIR)
            return rcpt_err_set(err, RCPT_ENOTFOUND, "%s: %s: no such key", f->base.url, key);
        return rcpt_err_set(err, RCPT_EIO, "%s: %s: %s", f->base.url, key, strerror(e));
    }
    if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(*fd);
        *fd = -1;
        return rcpt_err_set(err, RCPT_ENOTFOUND, "%s: %s: no such key", f->base.url, key);
    }
    return RCPT_OK;
}

static int f_get(rcpt_objstore *s, const char *key, rcpt_buf *out, rcpt_err *err)
{
    int fd;
    struct stat st;
    int rc = open_obj((fstore *)s, key, &fd, &st, err);
    if (rc)
        return rc;
    if (rcpt_buf_reserve(out, (size_t)st.st_size + 1) != RCPT_OK) {
        close(fd);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory (%lld bytes)", s->url, key,
                            (long long)st.st_size);
    }
    for (;;) {
        if (rcpt_buf_reserve(out, 65536) != RCPT_OK) {
            close(fd);
            return rcpt_err_set(err, RCPT_ENOMEM, "%s: %s: out of memory", s->url, key);
        }
        ssize_t k = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            return rcpt_err_set(err, RCPT_EIO, "%s: %s: read failed: %s", s->url, key, strerror(e));
        }
        if (k == 0)
            break;
        out->len += (size_t)k;
    }
    out->data[out->len] = '\0';
    close(fd);
    return RCPT_OK;
}

static int f_get_file(rcpt_objstore *s, const char *key, const char *dst, rcpt_err *err)
{
    int fd;
    struct stat st;
    int rc = open_obj((fstore *)s, key, &fd, &st, err);
    if (rc)
        return rc;
    /* the destination's folder must exist; write beside it, then rename */
    char *abs = NULL;
    if (!strchr(dst, '/')) {
        rcpt_buf b = RCPT_BUF_INIT;
        rcpt_buf_printf(&b, "./%s", dst);
        abs = rcpt_buf_detach(&b, NULL);
    } else {
        abs = strdup(dst);
    }
    awriter w;
    rc = abs ? aw_open(&w, abs, s->url, key, err) : rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    if (rc == RCPT_OK) {
        char *chunk = malloc(1 << 20);
        if (!chunk)
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", s->url);
        while (rc == RCPT_OK) {
            ssize_t k = read(fd, chunk, 1 << 20);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: read failed: %s", s->url, key, strerror(errno));
                break;
            }
            if (k == 0)
                break;
            if (aw_write(&w, chunk, (size_t)k) != 0) {
                rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: writing %s failed: %s", s->url, key, dst,
                                  strerror(errno));
                break;
            }
        }
        free(chunk);
        char etag[33];
        if (rc == RCPT_OK)
            rc = aw_commit(&w, abs, etag, s->url, key, 1, 1, err);
        else
            aw_abort(&w);
    }
    free(abs);
    close(fd);
    return rc;
}

static int f_head(rcpt_objstore *s, const char *key, rcpt_objstore_info *info, rcpt_err *err)
{
    int fd;
    struct stat st;
    int rc = open_obj((fstore *)s, key, &fd, &st, err);
    if (rc)
        return rc;
    close(fd);
    long long msize;
    read_meta((fstore *)s, key, info, &msize);
    info->size = (long long)st.st_size;
    info->last_modified = (long long)st.st_mtime;
    if (msize != info->size) {
        /* a file put there by hand, or a sidecar from an interrupted put: the
         * sidecar's ETag does not describe these bytes */
        snprintf(info->etag, sizeof info->etag, "%llx-%llx", (unsigned long long)st.st_size,
                 (unsigned long long)st.st_mtime);
    }
    if (!info->content_type[0])
        snprintf(info->content_type, sizeof info->content_type, "application/octet-stream");
    return RCPT_OK;
}

static int f_del(rcpt_objstore *s, const char *key, rcpt_err *err)
{
    fstore *f = (fstore *)s;
    int rc = check_reserved(f, key, err);
    if (rc)
        return rc;
    char *path = join(f->dir, key, NULL);
    rcpt_buf mb = RCPT_BUF_INIT;
    rcpt_buf_printf(&mb, "%s/" META_DIR "/%s.meta", f->dir, key);
    if (!path || mb.oom) {
        free(path);
        rcpt_buf_free(&mb);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", s->url);
    }
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* a "folder" is not an object: nothing to delete, as on S3 */
    } else if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
        int e = errno;
        free(path);
        rcpt_buf_free(&mb);
        return rcpt_err_set(err, RCPT_EIO, "%s: %s: cannot delete: %s", s->url, key, strerror(e));
    } else {
        unlink(mb.data);
        prune_dirs(f->dir, path);
        char *mroot = join(f->dir, META_DIR, NULL);
        if (mroot)
            prune_dirs(mroot, mb.data);
        free(mroot);
    }
    free(path);
    rcpt_buf_free(&mb);
    return RCPT_OK;
}

/* ---- list ---------------------------------------------------------------------------- */

typedef struct fentry {
    char *key;
    long long size, mtime;
} fentry;

typedef struct fwalk {
    fentry *v;
    size_t n, cap;
    int oom;
} fwalk;

/* Collect regular files under root/rel whose key starts with prefix. */
static int walk(const char *root, rcpt_buf *rel, const char *prefix, size_t plen, fwalk *acc)
{
    rcpt_buf dirp = RCPT_BUF_INIT;
    rcpt_buf_printf(&dirp, "%s%s%.*s", root, rel->len ? "/" : "", (int)rel->len, rel->data ? rel->data : "");
    if (dirp.oom)
        return -1;
    DIR *d = opendir(dirp.data);
    if (!d) {
        int e = errno;
        rcpt_buf_free(&dirp);
        return (e == ENOENT || e == ENOTDIR) ? 0 : -1;
    }
    int fd = dirfd(d);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
            continue;
        if (strncmp(nm, ".rcpt-", 6) == 0)
            continue;  /* our sidecars and temp files */
        size_t keep = rel->len;
        if (rel->len)
            rcpt_buf_putc(rel, '/');
        rcpt_buf_puts(rel, nm);
        if (rel->oom) {
            rc = -1;
            break;
        }
        /* prune subtrees that cannot match the prefix */
        size_t cmp = rel->len < plen ? rel->len : plen;
        if (memcmp(rel->data, prefix, cmp) == 0) {
            struct stat st;
            if (fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISDIR(st.st_mode)) {
                    rc = walk(root, rel, prefix, plen, acc);
                } else if (S_ISREG(st.st_mode) && rel->len >= plen) {
                    if (acc->n == acc->cap) {
                        size_t cap = acc->cap ? acc->cap * 2 : 256;
                        fentry *v = realloc(acc->v, cap * sizeof *v);
                        if (!v) {
                            rc = -1;
                            break;
                        }
                        acc->v = v;
                        acc->cap = cap;
                    }
                    char *k = strndup(rel->data, rel->len);
                    if (!k) {
                        rc = -1;
                        break;
                    }
                    acc->v[acc->n].key = k;
                    acc->v[acc->n].size = (long long)st.st_size;
                    acc->v[acc->n].mtime = (long long)st.st_mtime;
                    acc->n++;
                }
            }
        }
        rel->len = keep;
        if (rel->data)
            rel->data[keep] = '\0';
    }
    closedir(d);
    rcpt_buf_free(&dirp);
    return rc;
}

static int fentry_cmp(const void *a, const void *b)
{
    return strcmp(((const fentry *)a)->key, ((const fentry *)b)->key);
}

static int f_list(rcpt_objstore *s, const char *prefix, const rcpt_objstore_list_opts *o, rcpt_err *err)
{
    fstore *f = (fstore *)s;
    fwalk acc = {0};
    rcpt_buf rel = RCPT_BUF_INIT;
    size_t plen = strlen(prefix);
    /* start at the deepest folder the prefix names */
    const char *sl = strrchr(prefix, '/');
    if (sl)
        rcpt_buf_append(&rel, prefix, (size_t)(sl - prefix));
    int wrc = rel.oom ? -1 : walk(f->dir, &rel, prefix, plen, &acc);
    rcpt_buf_free(&rel);
    int rc = RCPT_OK;
    if (wrc != 0)
        rc = rcpt_err_set(err, RCPT_EIO, "%s: list \"%.200s\": %s", s->url, prefix,
                          errno ? strerror(errno) : "out of memory");
    if (rc == RCPT_OK && acc.n)
        qsort(acc.v, acc.n, sizeof *acc.v, fentry_cmp);
    const char *delim = o->delimiter && *o->delimiter ? o->delimiter : NULL;
    size_t dl = delim ? strlen(delim) : 0;
    const char *last_cp = NULL;
    size_t last_cpl = 0;
    for (size_t i = 0; rc == RCPT_OK && i < acc.n; i++) {
        const char *k = acc.v[i].key;
        const char *hit = delim ? strstr(k + plen, delim) : NULL;
        if (hit) {
            size_t cpl = (size_t)(hit - k) + dl;
            if (last_cp && last_cpl == cpl && memcmp(last_cp, k, cpl) == 0)
                continue;
            last_cp = k;
            last_cpl = cpl;
            if (o->on_prefix) {
                char *cp = strndup(k, cpl);
                if (!cp) {
                    rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", s->url);
                    break;
                }
                rc = o->on_prefix(o->ud, cp);
                free(cp);
            }
            continue;
        }
        char etag[130] = "";
        rcpt_objstore_entry e = {k, acc.v[i].size, etag, acc.v[i].mtime};
        rc = o->on_entry(o->ud, &e);
    }
    for (size_t i = 0; i < acc.n; i++)
        free(acc.v[i].key);
    free(acc.v);
    return rc;
}

static int f_copy(rcpt_objstore *s, const char *src, const char *dst, rcpt_err *err)
{
    fstore *f = (fstore *)s;
    int fd;
    struct stat st;
    int rc = open_obj(f, src, &fd, &st, err);
    if (rc)
        return rc;
    rcpt_objstore_info info;
    memset(&info, 0, sizeof info);
    long long ms;
    read_meta(f, src, &info, &ms);
    rc = f_put_common(f, dst, NULL, 0, fd, NULL, &info, err);
    rcpt_objstore_info_free(&info);
    close(fd);
    return rc;
}

static void f_close(rcpt_objstore *s)
{
    fstore *f = (fstore *)s;
    free(f->dir);
    free(f->base.url);
    free(f);
}

/* The objects' bytes, then their folders, durable: writeback of every file
 * is started first (Linux: sync_file_range), so the fsyncs that follow wait
 * for writes already under way and, on a journalling file system, mostly
 * find their metadata committed by the first one. */
static int f_sync(rcpt_objstore *s, const char *const *keys, size_t n, rcpt_err *err)
{
    fstore *f = (fstore *)s;
    int rc = RCPT_OK;
    int *fds = malloc((n ? n : 1) * sizeof *fds);
    char **paths = calloc(n ? n : 1, sizeof *paths);
    if (!fds || !paths) {
        free(fds);
        free(paths);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", s->url);
    }
    for (size_t i = 0; i < n; i++)
        fds[i] = -1;
    for (size_t i = 0; i < n && rc == RCPT_OK; i++) {
        paths[i] = join(f->dir, keys[i], NULL);
        if (!paths[i]) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", s->url);
            break;
        }
        fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            int e = errno;
            rc = rcpt_err_set(err, e == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s: %s: cannot sync: %s", s->url,
                              keys[i], strerror(e));
            break;
        }
#ifdef SYNC_FILE_RANGE_WRITE
        sync_file_range(fds[i], 0, 0, SYNC_FILE_RANGE_WRITE); /* a hint: fsync below decides */
#endif
    }
    for (size_t i = 0; i < n && rc == RCPT_OK; i++)
        if (fsync(fds[i]) != 0)
            rc = rcpt_err_set(err, RCPT_EIO, "%s: %s: fsync failed: %s", s->url, keys[i], strerror(errno));
    for (size_t i = 0; i < n && rc == RCPT_OK; i++) {
        /* each folder once */
        const char *sl = strrchr(paths[i], '/');
        size_t dl = (size_t)(sl - paths[i]);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(paths[j], paths[i], dl) == 0 && paths[j][dl] == '/' && !strchr(paths[j] + dl + 1, '/');
        if (!seen)
            fsync_dir_of(paths[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        free(paths[i]);
    }
    free(fds);
    free(paths);
    return rc;
}

static const rcpt_objstore_vt file_vt = {
    "file", f_put, f_put_file, f_get, f_get_file, f_head, f_del, f_list, f_copy, f_close, f_sync,
};

int rcpt_objstore_file_open(const char *dir, const char *url, rcpt_objstore **out, rcpt_err *err)
{
    *out = NULL;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    char *d = strndup(dir, dl);
    char *u = strdup(url);
    fstore *f = calloc(1, sizeof *f);
    if (!d || !u || !f) {
        free(d);
        free(u);
        free(f);
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", url);
    }
    /* mkdir -p DIR */
    for (char *p = d + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(d, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                *p = c;
                rcpt_err_set(err, RCPT_EIO, "%s: cannot create %s: %s", url, d, strerror(e));
                free(d);
                free(u);
                free(f);
                return RCPT_EIO;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rcpt_err_set(err, RCPT_EIO, "%s: %s is not a folder", url, d);
        free(d);
        free(u);
        free(f);
        return RCPT_EIO;
    }
    f->dir = d;
    f->base.url = u;
    f->base.vt = &file_vt;
    *out = &f->base;
    return RCPT_OK;
}
