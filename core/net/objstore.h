/* rcpt_objstore: one object-store interface, two backends.
 *
 *   file:DIR  (or a bare path)   a local folder; keys are relative paths in it
 *   s3://BUCKET[/PREFIX]         S3 over rcpt_http with SigV4
 *
 * Keys are validated before any I/O (rcpt_objstore_key_check): not empty, at
 * most 1024 bytes, no leading '/', no trailing '/', no "//", no "." or ".."
 * segment, no backslash, no NUL, no control character.  The file backend
 * also refuses a segment starting with ".rcpt-" (its own bookkeeping: the
 * .rcpt-meta/ tree of content types and metadata, .rcpt-tmp- files).
 *
 * Semantics shared by both backends (the same test suite runs on both):
 *   put        replaces the object whole, atomically (readers see old or new);
 *   get        missing key -> RCPT_ENOTFOUND;
 *   head       missing key -> RCPT_ENOTFOUND;
 *   delete     a missing key is not an error (as S3);
 *   list       keys under a prefix in byte order (UTF-8 binary, as S3), with
 *              an optional delimiter folding deeper keys into common prefixes;
 *              keys are given relative to the store (an S3 PREFIX is hidden);
 *   copy       server-side copy (S3 CopyObject), metadata kept.
 * Differences: the file backend cannot hold both "a" and "a/b" (a folder and
 * a file cannot share a name): such a put is RCPT_ECONFLICT.  ETags are the
 * MD5 hex of the bytes on both for a single-part put; S3 multipart ETags are
 * whatever the server says.
 *
 * Thread safety: a store is used by one thread at a time. */
#ifndef RCPT_NET_OBJSTORE_H
#define RCPT_NET_OBJSTORE_H

#include <stddef.h>

#include "net/http.h"
#include "util/buf.h"
#include "util/err.h"

#define RCPT_OBJSTORE_KEY_MAX 1024

typedef struct rcpt_objstore rcpt_objstore;

/* User metadata (x-amz-meta-NAME on S3).  Names: [A-Za-z0-9_-]+, stored in
 * lower case; values: printable ASCII (0x20-0x7e). */
typedef struct rcpt_objstore_meta {
    const char *name;
    const char *value;
} rcpt_objstore_meta;

typedef struct rcpt_objstore_put_opts {
    const char *content_type;        /* NULL = application/octet-stream */
    const char *content_encoding;    /* NULL = none (deltas use "gzip", spec §7.1) */
    const rcpt_objstore_meta *metadata;
    size_t n_metadata;
    /* put_file: the source file is scratch the caller drops afterwards, so
     * the file backend may rename it into place (same file system) instead
     * of copying it; the source path is then gone.  S3 uploads as usual. */
    int move_source;
    /* file backend: neither the object's bytes nor its folder are fsync'ed
     * at the put (it is still atomic: readers see the old or the new
     * object).  For a caller that writes several objects and makes them
     * durable together with rcpt_objstore_sync before anything refers to
     * them (the fsyncs then overlap instead of queueing one after another).
     * S3: no effect (a put is durable when acknowledged). */
    int no_sync;
} rcpt_objstore_put_opts;

/* head() result; free with rcpt_objstore_info_free. */
typedef struct rcpt_objstore_info {
    long long size;
    char etag[130];                  /* without quotes */
    char content_type[128];
    char content_encoding[64];
    long long last_modified;         /* Unix seconds */
    rcpt_objstore_meta *metadata;    /* names in lower case; owned */
    size_t n_metadata;
} rcpt_objstore_info;

void rcpt_objstore_info_free(rcpt_objstore_info *info);

/* One listed object; pointers valid during the callback only. */
typedef struct rcpt_objstore_entry {
    const char *key;
    long long size;
    const char *etag;                /* may be "" */
    long long last_modified;         /* Unix seconds, 0 if unknown */
} rcpt_objstore_entry;

