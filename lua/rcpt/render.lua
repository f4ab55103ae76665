-- Pictures for debugging: an image with its OCR lines (coloured by cluster)
-- and its receipt quadrilaterals, or a receipt crop with its receipt-level
-- line and word boxes.  Everything is read from the stores.
--
--   local render = require("rcpt.render")
--   render.image(env, image_id[, {max_size=2000}]) -> img, info
--       info = {width=, height=, scale=, source="bucket/key"|nil, clusters=n, method=,
--               lines=n, receipts={ {receipt_id=, color=, quad={4 points}, label={x,y,w,h,text}} },
--               line_boxes={ {line_id=, color=, quad={4 points}} }}
--   render.receipt(env, image_id, receipt_id[, {max_size=}]) -> img, info
--   render.write(env, image_id[, {receipt=, out=, max_size=}]) -> path, info
--   render.clusters(lines, width, height, image_type) -> labels (per line), method
--
-- Coordinates (spec/ocr-geometry.md §1): lines and receipt corners are
-- Vision-normalised with y up (Receipt corners on every path, DESIGN.md),
-- receipt lines/words VN of the crop; pixels are (x*W, (1-y)*H).
local geom = require("rcpt.geom")
local image = require("rcpt.image")
local log = require("rcpt.log")

local M = {}

