/* Delta and snapshot files (docs/vector-format.md): one SQLite file with
 * tables meta(key, value) and rows(id, vec, document, metadata), written to
 * a temp name in one transaction without a journal, then renamed; a manifest
 * with the file's XXH3-128 checksum travels next to it (sha256 in manifests
 * of older rcpt versions, still verified). */
#include "vec_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static int is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void bswap32_copy(void *dst, const void *src, size_t nfloats)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < nfloats; i++, s += 4, d += 4) {
        d[0] = s[3];
        d[1] = s[2];
        d[2] = s[1];
        d[3] = s[0];
    }
}

/* Feed the rest of fd to update in chunks of buf; *total += bytes read. */
static int feed_file(int fd, const char *path, unsigned char *buf, size_t bufsz,
                     void (*update)(void *ctx, const void *p, size_t n), void *ctx,
                     int64_t *total, rcpt_err *err)
{
    for (;;) {
        ssize_t n = read(fd, buf, bufsz);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rcpt_err_set(err, RCPT_EIO, "%s: read: %s", path, strerror(errno));
        if (n == 0)
            return RCPT_OK;
        update(ctx, buf, (size_t)n);
        *total += n;
    }
}

static void sha256_update(void *ctx, const void *p, size_t n)
{
    EVP_DigestUpdate(ctx, p, n);
}

static void xxh3_update(void *st, const void *p, size_t n)
{
    XXH3_128bits_update(st, p, n);
}

/* ---- sha256 ---------------------------------------------------------------------- */
static void hex32(const unsigned char md[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[64] = '\0';
}

int rcpt_vec_sha256(const void *data, size_t len, char out[65], rcpt_err *err)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return rcpt_err_set(err, RCPT_ENOMEM, "sha256 of %zu bytes failed", len);
    hex32(md, out);
    return RCPT_OK;
}

int rcpt_vec_sha256_file(const char *path, char out[65], int64_t *bytes, rcpt_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rcpt_err_set(err, errno == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s: %s", path,
                            strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t bufsz = 1 << 20;
    unsigned char *buf = malloc(bufsz);
    int rc = RCPT_OK;
    int64_t total = 0;
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: cannot start sha256", path);
        goto out;
    }
    if ((rc = feed_file(fd, path, buf, bufsz, sha256_update, ctx, &total, err)))
        goto out;
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    if (bytes)
        *bytes = total;
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    return rc;
}

/* ---- xxh3-128 ---------------------------------------------------------------------- */
/* The file checksum: XXH3 runs at memory speed (~10x sha256 here), and the
 * compactor hashes every delta it downloads and the snapshot it writes. */
int rcpt_vec_xxh3_file(const char *path, char out[33], int64_t *bytes, rcpt_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rcpt_err_set(err, errno == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s: %s", path,
                            strerror(errno));
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH3_state_t *st = XXH3_createState();
    /* small enough to stay in L2 between read() and the hash */
    size_t bufsz = 256 << 10;
    unsigned char *buf = malloc(bufsz);
    int rc = RCPT_OK;
    int64_t total = 0;
    if (!st || !buf || XXH3_128bits_reset(st) != XXH_OK) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: cannot start xxh3_128", path);
        goto out;
    }
    if ((rc = feed_file(fd, path, buf, bufsz, xxh3_update, st, &total, err)))
        goto out;
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(st));
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[canon.digest[i] >> 4];
        out[2 * i + 1] = digits[canon.digest[i] & 15];
    }
    out[32] = '\0';
    if (bytes)
        *bytes = total;
out:
    if (st)
        XXH3_freeState(st);
    free(buf);
    close(fd);
    return rc;
}

/* ---- manifest ---------------------------------------------------------------------- */
int rcpt_vec_manifest_json(const rcpt_vec_manifest *m, rcpt_buf *out)
{
    rcpt_vec_kv kv[11];
    size_t n = 0;
#define S(k, s) kv[n].key = k, kv[n].val = (rcpt_vec_val){.type = RCPT_VEC_STR, .str = s, .len = strlen(s)}, n++
#define I(k, v) kv[n].key = k, kv[n].val = (rcpt_vec_val){.type = RCPT_VEC_INT, .i = v}, n++
    S("format", m->format);
    I("format_version", m->format_version);
    S("kind", m->kind);
    S("collection", m->collection);
    I("dimension", m->dimension);
    I("count", m->count);
    if (m->version[0])
        S("version", m->version);
    else
        kv[n].key = "version", kv[n].val = (rcpt_vec_val){.type = RCPT_VEC_NULL}, n++;
    if (m->xxh3_128[0])
        S("xxh3_128", m->xxh3_128);
    if (m->sha256[0])
        S("sha256", m->sha256);
    I("bytes", m->bytes);
    S("created_at", m->created_at);
#undef S
#undef I
    return rcpt_vec_json_write(out, kv, n);
}

