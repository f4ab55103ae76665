-- Step: NATIVE (spec §8.1): receipt 1 is the whole image, its OCR the
-- image's OCR; no refinement job.  Objects first (raw PNG, CDN JPEGs), then
-- the receipt's ReceiptLine/Word/Letter in one transaction, then the Receipt
-- row that points at them, then the Image row with receipt_count = 1.
-- ctx.receipt_rows[1] hands the rows to the merchant + embedding step.
local assets = require("rcpt.assets")

return function(ctx)
  if ctx.image_type ~= "NATIVE" then return end
  local f = assets.upload(ctx, ctx.image)
  local rows, msg = ctx.env.store:put_ocr(ctx.image_id, ctx.doc, { receipt_id = 1, image = false })
  if not rows then error({ msg = "storing receipt 1 lines/words/letters: " .. tostring(msg), type = "Store" }, 0) end
  ctx.rows = ctx.rows + rows
  local r = {}
  for k, v in pairs(f) do r[k] = v end
  r.receipt_id = 1
  -- VN, y up: the whole image
  r.top_left, r.top_right = { x = 0, y = 1 }, { x = 1, y = 1 }
  r.bottom_left, r.bottom_right = { x = 0, y = 0 }, { x = 1, y = 0 }
  assets.write_receipt(ctx, r)
  assets.write_image(ctx, f)
  ctx.receipt_ids = { 1 }
  -- the rows just written, for the after_receipt stage (no read-back):
  -- receipt 1 is the whole image, so they are the document's own tables
  local lines, words = ctx.lines or ctx.doc:lines(), ctx.words or ctx.doc:words()
  ctx.receipt_rows = { [1] = function()
    return require("rcpt.merchant_embed").rows_from_ocr(ctx.image_id, 1, lines, words)
  end }
end
