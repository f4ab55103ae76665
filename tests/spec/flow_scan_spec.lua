-- SCAN end to end (issue 3 item 8; spec/ocr-geometry.md §8.3): the generated
-- 2480x3508 flatbed page with three receipts at -7, 0 and +5 degrees (the
-- examples/scan preset) gives three crops of the true sizes with three
-- REFINEMENT jobs; two receipts whose boxes overlap merge into one.
local flow = require("support.ocr_flow")
local image = require("rcpt.image")
local synth = require("rcpt.synth")

local function centroid(q)
  local x, y = 0, 0
  for _, p in ipairs(q) do x, y = x + p.x, y + p.y end
  return { x = x / #q, y = y / #q }
end

local function dist(a, b) return math.sqrt((a.x - b.x) ^ 2 + (a.y - b.y) ^ 2) end

describe("SCAN end to end", function()
  local f
  before_each(function() f = flow.new() end)
  after_each(function() f:close() end)

  it("cuts the three receipts of the example page at their true sizes and corners", function()
    local s = synth.scan({ seed = 1 })
    assert.are.equal(3, #s.truth.receipts)
    local r, image_id, job_id = f:run(s.image_bytes, s.ocr_json, { name = "page.png" })
    assert.is_true(r.success, r.error)
    assert.are.equal("SCAN", r.image_type)
    assert.are.equal(3, #r.receipt_ids)
    local d = f:decision(image_id, job_id)
    assert.are.same({ "COMPLETED", 3 }, { d.status, d.receipt_count })
    assert.are.equal(3, f.env.store:get("IMAGE", { image_id = image_id }).receipt_count)

    local receipts = f:rows("RECEIPT", { image_id = image_id })
    assert.are.equal(3, #receipts)
    local W, H = s.width, s.height
    local matched = {}
    for _, rc in ipairs(receipts) do
      -- stored y-up and normalised; back to pixels, y down, to compare with the truth
      assert.is_true(rc.top_left.y > rc.bottom_left.y and rc.top_right.y > rc.bottom_right.y)
      local px = {}
      for i, k in ipairs({ "top_left", "top_right", "bottom_right", "bottom_left" }) do
        px[i] = { x = rc[k].x * W, y = (1 - rc[k].y) * H }
      end
      local best, bd = nil, math.huge
      for i, t in ipairs(s.truth.receipts) do
        local dd = dist(centroid(px), centroid(t.corners_px))
        if dd < bd then best, bd = i, dd end
      end
      assert.is_nil(matched[best])
      matched[best] = true
      local t = s.truth.receipts[best]
      assert.is_true(math.abs(rc.width - t.width) <= 2, string.format("width %d vs %d", rc.width, t.width))
      assert.is_true(math.abs(rc.height - t.height) <= 2, string.format("height %d vs %d", rc.height, t.height))
      for k = 1, 4 do assert.is_true(dist(px[k], t.corners_px[k]) < 3, "corner " .. k) end
      -- the crop in the object store has the Receipt's size
      local png = assert(f:get(rc.raw_s3_bucket, rc.raw_s3_key))
      local img <close> = assert(image.decode(png))
      assert.are.same({ rc.width, rc.height }, { img:width(), img:height() })
      assert.are.equal(string.format("raw/%s_RECEIPT_%05d.png", image_id, rc.receipt_id), rc.raw_s3_key)
    end

    local refine = {}
    for _, j in ipairs(f:rows("OCR_JOB", { image_id = image_id })) do
      if j.job_type == "REFINEMENT" then refine[j.receipt_id] = j end
    end
    for _, rc in ipairs(receipts) do
      assert.is_truthy(refine[rc.receipt_id])
      assert.are.equal(rc.raw_s3_key, refine[rc.receipt_id].s3_key)
    end
    assert.are.equal(3, (f.env:queue("ocr_jobs"):count()))
  end)

  it("merges two receipts whose boxes overlap into one", function()
    local s = synth.scan({ seed = 1, overlap = true })
    local r, image_id, job_id = f:run(s.image_bytes, s.ocr_json, { name = "overlap.png" })
    assert.is_true(r.success, r.error)
    assert.are.equal("SCAN", r.image_type)
    assert.are.equal(1, #r.receipt_ids)
    assert.are.same({ "COMPLETED", 1 }, { f:decision(image_id, job_id).status, f:decision(image_id, job_id).receipt_count })
    local receipts = f:rows("RECEIPT", { image_id = image_id })
    assert.are.equal(1, #receipts)
    -- the one crop covers both receipts' text blocks
    local rc = receipts[1]
    for _, t in ipairs(s.truth.receipts) do
      for _, p in ipairs(t.corners_px) do
        local x, y = p.x / s.width, 1 - p.y / s.height
        assert.is_true(x >= math.min(rc.top_left.x, rc.bottom_left.x) - 0.01
          and x <= math.max(rc.top_right.x, rc.bottom_right.x) + 0.01, "x inside")
        assert.is_true(y <= math.max(rc.top_left.y, rc.top_right.y) + 0.01
          and y >= math.min(rc.bottom_left.y, rc.bottom_right.y) - 0.01, "y inside")
      end
    end
    assert.are.equal(1, (f.env:queue("ocr_jobs"):count()))
  end)
end)
