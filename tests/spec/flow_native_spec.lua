-- NATIVE end to end (spec/ocr-geometry.md §8.1): the examples/native phone
-- screenshot is receipt 1, the whole image; its OCR becomes the receipt's
-- ReceiptLine/Word/Letter directly; no refinement job.
local env = require("support.env")
local flow = require("support.ocr_flow")
local ocr = require("rcpt.ocr")

describe("NATIVE end to end", function()
  it("makes receipt 1 of the whole image with its ReceiptLines, no refinement job", function()
    local f = flow.new()
    local png = env.read(env.src .. "/examples/native/receipt.png")
    local text = env.read(env.src .. "/examples/native/receipt.ocr.json")
    local r, image_id, job_id = f:run(png, text, { name = "receipt.png" })
    assert.is_true(r.success, r.error)
    assert.are.equal("NATIVE", r.image_type)
    assert.are.same({ 1 }, r.receipt_ids)
    local d = f:decision(image_id, job_id)
    assert.are.same({ "COMPLETED", 1 }, { d.status, d.receipt_count })

    local st = f.env.store
    local im = assert(st:get("IMAGE", { image_id = image_id }))
    local rc = assert(st:get("RECEIPT", { image_id = image_id, receipt_id = 1 }))
    assert.are.same({ 1170, 2532, "NATIVE", 1 }, { im.width, im.height, im.image_type, im.receipt_count })
    assert.are.same({ 1170, 2532 }, { rc.width, rc.height })
    -- the same objects and pixels as the Image
    for _, k in ipairs({ "raw_s3_key", "sha256", "cdn_s3_key", "cdn_thumbnail_s3_key", "cdn_small_s3_key",
      "cdn_medium_s3_key" }) do
      assert.are.equal(im[k], rc[k], k)
    end
    assert.are.same({ { x = 0, y = 1 }, { x = 1, y = 1 }, { x = 0, y = 0 }, { x = 1, y = 0 } },
      { rc.top_left, rc.top_right, rc.bottom_left, rc.bottom_right })

    local doc = assert(ocr.parse(text))
    local nl, nw, nt = doc:counts()
    local lines = f:rows("RECEIPT_LINE", { image_id = image_id, receipt_id = 1 })
    assert.are.equal(nl, #lines)
    assert.are.equal(nw, #f:rows("RECEIPT_WORD", { image_id = image_id, receipt_id = 1 }))
    assert.are.equal(nt, #f:rows("RECEIPT_LETTER", { image_id = image_id, receipt_id = 1 }))
    -- ReceiptLines copy the lines (§3.2)
    local l1 = doc:line(1)
    assert.are.equal(l1.text, lines[1].text)
    assert.are.same(l1.bounding_box, lines[1].bounding_box)
    -- no job, no message
    local jobs = f:rows("OCR_JOB", { image_id = image_id })
    assert.are.equal(1, #jobs)
    assert.are.equal("FIRST_PASS", jobs[1].job_type)
    assert.are.equal(0, (f.env:queue("ocr_jobs"):count()))
    assert.are.same({}, r.queued)
    f:close()
  end)
end)
