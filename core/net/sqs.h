/* rcpt_sqs: an Amazon SQS queue by URL, over the JSON protocol
 * (X-Amz-Target: AmazonSQS.<Op>, SigV4 service "sqs").  The endpoint is the
 * queue URL's scheme and host, unless AWS_ENDPOINT_URL_SQS (or
 * AWS_ENDPOINT_URL) is set.  Empty 200 bodies (local-aws-sqs) are accepted
 * where SQS answers {}.
 *
 * Same shape as the store's local queue (rcpt_queue in store/store.h), but
 * receipt handles are long strings here, so messages have their own type. */
#ifndef RCPT_NET_SQS_H
#define RCPT_NET_SQS_H

#include <stdint.h>

#include "net/awsjson.h"

typedef struct rcpt_sqs rcpt_sqs;

typedef struct rcpt_sqs_msg {
    char *id;
    char *receipt;          /* ReceiptHandle */
    char *body;
    size_t body_len;
    int receive_count;      /* ApproximateReceiveCount */
    int64_t sent_ms;        /* SentTimestamp */
} rcpt_sqs_msg;
void rcpt_sqs_msgs_free(rcpt_sqs_msg *m, size_t n);

/* url: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (or a stand-in's). */
int rcpt_sqs_open(const char *url, rcpt_sqs **out, rcpt_err *err);
void rcpt_sqs_close(rcpt_sqs *q);
const char *rcpt_sqs_url(const rcpt_sqs *q);
rcpt_http_client *rcpt_sqs_http(rcpt_sqs *q); /* test hooks */

int rcpt_sqs_send(rcpt_sqs *q, const char *body, size_t len, char **id_out, rcpt_err *err);

/* SendMessageBatch in chunks of 10.  ids[i] (caller frees each and the
 * array) is the message id of bodies[i], or NULL when that entry failed;
 * then failures[i] holds "Code: message".  Returns RCPT_OK when the requests
 * went through, even with failed entries (*nfailed counts them). */
int rcpt_sqs_send_batch(rcpt_sqs *q, const char *const *bodies, const size_t *lens, size_t n, char ***ids,
                        char ***failures, size_t *nfailed, rcpt_err *err);

/* Up to max messages (several requests of <= 10 when max > 10), each made
 * invisible for visibility_s seconds (rounded up to whole seconds: SQS's
 * unit; < 0 = the queue's default), long-polling wait_s seconds (0..20) on
 * the first request only. */
int rcpt_sqs_receive(rcpt_sqs *q, int max, double visibility_s, int wait_s, rcpt_sqs_msg **out, size_t *n,
                     rcpt_err *err);
int rcpt_sqs_delete(rcpt_sqs *q, const char *receipt, rcpt_err *err);
/* ApproximateNumberOfMessages and ApproximateNumberOfMessagesNotVisible */
int rcpt_sqs_count(rcpt_sqs *q, long *visible, long *inflight, rcpt_err *err);

/* Queue management (tests, init).  endpoint NULL = from the environment
 * (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, https://sqs.REGION.amazonaws.com).
 * *url_out is malloc'd. */
int rcpt_sqs_create_queue(const char *endpoint, const char *name, int visibility_s, char **url_out, rcpt_err *err);
int rcpt_sqs_queue_url(const char *endpoint, const char *name, char **url_out, rcpt_err *err);

#endif
