-- The older three-stage flow (spec §1 B, §6.8), both ends:
--
--   export(ctx, item)             the export_ndjson step: NDJSON objects + the queue message
--   process(env, body, context)   one embed message -> merchant + embeddings
--     body = {image_id, receipt_id, artifacts_bucket, lines_key, words_key}
--     -> { success, image_id, receipt_id, merchant = {...}, merchant_error?,
--          embedding_error?, compaction_error?, error? }
--   drain(env[, opts]) -> {processed, failed, results}   the local consumer
--     (rcpt ingest and `rcpt embed-worker` call it; on AWS the queue is the
--     embed Lambda's event source and handler.lua calls process)
--
-- process reads the two NDJSON objects, rebuilds the rows, and runs the
-- pipeline's `embed_ndjson` stage (legacy.lua: enable_places,
-- resolve_merchant, embed_receipt, write_deltas, compact_local; the same
-- steps the default pipeline runs in after_receipt) over them.  The rows
-- come from the files, as in the original, not from the store.
--
-- Success: the message IS the embedding work, so a record whose embedding
-- failed (no delta, no CompactionRun) is reported failed and SQS retries
-- it; a merchant failure alone is not (the vectors were written without a
-- merchant, as the original did).  Re-delivery is harmless: the run id is a
-- digest of the content (rcpt.merchant_embed).
local json = require("rcpt.json")
local log = require("rcpt.log")
local me = require("rcpt.merchant_embed")
local nd = require("rcpt.merchant.legacy_ndjson")
local pipeline = require("rcpt.pipeline")
local uuid = require("rcpt.uuid")

local M = {}

M.STAGE = "embed_ndjson"

function M.keys(image_id, rid)
  local base = string.format("receipts/%s/receipt-%05d/", image_id, rid)
  return base .. "lines.ndjson", base .. "words.ndjson"
end

function M.export(ctx, it)
  local env = ctx.env
  local lines, words = it.lines, it.words
  if not lines then lines, words = me.load_rows(env, ctx.image_id, it.receipt_id) end
  local lt, err = nd.encode_lines(lines)
  if not lt then error({ type = "InvalidInput", msg = err }, 0) end
  local wt
  wt, err = nd.encode_words(words)
  if not wt then error({ type = "InvalidInput", msg = err }, 0) end
  local bucket = env.bucket.artifacts
  local lk, wk = M.keys(ctx.image_id, it.receipt_id)
  local o = env:objects(bucket)
  for _, p in ipairs({ { lk, lt }, { wk, wt } }) do
    local ok, msg = o:put(p[1], p[2], { content_type = "application/x-ndjson" })
    if not ok then error({ type = "Objects", msg = bucket .. "/" .. p[1] .. ": " .. tostring(msg) }, 0) end
  end
  local body = json.encode({ image_id = ctx.image_id, receipt_id = it.receipt_id, artifacts_bucket = bucket,
    lines_key = lk, words_key = wk })
  local id, msg = env:queue("embed_ndjson"):send(body)
  if not id then error({ type = "Queue", msg = "embed_ndjson: " .. tostring(msg) }, 0) end
  it.exported = { lines_key = lk, words_key = wk, message_id = id }
  ctx.embed_messages = (ctx.embed_messages or 0) + 1
end

function M.validate(body)
  if type(body) ~= "table" then return nil, "body: must be a JSON object" end
  if type(body.image_id) ~= "string" or not uuid.is_uuid4(body.image_id) then
    return nil, "body.image_id: must be a uuid4"
  end
  local rid = body.receipt_id
  if type(rid) ~= "number" or rid % 1 ~= 0 or rid < 1 then
    return nil, "body.receipt_id: must be a positive integer"
  end
  for _, k in ipairs({ "artifacts_bucket", "lines_key", "words_key" }) do
    if type(body[k]) ~= "string" or body[k] == "" then return nil, "body." .. k .. ": must be a non-empty string" end
  end
  return true
end

local function read_rows(env, body, key, kind)
  local text, msg = env:objects(body.artifacts_bucket):get(body[key])
  if not text then
    error({ type = "Objects", msg = body.artifacts_bucket .. "/" .. body[key] .. ": " .. tostring(msg) }, 0)
  end
  local rows, err = nd.decode(text)
  if not rows then error({ type = "InvalidInput", msg = body[key] .. ": " .. err }, 0) end
  for i, r in ipairs(rows) do
    if r.image_id ~= body.image_id or tonumber(r.receipt_id) ~= tonumber(body.receipt_id) then
      error({ type = "InvalidInput", msg = string.format("%s: %s[%d] belongs to image %s receipt %s, not the message's",
        body[key], kind, i, tostring(r.image_id), tostring(r.receipt_id)) }, 0)
    end
  end
  return rows
end

-- The stage to run: the configured pipeline's, else the legacy pipeline's
-- (a message queued before RCPT_PIPELINE was switched is still served).
local function stage_of(env)
  local p = pipeline.load(env.settings and env.settings.pipeline)
  if p[M.STAGE] then return p end
  return pipeline.load("legacy")
end

function M.process(env, body, context)
  local t0 = log.now_ms()
  local ok, msg = M.validate(body)
  if not ok then return { success = false, error = msg } end
  local rid = math.tointeger(body.receipt_id)
  local res = { image_id = body.image_id, receipt_id = rid }
  local lok, lerr = pcall(function()
    local lines = read_rows(env, body, "lines_key", "lines")
    local words = read_rows(env, body, "words_key", "words")
    local ctx = { env = env, context = context, image_id = body.image_id, receipt_ids = { rid },
      receipt_work = { { receipt_id = rid, lines = lines, words = words } } }
    pipeline.run_stage(stage_of(env), M.STAGE, ctx)
    me.report(ctx, res)
  end)
  if not lok then
    res.success, res.error = false, pipeline.message(lerr)
  else
    res.success = res.embedding_error == nil
    if not res.success then res.error = res.embedding_error end
  end
  res.duration_ms = log.now_ms() - t0
  log[res.success and "info" or "error"]("embed message done", { image_id = body.image_id, receipt_id = rid,
    success = res.success, error = res.error, merchant_error = res.merchant_error, duration_ms = res.duration_ms })
  return res
end

-- Drain the embed_ndjson queue here: receive, process, delete on success.
-- A failed message stays (visible again after the visibility timeout) and
-- is not retried in this call.
function M.drain(env, opts)
  opts = opts or {}
  local q = env:queue("embed_ndjson")
  local out = { processed = 0, failed = 0, results = {} }
  local seen = {}
  while true do
    local msgs, msg = q:receive(opts.batch or 10, opts.visibility or 300)
    if not msgs then error({ type = "Queue", msg = "embed_ndjson: " .. tostring(msg) }, 0) end
    local fresh = 0
    for _, m in ipairs(msgs) do
      if not seen[m.id] then
        seen[m.id] = true
        fresh = fresh + 1
        local body, derr = json.decode(m.body or "")
        local r
        if type(body) ~= "table" then
          r = { success = false, error = "body: " .. tostring(derr or "must be a JSON object") }
        else
          local pok, pres = pcall(M.process, env, body, { function_name = "rcpt-embed-local" })
          r = pok and pres or { success = false, error = pipeline.message(pres) }
        end
        r.message_id = m.id
        out.results[#out.results + 1] = r
        if r.success then
          out.processed = out.processed + 1
          q:delete(m.receipt)
        else
          out.failed = out.failed + 1
        end
      end
    end
    if #msgs == 0 or fresh == 0 then break end
  end
  return out
end

return M
