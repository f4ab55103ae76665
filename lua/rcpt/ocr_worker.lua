-- The local refinement worker: answers REFINEMENT OCR jobs without Vision by
-- reprojecting the first pass's lines, words and letters that fall inside a
-- receipt into the receipt crop's own normalised space (spec/ocr-geometry.md
-- §1 space 3), written as a Vision-format OCR JSON (§2.2, HEAD geometry §2.4).
-- The Mac Vision worker stays the production path on the same queue; see
-- docs/ocr-worker.md for what differs.
--
--   local worker = require("rcpt.ocr_worker")
--   worker.answer(env, job) -> ocr_json, info          (raises {type=, msg=} on bad input)
--       info = {receipt_id=, lines=, words=, letters=, lines_total=, transform="perspective"|"affine"}
--   worker.drain(env[, opts]) -> {processed=, failed=, skipped=, rejected=, results={...}}
--       opts: visibility (s, default 300), batch (1..10, default 10),
--             max_receives (default 5: a message seen that often is dropped with an error log),
--             process (function(env, body) -> result; default rcpt.ocr_job.process),
--             progress (function(line)) for human progress lines
--   worker.result_key(job) -> "ocr_results/<stem>-<job_id>.json" (§2.3)
--
-- Spaces (§1): first-pass rows are Vision-normalised (VN, y up) in the original
-- image; Receipt corners are VN of the original image too (DESIGN.md: y up on
-- every path); the crop was warped so that TL, TR, BR, BL land on crop pixels
-- (0,0), (w-1,0), (w-1,h-1), (0,h-1) -- the warp evaluates the mapping at
-- pixel centres, so those are continuous crop coordinates, and a continuous
-- crop point (u, v) is VN (u/w, 1 - v/h) of the crop.
local geom = require("rcpt.geom")
local json = require("rcpt.json")
local log = require("rcpt.log")
local store = require("rcpt.store")

local M = {}

local CORNERS = { "top_left", "top_right", "bottom_right", "bottom_left" }

local function fail(msg, field, ty)
  error({ type = ty or "InvalidInput", msg = msg, field = field }, 0)
end

