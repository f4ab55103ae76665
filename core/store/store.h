/* rcpt_store: the single-table entity store of spec/ocr-geometry.md §4 and
 * spec/merchant-embed-compaction.md §4.6, §5.7, §8, §9.
 *
 * Layers, bottom up:
 *   numfmt    the §4.1 number and timestamp formats (byte-exact with Python)
 *   item      DynamoDB-typed attribute maps (S, N, BOOL, NULL, M, L, SS) and
 *             their DynamoDB JSON text ({"PK":{"S":"IMAGE#..."},...})
 *   entities  plain values -> validated items with the spec's keys, and back
 *   backend   a vtable (get / transact / update / query / replace / scan)
 *             with SQLite behind it; DynamoDB plugs in behind the same one
 *   queue     an SQS-like queue interface, SQLite behind it
 *
 * Every item carries its own key attributes (PK, SK, GSI1PK.., TYPE); a
 * backend indexes them from the item, so the stored JSON text is the item
 * exactly as the original table holds it and export is a copy. */
#ifndef RCPT_STORE_H
#define RCPT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../ocr/ocr.h"
#include "../util/buf.h"
#include "../util/err.h"

/* ---- number and time formats (§4.1) -------------------------------------- */

/* Shortest round-trip digits of x > 0 (Python repr's digits):
 * value = 0.DIGITS x 10^point, ndig digits, no trailing zero. dig >= 24 bytes. */
int rcpt_fmt_shortest_digits(double x, char *dig, int *ndig, int *point);
/* Python repr(float) ("0.1", "1e-05", "1.5e+16"); returns length or -1. */
int rcpt_fmt_repr(double v, char *out, size_t cap);
/* Decimal(repr(v)).quantize(d places, ROUND_HALF_UP) printed with exactly d
 * decimals, no exponent; returns length or -1 (NaN, inf, too long). */
int rcpt_fmt_decimal(double v, int d, char *out, size_t cap);
/* datetime.isoformat(): fraction omitted when usec == 0, "+00:00" when aware. */
int rcpt_isoformat(int64_t epoch_s, int usec, int aware, char out[40]);
int rcpt_now_iso(int aware, char out[40]);
/* YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|+HH:MM|-HH:MM] */
int rcpt_iso_valid(const char *s);

#define RCPT_DP_GEOM 20
#define RCPT_DP_ANGLE 18
#define RCPT_DP_CORNER 18 /* Receipt corners */
#define RCPT_DP_CONF 2

/* ---- attribute values and items ------------------------------------------ */

enum {
    RCPT_AV_S = 1, RCPT_AV_N, RCPT_AV_BOOL, RCPT_AV_NULL, RCPT_AV_M, RCPT_AV_L, RCPT_AV_SS,
    /* plain values only (entity input/output): a number held as a double */
    RCPT_AV_NUM
};

typedef struct rcpt_av {
    int type;
    int b;              /* BOOL; for NUM: 1 when the number is an integer */
    double num;         /* NUM */
    char *s;            /* S, N (N holds the DynamoDB number string) */
    size_t len;
    size_t n, cap;      /* M, L, SS */
    char **keys;        /* M: attribute names (NUL-terminated) */
    struct rcpt_av *vals;
} rcpt_av;

typedef rcpt_av rcpt_item; /* an item is an M */

rcpt_item *rcpt_item_new(void);
void rcpt_item_free(rcpt_item *it);
void rcpt_av_clear(rcpt_av *v);          /* frees the contents, leaves NULL */
int rcpt_av_copy(rcpt_av *dst, const rcpt_av *src);

/* M: add or replace attribute `name`; returns the slot (type set, empty) or
 * NULL on ENOMEM.  The pointer is valid until the next add to the same map. */
