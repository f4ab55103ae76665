-- Step: the image-level Line/Word/Letter rows of the OCR (spec §3.1) in one
-- store transaction; a re-run replaces them (same rows, none left over).
return function(ctx)
  local rows, msg = ctx.env.store:put_ocr(ctx.image_id, ctx.doc)
  if not rows then error({ msg = "storing lines/words/letters: " .. tostring(msg), type = "Store" }, 0) end
  ctx.rows = ctx.rows + rows
end
