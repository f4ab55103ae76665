/* rcpt_awsjson: AWS's JSON protocol (DynamoDB, DynamoDB Streams, SQS) over
 * rcpt_http with SigV4.
 *
 * A call is `POST /` with `X-Amz-Target: <prefix>.<Op>` and
 * `Content-Type: application/x-amz-json-1.0`, signed "aws:amz:REGION:SERVICE"
 * (../shared/STAND-INS.md).  The answer is parsed into a plain rcpt_av tree
 * (objects -> M, arrays -> L, strings -> S, numbers -> NUM, true/false ->
 * BOOL, null -> NULL); an empty 200 body (local-aws-sqs) is an empty M.
 *
 * Retries: rcpt_http retries connection errors, timeouts, 5xx and 429.  The
 * JSON protocol also throttles with HTTP 400 and an error type
 * (ProvisionedThroughputExceededException, ThrottlingException,
 * RequestLimitExceeded, ...): those are retried here with the same full-
 * jitter backoff, up to max_attempts.
 *
 * Errors read "<Service> <Op> <what>: <ErrorType>: <message>" where <what>
 * is the caller's context (a table name, a queue name); never a credential. */
#ifndef RCPT_NET_AWSJSON_H
#define RCPT_NET_AWSJSON_H

#include "net/http.h"
#include "store/store.h"

typedef struct rcpt_awsjson rcpt_awsjson;

typedef struct rcpt_awsjson_opts {
    const char *service;        /* SigV4 service: "dynamodb", "sqs" */
    const char *target_prefix;  /* "DynamoDB_20120810", "AmazonSQS" */
    /* endpoint: explicit, else the first set of env_endpoint_vars, else
     * https://<default_host_prefix>.REGION.amazonaws.com */
    const char *endpoint;
    const char *const *env_endpoint_vars; /* NULL-terminated, e.g. AWS_ENDPOINT_URL_DYNAMODB */
    const char *default_host_prefix;      /* "dynamodb", "sqs" */
    const char *(*getenv)(void *ud, const char *name); /* NULL = getenv(3) */
    void *getenv_ud;
    int max_attempts;           /* throttling retries included; 0 = 8 */
    const char *region;         /* explicit signing region (wins over AWS_REGION), or NULL */
} rcpt_awsjson_opts;

/* Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION / AWS_DEFAULT_REGION (default us-east-1). */
int rcpt_awsjson_new(const rcpt_awsjson_opts *o, rcpt_awsjson **out, rcpt_err *err);
void rcpt_awsjson_free(rcpt_awsjson *c);
const char *rcpt_awsjson_endpoint(const rcpt_awsjson *c); /* no trailing '/' */
const char *rcpt_awsjson_region(const rcpt_awsjson *c);
rcpt_http_client *rcpt_awsjson_http(rcpt_awsjson *c);   /* for test hooks */

/* The outcome of one call. */
typedef struct rcpt_awsjson_result {
    long status;        /* HTTP status, 0 when no answer */
    rcpt_av *body;      /* parsed answer (also for error answers), or NULL */
    char type[96];      /* error type without its namespace ("ConditionalCheckFailedException"), or "" */
    int attempts;
} rcpt_awsjson_result;
void rcpt_awsjson_result_free(rcpt_awsjson_result *r);

/* op = "PutItem", ... ; what = context for messages (table or queue name).
 * RCPT_OK on 2xx.  On an error answer the result is filled and the code is
 * RCPT_ECONFLICT for ConditionalCheckFailedException and
 * TransactionCanceledException, RCPT_ENOTFOUND for ResourceNotFoundException
 * and QueueDoesNotExist, RCPT_EAUTH for 401/403 and credential errors,
 * RCPT_EINVAL for ValidationException, else RCPT_EHTTP. */
int rcpt_awsjson_call(rcpt_awsjson *c, const char *op, const char *what, const char *body,
                      size_t len, rcpt_awsjson_result *res, rcpt_err *err);

/* The same, also copying the answer's raw body into *raw (when non-NULL). */
int rcpt_awsjson_call_raw(rcpt_awsjson *c, const char *op, const char *what, const char *body,
                          size_t len, rcpt_buf *raw, rcpt_awsjson_result *res, rcpt_err *err);

/* Small helpers for reading plain answers. */
const rcpt_av *rcpt_awsjson_get(const rcpt_av *m, const char *name, int type); /* NULL if absent or other type */

#endif
