/* core/store: number formats (against Python when it is installed), the
 * entity keys of spec §4, conditions, transactions, the idempotent image
 * write, queries, the queue, export/import and hostile text. */
#include "check.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *IMG = "3f52804b-2fad-4e00-92c8-b593da3a8ed3";
static const char *JOB = "a1b2c3d4-0000-4000-8000-000000000001";
static const char *RUN = "b1b2c3d4-1111-4111-9111-000000000002";
static const char *OWN = "c1b2c3d4-2222-4222-a222-000000000003";

static char *fmt(double v, int d)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    if (rcpt_fmt_decimal(v, d, b, 512) < 0)
        strcpy(b, "ERR");
    return b;
}

static char *repr(double v)
{
    static char b[64];
    rcpt_fmt_repr(v, b, sizeof b);
    return b;
}

static void test_numbers_fixed(void)
{
    CHECK_STR(fmt(0.1, 20), "0.10000000000000000000");
    CHECK_STR(fmt(0.23445767195767195, 18), "0.234457671957671950");
    CHECK_STR(fmt(0.5, 2), "0.50");
    CHECK_STR(fmt(1, 2), "1.00");
    CHECK_STR(fmt(0.995, 2), "1.00");     /* the double is 0.99499999..., str() is "0.995" */
    CHECK_STR(fmt(0.994999, 2), "0.99");
    CHECK_STR(fmt(1e-05, 20), "0.00001000000000000000");
    CHECK_STR(fmt(1e-05, 2), "0.00");
    CHECK_STR(fmt(0.005, 2), "0.01");     /* half up on the decimal string */
    CHECK_STR(fmt(0.015, 2), "0.02");     /* the double is below .015, repr is 0.015 */
    CHECK_STR(fmt(-0.005, 2), "-0.01");   /* away from zero */
    CHECK_STR(fmt(-0.001, 2), "-0.00");   /* Decimal keeps the sign */
    CHECK_STR(fmt(0.0, 2), "0.00");
    CHECK_STR(fmt(-0.0, 20), "-0.00000000000000000000");
    CHECK_STR(fmt(99.999, 2), "100.00");
    CHECK_STR(fmt(360, 18), "360.000000000000000000");
    CHECK_STR(fmt(1.5707963267948966, 18), "1.570796326794896600");
    CHECK_STR(fmt(0.30000000000000004, 20), "0.30000000000000004000");
    CHECK_STR(fmt(0.30000000000000004, 2), "0.30");
    CHECK_STR(fmt(123456789.5, 0), "123456790");
    CHECK_STR(fmt(5e-324, 20), "0.00000000000000000000");
    CHECK_STR(fmt(1e22, 2), "10000000000000000000000.00");
    CHECK(rcpt_fmt_decimal(0.0 / 0.0, 2, (char[8]){0}, 8) < 0);
    CHECK_STR(repr(0.1), "0.1");
    CHECK_STR(repr(1e-05), "1e-05");
    CHECK_STR(repr(1.0), "1.0");
    CHECK_STR(repr(1e16), "1e+16");
    CHECK_STR(repr(123.456), "123.456");
    CHECK_STR(repr(0.0001), "0.0001");
    CHECK_STR(repr(2.2250738585072014e-308), "2.2250738585072014e-308");
    CHECK_STR(repr(9007199254740993.0), "9007199254740992.0");
    CHECK_STR(repr(5e-324), "5e-324");
    CHECK_STR(repr(1.7976931348623157e308), "1.7976931348623157e+308");
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double sample(int i)
{
    uint64_t r = next();
    double u = (double)(r >> 11) / 9007199254740992.0;
    switch (i % 8) {
    case 0: return u;                              /* geometry */
    case 1: return u * 0.001;
    case 2: return (u - 0.5) * 720;                /* degrees */
    case 3: return (u - 0.5) * 6.283185307179586;  /* radians */
    case 4: return (double)(int)(u * 1000) / 1000; /* short decimals: ties */
    case 5: return (double)(int)(u * 200) / 200 + 0.005;
    case 6: { double d; uint64_t b = (r & 0x800FFFFFFFFFFFFFull) | ((uint64_t)(900 + r % 300) << 52);
              memcpy(&d, &b, 8); return d; }       /* random exponents */
    default: return u * 1e-9;
    }
}

static void test_numbers_python(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("python3 not found: random sample skipped, fixed vectors only\n");
        return;
    }
    char in[] = "/tmp/rcpt-numfmt-XXXXXX";
    int fd = mkstemp(in);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    enum { N = 20000 };
    static double vals[N];
    for (int i = 0; i < N; i++) {
        vals[i] = sample(i);
        fprintf(f, "%.17g\n", vals[i]);
    }
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys\nfrom decimal import Decimal, ROUND_HALF_UP, getcontext\n"
             "getcontext().prec = 500\n"
             "for line in open(sys.argv[1]):\n"
             "    v = float(line)\n"
             "    o = [repr(v)]\n"
             "    for d in (20, 18, 2):\n"
             "        o.append(format(Decimal(str(v)).quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_UP), \"f\"))\n"
             "    print(\" \".join(o))\n' %s", in);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char line[2048];
    int i = 0, bad = 0;
    while (p && fgets(line, sizeof line, p) && i < N) {
        char r[64], d20[600], d18[600], d2[600];
        if (sscanf(line, "%63s %599s %599s %599s", r, d20, d18, d2) != 4)
            break;
        if (strcmp(repr(vals[i]), r) || strcmp(fmt(vals[i], 20), d20) ||
            strcmp(fmt(vals[i], 18), d18) || strcmp(fmt(vals[i], 2), d2)) {
            if (bad++ < 5)
                fprintf(stderr, "mismatch for %.17g: python %s %s %s %s, ours %s %s %s %s\n", vals[i],
                        r, d20, d18, d2, repr(vals[i]), fmt(vals[i], 20), fmt(vals[i], 18), fmt(vals[i], 2));
        }
        i++;
    }
    if (p)
        pclose(p);
    unlink(in);
    CHECK_INT(i, N);
    CHECK_INT(bad, 0);
    printf("compared %d doubles with Python's repr + Decimal.quantize\n", i);
}

static void test_time(void)
{
    char b[40];
    rcpt_isoformat(0, 0, 1, b);
    CHECK_STR(b, "1970-01-01T00:00:00+00:00");
    rcpt_isoformat(1700000000, 123456, 1, b);
    CHECK_STR(b, "2023-11-14T22:13:20.123456+00:00");
    rcpt_isoformat(1700000000, 5, 0, b);
    CHECK_STR(b, "2023-11-14T22:13:20.000005");
    rcpt_isoformat(951782400, 0, 0, b); /* leap day */
    CHECK_STR(b, "2000-02-29T00:00:00");
    CHECK(rcpt_now_iso(1, b) == 25 || rcpt_now_iso(1, b) == 32);
    CHECK(rcpt_iso_valid("2025-10-24T12:00:00.123+00:00"));
    CHECK(rcpt_iso_valid("2025-10-24T12:00:00"));
    CHECK(!rcpt_iso_valid("2025-10-24"));
    CHECK(!rcpt_iso_valid("2025-10-24T12:00:00+0000"));
}

/* ---- plain value helpers ---- */

