-- label: netns, noasan
-- End to end on the AWS backends (issue 6 item 6): the entity store on DynamoDB Local (stream
-- NEW_AND_OLD_IMAGES), the buckets on s3rver, the OCR job queue on local-aws-sqs, and
-- `rcpt lambda` fed by the Runtime API stand-in.
--
--   1. a NATIVE receipt and a SCAN page are registered the way the upload Lambda and the Mac
--      worker leave them (image + OCR JSON in the uploads bucket, OCRJob FIRST_PASS PENDING,
--      OCRRoutingDecision PENDING), with rcpt's own modules against the stand-ins;
--   2. `rcpt lambda` answers SQS events: OCR -> receipts -> merchant -> embeddings (deltas and
--      COMPACTION_RUN rows; no compaction, as in Lambda), then a batch with one bad record;
--   3. the spec reads the table's stream itself (ListStreams, DescribeStream, GetShardIterator
--      TRIM_HORIZON, GetRecords until an empty page) and hands the records, as Lambda delivers
--      them, to a second `rcpt lambda`, which compacts;
--   4. rows, objects, queued REFINEMENT jobs, the published snapshot and the responses are checked.
--
-- The stand-ins are started once here; the cases run in a child `rcpt lua` with the endpoints in
-- its environment (support.reexec: Lua cannot setenv).
local env = require("support.env")
local reexec = require("support.reexec")

local SPEC = env.src .. "/tests/spec/e2e_aws_spec.lua"
local BUCKETS = { "raw", "site", "vectors", "uploads" }

if not reexec.child() then
  describe("end to end on DynamoDB Local + s3rver + local-aws-sqs", function()
    local ddb, s3, sqs
    setup(function()
      ddb = require("support.dynamodb_local").start()
      s3 = require("support.s3rver").start({ buckets = BUCKETS })
      sqs = require("support.sqs_local").start()
    end)
    teardown(function()
      if sqs then sqs.stop() end
      if s3 then s3:stop() end
      if ddb then ddb.stop() end
    end)

    it("runs the flow through rcpt lambda (in a child with the endpoints in its environment)", function()
      local cache = env.tmpdir()
      finally(function() env.rmrf(cache) end)
      -- one set of fake credentials for all three: s3rver checks its own (S3RVER), DynamoDB Local
      -- namespaces tables by access key (writer and reader must agree), local-aws-sqs checks none
      local vars = {
        AWS_ENDPOINT_URL_DYNAMODB = ddb.endpoint, AWS_ENDPOINT_URL_S3 = s3.endpoint,
        AWS_ENDPOINT_URL_SQS = sqs.endpoint,
        AWS_ACCESS_KEY_ID = "S3RVER", AWS_SECRET_ACCESS_KEY = "S3RVER", AWS_REGION = "us-east-1",
        -- the child's own snapshot cache (empty: what it reads is downloaded and verified)
        RCPT_VEC_CACHE = cache,
      }
      local code, out = reexec.run(SPEC, vars)
      io.stdout:write(out)
      assert.are.equal(0, code, "the child run failed (its output is above)")
      assert.truthy(out:find("0 failures / 0 errors", 1, true), out)
    end)
  end)
  return
end

-- ---- the child: AWS_ENDPOINT_URL_{DYNAMODB,S3,SQS} point at the stand-ins ---------------------

local aws = require("rcpt.aws")
local curl = require("support.curl")
local flow = require("support.ocr_flow")
local json = require("rcpt.json")
local ocr = require("rcpt.ocr")
local runtime_api = require("support.runtime_api")
local uuid = require("rcpt.uuid")

local TABLE = "rcpt-e2e"
local DDB = os.getenv("AWS_ENDPOINT_URL_DYNAMODB")
local CREDS = os.getenv("AWS_ACCESS_KEY_ID") .. ":" .. os.getenv("AWS_SECRET_ACCESS_KEY")

-- DynamoDB Streams through curl (an independent client): the decoded answer, keeping JSON
-- arrays as arrays (rcpt.json), so the records go back out exactly as they came.
local function streams(op, body)
  local st, _, r = curl.aws_json(DDB, "DynamoDBStreams_20120810." .. op, body, { user = CREDS })
  assert(st == 200, op .. ": HTTP " .. tostring(st) .. " " .. tostring(r and r.body))
  return assert(json.decode(r.body))
end

