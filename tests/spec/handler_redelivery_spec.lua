-- The OCR results handler, the heavier cases (issue 2 item 10; DESIGN.md
-- idempotent re-processing): 10 MB of lines, and the same SQS message
-- delivered twice leaving the same store (rows, jobs, timestamps) with no
-- new REFINEMENT job.
local env = require("support.env")
local flow = require("support.ocr_flow")
local gen = require("support.gen_ocr")
local json = require("rcpt.json")
local synth = require("rcpt.synth")

local BAR = env.read(env.data .. "/vision_bar_receipt.ocr.json")

describe("the OCR handler (redelivery, size)", function()
  local f
  before_each(function() f = flow.new() end)
  after_each(function() f:close() end)

  it("takes 10 MB of lines", function()
    local big, info = gen({ lines = 800, words_per_line = 5, letters_per_word = 5, width = 1000, height = 1000,
      pretty = false })
    assert.is_true(info.bytes > 10 * 1000 * 1000, "generated " .. info.bytes .. " bytes")
    local r, image_id = f:run(flow.blank_png(1000, 1000), big)
    assert.is_true(r.success, r.error)
    assert.are.same({ lines = info.lines, words = info.words, letters = info.letters }, r.counts)
    assert.are.equal(info.lines, #f:rows("LINE", { image_id = image_id }))
  end)

  it("gives the same store when the same message is delivered twice", function()
    -- a smaller picture of the real bar receipt (SCAN by its size): receipts with REFINEMENT jobs
    local pic = synth.photo_over(BAR, 1512, 2016)
    local image_id, job_id = f:register(pic.image_bytes, BAR, { name = "bar.jpg" })
    local msg = { id = "m1", body = { job_id = job_id, image_id = image_id } }
    local _, res = f:handle({ msg })
    assert.is_true(res[1].success, res[1].error)
    local n = #res[1].receipt_ids
    assert.is_true(n >= 1)
    local first = f:export()
    local refine = {}
    for _, j in ipairs(f:rows("OCR_JOB", { image_id = image_id })) do
      if j.job_type == "REFINEMENT" then refine[#refine + 1] = j end
    end
    assert.are.equal(n, #refine)
    local q = f.env:queue("ocr_jobs")
    assert.are.equal(n, (q:count()))

    -- twice more, once in the same batch under another message id
    local r2 = f:handle({ msg, { id = "m1-again", body = msg.body } })
    assert.are.same({}, flow.failed_ids(r2))
    assert.are.equal(first, f:export())
    -- the jobs are still PENDING, so their messages went out again (at least
    -- once; refinement is idempotent too) -- under the same job ids
    local msgs = q:receive(10, 60)
    assert.are.equal(3 * n, #msgs)
    local known = {}
    for _, j in ipairs(refine) do known[j.job_id] = true end
    for _, m in ipairs(msgs) do
      local b = json.decode(m.body)
      assert.are.equal(image_id, b.image_id)
      assert.is_true(known[b.job_id], b.job_id)
      assert(q:delete(m.receipt))
    end

    -- once the worker has answered (jobs COMPLETED), a re-run neither resets them nor re-sends
    for _, j in ipairs(refine) do
      assert(f.env.store:update("OCR_JOB", { image_id = image_id, job_id = j.job_id }, { status = "COMPLETED" }))
    end
    local before = f:export()
    f:handle({ msg })
    assert.are.equal(before, f:export())
    assert.are.equal(0, (q:count()))
  end)

end)