local function query_all(st, ty, ids)
  local out, cursor = {}, nil
  repeat
    local page, nxt = st:query(ty, ids, { cursor = cursor })
    if not page then fail("cannot read " .. ty .. " rows: " .. tostring(nxt), nil, "Store") end
    for _, r in ipairs(page) do out[#out + 1] = r end
    cursor = nxt
  until not cursor
  return out
end
M.query_all = query_all

-- ---------------------------------------------------------------------------
-- The mapping original pixels -> crop pixels

local function point_of(t, field)
  if type(t) ~= "table" or type(t.x) ~= "number" or type(t.y) ~= "number" then
    fail("must be a point {x, y} of numbers", field)
  end
  return t
end

-- Receipt corners (VN of the original, y up) -> pixels (y down), TL TR BR BL.
function M.receipt_quad_px(receipt, W, H)
  local q = {}
  for i, name in ipairs(CORNERS) do
    local p = point_of(receipt[name], string.format("RECEIPT#%05d.%s", math.tointeger(receipt.receipt_id) or 0, name))
    q[i] = { x = p.x * W, y = (1 - p.y) * H }
  end
  return q
end

local function crop_quad(w, h)
  return { { x = 0, y = 0 }, { x = w - 1, y = 0 }, { x = w - 1, y = h - 1 }, { x = 0, y = h - 1 } }
end

-- to_crop(X, Y) -> u, v for the receipt.  SCAN crops are affine: the warp used
-- TL, TR and BL only (§8.3 e), so the same three points define the mapping
-- here; every other path (PHOTO) is the 4-point perspective of §8.2 l.
function M.mapping(receipt, W, H, image_type)
  local w, h = receipt.width, receipt.height
  local rid = string.format("%05d", math.tointeger(receipt.receipt_id) or 0)
  if math.type(w) ~= "integer" or math.type(h) ~= "integer" or w < 1 or h < 1 then
    fail("width and height must be positive integers", "RECEIPT#" .. rid)
  end
  local P = M.receipt_quad_px(receipt, W, H)
  -- every image of a rectangle under a perspective or affine map is a convex
  -- quadrilateral; the solver's own check (|cross| < 1e-10) cannot see
  -- collinear corners once they went through the 18-decimal storage format
  local scale = 0
  for i = 1, 4 do
    local a, b = P[i], P[i % 4 + 1]
    scale = scale + math.abs(b.x - a.x) + math.abs(b.y - a.y)
  end
  local sign = 0
  for i = 1, 4 do
    local a, b, c = P[i], P[i % 4 + 1], P[(i + 1) % 4 + 1]
    local cr = (b.x - a.x) * (c.y - b.y) - (b.y - a.y) * (c.x - b.x)
    local sg = cr > 1e-9 * scale * scale and 1 or cr < -1e-9 * scale * scale and -1 or 0
    if sg == 0 or (sign ~= 0 and sg ~= sign) then
      fail("corners do not form a convex quadrilateral", "RECEIPT#" .. rid)
    end
    sign = sg
  end
  if image_type == "SCAN" then
    local tl, tr, bl = P[1], P[2], P[4]
    local a = w > 1 and (tr.x - tl.x) / (w - 1) or 0
    local d = w > 1 and (tr.y - tl.y) / (w - 1) or 0
    local b = h > 1 and (bl.x - tl.x) / (h - 1) or 0
    local e = h > 1 and (bl.y - tl.y) / (h - 1) or 0
    local inv, msg = geom.invert_affine(a, b, tl.x, d, e, tl.y)
    if not inv then fail("corners give a singular affine map: " .. tostring(msg), "RECEIPT#" .. rid) end
    return function(X, Y)
      return inv[1] * X + inv[2] * Y + inv[3], inv[4] * X + inv[5] * Y + inv[6]
    end, P, "affine"
  end
  -- perspective_coeffs(src, dst) maps dst -> src: src = crop, dst = original
  local k, msg = geom.perspective_coeffs(crop_quad(w, h), P)
  if not k then fail("corners give no perspective map: " .. tostring(msg), "RECEIPT#" .. rid) end
  return function(X, Y)
    local den = k[7] * X + k[8] * Y + 1
    return (k[1] * X + k[2] * Y + k[3]) / den, (k[4] * X + k[5] * Y + k[6]) / den
  end, P, "perspective"
end

-- ray casting; the quadrilateral need not be convex
function M.inside(poly, x, y)
  local inside = false
  local j = #poly
  for i = 1, #poly do
    local a, b = poly[i], poly[j]
    if (a.y > y) ~= (b.y > y) and x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x then
      inside = not inside
    end
    j = i
  end
  return inside
end

-- ---------------------------------------------------------------------------
-- Reprojection of one record

local function centroid_px(r, W, H)
  local x, y = 0, 0
  for _, n in ipairs(CORNERS) do
    x, y = x + r[n].x, y + r[n].y
  end
  return x / 4 * W, (1 - y / 4) * H
end

-- the record's corners in crop VN, its envelope and baseline angle
local function reproject(r, to_crop, W, H, w, h, where)
  local out = { text = r.text, confidence = r.confidence }
  local x0, y0, x1, y1 = math.huge, math.huge, -math.huge, -math.huge
  for _, n in ipairs(CORNERS) do
    local p = point_of(r[n], where .. "." .. n)
    local u, v = to_crop(p.x * W, (1 - p.y) * H)
    local q = { x = u / w, y = 1 - v / h }
    if q.x ~= q.x or q.y ~= q.y or math.abs(q.x) == math.huge or math.abs(q.y) == math.huge then
      fail("does not map into the crop (point at infinity)", where .. "." .. n)
    end
    out[n] = q
    x0, y0 = math.min(x0, q.x), math.min(y0, q.y)
    x1, y1 = math.max(x1, q.x), math.max(y1, q.y)
  end
  out.bounding_box = { x = x0, y = y0, width = x1 - x0, height = y1 - y0 }
  return out
end

-- HEAD (§2.4): atan2((BR.y-BL.y)*H, (BR.x-BL.x)*W) on the crop, in degrees
local function set_angle(t, deg)
  t.angle_degrees = deg
  t.angle_radians = deg * math.pi / 180
end

local function baseline_angle(r, w, h)
  return math.deg(math.atan((r.bottom_right.y - r.bottom_left.y) * h, (r.bottom_right.x - r.bottom_left.x) * w))
end

-- ---------------------------------------------------------------------------

-- answer(env, job) -> ocr_json, info.  job: an OCR_JOB entity (REFINEMENT).
function M.answer(env, job)
  local st = env.store
  if type(job) ~= "table" then fail("job must be an OCR_JOB table") end
  local where = "OCR_JOB#" .. tostring(job.job_id)
  if job.job_type ~= "REFINEMENT" then
    fail("the local worker answers REFINEMENT jobs only, not " .. tostring(job.job_type), where .. ".job_type")
  end
  if math.type(job.receipt_id) ~= "integer" then fail("must be set for a REFINEMENT job", where .. ".receipt_id") end
  local image_id, rid = job.image_id, job.receipt_id
  local img, msg = st:get("IMAGE", { image_id = image_id })
  if not img then fail("image " .. tostring(image_id) .. ": " .. tostring(msg), "IMAGE", "NotFound") end
  local W, H = img.width, img.height
  local receipt
  receipt, msg = st:get("RECEIPT", { image_id = image_id, receipt_id = rid })
  if not receipt then
    fail(string.format("receipt %d of image %s: %s", rid, image_id, tostring(msg)), "RECEIPT", "NotFound")
  end
  local w, h = receipt.width, receipt.height
  local to_crop, quad, kind = M.mapping(receipt, W, H, img.image_type)

  local lines = query_all(st, "LINE", { image_id = image_id })
  local words = query_all(st, "WORD", { image_id = image_id })
  local letters = query_all(st, "LETTER", { image_id = image_id })
  local words_of, letters_of = {}, {}
  for _, wd in ipairs(words) do
    local t = words_of[wd.line_id] or {}
    words_of[wd.line_id] = t
    t[#t + 1] = wd
  end
  for _, lt in ipairs(letters) do
    local key = lt.line_id .. "/" .. lt.word_id
    local t = letters_of[key] or {}
    letters_of[key] = t
    t[#t + 1] = lt
  end
  local by_id = function(field) return function(a, b) return a[field] < b[field] end end

  local kept, n_words, n_letters = {}, 0, 0
  for _, ln in ipairs(lines) do
    local cx, cy = centroid_px(ln, W, H)
    if M.inside(quad, cx, cy) then
      local lw = "LINE#" .. string.format("%05d", ln.line_id)
      local out = reproject(ln, to_crop, W, H, w, h, lw)
      local deg = baseline_angle(out, w, h)
      set_angle(out, deg)
      local ws = words_of[ln.line_id] or {}
      table.sort(ws, by_id("word_id"))
      out.words = json.array()
      for _, wd in ipairs(ws) do
        local ww = string.format("%s#WORD#%05d", lw, wd.word_id)
        local wo = reproject(wd, to_crop, W, H, w, h, ww)
        set_angle(wo, deg) -- HEAD reuses the line's angle for its words and letters
        if wd.extracted_data then
          wo.extracted_data = { type = wd.extracted_data.type, value = wd.extracted_data.value }
        end
        local ls = letters_of[ln.line_id .. "/" .. wd.word_id] or {}
        table.sort(ls, by_id("letter_id"))
        wo.letters = json.array()
        for _, lt in ipairs(ls) do
          local lo = reproject(lt, to_crop, W, H, w, h, string.format("%s#LETTER#%05d", ww, lt.letter_id))
          set_angle(lo, deg)
          wo.letters[#wo.letters + 1] = lo
        end
        n_letters = n_letters + #ls
        out.words[#out.words + 1] = wo
      end
      n_words = n_words + #ws
      local c = 0
      for _, n in ipairs(CORNERS) do c = c + out[n].y end
      kept[#kept + 1] = { line = out, cy = c / 4, cx = out.bounding_box.x, id = ln.line_id }
    end
  end
  -- reading order: top of the crop first (VN y up: larger y first); ties by x, then id
  table.sort(kept, function(a, b)
    if a.cy ~= b.cy then return a.cy > b.cy end
    if a.cx ~= b.cx then return a.cx < b.cx end
    return a.id < b.id
  end)
  local doc = { lines = json.array() }
  for i, k in ipairs(kept) do doc.lines[i] = k.line end
  return json.encode(doc), { image_id = image_id, receipt_id = rid, lines = #kept, words = n_words,
    letters = n_letters, lines_total = #lines, transform = kind, width = w, height = h }
end

-- §2.3: the Swift worker's name for the result of a job's image
function M.result_key(job)
  local base = tostring(job.s3_key):match("([^/]*)$")
  local stem = base:match("^(.*)%.[^.]*$") or base
  if stem == "" then stem = string.format("%s_RECEIPT_%05d", job.image_id, job.receipt_id or 0) end
  return "ocr_results/" .. stem .. "-" .. job.job_id .. ".json"
end

-- ---------------------------------------------------------------------------
-- The queue loop

local function default_process(env, body)
  return require("rcpt.ocr_job").process(env, body)
end

local function errmsg(e)
  if type(e) == "table" then
    local m = e.msg or e.message or "error"
    if e.field then m = e.field .. ": " .. m end
    return m
  end
  return tostring(e)
end

-- Answers one job and writes what the Swift worker writes (§9.1 step 2):
-- the JSON, a PENDING routing decision, the job COMPLETED.
function M.complete(env, job)
  local text, info = M.answer(env, job)
  local bucket, key = job.s3_bucket, M.result_key(job)
  local ok, msg = env:objects(bucket):put(key, text, { content_type = "application/json" })
  if not ok then fail("cannot write " .. bucket .. "/" .. key .. ": " .. tostring(msg), nil, "Objects") end
  local st = env.store
  local now = store.now()
  local ids = { image_id = job.image_id, job_id = job.job_id }
  -- a re-answered job keeps its decision's creation time
  local prev = st:get("OCR_ROUTING_DECISION", ids)
  ok, msg = st:put("OCR_ROUTING_DECISION", { image_id = job.image_id, job_id = job.job_id, s3_bucket = bucket,
    s3_key = key, created_at = prev and prev.created_at or now, updated_at = now, receipt_count = 0,
    status = "PENDING" })
  if not ok then fail("cannot write the routing decision: " .. tostring(msg), "OCR_ROUTING_DECISION", "Store") end
  -- like the Swift worker's UpdateItem: status and updated_at only
  ok, msg = st:update("OCR_JOB", ids, { status = "COMPLETED", updated_at = now })
  if not ok then fail("cannot mark the job COMPLETED: " .. tostring(msg), "OCR_JOB", "Store") end
  info.s3_bucket, info.s3_key = bucket, key
  return info
end

function M.drain(env, opts)
  opts = opts or {}
  local q = env:queue("ocr_jobs")
  local visibility = opts.visibility or 300
  local batch = opts.batch or 10
  local max_receives = opts.max_receives or 5
  local process = opts.process or default_process
  local progress = opts.progress or function() end
  local res = { processed = 0, failed = 0, skipped = 0, rejected = 0, results = {} }
  local seen = {}

  local function drop(m, why, fields)
    fields.error = why
    log.error("ocr job message dropped", fields)
    q:delete(m.receipt)
    res.rejected = res.rejected + 1
    res.results[#res.results + 1] = { message_id = m.id, success = false, error = why, dropped = true }
  end

  while true do
    local msgs, qerr = q:receive(batch, visibility)
    if not msgs then fail("cannot receive from the ocr_jobs queue: " .. tostring(qerr), nil, "Queue") end
    if #msgs == 0 then break end
    local fresh = 0
    for _, m in ipairs(msgs) do
      if not seen[m.id] then
        seen[m.id] = true
        fresh = fresh + 1
        local t0 = log.now_ms()
        local body = json.decode(m.body or "")
        local r = { message_id = m.id }
        if type(body) ~= "table" or type(body.job_id) ~= "string" or type(body.image_id) ~= "string" then
          drop(m, 'body: must be {"job_id", "image_id"}', { message_id = m.id })
        else
          r.job_id, r.image_id = body.job_id, body.image_id
          local fields = { image_id = body.image_id, job_id = body.job_id, message_id = m.id }
          local job, jmsg = env.store:get("OCR_JOB", { image_id = body.image_id, job_id = body.job_id })
          if not job then
            if (m.receive_count or 1) >= max_receives then
              drop(m, "OCR_JOB: " .. tostring(jmsg) .. " after " .. m.receive_count .. " receives", fields)
            else
              r.success, r.error = false, "OCR_JOB: " .. tostring(jmsg)
              res.failed = res.failed + 1
              res.results[#res.results + 1] = r
              fields.error = r.error
              log.warn("ocr job not found; left for redelivery", fields)
            end
          elseif job.job_type ~= "REFINEMENT" then
            -- first-pass jobs need real OCR: not this worker's (Vision's) work
            log.info("ocr job skipped: not a REFINEMENT job", { image_id = job.image_id, job_id = job.job_id,
              job_type = job.job_type })
            q:delete(m.receipt)
            res.skipped = res.skipped + 1
            r.success, r.skipped = true, true
            res.results[#res.results + 1] = r
          else
            local ok, info = pcall(M.complete, env, job)
            local result
            if ok then
              r.receipt_id, r.s3_bucket, r.s3_key, r.lines = info.receipt_id, info.s3_bucket, info.s3_key, info.lines
              local pok, pres = pcall(process, env, { job_id = job.job_id, image_id = job.image_id })
              if not pok then
                ok, info = false, pres
              elseif type(pres) == "table" and pres.success == false then
                ok, info = false, pres.error or "the OCR pipeline reported a failure"
              else
                result = pres
              end
            end
            fields.duration_ms = log.now_ms() - t0
            if ok then
              q:delete(m.receipt)
              res.processed = res.processed + 1
              r.success, r.result = true, result
              fields.receipt_id, fields.lines = r.receipt_id, r.lines
              log.info("refinement job answered", fields)
              progress(string.format("job %s: image %s receipt %d: %d lines -> %s", job.job_id, job.image_id,
                r.receipt_id, r.lines, r.s3_key))
            else
              r.success, r.error = false, errmsg(info)
              fields.error = r.error
              if (m.receive_count or 1) >= max_receives then
                drop(m, r.error .. " (after " .. m.receive_count .. " receives)", fields)
                r = nil
              else
                res.failed = res.failed + 1
                log.error("refinement job failed; left for redelivery", fields)
              end
              progress(string.format("job %s: FAILED: %s", job.job_id, errmsg(info)))
            end
            if r then res.results[#res.results + 1] = r end
          end
        end
      end
    end
    -- everything received was already handled in this drain (a short
    -- visibility timeout): stop rather than loop on our own failures
    if fresh == 0 then break end
  end
  return res
end

return M
