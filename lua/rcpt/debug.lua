-- Debugging helpers: what is stored for an image.  `rcpt repl` installs the
-- public functions as globals (lua/rcpt/repl.lua looks for rcpt.debug);
-- `rcpt ingest` builds its summary with inspect().
--
--   receipt(image_id[, opts]) -> table      prints and returns what is stored
--   images([n[, opts]]) -> { {image_id, image_type, width, height, receipt_count,
--                             timestamp_added}, ... }   the n (20) most recent
--   opts = { env = an rcpt.env } | { store = URL, objects = URL }; by default the
--   configured environment (RCPT_STORE / RCPT_OBJECTS / ./.rcpt/), opened once.
--
--   M.inspect(env, image_id) -> table (no printing):
--     { image_id, image = Image row | nil,
--       counts = { LINE = n, WORD = n, LETTER = n, RECEIPT = n, RECEIPT_LINE = n, ... , total = n },
--       receipts = { {receipt_id, width, height, corners = {top_left, top_right,
--                     bottom_right, bottom_left}, lines, words, letters, raw_s3_key}, ... },
--       jobs = { {job_id, job_type, status, receipt_id, s3_bucket, s3_key}, ... },
--       decisions = { {job_id, status, receipt_count, failure_reason, skipped_clusters,
--                      s3_bucket, s3_key}, ... },
--       objects = { {bucket, key, size | nil (missing)}, ... }, missing = n }
local M = {}

-- every raw item of the image's partition, page by page (a large image has
-- tens of thousands: only the current page is held)
local function each_row(st, image_id, fn)
  local cursor
  repeat
    local page, next_cursor = st:query_index("TABLE", "IMAGE#" .. image_id,
      { raw = true, cursor = cursor, limit = 500 })
    if not page then error("query IMAGE#" .. image_id .. ": " .. tostring(next_cursor), 0) end
    for _, it in ipairs(page) do fn(it) end
    cursor = next_cursor
  until not cursor
end

