-- label: netns, noasan
-- The entity store on Amazon's DynamoDB Local: the same behaviour cases as SQLite
-- (support.store_suite), tables made by `rcpt store init`, and the items compared with SQLite's.
--
-- The C client reads AWS_* from the process environment, which Lua cannot set: this file starts
-- DynamoDB Local once, then runs itself again in a child `rcpt lua` with the endpoint and fake
-- credentials in its environment (support.reexec); the child runs the cases.
local env = require("support.env")
local reexec = require("support.reexec")
local store = require("rcpt.store")

local SPEC = env.src .. "/tests/spec/store_dynamodb_spec.lua"

if not reexec.child() then
  local ddb_local = require("support.dynamodb_local")
  describe("rcpt.store on DynamoDB Local", function()
    local ddb
    setup(function() ddb = ddb_local.start() end)
    teardown(function() if ddb then ddb.stop() end end)

    it("passes the entity-store cases (run in a child with the endpoint in its environment)", function()
      io.stderr:write(string.format("DynamoDB Local answered %.1f s after launch\n", ddb.ready_after))
      local vars = { AWS_ENDPOINT_URL_DYNAMODB = ddb.endpoint }
      for k, v in pairs(reexec.FAKE_AWS) do vars[k] = v end
      local code, out = reexec.run(SPEC, vars)
      io.stdout:write(out)
      assert.are.equal(0, code, "the child run failed (its output is above)")
      assert.truthy(out:find("0 failures / 0 errors", 1, true), out)
    end)
  end)
  return
end

-- ---- the child: AWS_ENDPOINT_URL_DYNAMODB points at DynamoDB Local ----------------------------

local cjson = require("cjson")
local aws = require("rcpt.aws")
local canon = require("support.ddb_canon")
local curl = require("support.curl")
local function load_suite(name)
  return assert(loadfile(env.src .. "/tests/spec/support/" .. name .. ".lua", "t", _ENV))()
end
local suite = load_suite("store_suite")

local seq = 0
local function new_table()
  seq = seq + 1
  local name = string.format("rcpt-t%03d", seq)
  local info, msg = require("rcpt.aws.table").init(name, { poll_s = 0.2 })
  assert(info, msg)
  return name
end

local function drop_table(name)
  aws.dynamodb("DeleteTable", cjson.encode({ TableName = name }))
end

suite.run("rcpt.store on DynamoDB Local (shared entity-store cases)", {
  backend = "dynamodb",
  exact_numbers = false,
  new_store = function()
    local url = "dynamodb:" .. new_table()
    return assert(store.open(url)), url
  end,
  drop = function(url) drop_table(url:match("^dynamodb:(.+)$")) end,
})

