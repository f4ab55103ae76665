-- Step: REFINEMENT (spec §8.4): the crop's OCR (coordinates relative to the
-- crop) becomes ReceiptLine/Word/Letter of the job's receipt, replacing an
-- earlier refinement of it.  No Image, Line or Receipt row is touched.
local log = require("rcpt.log")

return function(ctx)
  local rid = ctx.job.receipt_id
  if math.type(rid) ~= "integer" or rid < 1 then
    error({ msg = "REFINEMENT job has no receipt_id", field = "OCR_JOB.receipt_id", type = "InvalidInput" }, 0)
  end
  ctx.image_type = "REFINEMENT"
  local st = ctx.env.store
  if not st:get("RECEIPT", { image_id = ctx.image_id, receipt_id = rid }) then
    log.warn("refinement of a receipt with no Receipt row", { image_id = ctx.image_id, job_id = ctx.job_id,
      receipt_id = rid })
  end
  local rows, msg = st:put_ocr(ctx.image_id, ctx.doc, { receipt_id = rid, image = false })
  if not rows then
    error({ msg = string.format("storing receipt %d lines/words/letters: %s", rid, tostring(msg)), type = "Store" }, 0)
  end
  ctx.rows = ctx.rows + rows
  ctx.receipt_ids = { rid }
  -- the rows just written, for the after_receipt stage (no read-back)
  -- (made when asked: the OCR document stays open for that stage)
  local doc = ctx.doc
  ctx.receipt_rows = { [rid] = function()
    return require("rcpt.merchant_embed").rows_from_ocr(ctx.image_id, rid, doc:lines(), doc:words())
  end }
end