M.MAX_SIZE = 2000
-- well separated hues (cluster k uses PALETTE[(k-1) % #PALETTE + 1])
M.PALETTE = {
  { 230, 25, 75 }, { 60, 180, 75 }, { 0, 130, 200 }, { 245, 130, 48 }, { 145, 30, 180 },
  { 70, 200, 220 }, { 240, 50, 230 }, { 160, 200, 30 }, { 0, 128, 128 }, { 170, 110, 40 },
}
M.NOISE = { 128, 128, 128 }          -- lines in no cluster
M.RECEIPT = { 255, 200, 0 }          -- receipt quadrilaterals and their label boxes
M.LABEL_TEXT = { 0, 0, 0 }
M.RECEIPT_LINE = { 0, 130, 200 }
M.RECEIPT_WORD = { 230, 25, 75 }

local CORNERS = { "top_left", "top_right", "bottom_right", "bottom_left" }

local function query_all(st, ty, ids)
  local out, cursor = {}, nil
  repeat
    local page, nxt = st:query(ty, ids, { cursor = cursor })
    if not page then error({ type = "Store", msg = "cannot read " .. ty .. " rows: " .. tostring(nxt) }, 0) end
    for _, r in ipairs(page) do out[#out + 1] = r end
    cursor = nxt
  until not cursor
  return out
end

function M.color(label)
  if not label or label < 1 then return M.NOISE end
  return M.PALETTE[(label - 1) % #M.PALETTE + 1]
end

-- Cluster labels the way the first pass finds receipts (§7): PHOTO DBSCAN,
-- SCAN x-chaining merged by overlap, NATIVE one receipt.  labels[i] is the
-- 1-based position of line i's cluster in cluster order, or -1 (noise).
function M.clusters(lines, W, H, image_type)
  local labels = {}
  if #lines == 0 then return labels, "none" end
  if image_type ~= "PHOTO" and image_type ~= "SCAN" and image_type ~= "NATIVE" then
    image_type = geom.classify(lines, W, H)
  end
  local cs, method
  if image_type == "PHOTO" then
    cs = geom.dbscan(lines, geom.photo_eps(lines), 10)
    method = "dbscan"
  elseif image_type == "SCAN" then
    cs = geom.join_overlapping(lines, (geom.cluster_x(lines)), W, H)
    method = "x-chain"
  else
    for i = 1, #lines do labels[i] = 1 end
    return labels, "native"
  end
  for i = 1, #lines do labels[i] = -1 end
  local k = 0
  for _, c in ipairs(cs or {}) do
    if c.label ~= -1 then
      k = k + 1
      for _, idx in ipairs(c.lines) do labels[idx] = k end
    end
  end
  return labels, method
end

local function load_picture(env, bucket, key, opts)
  local o = env:objects(bucket)
  local bytes, msg = o:get(key)
  if not bytes then return nil, msg end
  local img, err = image.decode(bytes, { max_pixels = opts.max_pixels or env.settings and env.settings.max_pixels })
  if not img then return nil, err end
  if img:channels() ~= 3 then
    local rgb, cerr = img:convert(3)
    img:close()
    if not rgb then return nil, cerr end
    img = rgb
  end
  return img
end

-- the picture of the image: FIRST_PASS job's object, else the Image row's raw key
local function original(env, row, opts)
  local tried = {}
  local jobs = query_all(env.store, "OCR_JOB", { image_id = row.image_id })
  table.sort(jobs, function(a, b) return a.job_id < b.job_id end)
  local sources = {}
  for _, j in ipairs(jobs) do
    if j.job_type == "FIRST_PASS" then sources[#sources + 1] = { j.s3_bucket, j.s3_key } end
  end
  if row.raw_s3_bucket and row.raw_s3_key then sources[#sources + 1] = { row.raw_s3_bucket, row.raw_s3_key } end
  for _, s in ipairs(sources) do
    local img, msg = load_picture(env, s[1], s[2], opts)
    if img then return img, s[1] .. "/" .. s[2] end
    tried[#tried + 1] = s[1] .. "/" .. s[2] .. ": " .. tostring(msg)
  end
  return nil, table.concat(tried, "; ")
end

-- the picture scaled to fit max_size (never enlarged); a blank canvas of the
-- stored size when no picture can be read (the boxes are still worth seeing)
local function canvas(img, W, H, max_size, what, why)
  if not img then
    log.warn("render: no picture, drawing on a blank canvas", { what = what, error = why })
  end
  local w0, h0 = img and img:width() or W, img and img:height() or H
  local s = math.min(1, max_size / math.max(w0, h0))
  local w, h = math.max(1, geom.round(w0 * s)), math.max(1, geom.round(h0 * s))
  local out
  if not img then
    out = image.new(w, h, 3, { 235, 235, 235 })
  elseif w ~= w0 or h ~= h0 then
    out = assert(img:resize(w, h))
    img:close()
  else
    out = img
  end
  return out, w, h, s
end

local function quad_px(r, w, h)
  local q = {}
  for i, n in ipairs(CORNERS) do q[i] = { x = r[n].x * w, y = (1 - r[n].y) * h } end
  return q
end

local function stroke(w, h)
  return math.max(1, geom.round(math.max(w, h) / 1000))
end

-- a label: text in the 5x7 font on a filled box, kept inside the picture
local function label(img, x, y, text, scale, bg, fg)
  local tw, th = (#text * 6 - 1) * scale, 7 * scale
  local pad = scale
  local bw, bh = tw + 2 * pad, th + 2 * pad
  local W, H = img:width(), img:height()
  x = math.max(0, math.min(W - bw, math.floor(x)))
  y = math.max(0, math.min(H - bh, math.floor(y)))
  img:fill_rect(x, y, bw, bh, bg)
  img:draw_text(x + pad, y + pad, text, fg, scale)
  return { x = x, y = y, w = bw, h = bh, text = text }
end

function M.image(env, image_id, opts)
  opts = opts or {}
  local st = env.store
  local row, msg = st:get("IMAGE", { image_id = image_id })
  if not row then error({ type = "NotFound", msg = "image " .. tostring(image_id) .. ": " .. tostring(msg) }, 0) end
  local pic, source = original(env, row, opts)
  local img, w, h, s = canvas(pic, row.width, row.height, opts.max_size or M.MAX_SIZE, "image " .. image_id, source)
  local info = { width = w, height = h, scale = s, source = pic and source or nil, receipts = {}, line_boxes = {} }
  local lines = query_all(st, "LINE", { image_id = image_id })
  table.sort(lines, function(a, b) return a.line_id < b.line_id end)
  local labels, method = M.clusters(lines, row.width, row.height, row.image_type)
  local n = 0
  for _, l in ipairs(labels) do n = math.max(n, l) end
  info.clusters, info.method, info.lines = n, method, #lines
  local lw = stroke(w, h)
  -- translucent fills first, outlines after: an outline keeps its exact colour
  for i, l in ipairs(lines) do
    local c = M.color(labels[i])
    local q = quad_px(l, w, h)
    info.line_boxes[i] = { line_id = l.line_id, color = c, quad = q, label = labels[i] }
    img:draw_polygon(q, { fill = { c[1], c[2], c[3], 50 }, width = 0 })
  end
  for _, b in ipairs(info.line_boxes) do img:draw_polygon(b.quad, { color = b.color, width = lw }) end
  local receipts = query_all(st, "RECEIPT", { image_id = image_id })
  table.sort(receipts, function(a, b) return a.receipt_id < b.receipt_id end)
  local ts = math.max(1, geom.round(math.max(w, h) / 400))
  for _, r in ipairs(receipts) do
    local q = quad_px(r, w, h)
    img:draw_polygon(q, { color = M.RECEIPT, width = lw * 3 })
  end
  for _, r in ipairs(receipts) do
    local q = quad_px(r, w, h)
    -- the label sits above the receipt's top-left corner (inside the picture)
    local lab = label(img, q[1].x, q[1].y - 9 * ts - lw * 3, "RECEIPT " .. r.receipt_id, ts, M.RECEIPT, M.LABEL_TEXT)
    info.receipts[#info.receipts + 1] = { receipt_id = r.receipt_id, color = M.RECEIPT, quad = q, label = lab }
  end
  return img, info
end

function M.receipt(env, image_id, receipt_id, opts)
  opts = opts or {}
  local st = env.store
  local r, msg = st:get("RECEIPT", { image_id = image_id, receipt_id = receipt_id })
  if not r then
    error({ type = "NotFound", msg = string.format("receipt %s of image %s: %s", tostring(receipt_id),
      tostring(image_id), tostring(msg)) }, 0)
  end
  local pic, why
  if r.raw_s3_bucket and r.raw_s3_key then
    pic, why = load_picture(env, r.raw_s3_bucket, r.raw_s3_key, opts)
  end
  local what = string.format("receipt %d of image %s", receipt_id, image_id)
  local img, w, h, s = canvas(pic, r.width, r.height, opts.max_size or M.MAX_SIZE, what, why)
  local info = { width = w, height = h, scale = s, receipt_id = receipt_id, line_boxes = {}, word_boxes = {},
    source = pic and (r.raw_s3_bucket .. "/" .. r.raw_s3_key) or nil }
  local ids = { image_id = image_id, receipt_id = receipt_id }
  local lines = query_all(st, "RECEIPT_LINE", ids)
  local words = query_all(st, "RECEIPT_WORD", ids)
  local lw = stroke(w, h)
  for _, wd in ipairs(words) do
    local q = quad_px(wd, w, h)
    info.word_boxes[#info.word_boxes + 1] = { line_id = wd.line_id, word_id = wd.word_id, quad = q }
    img:draw_polygon(q, { color = M.RECEIPT_WORD, width = lw })
  end
  for _, l in ipairs(lines) do
    local q = quad_px(l, w, h)
    info.line_boxes[#info.line_boxes + 1] = { line_id = l.line_id, quad = q }
    -- the line box a little outside the words, so both stay visible
    local pad = lw
    local p = { { x = q[1].x - pad, y = q[1].y - pad }, { x = q[2].x + pad, y = q[2].y - pad },
      { x = q[3].x + pad, y = q[3].y + pad }, { x = q[4].x - pad, y = q[4].y + pad } }
    img:draw_polygon(p, { color = M.RECEIPT_LINE, width = lw })
  end
  return img, info
end

-- default file name: <image_id>.png or <image_id>_RECEIPT_<rid:05d>.png (the
-- raw key's naming) in the current folder
function M.default_path(image_id, receipt_id)
  if receipt_id then return string.format("%s_RECEIPT_%05d.png", image_id, receipt_id) end
  return image_id .. ".png"
end

function M.write(env, image_id, opts)
  opts = opts or {}
  local img, info
  if opts.receipt then
    img, info = M.receipt(env, image_id, opts.receipt, opts)
  else
    img, info = M.image(env, image_id, opts)
  end
  local png, msg = img:encode_png()
  img:close()
  if not png then error({ type = "Image", msg = "cannot encode the picture: " .. tostring(msg) }, 0) end
  local path = opts.out or M.default_path(image_id, opts.receipt)
  local f, ferr = io.open(path, "wb")
  if not f then error({ type = "IO", msg = "cannot write " .. path .. ": " .. tostring(ferr) }, 0) end
  f:write(png)
  f:close()
  return path, info
end

return M
