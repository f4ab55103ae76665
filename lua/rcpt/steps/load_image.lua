-- Step: download the job's image (OCRJob.s3_bucket/s3_key) and decode it.
-- The pixel limit (RCPT_MAX_PIXELS, default 100 MP) is checked from the
-- header before any pixel memory is taken; width and height are those of the
-- file, EXIF orientation not applied (as the original, through PIL).
local image = require("rcpt.image")

return function(ctx)
  local job = ctx.job
  local where = job.s3_bucket .. "/" .. job.s3_key
  local bytes, msg = ctx.env:objects(job.s3_bucket):get(job.s3_key)
  if not bytes then error({ msg = "image " .. where .. ": " .. tostring(msg), type = "Objects" }, 0) end
  local img
  img, msg = image.decode(bytes, { max_pixels = ctx.env.settings.max_pixels })
  if not img then error({ msg = "image " .. where .. ": " .. tostring(msg), type = "InvalidImage" }, 0) end
  ctx.image = img -- closed by rcpt.ocr_job when the record is done
  ctx.width, ctx.height = img:size()
  ctx.image_bytes_in = #bytes
end
