/* fuzz_vecfile: the delta/snapshot reader of core/vec/vec_file.c.  Each
 * input is written to a private temporary file and read by rcpt_vec_open:
 *   - without a manifest: accepted (and then every row must be readable:
 *     ids found again, vectors of unit length, metadata iterable and
 *     printable as JSON) or refused with ECORRUPT / ENOMEM, never a crash;
 *   - with the file's true manifest (size and xxh3_128 computed here, the rest
 *     from what the file says): the same verdict and the same rows;
 *   - with a manifest whose checksum, or size, does not match: ECORRUPT,
 *     never a collection (a damaged file is never a wrong answer).
 * The input is also given to rcpt_vec_manifest_parse; an accepted manifest
 * must come back identical through rcpt_vec_manifest_json. */
#include <math.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vec/vec.h"

static char path[512];

static void remove_file(void)
{
    remove(path);
}

static void check_coll(const rcpt_vec_coll *c)
{
    int dim = rcpt_vec_dim(c);
    FUZZ_CHECK(dim >= 1 && dim <= RCPT_VEC_MAX_DIM, "dim %d", dim);
    size_t n = rcpt_vec_count(c);
    rcpt_buf js = RCPT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *id = rcpt_vec_row_id(c, i);
        FUZZ_CHECK(id != NULL && rcpt_vec_find(c, id) == (long)i, "row %zu: id not found again", i);
        size_t dl;
        const char *doc = rcpt_vec_row_doc(c, i, &dl);
        FUZZ_CHECK(doc != NULL && doc[dl] == 0, "row %zu: document not terminated", i);
        const float *v = rcpt_vec_row_vec(c, i);
        double ss = 0;
        for (int k = 0; k < dim; k++) {
            FUZZ_CHECK(isfinite(v[k]), "row %zu: vector not finite", i);
            ss += (double)v[k] * v[k];
        }
        FUZZ_CHECK(fabs(ss - 1) < 1e-2, "row %zu: accepted a vector of squared length %g", i, ss);
        rcpt_vec_meta_it it;
        rcpt_vec_kv kv;
        rcpt_vec_meta_begin(c, i, &it);
        size_t nk = 0;
        while (rcpt_vec_meta_next(&it, &kv)) {
            FUZZ_CHECK(kv.key && kv.key[0], "row %zu: empty metadata key", i);
            rcpt_vec_val got;
            FUZZ_CHECK(rcpt_vec_meta_get(c, i, kv.key, &got) == 1 && got.type == kv.val.type,
                       "row %zu: metadata key not found again", i);
            nk++;
        }
        rcpt_buf_reset(&js);
        FUZZ_CHECK(rcpt_vec_meta_json(c, i, &js) == RCPT_OK, "row %zu: metadata JSON", i);
        rcpt_vec_kv *back;
        size_t nb;
        rcpt_err e;
        FUZZ_CHECK(rcpt_vec_json_parse(js.data, js.len, "meta", &back, &nb, &e) == RCPT_OK && nb == nk,
                   "row %zu: metadata JSON does not parse back: %.*s", i, (int)js.len, js.data);
        rcpt_vec_kv_free(back);
    }
    rcpt_buf_free(&js);
}

static int same_rows(const rcpt_vec_coll *a, const rcpt_vec_coll *b)
{
    if (rcpt_vec_count(a) != rcpt_vec_count(b) || rcpt_vec_dim(a) != rcpt_vec_dim(b))
        return 0;
    for (size_t i = 0; i < rcpt_vec_count(a); i++) {
        long j = rcpt_vec_find(b, rcpt_vec_row_id(a, i));
        if (j < 0 || memcmp(rcpt_vec_row_vec(a, i), rcpt_vec_row_vec(b, (size_t)j),
                            (size_t)rcpt_vec_dim(a) * sizeof(float)) != 0)
            return 0;
    }
    return 1;
}