rcpt_av *rcpt_m_set(rcpt_av *m, const char *name, int type);
int rcpt_m_set_s(rcpt_av *m, const char *name, const char *s, size_t len);
int rcpt_m_set_str(rcpt_av *m, const char *name, const char *s);       /* NUL-terminated */
int rcpt_m_set_s_or_null(rcpt_av *m, const char *name, const char *s); /* NULL or "" -> NULL */
int rcpt_m_set_n(rcpt_av *m, const char *name, const char *num);
int rcpt_m_set_int(rcpt_av *m, const char *name, long long v);
int rcpt_m_set_bool(rcpt_av *m, const char *name, int b);
int rcpt_m_set_null(rcpt_av *m, const char *name);
int rcpt_m_set_num(rcpt_av *m, const char *name, double v, int is_int); /* plain */
int rcpt_m_remove(rcpt_av *m, const char *name);
/* L / SS: append an element */
rcpt_av *rcpt_l_push(rcpt_av *l, int type);
const rcpt_av *rcpt_m_get(const rcpt_av *m, const char *name);
/* the S value of attribute name, or NULL */
const char *rcpt_m_str(const rcpt_av *m, const char *name);
int rcpt_av_equal(const rcpt_av *a, const rcpt_av *b);

/* DynamoDB JSON of an item (an M: the top level has no {"M":...} wrapper). */
int rcpt_item_to_json(const rcpt_item *it, rcpt_buf *b);
int rcpt_av_to_json(const rcpt_av *v, rcpt_buf *b); /* {"S":"..."} etc. */
/* Parse DynamoDB JSON text of an item; errors name the attribute path. */
int rcpt_item_from_json(const char *json, size_t len, rcpt_item **out, rcpt_err *err);
/* A parsed plain tree of {"S":..}-style objects -> typed item, in place. */
int rcpt_item_type_plain(rcpt_item *it, rcpt_err *err);
/* Plain JSON (no type descriptors) of a plain value: used for places_response etc. */
int rcpt_plain_from_json(const char *json, size_t len, rcpt_av **out, rcpt_err *err);

/* ---- entities ------------------------------------------------------------ */

/* Entity types by their TYPE attribute: "IMAGE", "LINE", "WORD", "LETTER",
 * "RECEIPT", "RECEIPT_LINE", "RECEIPT_WORD", "RECEIPT_LETTER", "OCR_JOB",
 * "OCR_ROUTING_DECISION", "RECEIPT_METADATA", "COMPACTION_RUN",
 * "COMPACTION_LOCK", "PLACES_CACHE". */
int rcpt_entity_known(const char *type);
/* Plain value (an M of S / NUM / BOOL / NULL / M / L) -> item with keys.
 * Errors name the entity and field: "OCR_JOB.job_id: must be a UUIDv4". */
int rcpt_entity_item(const char *type, const rcpt_av *plain, rcpt_item **out, rcpt_err *err);
/* The PK and SK of an entity from its id fields only (for get / delete).
 * Caller frees *pk and *sk. */
int rcpt_entity_key(const char *type, const rcpt_av *plain, char **pk, char **sk, rcpt_err *err);
/* PK and SK prefix for "all <type> under these ids" (e.g. RECEIPT_LINE with
 * image_id and receipt_id -> IMAGE#id, RECEIPT#00001#LINE#). */
int rcpt_entity_prefix(const char *type, const rcpt_av *plain, char **pk, char **sk_prefix,
                       rcpt_err *err);
/* Item -> plain value: key attributes dropped, N -> NUM, SS -> L, NULL
 * attributes omitted, ids that live only in the keys added back. */
int rcpt_entity_plain(const rcpt_item *it, rcpt_av **out, rcpt_err *err);

/* ReceiptMetadata.validation_status of §4.7 ("MATCHED", "UNSURE", "NO_MATCH"). */
const char *rcpt_metadata_status(const char *merchant_name, const char *address,
                                 const char *phone, const char *const *fields, size_t n,
                                 int min_match, int min_unsure);
/* PlacesCache SK padding of merchant §5.7; caller frees. */
char *rcpt_places_sk(const char *search_type, const char *value, rcpt_err *err);
int rcpt_uuid4(char out[37]);
int rcpt_is_uuid4(const char *s);

