-- The OCR results handler (issue 2 items 6 and 10; spec/ocr-geometry.md §9.2,
-- DESIGN.md partial batch failures and idempotent re-processing): per SQS
-- record, load the job and routing decision, read and validate the OCR JSON,
-- run the pipeline, finalise the decision.  A batch of good and bad records
-- reports exactly the bad ones (redelivery and size: handler_redelivery_spec).
local env = require("support.env")
local flow = require("support.ocr_flow")
local json = require("rcpt.json")
local store = require("rcpt.store")

local BAR = env.read(env.data .. "/vision_bar_receipt.ocr.json")

-- one textual edit of the real file, checked to have happened
local function edit(pattern, repl)
  local s, n = BAR:gsub(pattern, repl, 1)
  assert(n == 1, "edit did not apply: " .. pattern)
  return s
end

describe("the OCR handler", function()
  local f
  before_each(function() f = flow.new() end)
  after_each(function() f:close() end)

  it("reports exactly the bad records of a mixed batch in batchItemFailures", function()
    local png = flow.blank_png(600, 800)
    local cases = {
      { id = "good", ocr = BAR, ok = true },
      { id = "empty-lines", ocr = '{"lines": []}', ok = true },
      { id = "truncated", ocr = BAR:sub(1, 5000), reason = "unexpected end of input" },
      { id = "wrong-type", ocr = edit('"text"%s*:%s*"', '"text": 5, "was": "'), reason = "lines[0].text: must be a string" },
      { id = "missing-key", ocr = edit('"bounding_box"', '"bounding_boxx"'), reason = "lines[0].bounding_box: required key is missing" },
      { id = "nan", ocr = edit('"confidence"%s*:%s*[%d%.]+', '"confidence": NaN'), reason = "NaN" },
      { id = "huge", ocr = edit('"x"%s*:%s*[%d%.e%-]+', '"x": 1e400'), reason = "out of range" },
      { id = "bad-utf8", ocr = edit('"text"%s*:%s*"', '"text": "\xff\xfe'), reason = "invalid UTF-8" },
      { id = "no-lines-key", ocr = '{"receipts": []}', reason = "lines: required key is missing" },
    }
    local records, ids = {}, {}
    for _, c in ipairs(cases) do
      c.image_id, c.job_id = f:register(png, c.ocr)
      records[#records + 1] = { id = c.id, body = { job_id = c.job_id, image_id = c.image_id } }
    end
    local unknown_img, unknown_job = store.uuid4(), store.uuid4()
    records[#records + 1] = { id = "not-json", raw = "{job_id: nope" }
    records[#records + 1] = { id = "unknown", body = { job_id = unknown_job, image_id = unknown_img } }
    records[#records + 1] = { id = "job-number", body = { job_id = 5, image_id = cases[1].image_id } }
    records[#records + 1] = { id = "no-image-id", body = { job_id = cases[1].job_id } }
    records[#records + 1] = { id = "not-uuid4", body = { job_id = "1234", image_id = cases[1].image_id } }
    local response, results = f:handle(records)

    local expected = {}
    for _, c in ipairs(cases) do if not c.ok then expected[#expected + 1] = c.id end end
    for _, id in ipairs({ "not-json", "unknown", "job-number", "no-image-id", "not-uuid4" }) do
      expected[#expected + 1] = id
    end
    table.sort(expected)
    assert.are.same(expected, flow.failed_ids(response))
    -- the response is exactly what SQS expects
    assert.are.equal(json.encode({ batchItemFailures = response.batchItemFailures }), json.encode(response))

    local by_id = {}
    for _, r in ipairs(results) do by_id[r.message_id] = r end
    for _, c in ipairs(cases) do
      local d = f:decision(c.image_id, c.job_id)
      if c.ok then
        assert.is_true(by_id[c.id].success, c.id)
        assert.are.equal("COMPLETED", d.status, c.id)
        assert.is_nil(d.failure_reason)
      else
        assert.is_false(by_id[c.id].success, c.id)
        assert.are.equal("FAILED", d.status, c.id)
        assert.are.equal(0, d.receipt_count)
        assert.truthy(d.failure_reason:find(c.reason, 1, true), c.id .. ": " .. d.failure_reason)
        assert.truthy(by_id[c.id].error:find(c.reason, 1, true), c.id)
        -- a document refused by validation writes no row at all
        assert.are.equal(0, #f:rows("LINE", { image_id = c.image_id }), c.id)
        assert.is_nil(f.env.store:get("IMAGE", { image_id = c.image_id }))
      end
    end
    -- the good record: the real file's rows
    local good = cases[1]
    assert.are.equal(24, #f:rows("LINE", { image_id = good.image_id }))
    assert.are.equal(62, #f:rows("WORD", { image_id = good.image_id }))
    assert.are.equal(306, #f:rows("LETTER", { image_id = good.image_id }))
    assert.are.same({ lines = 24, words = 62, letters = 306 }, by_id.good.counts)
    local first = f.env.store:get("LINE", { image_id = good.image_id, line_id = 1 })
    assert.are.equal("614 Gravier LLC", first.text)
    -- empty lines: COMPLETED with no receipt (spec §8.2 step 3), an Image row all the same
    local e = cases[2]
    assert.are.equal(0, f:decision(e.image_id, e.job_id).receipt_count)
    local img = assert(f.env.store:get("IMAGE", { image_id = e.image_id }))
    assert.are.same({ 600, 800, 0 }, { img.width, img.height, img.receipt_count })
    -- body errors name the field; the unknown ids wrote nothing
    assert.truthy(by_id["not-json"].error:find("^body: .*JSON"), by_id["not-json"].error)
    assert.are.equal("body.job_id: must be a string, got number", by_id["job-number"].error)
    assert.are.equal("body.image_id: is required", by_id["no-image-id"].error)
    assert.truthy(by_id["not-uuid4"].error:find("body.job_id: must be a uuid4", 1, true))
    assert.truthy(by_id.unknown.error:find("unknown image_id/job_id " .. unknown_img .. "/" .. unknown_job, 1, true))
    assert.are.equal(0, #f.env.store:query_index("TABLE", "IMAGE#" .. unknown_img))
  end)

  it("fails a record whose image is missing, recording the reason, and goes on", function()
    local image_id, job_id = f:register(nil, BAR)
    local image_id2, job_id2 = f:register(flow.blank_png(300, 400), '{"lines": []}')
    local response, results = f:handle({
      { id = "a", body = { job_id = job_id, image_id = image_id } },
      { id = "b", body = { job_id = job_id2, image_id = image_id2 } },
    })
    assert.are.same({ "a" }, flow.failed_ids(response))
    assert.is_true(results[2].success)
    local d = f:decision(image_id, job_id)
    assert.are.equal("FAILED", d.status)
    assert.truthy(d.failure_reason:find("image uploads/raw-receipts/", 1, true), d.failure_reason)
    assert.truthy(d.failure_reason:find("(step load_image)", 1, true), d.failure_reason)
    -- the OCR rows were stored before the image was needed; a retry completes the rest
    assert.are.equal(24, #f:rows("LINE", { image_id = image_id }))
    local job = f.env.store:get("OCR_JOB", { image_id = image_id, job_id = job_id })
    f:put(job.s3_bucket, job.s3_key, flow.blank_png(600, 800))
    response = f:handle({ { id = "a", body = { job_id = job_id, image_id = image_id } } })
    assert.are.same({}, flow.failed_ids(response))
    d = f:decision(image_id, job_id)
    assert.are.equal("COMPLETED", d.status)
    assert.is_nil(d.failure_reason) -- the full Put of the retry drops the old reason
  end)

  it("runs the after_receipt stage once a receipt is final; its failure keeps the OCR data", function()
    local default = require("pipelines.default")
    assert.is_true(#default.after_receipt > 0) -- merchant resolution and embeddings
    local seen
    package.preload["pipelines.spec_after"] = function()
      return {
        first_pass = default.first_pass,
        refinement = default.refinement,
        after_receipt = {
          function(ctx)
            seen = { ids = ctx.receipt_ids, lines = #ctx.doc:lines(), type = ctx.image_type }
            error({ msg = "merchant lookup down", type = "Places" })
          end,
        },
      }
    end
    f.env.settings.pipeline = "spec_after"
    local png = env.read(env.src .. "/examples/native/receipt.png")
    local text = env.read(env.src .. "/examples/native/receipt.ocr.json")
    local r, image_id, job_id, response = f:run(png, text, { name = "receipt.png" })
    package.preload["pipelines.spec_after"] = nil
    assert.are.same({ ids = { 1 }, lines = 22, type = "NATIVE" }, seen)
    -- the seed's rule: the OCR part is done and the record is not failed for it;
    -- the failure is logged and reported in the result
    assert.is_true(r.success)
    assert.are.equal("after_receipt: merchant lookup down (step <function>)", r.embedding_error)
    assert.are.equal(0, #response.batchItemFailures)
    local d = f:decision(image_id, job_id)
    assert.are.same({ "COMPLETED", 1 }, { d.status, d.receipt_count })
    assert.are.equal(22, #f:rows("RECEIPT_LINE", { image_id = image_id, receipt_id = 1 }))
  end)

  it("derives REFINEMENT job ids from the first-pass job and the receipt: uuid4, stable, distinct", function()
    local assets = require("rcpt.assets")
    local uuid = require("rcpt.uuid")
    local j = "665346a9-2679-408c-aad0-f98742d60d35"
    local a, b, c = assets.refinement_job_id(j, 1), assets.refinement_job_id(j, 1), assets.refinement_job_id(j, 2)
    assert.is_true(uuid.is_uuid4(a) and uuid.is_uuid4(c))
    assert.are.equal(a, b)
    assert.are_not.equal(a, c)
    assert.are_not.equal(a, assets.refinement_job_id("765346a9-2679-408c-aad0-f98742d60d35", 1))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", require("rcpt.ids").sha256("abc"))
  end)

  it("runs a REFINEMENT job: the crop's OCR becomes the receipt's rows, nothing else touched", function()
    local image_id = store.uuid4()
    -- a REFINEMENT without a receipt id fails, writing nothing
    local _, bad_job = f:register(nil, BAR, { image_id = image_id, job_type = "REFINEMENT" })
    local rid_job_img, rid_job = f:register(nil, BAR, { image_id = image_id, job_type = "REFINEMENT", receipt_id = 3 })
    local response, results = f:handle({
      { id = "bad", body = { job_id = bad_job, image_id = image_id } },
      { id = "ok", body = { job_id = rid_job, image_id = rid_job_img } },
    })
    assert.are.same({ "bad" }, flow.failed_ids(response))
    assert.truthy(results[1].error:find("OCR_JOB.receipt_id", 1, true))
    assert.are.equal("REFINEMENT", results[2].image_type)
    assert.are.same({ 3 }, results[2].receipt_ids)
    assert.are.equal(24, #f:rows("RECEIPT_LINE", { image_id = image_id, receipt_id = 3 }))
    assert.are.equal(62, #f:rows("RECEIPT_WORD", { image_id = image_id, receipt_id = 3 }))
    assert.are.equal(306, #f:rows("RECEIPT_LETTER", { image_id = image_id, receipt_id = 3 }))
    assert.are.equal(0, #f:rows("LINE", { image_id = image_id }))
    assert.is_nil(f.env.store:get("IMAGE", { image_id = image_id }))
    local d = f:decision(image_id, rid_job)
    assert.are.same({ "COMPLETED", 1 }, { d.status, d.receipt_count })
  end)
end)
