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
-- The split: the same run on three backends (A: SQLite + files, B: SQLite + s3rver, C: DynamoDB
-- Local + s3rver): A is compute, B - A the S3 share, C - B the DynamoDB share; per step from the
-- pipeline's `duration_ms` debug logs (RCPT_LOG_LEVEL=debug).
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
local queue_url = assert(aws.sqs_create_queue("ocr-jobs"))
local png = env.read(src .. "/examples/native/receipt.png")
local text = env.read(src .. "/examples/native/receipt.ocr.json")

-- One configuration: register n+1 receipts, serve them to one `rcpt lambda`; returns the
-- latencies (index 1 = cold) and per-step durations { step = {per invocation} }, names.
local function run(cfg)
  local vars = {
    RCPT_STORE = cfg.store, RCPT_OBJECTS = cfg.objects, RAW_BUCKET = "raw", SITE_BUCKET = "site",
    CHROMADB_BUCKET = "vectors", RCPT_UPLOAD_BUCKET = "uploads", OCR_JOB_QUEUE_URL = queue_url,
    RCPT_COMPACT_AFTER = "0", RCPT_VEC_CACHE = tmp .. "/cache-" .. cfg.name, RCPT_LOG_LEVEL = "debug",
  }
  local e = require("rcpt.env").open({ store = cfg.store, objects = cfg.objects,
    getenv = function(k) return vars[k] end })
  local f = setmetatable({ env = e }, flow)
  local events = {}
  for i = 1, n + 1 do -- +1: the cold first invocation
    local image_id, job_id = f:register(png, text, { name = "receipt.png" })
    events[i] = { request_id = "req-" .. i, deadline_offset_ms = 300000, event = { Records = { {
      messageId = "m" .. i, eventSource = "aws:sqs", receiptHandle = "h" .. i,
      body = json.encode({ job_id = job_id, image_id = image_id }) } } } }
  end
  e:close()
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
    lat[tonumber(p.request_id:match("%d+"))] = p.t_ms - next_t[p.request_id]
  end
  local order = {}
  for i, ev in ipairs(events) do order[json.decode(ev.event.Records[1].body).image_id] = i end
  local steps, names = {}, {}
  for line in log:gmatch("[^\n]+") do
    local ok, t = pcall(json.decode, line)
    if ok and type(t) == "table" and t.msg == "step" and t.duration_ms and order[t.image_id] then
      if not steps[t.step] then steps[t.step] = {}; names[#names + 1] = t.step end
      local per, i = steps[t.step], order[t.image_id]
      per[i] = (per[i] or 0) + t.duration_ms
    end
  end
  local warm = {}
  for i = 2, #events do warm[#warm + 1] = lat[i] end
  local med = {}
  local sum = 0
  for _, name in ipairs(names) do
    local v = {}
    for i = 2, #events do v[#v + 1] = steps[name][i] or 0 end
    med[name] = median(v)
    sum = sum + med[name]
  end
  -- medians do not add up: the sum of the step medians, not a remainder
  med["(sum of step medians)"] = sum
  names[#names + 1] = "(sum of step medians)"
  return { cold = lat[1], warm = median(warm), min = math.min(table.unpack(warm)),
    max = math.max(table.unpack(warm)), steps = med, names = names }
end

-- Three backends, so that the differences split the time: A = compute (+ local SQLite and
-- files), B - A = S3 (s3rver), C - B = DynamoDB (DynamoDB Local).
local cfgs = {
  { name = "A sqlite+file", store = "sqlite:" .. tmp .. "/rcpt.db", objects = "file:" .. tmp .. "/objects" },
  { name = "B sqlite+s3", store = "sqlite:" .. tmp .. "/rcpt-b.db", objects = "s3" },
  { name = "C dynamodb+s3", store = "dynamodb:" .. TABLE, objects = "s3" },
}
local res = {}
for i, c in ipairs(cfgs) do res[i] = run(c) end

print(string.format("NATIVE receipt (examples/native, 1170x2532, 22 lines) through `rcpt lambda` + Runtime API stand-in, "
  .. "one SQS event per receipt; median of %d warm receipts per backend (+1 cold)", n))
print(string.format("%-30s %16s %16s %16s", "", cfgs[1].name, cfgs[2].name, cfgs[3].name))
local function row(label, fn) print(string.format("%-30s %13.1f ms %13.1f ms %13.1f ms", label, fn(res[1]), fn(res[2]), fn(res[3]))) end
row("per-receipt latency (warm)", function(r) return r.warm end)
row("  min", function(r) return r.min end)
row("  max", function(r) return r.max end)
row("first invocation (cold)", function(r) return r.cold end)
print("per-step medians (duration_ms logs):")
for _, name in ipairs(res[3].names) do
  row("  " .. name, function(r) return r.steps[name] or 0 end)
end
local function steps_sum(r) return r.steps["(sum of step medians)"] end
print(string.format("split (sum of step medians): compute+local %.1f ms, S3 (B-A) %+.1f ms, DynamoDB (C-B) %+.1f ms; "
  .. "latency C/A = %.2fx", steps_sum(res[1]), steps_sum(res[2]) - steps_sum(res[1]),
  steps_sum(res[3]) - steps_sum(res[2]), res[3].warm / res[1].warm))
print("(2 shared cores under load: run it twice and compare; B-A is within the noise when small)")
env.rmrf(tmp)