/* ---- conditions, queries, transactions ------------------------------------ */

enum {
    RCPT_COND_NONE = 0,
    RCPT_COND_NOT_EXISTS, /* attribute_not_exists(PK) */
    RCPT_COND_EXISTS,     /* attribute_exists(PK) */
    RCPT_COND_LOCK_FREE,  /* attribute_not_exists(PK) OR expires < :now (string compare) */
    RCPT_COND_EQ          /* #attr = :value (owner equals is EQ on "owner") */
};

typedef struct rcpt_cond {
    int kind;
    const char *attr;      /* EQ */
    const rcpt_av *value;  /* EQ: S, N or BOOL */
    const char *now;       /* LOCK_FREE */
} rcpt_cond;

/* Evaluate a condition against the existing item (NULL when absent). */
int rcpt_cond_holds(const rcpt_cond *c, const rcpt_item *existing);

enum { RCPT_IDX_TABLE = 0, RCPT_IDX_GSI1, RCPT_IDX_GSI2, RCPT_IDX_GSI3, RCPT_IDX_GSITYPE };
int rcpt_index_from_name(const char *name); /* "TABLE", "GSI1".."GSI3", "GSITYPE"; -1 */

typedef struct rcpt_query {
    int index;
    const char *pk;        /* partition value (TYPE for GSITYPE) */
    const char *sk_prefix; /* begins_with(sort key), or NULL */
    const char *sk_lo, *sk_hi; /* BETWEEN lo AND hi (inclusive), either may be NULL */
    const char *type;      /* filter on TYPE, or NULL */
    int descending;
    int limit;             /* 0 = no limit */
    const char *cursor;    /* from a previous page, or NULL */
} rcpt_query;

typedef struct rcpt_result {
    rcpt_item **items;
    size_t n;
    char *cursor;          /* NULL on the last page */
} rcpt_result;
void rcpt_result_free(rcpt_result *r);

/* A row: an item's JSON text and its key columns, what a backend stores. */
typedef struct rcpt_row {
    const char *pk, *sk, *type;
    const char *gsi[6];    /* GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK or NULL */
    const char *json;
    size_t json_len;
} rcpt_row;
/* Key columns point into it, json into b (appended). */
int rcpt_row_from_item(const rcpt_item *it, rcpt_buf *b, rcpt_row *row, rcpt_err *err);

enum { RCPT_TX_PUT = 1, RCPT_TX_DELETE, RCPT_TX_CHECK };
typedef struct rcpt_txop {
    int kind;
    const rcpt_item *item; /* PUT */
    const char *pk, *sk;   /* DELETE, CHECK */
    rcpt_cond cond;
} rcpt_txop;

/* "Within partition pk, delete every item whose SK begins with prefix and
 * whose TYPE is one of types, then put rows": one atomic replace. */
typedef struct rcpt_replace {
    const char *prefix;
    const char *const *types;
    size_t ntypes;
} rcpt_replace;

typedef struct rcpt_store rcpt_store;
typedef struct rcpt_queue rcpt_queue;

/* One entry of the local change feed (the SQLite backend's equivalent of a
 * DynamoDB stream with NEW_AND_OLD_IMAGES): items of TYPE RECEIPT_METADATA
 * and COMPACTION_RUN, recorded by the backend's write path in the same
 * transaction as the write.  old_item/new_item are the item's DynamoDB JSON (NULL on INSERT
 * / REMOVE respectively). */
typedef struct rcpt_change {
    int64_t seq;       /* increasing, never reused */
    char event[8];     /* "INSERT", "MODIFY", "REMOVE" */
    char *pk, *sk, *type, *old_item, *new_item;
    int64_t at_ms;     /* wall clock of the write */
} rcpt_change;
void rcpt_changes_free(rcpt_change *c, size_t n);

