/* rcpt_vec: collections, exact search against a double-precision brute force,
 * filters, files (round trip, idempotent apply) and damaged files. */
#include "check.h"
#include "vec/vec.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rndf(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static rcpt_vec_val vstr(const char *s) { return (rcpt_vec_val){.type = RCPT_VEC_STR, .str = s, .len = strlen(s)}; }
static rcpt_vec_val vint(int64_t i) { return (rcpt_vec_val){.type = RCPT_VEC_INT, .i = i}; }
static rcpt_vec_val vbool(int b) { return (rcpt_vec_val){.type = RCPT_VEC_BOOL, .b = b}; }

static const char *merchants[] = {"Costco", "Target", "Sprouts", "Vons", "In-N-Out"};

/* A random collection: row i has id "r%06d", merchant_name merchants[i%5]
 * (absent when i%7==0), receipt_id i%13 (int), member (bool, i%2), text. */
static rcpt_vec_coll *make_random(int n, int dim, float **vecs_out)
{
    rcpt_vec_coll *c;
    rcpt_err err;
    if (rcpt_vec_new(&c, "lines", dim, &err) != RCPT_OK)
        return NULL;
    float *vecs = malloc((size_t)n * dim * sizeof(float));
    for (int i = 0; i < n; i++) {
        char id[32], doc[32];
        snprintf(id, sizeof id, "r%06d", i);
        snprintf(doc, sizeof doc, "line %d", i);
        for (int j = 0; j < dim; j++)
            vecs[(size_t)i * dim + j] = rndf();
        rcpt_vec_kv kv[4];
        size_t nk = 0;
        kv[nk++] = (rcpt_vec_kv){"receipt_id", vint(i % 13)};
        kv[nk++] = (rcpt_vec_kv){"member", vbool(i % 2)};
        kv[nk++] = (rcpt_vec_kv){"text", vstr(doc)};
        if (i % 7)
            kv[nk++] = (rcpt_vec_kv){"merchant_name", vstr(merchants[i % 5])};
        rcpt_vec_row r = {id, vecs + (size_t)i * dim, doc, strlen(doc), kv, nk};
        if (rcpt_vec_upsert(c, &r, 1, &err) != RCPT_OK) {
            fprintf(stderr, "upsert: %s\n", err.msg);
            rcpt_vec_free(c);
            free(vecs);
            return NULL;
        }
    }
    *vecs_out = vecs;
    return c;
}

/* Double-precision reference: cosine of q and v. */
static double cosd(const float *q, const float *v, int dim)
{
    double d = 0, a = 0, b = 0;
    for (int j = 0; j < dim; j++) {
        d += (double)q[j] * v[j];
        a += (double)q[j] * q[j];
        b += (double)v[j] * v[j];
    }
    return d / sqrt(a) / sqrt(b);
}

typedef int (*pred_fn)(int i);
static int pred_all(int i) { (void)i; return 1; }
static int pred_eq(int i) { return i % 7 && !strcmp(merchants[i % 5], "Target"); }
static int pred_ne(int i) { return !(i % 13 == 4); }
static int pred_in(int i) { return i % 7 && (i % 5 == 0 || i % 5 == 2); }
static int pred_and(int i) { return pred_in(i) && i % 2 == 1 && i % 13 != 3; }
static int pred_excl(int i) { return i % 3 != 0; }

typedef struct refhit { double s; int i; } refhit;
static int cmp_ref(const void *a, const void *b)
{
    const refhit *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return x->i - y->i;
}

/* Compare a query's hits to the brute force: same count, scores within float
 * rounding of the exact ones at every rank, every hit satisfying pred. */
static void check_topk(rcpt_vec_coll *c, const float *vecs, int n, int dim, const float *q,
                       const rcpt_vec_query_opts *o, pred_fn pred)
{
    rcpt_vec_hit hits[64];
    size_t nh;
    rcpt_err err;
    CHECK_INT(rcpt_vec_query(c, q, o, hits, &nh, &err), RCPT_OK);
    refhit *ref = malloc((size_t)n * sizeof *ref);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (pred(i))
            ref[m++] = (refhit){cosd(q, vecs + (size_t)i * dim, dim), i};
    qsort(ref, (size_t)m, sizeof *ref, cmp_ref);
    size_t want = o->k < (size_t)m ? o->k : (size_t)m;
    CHECK_INT(nh, want);
    int bad = 0;
    for (size_t r = 0; r < nh && r < want; r++) {
        int i = atoi(rcpt_vec_row_id(c, hits[r].row) + 1);
        if (fabs(hits[r].score - ref[r].s) > 1e-5 || !pred(i) ||
            fabs(cosd(q, vecs + (size_t)i * dim, dim) - hits[r].score) > 1e-5)
            bad++;
        if (r && hits[r].score > hits[r - 1].score)
            bad++;
    }
    CHECK_INT(bad, 0);
    free(ref);
}

