-- The Lambda handler (lua/main.lua exports it): dispatch by event shape.
--
--   SQS records whose body is {"job_id","image_id"}     -> OCR pipeline, per record
--   SQS records from the legacy embed queue               -> embed_from_ndjson (legacy pipeline)
--   SQS compaction messages ({"source":"dynamodb_stream"} or {"collection":…})
--   DynamoDB stream records (COMPACTION_RUN INSERT; RECEIPT_METADATA INSERT/MODIFY/REMOVE)
--                                                         -> compaction
--   anything else                                         -> a clear error
--
-- SQS batches answer {"batchItemFailures":[{"itemIdentifier": messageId}, …]}
-- with the failed records only: one bad record never stops the rest.
local log = require("rcpt.log")
local json = require("rcpt.json")
local pipeline = require("rcpt.pipeline")

local M = {}

-- Kinds of work, in the order they are tried on an SQS body.  Each has
-- `match(body_table) -> bool` and a module with `process_batch` or `process`.
M.SQS_KINDS = {
  { name = "ocr", module = "rcpt.ocr_job",
    match = function(b) return b.job_id ~= nil or b.image_id ~= nil and b.lines_key == nil end },
  { name = "embed_ndjson", module = "rcpt.embed_ndjson",
    match = function(b) return b.lines_key ~= nil and b.words_key ~= nil end },
  { name = "compaction", module = "rcpt.compaction_events",
    match = function(b) return b.source == "dynamodb_stream" or b.collection ~= nil end },
}

local function classify_sqs(record)
  if type(record) ~= "table" then return nil, nil, "record: must be an object, got " .. type(record) end
  local body, err = json.decode(record.body or "")
  if body == nil then return nil, nil, "body: " .. err end
  if type(body) ~= "table" then return nil, nil, "body: must be a JSON object" end
  for _, kind in ipairs(M.SQS_KINDS) do
    if kind.match(body) then return kind, body end
  end
  return nil, body, "body: not an OCR job ({\"job_id\",\"image_id\"}), an embed message or a compaction message"
end

-- The first record, when the event has a Records array whose first item is
-- an object (anything else is not an SQS or stream event).
local function first_record(event)
  local r = type(event) == "table" and type(event.Records) == "table" and event.Records[1]
  return type(r) == "table" and r or nil
end

local function is_sqs(event)
  local r = first_record(event)
  return r and (r.eventSource == "aws:sqs" or (r.body ~= nil and r.messageId ~= nil))
end

local function is_dynamodb_stream(event)
  local r = first_record(event)
  return r and (r.eventSource == "aws:dynamodb" or r.dynamodb ~= nil)
end

local function invalid_event(event)
  local keys = {}
  if type(event) == "table" then for k in pairs(event) do keys[#keys + 1] = tostring(k) end end
  table.sort(keys)
  error({ type = "InvalidEvent",
    msg = "unrecognised event: expected SQS Records (OCR job, embed or compaction messages) or DynamoDB stream Records; got "
      .. (type(event) == "table" and ("an object with keys [" .. table.concat(keys, ", ") .. "]") or type(event)) }, 0)
end

-- classify(event) -> plan, without opening any store (tests and the
-- fuzz target tests/fuzz/fuzz_event.c call it on its own):
--   { kind = "sqs", records = { {id =, record =, kind = SQS_KINDS entry | nil,
--                                body = table | nil, error = message | nil}, ... } }
--   { kind = "dynamodb_stream", records = { {id =, record =}, ... } }
-- Anything else raises { type = "InvalidEvent", msg = ... }.
function M.classify(event)
  if is_sqs(event) then
    local records = {}
    for i, record in ipairs(event.Records) do
      local id = type(record) == "table" and record.messageId or ("record-" .. i)
      local kind, body, err = classify_sqs(record)
      records[i] = { id = id, record = record, kind = kind, body = body, error = err }
    end
    return { kind = "sqs", records = records }
  elseif is_dynamodb_stream(event) then
    local records = {}
    for i, r in ipairs(event.Records) do
      local d = type(r) == "table" and r.dynamodb
      records[i] = { record = r, id = (type(d) == "table" and d.SequenceNumber)
        or (type(r) == "table" and r.eventID) or ("record-" .. i) }
    end
    return { kind = "dynamodb_stream", records = records }
  end
  invalid_event(event)
end

-- env: the opened stores and settings shared by every record of an invocation
-- (and kept across warm invocations).
local env_cache
function M.env()
  if not env_cache then env_cache = require("rcpt.env").open() end
  return env_cache
end
function M.reset_env() env_cache = nil end

local function handle_sqs(plan, context)
  local failures, results = {}, {}
  local groups = {} -- kind name -> list of {record, body}
  for _, c in ipairs(plan.records) do
    local id = c.id
    if not c.kind then
      log.error("record rejected", { message_id = id, error = c.error })
      failures[#failures + 1] = { itemIdentifier = id }
      results[#results + 1] = { message_id = id, success = false, error = c.error }
    else
      local kind = c.kind
      groups[kind.name] = groups[kind.name] or { kind = kind, items = {} }
      table.insert(groups[kind.name].items, { id = id, record = c.record, body = c.body })
    end
  end
  for _, kind in ipairs(M.SQS_KINDS) do
    local g = groups[kind.name]
    if g then
      local mod = require(kind.module)
      local env = M.env()
      if mod.process_batch then
        -- batch-level work (compaction takes one lock for the batch); it
        -- returns per-item results in order
        local ok, res = pcall(mod.process_batch, env, g.items, context)
        for i, item in ipairs(g.items) do
          local r = ok and res[i] or { success = false, error = pipeline.message(res) }
          r.message_id = item.id
          if not r.success then failures[#failures + 1] = { itemIdentifier = item.id } end
          results[#results + 1] = r
        end
      else
        for _, item in ipairs(g.items) do
          local t0 = log.now_ms()
          local ok, res = pcall(mod.process, env, item.body, context)
          if not ok then res = { success = false, error = pipeline.message(res) } end
          res.message_id = item.id
          if not res.success then
            failures[#failures + 1] = { itemIdentifier = item.id }
            log.error("record failed", { message_id = item.id, image_id = item.body.image_id,
              job_id = item.body.job_id, error = res.error, duration_ms = log.now_ms() - t0 })
          end
          results[#results + 1] = res
        end
      end
    end
  end
  return { batchItemFailures = json.array(failures) }, results
end

-- handle(event, context) -> response table.  The per-record results are
-- logged, and returned as a second value for `rcpt invoke`.
function M.handle(event, context)
  local plan = M.classify(event)
  if plan.kind == "sqs" then
    return handle_sqs(plan, context)
  end
  local mod = require("rcpt.compaction_events")
  return mod.handle_stream(M.env(), event, context)
end

return M