typedef struct rcpt_store_ops {
    const char *name;
    int (*get)(rcpt_store *, const char *pk, const char *sk, rcpt_item **out, rcpt_err *);
    /* all or nothing; a failed condition -> RCPT_ECONFLICT naming the op */
    int (*transact)(rcpt_store *, const rcpt_txop *ops, size_t n, rcpt_err *);
    /* SET the attributes of `set` (an M) on (pk, sk); creates the item when
     * absent unless the condition forbids; *out (may be NULL) = new item */
    int (*update)(rcpt_store *, const char *pk, const char *sk, const rcpt_item *set,
                  const rcpt_cond *cond, rcpt_item **out, rcpt_err *);
    int (*query)(rcpt_store *, const rcpt_query *q, rcpt_result *out, rcpt_err *);
    /* SQLite does this in one transaction.  DynamoDB caps a transaction at
     * 100 items: a backend there queries the old keys, writes the rows in
     * TransactWriteItems chunks and then deletes the keys not rewritten, so
     * the end state is the same (idempotent) though not atomic across chunks. */
    int (*replace)(rcpt_store *, const char *pk, const rcpt_replace *del, size_t ndel,
                   const rcpt_row *rows, size_t n, rcpt_err *);
    /* every row, ordered by (PK, SK); fn returning non-zero stops with that code */
    int (*scan)(rcpt_store *, int (*fn)(void *ud, const rcpt_row *row), void *ud, rcpt_err *);
    /* rows written in bulk, no conditions, in one or a few transactions */
    int (*put_rows)(rcpt_store *, const rcpt_row *rows, size_t n, rcpt_err *);
    int (*queue)(rcpt_store *, const char *name, rcpt_queue **out, rcpt_err *); /* may be NULL */
    void (*close)(rcpt_store *);
    /* The change feed (may be NULL: DynamoDB has its stream instead).
     * changes: entries with seq > after, oldest first, at most limit.
     * cursor: a consumer's position; set >= 0 stores it (and drops entries
     * every consumer has passed), set < 0 reads it (0 when unknown; reading
     * registers the consumer, so entries wait for it). */
    int (*changes)(rcpt_store *, int64_t after, int limit, rcpt_change **out, size_t *n, rcpt_err *);
    int (*cursor)(rcpt_store *, const char *consumer, int64_t set, int64_t *out, rcpt_err *);
    /* The image write in the backend's own encoding (may be NULL: then
     * rcpt_store_put_ocr hands rcpt_ocr_rows() to replace).  Same contract
     * as rcpt_store_put_ocr. */
    int (*put_ocr)(rcpt_store *, const char *image_id, const rcpt_ocr_doc *doc, int image_level,
                   int receipt_id, rcpt_err *);
} rcpt_store_ops;

struct rcpt_store {
    const rcpt_store_ops *ops;
    void *impl;
};

/* url: "sqlite:PATH" (file created with its schema when missing) or
 * "dynamodb:TABLE" (an existing table: `rcpt store init` creates it). */
int rcpt_store_open(const char *url, rcpt_store **out, rcpt_err *err);
void rcpt_store_close(rcpt_store *st);
int rcpt_store_open_sqlite(const char *path, rcpt_store **out, rcpt_err *err);
/* DynamoDB (dynamodb.c): endpoint AWS_ENDPOINT_URL_DYNAMODB, else
 * AWS_ENDPOINT_URL, else https://dynamodb.REGION.amazonaws.com; region
 * AWS_REGION / AWS_DEFAULT_REGION; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN.  What is atomic there: see the top of dynamodb.c. */
int rcpt_store_open_dynamodb(const char *table, rcpt_store **out, rcpt_err *err);
struct rcpt_awsjson;
struct rcpt_http_client;
/* A DynamoDB JSON-protocol client configured as the backend's (store init). */
int rcpt_ddb_client_new(struct rcpt_awsjson **out, rcpt_err *err);
int rcpt_ddb_table_name_ok(const char *table);
/* The backend's HTTP client (test hooks), NULL for another backend. */
struct rcpt_http_client *rcpt_store_dynamodb_http(rcpt_store *st);

