-- One OCR results message (spec/ocr-geometry.md §9.2; DESIGN.md Flow 1-2).
--
--   require("rcpt.ocr_job").process(env, body, context)
--     body = {job_id = uuid4, image_id = uuid4} (the SQS body, decoded)
--     -> { success = true, image_id, job_id, job_type, image_type, status = "COMPLETED",
--          receipt_count, receipt_ids = {...}, receipts = {{receipt_id, width, height,
--          corners, raw_s3_key, refinement_job_id}, ...}, skipped = {{cluster, reason}},
--          counts = {lines, words, letters}, rows, objects = {{bucket, key, bytes}},
--          queued = {job ids}, duration_ms }
--      | { success = false, error = "...", image_id, job_id, status = "FAILED" | nil, ... }
--     Raises only on a store that cannot be read at all (handler.lua turns it
--     into a failed record too).
--
-- Order: validate the body; load the OCRJob and OCRRoutingDecision (either
-- missing -> failure "unknown image_id/job_id", nothing written); read the OCR
-- JSON from the decision's bucket/key; parse and validate it (C); run the
-- pipeline stage of the job type (`first_pass` | `refinement`) over one ctx;
-- then the routing decision: COMPLETED with the receipt count, or FAILED with
-- the reason.  Then, for receipts whose own OCR rows are final (NATIVE
-- receipt 1, a REFINEMENT), the `after_receipt` stage (merchant resolution,
-- embeddings, deltas, CompactionRun: rcpt.merchant_embed).  A failure there
-- keeps the decision COMPLETED and the OCR rows and does NOT fail the record
-- (the seed: "don't fail the whole job"): it is logged and reported in the
-- result as merchant_error / embedding_error / compaction_error (the steps
-- record their own failures; an error escaping a step is reported as
-- embedding_error).
--
-- The routing decision carries two attributes the original did not have
-- (the reasons must survive the log): `failure_reason` (S, when FAILED) and
-- `skipped_clusters` (S, "<cluster>: <reason>; ..." when PHOTO/SCAN skipped a
-- cluster).  They are set with an UpdateItem after the full Put, so a later
-- successful run (a plain Put) drops them.
--
-- Idempotency: re-processing the same message writes the same rows.  Row keys
-- come from the ids; rows that exist keep their timestamps; the decision's
-- updated_at is kept when its status, count and reasons do not change; the
-- REFINEMENT jobs' ids are derived from the first-pass job id and the
-- receipt id (rcpt.assets), so no new job is queued under a new id.
local assets = require("rcpt.assets")
local json = require("rcpt.json")
local log = require("rcpt.log")
local ocr = require("rcpt.ocr")
local pipeline = require("rcpt.pipeline")
local testhook = require("rcpt.testhook")
local uuid = require("rcpt.uuid")

local M = {}

local STAGE = { FIRST_PASS = "first_pass", REFINEMENT = "refinement" }

local function clip(s, n)
  s = tostring(s)
  if #s > n then
    s = s:sub(1, n)
    -- never end inside a UTF-8 sequence: drop trailing continuation/lead bytes
    s = s:gsub("[\192-\255][\128-\191]*$", "")
    s = s .. "..."
  end
  return s
end

-- a value from the message for an error text: quoted, printable ASCII only
local function quote(v)
  return '"' .. clip(v, 60):gsub('[^\32-\126]', function(c) return string.format("\\x%02x", c:byte()) end)
    :gsub('"', '\\"') .. '"'
end

-- validate(body) -> true | nil, message naming the field
function M.validate(body)
  if type(body) ~= "table" then return nil, "body: must be a JSON object" end
  for _, k in ipairs({ "job_id", "image_id" }) do
    local v = body[k]
    if v == nil or v == json.null then return nil, "body." .. k .. ": is required" end
    if type(v) ~= "string" then return nil, "body." .. k .. ": must be a string, got " .. type(v) end
    if not uuid.is_uuid4(v) then
      return nil, "body." .. k .. ": must be a uuid4, got " .. quote(v)
    end
  end
  return true
