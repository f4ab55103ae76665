-- Helpers for the OCR flow specs (handler, ingest, PHOTO, SCAN, NATIVE):
-- a hermetic rcpt.env in a temp dir, registering an upload the way
-- `rcpt ingest` does, SQS events, and running the handler on that env.
--
--   local flow = require("support.ocr_flow")
--   local f = flow.new()                       -- temp dir, env (sqlite + file objects)
--   local image_id, job_id = f:register(image_bytes, ocr_json[, {name = "x.png"}])
--   local response, results = f:handle({ {id = "m1", body = {job_id=, image_id=}} | {id=, raw = "text"} })
--   f:export() -> the store as DynamoDB JSON lines (string)
--   f:get(bucket, key) -> bytes | nil
--   f:close()                                  -- closes the env, removes the dir
local env_support = require("support.env")
local json = require("rcpt.json")
local store = require("rcpt.store")
local uuid = require("rcpt.uuid")

local M = {}
M.__index = M

-- only these variables reach rcpt.env: no AWS queue URL or bucket of the
-- caller's shell leaks into a spec
local function getenv_for(vars)
  return function(name) return vars[name] end
end

function M.new(vars)
  local self = setmetatable({}, M)
  self.dir = env_support.tmpdir()
  self.env = require("rcpt.env").open({
    store = "sqlite:" .. self.dir .. "/rcpt.db",
    objects = "file:" .. self.dir .. "/objects",
    getenv = getenv_for(vars or {}),
  })
  return self
end

function M:close()
  if self.env then self.env:close() end
  self.env = nil
  env_support.rmrf(self.dir)
end

function M:put(bucket, key, bytes)
  assert(self.env:objects(bucket):put(key, bytes))
end

function M:get(bucket, key)
  return self.env:objects(bucket):get(key)
end

-- An upload as `rcpt ingest` registers it: the image and the OCR JSON in the
-- uploads bucket, OCRJob FIRST_PASS PENDING, OCRRoutingDecision PENDING.
function M:register(image_bytes, ocr_json, opts)
  opts = opts or {}
  local image_id, job_id = opts.image_id or uuid.new(), opts.job_id or uuid.new()
  local b = self.env.bucket.uploads
  local name = opts.name or "upload.png"
  local key = "raw-receipts/" .. image_id .. "-" .. name
  local json_key = "ocr_results/" .. name:gsub("%.[^.]*$", "") .. "-" .. job_id .. ".json"
  if image_bytes then self:put(b, key, image_bytes) end
  if ocr_json then self:put(b, json_key, ocr_json) end
  local now = store.now()
  local st = self.env.store
  assert(st:put("OCR_JOB", { image_id = image_id, job_id = job_id, s3_bucket = b, s3_key = key, created_at = now,
    updated_at = now, status = "PENDING", job_type = opts.job_type or "FIRST_PASS", receipt_id = opts.receipt_id }))
  assert(st:put("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id, s3_bucket = b, s3_key = json_key,
    created_at = now, updated_at = now, status = "PENDING", receipt_count = 0 }))
  return image_id, job_id
end

function M.body(image_id, job_id) return json.encode({ job_id = job_id, image_id = image_id }) end

-- records: { {id=, body = table | raw = string}, ... } -> SQS event
function M.event(records)
  local rs = {}
  for i, r in ipairs(records) do
    rs[i] = { messageId = r.id, receiptHandle = "h-" .. r.id, eventSource = "aws:sqs",
      body = r.raw or json.encode(r.body), attributes = { ApproximateReceiveCount = "1" } }
  end
  return { Records = rs }
end

function M:handle(records)
  local handler = require("rcpt.handler")
  local saved = handler.env
  handler.env = function() return self.env end
  local ok, response, results = pcall(handler.handle, M.event(records), { function_name = "spec" })
  handler.env = saved
  if not ok then error(response, 0) end
  return response, results
end

-- process one upload directly: register + handle; returns the record's result
function M:run(image_bytes, ocr_json, opts)
  local image_id, job_id = self:register(image_bytes, ocr_json, opts)
  local response, results = self:handle({ { id = "m-" .. job_id, body = { job_id = job_id, image_id = image_id } } })
  return results[1], image_id, job_id, response
end

function M:decision(image_id, job_id)
  return assert(self.env.store:get("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id }))
end

function M:export()
  local path = self.dir .. "/export.jsonl"
  assert(self.env.store:export(path))
  local s = env_support.read(path)
  os.remove(path)
  return s
end

-- failed message ids of a handler response, sorted
function M.failed_ids(response)
  local ids = {}
  for i, f in ipairs(response.batchItemFailures) do ids[i] = f.itemIdentifier end
  table.sort(ids)
  return ids
end

-- all entities of a type for an image
function M:rows(type_, ids)
  local out, cursor = {}, nil
  repeat
    local page, nc = self.env.store:query(type_, ids, { cursor = cursor })
    assert(page, nc)
    for _, e in ipairs(page) do out[#out + 1] = e end
    cursor = nc
  until not cursor
  return out
end

-- a small blank PNG (no text: the OCR decides what it "shows")
function M.blank_png(w, h)
  local image = require("rcpt.image")
  local img <close> = assert(image.new(w, h, 3, 235))
  return assert(img:encode_png())
end

function M.blank_jpeg(w, h)
  local image = require("rcpt.image")
  local img <close> = assert(image.new(w, h, 3, 235))
  return assert(img:encode_jpeg(85))
end

return M