static rcpt_av *plain(void) { return rcpt_item_new(); }
static void pnum(rcpt_av *m, const char *k, double v) { rcpt_m_set_num(m, k, v, v == (long long)v); }
static void pstr(rcpt_av *m, const char *k, const char *v) { rcpt_m_set_str(m, k, v); }
static void ppt(rcpt_av *m, const char *k, double x, double y)
{
    rcpt_av *p = rcpt_m_set(m, k, RCPT_AV_M);
    rcpt_m_set_num(p, "x", x, 0);
    rcpt_m_set_num(p, "y", y, 0);
}
static void pgeom(rcpt_av *m, const char *text)
{
    pstr(m, "text", text);
    rcpt_av *bb = rcpt_m_set(m, "bounding_box", RCPT_AV_M);
    rcpt_m_set_num(bb, "x", 0.1, 0);
    rcpt_m_set_num(bb, "y", 0.2, 0);
    rcpt_m_set_num(bb, "width", 0.3, 0);
    rcpt_m_set_num(bb, "height", 0.05, 0);
    ppt(m, "top_left", 0.1, 0.25);
    ppt(m, "top_right", 0.4, 0.25);
    ppt(m, "bottom_left", 0.1, 0.2);
    ppt(m, "bottom_right", 0.4, 0.2);
    rcpt_m_set_num(m, "angle_degrees", 1.5, 0);
    rcpt_m_set_num(m, "angle_radians", 0.02617993877991494, 0);
    rcpt_m_set_num(m, "confidence", 0.995, 0);
}

static rcpt_item *build(const char *type, rcpt_av *p, rcpt_err *e)
{
    rcpt_item *it = NULL;
    rcpt_err_clear(e);
    if (rcpt_entity_item(type, p, &it, e) != RCPT_OK)
        it = NULL;
    return it;
}

#define KEY(it, a, v) CHECK_STR(rcpt_m_str((it), (a)), (v))