-- Every record of the table's stream, oldest first.
local function read_stream()
  local ls = streams("ListStreams", { TableName = TABLE })
  assert.are.equal(1, #ls.Streams)
  local arn = ls.Streams[1].StreamArn
  local d = streams("DescribeStream", { StreamArn = arn }).StreamDescription
  assert.are.equal("NEW_AND_OLD_IMAGES", d.StreamViewType)
  local records = {}
  for _, shard in ipairs(d.Shards) do
    local it = streams("GetShardIterator", { StreamArn = arn, ShardId = shard.ShardId,
      ShardIteratorType = "TRIM_HORIZON" }).ShardIterator
    while it do
      local page = streams("GetRecords", { ShardIterator = it, Limit = 1000 })
      if #page.Records == 0 then break end -- an open shard always has a next iterator
      for _, r in ipairs(page.Records) do records[#records + 1] = r end
      it = page.NextShardIterator
    end
  end
  return records
end

-- The stream records as Lambda's DynamoDB event source delivers them.
local function stream_event(records)
  local out = {}
  for i, r in ipairs(records) do
    out[i] = { eventID = r.eventID, eventName = r.eventName, eventVersion = r.eventVersion,
      eventSource = "aws:dynamodb", awsRegion = r.awsRegion,
      eventSourceARN = "arn:aws:dynamodb:us-east-1:000000000000:table/" .. TABLE .. "/stream/e2e",
      dynamodb = r.dynamodb }
  end
  return { Records = json.array(out) }
end

local function sqs_event(records)
  local rs = {}
  for i, r in ipairs(records) do
    rs[i] = { messageId = r.id, receiptHandle = "h-" .. r.id, eventSource = "aws:sqs",
      eventSourceARN = "arn:aws:sqs:us-east-1:123456789012:ocr-jobs",
      body = json.encode({ job_id = r.job_id, image_id = r.image_id }),
      attributes = { ApproximateReceiveCount = "1" } }
  end
  return { Records = rs }
end

local function failed_ids(response)
  local ids = {}
  for i, f in ipairs(response.batchItemFailures) do ids[i] = f.itemIdentifier end
  table.sort(ids)
  return ids
end

local function count_type(records, name, t)
  local n = 0
  for _, r in ipairs(records) do
    local img = r.dynamodb.NewImage or r.dynamodb.OldImage
    if r.eventName == name and img and img.TYPE and img.TYPE.S == t then n = n + 1 end
  end
  return n
end

-- Run `rcpt lambda` over these events; returns the decoded responses in order and the stderr.
local function run_lambda(vars, events)
  local api = runtime_api.start({ events = events })
  local code, _, err = api:run_rcpt({ "--max-invocations", tostring(#events) }, { env = vars })
  local rec = api:record()
  api:stop()
  assert(code == 0, "rcpt lambda exited " .. tostring(code) .. ":\n" .. err)
  local out = {}
  for i, p in ipairs(rec.posts) do
    assert(p.kind == "response", "invocation " .. i .. " answered " .. p.kind .. ": " .. tostring(p.body))
    out[i] = assert(json.decode(p.body))
  end
  assert.are.equal(#events, #out)
  return out, err
end

describe("the flow on AWS backends through rcpt lambda", function()
  it("OCR -> receipts -> merchant -> embeddings, then compaction from the table's stream", function()
    local tmp = env.tmpdir()
    finally(function() env.rmrf(tmp) end)
    -- the stores: `rcpt store init` makes the spec's table with its stream
    local code, _, err = env.rcpt({ "store", "init", "--store", "dynamodb:" .. TABLE })
    assert.are.equal(0, code, err)
    local queue_url = assert(aws.sqs_create_queue("ocr-jobs"))

    -- the Lambda's environment (the seed's variables)
    local vars = {
      DYNAMO_TABLE_NAME = TABLE, RCPT_OBJECTS = "s3",
      RAW_BUCKET = "raw", SITE_BUCKET = "site", ARTIFACTS_BUCKET = "site", CHROMADB_BUCKET = "vectors",
      RCPT_UPLOAD_BUCKET = "uploads", OCR_JOB_QUEUE_URL = queue_url,
      RCPT_COMPACT_AFTER = "0", RCPT_VEC_CACHE = tmp .. "/lambda-cache",
    }
    local e = require("rcpt.env").open({ store = "dynamodb:" .. TABLE, objects = "s3",
      getenv = function(k) return vars[k] end })
    finally(function() e:close() end)
    local f = setmetatable({ env = e }, flow) -- support.ocr_flow's register on these stores

    -- 1. uploads, as the upload Lambda and the Mac worker leave them
    local native_png = env.read(env.src .. "/examples/native/receipt.png")
    local native_ocr = env.read(env.src .. "/examples/native/receipt.ocr.json")
    local scan_png = env.read(env.src .. "/examples/scan/page.png")
    local scan_ocr = env.read(env.src .. "/examples/scan/page.ocr.json")
    local n_img, n_job = f:register(native_png, native_ocr, { name = "receipt.png" })
    local s_img, s_job = f:register(scan_png, scan_ocr, { name = "page.png" })
    local x_img, x_job = f:register(flow.blank_png(300, 400), '{"lines": []}', { name = "blank.png" })
    local bad_img, bad_job = uuid.new(), uuid.new() -- never registered
    assert.are.equal("PENDING", f:decision(n_img, n_job).status)

    -- 2. the OCR Lambda: a good batch, then a batch whose one bad record is reported alone
    local responses = run_lambda(vars, {
      { event = sqs_event({ { id = "m-native", image_id = n_img, job_id = n_job },
                            { id = "m-scan", image_id = s_img, job_id = s_job } }),
        deadline_offset_ms = 300000 },
      { event = sqs_event({ { id = "m-bad", image_id = bad_img, job_id = bad_job },
                            { id = "m-blank", image_id = x_img, job_id = x_job } }),
        deadline_offset_ms = 300000 },
    })
    assert.are.same({}, failed_ids(responses[1]))
    assert.are.same({ "m-bad" }, failed_ids(responses[2]))
    assert.are.same({ "COMPLETED", 1 }, { f:decision(n_img, n_job).status, f:decision(n_img, n_job).receipt_count })
    assert.are.same({ "COMPLETED", 3 }, { f:decision(s_img, s_job).status, f:decision(s_img, s_job).receipt_count })
    assert.are.same({ "COMPLETED", 0 }, { f:decision(x_img, x_job).status, f:decision(x_img, x_job).receipt_count })

    -- rows of the NATIVE receipt
    local st = e.store
    local doc = assert(ocr.parse(native_ocr))
    local nl, nw = doc:counts()
    local im = assert(st:get("IMAGE", { image_id = n_img }))
    assert.are.same({ 1170, 2532, "NATIVE", 1 }, { im.width, im.height, im.image_type, im.receipt_count })
    assert(st:get("RECEIPT", { image_id = n_img, receipt_id = 1 }))
    assert.are.equal(nl, #f:rows("RECEIPT_LINE", { image_id = n_img, receipt_id = 1 }))
    assert.are.equal(nw, #f:rows("RECEIPT_WORD", { image_id = n_img, receipt_id = 1 }))
    local md = assert(st:get("RECEIPT_METADATA", { image_id = n_img, receipt_id = 1 }))
    assert.is_string(md.merchant_name)
    assert.truthy(#md.merchant_name > 0)
    local s_im = assert(st:get("IMAGE", { image_id = s_img }))
    assert.are.same({ "SCAN", 3 }, { s_im.image_type, s_im.receipt_count })

    -- objects: the raw PNG and the CDN JPEGs
    local raw = assert(e:objects("raw"):get(im.raw_s3_key))
    assert.are.equal(native_png, raw)
    for _, k in ipairs({ "cdn_s3_key", "cdn_thumbnail_s3_key", "cdn_small_s3_key", "cdn_medium_s3_key" }) do
      local jpg = assert(e:objects("site"):get(im[k]), k)
      assert.are.equal("\xff\xd8\xff", jpg:sub(1, 3), k)
    end

    -- the REFINEMENT jobs of the SCAN's receipts, on local-aws-sqs, one per receipt
    local q = e:queue("ocr_jobs")
    local msgs = {}
    for _ = 1, 5 do
      local got = assert(q:receive(10, 60))
      for _, m in ipairs(got) do msgs[#msgs + 1] = assert(json.decode(m.body)) end
      if #msgs >= 3 then break end
    end
    assert.are.equal(3, #msgs)
    local rids = {}
    for _, m in ipairs(msgs) do
      assert.are.equal(s_img, m.image_id)
      local job = assert(st:get("OCR_JOB", { image_id = s_img, job_id = m.job_id }))
      assert.are.same({ "REFINEMENT", "PENDING" }, { job.job_type, job.status })
      rids[#rids + 1] = math.tointeger(job.receipt_id)
    end
    table.sort(rids)
    assert.are.same({ 1, 2, 3 }, rids)

    -- embeddings wrote one COMPACTION_RUN per receipt, PENDING, with its deltas on S3
    local runs = f:rows("COMPACTION_RUN", { image_id = n_img, receipt_id = 1 })
    assert.are.equal(1, #runs)
    local run = runs[1]
    assert.are.same({ "PENDING", "PENDING" }, { run.lines_state, run.words_state })
    for _, coll in ipairs({ "lines", "words" }) do
      local p = run[coll .. "_delta_prefix"]
      assert(e:objects("vectors"):get(p .. "delta.sqlite"), coll)
      assert(e:objects("vectors"):get(p .. "manifest.json"), coll)
    end

    -- nothing is published yet: compaction is the stream's business on AWS
    local vectors = require("rcpt.vectors")
    assert.is_nil(vectors.pointer(e, "lines"))
    assert.is_nil(vectors.pointer(e, "words"))

    -- 3. the table's stream, read by the spec, handed to the compaction Lambda
    local records = read_stream()
    io.stderr:write(string.format("stream: %d records; merchant_name %q\n", #records, md.merchant_name))
    -- the NATIVE receipt is final: merchant + embeddings ran; the SCAN's receipts wait for
    -- their REFINEMENT jobs (after_receipt runs once a receipt is final)
    assert.are.equal(1, count_type(records, "INSERT", "COMPACTION_RUN"))
    assert.are.equal(1, count_type(records, "INSERT", "RECEIPT_METADATA"))
    local good = stream_event(records)
    -- a second batch: a COMPACTION_RUN INSERT whose image does not parse, next to a good record
    local broken = { eventID = "e-broken", eventName = "INSERT", eventSource = "aws:dynamodb",
      dynamodb = { Keys = { PK = { S = "IMAGE#x" }, SK = { S = "RECEIPT#00001#COMPACTION_RUN#y" } },
        NewImage = { PK = { S = "IMAGE#x" }, SK = { S = "RECEIPT#00001#COMPACTION_RUN#y" },
          TYPE = { S = "COMPACTION_RUN" } },
        SequenceNumber = "999999999999999999999", StreamViewType = "NEW_AND_OLD_IMAGES" } }
    local mixed = { Records = json.array({ good.Records[1], broken }) }
    vars.RCPT_VEC_CACHE = tmp .. "/compaction-cache"
    local out = run_lambda(vars, {
      { body = json.encode(good), deadline_offset_ms = 300000 },
      { body = json.encode(mixed), deadline_offset_ms = 300000 },
    })
    assert.are.same({}, failed_ids(out[1]))
    assert.are.same({ "999999999999999999999" }, failed_ids(out[2]))

    -- 4. compaction: runs COMPLETED with their merged counts, snapshot + manifest + pointer
    run = assert(st:get("COMPACTION_RUN", { image_id = n_img, receipt_id = 1, run_id = run.run_id }))
    assert.are.same({ "COMPLETED", "COMPLETED" }, { run.lines_state, run.words_state })
    assert.are.equal(nl, math.tointeger(run.lines_merged_vectors))
    assert.are.equal(nw, math.tointeger(run.words_merged_vectors))
    -- the published snapshots, downloaded into a fresh cache and verified against their
    -- manifests (sha256 and size) by vectors.latest
    local reader = require("rcpt.env").open({ store = "dynamodb:" .. TABLE, objects = "s3",
      getenv = function(k) return vars[k] end })
    finally(function() reader:close() end)
    for _, c in ipairs({ { "words", nw }, { "lines", nl } }) do
      local name, want = c[1], c[2]
      local pointer = assert(e:objects("vectors"):get(vectors.pointer_key(name)), name)
      local wc, wv, wm = vectors.latest(reader, name)
      assert(wc, "no published " .. name .. " snapshot")
      assert.are.equal(wv, pointer:match("^%s*(.-)%s*$"))
      assert.truthy(e:objects("vectors"):get(vectors.snapshot_prefix(name, wv) .. "manifest.json"))
      assert.truthy(e:objects("vectors"):get(vectors.snapshot_prefix(name, wv) .. "snapshot.sqlite"))
      -- only the NATIVE receipt was final: the snapshot holds exactly its vectors
      assert.are.same({ want, want }, { wm.count, wc:count() }, name)
      wc:close()
    end
    local coll, version = vectors.latest(reader, "lines")
    io.stderr:write("published lines snapshot " .. version .. "\n")
    local prefix = require("rcpt.compaction").receipt_prefix(n_img, 1)
    local ids = {}
    for _, id in ipairs(coll:ids()) do
      if id:sub(1, #prefix) == prefix then ids[#ids + 1] = id end
    end
    assert.are.equal(nl, #ids)
    local got = coll:get(ids)
    for i = 1, #ids do
      assert.are.equal(md.merchant_name, got.metadatas[i].merchant_name, ids[i])
    end
    coll:close()
  end)
end)
