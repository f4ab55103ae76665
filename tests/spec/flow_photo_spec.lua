-- PHOTO end to end (issue 3 item 8; spec/ocr-geometry.md §8.2): the real bar
-- receipt's OCR over a generated 3024x4032 camera JPEG goes through the
-- handler: PHOTO, one receipt of 1488x3025 (the original's size for this
-- OCR), its corners stored normalised with y up, the raw PNGs and CDN JPEGs
-- under the §8 keys and decodable at the §8 sizes, a REFINEMENT job and its
-- queue message.
local env = require("support.env")
local flow = require("support.ocr_flow")
local geom = require("rcpt.geom")
local image = require("rcpt.image")
local json = require("rcpt.json")
local ocr = require("rcpt.ocr")
local synth = require("rcpt.synth")

local BAR = env.read(env.data .. "/vision_bar_receipt.ocr.json")

local function decoded_size(bytes)
  local img <close> = assert(image.decode(bytes))
  return { img:width(), img:height() }
end

describe("PHOTO end to end", function()
  local f, r, image_id, job_id, pic
  setup(function()
    f = flow.new()
    pic = synth.photo_over(BAR, 3024, 4032)
    r, image_id, job_id = f:run(pic.image_bytes, BAR, { name = "bar.jpg" })
  end)
  teardown(function() f:close() end)

  it("classifies the photo, cuts one 1488x3025 receipt and completes the routing decision", function()
    assert.is_true(r.success, r.error)
    assert.are.equal("PHOTO", r.image_type)
    assert.are.same({ 1 }, r.receipt_ids)
    local d = f:decision(image_id, job_id)
    assert.are.same({ "COMPLETED", 1 }, { d.status, d.receipt_count })
    assert.is_nil(d.skipped_clusters)
    local im = assert(f.env.store:get("IMAGE", { image_id = image_id }))
    assert.are.same({ 3024, 4032, "PHOTO", 1 }, { im.width, im.height, im.image_type, im.receipt_count })
    local rc = assert(f.env.store:get("RECEIPT", { image_id = image_id, receipt_id = 1 }))
    assert.are.same({ 1488, 3025 }, { rc.width, rc.height })
    -- the image-level rows of the real file; no receipt rows before refinement
    assert.are.equal(24, #f:rows("LINE", { image_id = image_id }))
    assert.are.equal(0, #f:rows("RECEIPT_LINE", { image_id = image_id, receipt_id = 1 }))
  end)

  it("stores the receipt corners normalised with y up: the §8.2 corners as (X/W, 1 - Y/H)", function()
    local doc = assert(ocr.parse(BAR))
    local want = assert(geom.photo_receipt(doc:words(), doc:lines(), 3024, 4032))
    local rc = f.env.store:get("RECEIPT", { image_id = image_id, receipt_id = 1 })
    for i, k in ipairs({ "top_left", "top_right", "bottom_right", "bottom_left" }) do
      local p = want.corners[i]
      assert.is_true(math.abs(rc[k].x - p.x / 3024) < 1e-15, k .. ".x")
      assert.is_true(math.abs(rc[k].y - (1 - p.y / 4032)) < 1e-15, k .. ".y")
    end
    assert.is_true(rc.top_left.y > rc.bottom_left.y and rc.top_right.y > rc.bottom_right.y)
    -- y up like the lines: the receipt's top corners lie above its first line's bottom
    local l1 = f.env.store:get("LINE", { image_id = image_id, line_id = 1 })
    assert.is_true(rc.top_left.y >= l1.bottom_left.y)
  end)

  it("puts the raw PNGs and CDN JPEGs under the §8 keys, decodable at the §8 sizes", function()
    local raw, site = f.env.bucket.raw, f.env.bucket.site
    local im = f.env.store:get("IMAGE", { image_id = image_id })
    local rc = f.env.store:get("RECEIPT", { image_id = image_id, receipt_id = 1 })
    assert.are.equal("raw/" .. image_id .. ".png", im.raw_s3_key)
    local crop_key = "raw/" .. image_id .. "_RECEIPT_00001.png"
    assert.are.equal(crop_key, rc.raw_s3_key)
    assert.are.same({ raw, raw, site, site }, { im.raw_s3_bucket, rc.raw_s3_bucket, im.cdn_s3_bucket, rc.cdn_s3_bucket })
    assert.are.same({ 3024, 4032 }, decoded_size(f:get(raw, im.raw_s3_key)))
    local crop_png = f:get(raw, crop_key)
    assert.are.equal("png", image.info(crop_png).format)
    local crop <close> = assert(image.decode(crop_png))
    assert.are.same({ 1488, 3025 }, { crop:width(), crop:height() })
    -- sha256 of the crop's pixels (§8), and the paper is in the middle of the crop
    assert.are.equal(crop:sha256(), rc.sha256)
    local r0, g0, b0 = crop:get_pixel(744, 1512)
    assert.is_true(r0 + g0 + b0 > 3 * 180, "paper expected in the middle of the crop")
    local sizes = {
      { "_thumbnail", "cdn_thumbnail_s3_key", 300 }, { "_small", "cdn_small_s3_key", 600 },
      { "_medium", "cdn_medium_s3_key", 1200 }, { "", "cdn_s3_key", nil },
    }
    for _, row in ipairs({ { im, "assets/" .. image_id, 3024, 4032 }, { rc, "assets/" .. image_id .. "_RECEIPT_00001", 1488, 3025 } }) do
      local ent, base, W, H = row[1], row[2], row[3], row[4]
      for _, s in ipairs(sizes) do
        local key = base .. s[1] .. ".jpg"
        assert.are.equal(key, ent[s[2]])
        local bytes = assert(f:get(site, key), key)
        assert.are.equal("jpeg", image.info(bytes).format)
        local w, h = W, H
        if s[3] then
          local ratio = math.min(s[3] / W, s[3] / H)
          w, h = math.floor(W * ratio), math.floor(H * ratio)
        end
        assert.are.same({ w, h }, decoded_size(bytes), key)
      end
      -- no WebP/AVIF encoder: those keys stay NULL (absent)
      assert.is_nil(ent.cdn_webp_s3_key)
      assert.is_nil(ent.cdn_thumbnail_avif_s3_key)
    end
    -- what the result says was written is what is there
    for _, o in ipairs(r.objects) do assert.is_truthy(f.env:objects(o.bucket):head(o.key), o.key) end
    assert.are.equal(10, #r.objects)
  end)

  it("adds a REFINEMENT OCRJob for the crop and sends its message on the OCR job queue", function()
    local jobs = f:rows("OCR_JOB", { image_id = image_id })
    local refine
    for _, j in ipairs(jobs) do if j.job_type == "REFINEMENT" then refine = j end end
    assert.is_truthy(refine)
    assert.are.same({ "PENDING", 1, f.env.bucket.raw, "raw/" .. image_id .. "_RECEIPT_00001.png" },
      { refine.status, refine.receipt_id, refine.s3_bucket, refine.s3_key })
    assert.are.equal(require("rcpt.assets").refinement_job_id(job_id, 1), refine.job_id)
    local msgs = f.env:queue("ocr_jobs"):receive(10, 1)
    assert.are.equal(1, #msgs)
    assert.are.same({ job_id = refine.job_id, image_id = image_id }, json.decode(msgs[1].body))
    assert.are.same({ refine.job_id }, r.queued)
  end)
end)