/* List callbacks return 0 to go on, non-zero to stop (list then returns that
 * value).  on_prefix may be NULL (common prefixes are then dropped). */
typedef struct rcpt_objstore_list_opts {
    const char *delimiter;           /* NULL or "" = flat listing */
    int page_size;                   /* S3 max-keys per request; 0 = 1000 */
    int (*on_entry)(void *ud, const rcpt_objstore_entry *e);
    int (*on_prefix)(void *ud, const char *common_prefix);
    void *ud;
} rcpt_objstore_list_opts;

/* Options of rcpt_objstore_open; NULL = defaults. */
typedef struct rcpt_objstore_opts {
    long long multipart_threshold;   /* S3: multipart above this many bytes; 0 = 64 MiB */
    long long part_size;             /* S3: bytes per part; 0 = 16 MiB (raised to fit 10,000 parts) */
    rcpt_http_client_opts http;      /* S3: retries and timeouts (zeros = defaults) */
    /* Environment lookup (AWS_*); NULL = getenv.  Lets callers and tests
     * configure a store without touching the process environment. */
    const char *(*getenv)(void *ud, const char *name);
    void *getenv_ud;
} rcpt_objstore_opts;

/* ---- the vtable (backends implement it; a wrapper may too, e.g. fault
 * injection at the object-store level, issue 7) ------------------------------ */
typedef struct rcpt_objstore_vt {
    const char *scheme;              /* "file", "s3" */
    int (*put)(rcpt_objstore *s, const char *key, const void *data, size_t len,
               const rcpt_objstore_put_opts *o, rcpt_err *err);
    int (*put_file)(rcpt_objstore *s, const char *key, const char *path,
                    const rcpt_objstore_put_opts *o, rcpt_err *err);
    int (*get)(rcpt_objstore *s, const char *key, rcpt_buf *out, rcpt_err *err);
    int (*get_file)(rcpt_objstore *s, const char *key, const char *path, rcpt_err *err);
    int (*head)(rcpt_objstore *s, const char *key, rcpt_objstore_info *info, rcpt_err *err);
    int (*del)(rcpt_objstore *s, const char *key, rcpt_err *err);
    int (*list)(rcpt_objstore *s, const char *prefix, const rcpt_objstore_list_opts *o,
                rcpt_err *err);
    int (*copy)(rcpt_objstore *s, const char *src_key, const char *dst_key, rcpt_err *err);
    void (*close)(rcpt_objstore *s);
    /* may be NULL: nothing to do (S3) */
    int (*sync)(rcpt_objstore *s, const char *const *keys, size_t n, rcpt_err *err);
} rcpt_objstore_vt;

struct rcpt_objstore {
    const rcpt_objstore_vt *vt;
    char *url;                       /* as opened, e.g. "s3://bucket/prefix" */
};

/* Open a store from its URL ("file:DIR", "DIR", "s3://bucket[/prefix]").
 * A file: store creates DIR if missing.  An s3:// store reads, from the
 * environment (opts->getenv): AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL
 * (path-style http(s)://HOST/BUCKET/KEY when set; otherwise virtual-hosted
 * https://BUCKET.s3.REGION.amazonaws.com/KEY), AWS_REGION, else
 * AWS_DEFAULT_REGION, else us-east-1, and AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY (both required: RCPT_EAUTH otherwise),
 * AWS_SESSION_TOKEN.  No request is made at open. */
int rcpt_objstore_open(const char *url, const rcpt_objstore_opts *opts,
                       rcpt_objstore **out, rcpt_err *err);
void rcpt_objstore_close(rcpt_objstore *s);  /* NULL is fine */
const char *rcpt_objstore_url(const rcpt_objstore *s);

/* The operations.  All validate the key first (RCPT_EINVAL, message names
 * the key and the rule).  Messages name the store URL and key, never
 * credentials.  o may be NULL. */
