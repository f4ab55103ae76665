-- What every OCR path does with an image or a receipt crop (spec/ocr-geometry.md
-- §8, "common upload helpers"): the raw PNG, the CDN JPEGs, the Image and
-- Receipt rows, the REFINEMENT OCRJob and its queue message.  The steps
-- (lua/rcpt/steps/*.lua) decide *when*; this module knows the key layout and
-- the row shapes, so the paths cannot drift apart.
--
--   assets.raw_key(image_id[, rid])     raw/<id>.png | raw/<id>_RECEIPT_<rid:05d>.png
--   assets.cdn_base(image_id[, rid])    assets/<id>  | assets/<id>_RECEIPT_<rid:05d>
--   assets.cdn_key(base, size)          <base>.jpg (full) | <base>_<size>.jpg
--   assets.put_object(ctx, bucket, key, bytes, content_type)
--   assets.upload(ctx, img, rid?) -> fields     raw PNG (RAW) + CDN JPEGs (SITE);
--        fields = {width, height, raw_s3_bucket, raw_s3_key, sha256, cdn_s3_bucket,
--                  cdn_s3_key, cdn_thumbnail_s3_key, cdn_small_s3_key, cdn_medium_s3_key}
--   assets.normalise(p, W, H) -> {x = X/W, y = 1 - Y/H}  (PX y-down -> VN y-up)
--   assets.write_receipt(ctx, fields, {refine = bool}) -> receipt summary
--   assets.write_image(ctx, fields)     the Image row (receipt_count = #ctx.receipts)
--   assets.refinement_job_id(first_pass_job_id, rid) -> uuid4 (deterministic)
--   assets.skip(ctx, cluster_id, reason)   a skipped cluster: logged and recorded
--   assets.crop_receipt(ctx, rid, crop, {tl, tr, br, bl} PX) -> summary | nil
--        PHOTO/SCAN: corners normalised y-up, objects, Receipt + REFINEMENT job
--
-- CDN formats: JPEG only (quality 85, 4:2:0, baseline).  We have no WebP or
-- AVIF encoder among our libraries, so the cdn_*_webp_s3_key and
-- cdn_*_avif_s3_key attributes stay NULL -- which the original also wrote
-- whenever its AVIF plugin failed, so readers already handle it.
--
-- Idempotency (DESIGN.md): object keys and row keys are derived from the
-- image id, receipt id and job id only; a row that already exists keeps its
-- timestamps (timestamp_added, created_at), so writing the same image twice
-- leaves byte-identical rows.
local ids = require("rcpt.ids")
local log = require("rcpt.log")
local store = require("rcpt.store")

local M = {}

M.JPEG_QUALITY = 85

function M.raw_key(image_id, rid)
  if rid then return string.format("raw/%s_RECEIPT_%05d.png", image_id, rid) end
  return "raw/" .. image_id .. ".png"
end

function M.cdn_base(image_id, rid)
  if rid then return string.format("assets/%s_RECEIPT_%05d", image_id, rid) end
  return "assets/" .. image_id
end

function M.cdn_key(base, size)
  if size == "full" then return base .. ".jpg" end
  return base .. "_" .. size .. ".jpg"
end

local function fail(msg, t) error({ msg = msg, type = t or "Objects" }, 0) end

function M.put_object(ctx, bucket, key, bytes, content_type)
  local ok, msg = ctx.env:objects(bucket):put(key, bytes, { content_type = content_type })
  if not ok then fail("cannot put " .. bucket .. "/" .. key .. ": " .. tostring(msg)) end
  ctx.objects = ctx.objects or {}
  ctx.objects[#ctx.objects + 1] = { bucket = bucket, key = key, bytes = #bytes, content_type = content_type }
end

-- Objects first (the rows point at them): the PNG in RAW, then the CDN sizes
-- in SITE, each resized from the full image (Pillow's LANCZOS) when larger.
function M.upload(ctx, img, rid)
  local env, id = ctx.env, ctx.image_id
  local w, h = img:size()
  local f = {
    width = w, height = h,
    raw_s3_bucket = env.bucket.raw, raw_s3_key = M.raw_key(id, rid),
    cdn_s3_bucket = env.bucket.site,
  }
  local png, msg = img:encode_png()
  if not png then fail("PNG encode of " .. f.raw_s3_key .. ": " .. tostring(msg), "Image") end
  M.put_object(ctx, f.raw_s3_bucket, f.raw_s3_key, png, "image/png")
  png = nil -- luacheck: ignore (a 12 MP PNG: let the collector have it before the JPEGs)
  local base = M.cdn_base(id, rid)
  for _, s in ipairs(img:cdn_sizes()) do
    local src, jpg = img, nil
    if s.resize then
      local small, rmsg = img:resize(s.width, s.height)
      if not small then fail("resize to " .. s.name .. ": " .. tostring(rmsg), "Image") end
      jpg, msg = small:encode_jpeg(M.JPEG_QUALITY)
      small:close()
    else
      jpg, msg = src:encode_jpeg(M.JPEG_QUALITY)
    end
    if not jpg then fail("JPEG encode (" .. s.name .. "): " .. tostring(msg), "Image") end
    local key = M.cdn_key(base, s.name)
    M.put_object(ctx, f.cdn_s3_bucket, key, jpg, "image/jpeg")
    if s.name == "full" then f.cdn_s3_key = key else f["cdn_" .. s.name .. "_s3_key"] = key end
  end
  f.sha256 = assert(img:sha256())
  collectgarbage("step", 0)
  return f
end

function M.normalise(p, W, H)
  return { x = p.x / W, y = 1 - p.y / H }
end

function M.refinement_job_id(first_pass_job_id, rid)
  return ids.derived_uuid4(first_pass_job_id, "REFINEMENT", rid)
end

-- must(what, ok, msg, ...): the call goes last so all its results arrive
local function must(what, ok, msg)
  if not ok then error({ msg = what .. ": " .. tostring(msg), type = "Store" }, 0) end
  return ok
end

-- One receipt's rows in one store transaction: the Receipt and (PHOTO, SCAN)
-- its REFINEMENT OCRJob.  The queue message goes after the commit: a message
-- for a job that is not stored would be answered with "unknown job".
--
-- Re-processing: the job id is derived from the first-pass job id and the
-- receipt id, so a re-run finds the job it made before.  An existing job is
-- left as it is (the worker may have COMPLETED it); its message is sent again
-- only while the job is still PENDING -- a first run that died between the
-- commit and the send must not leave a job nobody will answer, and a
-- duplicate message is harmless (refinement is idempotent too).
function M.write_receipt(ctx, f, opts)
  opts = opts or {}
  local st = ctx.env.store
  local old = st:get("RECEIPT", { image_id = ctx.image_id, receipt_id = f.receipt_id })
  f.image_id = ctx.image_id
  f.timestamp_added = old and old.timestamp_added or ctx.now
  local job, job_new, send
  if opts.refine then
    local jid = M.refinement_job_id(ctx.job_id, f.receipt_id)
    local existing = st:get("OCR_JOB", { image_id = ctx.image_id, job_id = jid })
    if existing then
      job = existing
      send = existing.status == "PENDING"
    else
      job = {
        image_id = ctx.image_id, job_id = jid, s3_bucket = f.raw_s3_bucket, s3_key = f.raw_s3_key,
        created_at = ctx.now, updated_at = ctx.now, status = "PENDING", job_type = "REFINEMENT",
        receipt_id = f.receipt_id,
      }
      job_new, send = true, true
    end
  end
  must("receipt " .. f.receipt_id, st:transaction(function(b)
    must("RECEIPT " .. f.receipt_id, b:put("RECEIPT", f))
    if job_new then must("OCR_JOB " .. job.job_id, b:put("OCR_JOB", job, { condition = "not_exists" })) end
  end))
  ctx.rows = (ctx.rows or 0) + 1 + (job_new and 1 or 0)
  if send then
    local q = ctx.env:queue("ocr_jobs")
    local body = require("rcpt.json").encode({ job_id = job.job_id, image_id = ctx.image_id })
    must("ocr_jobs queue send", q:send(body))
    ctx.queued = ctx.queued or {}
    ctx.queued[#ctx.queued + 1] = job.job_id
  end
  local r = {
    receipt_id = f.receipt_id, width = f.width, height = f.height,
    corners = { top_left = f.top_left, top_right = f.top_right, bottom_right = f.bottom_right,
      bottom_left = f.bottom_left },
    raw_s3_key = f.raw_s3_key, refinement_job_id = job and job.job_id or nil,
  }
  ctx.receipts = ctx.receipts or {}
  ctx.receipts[#ctx.receipts + 1] = r
  return r
end

-- The Image row, written once the path knows its receipts (HEAD behaviour:
-- receipt_count set).  Plain put: an earlier write of the same image is
-- replaced, keeping its timestamp_added.
function M.write_image(ctx, f)
  local st = ctx.env.store
  local old = st:get("IMAGE", { image_id = ctx.image_id })
  f.image_id = ctx.image_id
  f.image_type = ctx.image_type
  f.receipt_count = #(ctx.receipts or {})
  f.timestamp_added = old and old.timestamp_added or ctx.now
  must("IMAGE", st:put("IMAGE", f))
  ctx.rows = (ctx.rows or 0) + 1
end

function M.skip(ctx, cluster, reason)
  ctx.skipped = ctx.skipped or {}
  ctx.skipped[#ctx.skipped + 1] = { cluster = cluster, reason = reason }
  log.warn("cluster skipped", { image_id = ctx.image_id, job_id = ctx.job_id, cluster = cluster,
    image_type = ctx.image_type, reason = reason })
end

-- A PHOTO or SCAN crop (already warped) becomes receipt `rid`: its corners
-- (PX, y down, TL/TR/BR/BL as seen) are stored normalised with y up like
-- every other Receipt (DESIGN.md; the original stored PHOTO's y-down).  A
-- quadrilateral whose top is not above its bottom cannot be stored that way:
-- the cluster is skipped (before any object is written).
function M.crop_receipt(ctx, rid, crop, px)
  local W, H = ctx.width, ctx.height
  if math.type(rid) ~= "integer" or rid < 1 then
    M.skip(ctx, rid, "cluster label " .. tostring(rid) .. " is not a valid receipt_id")
    return nil
  end
  local c = {}
  for i, name in ipairs({ "top_left", "top_right", "bottom_right", "bottom_left" }) do
    local p = px[i] or px[name]
    if not p or p.x ~= p.x or p.y ~= p.y then
      M.skip(ctx, rid, "corner " .. name .. " is not a number")
      return nil
    end
    c[name] = M.normalise(p, W, H)
  end
  if c.top_left.y < c.bottom_left.y or c.top_right.y < c.bottom_right.y then
    M.skip(ctx, rid, "corners upside down (top below bottom)")
    return nil
  end
  local f = M.upload(ctx, crop, rid)
  f.receipt_id = rid
  for k, v in pairs(c) do f[k] = v end
  return M.write_receipt(ctx, f, { refine = true })
end

-- The result of a PHOTO or SCAN warp (crop, or nil and the warp's message)
-- becomes receipt `rid` through crop_receipt, or the cluster is skipped; the
-- crop's pixels are freed even when writing the receipt raises.
function M.crop_warped(ctx, rid, what, px, crop, msg)
  if not crop then
    M.skip(ctx, rid, what .. ": " .. tostring(msg))
    return nil
  end
  local ok, res = pcall(M.crop_receipt, ctx, rid, crop, px)
  crop:close()
  if not ok then error(res, 0) end
  return res
end

-- now, for rows created by this run
function M.now() return store.now() end

return M