static void test_entities(void)
{
    rcpt_err e;
    char s[256];
    /* Line */
    rcpt_av *p = plain();
    pstr(p, "image_id", IMG); pnum(p, "line_id", 3); pgeom(p, "TOTAL");
    rcpt_item *it = build("LINE", p, &e);
    CHECK(it != NULL);
    snprintf(s, sizeof s, "IMAGE#%s", IMG);
    KEY(it, "PK", s); KEY(it, "SK", "LINE#00003"); KEY(it, "GSI1PK", s); KEY(it, "GSI1SK", "LINE#00003");
    KEY(it, "TYPE", "LINE");
    CHECK(!rcpt_m_get(it, "GSI2PK"));
    const rcpt_av *bb = rcpt_m_get(it, "bounding_box");
    CHECK_STR(rcpt_m_get(bb, "x")->s, "0.10000000000000000000");
    CHECK_STR(rcpt_m_get(it, "confidence")->s, "1.00");
    CHECK_STR(rcpt_m_get(it, "angle_radians")->s, "0.026179938779914940");
    rcpt_item_free(it);
    /* line_id 0 refused, naming entity and field */
    pnum(p, "line_id", 0);
    CHECK(!build("LINE", p, &e));
    CHECK_STR(e.msg, "LINE.line_id: must be greater than 0");
    pnum(p, "line_id", 1);
    pnum(p, "confidence", 0);
    CHECK(!build("LINE", p, &e));
    CHECK_STR(e.msg, "LINE.confidence: must be > 0 and <= 1");
    pnum(p, "confidence", 1);
    pstr(p, "image_id", "3f52804b-2fad-1e00-92c8-b593da3a8ed3"); /* version 1 */
    CHECK(!build("LINE", p, &e));
    CHECK_STR(e.msg, "LINE.image_id: must be a UUIDv4");
    rcpt_item_free(p);

    /* Word: ids may be 0; extracted_data */
    p = plain();
    pstr(p, "image_id", IMG); pnum(p, "line_id", 0); pnum(p, "word_id", 0); pgeom(p, "555-1234");
    rcpt_av *ed = rcpt_m_set(p, "extracted_data", RCPT_AV_M);
    pstr(ed, "type", "phone"); pstr(ed, "value", "5551234");
    it = build("WORD", p, &e);
    CHECK(it != NULL);
    KEY(it, "SK", "LINE#00000#WORD#00000"); KEY(it, "GSI2SK", "LINE#00000#WORD#00000");
    CHECK(!rcpt_m_get(it, "GSI1PK"));
    CHECK_STR(rcpt_m_str(rcpt_m_get(it, "extracted_data"), "value"), "5551234");
    rcpt_item_free(it);
    rcpt_item_free(p);

    /* Letter: one character, accents as one grapheme */
    p = plain();
    pstr(p, "image_id", IMG); pnum(p, "line_id", 1); pnum(p, "word_id", 2); pnum(p, "letter_id", 3);
    pgeom(p, "e\xcc\x81"); /* e + combining acute */
    it = build("LETTER", p, &e);
    CHECK(it != NULL);
    KEY(it, "SK", "LINE#00001#WORD#00002#LETTER#00003");
    CHECK(!rcpt_m_get(it, "GSI1PK") && !rcpt_m_get(it, "GSI2PK"));
    rcpt_item_free(it);
    pstr(p, "text", "ab");
    CHECK(!build("LETTER", p, &e));
    CHECK_STR(e.msg, "LETTER.text: must be exactly one character");
    pstr(p, "text", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"); /* thumbs up + skin tone */
    it = build("LETTER", p, &e);
    CHECK(it != NULL);
    rcpt_item_free(it);
    rcpt_item_free(p);

    /* ReceiptWord */
    p = plain();
    pstr(p, "image_id", IMG); pnum(p, "receipt_id", 2); pnum(p, "line_id", 4); pnum(p, "word_id", 5);
    pgeom(p, "$4.50");
    it = build("RECEIPT_WORD", p, &e);
    CHECK(it != NULL);
    KEY(it, "SK", "RECEIPT#00002#LINE#00004#WORD#00005");
    KEY(it, "GSI1PK", "EMBEDDING_STATUS#NONE");
    snprintf(s, sizeof s, "WORD#IMAGE#%s#RECEIPT#00002#LINE#00004#WORD#00005", IMG);
    KEY(it, "GSI1SK", s);
    KEY(it, "GSI2PK", "RECEIPT");
    snprintf(s, sizeof s, "IMAGE#%s#RECEIPT#00002#LINE#00004#WORD#00005", IMG);
    KEY(it, "GSI2SK", s);
    snprintf(s, sizeof s, "IMAGE#%s#RECEIPT#00002", IMG);
    KEY(it, "GSI3PK", s); KEY(it, "GSI3SK", "WORD"); KEY(it, "TYPE", "RECEIPT_WORD");
    CHECK_STR(rcpt_m_get(it, "receipt_id")->s, "2");
    CHECK(rcpt_m_get(it, "extracted_data")->type == RCPT_AV_NULL);
    rcpt_item_free(it);
    pnum(p, "receipt_id", 0);
    CHECK(!build("RECEIPT_WORD", p, &e));
    CHECK_STR(e.msg, "RECEIPT_WORD.receipt_id: must be greater than 0");
    pnum(p, "receipt_id", 1);
    pstr(p, "embedding_status", "DONE");
    CHECK(!build("RECEIPT_WORD", p, &e));
    CHECK_STR(e.msg, "RECEIPT_WORD.embedding_status: must be one of NONE, PENDING, SUCCESS, FAILED, NOISE");
    rcpt_item_free(p);

    /* ReceiptLine / ReceiptLetter */
    p = plain();
    pstr(p, "image_id", IMG); pnum(p, "receipt_id", 1); pnum(p, "line_id", 7); pgeom(p, "x");
    it = build("RECEIPT_LINE", p, &e);
    CHECK(it != NULL);
    snprintf(s, sizeof s, "LINE#IMAGE#%s#RECEIPT#00001#LINE#00007", IMG);
    KEY(it, "GSI1SK", s); KEY(it, "GSI3SK", "LINE"); CHECK(!rcpt_m_get(it, "GSI2PK"));
    rcpt_item_free(it);
    pnum(p, "word_id", 0); pnum(p, "letter_id", 0); pnum(p, "line_id", 0);
    it = build("RECEIPT_LETTER", p, &e);
    CHECK(it != NULL);
    KEY(it, "SK", "RECEIPT#00001#LINE#00000#WORD#00000#LETTER#00000");
    CHECK(!rcpt_m_get(it, "GSI1PK"));
    rcpt_item_free(it);
    rcpt_item_free(p);

    /* Image */
    p = plain();
    pstr(p, "image_id", IMG); pnum(p, "width", 1000); pnum(p, "height", 2000);
    pstr(p, "timestamp_added", "2025-10-24T12:00:00+00:00"); pstr(p, "raw_s3_bucket", "raw");
    pstr(p, "raw_s3_key", "raw/x.png"); pstr(p, "image_type", "NATIVE");
    it = build("IMAGE", p, &e);
    CHECK(it != NULL);
    KEY(it, "SK", "IMAGE"); KEY(it, "GSI3PK", "IMAGE#NATIVE"); KEY(it, "GSI3SK", "NUM_RECEIPTS#00000");
    CHECK(rcpt_m_get(it, "receipt_count")->type == RCPT_AV_NULL);
    CHECK(rcpt_m_get(it, "cdn_medium_avif_s3_key")->type == RCPT_AV_NULL);
    CHECK(rcpt_m_get(it, "sha256")->type == RCPT_AV_NULL);
    rcpt_item_free(it);
    pnum(p, "receipt_count", 3);
    it = build("IMAGE", p, &e);
    KEY(it, "GSI3SK", "NUM_RECEIPTS#00003");
    rcpt_item_free(it);
    pstr(p, "image_type", "FAX");
    CHECK(!build("IMAGE", p, &e));
    CHECK_STR(e.msg, "IMAGE.image_type: must be one of SCAN, PHOTO, NATIVE");
    pstr(p, "image_type", "SCAN");
    pnum(p, "width", 0);
    CHECK(!build("IMAGE", p, &e));
    CHECK_STR(e.msg, "IMAGE.width: must be greater than 0");
    rcpt_item_free(p);

    /* Receipt: corners 18 dp, y-up enforced */
    p = plain();
    pstr(p, "image_id", IMG); pnum(p, "receipt_id", 1); pnum(p, "width", 400); pnum(p, "height", 900);
    pstr(p, "timestamp_added", "2025-10-24T12:00:00"); pstr(p, "raw_s3_bucket", "raw");
    pstr(p, "raw_s3_key", "k");
    ppt(p, "top_left", 0.1, 0.9); ppt(p, "top_right", 0.9, 0.9);
    ppt(p, "bottom_left", 0.1, 0.1); ppt(p, "bottom_right", 0.9, 0.1);
    it = build("RECEIPT", p, &e);
    CHECK(it != NULL);
    KEY(it, "SK", "RECEIPT#00001"); KEY(it, "GSI1SK", "RECEIPT#00001"); KEY(it, "GSI2PK", "RECEIPT");
    snprintf(s, sizeof s, "IMAGE#%s#RECEIPT#00001", IMG);
    KEY(it, "GSI2SK", s);
    CHECK_STR(rcpt_m_get(rcpt_m_get(it, "top_left"), "y")->s, "0.900000000000000000");
    rcpt_item_free(it);
    ppt(p, "top_left", 0.1, 0.1); ppt(p, "bottom_left", 0.1, 0.9);
    CHECK(!build("RECEIPT", p, &e));
    CHECK(strstr(e.msg, "RECEIPT.top_left: ") == e.msg);
    rcpt_item_free(p);

    /* OCRJob, routing */
    p = plain();
    pstr(p, "image_id", IMG); pstr(p, "job_id", JOB); pstr(p, "s3_bucket", "b"); pstr(p, "s3_key", "k");
    pstr(p, "created_at", "2025-10-24T12:00:00.123456");
    it = build("OCR_JOB", p, &e);
    CHECK(it != NULL);
    snprintf(s, sizeof s, "OCR_JOB#%s", JOB);
    KEY(it, "SK", s); KEY(it, "GSI1PK", "OCR_JOB_STATUS#PENDING"); KEY(it, "GSI2SK", s);
    KEY(it, "job_type", "FIRST_PASS"); KEY(it, "TYPE", "OCR_JOB");
    CHECK(rcpt_m_get(it, "receipt_id")->type == RCPT_AV_NULL);
    CHECK(rcpt_m_get(it, "updated_at")->type == RCPT_AV_NULL);
    rcpt_item_free(it);
    pstr(p, "status", "COMPLETED"); pnum(p, "receipt_count", 2);
    it = build("OCR_ROUTING_DECISION", p, &e);
    CHECK(it != NULL);
    snprintf(s, sizeof s, "ROUTING#%s", JOB);
    KEY(it, "SK", s); KEY(it, "GSI1PK", "OCR_ROUTING_DECISION_STATUS#COMPLETED"); KEY(it, "GSI1SK", s);
    CHECK_STR(rcpt_m_get(it, "receipt_count")->s, "2");
    rcpt_item_free(it);
    pstr(p, "created_at", "yesterday");
    CHECK(!build("OCR_JOB", p, &e));
    CHECK(strstr(e.msg, "OCR_JOB.created_at: must be an ISO 8601") == e.msg);
    rcpt_item_free(p);

    /* ReceiptMetadata */
    p = plain();
    pstr(p, "image_id", IMG); pnum(p, "receipt_id", 1); pstr(p, "place_id", "ChIJ123");
    pstr(p, "merchant_name", "Blue Bottle Coffee"); pstr(p, "validated_by", "INFERENCE");
    pstr(p, "timestamp", "2025-10-24T12:00:00+00:00"); pstr(p, "canonical_merchant_name", "Blue Bottle");
    rcpt_av *mf = rcpt_m_set(p, "matched_fields", RCPT_AV_L);
    rcpt_av *e1 = rcpt_l_push(mf, RCPT_AV_S); e1->s = strdup("google_places_phone"); e1->len = 19;
    it = build("RECEIPT_METADATA", p, &e);
    CHECK(it != NULL);
    KEY(it, "SK", "RECEIPT#00001#METADATA"); KEY(it, "GSI1PK", "MERCHANT#BLUE_BOTTLE");
    snprintf(s, sizeof s, "IMAGE#%s#RECEIPT#00001#METADATA", IMG);
    KEY(it, "GSI1SK", s); KEY(it, "GSI2PK", "PLACE#ChIJ123"); KEY(it, "GSI2SK", s);
    KEY(it, "GSI3PK", "MERCHANT_VALIDATION"); KEY(it, "GSI3SK", "STATUS#UNSURE");
    KEY(it, "validation_status", "UNSURE");
    CHECK(rcpt_m_get(it, "matched_fields")->type == RCPT_AV_SS);
    CHECK(rcpt_m_get(it, "address")->type == RCPT_AV_NULL);
    rcpt_item_free(it);
    pstr(p, "validated_by", "");
    CHECK(!build("RECEIPT_METADATA", p, &e));
    CHECK(strstr(e.msg, "RECEIPT_METADATA.validated_by: ") == e.msg);
    rcpt_item_free(p);
    const char *f2[] = {"name", "phone"};
    CHECK_STR(rcpt_metadata_status("Joe's", NULL, "(805) 917-4200", f2, 2, 2, 1), "MATCHED");
    CHECK_STR(rcpt_metadata_status("Jo", NULL, "917", f2, 2, 2, 1), "NO_MATCH");
    const char *f3[] = {"address"};
    CHECK_STR(rcpt_metadata_status("x", "614 Gravier St", NULL, f3, 1, 2, 1), "UNSURE");
    CHECK_STR(rcpt_metadata_status("x", "12", NULL, f3, 1, 2, 1), "NO_MATCH");

    /* CompactionRun, lock, places */
    p = plain();
    pstr(p, "run_id", RUN); pstr(p, "image_id", IMG); pnum(p, "receipt_id", 1);
    pstr(p, "lines_delta_prefix", "lines/delta/x/"); pstr(p, "words_delta_prefix", "words/delta/x/");
    pstr(p, "created_at", "2025-10-24T12:00:00");
    it = build("COMPACTION_RUN", p, &e);
    CHECK(it != NULL);
    snprintf(s, sizeof s, "RECEIPT#00001#COMPACTION_RUN#%s", RUN);
    KEY(it, "SK", s); KEY(it, "GSI1PK", "RUNS"); KEY(it, "GSI1SK", "CREATED_AT#2025-10-24T12:00:00");
    KEY(it, "lines_state", "PENDING"); CHECK_STR(rcpt_m_get(it, "words_merged_vectors")->s, "0");
    CHECK(rcpt_m_get(it, "lines_error")->type == RCPT_AV_NULL);
    rcpt_item_free(it);
    rcpt_item_free(p);
    p = plain();
    pstr(p, "lock_id", "chroma-lines-update"); pstr(p, "owner", OWN); pstr(p, "collection", "lines");
    pstr(p, "expires", "2025-10-24T12:03:00+00:00");
    it = build("COMPACTION_LOCK", p, &e);
    CHECK(it != NULL);
    KEY(it, "PK", "LOCK#lines#chroma-lines-update"); KEY(it, "SK", "LOCK"); KEY(it, "GSI1PK", "LOCK#lines");
    KEY(it, "GSI1SK", "EXPIRES#2025-10-24T12:03:00+00:00"); KEY(it, "TYPE", "COMPACTION_LOCK");
    rcpt_item_free(it);
    rcpt_item_free(p);
    p = plain();
    pstr(p, "search_type", "PHONE"); pstr(p, "search_value", " (805) 917-4200 "); pstr(p, "place_id", "P1");
    pstr(p, "last_updated", "2025-10-24T12:00:00");
    it = build("PLACES_CACHE", p, &e);
    CHECK(it != NULL);
    KEY(it, "PK", "PLACES#PHONE"); KEY(it, "SK", "VALUE#_________________(805)917-4200");
    KEY(it, "GSI1PK", "PLACE_ID"); KEY(it, "GSI1SK", "PLACE_ID#P1");
    CHECK(rcpt_m_get(it, "time_to_live") != NULL);
    rcpt_item_free(it);
    char *sk = rcpt_places_sk("PHONE", "8059174200", &e);
    CHECK_STR(sk, "VALUE#____________________8059174200");
    free(sk);
    sk = rcpt_places_sk("URL", "WWW.Example.com/A B", &e);
    CHECK(sk && strlen(sk) == 6 + 100 && strcmp(sk + 106 - 19, "www.example.com/a_b") == 0);
    free(sk);
    sk = rcpt_places_sk("ADDRESS", "614 Gravier St", &e);
    /* md5("614 Gravier St")[:8] = 72389eec (Python hashlib) */
    CHECK(sk && strlen(sk) == 6 + 9 + 400 && strncmp(sk, "VALUE#72389eec_____", 19) == 0 &&
          strcmp(sk + 415 - 14, "614 Gravier St") == 0);
    free(sk);
    rcpt_item_free(p);
}

/* ---- a hand-built OCR doc ---- */

typedef struct hdoc {
    rcpt_ocr_doc d;
    char *texts;
} hdoc;

static rcpt_ocr_geom geom(const char *text, double k)
{
    rcpt_ocr_geom g;
    memset(&g, 0, sizeof g);
    g.text = text;
    g.text_len = strlen(text);
    g.bbox = (rcpt_bbox){0.1 + k * 1e-4, 0.5 - k * 1e-4, 0.2, 0.01};
    g.top_left = (rcpt_point){g.bbox.x, g.bbox.y + 0.01};
    g.top_right = (rcpt_point){g.bbox.x + 0.2, g.bbox.y + 0.01};
    g.bottom_left = (rcpt_point){g.bbox.x, g.bbox.y};
    g.bottom_right = (rcpt_point){g.bbox.x + 0.2, g.bbox.y};
    g.angle_degrees = 0.5 + k * 1e-3;
    g.angle_radians = g.angle_degrees * 3.141592653589793 / 180;
    g.confidence = 0.5 + (double)((int)k % 50) / 100;
    return g;
}

static void make_doc(hdoc *h, int nl, int wpl, int lpw)
{
    memset(h, 0, sizeof *h);
    h->d.n_lines = (size_t)nl;
    h->d.n_words = (size_t)(nl * wpl);
    h->d.n_letters = (size_t)(nl * wpl * lpw);
    h->d.lines = calloc(h->d.n_lines, sizeof *h->d.lines);
    h->d.words = calloc(h->d.n_words, sizeof *h->d.words);
    h->d.letters = calloc(h->d.n_letters ? h->d.n_letters : 1, sizeof *h->d.letters);
    static const char *const ABC = "abcdefghijklmnopqrstuvwxyz";
    size_t w = 0, c = 0;
    for (int i = 0; i < nl; i++) {
        rcpt_ocr_line *L = &h->d.lines[i];
        L->g = geom("LINE TEXT", i);
        L->line_id = i + 1;
        L->words = &h->d.words[w];
        L->n_words = (size_t)wpl;
        for (int j = 0; j < wpl; j++, w++) {
            rcpt_ocr_word *W = &h->d.words[w];
            W->g = geom(j % 3 == 2 ? "-" : "word", (double)w);
            W->line_id = i + 1;
            W->word_id = j + 1;
            W->is_noise = j % 3 == 2;
            if (j == 0) {
                W->ed_type = "phone";
                W->ed_value = "805 917 4200";
                W->ed_value_len = 12;
            }
            W->letters = &h->d.letters[c];
            W->n_letters = (size_t)lpw;
            for (int k = 0; k < lpw; k++, c++) {
                rcpt_ocr_letter *C = &h->d.letters[c];
                static char one[26][2];
                one[k % 26][0] = ABC[k % 26];
                C->g = geom(one[k % 26], (double)c);
                C->line_id = i + 1;
                C->word_id = j + 1;
                C->letter_id = k + 1;
            }
        }
    }
}

static void free_doc(hdoc *h)
{
    free(h->d.lines);
    free(h->d.words);
    free(h->d.letters);
}

static long count_prefix(rcpt_store *st, const char *pk, const char *prefix, const char *type)
{
    rcpt_query q = {RCPT_IDX_TABLE, pk, prefix, NULL, NULL, type, 0, 0, NULL};
    rcpt_result r;
    rcpt_err e;
    if (rcpt_store_query(st, &q, &r, &e)) {
        fprintf(stderr, "query: %s\n", e.msg);
        return -1;
    }
    long n = (long)r.n;
    rcpt_result_free(&r);
    return n;
}

static int write_buf(void *ud, const char *p, size_t n)
{
    return rcpt_buf_append(ud, p, n);
}

typedef struct lines_src {
    const char *p, *end;
} lines_src;

static int read_line(void *ud, rcpt_buf *line, int *eof)
{
    lines_src *s = ud;
    const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
    const char *e = nl ? nl + 1 : s->end;
    rcpt_buf_append(line, s->p, (size_t)(e - s->p));
    s->p = e;
    *eof = s->p >= s->end;
    return RCPT_OK;
}

static char *export_all(rcpt_store *st, size_t *count)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_err e;
    CHECK_INT(rcpt_store_export(st, write_buf, &b, count, &e), RCPT_OK);
    rcpt_buf_putc(&b, '\0');
    return rcpt_buf_detach(&b, NULL);
}