local function list(st, type_, ids)
  local out, cursor = {}, nil
  repeat
    local page, nc = st:query(type_, ids, { cursor = cursor })
    if not page then error("query " .. type_ .. ": " .. tostring(nc), 0) end
    for _, e in ipairs(page) do out[#out + 1] = e end
    cursor = nc
  until not cursor
  return out
end

local CDN_FIELDS = { "cdn_s3_key", "cdn_thumbnail_s3_key", "cdn_small_s3_key", "cdn_medium_s3_key" }

function M.inspect(env, image_id)
  local st = env.store
  local t = { image_id = image_id, counts = { total = 0 }, receipts = {}, jobs = {}, decisions = {},
    objects = {}, missing = 0 }
  -- counts by TYPE, and per receipt (the receipt id is the second SK part)
  local per_receipt = {}
  each_row(st, image_id, function(it)
    local ty = it.TYPE and it.TYPE.S or "?"
    t.counts[ty] = (t.counts[ty] or 0) + 1
    t.counts.total = t.counts.total + 1
    local rid = it.SK.S:match("^RECEIPT#(%d+)#")
    if rid and ty:match("^RECEIPT_") then
      rid = tonumber(rid)
      per_receipt[rid] = per_receipt[rid] or { RECEIPT_LINE = 0, RECEIPT_WORD = 0, RECEIPT_LETTER = 0 }
      if per_receipt[rid][ty] then per_receipt[rid][ty] = per_receipt[rid][ty] + 1 end
    end
  end)
  t.image = st:get("IMAGE", { image_id = image_id })
  local objects = {}
  local function want(bucket, key)
    if bucket and key then objects[#objects + 1] = { bucket = bucket, key = key } end
  end
  local function want_cdn(row)
    want(row.raw_s3_bucket, row.raw_s3_key)
    for _, f in ipairs(CDN_FIELDS) do want(row.cdn_s3_bucket, row[f]) end
  end
  if t.image then want_cdn(t.image) end
  for _, r in ipairs(list(st, "RECEIPT", { image_id = image_id })) do
    local c = per_receipt[r.receipt_id] or {}
    t.receipts[#t.receipts + 1] = {
      receipt_id = r.receipt_id, width = r.width, height = r.height, raw_s3_key = r.raw_s3_key,
      corners = { top_left = r.top_left, top_right = r.top_right, bottom_right = r.bottom_right,
        bottom_left = r.bottom_left },
      lines = c.RECEIPT_LINE or 0, words = c.RECEIPT_WORD or 0, letters = c.RECEIPT_LETTER or 0,
      sha256 = r.sha256,
    }
    want_cdn(r)
  end
  for _, j in ipairs(list(st, "OCR_JOB", { image_id = image_id })) do
    t.jobs[#t.jobs + 1] = { job_id = j.job_id, job_type = j.job_type, status = j.status,
      receipt_id = j.receipt_id, s3_bucket = j.s3_bucket, s3_key = j.s3_key, created_at = j.created_at }
    want(j.s3_bucket, j.s3_key)
  end
  table.sort(t.jobs, function(a, b)
    if a.job_type ~= b.job_type then return a.job_type < b.job_type end
    return (a.receipt_id or 0) < (b.receipt_id or 0)
  end)
  for _, d in ipairs(list(st, "OCR_ROUTING_DECISION", { image_id = image_id })) do
    t.decisions[#t.decisions + 1] = { job_id = d.job_id, status = d.status, receipt_count = d.receipt_count,
      failure_reason = d.failure_reason, skipped_clusters = d.skipped_clusters, s3_bucket = d.s3_bucket,
      s3_key = d.s3_key, updated_at = d.updated_at }
    want(d.s3_bucket, d.s3_key)
  end
  local seen = {}
  for _, o in ipairs(objects) do
    local id = o.bucket .. "/" .. o.key
    if not seen[id] then
      seen[id] = true
      local ok, h = pcall(function() return env:objects(o.bucket):head(o.key) end)
      o.size = ok and h and h.size or nil
      if not o.size then t.missing = t.missing + 1 end
      t.objects[#t.objects + 1] = o
    end
  end
  return t
end

-- the environment the REPL helpers use
local default_env
local function env_of(opts)
  opts = opts or {}
  if opts.env then return opts.env end
  if opts.store or opts.objects then return require("rcpt.env").open(opts) end
  if not default_env then default_env = require("rcpt.env").open() end
  return default_env
end

local function pt(p) return p and string.format("(%.4f, %.4f)", p.x, p.y) or "?" end

-- format(t) -> the text receipt() prints
function M.format(t)
  local out = {}
  local function say(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
  local im = t.image
  if im then
    say("image %s  %s  %dx%d  receipts %s  added %s", t.image_id, im.image_type, im.width, im.height,
      tostring(im.receipt_count), tostring(im.timestamp_added))
    say("  raw %s/%s  sha256 %s", im.raw_s3_bucket, im.raw_s3_key, (im.sha256 or "-"):sub(1, 16))
  else
    say("image %s  (no Image row)", t.image_id)
  end
  local c = t.counts
  say("  rows: %d lines, %d words, %d letters; %d receipts; %d receipt lines, %d words, %d letters; %d total",
    c.LINE or 0, c.WORD or 0, c.LETTER or 0, c.RECEIPT or 0, c.RECEIPT_LINE or 0, c.RECEIPT_WORD or 0,
    c.RECEIPT_LETTER or 0, c.total)
  for _, r in ipairs(t.receipts) do
    local k = r.corners
    say("  receipt %d  %dx%d  TL %s TR %s BR %s BL %s", r.receipt_id, r.width, r.height, pt(k.top_left),
      pt(k.top_right), pt(k.bottom_right), pt(k.bottom_left))
    say("    %d lines, %d words, %d letters  raw %s", r.lines, r.words, r.letters, r.raw_s3_key)
  end
  for _, j in ipairs(t.jobs) do
    say("  job %s  %-10s %-9s%s  %s/%s", j.job_id, j.job_type, j.status,
      j.receipt_id and (" receipt " .. j.receipt_id) or "", j.s3_bucket, j.s3_key)
  end
  for _, d in ipairs(t.decisions) do
    say("  routing %s  %-9s count %d  %s/%s", d.job_id, d.status, d.receipt_count or 0, d.s3_bucket, d.s3_key)
    if d.failure_reason then say("    failure: %s", d.failure_reason) end
    if d.skipped_clusters then say("    skipped clusters: %s", d.skipped_clusters) end
  end
  local present = #t.objects - t.missing
  say("  objects: %d present, %d missing", present, t.missing)
  for _, o in ipairs(t.objects) do
    say("    %-8s %s/%s", o.size and tostring(o.size) or "MISSING", o.bucket, o.key)
  end
  return table.concat(out, "\n")
end

function M.receipt(image_id, opts)
  if type(image_id) ~= "string" then error("receipt(image_id): image_id must be a string", 2) end
  local t = M.inspect(env_of(opts), image_id)
  print(M.format(t))
  return t
end

function M.images(n, opts)
  n = n or 20
  local env = env_of(opts)
  local rows, cursor, all = nil, nil, {}
  repeat
    rows, cursor = env.store:query_index("GSITYPE", "IMAGE", { cursor = cursor })
    if not rows then error("query images: " .. tostring(cursor), 0) end
    for _, r in ipairs(rows) do all[#all + 1] = r end
  until not cursor
  table.sort(all, function(a, b)
    if a.timestamp_added ~= b.timestamp_added then return (a.timestamp_added or "") > (b.timestamp_added or "") end
    return a.image_id < b.image_id
  end)
  local out = {}
  for i = 1, math.min(n, #all) do
    local r = all[i]
    out[i] = { image_id = r.image_id, image_type = r.image_type, width = r.width, height = r.height,
      receipt_count = r.receipt_count, timestamp_added = r.timestamp_added }
    print(string.format("%s  %-6s %5dx%-5d receipts %-3s %s", r.image_id, r.image_type, r.width, r.height,
      tostring(r.receipt_count), tostring(r.timestamp_added)))
  end
  if #all > n then print(string.format("(%d more)", #all - n)) end
  return out
end

-- what `rcpt repl` installs as globals
local api = { receipt = M.receipt, images = M.images }
return setmetatable(api, { __index = M })