static void test_normalise_and_errors(void)
{
    rcpt_vec_coll *c;
    rcpt_err err;
    CHECK_INT(rcpt_vec_new(&c, "lines", 2, &err), RCPT_OK);
    float v[2] = {3, 4};
    rcpt_vec_row r = {"a", v, "doc", 3, NULL, 0};
    CHECK_INT(rcpt_vec_upsert(c, &r, 1, &err), RCPT_OK);
    const float *s = rcpt_vec_row_vec(c, 0);
    CHECK_NEAR(s[0], 0.6, 1e-7);
    CHECK_NEAR(s[1], 0.8, 1e-7);
    float z[2] = {0, 0};
    rcpt_vec_row rz[2] = {{"ok", v, NULL, 0, NULL, 0}, {"IMAGE#x#LINE#00002", z, NULL, 0, NULL, 0}};
    CHECK_INT(rcpt_vec_upsert(c, rz, 2, &err), RCPT_EINVAL);
    CHECK(strstr(err.msg, "IMAGE#x#LINE#00002") && strstr(err.msg, "zero"));
    CHECK_INT(rcpt_vec_count(c), 1); /* nothing of the failed batch was written */
    float nanv[2] = {NAN, 1};
    rcpt_vec_row rn = {"nan-row", nanv, NULL, 0, NULL, 0};
    CHECK_INT(rcpt_vec_upsert(c, &rn, 1, &err), RCPT_EINVAL);
    CHECK(strstr(err.msg, "nan-row") && strstr(err.msg, "NaN"));
    rcpt_vec_kv dup[2] = {{"k", vint(1)}, {"k", vint(2)}};
    rcpt_vec_row rd = {"d", v, NULL, 0, dup, 2};
    CHECK_INT(rcpt_vec_upsert(c, &rd, 1, &err), RCPT_EINVAL);
    CHECK(strstr(err.msg, "twice") != NULL);
    rcpt_vec_kv bad = {"x", {.type = RCPT_VEC_NUM, .num = INFINITY}};
    rcpt_vec_row rb = {"b", v, NULL, 0, &bad, 1};
    CHECK_INT(rcpt_vec_upsert(c, &rb, 1, &err), RCPT_EINVAL);
    CHECK(strstr(err.msg, "metadata.x") != NULL);
    rcpt_vec_hit h[1];
    size_t nh;
    CHECK_INT(rcpt_vec_query(c, z, &(rcpt_vec_query_opts){.k = 1}, h, &nh, &err), RCPT_EINVAL);
    rcpt_vec_coll *bad_c;
    CHECK_INT(rcpt_vec_new(&bad_c, "x", 0, &err), RCPT_EINVAL);
    rcpt_vec_free(c);
}

