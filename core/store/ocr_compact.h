/* Private to core/store: the compact encoding of OCR rows (layout at the
 * top of the compact section in ocrrows.c).  The SQLite backend stores a
 * Line/Word/Letter (and Receipt*) row as this blob plus its key columns and
 * renders the DynamoDB JSON when the row is read, so get, query, scan and
 * export see exactly the JSON rcpt_ocr_rows() gives. */
#ifndef RCPT_STORE_OCR_COMPACT_H
#define RCPT_STORE_OCR_COMPACT_H

#include "store.h"

/* rcpt_ocr_rows with row->json / json_len = the blob (not text) */
int rcpt__ocr_rows_compact(const char *image_id, const rcpt_ocr_doc *doc, int image_level,
                           int receipt_id, rcpt_buf *arena, rcpt_row **rows, size_t *n,
                           rcpt_err *err);
/* The item JSON of a stored blob, appended to out at *json_off (out may
 * move: use out->data + *json_off).  pk/sk name the row in errors. */
int rcpt__ocr_render(const char *pk, const char *sk, const void *blob, size_t len, rcpt_buf *out,
                     size_t *json_off, size_t *json_len, rcpt_err *err);
/* What an OCR write replaces (rcpt_store_put_ocr and the SQLite backend's
 * put_ocr): in partition pk = "IMAGE#<image_id>", the image's Line/Word/
 * Letter rows (image_level) and receipt receipt_id's (when > 0).  del points
 * into rprefix; returns the number of del entries. */
size_t rcpt__ocr_replace_set(const char *image_id, int image_level, int receipt_id, char pk[64],
                             char rprefix[48], rcpt_replace del[2]);

#endif