static int copy_str(char *dst, size_t cap, const rcpt_vec_kv *kv, rcpt_err *err)
{
    if (kv->val.type != RCPT_VEC_STR || kv->val.len >= cap || memchr(kv->val.str, 0, kv->val.len))
        return rcpt_err_set(err, RCPT_EINVAL, "manifest.%s: must be a string shorter than %zu",
                            kv->key, cap);
    memcpy(dst, kv->val.str, kv->val.len);
    dst[kv->val.len] = '\0';
    return RCPT_OK;
}

static int get_int(int64_t *dst, const rcpt_vec_kv *kv, int64_t lo, int64_t hi, rcpt_err *err)
{
    if (kv->val.type != RCPT_VEC_INT || kv->val.i < lo || kv->val.i > hi)
        return rcpt_err_set(err, RCPT_EINVAL, "manifest.%s: must be an integer in %" PRId64
                            "..%" PRId64, kv->key, lo, hi);
    *dst = kv->val.i;
    return RCPT_OK;
}

int rcpt_vec_manifest_parse(const char *json, size_t len, rcpt_vec_manifest *m, rcpt_err *err)
{
    rcpt_vec_kv *kv;
    size_t n;
    memset(m, 0, sizeof *m);
    int rc = rcpt_vec_json_parse(json, len, "manifest", &kv, &n, err);
    if (rc)
        return rc;
    unsigned seen = 0;
    int64_t v = 0;
    for (size_t i = 0; i < n && rc == RCPT_OK; i++) {
        const char *k = kv[i].key;
        if (!strcmp(k, "format")) {
            rc = copy_str(m->format, sizeof m->format, &kv[i], err), seen |= 1;
        } else if (!strcmp(k, "format_version")) {
            rc = get_int(&v, &kv[i], 1, 1000000, err), m->format_version = (int)v, seen |= 2;
        } else if (!strcmp(k, "kind")) {
            rc = copy_str(m->kind, sizeof m->kind, &kv[i], err), seen |= 4;
        } else if (!strcmp(k, "collection")) {
            rc = copy_str(m->collection, sizeof m->collection, &kv[i], err), seen |= 8;
        } else if (!strcmp(k, "dimension")) {
            rc = get_int(&v, &kv[i], 1, RCPT_VEC_MAX_DIM, err), m->dimension = (int)v, seen |= 16;
        } else if (!strcmp(k, "count")) {
            rc = get_int(&m->count, &kv[i], 0, INT64_MAX, err), seen |= 32;
        } else if (!strcmp(k, "version")) {
            if (kv[i].val.type != RCPT_VEC_NULL)
                rc = copy_str(m->version, sizeof m->version, &kv[i], err);
        } else if (!strcmp(k, "xxh3_128")) {
            rc = copy_str(m->xxh3_128, sizeof m->xxh3_128, &kv[i], err), seen |= 64;
            if (rc == RCPT_OK && (strlen(m->xxh3_128) != 32 || strspn(m->xxh3_128, "0123456789abcdef") != 32))
                rc = rcpt_err_set(err, RCPT_EINVAL, "manifest.xxh3_128: must be 32 lower-case hex digits");
        } else if (!strcmp(k, "sha256")) {
            /* written by older rcpt versions */
            rc = copy_str(m->sha256, sizeof m->sha256, &kv[i], err), seen |= 64;
            if (rc == RCPT_OK && (strlen(m->sha256) != 64 || strspn(m->sha256, "0123456789abcdef") != 64))
                rc = rcpt_err_set(err, RCPT_EINVAL, "manifest.sha256: must be 64 lower-case hex digits");
        } else if (!strcmp(k, "bytes")) {
            rc = get_int(&m->bytes, &kv[i], 0, INT64_MAX, err), seen |= 128;
        } else if (!strcmp(k, "created_at")) {
            rc = copy_str(m->created_at, sizeof m->created_at, &kv[i], err);
        }
        /* unknown keys are allowed: later format versions may add some */
    }
    rcpt_vec_kv_free(kv);
    if (rc)
        return rc;
    static const char *const names[] = {"format", "format_version", "kind", "collection",
                                        "dimension", "count",
                                        "xxh3_128 (or sha256, in older manifests)", "bytes"};
    for (int b = 0; b < 8; b++)
        if (!(seen & (1u << b)))
            return rcpt_err_set(err, RCPT_EINVAL, "manifest.%s: missing", names[b]);
    if (strcmp(m->format, RCPT_VEC_FORMAT) != 0)
        return rcpt_err_set(err, RCPT_EINVAL, "manifest.format: \"%s\", expected \"%s\"", m->format,
                            RCPT_VEC_FORMAT);
    if (m->format_version > RCPT_VEC_FORMAT_VERSION)
        return rcpt_err_set(err, RCPT_EINVAL, "manifest.format_version: %d is newer than this "
                            "rcpt (%d)", m->format_version, RCPT_VEC_FORMAT_VERSION);
    if (strcmp(m->kind, "snapshot") != 0 && strcmp(m->kind, "delta") != 0)
        return rcpt_err_set(err, RCPT_EINVAL, "manifest.kind: must be \"snapshot\" or \"delta\"");
    return RCPT_OK;
}