static void test_image_write(rcpt_store *st)
{
    rcpt_err e;
    char pk[64];
    snprintf(pk, sizeof pk, "IMAGE#%s", IMG);
    hdoc h;
    make_doc(&h, 4, 3, 5);
    CHECK_INT(rcpt_store_put_ocr(st, IMG, &h.d, 1, 1, &e), RCPT_OK);
    CHECK_INT(count_prefix(st, pk, "LINE#", "LINE"), 4);
    CHECK_INT(count_prefix(st, pk, "LINE#", "WORD"), 12);
    CHECK_INT(count_prefix(st, pk, "LINE#", "LETTER"), 60);
    CHECK_INT(count_prefix(st, pk, "RECEIPT#00001#LINE#", "RECEIPT_WORD"), 12);
    size_t n1, n2;
    char *a = export_all(st, &n1);
    /* the same image again: same rows, no error */
    CHECK_INT(rcpt_store_put_ocr(st, IMG, &h.d, 1, 1, &e), RCPT_OK);
    char *b = export_all(st, &n2);
    CHECK_INT(n1, n2);
    CHECK(strcmp(a, b) == 0);
    free(a);
    free(b);
    free_doc(&h);
    /* a smaller doc: rows the doc no longer has are gone; items of other
     * types under the same keys (HEAD's word labels) stay */
    rcpt_item *label = rcpt_item_new();
    rcpt_m_set_str(label, "PK", pk);
    rcpt_m_set_str(label, "SK", "RECEIPT#00001#LINE#00001#WORD#00001#LABEL#TOTAL");
    rcpt_m_set_str(label, "TYPE", "RECEIPT_WORD_LABEL");
    CHECK_INT(rcpt_store_put(st, label, NULL, &e), RCPT_OK);
    make_doc(&h, 2, 2, 2);
    CHECK_INT(rcpt_store_put_ocr(st, IMG, &h.d, 1, 1, &e), RCPT_OK);
    rcpt_item *got = NULL;
    CHECK_INT(rcpt_store_get(st, pk, "RECEIPT#00001#LINE#00001#WORD#00001#LABEL#TOTAL", &got, &e), RCPT_OK);
    rcpt_item_free(got);
    CHECK_INT(rcpt_store_delete(st, pk, "RECEIPT#00001#LINE#00001#WORD#00001#LABEL#TOTAL", NULL, &e), RCPT_OK);
    rcpt_item_free(label);
    CHECK_INT(count_prefix(st, pk, "LINE#", "LINE"), 2);
    CHECK_INT(count_prefix(st, pk, "LINE#", "LETTER"), 8);
    CHECK_INT(count_prefix(st, pk, "RECEIPT#00001#LINE#", NULL), 2 + 4 + 8);

    /* fast path JSON == entity path JSON for a receipt word */
    rcpt_buf arena = RCPT_BUF_INIT;
    rcpt_row *rows;
    size_t n;
    CHECK_INT(rcpt_ocr_rows(IMG, &h.d, 0, 1, &arena, &rows, &n, &e), RCPT_OK);
    CHECK_INT(n, 14);
    const rcpt_ocr_word *w = &h.d.words[0];
    rcpt_av *p = plain();
    pstr(p, "image_id", IMG); pnum(p, "receipt_id", 1); pnum(p, "line_id", w->line_id);
    pnum(p, "word_id", w->word_id);
    pstr(p, "text", w->g.text);
    rcpt_av *bb = rcpt_m_set(p, "bounding_box", RCPT_AV_M);
    rcpt_m_set_num(bb, "x", w->g.bbox.x, 0); rcpt_m_set_num(bb, "y", w->g.bbox.y, 0);
    rcpt_m_set_num(bb, "width", w->g.bbox.width, 0); rcpt_m_set_num(bb, "height", w->g.bbox.height, 0);
    ppt(p, "top_left", w->g.top_left.x, w->g.top_left.y);
    ppt(p, "top_right", w->g.top_right.x, w->g.top_right.y);
    ppt(p, "bottom_left", w->g.bottom_left.x, w->g.bottom_left.y);
    ppt(p, "bottom_right", w->g.bottom_right.x, w->g.bottom_right.y);
    rcpt_m_set_num(p, "angle_degrees", w->g.angle_degrees, 0);
    rcpt_m_set_num(p, "angle_radians", w->g.angle_radians, 0);
    rcpt_m_set_num(p, "confidence", w->g.confidence, 0);
    rcpt_av *ed = rcpt_m_set(p, "extracted_data", RCPT_AV_M);
    pstr(ed, "type", "phone"); pstr(ed, "value", "805 917 4200");
    rcpt_m_set_bool(p, "is_noise", w->is_noise);
    rcpt_item *it = build("RECEIPT_WORD", p, &e);
    CHECK(it != NULL);
    rcpt_buf j = RCPT_BUF_INIT;
    rcpt_item_to_json(it, &j);
    /* rows come depth first (SK order): line 1, its word 1, ... */
    CHECK(rows[1].json_len == j.len && memcmp(rows[1].json, j.data, j.len) == 0);
    if (rows[1].json_len != j.len)
        fprintf(stderr, "fast: %.*s\nitem: %s\n", (int)rows[1].json_len, rows[1].json, j.data);
    CHECK_STR(rows[1].type, "RECEIPT_WORD");
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(rows[i - 1].sk, rows[i].sk) < 0);
    rcpt_buf_free(&j);
    rcpt_item_free(it);
    rcpt_item_free(p);
    free(rows);
    rcpt_buf_free(&arena);
    /* a bad image id names the field */
    CHECK_INT(rcpt_store_put_ocr(st, "nope", &h.d, 1, 0, &e), RCPT_EINVAL);
    CHECK_STR(e.msg, "image_id: must be a UUIDv4");
    free_doc(&h);
}

