-- label: netns, noasan
-- The DynamoDB Local stand-in (support.dynamodb_local) speaks the DynamoDB and DynamoDB Streams
-- JSON protocols as the C client will: SigV4-signed POSTs to / through curl's --aws-sigv4.
-- The table is the entity store's own definition (tests/support/dynamodb_table.json, the same
-- as lua/rcpt/aws/table_definition.lua).
local cjson = require("cjson")
local env = require("support.env")
local curl = require("support.curl")
local ddb_local = require("support.dynamodb_local")
local proc = require("support.proc")

local TABLE = "rcpt-standin"
local IMAGE = "IMAGE#3f52804b-2fad-4e00-92c8-b593da3a8ed3"

local function deep_equal(a, b, path)
  path = path or "$"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
  end
  for k, v in pairs(a) do
    local ok, where = deep_equal(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, where end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": missing on the left" end
  end
  return true
end

describe("DynamoDB Local stand-in", function()
  local ddb

  setup(function()
    ddb = ddb_local.start()
  end)
  teardown(function()
    if ddb then ddb.stop() end
  end)

  local function call(op, body)
    local st, j, r = curl.aws_json(ddb.endpoint, "DynamoDB_20120810." .. op, body)
    assert.are.equal(200, st, op .. ": " .. r.body)
    return j
  end
  local function streams(op, body)
    local st, j, r = curl.aws_json(ddb.endpoint, "DynamoDBStreams_20120810." .. op, body)
    assert.are.equal(200, st, op .. ": " .. r.body)
    return j
  end

  it("runs only in a private network namespace and answers on loopback", function()
    assert.are.same({ "lo" }, ddb_local.interfaces())
    assert.truthy(ddb.alive())
    print(string.format("\nDynamoDB Local answered %.2f s after launch", ddb.ready_after))
    local st, j = curl.aws_json(ddb.endpoint, "DynamoDB_20120810.ListTables", {})
    assert.are.equal(200, st)
    assert.are.same({}, j.TableNames)
  end)

  it("the Lua table definition is the JSON one", function()
    local json = cjson.decode(env.read(env.src .. "/tests/support/dynamodb_table.json"))
    local ok, where = deep_equal(json, require("rcpt.aws.table_definition"))
    assert.is_true(ok, where)
  end)

  it("creates the entity table with its GSIs and a NEW_AND_OLD_IMAGES stream", function()
    local def = cjson.decode(env.read(env.src .. "/tests/support/dynamodb_table.json"))
    def.TableName = TABLE
    local out = call("CreateTable", def).TableDescription
    assert.are.equal(TABLE, out.TableName)
    local d = call("DescribeTable", { TableName = TABLE }).Table
    assert.are.equal("ACTIVE", d.TableStatus)
    local names = {}
    for _, g in ipairs(d.GlobalSecondaryIndexes) do
      names[#names + 1] = g.IndexName
      assert.are.equal("ALL", g.Projection.ProjectionType)
    end
    table.sort(names)
    assert.are.same({ "GSI1", "GSI2", "GSI3", "GSITYPE" }, names)
    assert.is_true(d.StreamSpecification.StreamEnabled)
    assert.are.equal("NEW_AND_OLD_IMAGES", d.StreamSpecification.StreamViewType)
    assert.truthy(d.LatestStreamArn)
    local ttl = call("UpdateTimeToLive", { TableName = TABLE,
      TimeToLiveSpecification = { AttributeName = "time_to_live", Enabled = true } })
    assert.are.equal("time_to_live", ttl.TimeToLiveSpecification.AttributeName)
  end)

  it("puts, transacts (all or nothing), queries a GSI and streams the changes", function()
    call("PutItem", { TableName = TABLE, Item = {
      PK = { S = IMAGE }, SK = { S = "IMAGE" }, TYPE = { S = "IMAGE" },
      GSI3PK = { S = "IMAGE#NATIVE" }, GSI3SK = { S = "NUM_RECEIPTS#00000" },
      width = { N = "1536" } } })

    local lines = {}
    for i = 1, 3 do
      local sk = string.format("LINE#%05d", i)
      lines[#lines + 1] = { Put = { TableName = TABLE,
        Item = { PK = { S = IMAGE }, SK = { S = sk }, TYPE = { S = "LINE" },
          GSI1PK = { S = IMAGE }, GSI1SK = { S = sk }, text = { S = "line " .. i } },
        ConditionExpression = "attribute_not_exists(PK) and attribute_not_exists(SK)" } }
    end
    call("TransactWriteItems", { TransactItems = lines })

    -- the same transaction again: every condition fails, nothing is written, and the error
    -- names the cancellation reasons the C client has to report
    local st, j = curl.aws_json(ddb.endpoint, "DynamoDB_20120810.TransactWriteItems",
      { TransactItems = lines })
    assert.are.equal(400, st)
    assert.truthy(j.__type:find("TransactionCanceledException", 1, true))
    assert.are.equal("ConditionalCheckFailed", j.CancellationReasons[1].Code)

    local q = call("Query", { TableName = TABLE, IndexName = "GSI1",
      KeyConditionExpression = "GSI1PK = :pk AND begins_with(GSI1SK, :line)",
      ExpressionAttributeValues = { [":pk"] = { S = IMAGE }, [":line"] = { S = "LINE#" } } })
    assert.are.equal(3, q.Count)
    assert.are.equal("line 1", q.Items[1].text.S)

    local ls = streams("ListStreams", { TableName = TABLE })
    assert.are.equal(1, #ls.Streams)
    local arn = ls.Streams[1].StreamArn
    local desc = streams("DescribeStream", { StreamArn = arn }).StreamDescription
    assert.are.equal("NEW_AND_OLD_IMAGES", desc.StreamViewType)
    assert.are.equal(1, #desc.Shards)
    local it = streams("GetShardIterator", { StreamArn = arn, ShardId = desc.Shards[1].ShardId,
      ShardIteratorType = "TRIM_HORIZON" }).ShardIterator
    local records = {}
    for _ = 1, 5 do -- a shard is read page by page until a page comes back empty
      local page = streams("GetRecords", { ShardIterator = it, Limit = 2 })
      for _, r in ipairs(page.Records) do records[#records + 1] = r end
      if #page.Records == 0 then break end
      it = page.NextShardIterator
    end
    assert.are.equal(4, #records) -- the image and three lines: the failed transaction left none
    local first = records[1]
    assert.are.equal("INSERT", first.eventName)
    assert.are.equal("aws:dynamodb", first.eventSource)
    assert.are.equal(IMAGE, first.dynamodb.Keys.PK.S)
    assert.are.equal("IMAGE", first.dynamodb.NewImage.TYPE.S)
    assert.are.equal("1536", first.dynamodb.NewImage.width.N)
    assert.is_nil(first.dynamodb.OldImage)
    for i = 2, 4 do
      assert.are.equal("INSERT", records[i].eventName)
      assert.are.equal(string.format("LINE#%05d", i - 1), records[i].dynamodb.NewImage.SK.S)
    end

    -- a MODIFY carries both images
    call("UpdateItem", { TableName = TABLE, Key = { PK = { S = IMAGE }, SK = { S = "IMAGE" } },
      UpdateExpression = "SET width = :w", ExpressionAttributeValues = { [":w"] = { N = "800" } } })
    local page = streams("GetRecords", { ShardIterator = it })
    assert.are.equal(1, #page.Records)
    assert.are.equal("MODIFY", page.Records[1].eventName)
    assert.are.equal("1536", page.Records[1].dynamodb.OldImage.width.N)
    assert.are.equal("800", page.Records[1].dynamodb.NewImage.width.N)
  end)

  it("stops for good: nothing of the server is left", function()
    local pid = ddb.pid
    ddb.stop()
    ddb.stop() -- idempotent
    assert.are.same({}, proc.group(pid))
    assert.is_nil(proc.http_status(ddb.endpoint .. "/"))
    ddb = nil
  end)
end)

describe("DynamoDB Local guard", function()
  it("names the namespace rule when it refuses", function()
    -- this spec runs in a private namespace, so the refusal is checked on the helper's own
    -- test: more than one interface means "not private"
    local saved = ddb_local.interfaces
    ddb_local.interfaces = function() return { "lo", "eth0" } end
    local ok, err = pcall(ddb_local.start)
    ddb_local.interfaces = saved
    assert.is_false(ok)
    assert.truthy(tostring(err):find("private network namespace", 1, true))
    assert.truthy(tostring(err):find("eth0", 1, true))
  end)
end)