end

-- store:get -> entity | nil (not found); other failures raise (the store is
-- broken: the record must be retried, not marked FAILED)
local function load(st, type_, ids)
  local e, msg, errname = st:get(type_, ids)
  if e then return e end
  if errname == "ENOTFOUND" then return nil end
  error({ msg = "reading " .. type_ .. ": " .. tostring(msg), type = "Store" }, 0)
end

local function skipped_text(skipped)
  if not skipped or #skipped == 0 then return nil end
  local parts = {}
  for i, s in ipairs(skipped) do parts[i] = tostring(s.cluster) .. ": " .. tostring(s.reason) end
  return table.concat(parts, "; ")
end

-- The routing decision's final state.  Returns true | nil, msg.
local function finish(ctx, status, count, reason)
  local st, d = ctx.env.store, ctx.decision
  local skipped = skipped_text(ctx.skipped)
  local same = d.status == status and d.receipt_count == count and d.failure_reason == reason
    and d.skipped_clusters == skipped
  local nd = {
    image_id = d.image_id, job_id = d.job_id, s3_bucket = d.s3_bucket, s3_key = d.s3_key,
    created_at = d.created_at, updated_at = same and d.updated_at or ctx.now,
    status = status, receipt_count = count,
  }
  testhook.point("decision:" .. status)
  local ok, msg = st:put("OCR_ROUTING_DECISION", nd)
  if not ok then return nil, msg end
  testhook.point("decision:" .. status .. ":done")
  local extra = {}
  if reason then extra.failure_reason = clip(reason, 2000) end
  if skipped then extra.skipped_clusters = clip(skipped, 4000) end
  if next(extra) then
    ok, msg = st:update("OCR_ROUTING_DECISION", { image_id = d.image_id, job_id = d.job_id }, extra)
    if not ok then return nil, msg end
  end
  return true
end

local function read_ocr(ctx)
  local d = ctx.decision
  local where = d.s3_bucket .. "/" .. d.s3_key
  local text, msg = ctx.env:objects(d.s3_bucket):get(d.s3_key)
  if not text then error({ msg = "OCR JSON " .. where .. ": " .. tostring(msg), type = "Objects" }, 0) end
  ctx.ocr_bytes = #text
  local doc
  doc, msg = ocr.parse(text)
  if not doc then error({ msg = "OCR JSON " .. where .. ": " .. tostring(msg), type = "InvalidInput" }, 0) end
  ctx.doc = doc
  local nl, nw, nt = doc:counts()
  ctx.counts = { lines = nl, words = nw, letters = nt }
end

local function run(ctx, pipe, stage)
  read_ocr(ctx)
  if stage == "first_pass" then
    ctx.lines, ctx.words = ctx.doc:lines(), ctx.doc:words()
  end
  pipeline.run_stage(pipe, stage, ctx)
end

-- the pixels go as soon as the stage is done; the OCR document stays for
-- the after_receipt stage (ctx.doc, ctx.lines, ctx.words) and goes at the end
local function release_image(ctx)
  if ctx.image then ctx.image:close() end
  ctx.image = nil
end

local function release(ctx)
  release_image(ctx)
  if ctx.doc then ctx.doc:close() end
  ctx.doc, ctx.lines, ctx.words = nil, nil, nil
end

local function result(ctx, t)
  t.image_id, t.job_id = ctx.image_id, ctx.job_id
  t.job_type = ctx.job and ctx.job.job_type
  t.image_type = ctx.image_type
  local rids = {}
  for i, r in ipairs(ctx.receipts or {}) do rids[i] = r.receipt_id end
  if ctx.job and ctx.job.job_type == "REFINEMENT" then rids = ctx.receipt_ids or {} end
  t.receipt_ids = json.array(rids)
  t.receipts = json.array(ctx.receipts or {})
  t.skipped = json.array(ctx.skipped or {})
  t.counts = ctx.counts
  t.rows = ctx.rows
  t.objects = json.array(ctx.objects or {})
  t.queued = json.array(ctx.queued or {})
  t.timings = ctx.timings and json.array(ctx.timings) or nil
  t.duration_ms = log.now_ms() - ctx.t0
  return t
