-- Per-receipt latency of the whole OCR flow on the AWS backends (issue 6 figure), driven by
-- bench/e2e_aws.sh inside a private network namespace (DynamoDB Local binds every interface).
--
-- Stage "outer" starts DynamoDB Local, s3rver and local-aws-sqs once, then runs stage "inner"
-- in a child `rcpt lua` with the endpoints in its environment (Lua cannot setenv).  The inner
-- stage registers N NATIVE receipts (examples/native, the upload Lambda's rows and objects),
-- and serves them to ONE warm `rcpt lambda` through the Runtime API stand-in, one SQS event per
-- receipt.  Latency = the stand-in's /response arrival - its /next answer for that invocation
-- (the whole OCR -> receipts -> merchant -> embeddings flow, DynamoDB + S3 round trips
-- included).  The first invocation (cold: Lua modules, connections) is reported separately.
-- The split comes from the pipeline's per-step `duration_ms` debug logs (RCPT_LOG_LEVEL=debug).
local src = assert(os.getenv("RCPT_SOURCE_DIR"), "RCPT_SOURCE_DIR")
package.path = src .. "/tests/spec/?.lua;" .. package.path
local env = require("support.env")

local stage, n = arg[1], math.tointeger(tonumber(arg[2] or "")) or 7

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  if #s == 0 then return 0 / 0 end
  if #s % 2 == 1 then return s[(#s + 1) // 2] end
  return (s[#s // 2] + s[#s // 2 + 1]) / 2
end

if stage == "outer" then
  local ddb = require("support.dynamodb_local").start()
  local s3 = require("support.s3rver").start({ buckets = { "raw", "site", "vectors", "uploads" } })
  local sqs = require("support.sqs_local").start()
  local vars = {
    "RCPT_SPEC_CHILD=1", "AWS_ENDPOINT_URL_DYNAMODB=" .. ddb.endpoint, "AWS_ENDPOINT_URL_S3=" .. s3.endpoint,
    "AWS_ENDPOINT_URL_SQS=" .. sqs.endpoint, "AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER",
    "AWS_REGION=us-east-1",
  }
  local cmd = "env " .. table.concat(vars, " ") .. " " .. env.quote(env.bin) .. " lua "
    .. env.quote(src .. "/bench/e2e_aws.lua") .. " inner " .. n
  local ok = os.execute(cmd)
  sqs.stop(); s3:stop(); ddb.stop()
  os.exit(ok and 0 or 1)
end

assert(stage == "inner", "usage: e2e_aws.lua outer|inner N")
local aws = require("rcpt.aws")
local flow = require("support.ocr_flow")
local json = require("rcpt.json")
local runtime_api = require("support.runtime_api")

local TABLE = "rcpt-bench"
local tmp = env.tmpdir()
local code, _, err = env.rcpt({ "store", "init", "--store", "dynamodb:" .. TABLE })
assert(code == 0, err)
local vars = {
  DYNAMO_TABLE_NAME = TABLE, RCPT_OBJECTS = "s3", RAW_BUCKET = "raw", SITE_BUCKET = "site",
  CHROMADB_BUCKET = "vectors", RCPT_UPLOAD_BUCKET = "uploads",
  OCR_JOB_QUEUE_URL = assert(aws.sqs_create_queue("ocr-jobs")),
  RCPT_COMPACT_AFTER = "0", RCPT_VEC_CACHE = tmp .. "/cache", RCPT_LOG_LEVEL = "debug",
}
local e = require("rcpt.env").open({ store = "dynamodb:" .. TABLE, objects = "s3",
  getenv = function(k) return vars[k] end })
local f = setmetatable({ env = e }, flow)
local png = env.read(src .. "/examples/native/receipt.png")
local text = env.read(src .. "/examples/native/receipt.ocr.json")
local events = {}
for i = 1, n + 1 do -- +1: the cold first invocation
  local image_id, job_id = f:register(png, text, { name = "receipt.png" })
  events[i] = { request_id = "req-" .. i, deadline_offset_ms = 300000, event = { Records = { {
    messageId = "m" .. i, eventSource = "aws:sqs", receiptHandle = "h" .. i,
    body = json.encode({ job_id = job_id, image_id = image_id }) } } } }
end
local api = runtime_api.start({ events = events })
local rc, _, log = api:run_rcpt({ "--max-invocations", tostring(#events) }, { env = vars })
local rec = api:record()
api:stop()
assert(rc == 0, "rcpt lambda failed:\n" .. log)

local next_t = {}
for _, x in ipairs(rec.nexts) do next_t[x.request_id] = x.t_ms end
local lat = {}
for _, p in ipairs(rec.posts) do
  assert(p.kind == "response", p.body)
  local body = json.decode(p.body)
  assert(#body.batchItemFailures == 0, "a receipt failed: " .. p.body)
  local i = tonumber(p.request_id:match("%d+"))
  lat[i] = p.t_ms - next_t[p.request_id]
end
-- per-step durations by invocation order (the log lines carry image_id; map to invocation)
local order = {}
for i, ev in ipairs(events) do order[json.decode(ev.event.Records[1].body).image_id] = i end
local steps, names = {}, {}
for line in log:gmatch("[^\n]+") do
  local ok, t = pcall(json.decode, line)
  if ok and type(t) == "table" and t.msg == "step" and t.duration_ms and order[t.image_id] and order[t.image_id] > 1 then
    if not steps[t.step] then steps[t.step] = {}; names[#names + 1] = t.step end
    local per = steps[t.step]
    per[order[t.image_id]] = (per[order[t.image_id]] or 0) + t.duration_ms
  end
end
local warm = {}
for i = 2, #events do warm[#warm + 1] = lat[i] end
print(string.format("rcpt %s, NATIVE receipt (examples/native, 1170x2532, 22 lines), DynamoDB Local + s3rver + local-aws-sqs on loopback",
  "lambda"))
print(string.format("  cold first invocation         %8.1f ms", lat[1]))
print(string.format("  warm per-receipt latency      %8.1f ms  (median of %d; min %.1f, max %.1f)",
  median(warm), #warm, math.min(table.unpack(warm)), math.max(table.unpack(warm))))
print("  split (median per receipt, pipeline steps, from duration_ms logs):")
local sum = 0
for _, name in ipairs(names) do
  local v = {}
  for i = 2, #events do v[#v + 1] = steps[name][i] or 0 end
  local m = median(v)
  sum = sum + m
  print(string.format("    %-28s %8.1f ms", name, m))
end
print(string.format("    %-28s %8.1f ms  (SQS record parse, job/decision reads, OCR JSON fetch, finalise, runtime)",
  "outside the steps", median(warm) - sum))
e:close()
env.rmrf(tmp)