/* The SQLite backend stores OCR rows compact (core/store/ocr_compact.h) and
 * renders them on read: get, query and export must give exactly the JSON of
 * rcpt_ocr_rows, for hostile text and numbers too. */
static void test_compact_rows(rcpt_store *st, const char *path)
{
    static const char *const IMG2 = "5f52804b-2fad-4e00-92c8-b593da3a8ed4";
    rcpt_err e;
    hdoc h;
    make_doc(&h, 3, 3, 2);
    h.d.lines[0].g.text = "q\"b\\s\x01\n\xc3\xa9\xf0\x9f\x98\x80";
    h.d.lines[0].g.text_len = strlen(h.d.lines[0].g.text);
    h.d.lines[1].g.bbox.x = -0.0;
    h.d.lines[1].g.bbox.y = 1e-300;
    h.d.lines[1].g.bbox.width = 123456789.123456789;
    h.d.lines[1].g.angle_radians = -3.0000000000000004;
    h.d.lines[1].g.confidence = 1;
    h.d.words[1].ed_type = "date";       /* a type with no value */
    h.d.words[1].ed_value = NULL;
    h.d.words[2].ed_type = "x\"y";
    h.d.words[2].ed_value = "a\0b";     /* a NUL inside the value */
    h.d.words[2].ed_value_len = 3;
    h.d.words[2].is_noise = 1;
    for (size_t i = 0; i < 3; i++) /* ids past five digits: the slow path of w5 */
        h.d.lines[2].words[i].word_id = 123456 + (int)i;
    for (size_t i = 0; i < h.d.lines[2].n_words; i++)
        for (size_t k = 0; k < h.d.lines[2].words[i].n_letters; k++)
            h.d.lines[2].words[i].letters[k].word_id = h.d.lines[2].words[i].word_id;
    CHECK_INT(rcpt_store_put_ocr(st, IMG2, &h.d, 1, 7, &e), RCPT_OK);
    rcpt_buf arena = RCPT_BUF_INIT;
    rcpt_row *rows;
    size_t n;
    CHECK_INT(rcpt_ocr_rows(IMG2, &h.d, 1, 7, &arena, &rows, &n, &e), RCPT_OK);
    CHECK_INT(n, 2 * (3 + 9 + 18));
    size_t count;
    char *all = export_all(st, &count);
    rcpt_buf line = RCPT_BUF_INIT, j = RCPT_BUF_INIT;
    int same_get = 0, in_export = 0;
    for (size_t i = 0; i < n; i++) {
        rcpt_item *got = NULL;
        if (rcpt_store_get(st, rows[i].pk, rows[i].sk, &got, &e) == RCPT_OK) {
            rcpt_buf_reset(&j);
            rcpt_item_to_json(got, &j);
            same_get += j.len == rows[i].json_len && memcmp(j.data, rows[i].json, j.len) == 0;
            if (j.len != rows[i].json_len || memcmp(j.data, rows[i].json, j.len) != 0)
                fprintf(stderr, "get:  %.*s\nrows: %.*s\n", (int)j.len, j.data, (int)rows[i].json_len,
                        rows[i].json);
        }
        rcpt_item_free(got);
        rcpt_buf_reset(&line);
        rcpt_buf_puts(&line, "\n{\"Item\":");
        rcpt_buf_append(&line, rows[i].json, rows[i].json_len);
        rcpt_buf_puts(&line, "}\n");
        rcpt_buf_putc(&line, '\0');
        in_export += strstr(all, line.data) != NULL;
    }
    CHECK_INT(same_get, (long)n);
    CHECK_INT(in_export, (long)n);
    /* queries render too (by a GSI: the receipt's words) */
    char g3[80];
    snprintf(g3, sizeof g3, "IMAGE#%s#RECEIPT#00007", IMG2);
    rcpt_query q = {RCPT_IDX_GSI3, g3, "WORD", NULL, NULL, NULL, 0, 0, NULL};
    rcpt_result r;
    CHECK_INT(rcpt_store_query(st, &q, &r, &e), RCPT_OK);
    CHECK_INT(r.n, 9);
    rcpt_result_free(&r);
    /* GSITYPE over an OCR type (not in the partial index: a scan) */
    rcpt_query qt = {RCPT_IDX_GSITYPE, "RECEIPT_LETTER", NULL, NULL, NULL, NULL, 0, 0, NULL};
    CHECK_INT(rcpt_store_query(st, &qt, &r, &e), RCPT_OK);
    size_t mine = 0;
    for (size_t i = 0; i < r.n; i++) {
        CHECK_STR(rcpt_m_str(r.items[i], "TYPE"), "RECEIPT_LETTER");
        mine += strstr(rcpt_m_str(r.items[i], "PK"), IMG2) != NULL;
    }
    CHECK_INT(mine, 18);
    rcpt_result_free(&r);
    free(all);

    /* put_ocr adds nothing to the change feed; an item of a feed type that
     * sits at an OCR key (only an import could put it there) gives the
     * MODIFY the old triggers gave, with the new item rendered as JSON */
    rcpt_change *ch;
    size_t nch;
    CHECK_INT(rcpt_store_changes(st, 0, 0, &ch, &nch, &e), RCPT_OK);
    int64_t last = nch ? ch[nch - 1].seq : 0;
    rcpt_changes_free(ch, nch);
    CHECK_INT(rcpt_store_put_ocr(st, IMG2, &h.d, 1, 7, &e), RCPT_OK);
    CHECK_INT(rcpt_store_changes(st, last, 0, &ch, &nch, &e), RCPT_OK);
    CHECK_INT(nch, 0);
    rcpt_changes_free(ch, nch);
    rcpt_item *odd = rcpt_item_new();
    char pk2[64];
    snprintf(pk2, sizeof pk2, "IMAGE#%s", IMG2);
    rcpt_m_set_str(odd, "PK", pk2);
    rcpt_m_set_str(odd, "SK", rows[0].sk);
    rcpt_m_set_str(odd, "TYPE", "RECEIPT_METADATA");
    CHECK_INT(rcpt_store_put(st, odd, NULL, &e), RCPT_OK);
    rcpt_item_free(odd);
    CHECK_INT(rcpt_store_put_ocr(st, IMG2, &h.d, 1, 7, &e), RCPT_OK);
    CHECK_INT(rcpt_store_changes(st, last, 0, &ch, &nch, &e), RCPT_OK);
    CHECK_INT(nch, 2);
    if (nch == 2) {
        CHECK_STR(ch[0].event, "MODIFY"); /* the raw item over the compact row */
        CHECK_STR(ch[1].event, "MODIFY");
        CHECK_STR(ch[1].type, "LINE");
        CHECK(ch[1].old_item && strstr(ch[1].old_item, "RECEIPT_METADATA") != NULL);
        CHECK(ch[1].new_item && strlen(ch[1].new_item) == rows[0].json_len &&
              memcmp(ch[1].new_item, rows[0].json, rows[0].json_len) == 0);
        last = ch[1].seq;
    }
    rcpt_changes_free(ch, nch);

    /* a damaged blob is an error naming the item, not a crash */
    sqlite3 *db;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char sql[400];
    snprintf(sql, sizeof sql, "UPDATE items SET item = substr(item, 1, 150) WHERE pk = '%s' AND sk = '%s'",
             pk2, rows[1].sk);
    CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    rcpt_item *bad = NULL;
    CHECK_INT(rcpt_store_get(st, rows[1].pk, rows[1].sk, &bad, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "compact OCR row") != NULL && strstr(e.msg, rows[1].sk) != NULL);

    /* a store made before the change feed moved out of triggers: reopening
     * drops them, so a write is recorded once, not twice */
    CHECK_INT(sqlite3_exec(db, "CREATE TRIGGER rcpt_changes_ins AFTER INSERT ON items"
                               " WHEN new.type IN ('RECEIPT_METADATA', 'COMPACTION_RUN') BEGIN"
                               " INSERT INTO rcpt_changes(event_name, pk, sk, type, old_item, new_item)"
                               " VALUES ('INSERT', new.pk, new.sk, new.type, NULL, new.item); END;"
                               "CREATE INDEX items_type ON items(type) WHERE type IS NOT NULL;"
                               "PRAGMA user_version=0;",
                           NULL, NULL, NULL), SQLITE_OK);
    rcpt_store *st2;
    char url[300];
    snprintf(url, sizeof url, "sqlite:%s", path);
    CHECK_INT(rcpt_store_open(url, &st2, &e), RCPT_OK);
    sqlite3_stmt *s;
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                                     " OR name = 'items_type'", -1, &s, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(s), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(s, 0), 0);
    sqlite3_finalize(s);
    rcpt_item *md = rcpt_item_new();
    rcpt_m_set_str(md, "PK", pk2);
    rcpt_m_set_str(md, "SK", "RECEIPT#00007#METADATA");
    rcpt_m_set_str(md, "TYPE", "RECEIPT_METADATA");
    CHECK_INT(rcpt_store_put(st2, md, NULL, &e), RCPT_OK);
    CHECK_INT(rcpt_store_delete(st2, pk2, "RECEIPT#00007#METADATA", NULL, &e), RCPT_OK);
    rcpt_item_free(md);
    CHECK_INT(rcpt_store_changes(st2, last, 0, &ch, &nch, &e), RCPT_OK);
    CHECK_INT(nch, 2);
    if (nch == 2) {
        CHECK_STR(ch[0].event, "INSERT");
        CHECK_STR(ch[1].event, "REMOVE");
        CHECK(ch[1].old_item && strstr(ch[1].old_item, "RECEIPT#00007#METADATA") != NULL);
    }
    rcpt_changes_free(ch, nch);
    rcpt_store_close(st2);
    /* GSITYPE of the other types uses the partial index (the query repeats
     * its condition) */
    CHECK_INT(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT pk, sk, NULL, item FROM items WHERE type = ?1 AND"
                                     " typeof(item) = 'text' AND type IS NOT NULL ORDER BY pk, sk", -1, &s, NULL),
              SQLITE_OK);
    int uses = 0;
    while (sqlite3_step(s) == SQLITE_ROW)
        uses |= strstr((const char *)sqlite3_column_text(s, 3), "items_gsitype") != NULL;
    sqlite3_finalize(s);
    CHECK(uses);
    /* the format is recorded; a newer one is refused, not misread */
    CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(s), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(s, 0), 2);
    sqlite3_finalize(s);
    CHECK_INT(sqlite3_exec(db, "PRAGMA user_version=3", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(rcpt_store_open(url, &st2, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "store format 3 is newer than this rcpt reads (2)") != NULL);
    CHECK_INT(sqlite3_exec(db, "PRAGMA user_version=2", NULL, NULL, NULL), SQLITE_OK);
    /* leave the store as the later tests expect it: IMG2 gone */
    snprintf(sql, sizeof sql, "DELETE FROM items WHERE pk = '%s'", pk2);
    CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(count_prefix(st, pk2, NULL, NULL), 0);
    rcpt_buf_free(&line);
    rcpt_buf_free(&j);
    free(rows);
    rcpt_buf_free(&arena);
    free_doc(&h);
}

static void test_conditions(rcpt_store *st)
{
    rcpt_err e;
    rcpt_av *p = plain();
    pstr(p, "image_id", IMG); pstr(p, "job_id", JOB); pstr(p, "s3_bucket", "b"); pstr(p, "s3_key", "k");
    pstr(p, "created_at", "2025-10-24T12:00:00");
    rcpt_item *job = build("OCR_JOB", p, &e);
    rcpt_cond ne = {RCPT_COND_NOT_EXISTS, NULL, NULL, NULL};
    rcpt_cond ex = {RCPT_COND_EXISTS, NULL, NULL, NULL};
    CHECK_INT(rcpt_store_put(st, job, &ne, &e), RCPT_OK);
    CHECK_INT(rcpt_store_put(st, job, &ne, &e), RCPT_ECONFLICT);
    CHECK(strstr(e.msg, "attribute_not_exists(PK)") != NULL);
    CHECK_INT(rcpt_store_put(st, job, &ex, &e), RCPT_OK);
    rcpt_item *got = NULL;
    CHECK_INT(rcpt_store_get(st, rcpt_m_str(job, "PK"), rcpt_m_str(job, "SK"), &got, &e), RCPT_OK);
    CHECK(got && rcpt_av_equal(got, job));
    rcpt_item_free(got);
    CHECK_INT(rcpt_store_get(st, "IMAGE#none", "X", &got, &e), RCPT_ENOTFOUND);

    /* update: mark COMPLETED like the Swift worker (GSI keys untouched) */
    rcpt_item *set = rcpt_item_new();
    rcpt_m_set_str(set, "status", "COMPLETED");
    rcpt_m_set_str(set, "updated_at", "2025-10-24T12:01:00");
    rcpt_item *after = NULL;
    CHECK_INT(rcpt_store_update(st, rcpt_m_str(job, "PK"), rcpt_m_str(job, "SK"), set, &ex, &after, &e), RCPT_OK);
    CHECK_STR(rcpt_m_str(after, "status"), "COMPLETED");
    CHECK_STR(rcpt_m_str(after, "GSI1PK"), "OCR_JOB_STATUS#PENDING");
    rcpt_item_free(after);
    CHECK_INT(rcpt_store_update(st, "IMAGE#none", "X", set, &ex, NULL, &e), RCPT_ECONFLICT);
    rcpt_item_free(set);

    /* the lock: acquire, refused while held, taken over once expired,
     * released only by its owner */
    rcpt_av *lp = plain();
    pstr(lp, "lock_id", "chroma-words-update"); pstr(lp, "owner", OWN); pstr(lp, "collection", "words");
    pstr(lp, "expires", "2025-10-24T12:03:00+00:00");
    rcpt_item *lock = build("COMPACTION_LOCK", lp, &e);
    rcpt_cond acq = {RCPT_COND_LOCK_FREE, NULL, NULL, "2025-10-24T12:00:00+00:00"};
    CHECK_INT(rcpt_store_put(st, lock, &acq, &e), RCPT_OK);
    CHECK_INT(rcpt_store_put(st, lock, &acq, &e), RCPT_ECONFLICT);
    acq.now = "2025-10-24T12:03:00.000001+00:00";
    CHECK_INT(rcpt_store_put(st, lock, &acq, &e), RCPT_OK);
    rcpt_av other = {0};
    other.type = RCPT_AV_S;
    other.s = (char *)RUN;
    other.len = strlen(RUN);
    rcpt_cond byother = {RCPT_COND_EQ, "owner", &other, NULL};
    CHECK_INT(rcpt_store_delete(st, "LOCK#words#chroma-words-update", "LOCK", &byother, &e), RCPT_ECONFLICT);
    rcpt_av mine = other;
    mine.s = (char *)OWN;
    mine.len = strlen(OWN);
    rcpt_cond byme = {RCPT_COND_EQ, "owner", &mine, NULL};
    CHECK_INT(rcpt_store_delete(st, "LOCK#words#chroma-words-update", "LOCK", &byme, &e), RCPT_OK);
    CHECK_INT(rcpt_store_get(st, "LOCK#words#chroma-words-update", "LOCK", &got, &e), RCPT_ENOTFOUND);

    /* a transaction with a failing condition writes nothing */
    rcpt_av *ip = plain();
    pstr(ip, "image_id", IMG); pnum(ip, "width", 10); pnum(ip, "height", 10);
    pstr(ip, "timestamp_added", "2025-10-24T12:00:00"); pstr(ip, "raw_s3_bucket", "r"); pstr(ip, "raw_s3_key", "k");
    rcpt_item *img = build("IMAGE", ip, &e);
    rcpt_txop ops[3] = {
        {RCPT_TX_PUT, img, NULL, NULL, {0, NULL, NULL, NULL}},
        {RCPT_TX_PUT, lock, NULL, NULL, ne},
        {RCPT_TX_PUT, job, NULL, NULL, ne}, /* exists: fails */
    };
    CHECK_INT(rcpt_store_transact(st, ops, 3, &e), RCPT_ECONFLICT);
    CHECK(strstr(e.msg, "op 3") != NULL);
    CHECK_INT(rcpt_store_get(st, rcpt_m_str(img, "PK"), "IMAGE", &got, &e), RCPT_ENOTFOUND);
    CHECK_INT(rcpt_store_get(st, "LOCK#words#chroma-words-update", "LOCK", &got, &e), RCPT_ENOTFOUND);
    ops[2].cond = ex;
    CHECK_INT(rcpt_store_transact(st, ops, 3, &e), RCPT_OK);
    CHECK_INT(rcpt_store_get(st, rcpt_m_str(img, "PK"), "IMAGE", &got, &e), RCPT_OK);
    rcpt_item_free(got);
    rcpt_item_free(img);
    rcpt_item_free(ip);
    rcpt_item_free(lock);
    rcpt_item_free(lp);
    rcpt_item_free(job);
    rcpt_item_free(p);
}

static void test_queries(rcpt_store *st)
{
    rcpt_err e;
    /* 7 compaction runs: GSI1 RUNS, descending, pages of 3 */
    for (int i = 0; i < 7; i++) {
        rcpt_av *p = plain();
        char run[40], ts[40];
        snprintf(run, sizeof run, "b1b2c3d4-1111-4111-9111-00000000001%d", i);
        snprintf(ts, sizeof ts, "2025-10-24T12:00:0%d", i);
        pstr(p, "run_id", run); pstr(p, "image_id", IMG); pnum(p, "receipt_id", 1 + i % 2);
        pstr(p, "lines_delta_prefix", "l/"); pstr(p, "words_delta_prefix", "w/"); pstr(p, "created_at", ts);
        rcpt_item *it = build("COMPACTION_RUN", p, &e);
        CHECK_INT(rcpt_store_put(st, it, NULL, &e), RCPT_OK);
        rcpt_item_free(it);
        rcpt_item_free(p);
    }
    rcpt_query q = {RCPT_IDX_GSI1, "RUNS", "CREATED_AT#", NULL, NULL, NULL, 1, 3, NULL};
    rcpt_result r;
    char *cursor = NULL;
    int seen = 0, pages = 0;
    char last[64] = "CREATED_AT#9";
    do {
        q.cursor = cursor;
        CHECK_INT(rcpt_store_query(st, &q, &r, &e), RCPT_OK);
        for (size_t i = 0; i < r.n; i++) {
            const char *sk = rcpt_m_str(r.items[i], "GSI1SK");
            CHECK(strcmp(sk, last) < 0);
            snprintf(last, sizeof last, "%s", sk);
            seen++;
        }
        free(cursor);
        cursor = r.cursor ? strdup(r.cursor) : NULL;
        rcpt_result_free(&r);
        pages++;
    } while (cursor && pages < 10);
    CHECK_INT(seen, 7);
    CHECK_INT(pages, 3);
    /* between, on the table with a type filter */
    char pk[64];
    snprintf(pk, sizeof pk, "IMAGE#%s", IMG);
    rcpt_query q2 = {RCPT_IDX_TABLE, pk, "RECEIPT#00002#COMPACTION_RUN#", NULL, NULL, "COMPACTION_RUN", 0, 0, NULL};
    CHECK_INT(rcpt_store_query(st, &q2, &r, &e), RCPT_OK);
    CHECK_INT(r.n, 3);
    rcpt_result_free(&r);
    rcpt_query q3 = {RCPT_IDX_GSITYPE, "COMPACTION_RUN", NULL, NULL, NULL, NULL, 0, 0, NULL};
    CHECK_INT(rcpt_store_query(st, &q3, &r, &e), RCPT_OK);
    CHECK_INT(r.n, 7);
    rcpt_result_free(&r);
    rcpt_query q4 = {RCPT_IDX_GSI1, "RUNS", NULL, "CREATED_AT#2025-10-24T12:00:02", "CREATED_AT#2025-10-24T12:00:04", NULL, 0, 0, NULL};
    CHECK_INT(rcpt_store_query(st, &q4, &r, &e), RCPT_OK);
    CHECK_INT(r.n, 3);
    rcpt_result_free(&r);
}

static void test_hostile(rcpt_store *st)
{
    rcpt_err e;
    size_t big = 10 * 1024;
    char *text = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        text[i] = "'\"%\\;--)x\x01\xc3\xa9"[i % 13];
    text[big - 2] = '\xc3'; text[big - 1] = '\xa9'; /* keep UTF-8 whole */
    text[100] = '\0';                                 /* a NUL inside */
    text[big] = '\0';
    /* fix a possibly split sequence at position i%13 boundaries */
    for (size_t i = 0; i + 1 < big; i++)
        if ((unsigned char)text[i] == 0xc3 && (unsigned char)text[i + 1] != 0xa9) text[i] = 'x';
    for (size_t i = 1; i < big; i++)
        if ((unsigned char)text[i] == 0xa9 && (unsigned char)text[i - 1] != 0xc3) text[i] = 'y';
    rcpt_item *it = rcpt_item_new();
    rcpt_m_set_str(it, "PK", "HOSTILE#'; DROP TABLE items; --");
    rcpt_m_set_str(it, "SK", "%s%n\"");
    rcpt_m_set_s(it, "text", text, big);
    CHECK_INT(rcpt_store_put(st, it, NULL, &e), RCPT_OK);
    rcpt_item *got = NULL;
    CHECK_INT(rcpt_store_get(st, "HOSTILE#'; DROP TABLE items; --", "%s%n\"", &got, &e), RCPT_OK);
    const rcpt_av *t = rcpt_m_get(got, "text");
    CHECK(t && t->len == big && memcmp(t->s, text, big) == 0);
    rcpt_item_free(got);
    rcpt_item_free(it);
    free(text);
}

static void test_export_import(rcpt_store *st, const char *path2)
{
    rcpt_err e;
    size_t n1, n2, n3;
    char *a = export_all(st, &n1);
    CHECK(n1 > 30);
    CHECK(strncmp(a, "{\"Item\":{\"PK\":{\"S\":", 19) == 0);
    rcpt_store *st2;
    CHECK_INT(rcpt_store_open_sqlite(path2, &st2, &e), RCPT_OK);
    lines_src src = {a, a + strlen(a)};
    CHECK_INT(rcpt_store_import(st2, read_line, &src, NULL, NULL, &n2, &e), RCPT_OK);
    CHECK_INT(n2, n1);
    char *b = export_all(st2, &n3);
    CHECK(strcmp(a, b) == 0);
    free(b);
    /* a bad line names its number */
    const char *bad = "{\"Item\":{\"PK\":{\"S\":\"A\"},\"SK\":{\"S\":\"B\"}}}\n{\"Item\":{\"PK\":{\"Q\":\"A\"}}}\n";
    lines_src s2 = {bad, bad + strlen(bad)};
    CHECK_INT(rcpt_store_import(st2, read_line, &s2, NULL, NULL, NULL, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "line 2") != NULL);
    rcpt_store_close(st2);
    free(a);
}

static void test_queue(rcpt_store *st)
{
    rcpt_err e;
    rcpt_queue *q, *other;
    CHECK_INT(rcpt_store_queue(st, "ocr-jobs", &q, &e), RCPT_OK);
    CHECK_INT(rcpt_store_queue(st, "other", &other, &e), RCPT_OK);
    char id1[40], id2[40];
    CHECK_INT(q->ops->send(q, "{\"job_id\":\"1\"}", 14, id1, &e), RCPT_OK);
    CHECK_INT(q->ops->send(q, "two\0bytes", 9, id2, &e), RCPT_OK);
    CHECK(rcpt_is_uuid4(id1) && strcmp(id1, id2) != 0);
    long vis, inf;
    q->ops->count(q, &vis, &inf, &e);
    CHECK_INT(vis, 2);
    rcpt_msg *m;
    size_t n;
    CHECK_INT(other->ops->receive(other, 10, 30, &m, &n, &e), RCPT_OK);
    CHECK_INT(n, 0);
    CHECK_INT(q->ops->receive(q, 1, 0.3, &m, &n, &e), RCPT_OK);
    CHECK_INT(n, 1);
    CHECK_STR(m[0].id, id1);
    CHECK_STR(m[0].body, "{\"job_id\":\"1\"}");
    CHECK_INT(m[0].receive_count, 1);
    char old[80];
    snprintf(old, sizeof old, "%s", m[0].receipt);
    rcpt_msgs_free(m, n);
    CHECK_INT(q->ops->receive(q, 10, 0.3, &m, &n, &e), RCPT_OK);
    CHECK_INT(n, 1); /* the first is invisible */
    CHECK(n == 1 && m[0].body_len == 9 && memcmp(m[0].body, "two\0bytes", 9) == 0);
    CHECK_INT(q->ops->del(q, m[0].receipt, &e), RCPT_OK);
    rcpt_msgs_free(m, n);
    q->ops->count(q, &vis, &inf, &e);
    CHECK_INT(vis + inf, 1);
    CHECK_INT(inf, 1);
    usleep(400 * 1000); /* past the visibility timeout: redelivered */
    CHECK_INT(q->ops->receive(q, 10, 30, &m, &n, &e), RCPT_OK);
    CHECK_INT(n, 1);
    CHECK(n == 1 && strcmp(m[0].id, id1) == 0 && m[0].receive_count == 2);
    CHECK_INT(q->ops->del(q, old, &e), RCPT_ENOTFOUND); /* the stale handle */
    CHECK_INT(q->ops->del(q, m[0].receipt, &e), RCPT_OK);
    rcpt_msgs_free(m, n);
    q->ops->count(q, &vis, &inf, &e);
    CHECK_INT(vis + inf, 0);
    CHECK_INT(q->ops->receive(q, 11, 30, &m, &n, &e), RCPT_EINVAL);
    rcpt_queue_close(other);
    /* the queue keeps the connection alive after the store closes */
    rcpt_store_close(st);
    CHECK_INT(q->ops->send(q, "x", 1, id1, &e), RCPT_OK);
    q->ops->count(q, &vis, &inf, &e);
    CHECK_INT(vis, 1);
    rcpt_queue_close(q);
}

int main(void)
{
    test_numbers_fixed();
    test_numbers_python();
    test_time();
    test_entities();

    char dir[] = "/tmp/rcpt-store-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], path2[256], url[300];
    snprintf(path, sizeof path, "%s/a.db", dir);
    snprintf(path2, sizeof path2, "%s/b.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    rcpt_store *st;
    rcpt_err e;
    CHECK_INT(rcpt_store_open("nosuch:x", &st, &e), RCPT_EINVAL);
    CHECK_INT(rcpt_store_open(url, &st, &e), RCPT_OK);
    test_image_write(st);
    test_compact_rows(st, path);
    test_conditions(st);
    test_queries(st);
    test_hostile(st);
    test_export_import(st, path2);
    test_queue(st); /* closes st */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_done();
}