static void test_upsert_replace_delete(void)
{
    rcpt_vec_coll *c;
    rcpt_err err;
    CHECK_INT(rcpt_vec_new(&c, "words", 4, &err), RCPT_OK);
    char ids[100][16];
    float v[4];
    for (int i = 0; i < 100; i++) {
        snprintf(ids[i], sizeof ids[i], "w%d", i);
        for (int j = 0; j < 4; j++)
            v[j] = (float)(j == i % 4 ? i + 1 : 0.5);
        rcpt_vec_kv kv = {"word_id", vint(i)};
        rcpt_vec_row r = {ids[i], v, ids[i], strlen(ids[i]), &kv, 1};
        CHECK_INT(rcpt_vec_upsert(c, &r, 1, &err), RCPT_OK);
    }
    CHECK_INT(rcpt_vec_count(c), 100);
    /* replace w5: new doc, metadata, vector; count unchanged */
    float nv[4] = {0, 0, 0, 2};
    rcpt_vec_kv kv2 = {"merchant_name", vstr("Vons")};
    rcpt_vec_row r = {"w5", nv, "new", 3, &kv2, 1};
    CHECK_INT(rcpt_vec_upsert(c, &r, 1, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_count(c), 100);
    long row = rcpt_vec_find(c, "w5");
    CHECK(row >= 0);
    size_t dl;
    CHECK_STR(rcpt_vec_row_doc(c, (size_t)row, &dl), "new");
    CHECK_NEAR(rcpt_vec_row_vec(c, (size_t)row)[3], 1.0, 0);
    rcpt_vec_val val;
    CHECK_INT(rcpt_vec_meta_get(c, (size_t)row, "word_id", &val), 0);
    CHECK_INT(rcpt_vec_meta_get(c, (size_t)row, "merchant_name", &val), 1);
    /* delete a third, including ids that are not there */
    const char *del[40];
    int nd = 0;
    for (int i = 0; i < 100; i += 3)
        del[nd++] = ids[i];
    del[nd++] = "nope";
    size_t deleted;
    CHECK_INT(rcpt_vec_delete(c, del, (size_t)nd, &deleted, &err), RCPT_OK);
    CHECK_INT(deleted, 34);
    CHECK_INT(rcpt_vec_count(c), 66);
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        long rr = rcpt_vec_find(c, ids[i]);
        if ((i % 3 == 0) != (rr < 0))
            bad++;
        if (rr >= 0 && i != 5) {
            /* the vector still belongs to its id after the swap-remove */
            const float *s = rcpt_vec_row_vec(c, (size_t)rr);
            int big = 0;
            for (int j = 1; j < 4; j++)
                if (s[j] > s[big])
                    big = j;
            if (big != i % 4 || strcmp(rcpt_vec_row_id(c, (size_t)rr), ids[i]))
                bad++;
            if (!rcpt_vec_meta_get(c, (size_t)rr, "word_id", &val) || val.i != i)
                bad++;
        }
    }
    CHECK_INT(bad, 0);
    /* delete everything, then insert again */
    const char *all[100];
    for (int i = 0; i < 100; i++)
        all[i] = ids[i];
    CHECK_INT(rcpt_vec_delete(c, all, 100, &deleted, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_count(c), 0);
    CHECK_INT(rcpt_vec_find(c, "w1"), -1);
    CHECK_INT(rcpt_vec_upsert(c, &r, 1, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_find(c, "w5"), 0);
    rcpt_vec_free(c);
}

static void test_query_and_filters(int n, int dim, int threads)
{
    float *vecs;
    rcpt_vec_coll *c = make_random(n, dim, &vecs);
    CHECK(c != NULL);
    if (!c)
        return;
    rcpt_vec_set_threads(c, threads);
    float q[512];
    rcpt_vec_val target = vstr("Target"), four = vint(4), three = vint(3);
    rcpt_vec_val in[3] = {vstr("Costco"), vstr("Sprouts"), vint(0)};
    rcpt_vec_val yes = vbool(1);
    rcpt_vec_cond eq = {"merchant_name", RCPT_VEC_EQ, &target, 1};
    rcpt_vec_cond ne = {"receipt_id", RCPT_VEC_NE, &four, 1};
    rcpt_vec_cond inc = {"merchant_name", RCPT_VEC_IN, in, 3};
    rcpt_vec_cond andc[3] = {inc, {"member", RCPT_VEC_EQ, &yes, 1}, {"receipt_id", RCPT_VEC_NE, &three, 1}};
    const char **excl = malloc((size_t)n * sizeof *excl);
    char (*exids)[16] = malloc((size_t)n * 16);
    int ne_ = 0;
    for (int i = 0; i < n; i += 3) {
        snprintf(exids[ne_], 16, "r%06d", i);
        excl[ne_] = exids[ne_];
        ne_++;
    }
    for (int t = 0; t < 3; t++) {
        for (int j = 0; j < dim; j++)
            q[j] = rndf();
        check_topk(c, vecs, n, dim, q, &(rcpt_vec_query_opts){.k = 10}, pred_all);
        check_topk(c, vecs, n, dim, q, &(rcpt_vec_query_opts){.k = 1}, pred_all);
        check_topk(c, vecs, n, dim, q, &(rcpt_vec_query_opts){.k = 25, .where = &eq, .nwhere = 1}, pred_eq);
        check_topk(c, vecs, n, dim, q, &(rcpt_vec_query_opts){.k = 10, .where = &ne, .nwhere = 1}, pred_ne);
        check_topk(c, vecs, n, dim, q, &(rcpt_vec_query_opts){.k = 10, .where = &inc, .nwhere = 1}, pred_in);
        check_topk(c, vecs, n, dim, q, &(rcpt_vec_query_opts){.k = 10, .where = andc, .nwhere = 3}, pred_and);
        check_topk(c, vecs, n, dim, q,
                   &(rcpt_vec_query_opts){.k = 10, .exclude_ids = excl, .nexclude = (size_t)ne_},
                   pred_excl);
    }
    /* the query vector itself is found first with score 1 */
    rcpt_vec_hit h[3];
    size_t nh;
    rcpt_err err;
    CHECK_INT(rcpt_vec_query(c, vecs + 7 * (size_t)dim, &(rcpt_vec_query_opts){.k = 3}, h, &nh, &err), RCPT_OK);
    CHECK_STR(rcpt_vec_row_id(c, h[0].row), "r000007");
    CHECK_NEAR(h[0].score, 1.0, 1e-5);
    /* a filter on a key no row has: EQ matches nothing, NE everything */
    rcpt_vec_val x = vstr("x");
    rcpt_vec_cond none = {"no_such_key", RCPT_VEC_EQ, &x, 1};
    CHECK_INT(rcpt_vec_query(c, q, &(rcpt_vec_query_opts){.k = 3, .where = &none, .nwhere = 1}, h, &nh, &err), RCPT_OK);
    CHECK_INT(nh, 0);
    none.op = RCPT_VEC_NE;
    CHECK_INT(rcpt_vec_query(c, q, &(rcpt_vec_query_opts){.k = 3, .where = &none, .nwhere = 1}, h, &nh, &err), RCPT_OK);
    CHECK_INT(nh, 3);
    /* a string "4" does not equal the integer 4; 4.0 does */
    rcpt_vec_val s4 = vstr("4"), d4 = {.type = RCPT_VEC_NUM, .num = 4.0};
    rcpt_vec_cond c4 = {"receipt_id", RCPT_VEC_EQ, &s4, 1};
    CHECK_INT(rcpt_vec_query(c, q, &(rcpt_vec_query_opts){.k = 3, .where = &c4, .nwhere = 1}, h, &nh, &err), RCPT_OK);
    CHECK_INT(nh, 0);
    c4.vals = &d4;
    CHECK_INT(rcpt_vec_query(c, q, &(rcpt_vec_query_opts){.k = 3, .where = &c4, .nwhere = 1}, h, &nh, &err), RCPT_OK);
    CHECK_INT(nh, 3);
    free(excl);
    free(exids);
    free(vecs);
    rcpt_vec_free(c);
}

static void test_ties(void)
{
    rcpt_vec_coll *c;
    rcpt_err err;
    CHECK_INT(rcpt_vec_new(&c, "t", 3, &err), RCPT_OK);
    float same[3] = {1, 2, 3}, other[3] = {-1, 0, 0};
    const char *ids[] = {"m", "b", "z", "a", "q"};
    for (int i = 0; i < 5; i++) {
        rcpt_vec_row r = {ids[i], i == 4 ? other : same, NULL, 0, NULL, 0};
        CHECK_INT(rcpt_vec_upsert(c, &r, 1, &err), RCPT_OK);
    }
    rcpt_vec_hit h[5];
    size_t nh;
    CHECK_INT(rcpt_vec_query(c, same, &(rcpt_vec_query_opts){.k = 3}, h, &nh, &err), RCPT_OK);
    CHECK_INT(nh, 3);
    CHECK_STR(rcpt_vec_row_id(c, h[0].row), "a");
    CHECK_STR(rcpt_vec_row_id(c, h[1].row), "b");
    CHECK_STR(rcpt_vec_row_id(c, h[2].row), "m");
    CHECK_INT(rcpt_vec_query(c, same, &(rcpt_vec_query_opts){.k = 10}, h, &nh, &err), RCPT_OK);
    CHECK_INT(nh, 5);
    CHECK_STR(rcpt_vec_row_id(c, h[3].row), "z");
    CHECK_STR(rcpt_vec_row_id(c, h[4].row), "q");
    rcpt_vec_free(c);
}

static void test_update_metadata(void)
{
    rcpt_vec_coll *c;
    rcpt_err err;
    CHECK_INT(rcpt_vec_new(&c, "lines", 2, &err), RCPT_OK);
    float v[2] = {1, 0};
    rcpt_vec_kv kv[3] = {{"merchant_name", vstr("Old")}, {"receipt_id", vstr("1")}, {"place_id", vstr("p")}};
    rcpt_vec_row rows[2] = {{"a", v, NULL, 0, kv, 3}, {"b", v, NULL, 0, kv, 3}};
    CHECK_INT(rcpt_vec_upsert(c, rows, 2, &err), RCPT_OK);
    const char *ids[] = {"a", "missing"};
    rcpt_vec_kv set[2] = {{"merchant_name", vstr("New Shop")}, {"last_metadata_update", vstr("2026-01-01T00:00:00Z")}};
    const char *rm[] = {"place_id", "not_there"};
    size_t upd;
    CHECK_INT(rcpt_vec_update_metadata(c, ids, 2, set, 2, rm, 2, &upd, &err), RCPT_OK);
    CHECK_INT(upd, 1);
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_vec_meta_json(c, (size_t)rcpt_vec_find(c, "a"), &b);
    CHECK_STR(b.data, "{\"last_metadata_update\":\"2026-01-01T00:00:00Z\",\"merchant_name\":\"New Shop\",\"receipt_id\":\"1\"}");
    rcpt_buf_reset(&b);
    rcpt_vec_meta_json(c, (size_t)rcpt_vec_find(c, "b"), &b);
    CHECK_STR(b.data, "{\"merchant_name\":\"Old\",\"place_id\":\"p\",\"receipt_id\":\"1\"}");
    rcpt_buf_free(&b);
    rcpt_vec_free(c);
}

static void test_json(void)
{
    rcpt_vec_kv *kv;
    size_t n;
    rcpt_err err;
    const char *j = " {\"a\" : \"x\\\"y\\u00e9\\ud83d\\ude00\\u0000z\", \"n\":-1.5e2, \"i\":42, \"big\": 123456789012345678901,"
                    "\"t\":true,\"f\":false,\"z\":null} ";
    CHECK_INT(rcpt_vec_json_parse(j, strlen(j), "m", &kv, &n, &err), RCPT_OK);
    CHECK_INT(n, 7);
    if (n == 7) {
        CHECK_INT(kv[0].val.len, 11);
        CHECK(memcmp(kv[0].val.str, "x\"y\xc3\xa9\xf0\x9f\x98\x80\0z", 11) == 0);
        CHECK_NEAR(kv[1].val.num, -150, 0);
        CHECK_INT(kv[2].val.type, RCPT_VEC_INT);
        CHECK_INT(kv[2].val.i, 42);
        CHECK_INT(kv[3].val.type, RCPT_VEC_NUM);
        CHECK_INT(kv[4].val.b, 1);
        CHECK_INT(kv[6].val.type, RCPT_VEC_NULL);
        rcpt_buf b = RCPT_BUF_INIT;
        rcpt_vec_json_write(&b, kv, n);
        rcpt_vec_kv *kv2;
        size_t n2;
        CHECK_INT(rcpt_vec_json_parse(b.data, b.len, "m", &kv2, &n2, &err), RCPT_OK);
        CHECK_INT(n2, 7);
        if (n2 == 7) {
            CHECK(kv2[0].val.len == 11 && memcmp(kv2[0].val.str, kv[0].val.str, 11) == 0);
            CHECK_INT(kv2[1].val.type, RCPT_VEC_NUM);
            CHECK_INT(kv2[2].val.type, RCPT_VEC_INT);
            CHECK(kv2[3].val.num == kv[3].val.num);
        }
        rcpt_vec_kv_free(kv2);
        rcpt_buf_free(&b);
    }
    rcpt_vec_kv_free(kv);
    const char *bad[] = {"{\"a\":[1]}", "{\"a\":{}}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}", "[1]",
                         "{\"a\":\"x}", "{\"a\":1}x", "{\"a\":1,\"a\":2}", "{\"\":1}", "{\"a\":tru}",
                         "{\"a\":1e999}", "{\"a\":\"\\q\"}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = rcpt_vec_json_parse(bad[i], strlen(bad[i]), "metadata", &kv, &n, &err);
        CHECK_INT(rc, RCPT_EINVAL);
        if (rc == RCPT_OK)
            rcpt_vec_kv_free(kv);
        else
            CHECK(strncmp(err.msg, "metadata", 8) == 0);
    }
}

static int same_rows(const rcpt_vec_coll *a, const rcpt_vec_coll *b)
{
    if (rcpt_vec_count(a) != rcpt_vec_count(b) || rcpt_vec_dim(a) != rcpt_vec_dim(b))
        return 0;
    rcpt_buf ja = RCPT_BUF_INIT, jb = RCPT_BUF_INIT;
    int ok = 1;
    for (size_t i = 0; i < rcpt_vec_count(a) && ok; i++) {
        long j = rcpt_vec_find(b, rcpt_vec_row_id(a, i));
        if (j < 0) {
            ok = 0;
            break;
        }
        size_t la, lb;
        const char *da = rcpt_vec_row_doc(a, i, &la), *db = rcpt_vec_row_doc(b, (size_t)j, &lb);
        rcpt_buf_reset(&ja);
        rcpt_buf_reset(&jb);
        rcpt_vec_meta_json(a, i, &ja);
        rcpt_vec_meta_json(b, (size_t)j, &jb);
        ok = la == lb && memcmp(da, db, la) == 0 && strcmp(ja.data, jb.data) == 0 &&
             memcmp(rcpt_vec_row_vec(a, i), rcpt_vec_row_vec(b, (size_t)j),
                    (size_t)rcpt_vec_dim(a) * sizeof(float)) == 0;
    }
    rcpt_buf_free(&ja);
    rcpt_buf_free(&jb);
    return ok;
}

static char tmpdir[64];

static void copy_file(const char *from, const char *to, long len, long flip_at)
{
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    int ch;
    long i = 0;
    while ((ch = fgetc(f)) != EOF && (len < 0 || i < len)) {
        if (i == flip_at)
            ch ^= 0x5A;
        fputc(ch, g);
        i++;
    }
    fclose(f);
    fclose(g);
}

static void test_files(void)
{
    float *vecs;
    rcpt_vec_coll *c = make_random(300, 24, &vecs);
    rcpt_err err;
    char snap[128], delta[128], bad[128];
    snprintf(snap, sizeof snap, "%s/snap.sqlite", tmpdir);
    snprintf(delta, sizeof delta, "%s/delta.sqlite", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.sqlite", tmpdir);
    /* an odd document: NUL and non-ASCII bytes survive */
    float v[24];
    for (int j = 0; j < 24; j++)
        v[j] = (float)j - 3.5f;
    rcpt_vec_kv kv[3] = {{"text", {.type = RCPT_VEC_STR, .str = "a\0b\n\xe2\x82\xac", .len = 7}},
                         {"confidence", {.type = RCPT_VEC_NUM, .num = 0.1}},
                         {"gone", {.type = RCPT_VEC_NULL}}};
    rcpt_vec_row odd = {"IMAGE#1#RECEIPT#00001#LINE#00001", v, "x\0y\"\\", 5, kv, 3};
    CHECK_INT(rcpt_vec_upsert(c, &odd, 1, &err), RCPT_OK);

    rcpt_vec_manifest man;
    rcpt_buf mj = RCPT_BUF_INIT;
    CHECK_INT(rcpt_vec_write(c, snap, "20260101T000000Z-abc", &man, &mj, &err), RCPT_OK);
    CHECK_INT(man.count, 301);
    CHECK_INT(man.dimension, 24);
    CHECK_STR(man.kind, "snapshot");
    char hex[65];
    int64_t bytes;
    /* new manifests carry xxh3_128 (and no sha256) */
    CHECK_INT(rcpt_vec_xxh3_file(snap, hex, &bytes, &err), RCPT_OK);
    CHECK_INT(strlen(hex), 32);
    CHECK_STR(man.xxh3_128, hex);
    CHECK_STR(man.sha256, "");
    CHECK_INT(man.bytes, bytes);
    CHECK(strstr(mj.data, "\"xxh3_128\":\"") != NULL && strstr(mj.data, "sha256") == NULL);
    rcpt_vec_manifest man2;
    CHECK_INT(rcpt_vec_manifest_parse(mj.data, mj.len, &man2, &err), RCPT_OK);
    CHECK_STR(man2.xxh3_128, man.xxh3_128);
    CHECK_STR(man2.version, "20260101T000000Z-abc");
    CHECK_INT(man2.count, 301);
    CHECK_INT(rcpt_vec_verify(snap, &man2, &err), RCPT_OK);
    {
        /* XXH3-128 of known bytes, as xxh128sum prints it: "" and "abc" */
        char kh[33];
        char kp[512];
        snprintf(kp, sizeof kp, "%s/known.bin", tmpdir);
        FILE *kf = fopen(kp, "wb");
        fclose(kf);
        CHECK_INT(rcpt_vec_xxh3_file(kp, kh, NULL, &err), RCPT_OK);
        CHECK_STR(kh, "99aa06d3014798d86001c324468d497f");
        kf = fopen(kp, "wb");
        fputs("abc", kf);
        fclose(kf);
        CHECK_INT(rcpt_vec_xxh3_file(kp, kh, NULL, &err), RCPT_OK);
        CHECK_STR(kh, "06b05ab6733a618578af5f94892f3950");
        unlink(kp);
    }
    {
        /* a manifest of an older rcpt: sha256 instead of xxh3_128, still verified */
        rcpt_vec_manifest old = man2;
        old.xxh3_128[0] = '\0';
        CHECK_INT(rcpt_vec_sha256_file(snap, old.sha256, NULL, &err), RCPT_OK);
        rcpt_buf oj = RCPT_BUF_INIT;
        CHECK_INT(rcpt_vec_manifest_json(&old, &oj), RCPT_OK);
        CHECK(strstr(oj.data, "\"sha256\":\"") != NULL && strstr(oj.data, "xxh3_128") == NULL);
        rcpt_vec_manifest old2;
        CHECK_INT(rcpt_vec_manifest_parse(oj.data, oj.len, &old2, &err), RCPT_OK);
        CHECK_STR(old2.sha256, old.sha256);
        CHECK_STR(old2.xxh3_128, "");
        CHECK_INT(rcpt_vec_verify(snap, &old2, &err), RCPT_OK);
        old2.sha256[10] = old2.sha256[10] == '0' ? '1' : '0';
        CHECK_INT(rcpt_vec_verify(snap, &old2, &err), RCPT_ECORRUPT);
        CHECK(strstr(err.msg, "sha256") != NULL);
        rcpt_buf_free(&oj);
        /* neither checksum: a clear error naming both */
        const char *none = "{\"format\":\"rcpt-vec\",\"format_version\":1,\"kind\":\"delta\","
                           "\"collection\":\"lines\",\"dimension\":24,\"count\":1,\"version\":null,"
                           "\"bytes\":10}";
        CHECK_INT(rcpt_vec_manifest_parse(none, strlen(none), &old2, &err), RCPT_EINVAL);
        CHECK(strstr(err.msg, "xxh3_128") != NULL && strstr(err.msg, "sha256") != NULL);
        /* a malformed xxh3_128 */
        const char *shortx = "{\"format\":\"rcpt-vec\",\"format_version\":1,\"kind\":\"delta\","
                             "\"collection\":\"lines\",\"dimension\":24,\"count\":1,\"version\":null,"
                             "\"bytes\":10,\"xxh3_128\":\"abc\"}";
        CHECK_INT(rcpt_vec_manifest_parse(shortx, strlen(shortx), &old2, &err), RCPT_EINVAL);
        CHECK(strstr(err.msg, "manifest.xxh3_128") != NULL);
    }
    /* no temp file left behind */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp- >/dev/null", tmpdir);
    CHECK(system(cmd) != 0);

    rcpt_vec_coll *r;
    CHECK_INT(rcpt_vec_open(snap, &man2, &r, &err), RCPT_OK);
    CHECK(r && same_rows(c, r));
    CHECK_STR(rcpt_vec_name(r), "lines");
    rcpt_vec_free(r);

    /* delta: apply twice into a snapshot, same result as once */
    rcpt_vec_coll *d;
    CHECK_INT(rcpt_vec_new(&d, "lines", 24, &err), RCPT_OK);
    for (int i = 0; i < 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "r%06d", i * 5); /* half replace existing rows */
        if (i % 2)
            snprintf(id, sizeof id, "new%03d", i);
        float w[24];
        for (int j = 0; j < 24; j++)
            w[j] = rndf();
        rcpt_vec_kv m1 = {"merchant_name", vstr("Delta Mart")};
        rcpt_vec_row row = {id, w, "delta", 5, &m1, 1};
        CHECK_INT(rcpt_vec_upsert(d, &row, 1, &err), RCPT_OK);
    }
    rcpt_vec_manifest dm;
    CHECK_INT(rcpt_vec_write(d, delta, NULL, &dm, NULL, &err), RCPT_OK);
    CHECK_STR(dm.kind, "delta");
    size_t merged;
    CHECK_INT(rcpt_vec_apply_file(c, delta, &dm, &merged, &err), RCPT_OK);
    CHECK_INT(merged, 40);
    CHECK_INT(rcpt_vec_count(c), 321);
    rcpt_vec_coll *once;
    CHECK_INT(rcpt_vec_write(c, snap, "v2", &man, NULL, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_open(snap, &man, &once, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_apply_file(c, delta, NULL, &merged, &err), RCPT_OK);
    CHECK(once && same_rows(c, once));
    CHECK(once && same_rows(d, d));
    long at = rcpt_vec_find(c, "r000010");
    CHECK(at >= 0 && memcmp(rcpt_vec_row_vec(c, (size_t)at), rcpt_vec_row_vec(d, (size_t)rcpt_vec_find(d, "r000010")), 24 * 4) == 0);
    rcpt_vec_free(once);
    /* a delta of another dimension is refused */
    rcpt_vec_coll *d8;
    CHECK_INT(rcpt_vec_new(&d8, "lines", 8, &err), RCPT_OK);
    float w8[8] = {1};
    rcpt_vec_row r8 = {"x", w8, NULL, 0, NULL, 0};
    CHECK_INT(rcpt_vec_upsert(d8, &r8, 1, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_write(d8, bad, NULL, NULL, NULL, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_apply_file(c, bad, NULL, &merged, &err), RCPT_EINVAL);
    CHECK(strstr(err.msg, "dimension") != NULL);
    rcpt_vec_free(d8);

    /* damaged snapshot files */
    CHECK_INT(rcpt_vec_write(c, snap, "v3", &man, NULL, &err), RCPT_OK);
    long size = (long)man.bytes;
    int bad_trunc = 0, bad_flip = 0, crashes_no = 0, flips_loaded = 0;
    for (long off = 0; off < size; off += size / 97 + 1) {
        copy_file(snap, bad, off, -1);
        if (rcpt_vec_open(bad, NULL, &r, &err) == RCPT_OK) {
            bad_trunc++;
            rcpt_vec_free(r);
        }
    }
    CHECK_INT(bad_trunc, 0);
    for (long off = 0; off < size; off += size / 211 + 1) {
        copy_file(snap, bad, -1, off);
        if (rcpt_vec_open(bad, &man, &r, &err) != RCPT_ECORRUPT)
            bad_flip++;
        else if (!strstr(err.msg, "checksum mismatch: xxh3_128"))
            bad_flip++;
        /* without the manifest: an error, or the same shape (a flipped
         * document byte cannot be seen without the checksum) */
        int rc = rcpt_vec_open(bad, NULL, &r, &err);
        if (rc == RCPT_OK) {
            flips_loaded++;
            if (rcpt_vec_count(r) != rcpt_vec_count(c) || rcpt_vec_dim(r) != 24)
                crashes_no++;
            rcpt_vec_free(r);
        } else if (rc != RCPT_ECORRUPT) {
            crashes_no++;
        }
    }
    CHECK_INT(bad_flip, 0);
    CHECK_INT(crashes_no, 0);
    printf("flipped files loaded without a manifest: %d\n", flips_loaded);
    /* not SQLite, empty, missing */
    FILE *f = fopen(bad, "wb");
    fputs("this is not a database, just text that is long enough to pass a 100-byte header read"
          " .......................................", f);
    fclose(f);
    CHECK_INT(rcpt_vec_open(bad, NULL, &r, &err), RCPT_ECORRUPT);
    f = fopen(bad, "wb");
    fclose(f);
    CHECK_INT(rcpt_vec_open(bad, NULL, &r, &err), RCPT_ECORRUPT);
    snprintf(bad, sizeof bad, "%s/none.sqlite", tmpdir);
    CHECK_INT(rcpt_vec_open(bad, NULL, &r, &err), RCPT_ENOTFOUND);
    /* valid SQLite with a wrong blob length, a wrong dimension, bad metadata */
    const char *edits[] = {
        "UPDATE rows SET vec = substr(vec, 1, 40) WHERE id = 'r000002'",
        "UPDATE meta SET value = '25' WHERE key = 'dimension'",
        "UPDATE rows SET metadata = '{\"a\":[1]}' WHERE id = 'r000003'",
        "UPDATE rows SET vec = zeroblob(96) WHERE id = 'r000004'",
        "UPDATE meta SET value = '322' WHERE key = 'count'",
        "DELETE FROM meta WHERE key = 'format'",
        "DROP TABLE rows",
    };
    snprintf(bad, sizeof bad, "%s/bad.sqlite", tmpdir);
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        copy_file(snap, bad, -1, -1);
        sqlite3 *db;
        CHECK_INT(sqlite3_open(bad, &db), SQLITE_OK);
        CHECK_INT(sqlite3_exec(db, edits[i], NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        int rc = rcpt_vec_open(bad, NULL, &r, &err);
        if (rc != RCPT_ECORRUPT)
            fprintf(stderr, "edit %zu: rc %d\n", i, rc);
        CHECK_INT(rc, RCPT_ECORRUPT);
        CHECK_INT(rcpt_vec_open(bad, &man, &r, &err), RCPT_ECORRUPT);
    }
    /* a manifest that does not fit the file */
    rcpt_vec_manifest wrong = man;
    wrong.dimension = 25;
    CHECK_INT(rcpt_vec_open(snap, &wrong, &r, &err), RCPT_ECORRUPT);
    CHECK_INT(rcpt_vec_open(snap, &man, &r, &err), RCPT_OK);
    rcpt_vec_free(r);
    rcpt_buf_free(&mj);
    rcpt_vec_free(d);
    rcpt_vec_free(c);
    free(vecs);
}

/* Rows of a delta: ids r%06d for i in [from, to), fresh random vectors. */
static void write_delta_range(const char *path, int from, int to, int dim)
{
    rcpt_vec_coll *d;
    rcpt_err err;
    rcpt_vec_new(&d, "lines", dim, &err);
    float *v = malloc((size_t)dim * sizeof *v);
    for (int i = from; i < to; i++) {
        char id[32], doc[32];
        snprintf(id, sizeof id, "r%06d", i);
        snprintf(doc, sizeof doc, "delta line %d", i);
        for (int j = 0; j < dim; j++)
            v[j] = rndf();
        rcpt_vec_kv kv[1] = {{"text", vstr(doc)}};
        rcpt_vec_row r = {id, v, doc, strlen(doc), kv, 1};
        rcpt_vec_upsert(d, &r, 1, &err);
    }
    CHECK_INT(rcpt_vec_write(d, path, NULL, NULL, NULL, &err), RCPT_OK);
    free(v);
    rcpt_vec_free(d);
}

/* The same merge (snapshot + deltas, a repeated delta, a metadata change, a
 * delete, a plain upsert) on a lazy and on an eager collection; returns the
 * collection written to out. */
static int merge_to(const char *snap, const char *const *deltas, int nd, int lazy, const char *out,
                    rcpt_err *err)
{
    rcpt_vec_coll *c;
    int rc = rcpt_vec_open_ex(snap, NULL, lazy ? RCPT_VEC_LAZY : 0, &c, err);
    if (rc)
        return rc;
    CHECK_INT(rcpt_vec_is_lazy(c), lazy);
    for (int i = 0; i < nd && !rc; i++)
        rc = rcpt_vec_apply_file(c, deltas[i], NULL, NULL, err);
    if (lazy) {
        CHECK(rcpt_vec_lazy_rows(c) > 0);
        /* vectors still in files: no query, no vector, no apply from it */
        float q[24] = {1};
        rcpt_vec_hit h[3];
        size_t nh;
        rcpt_err e2;
        CHECK_INT(rcpt_vec_query(c, q, &(rcpt_vec_query_opts){.k = 3}, h, &nh, &e2), RCPT_EINVAL);
        CHECK(rcpt_vec_row_vec(c, (size_t)rcpt_vec_find(c, "r000001")) == NULL);
        rcpt_vec_coll *o;
        rcpt_vec_new(&o, "other", 24, &e2);
        CHECK_INT(rcpt_vec_apply(o, c, NULL, &e2), RCPT_EINVAL);
        rcpt_vec_free(o);
    } else {
        CHECK_INT(rcpt_vec_lazy_rows(c), 0);
    }
    const char *ids[] = {"r000005", "r000250"};
    rcpt_vec_kv set[1] = {{"merchant_name", vstr("Vons")}};
    if (!rc)
        rc = rcpt_vec_update_metadata(c, ids, 2, set, 1, NULL, 0, NULL, err);
    const char *del[] = {"r000007", "r000001"};
    if (!rc)
        rc = rcpt_vec_delete(c, del, 2, NULL, err);
    float v[24];
    for (int j = 0; j < 24; j++)
        v[j] = (float)(j + 1);
    rcpt_vec_row r = {"r000002", v, "in memory", 9, NULL, 0};
    if (!rc)
        rc = rcpt_vec_upsert(c, &r, 1, err);
    if (!rc)
        rc = rcpt_vec_write_ex(c, out, "v1", RCPT_VEC_NO_FSYNC, NULL, NULL, err);
    rcpt_vec_free(c);
    return rc;
}

static void test_lazy(void)
{
    float *vecs;
    rcpt_vec_coll *c = make_random(240, 24, &vecs);
    rcpt_err err;
    char snap[128], d1[128], d2[128], eager[128], lazy[128], moved[128];
    snprintf(snap, sizeof snap, "%s/lz-snap.sqlite", tmpdir);
    snprintf(d1, sizeof d1, "%s/lz-d1.sqlite", tmpdir);
    snprintf(d2, sizeof d2, "%s/lz-d2.sqlite", tmpdir);
    snprintf(eager, sizeof eager, "%s/lz-eager.sqlite", tmpdir);
    snprintf(lazy, sizeof lazy, "%s/lz-lazy.sqlite", tmpdir);
    snprintf(moved, sizeof moved, "%s/lz-moved.sqlite", tmpdir);
    CHECK_INT(rcpt_vec_write(c, snap, "v0", NULL, NULL, &err), RCPT_OK);
    write_delta_range(d1, 200, 260, 24); /* 40 replaced, 20 new */
    write_delta_range(d2, 0, 30, 24);
    const char *deltas[] = {d1, d2, d1}; /* d1 twice: changes nothing */
    CHECK_INT(merge_to(snap, deltas, 3, 0, eager, &err), RCPT_OK);
    CHECK_INT(merge_to(snap, deltas, 3, 1, lazy, &err), RCPT_OK);
    /* the same rows, vectors bit for bit, documents and metadata */
    rcpt_vec_coll *a, *b;
    CHECK_INT(rcpt_vec_open(eager, NULL, &a, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_open(lazy, NULL, &b, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_count(a), 258);
    CHECK_INT(rcpt_vec_count(b), rcpt_vec_count(a));
    int diff = 0;
    for (size_t i = 0; i < rcpt_vec_count(a); i++) {
        long j = rcpt_vec_find(b, rcpt_vec_row_id(a, i));
        if (j < 0) {
            diff++;
            continue;
        }
        size_t la, lb;
        const char *da = rcpt_vec_row_doc(a, i, &la), *db = rcpt_vec_row_doc(b, (size_t)j, &lb);
        rcpt_buf ma = RCPT_BUF_INIT, mb = RCPT_BUF_INIT;
        rcpt_vec_meta_json(a, i, &ma);
        rcpt_vec_meta_json(b, (size_t)j, &mb);
        if (memcmp(rcpt_vec_row_vec(a, i), rcpt_vec_row_vec(b, (size_t)j), 24 * 4) || la != lb ||
            memcmp(da, db, la) || ma.len != mb.len || memcmp(ma.data, mb.data, ma.len))
            diff++;
        rcpt_buf_free(&ma);
        rcpt_buf_free(&mb);
    }
    CHECK_INT(diff, 0);
    rcpt_vec_free(a);
    rcpt_vec_free(b);

    /* a source replaced between loading and writing is refused, not read */
    rcpt_vec_coll *l;
    CHECK_INT(rcpt_vec_open_ex(snap, NULL, RCPT_VEC_LAZY, &l, &err), RCPT_OK);
    CHECK_INT(rcpt_vec_write(c, snap, "v0", NULL, NULL, &err), RCPT_OK); /* new inode */
    CHECK_INT(rcpt_vec_write(l, lazy, "v2", NULL, NULL, &err), RCPT_ECORRUPT);
    CHECK(strstr(err.msg, "changed since") != NULL);
    rcpt_vec_free(l);
    /* ... and a removed one is ENOTFOUND */
    CHECK_INT(rcpt_vec_open_ex(snap, NULL, RCPT_VEC_LAZY, &l, &err), RCPT_OK);
    CHECK_INT(rename(snap, moved), 0);
    CHECK_INT(rcpt_vec_write(l, lazy, "v2", NULL, NULL, &err), RCPT_ENOTFOUND);
    rcpt_vec_free(l);

    /* a damaged vector in a delta: refused when applied, nothing placed */
    sqlite3 *db;
    CHECK_INT(sqlite3_open(d2, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "UPDATE rows SET vec = zeroblob(96) WHERE id = 'r000020'", NULL, NULL,
                           NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(rcpt_vec_open_ex(moved, NULL, RCPT_VEC_LAZY, &l, &err), RCPT_OK);
    size_t before = rcpt_vec_count(l), lz = rcpt_vec_lazy_rows(l);
    CHECK_INT(rcpt_vec_apply_file(l, d2, NULL, NULL, &err), RCPT_ECORRUPT);
    CHECK(strstr(err.msg, "r000020") != NULL);
    CHECK_INT(rcpt_vec_count(l), before);
    CHECK_INT(rcpt_vec_lazy_rows(l), lz);
    rcpt_vec_free(l);
    rcpt_vec_free(c);
    free(vecs);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rcpt-vec-test.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    test_normalise_and_errors();
    test_upsert_replace_delete();
    test_ties();
    test_update_metadata();
    test_json();
    test_query_and_filters(3000, 67, 1);
    test_query_and_filters(20000, 128, 2);
    test_query_and_filters(20000, 128, 3);
    test_files();
    test_lazy();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 2;
    return check_done();
}
