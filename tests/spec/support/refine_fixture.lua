-- The store state the first pass of a PHOTO or SCAN image leaves behind,
-- built directly (no pipeline): Image row, image-level Line/Word/Letter rows,
-- one Receipt per truth receipt of rcpt.synth (corners y-up normalised, as
-- DESIGN.md stores them), a REFINEMENT OCRJob and a message on "ocr_jobs"
-- per receipt, the original in the uploads bucket with its FIRST_PASS job.
local synth = require("rcpt.synth")
local ocr = require("rcpt.ocr")
local store = require("rcpt.store")
local geom = require("rcpt.geom")
local json = require("rcpt.json")
local support = require("support.env")

local M = {}

local cache = {}
-- synth results, generated once per spec file (the images are large)
function M.synth(kind)
  if not cache[kind] then
    if kind == "photo" then cache[kind] = synth.photo({ seed = 1 })
    elseif kind == "scan" then cache[kind] = synth.scan({ seed = 1 })
    else error("unknown kind " .. kind) end
  end
  return cache[kind]
end

function M.vn(p, W, H) return { x = p.x / W, y = 1 - p.y / H } end

-- opts: kind = "photo" | "scan"; crops = true puts the warped crop PNGs;
-- image_id; queue = false leaves the queue empty.
-- Returns { dir=, env=, image_id=, r= (synth result), jobs = {rid -> job}, receipts = {rid -> row} }
function M.build(opts)
  opts = opts or {}
  local kind = opts.kind or "photo"
  local r = M.synth(kind)
  local dir = support.tmpdir()
  local env = require("rcpt.env").open({ store = "sqlite:" .. dir .. "/s.db", objects = "file:" .. dir .. "/obj",
    getenv = function() return nil end })
  local st = env.store
  local IMG = opts.image_id or store.uuid4()
  local W, H = r.width, r.height
  local ts = "2025-10-24T12:00:00.123456+00:00"
  local ext = r.format == "jpeg" and "jpg" or "png"
  local up_key = "raw-receipts/" .. IMG .. "." .. ext
  assert(env:objects(env.bucket.uploads):put(up_key, r.image_bytes))
  assert(st:put("IMAGE", { image_id = IMG, width = W, height = H, timestamp_added = ts,
    raw_s3_bucket = env.bucket.raw, raw_s3_key = "raw/" .. IMG .. ".png", image_type = kind:upper(),
    receipt_count = #r.truth.receipts }))
  assert(st:put("OCR_JOB", { image_id = IMG, job_id = store.uuid4(), s3_bucket = env.bucket.uploads,
    s3_key = up_key, created_at = ts, status = "COMPLETED", job_type = "FIRST_PASS" }))
  local doc <close> = assert(ocr.parse(r.ocr_json))
  assert(st:put_ocr(IMG, doc))
  local out = { dir = dir, env = env, image_id = IMG, r = r, jobs = {}, receipts = {} }
  local img
  if opts.crops then img = assert(require("rcpt.image").decode(r.image_bytes)) end
  for rid, t in ipairs(r.truth.receipts) do
    local c = t.corners_px
    local w, h = geom.round(t.width), geom.round(t.height)
    local key = string.format("raw/%s_RECEIPT_%05d.png", IMG, rid)
    local row = { image_id = IMG, receipt_id = rid, width = w, height = h, timestamp_added = ts,
      raw_s3_bucket = env.bucket.raw, raw_s3_key = key,
      top_left = M.vn(c[1], W, H), top_right = M.vn(c[2], W, H),
      bottom_right = M.vn(c[3], W, H), bottom_left = M.vn(c[4], W, H) }
    assert(st:put("RECEIPT", row))
    out.receipts[rid] = assert(st:get("RECEIPT", { image_id = IMG, receipt_id = rid }))
    if img then
      local k = assert(geom.perspective_coeffs(c, M.crop_quad(w, h)))
      local crop <close> = assert(img:warp_perspective(w, h, k))
      assert(env:objects(env.bucket.raw):put(key, assert(crop:encode_png())))
    end
    local job = { image_id = IMG, job_id = store.uuid4(), s3_bucket = env.bucket.raw, s3_key = key,
      created_at = ts, updated_at = ts, status = "PENDING", job_type = "REFINEMENT", receipt_id = rid }
    assert(st:put("OCR_JOB", job))
    out.jobs[rid] = job
    if opts.queue ~= false then
      env:queue("ocr_jobs"):send(json.encode({ job_id = job.job_id, image_id = IMG }))
    end
  end
  if img then img:close() end
  return out
end

function M.crop_quad(w, h)
  return { { x = 0, y = 0 }, { x = w - 1, y = 0 }, { x = w - 1, y = h - 1 }, { x = 0, y = h - 1 } }
end

function M.close(f)
  if f and f.env then f.env:close() end
  if f then support.rmrf(f.dir) end
end

return M
