-- Degenerate input through the whole flow (issue 3 item 8): no crash, ever;
-- either a clear error in the routing decision (FAILED + failure_reason, the
-- record in batchItemFailures) or a skipped cluster recorded in the routing
-- decision (skipped_clusters) with the rest of the image processed.
local env = require("support.env")
local flow = require("support.ocr_flow")
local json = require("rcpt.json")

local BAR = env.read(env.data .. "/vision_bar_receipt.ocr.json")

-- Vision JSON from boxes {x0, y0, x1, y1} (VN, y up; x0 > x1 or y0 == y1
-- allowed: degenerate on purpose): one word per line, letters sharing the
-- word's box (the 706a478a2 placeholder geometry)
local function vision(boxes)
  local lines = {}
  for i, b in ipairs(boxes) do
    local x0, y0, x1, y1 = b[1], b[2], b[3], b[4]
    local g = {
      bounding_box = { x = math.min(x0, x1), y = math.min(y0, y1), width = math.abs(x1 - x0), height = math.abs(y1 - y0) },
      top_left = { x = x0, y = y1 }, top_right = { x = x1, y = y1 },
      bottom_left = { x = x0, y = y0 }, bottom_right = { x = x1, y = y0 },
      angle_degrees = 0, angle_radians = 0, confidence = 0.9,
    }
    local text = "L" .. i
    local function with(t) local c = {} for k, v in pairs(g) do c[k] = v end for k, v in pairs(t) do c[k] = v end return c end
    local letters = {}
    for ch in text:gmatch(".") do letters[#letters + 1] = with({ text = ch }) end
    lines[i] = with({ text = text, words = { with({ text = text, letters = letters }) } })
  end
  return json.encode({ lines = lines })
end

-- a PNG header (signature + IHDR) claiming w x h, with a valid CRC
local function crc32(s)
  local c = 0xffffffff
  for i = 1, #s do
    c = c ~ s:byte(i)
    for _ = 1, 8 do c = (c >> 1) ~ (0xedb88320 & -(c & 1)) end
  end
  return c ~ 0xffffffff
end
local function png_header(w, h)
  local ihdr = "IHDR" .. string.pack(">I4I4BBBBB", w, h, 8, 2, 0, 0, 0)
  return "\137PNG\r\n\26\n" .. string.pack(">I4", 13) .. ihdr .. string.pack(">I4", crc32(ihdr) & 0xffffffff)
    .. string.rep("\0", 64)
end

describe("degenerate input", function()
  local f, photo_jpeg
  setup(function()
    f = flow.new()
    photo_jpeg = flow.blank_jpeg(3024, 4032) -- classifies PHOTO when text is inside the margins
  end)
  teardown(function() f:close() end)

  local function run(img, text, name)
    local r, image_id, job_id, response = f:run(img, text, { name = name })
    return r, f:decision(image_id, job_id), response, image_id
  end

  it("one line: PHOTO with only DBSCAN noise, COMPLETED with 0 receipts", function()
    local r, d = run(photo_jpeg, vision({ { 0.4, 0.5, 0.6, 0.52 } }), "one.jpg")
    assert.is_true(r.success, r.error)
    assert.are.equal("PHOTO", r.image_type)
    assert.are.same({ "COMPLETED", 0 }, { d.status, d.receipt_count })
  end)

  it("collinear corners: the PHOTO cluster is skipped with its reason recorded", function()
    local boxes = {}
    for i = 0, 11 do boxes[#boxes + 1] = { 0.3 + i * 0.004, 0.5, 0.34 + i * 0.004, 0.5 } end
    local r, d = run(photo_jpeg, vision(boxes), "flat.jpg")
    assert.is_true(r.success, r.error)
    assert.are.equal("PHOTO", r.image_type)
    assert.are.same({ "COMPLETED", 0 }, { d.status, d.receipt_count })
    assert.are.equal(1, #r.skipped)
    assert.is_string(r.skipped[1].reason)
    assert.truthy(d.skipped_clusters:find(tostring(r.skipped[1].cluster) .. ": " .. r.skipped[1].reason, 1, true))
  end)

  it("collinear corners: the SCAN cluster is skipped with its reason recorded", function()
    local boxes = {}
    for i = 0, 11 do boxes[#boxes + 1] = { 0.3, 0.2 + i * 0.05, 0.3, 0.22 + i * 0.05 } end
    local r, d = run(flow.blank_png(2480, 3508), vision(boxes), "flat.png")
    assert.is_true(r.success, r.error)
    assert.are.equal("SCAN", r.image_type)
    assert.are.same({ "COMPLETED", 0 }, { d.status, d.receipt_count })
    assert.is_true(#r.skipped >= 1)
    assert.is_string(d.skipped_clusters)
  end)

  it("corners outside the image: a receipt (black outside) or a recorded skip, never a crash", function()
    local boxes = {}
    for i = 0, 11 do boxes[#boxes + 1] = { -0.4, 0.05 + i * 0.08, 1.3, 0.09 + i * 0.08 } end
    local r, d, _, image_id = run(photo_jpeg, vision(boxes), "outside.jpg")
    assert.is_true(r.success, r.error)
    assert.are.equal("COMPLETED", d.status)
    assert.are.equal(#r.receipt_ids, d.receipt_count)
    assert.is_true(#r.receipt_ids + #r.skipped >= 1)
    for _, rc in ipairs(f:rows("RECEIPT", { image_id = image_id })) do
      assert.is_true(rc.top_left.y >= rc.bottom_left.y)
      local png = f:get(rc.raw_s3_bucket, rc.raw_s3_key)
      assert.is_truthy(png)
    end
  end)

  it("a 1x1 image: every cluster skipped or cut, recorded, no crash", function()
    local r, d = run(flow.blank_png(1, 1), BAR, "dot.png")
    assert.is_true(r.success, r.error)
    assert.are.equal("COMPLETED", d.status)
    assert.are.equal(#r.receipt_ids, d.receipt_count)
    if #r.skipped > 0 then assert.is_string(d.skipped_clusters) end
  end)

  it("a truncated JPEG: FAILED with the reason, record reported", function()
    local r, d, response = run(photo_jpeg:sub(1, #photo_jpeg // 3), BAR, "cut.jpg")
    assert.is_false(r.success)
    assert.are.equal(1, #response.batchItemFailures)
    assert.are.same({ "FAILED", 0 }, { d.status, d.receipt_count })
    assert.truthy(d.failure_reason:find("image uploads/raw-receipts/", 1, true), d.failure_reason)
    assert.truthy(d.failure_reason:find("(step load_image)", 1, true), d.failure_reason)
  end)

  it("a PNG header claiming 100000x100000 px: refused before decoding, FAILED", function()
    local r, d, response, image_id = run(png_header(100000, 100000), BAR, "huge.png")
    assert.is_false(r.success)
    assert.are.equal(1, #response.batchItemFailures)
    assert.are.equal("FAILED", d.status)
    assert.truthy(d.failure_reason:lower():find("pixel", 1, true), d.failure_reason)
    assert.is_nil(f.env.store:get("IMAGE", { image_id = image_id }))
  end)

  it("not an image at all: FAILED naming the object", function()
    local r, d = run("GIF89a not really", BAR, "x.gif")
    assert.is_false(r.success)
    assert.are.equal("FAILED", d.status)
    assert.truthy(d.failure_reason:find("x.gif", 1, true), d.failure_reason)
  end)
end)