describe("rcpt store init / describe on DynamoDB Local", function()
  local endpoint = os.getenv("AWS_ENDPOINT_URL_DYNAMODB")

  it("creates the spec's table, enables TTL, and is idempotent", function()
    local code, _, err = env.rcpt({ "store", "init", "--store", "dynamodb:rcpt-init" })
    assert.are.equal(0, code, err)
    assert.truthy(err:find("created table rcpt-init", 1, true), err)
    -- the table as DynamoDB describes it, seen through curl (an independent client)
    local st, d = curl.aws_json(endpoint, "DynamoDB_20120810.DescribeTable", { TableName = "rcpt-init" })
    assert.are.equal(200, st)
    local t = d.Table
    assert.are.equal("ACTIVE", t.TableStatus)
    assert.are.equal("NEW_AND_OLD_IMAGES", t.StreamSpecification.StreamViewType)
    assert.are.equal("PAY_PER_REQUEST", t.BillingModeSummary.BillingMode)
    local want = cjson.decode(env.read(env.src .. "/tests/support/dynamodb_table.json"))
    local gsis = {}
    for _, g in ipairs(t.GlobalSecondaryIndexes) do gsis[g.IndexName] = g end
    for _, g in ipairs(want.GlobalSecondaryIndexes) do
      assert.truthy(gsis[g.IndexName], g.IndexName)
      assert.are.same(g.KeySchema, gsis[g.IndexName].KeySchema)
      assert.are.equal("ALL", gsis[g.IndexName].Projection.ProjectionType)
    end
    assert.are.same(want.KeySchema, t.KeySchema)
    local _, ttl = curl.aws_json(endpoint, "DynamoDB_20120810.DescribeTimeToLive", { TableName = "rcpt-init" })
    assert.are.equal("time_to_live", ttl.TimeToLiveDescription.AttributeName)
    -- again: kept, not an error
    code, _, err = env.rcpt({ "store", "init", "--store", "dynamodb:rcpt-init" })
    assert.are.equal(0, code, err)
    assert.truthy(err:find("kept table rcpt-init", 1, true), err)
    local out
    code, out, err = env.rcpt({ "store", "describe" }, { env = { RCPT_STORE = "dynamodb:rcpt-init" } })
    assert.are.equal(0, code, err)
    assert.truthy(out:find("index GSITYPE (TYPE HASH)", 1, true), out)
    assert.truthy(out:find("stream NEW_AND_OLD_IMAGES", 1, true), out)
    -- a table with other keys is a clear error
    st = curl.aws_json(endpoint, "DynamoDB_20120810.CreateTable", { TableName = "rcpt-other",
      AttributeDefinitions = { { AttributeName = "id", AttributeType = "S" } },
      KeySchema = { { AttributeName = "id", KeyType = "HASH" } }, BillingMode = "PAY_PER_REQUEST" })
    assert.are.equal(200, st)
    code, _, err = env.rcpt({ "store", "init", "--store", "dynamodb:rcpt-other" })
    assert.are.equal(1, code)
    assert.truthy(err:find("rcpt-other exists with a different schema: keys are (id HASH)", 1, true), err)
    -- a missing table: opening works (no call), the first use names the table and is not
    -- mistaken for a missing item (EHTTP, not ENOTFOUND); the secret never shows
    local s = assert(store.open("dynamodb:rcpt-missing"))
    local ok, msg, name = s:get("IMAGE", { image_id = suite.IMG })
    s:close()
    assert.is_nil(ok)
    assert.are.equal("EHTTP", name)
    assert.truthy(msg:find("ResourceNotFoundException", 1, true), msg)
    assert.truthy(msg:find("GetItem rcpt-missing", 1, true), msg)
    assert.falsy(msg:find(os.getenv("AWS_SECRET_ACCESS_KEY"), 1, true))
    assert.are.equal("EINVAL", select(3, store.open("dynamodb:x")))
    -- a key with a NUL inside would address another item through get/delete: refused
    local t = new_table()
    s = assert(store.open("dynamodb:" .. t))
    ok, msg, name = s:put_item({ PK = { S = "a\0b" }, SK = { S = "c" } })
    s:close()
    drop_table(t)
    assert.are.equal("EINVAL", name)
    assert.truthy(msg:find("must not contain NUL", 1, true), msg)
  end)

  it("holds the same items as SQLite for the same writes (canonical DynamoDB JSON)", function()
    local ocr = require("rcpt.ocr")
    local dir = env.tmpdir()
    finally(function() env.rmrf(dir) end)
    local tname = new_table()
    local d = assert(store.open("dynamodb:" .. tname))
    local s = assert(store.open("sqlite:" .. dir .. "/s.db"))
    local doc = assert(ocr.parse(env.read(env.data .. "/vision_bar_receipt.ocr.json")))
    local gen = require("support.gen_ocr")
    local big = assert(ocr.parse((gen({ lines = 20, words_per_line = 3, letters_per_word = 3, seed = 9,
      tags = { "phone", "address", "url", "date" } }))))
    local BIG = "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
    for _, st in ipairs({ d, s }) do
      assert(st:put_ocr(suite.IMG, doc, { receipt_id = 1 }))
      assert(st:put_ocr(BIG, big, { receipt_id = 3 }))
      assert(st:put("IMAGE", { image_id = suite.IMG, width = 3024, height = 4032, timestamp_added = "2025-10-24T12:00:00+00:00",
        raw_s3_bucket = "raw", raw_s3_key = "raw/é.png", receipt_count = 1, image_type = "NATIVE" }))
      assert(st:put("RECEIPT_METADATA", { image_id = suite.IMG, receipt_id = 1, place_id = "ChIJ1",
        merchant_name = "614 Gravier", validated_by = "INFERENCE", timestamp = "2025-10-24T12:00:00+00:00",
        matched_fields = { "name", "google_places_phone" } }))
      assert(st:update("RECEIPT_WORD", { image_id = suite.IMG, receipt_id = 1, line_id = 1, word_id = 1 },
        { embedding_status = "SUCCESS" }, { condition = "exists" }))
    end
    local ed = suite.export_text(d, dir, "d.jsonl")
    local es = suite.export_text(s, dir, "s.jsonl")
    local n = select(2, es:gsub("\n", ""))
    assert.are.equal(2 * 392 + 2 * (20 + 60 + 180) + 2, n)
    assert.are.equal(canon.export(es), canon.export(ed))
    -- the DynamoDB export is already canonical except for numbers' text: attribute names sorted
    local first = ed:match("^[^\n]+")
    assert.truthy(first:find('^{"Item":{"GSI1PK"'), first:sub(1, 80))
    -- the SQLite export imported into DynamoDB exports the same bytes as the DynamoDB writes
    local t3 = new_table()
    local d3 = assert(store.open("dynamodb:" .. t3))
    assert.are.equal(n, assert(d3:import(dir .. "/s.jsonl")))
    assert.are.equal(ed, suite.export_text(d3, dir, "d3.jsonl"))
    for _, st in ipairs({ d, s, d3 }) do st:close() end
    for _, t in ipairs({ tname, t3 }) do drop_table(t) end
  end)

  it("exports and imports through the commands", function()
    local dir = env.tmpdir()
    finally(function() env.rmrf(dir) end)
    local a, b = new_table(), "rcpt-imported"
    local st = assert(store.open("dynamodb:" .. a))
    for l = 1, 30 do assert(st:put("LINE", suite.geom("line " .. l, { image_id = suite.IMG, line_id = l }))) end
    st:close()
    local code, _, err = env.rcpt({ "export", "--store", "dynamodb:" .. a, "-o", dir .. "/a.jsonl" })
    assert.are.equal(0, code, err)
    assert.truthy(err:find("exported 30 items", 1, true), err)
    code, _, err = env.rcpt({ "store", "init", "--store", "dynamodb:" .. b })
    assert.are.equal(0, code, err)
    code, _, err = env.rcpt({ "import", "--store", "dynamodb:" .. b, dir .. "/a.jsonl" })
    assert.are.equal(0, code, err)
    local out
    code, out = env.rcpt({ "export" }, { env = { DYNAMO_TABLE_NAME = b } })
    assert.are.equal(0, code)
    assert.are.equal(env.read(dir .. "/a.jsonl"), out)
  end)
end)
