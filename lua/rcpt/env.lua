-- The environment of a run: the opened entity store, the object stores by
-- bucket, the queues and the settings, opened once and shared by every record
-- of an invocation (and kept across warm Lambda invocations).
--
--   local env = require("rcpt.env").open{ store = URL?, objects = URL? }
--   env.store                      rcpt.store handle
--   env.objects(bucket)            rcpt.net object store for that bucket (cached)
--   env.bucket.raw / .site / .artifacts / .vectors / .uploads   bucket names
--   env.queue(name)                "ocr_jobs" | "ocr_results" | "embed_ndjson" (cached)
--   env.settings                   { pipeline=, compact_after=, embed_dim=, ... }
--   env:close()
--
-- Objects: RCPT_OBJECTS (or --objects) says where buckets live:
--   file:DIR   bucket B is the folder DIR/B            (default file:./.rcpt/objects)
--   s3         bucket B is s3://B                      (the default when DYNAMO_TABLE_NAME
--                                                      is set and RCPT_OBJECTS is not)
-- Bucket names keep the original Lambda's variables: RAW_BUCKET (default "raw"),
-- SITE_BUCKET ("site"), ARTIFACTS_BUCKET (default SITE_BUCKET), CHROMADB_BUCKET
-- ("vectors"), RCPT_UPLOAD_BUCKET ("uploads", where `rcpt ingest` puts originals).
-- Queues: OCR_JOB_QUEUE_URL, OCR_RESULTS_QUEUE_URL, EMBED_NDJSON_QUEUE_URL name SQS
-- queues when they hold an http(s) URL (rcpt.aws.sqs); otherwise the queue is a
-- table in the SQLite store under the names above.
local config = require("rcpt.config")

local M = {}
M.__index = M

-- Declared as data: the buckets, their variables and local defaults.
M.BUCKETS = {
  raw = { var = "RAW_BUCKET", default = "raw" },
  site = { var = "SITE_BUCKET", default = "site" },
  artifacts = { var = "ARTIFACTS_BUCKET", default = nil }, -- falls back to site
  vectors = { var = "CHROMADB_BUCKET", default = "vectors" },
  uploads = { var = "RCPT_UPLOAD_BUCKET", default = "uploads" },
}

M.QUEUES = {
  ocr_jobs = "OCR_JOB_QUEUE_URL",
  ocr_results = "OCR_RESULTS_QUEUE_URL",
  embed_ndjson = "EMBED_NDJSON_QUEUE_URL",
}

local function nonempty(v) if v ~= nil and v ~= "" then return v end end

local function truthy(v, default)
  if v == nil or v == "" then return default end
  v = v:lower()
  return not (v == "0" or v == "false" or v == "no" or v == "off")
end

function M.settings(getenv)
  getenv = getenv or os.getenv
  return {
    pipeline = nonempty(getenv("RCPT_PIPELINE")) or "default",
    -- locally, compaction follows the embedding step unless switched off
    compact_after = truthy(getenv("RCPT_COMPACT_AFTER"), getenv("AWS_LAMBDA_RUNTIME_API") == nil),
    -- the local refinement worker answers REFINEMENT jobs during `rcpt ingest`
    local_worker = truthy(getenv("RCPT_LOCAL_WORKER"), true),
    embed_dim = tonumber(getenv("RCPT_EMBED_DIM") or "") or 1536,
    max_pixels = tonumber(getenv("RCPT_MAX_PIXELS") or ""),
  }
end

-- objects URL for a bucket name under the configured root
local function bucket_url(root, bucket)
  if root == "s3" or root == "s3:" then return "s3://" .. bucket end
  local dir = root:match("^file:(.+)$") or root
  if dir:sub(1, 5) == "s3://" then
    -- s3://BUCKET/prefix as a root: every logical bucket a prefix in one bucket
    return dir:gsub("/+$", "") .. "/" .. bucket
  end
  return "file:" .. dir:gsub("/+$", "") .. "/" .. bucket
end

function M.open(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local self = setmetatable({}, M)
  self.store_url = config.store_url(opts.store)
  local objects_root = opts.objects or nonempty(getenv("RCPT_OBJECTS"))
  if not objects_root then
    objects_root = nonempty(getenv("DYNAMO_TABLE_NAME")) and "s3" or config.DEFAULT_OBJECTS
  end
  self.objects_root = objects_root
  self.settings = M.settings(getenv)
  self.bucket = {}
  for name, b in pairs(M.BUCKETS) do self.bucket[name] = nonempty(getenv(b.var)) or b.default end
  self.bucket.artifacts = self.bucket.artifacts or self.bucket.site

  local st, msg, errname = opts.store_handle, nil, nil
  if not st then st, msg, errname = config.open_store(self.store_url) end
  if not st then
    error({ type = "Config", msg = "cannot open the entity store " .. self.store_url .. ": " .. tostring(msg),
      errname = errname }, 0)
  end
  self.store = st
  self._objects, self._queues = {}, {}
  self._getenv = getenv
  return self
end

-- The object store holding `bucket` (a bucket name as stored in OCRJob.s3_bucket).
function M:objects(bucket)
  assert(type(bucket) == "string" and bucket ~= "", "objects: bucket name required")
  local o = self._objects[bucket]
  if o then return o end
  if not bucket:match("^[%w][%w%.%-_]*$") then
    error({ type = "InvalidInput", msg = "not a bucket name: " .. bucket }, 0)
  end
  local url = bucket_url(self.objects_root, bucket)
  local net = require("rcpt.net")
  local st, msg = net.objects(url)
  if not st then error({ type = "Config", msg = "cannot open objects " .. url .. ": " .. tostring(msg) }, 0) end
  self._objects[bucket] = st
  return st
end

function M:objects_url(bucket) return bucket_url(self.objects_root, bucket) end

-- A queue by logical name (see M.QUEUES).
function M:queue(name)
  local q = self._queues[name]
  if q then return q end
  local var = M.QUEUES[name]
  assert(var, "unknown queue " .. tostring(name))
  local url = nonempty(self._getenv(var))
  if url and url:match("^https?://") then
    local msg
    q, msg = require("rcpt.aws").sqs_queue(url)
    if not q then error({ type = "Config", msg = var .. ": cannot open the queue: " .. tostring(msg) }, 0) end
  else
    q = self.store:queue(name)
  end
  self._queues[name] = q
  return q
end

function M:close()
  for _, q in pairs(self._queues) do if q.close then q:close() end end
  for _, o in pairs(self._objects) do o:close() end
  if self.store then self.store:close() end
  self._queues, self._objects, self.store = {}, {}, nil
end

return M
