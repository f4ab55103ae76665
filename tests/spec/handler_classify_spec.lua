-- rcpt.handler.classify: the event classification the fuzz target
-- tests/fuzz/fuzz_event.c drives, with no store opened.  Every event is
-- classified or refused with the structured InvalidEvent error; a record that
-- is not an object fails alone (its batch goes on).
local env = require("support.env")
local json = require("rcpt.json")
local handler = require("rcpt.handler")

local function read(p)
  local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s
end

local function fuzz_seed(name)
  return json.decode(read(env.src .. "/tests/fuzz/corpus/event/" .. name))
end

local function refused(event)
  local ok, e = pcall(handler.classify, event)
  assert.is_false(ok)
  assert.are.equal("table", type(e))
  assert.are.equal("InvalidEvent", e.type)
  return e.msg
end

describe("handler.classify", function()
  it("classifies the example OCR event as one ocr record", function()
    local ev = json.decode(read(env.src .. "/examples/events/sqs_ocr_event.json"))
    local plan = handler.classify(ev)
    assert.are.equal("sqs", plan.kind)
    assert.are.equal(1, #plan.records)
    assert.are.equal("ocr", plan.records[1].kind.name)
    assert.are.equal(ev.Records[1].messageId, plan.records[1].id)
    assert.are.equal("665346a9-2679-408c-aad0-f98742d60d35", plan.records[1].body.job_id)
  end)

  it("gives each SQS record its kind or its own error", function()
    local plan = handler.classify(fuzz_seed("sqs_mixed.json"))
    local got = {}
    for i, r in ipairs(plan.records) do got[i] = r.kind and r.kind.name or r.error end
    assert.are.equal("ocr", got[1])
    assert.matches("^body: JSON: byte 0", got[2])
    assert.are.equal("embed_ndjson", got[3])
    assert.are.equal("body: not an OCR job ({\"job_id\",\"image_id\"}), an embed message or a compaction message", got[5])
    local plan2 = handler.classify(fuzz_seed("sqs_compaction.json"))
    for _, r in ipairs(plan2.records) do assert.are.equal("compaction", r.kind.name) end
  end)

  it("refuses a record that is not an object, alone", function()
    local ev = { Records = { { messageId = "m1", eventSource = "aws:sqs", body = '{"job_id":"j","image_id":"i"}' },
      7, "text", { messageId = "m4", eventSource = "aws:sqs", body = json.null } } }
    local plan = handler.classify(ev)
    assert.are.equal("ocr", plan.records[1].kind.name)
    assert.are.equal("record: must be an object, got number", plan.records[2].error)
    assert.are.equal("record-2", plan.records[2].id)
    assert.are.equal("record: must be an object, got string", plan.records[3].error)
    assert.are.equal("body: JSON text must be a string, got userdata", plan.records[4].error)
    assert.are.equal("m4", plan.records[4].id)
  end)

  it("names stream records by sequence number, then event id", function()
    local plan = handler.classify(fuzz_seed("stream_metadata.json"))
    assert.are.equal("dynamodb_stream", plan.kind)
    assert.are.same({ "101", "102", "103" }, { plan.records[1].id, plan.records[2].id, plan.records[3].id })
    plan = handler.classify({ Records = { { eventSource = "aws:dynamodb", eventID = "e9" }, 5 } })
    assert.are.same({ "e9", "record-2" }, { plan.records[1].id, plan.records[2].id })
  end)

  it("refuses events that are not SQS or stream batches with InvalidEvent", function()
    -- a first record that is not an object used to raise "attempt to index a number value"
    assert.matches("object with keys %[Records%]", refused(fuzz_seed("records_scalar.json")))
    assert.matches("keys %[detail%-type, source%]", refused(fuzz_seed("unknown.json")))
    assert.matches("got string$", refused("text"))
    refused({ Records = {} })
    refused({ Records = "x" })
    refused({ Records = { json.null } })
  end)
end)