int rcpt_vec_verify(const char *path, const rcpt_vec_manifest *m, rcpt_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return rcpt_err_set(err, errno == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s: %s", path,
                            strerror(errno));
    if ((int64_t)st.st_size != m->bytes)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: %lld bytes, manifest says %" PRId64, path,
                            (long long)st.st_size, m->bytes);
    /* xxh3_128 when the manifest has it (every manifest this rcpt writes);
     * sha256 for a manifest written before; one that has neither is refused */
    const int xxh = m->xxh3_128[0] != '\0';
    const char *want = xxh ? m->xxh3_128 : m->sha256;
    if (!*want)
        return rcpt_err_set(err, RCPT_EINVAL, "%s: the manifest has no checksum (xxh3_128 or sha256)",
                            path);
    char hex[65];
    int rc = xxh ? rcpt_vec_xxh3_file(path, hex, NULL, err)
                 : rcpt_vec_sha256_file(path, hex, NULL, err);
    if (rc)
        return rc;
    if (strcmp(hex, want) != 0)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: checksum mismatch: %s %.12s... does not match "
                            "the manifest's %.12s...", path, xxh ? "xxh3_128" : "sha256", hex, want);
    return RCPT_OK;
}

/* ---- writing ---------------------------------------------------------------------- */
typedef struct id_row {
    const char *id;
    size_t row;
} id_row;

static int cmp_id_row(const void *a, const void *b)
{
    return strcmp(((const id_row *)a)->id, ((const id_row *)b)->id);
}

