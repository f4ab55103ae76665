-- Step (legacy pipeline, spec §1 B and §6.8): instead of embedding in this
-- Lambda, export each receipt's ReceiptLine / ReceiptWord rows as
--   receipts/<image_id>/receipt-<rid:05d>/lines.ndjson and words.ndjson
-- to env.bucket.artifacts (ARTIFACTS_BUCKET, default SITE_BUCKET) and send
--   {image_id, receipt_id, artifacts_bucket, lines_key, words_key}
-- on the embed_ndjson queue (EMBED_NDJSON_QUEUE_URL, or the local queue
-- table), consumed by rcpt.embed_ndjson.  Failures -> ctx.embedding_error
-- (the OCR rows stay stored; a re-delivery exports again).
local me = require("rcpt.merchant_embed")

return function(ctx)
  me.each(ctx, "embedding_error", function(it)
    require("rcpt.embed_ndjson").export(ctx, it)
  end)
end