int rcpt_objstore_put(rcpt_objstore *s, const char *key, const void *data, size_t len,
                      const rcpt_objstore_put_opts *o, rcpt_err *err);
/* Streams the file (S3: multipart above the threshold, parts read from the file). */
int rcpt_objstore_put_file(rcpt_objstore *s, const char *key, const char *path,
                           const rcpt_objstore_put_opts *o, rcpt_err *err);
/* Appends the object's bytes to out (reset it first if needed). */
int rcpt_objstore_get(rcpt_objstore *s, const char *key, rcpt_buf *out, rcpt_err *err);
/* Streams to a temporary file beside path, renamed over path when complete:
 * path never holds a partial object. */
int rcpt_objstore_get_file(rcpt_objstore *s, const char *key, const char *path, rcpt_err *err);
/* info is overwritten; free it with rcpt_objstore_info_free even on error. */
int rcpt_objstore_head(rcpt_objstore *s, const char *key, rcpt_objstore_info *info, rcpt_err *err);
int rcpt_objstore_delete(rcpt_objstore *s, const char *key, rcpt_err *err);
/* prefix may be NULL or "" (everything); it is not a key and need not end in '/'. */
int rcpt_objstore_list(rcpt_objstore *s, const char *prefix, const rcpt_objstore_list_opts *o,
                       rcpt_err *err);
/* Make objects put with no_sync durable: their bytes and the folders that
 * name them (file backend: writeback of all is started first, then each
 * file and each distinct folder is fsync'ed).  A missing key is
 * RCPT_ENOTFOUND.  S3: nothing to do. */
int rcpt_objstore_sync(rcpt_objstore *s, const char *const *keys, size_t n, rcpt_err *err);
int rcpt_objstore_copy(rcpt_objstore *s, const char *src_key, const char *dst_key, rcpt_err *err);

/* The HTTP client of an S3 store (NULL for other backends): tests install
 * rcpt_http_hooks on it to inject faults and observe the backoff. */
rcpt_http_client *rcpt_objstore_http_client(rcpt_objstore *s);

/* Key rules (see top); returns RCPT_OK or RCPT_EINVAL with a message. */
int rcpt_objstore_key_check(const char *key, size_t len, rcpt_err *err);

/* ---- internals shared by the backends and exposed for tests/fuzzing ------- */

/* Parse an S3 error document: fills code/message (NUL-terminated, possibly
 * empty).  Returns 0 if it was an <Error> document, -1 otherwise. */
int rcpt_s3_parse_error(const char *xml, size_t n, char *code, size_t code_cap,
                        char *message, size_t msg_cap);

/* Parse one ListObjectsV2 page: calls on_entry/on_prefix of o for each
 * <Contents>/<CommonPrefixes> (keys as the server gave them; strip is
 * removed from their front when it matches), sets *truncated and fills
 * next_token.  Returns RCPT_OK, the callback's non-zero value, or
 * RCPT_ECORRUPT with a message. */
int rcpt_s3_parse_list(const char *xml, size_t n, const char *strip,
                       const rcpt_objstore_list_opts *o, int *truncated,
                       rcpt_buf *next_token, rcpt_err *err);

/* Backend constructors (rcpt_objstore_open dispatches to them). */
int rcpt_objstore_file_open(const char *dir, const char *url, rcpt_objstore **out, rcpt_err *err);
int rcpt_objstore_s3_open(const char *bucket, const char *prefix, const char *url,
                          const rcpt_objstore_opts *opts, rcpt_objstore **out, rcpt_err *err);

/* The RCPT_FAULTS wrapper (core/util/fault.h, objstore_fault.c): replaces
 * *s by a wrapping store when the variable has objstore rules (closing *s
 * and failing when the variable is malformed); _inner sees through it. */
int rcpt__objstore_fault_wrap(rcpt_objstore **s, rcpt_err *err);
rcpt_objstore *rcpt__objstore_fault_inner(rcpt_objstore *s);

#endif