static void manifest_text(const uint8_t *data, size_t size)
{
    rcpt_vec_manifest m, m2;
    rcpt_err err = {0};
    if (rcpt_vec_manifest_parse((const char *)data, size, &m, &err) != RCPT_OK) {
        FUZZ_CHECK(err.msg[0], "manifest refused without a message");
        return;
    }
    rcpt_buf js = RCPT_BUF_INIT;
    FUZZ_CHECK(rcpt_vec_manifest_json(&m, &js) == RCPT_OK, "manifest_json failed");
    int rc = rcpt_vec_manifest_parse(js.data, js.len, &m2, &err);
    FUZZ_CHECK(rc == RCPT_OK, "our manifest JSON does not parse: %s\n%.*s", err.msg, (int)js.len, js.data);
    FUZZ_CHECK(!strcmp(m.format, m2.format) && m.format_version == m2.format_version &&
                   !strcmp(m.kind, m2.kind) && !strcmp(m.collection, m2.collection) &&
                   m.dimension == m2.dimension && m.count == m2.count && !strcmp(m.version, m2.version) &&
                   !strcmp(m.sha256, m2.sha256) && !strcmp(m.xxh3_128, m2.xxh3_128) && m.bytes == m2.bytes && !strcmp(m.created_at, m2.created_at),
               "manifest changed in a round trip:\n%.*s", (int)js.len, js.data);
    rcpt_buf_free(&js);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    manifest_text(data, size);
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/rcpt-fuzz-vec-%ld.db", tmp && *tmp ? tmp : "/tmp", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", path);
    if (size)
        fwrite(data, 1, size, f);
    FUZZ_CHECK(fclose(f) == 0, "cannot write %s", path);

    rcpt_err err = {0};
    rcpt_vec_coll *c = NULL;
    int rc = rcpt_vec_open(path, NULL, &c, &err);
    if (rc == RCPT_OK) {
        FUZZ_CHECK(c != NULL, "OK without a collection");
        check_coll(c);
    } else {
        FUZZ_CHECK(c == NULL, "error with a collection");
        FUZZ_CHECK(rc == RCPT_ECORRUPT || rc == RCPT_ENOMEM, "open: code %d (%s)", rc, err.msg);
        FUZZ_CHECK(err.code == rc && err.msg[0], "open: error without a message");
    }

    /* the file's true manifest */
    rcpt_vec_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.format, sizeof m.format, "%s", RCPT_VEC_FORMAT);
    m.format_version = RCPT_VEC_FORMAT_VERSION;
    if (c) {
        snprintf(m.collection, sizeof m.collection, "%s", rcpt_vec_name(c));
        m.dimension = rcpt_vec_dim(c);
        m.count = (int64_t)rcpt_vec_count(c);
    }
    FUZZ_CHECK(rcpt_vec_xxh3_file(path, m.xxh3_128, &m.bytes, &err) == RCPT_OK, "xxh3_128: %s", err.msg);
    FUZZ_CHECK(m.bytes == (int64_t)size, "xxh3_file saw %lld bytes of %zu", (long long)m.bytes, size);
    if (c) {
        /* kind and version are not exposed by the collection: try the two kinds */
        static const char *const kinds[] = {"delta", "snapshot"};
        int opened = 0;
        for (int k = 0; k < 2 && !opened; k++) {
            snprintf(m.kind, sizeof m.kind, "%s", kinds[k]);
            rcpt_vec_coll *c2 = NULL;
            if (rcpt_vec_open(path, &m, &c2, &err) == RCPT_OK) {
                FUZZ_CHECK(same_rows(c, c2), "the same file read twice gave different rows");
                rcpt_vec_free(c2);
                opened = 1;
            } else {
                FUZZ_CHECK(err.code == RCPT_ECORRUPT, "true manifest: code %d", err.code);
            }
        }
    }

    /* a checksum that does not match, then a size that does not match */
    rcpt_vec_manifest bad = m;
    bad.xxh3_128[0] = bad.xxh3_128[0] == '0' ? '1' : '0';
    rcpt_vec_coll *c3 = NULL;
    rc = rcpt_vec_open(path, &bad, &c3, &err);
    FUZZ_CHECK(rc == RCPT_ECORRUPT && c3 == NULL, "wrong xxh3_128 accepted (rc %d)", rc);
    FUZZ_CHECK(rcpt_vec_verify(path, &bad, &err) == RCPT_ECORRUPT, "verify accepted a wrong xxh3_128");
    /* an older manifest's sha256, right then wrong */
    bad = m;
    bad.xxh3_128[0] = '\0';
    FUZZ_CHECK(rcpt_vec_sha256_file(path, bad.sha256, NULL, &err) == RCPT_OK, "sha256: %s", err.msg);
    FUZZ_CHECK(rcpt_vec_verify(path, &bad, &err) == RCPT_OK, "verify refused the right sha256: %s", err.msg);
    bad.sha256[0] = bad.sha256[0] == '0' ? '1' : '0';
    FUZZ_CHECK(rcpt_vec_verify(path, &bad, &err) == RCPT_ECORRUPT, "verify accepted a wrong sha256");
    bad = m;
    bad.bytes++;
    rc = rcpt_vec_open(path, &bad, &c3, &err);
    FUZZ_CHECK(rc == RCPT_ECORRUPT && c3 == NULL, "wrong size accepted (rc %d)", rc);

    /* applying a file to a collection of another dimension never half-applies */
    if (c) {
        rcpt_vec_coll *dst = NULL;
        int other = rcpt_vec_dim(c) == 1 ? 2 : 1;
        FUZZ_CHECK(rcpt_vec_new(&dst, "dst", other, &err) == RCPT_OK, "new");
        size_t merged = 99;
        rc = rcpt_vec_apply_file(dst, path, NULL, &merged, &err);
        FUZZ_CHECK(rc != RCPT_OK && rcpt_vec_count(dst) == 0, "applied across dimensions");
        rcpt_vec_free(dst);
    }
    rcpt_vec_free(c);
    return 0;
}