int rcpt_store_get(rcpt_store *st, const char *pk, const char *sk, rcpt_item **out, rcpt_err *err);
int rcpt_store_put(rcpt_store *st, const rcpt_item *it, const rcpt_cond *cond, rcpt_err *err);
int rcpt_store_delete(rcpt_store *st, const char *pk, const char *sk, const rcpt_cond *cond,
                      rcpt_err *err);
int rcpt_store_update(rcpt_store *st, const char *pk, const char *sk, const rcpt_item *set,
                      const rcpt_cond *cond, rcpt_item **out, rcpt_err *err);
int rcpt_store_query(rcpt_store *st, const rcpt_query *q, rcpt_result *out, rcpt_err *err);
int rcpt_store_transact(rcpt_store *st, const rcpt_txop *ops, size_t n, rcpt_err *err);
/* The change feed (see rcpt_change); RCPT_EINVAL "no change feed" on a
 * backend without one. */
int rcpt_store_changes(rcpt_store *st, int64_t after, int limit, rcpt_change **out, size_t *n,
                       rcpt_err *err);
int rcpt_store_cursor(rcpt_store *st, const char *consumer, int64_t set, int64_t *out,
                      rcpt_err *err);

/* The image write: the doc's Line/Word/Letter rows under image_id (when
 * image_level) and/or ReceiptLine/Word/Letter rows (receipt_id > 0) in one
 * transaction; rows of an earlier write of the same image that the doc no
 * longer has are removed, so writing twice leaves the same rows. */
int rcpt_store_put_ocr(rcpt_store *st, const char *image_id, const rcpt_ocr_doc *doc,
                       int image_level, int receipt_id, rcpt_err *err);
/* The JSON of the rows put_ocr writes (exposed for tests and the DynamoDB
 * backend); rows point into *arena, which the caller frees. */
int rcpt_ocr_rows(const char *image_id, const rcpt_ocr_doc *doc, int image_level, int receipt_id,
                  rcpt_buf *arena, rcpt_row **rows, size_t *n, rcpt_err *err);

/* Export: {"Item": {...}} per line; import: the same lines (blank lines skipped);
 * errors name the line number.  *count (may be NULL) = items moved. */
int rcpt_store_export(rcpt_store *st, int (*write)(void *ud, const char *p, size_t n), void *ud,
                      size_t *count, rcpt_err *err);
typedef int (*rcpt_progress_fn)(void *ud, size_t items);
int rcpt_store_import(rcpt_store *st, int (*read_line)(void *ud, rcpt_buf *line, int *eof),
                      void *ud, rcpt_progress_fn progress, void *pud, size_t *count,
                      rcpt_err *err);

/* ---- queues (SQS-like) ----------------------------------------------------- */

typedef struct rcpt_msg {
    char id[40];
    char receipt[80];
    char *body;
    size_t body_len;
    int receive_count;
    int64_t sent_ms;
} rcpt_msg;
void rcpt_msgs_free(rcpt_msg *m, size_t n);

typedef struct rcpt_queue_ops {
    int (*send)(rcpt_queue *, const char *body, size_t len, char id_out[40], rcpt_err *);
    /* at most max messages; each becomes invisible for visibility_s seconds */
    int (*receive)(rcpt_queue *, int max, double visibility_s, rcpt_msg **out, size_t *n,
                   rcpt_err *);
    /* ENOTFOUND when the receipt handle is stale (redelivered) or unknown */
    int (*del)(rcpt_queue *, const char *receipt, rcpt_err *);
    /* visible and in-flight (received, not yet visible again) messages */
    int (*count)(rcpt_queue *, long *visible, long *inflight, rcpt_err *);
    void (*close)(rcpt_queue *);
} rcpt_queue_ops;

struct rcpt_queue {
    const rcpt_queue_ops *ops;
    void *impl;
};

int rcpt_store_queue(rcpt_store *st, const char *name, rcpt_queue **out, rcpt_err *err);
void rcpt_queue_close(rcpt_queue *q);

#endif