end

function M.process(env, body, context)
  local t0 = log.now_ms()
  local ok, msg = M.validate(body)
  if not ok then
    return { success = false, error = msg,
      image_id = type(body) == "table" and type(body.image_id) == "string" and body.image_id or nil,
      job_id = type(body) == "table" and type(body.job_id) == "string" and body.job_id or nil }
  end
  local st = env.store
  local keys = { image_id = body.image_id, job_id = body.job_id }
  local ctx = {
    env = env, context = context, image_id = body.image_id, job_id = body.job_id, t0 = t0,
    now = assets.now(), rows = 0, objects = {}, receipts = {}, skipped = {}, queued = {},
  }
  ctx.job = load(st, "OCR_JOB", keys)
  ctx.decision = load(st, "OCR_ROUTING_DECISION", keys)
  if not ctx.job or not ctx.decision then
    local missing = not ctx.job and "no OCRJob" or "no OCRRoutingDecision"
    return result(ctx, { success = false,
      error = string.format("unknown image_id/job_id %s/%s: %s", body.image_id, body.job_id, missing) })
  end
  local stage = STAGE[ctx.job.job_type]
  if not stage then
    return result(ctx, { success = false, error = "OCR_JOB.job_type: unknown " .. tostring(ctx.job.job_type) })
  end
  if ctx.job.job_type == "REFINEMENT" then ctx.image_type = "REFINEMENT" end

  local pipe
  ok, msg = pcall(function()
    pipe = pipeline.load(env.settings and env.settings.pipeline)
    run(ctx, pipe, stage)
  end)
  release_image(ctx)
  if not ok then
    release(ctx)
    local reason = pipeline.message(msg)
    log.error("OCR job failed", { image_id = ctx.image_id, job_id = ctx.job_id, job_type = ctx.job.job_type,
      image_type = ctx.image_type, error = reason, duration_ms = log.now_ms() - t0 })
    local fok, fmsg = finish(ctx, "FAILED", 0, reason)
    if not fok then
      log.error("routing decision not updated", { image_id = ctx.image_id, job_id = ctx.job_id, error = fmsg })
    end
    return result(ctx, { success = false, status = "FAILED", error = reason })
  end

  local count = ctx.job.job_type == "REFINEMENT" and 1 or #ctx.receipts
  local fok, fmsg = finish(ctx, "COMPLETED", count, nil)
  if not fok then
    release(ctx)
    error({ msg = "routing decision not updated: " .. tostring(fmsg), type = "Store" }, 0)
  end
  local res = result(ctx, { success = true, status = "COMPLETED", receipt_count = count })

  if ctx.receipt_ids and #ctx.receipt_ids > 0 and pipe.after_receipt and #pipe.after_receipt > 0 then
    local aok, aerr = pcall(pipeline.run_stage, pipe, "after_receipt", ctx)
    if not aok then
      local msg = "after_receipt: " .. pipeline.message(aerr)
      ctx.embedding_error = ctx.embedding_error and (ctx.embedding_error .. "; " .. msg) or msg
      log.error("after_receipt failed (OCR rows kept)", { image_id = ctx.image_id, job_id = ctx.job_id,
        error = msg })
    end
    require("rcpt.merchant_embed").report(ctx, res)
  end
  release(ctx)
  log.info("OCR job done", { image_id = ctx.image_id, job_id = ctx.job_id, job_type = ctx.job.job_type,
    image_type = ctx.image_type, receipt_count = count, skipped = #ctx.skipped,
    duration_ms = log.now_ms() - t0 })
  return res
end

return M