static int db_fail(sqlite3 *db, rcpt_err *err, const char *path, const char *what)
{
    int code = db ? sqlite3_errcode(db) : SQLITE_NOMEM;
    return rcpt_err_set(err, code == SQLITE_NOMEM ? RCPT_ENOMEM : RCPT_EIO, "%s: %s: %s", path,
                        what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

/* Readers of the files that lazy rows keep their vectors in.  Rows are
 * written in id order, and a delta holds one receipt's ids, so consecutive
 * rows mostly come from one file: a few open files, each with one blob
 * handle moved from row to row, serve the whole write. */

enum { NREADERS = 8 };
typedef struct src_reader {
    uint32_t src;      /* 0 = unused */
    sqlite3 *db;
    sqlite3_blob *blob;
    unsigned long used; /* for least-recently-used replacement */
} src_reader;

static void reader_close(src_reader *r)
{
    if (r->blob)
        sqlite3_blob_close(r->blob);
    if (r->db)
        sqlite3_close(r->db);
    memset(r, 0, sizeof *r);
}

/* Read the vector of a lazy row (ref) into out (dim floats). */
static int read_lazy(const rcpt_vec_coll *c, src_reader *rd, unsigned long *tick, const vec_ref *ref,
                     const char *id, float *out, rcpt_err *err)
{
    const vec_src *s = &c->srcs[ref->src - 1];
    src_reader *r = NULL, *lru = &rd[0];
    for (int i = 0; i < NREADERS && !r; i++) {
        if (rd[i].src == ref->src)
            r = &rd[i];
        else if (rd[i].used < lru->used)
            lru = &rd[i];
    }
    if (!r) {
        r = lru;
        reader_close(r);
        struct stat st;
        if (stat(s->path, &st) != 0)
            return rcpt_err_set(err, errno == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s (vectors of "
                                "lazy rows): %s", s->path, strerror(errno));
        if (st.st_dev != s->dev || st.st_ino != s->ino || st.st_size != s->size ||
            st.st_mtim.tv_sec != s->mtime.tv_sec || st.st_mtim.tv_nsec != s->mtime.tv_nsec)
            return rcpt_err_set(err, RCPT_ECORRUPT, "%s: changed since its rows were loaded "
                                "(lazy rows read their vectors from it)", s->path);
        int rc = vec_file_open_db(s->path, &r->db, err);
        if (rc) {
            reader_close(r);
            return rc;
        }
        /* read through a mapping: no copy of each page into SQLite's cache */
        sqlite3_exec(r->db, "PRAGMA mmap_size=4294967296", NULL, NULL, NULL);
        r->src = ref->src;
    }
    r->used = ++*tick;
    int src = r->blob ? sqlite3_blob_reopen(r->blob, ref->rowid)
                      : sqlite3_blob_open(r->db, "main", "rows", "vec", ref->rowid, 0, &r->blob);
    if (src != SQLITE_OK) {
        int rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: row %lld (id %.80s): %s", s->path,
                              (long long)ref->rowid, id, sqlite3_errmsg(r->db));
        reader_close(r);
        return rc;
    }
    if (sqlite3_blob_bytes(r->blob) != c->dim * 4 ||
        sqlite3_blob_read(r->blob, out, c->dim * 4, 0) != SQLITE_OK) {
        int rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: row %lld (id %.80s): vector unreadable or "
                              "not %d bytes", s->path, (long long)ref->rowid, id, c->dim * 4);
        reader_close(r);
        return rc;
    }
    return RCPT_OK;
}

int rcpt_vec_write(const rcpt_vec_coll *c, const char *path, const char *version,
                   rcpt_vec_manifest *man, rcpt_buf *manifest_json, rcpt_err *err)
{
    return rcpt_vec_write_ex(c, path, version, 0, man, manifest_json, err);
}

int rcpt_vec_write_ex(const rcpt_vec_coll *c, const char *path, const char *version, int flags,
                      rcpt_vec_manifest *man, rcpt_buf *manifest_json, rcpt_err *err)
{
    int sync = !(flags & RCPT_VEC_NO_FSYNC);
    rcpt_vec_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.format, sizeof m.format, "%s", RCPT_VEC_FORMAT);
    m.format_version = RCPT_VEC_FORMAT_VERSION;
    snprintf(m.kind, sizeof m.kind, "%s", version ? "snapshot" : "delta");
    if (strlen(c->name) >= sizeof m.collection)
        return rcpt_err_set(err, RCPT_EINVAL, "collection name too long");
    snprintf(m.collection, sizeof m.collection, "%s", c->name);
    if (version && (!*version || strlen(version) >= sizeof m.version))
        return rcpt_err_set(err, RCPT_EINVAL, "%s: version: must be 1..%zu characters", path,
                            sizeof m.version - 1);
    if (version)
        snprintf(m.version, sizeof m.version, "%s", version);
    m.dimension = c->dim;
    m.count = (int64_t)c->n;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m.created_at, sizeof m.created_at, "%Y-%m-%dT%H:%M:%SZ", &tm);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    id_row *order = malloc((c->n ? c->n : 1) * sizeof *order);
    float *swap = is_little_endian() ? NULL : malloc((size_t)c->dim * sizeof(float));
    float *lazybuf = c->nlazy ? malloc((size_t)c->dim * sizeof(float)) : NULL;
    src_reader readers[NREADERS];
    unsigned long tick = 0;
    memset(readers, 0, sizeof readers);
    rcpt_buf js = RCPT_BUF_INIT;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = RCPT_OK, made = 0;
    if (!tmp || !order || (!is_little_endian() && !swap) || (c->nlazy && !lazybuf)) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    /* temp file in the destination folder, so the rename is atomic */
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = rcpt_err_set(err, RCPT_EIO, "%s: cannot create a temp file: %s", path, strerror(errno));
        goto out;
    }
    close(fd);
    made = 1;
    if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, path, "open");
        goto out;
    }
    /* No journal: the file is private until the rename, so a crash leaves
     * only a temp file, never a half file under the final name.  64 KiB pages
     * keep a 6 KiB vector row on one page (no overflow chains). */
    if (sqlite3_exec(db,
                     "PRAGMA page_size=65536; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                     "PRAGMA locking_mode=EXCLUSIVE; BEGIN;"
                     "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "CREATE TABLE rows(id TEXT PRIMARY KEY, vec BLOB NOT NULL,"
                     " document TEXT NOT NULL, metadata TEXT NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, path, "create");
        goto out;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO meta VALUES(?,?)", -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, path, "prepare");
        goto out;
    }
    char dimtxt[24], cnttxt[24], fvtxt[24];
    snprintf(dimtxt, sizeof dimtxt, "%d", c->dim);
    snprintf(cnttxt, sizeof cnttxt, "%zu", c->n);
    snprintf(fvtxt, sizeof fvtxt, "%d", RCPT_VEC_FORMAT_VERSION);
    const char *meta[][2] = {{"format", RCPT_VEC_FORMAT}, {"format_version", fvtxt},
                             {"kind", m.kind}, {"collection", c->name}, {"dimension", dimtxt},
                             {"count", cnttxt}, {"version", m.version},
                             {"created_at", m.created_at}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        sqlite3_bind_text(st, 1, meta[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, meta[i][1], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_fail(db, err, path, "write meta");
            goto out;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    /* rows in id order: the same collection always gives the same table */
    for (size_t i = 0; i < c->n; i++) {
        order[i].id = vec_row_id(&c->rows[i]);
        order[i].row = i;
    }
    qsort(order, c->n, sizeof *order, cmp_id_row);
    if (sqlite3_prepare_v2(db, "INSERT INTO rows VALUES(?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, path, "prepare");
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        size_t row = order[i].row;
        const vec_row *r = &c->rows[row];
        const float *v = rcpt_vec_row_vec(c, row);
        if (!v) {
            /* lazy: little-endian in its file as in this one, copied as is */
            if ((rc = read_lazy(c, readers, &tick, &c->refs[row], vec_row_id(r), lazybuf, err)))
                goto out;
            v = lazybuf;
        } else if (swap) {
            bswap32_copy(swap, v, (size_t)c->dim);
            v = swap;
        }
        rcpt_buf_reset(&js);
        rcpt_vec_meta_json(c, row, &js);
        if (js.oom) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        sqlite3_bind_text(st, 1, vec_row_id(r), (int)r->id_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, v, c->dim * (int)sizeof(float), SQLITE_STATIC);
        sqlite3_bind_text(st, 3, vec_row_doc(r), (int)r->doc_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, js.data, (int)js.len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_fail(db, err, path, "write rows");
            goto out;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, path, "commit");
        goto out;
    }
    if (sqlite3_close(db) != SQLITE_OK) {
        rc = db_fail(db, err, path, "close");
        db = NULL;
        goto out;
    }
    db = NULL;
    /* Hashed by re-reading the file (from the page cache): SQLite writes its
     * pages in no fixed order, so there is no single pass to hash along. */
    if ((rc = rcpt_vec_xxh3_file(tmp, m.xxh3_128, &m.bytes, err)))
        goto out;
    if ((sync && fsync_path(tmp, 0) != 0) || rename(tmp, path) != 0) {
        rc = rcpt_err_set(err, RCPT_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    made = 0;
    /* make the rename itself durable */
    char *dcopy = sync ? strdup(path) : NULL;
    if (dcopy) {
        fsync_path(dirname(dcopy), 1);
        free(dcopy);
    }
    if (man)
        *man = m;
    if (manifest_json)
        rc = rcpt_vec_manifest_json(&m, manifest_json);
out:
    if (st)
        sqlite3_finalize(st);
    if (db)
        sqlite3_close(db);
    if (made)
        unlink(tmp);
    free(tmp);
    free(order);
    free(swap);
    free(lazybuf);
    for (int i = 0; i < NREADERS; i++)
        reader_close(&readers[i]);
    rcpt_buf_free(&js);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------- */
/* The SQLite header says how many pages the file has; a file of any other
 * size was truncated or extended after it was written. */
static int check_header(const char *path, int64_t *size, rcpt_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rcpt_err_set(err, errno == ENOENT ? RCPT_ENOTFOUND : RCPT_EIO, "%s: %s", path,
                            strerror(errno));
    unsigned char h[100];
    struct stat st;
    ssize_t n = read(fd, h, sizeof h);
    int sr = fstat(fd, &st);
    close(fd);
    if (sr != 0)
        return rcpt_err_set(err, RCPT_EIO, "%s: %s", path, strerror(errno));
    if (n != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: not an rcpt vector file (no SQLite header)",
                            path);
    uint32_t psz = ((uint32_t)h[16] << 8) | h[17];
    if (psz == 1)
        psz = 65536;
    uint32_t pages = ((uint32_t)h[28] << 24) | ((uint32_t)h[29] << 16) | ((uint32_t)h[30] << 8) | h[31];
    if (psz < 512 || (psz & (psz - 1)) || (int64_t)psz * pages != (int64_t)st.st_size)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: %lld bytes, but its header says %u pages "
                            "of %u bytes (truncated or damaged)", path, (long long)st.st_size,
                            pages, psz);
    *size = st.st_size;
    return RCPT_OK;
}

int vec_file_check(const char *path, const rcpt_vec_manifest *man, int64_t *size, rcpt_err *err)
{
    int rc;
    if (man && (rc = rcpt_vec_verify(path, man, err)))
        return rc;
    return check_header(path, size, err);
}

int vec_file_corrupt(sqlite3 *db, rcpt_err *err, const char *path, const char *what)
{
    int code = sqlite3_errcode(db);
    if (code == SQLITE_NOMEM)
        return rcpt_err_set(err, RCPT_ENOMEM, "%s: out of memory", path);
    return rcpt_err_set(err, RCPT_ECORRUPT, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

int vec_file_open_db(const char *path, sqlite3 **db, rcpt_err *err)
{
    *db = NULL;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return *db ? vec_file_corrupt(*db, err, path, "open") : rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
    return RCPT_OK;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

void vec_file_meta_free(vec_file_meta *m)
{
    free(m->name);
    free(m->kind);
    free(m->version);
    free(m->format);
    m->name = m->kind = m->version = m->format = NULL;
}

int vec_file_meta_read(sqlite3 *db, const char *path, int64_t size, const rcpt_vec_manifest *man,
                       vec_file_meta *m, rcpt_err *err)
{
    *m = (vec_file_meta){.dim = -1, .count = -1, .fver = -1};
    sqlite3_stmt *st = NULL;
    int rc = RCPT_OK;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, NULL) != SQLITE_OK)
        return vec_file_corrupt(db, err, path, "meta table");
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (!k || !v)
            continue;
        char **dst = !strcmp(k, "collection") ? &m->name : !strcmp(k, "kind") ? &m->kind
                   : !strcmp(k, "version") ? &m->version : !strcmp(k, "format") ? &m->format : NULL;
        if (dst) {
            free(*dst);
            if (!(*dst = strdup(v))) {
                rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
                goto out;
            }
        } else if ((!strcmp(k, "dimension") && parse_i64(v, 1, RCPT_VEC_MAX_DIM, &m->dim)) ||
                   (!strcmp(k, "count") && parse_i64(v, 0, INT64_MAX, &m->count)) ||
                   (!strcmp(k, "format_version") && parse_i64(v, 1, 1000000, &m->fver))) {
            rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: meta.%s: bad value", path, k);
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        rc = vec_file_corrupt(db, err, path, "meta table");
        goto out;
    }
    if (!m->format || strcmp(m->format, RCPT_VEC_FORMAT) != 0 || m->fver < 0 || !m->name ||
        !*m->name || m->dim < 0 || m->count < 0 || !m->kind) {
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: meta: not an rcpt vector file (format, "
                          "format_version, collection, dimension, count or kind missing)", path);
        goto out;
    }
    if (m->fver > RCPT_VEC_FORMAT_VERSION) {
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: format_version %lld is newer than this rcpt",
                          path, (long long)m->fver);
        goto out;
    }
    /* every row holds at least its vector: a count the file cannot hold is damage */
    if (m->count > size / (m->dim * 4)) {
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: meta.count %lld cannot fit in %lld bytes",
                          path, (long long)m->count, (long long)size);
        goto out;
    }
    if (man && (strcmp(man->collection, m->name) || man->dimension != m->dim ||
                man->count != m->count || strcmp(man->kind, m->kind) ||
                strcmp(man->version, m->version ? m->version : ""))) {
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: collection, dimension, count, kind or version "
                          "differ from the manifest", path);
        goto out;
    }
out:
    sqlite3_finalize(st);
    if (rc)
        vec_file_meta_free(m);
    return rc;
}

int vec_file_row_read(sqlite3_stmt *st, const char *path, size_t nrow, const vec_file_meta *m,
                      int nonempty_id, vec_file_row *row, rcpt_err *err)
{
    if (sqlite3_column_type(st, 0) != SQLITE_TEXT || sqlite3_column_type(st, 1) != SQLITE_BLOB ||
        sqlite3_column_type(st, 2) != SQLITE_TEXT || sqlite3_column_type(st, 3) != SQLITE_TEXT)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: rows[%zu]: a column has the wrong type",
                            path, nrow);
    if (nrow > (size_t)m->count)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: more rows than meta.count (%lld)", path,
                            (long long)m->count);
    row->id = (const char *)sqlite3_column_text(st, 0);
    row->idlen = sqlite3_column_bytes(st, 0);
    row->blob = sqlite3_column_blob(st, 1);
    row->blen = sqlite3_column_bytes(st, 1);
    row->doc = (const char *)sqlite3_column_text(st, 2);
    row->doclen = sqlite3_column_bytes(st, 2);
    row->md = (const char *)sqlite3_column_text(st, 3);
    row->mdlen = sqlite3_column_bytes(st, 3);
    if (!row->id || !row->doc || !row->md || (int)strlen(row->id) != row->idlen ||
        (nonempty_id && !*row->id))
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: rows[%zu]: bad id or text", path, nrow);
    if (row->blen != (int)m->dim * 4 || !row->blob)
        return rcpt_err_set(err, RCPT_ECORRUPT, "%s: rows[%zu] (id %.80s): vector of %d bytes, "
                            "expected %lld", path, nrow, row->id, row->blen, (long long)m->dim * 4);
    return RCPT_OK;
}

/* Rows read from a file, waiting to be upserted in one call: vectors in one
 * buffer, id and document text in one arena (addressed by offsets, since the
 * arena moves as it grows), metadata parsed per row.  Loading a delta puts
 * ALL its rows in one batch, so upsert_impl checks every row before it
 * places any: a damaged delta never half-applies, and no temporary
 * collection is built. */
typedef struct row_batch {
    int dim;
    size_t n, cap;
    rcpt_vec_row *rows;
    float *vecs;
    size_t *off; /* 2 per row: id, document */
    rcpt_vec_kv **kvs;
    rcpt_buf strs;
    vec_ref *refs;  /* lazy loads: where each row's vector stays; vecs unused */
    uint32_t src;   /* lazy loads: the file's src number */
} row_batch;

static void batch_clear(row_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        rcpt_vec_kv_free(b->kvs[i]);
    b->n = 0;
    rcpt_buf_reset(&b->strs);
}

static void batch_free(row_batch *b)
{
    batch_clear(b);
    free(b->rows);
    free(b->vecs);
    free(b->off);
    free(b->kvs);
    free(b->refs);
    rcpt_buf_free(&b->strs);
}

static int batch_reserve(row_batch *b, size_t want)
{
    if (want <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap *= 2;
    rcpt_vec_row *r = realloc(b->rows, cap * sizeof *r);
    if (r)
        b->rows = r;
    float *v = b->src ? b->vecs : realloc(b->vecs, cap * (size_t)b->dim * sizeof *v);
    if (v)
        b->vecs = v;
    vec_ref *f = b->src ? realloc(b->refs, cap * sizeof *f) : b->refs;
    if (f)
        b->refs = f;
    size_t *o = realloc(b->off, cap * 2 * sizeof *o);
    if (o)
        b->off = o;
    rcpt_vec_kv **k = realloc(b->kvs, cap * sizeof *k);
    if (k)
        b->kvs = k;
    if (!r || (!v && !b->src) || !o || !k || (!f && b->src))
        return -1;
    b->cap = cap;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Upsert the batch into c.  check_dups: refuse an id that repeats inside the
 * batch (the file's PRIMARY KEY makes that damage). */
static int batch_flush(row_batch *b, rcpt_vec_coll *c, const char *path, int check_dups,
                       rcpt_err *err)
{
    if (b->n == 0)
        return RCPT_OK;
    for (size_t i = 0; i < b->n; i++) {
        b->rows[i].id = b->strs.data + b->off[2 * i];
        b->rows[i].doc = b->strs.data + b->off[2 * i + 1];
        b->rows[i].vec = b->src ? NULL : b->vecs + i * (size_t)b->dim;
    }
    int rc = RCPT_OK;
    if (check_dups && b->n > 1) {
        const char **ids = malloc(b->n * sizeof *ids);
        if (!ids)
            return rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        for (size_t i = 0; i < b->n; i++)
            ids[i] = b->rows[i].id;
        qsort(ids, b->n, sizeof *ids, cmp_str_ptr);
        for (size_t i = 1; i < b->n && !rc; i++)
            if (strcmp(ids[i - 1], ids[i]) == 0)
                rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: id %.80s appears twice", path, ids[i]);
        free(ids);
        if (rc)
            return rc;
    }
    rc = vec_upsert_raw(c, b->rows, b->n, 1, b->src ? b->refs : NULL, err);
    if (rc && rc != RCPT_ENOMEM)
        rc = err ? (err->code = RCPT_ECORRUPT) : RCPT_ECORRUPT;
    batch_clear(b);
    return rc;
}

/* Read the file at path (verified against man when given) into *into (when
 * non-NULL: all rows in one batch, all or nothing) or into a new collection
 * (*out).  *nread = rows in the file. */
static int load_file(const char *path, const rcpt_vec_manifest *man, rcpt_vec_coll *into,
                     int lazy, rcpt_vec_coll **out, size_t *nread, rcpt_err *err)
{
    if (out)
        *out = NULL;
    int64_t size = 0;
    int rc;
    if ((rc = vec_file_check(path, man, &size, err)))
        return rc;
    /* lazy rows are read again when the collection is written: the file's
     * identity now, to refuse a different file then.  (Big-endian hosts
     * load eagerly: their vectors need a byte swap.) */
    struct stat fst;
    lazy = lazy && is_little_endian();
    if (lazy && stat(path, &fst) != 0)
        return rcpt_err_set(err, RCPT_EIO, "%s: %s", path, strerror(errno));
    float *scratch = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    rcpt_vec_coll *c = NULL;
    row_batch b = {0};
    vec_file_meta meta = {0};
    /* rows are read once, in order, through SQLite's small page cache: no
     * mmap, whose touched pages count in the process's RSS for as long as
     * the file is open, so a 1,000-receipt `lines` snapshot (276 MB of
     * vectors) peaked at twice its size while loading (586 MB). */
    if ((rc = vec_file_open_db(path, &db, err)) ||
        (rc = vec_file_meta_read(db, path, size, man, &meta, err)))
        goto out;
    const int64_t dim = meta.dim, count = meta.count;
    if (into) {
        if (rcpt_vec_dim(into) != dim) {
            rc = rcpt_err_set(err, RCPT_EINVAL, "apply %s into %s: dimension %lld != %d", path,
                              rcpt_vec_name(into), (long long)dim, rcpt_vec_dim(into));
            goto out;
        }
        c = into; /* upsert grows it geometrically (an exact reserve per delta would not) */
    } else {
        if ((rc = rcpt_vec_new(&c, meta.name, (int)dim, err)))
            goto out;
        if (lazy && (rc = rcpt_vec_set_lazy(c, 1, err)))
            goto out;
        if ((rc = rcpt_vec_reserve(c, (size_t)count, err)))
            goto out;
    }
    if (lazy) {
        if (!(b.src = vec_src_add(c, path, &fst)) || !(scratch = malloc((size_t)dim * 4))) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
            goto out;
        }
    }
    /* a delta goes in as one batch; a snapshot in batches (memory) */
    size_t batch = into ? (size_t)count + 1 : 1024;
    b.dim = (int)dim;
    if (batch_reserve(&b, batch < 4096 ? batch : 4096)) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(db, "SELECT id, vec, document, metadata, rowid FROM rows", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = vec_file_corrupt(db, err, path, "rows table");
        goto out;
    }
    size_t nrow = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        nrow++;
        vec_file_row row;
        if ((rc = vec_file_row_read(st, path, nrow, &meta, 0, &row, err)))
            goto out;
        if (batch_reserve(&b, b.n + 1)) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
            goto out;
        }
        size_t i = b.n;
        if (b.src) {
            /* the vector stays in the file: check it here, as upsert would
             * (the copy is to an aligned buffer that stays in cache) */
            memcpy(scratch, row.blob, (size_t)row.blen);
            double nrm = vec_norm_check(scratch, (int)dim);
            if (!isfinite(nrm) || fabs(nrm - 1.0) > 1e-3) {
                rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: rows[%zu] (id %.80s): vector length %g, "
                                  "expected 1", path, nrow, row.id, nrm);
                goto out;
            }
            b.refs[i] = (vec_ref){b.src, sqlite3_column_int64(st, 4)};
        } else {
            float *v = b.vecs + i * (size_t)dim;
            if (is_little_endian())
                memcpy(v, row.blob, (size_t)row.blen);
            else
                bswap32_copy(v, row.blob, (size_t)dim);
        }
        size_t nkv;
        /* the row's name is formatted only for an error: per row, it cost
         * as much as parsing the metadata */
        if ((rc = rcpt_vec_json_parse(row.md, (size_t)row.mdlen, "", &b.kvs[i], &nkv, err))) {
            if (err) {
                char m[sizeof err->msg];
                int k = snprintf(m, sizeof m, "%.200s: rows[%zu] (id %.80s).metadata", path, nrow, row.id);
                if (k > 0 && (size_t)k < sizeof m) {
                    size_t ml = strnlen(err->msg, sizeof m - (size_t)k - 1);
                    memmove(m + k, err->msg, ml);
                    m[(size_t)k + ml] = '\0';
                    memcpy(err->msg, m, sizeof m);
                }
            }
            rc = err ? (err->code = RCPT_ECORRUPT) : RCPT_ECORRUPT;
            goto out;
        }
        b.off[2 * i] = b.strs.len;
        rcpt_buf_append(&b.strs, row.id, (size_t)row.idlen + 1);
        b.off[2 * i + 1] = b.strs.len;
        rcpt_buf_append(&b.strs, row.doc, (size_t)row.doclen);
        rcpt_buf_putc(&b.strs, '\0');
        b.rows[i].doc_len = (size_t)row.doclen;
        b.rows[i].meta = b.kvs[i];
        b.rows[i].nmeta = nkv;
        b.n++;
        if (b.strs.oom) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "out of memory");
            goto out;
        }
        if (b.n >= batch && (rc = batch_flush(&b, c, path, 1, err)))
            goto out;
    }
    if (s != SQLITE_DONE) {
        rc = vec_file_corrupt(db, err, path, "rows table");
        goto out;
    }
    if (nrow != (size_t)count) {
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: %zu rows, meta.count says %lld", path, nrow,
                          (long long)count);
        goto out;
    }
    if ((rc = batch_flush(&b, c, path, 1, err)))
        goto out;
    if (!into && c->n != (size_t)count) {
        rc = rcpt_err_set(err, RCPT_ECORRUPT, "%s: %zu rows (%zu distinct ids), meta.count says "
                          "%lld", path, nrow, c->n, (long long)count);
        goto out;
    }
    if (nread)
        *nread = nrow;
    if (out)
        *out = c;
    c = NULL;
out:
    if (st)
        sqlite3_finalize(st);
    if (db)
        sqlite3_close(db);
    if (c != into)
        rcpt_vec_free(c);
    batch_free(&b);
    free(scratch);
    vec_file_meta_free(&meta);
    return rc;
}

int rcpt_vec_open(const char *path, const rcpt_vec_manifest *man, rcpt_vec_coll **out,
                  rcpt_err *err)
{
    return load_file(path, man, NULL, 0, out, NULL, err);
}

int rcpt_vec_open_ex(const char *path, const rcpt_vec_manifest *man, int flags,
                     rcpt_vec_coll **out, rcpt_err *err)
{
    return load_file(path, man, NULL, (flags & RCPT_VEC_LAZY) != 0, out, NULL, err);
}

int rcpt_vec_apply_file(rcpt_vec_coll *dst, const char *path, const rcpt_vec_manifest *man,
                        size_t *merged, rcpt_err *err)
{
    if (merged)
        *merged = 0;
    /* straight into dst, every row checked before any is placed (load_file) */
    size_t n = 0;
    int rc = load_file(path, man, dst, dst->lazy, NULL, &n, err);
    if (rc == RCPT_OK && merged)
        *merged = n;
    return rc;
}
