-- label: noasan
-- rcpt.synth: generated receipt images and their Vision OCR JSON agree with
-- each other, classify and cluster as spec/ocr-geometry.md §5/§7 say, the
-- §8 crops of rcpt.geom land on the generated truth, generation is
-- deterministic, and examples/ holds exactly what tools/gen_examples.lua makes.
local synth = require("rcpt.synth")
local geom = require("rcpt.geom")
local ocr = require("rcpt.ocr")
local image = require("rcpt.image")
local env = require("support.env")

-- every preset once per run (the images are large)
local cache = {}
local function gen(name, opts)
  if not cache[name] then
    local preset = name:match("^%a+")
    cache[name] = synth[preset](opts)
  end
  return cache[name]
end
local function native() return gen("native", { seed = 1 }) end
local function photo() return gen("photo", { seed = 1 }) end
local function scan3() return gen("scan", { seed = 1 }) end
local function overlap() return gen("scan_overlap", { seed = 1, overlap = true }) end

local function parse(r)
  local doc, msg = ocr.parse(r.ocr_json)
  assert(doc, msg)
  return doc
end

local function dist(a, b) return math.sqrt((a.x - b.x) ^ 2 + (a.y - b.y) ^ 2) end

local function sorted(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  return c
end

-- luma of the darkest pixel sampled along the middle of a word's quad
local function darkest(img, w, W, H)
  local function px(p) return p.x * W, (1 - p.y) * H end
  local lx, ly = px({ x = (w.top_left.x + w.bottom_left.x) / 2, y = (w.top_left.y + w.bottom_left.y) / 2 })
  local rx, ry = px({ x = (w.top_right.x + w.bottom_right.x) / 2, y = (w.top_right.y + w.bottom_right.y) / 2 })
  local best = 255
  for i = 0, 40 do
    local x, y = math.floor(lx + (rx - lx) * i / 40), math.floor(ly + (ry - ly) * i / 40)
    for dy = -3, 3 do
      if x >= 0 and x < W and y + dy >= 0 and y + dy < H then
        local r, g, b = img:get_pixel(x, y + dy)
        best = math.min(best, (r * 299 + g * 587 + b * 114) // 1000)
      end
    end
  end
  return best
end

describe("rcpt.synth presets", function()
  it("write OCR JSON that rcpt.ocr parses, with the counts they report", function()
    for _, r in ipairs({ native(), photo(), scan3(), overlap() }) do
      local doc = parse(r)
      local nl, nw, nt = doc:counts()
      assert.are.same({ r.counts.lines, r.counts.words, r.counts.letters }, { nl, nw, nt })
      assert.is_true(nl >= 10)
      local info = assert(image.info(r.image_bytes))
      assert.are.same({ r.width, r.height, r.format }, { info.width, info.height, info.format })
    end
  end)

  it("classify as NATIVE, PHOTO and SCAN (spec §5) at their sizes", function()
    local n = native()
    assert.are.same({ 1170, 2532, "png" }, { n.width, n.height, n.format })
    local cls, d = geom.classify(parse(n):lines(), n.width, n.height)
    assert.are.equal("NATIVE", cls)
    for _, k in ipairs({ "left", "right", "top", "bottom" }) do assert.is_true(d[k] < 0.01, k) end
    local p = photo()
    assert.are.same({ 3024, 4032, "jpeg" }, { p.width, p.height, p.format })
    assert.are.equal("PHOTO", (geom.classify(parse(p):lines(), p.width, p.height)))
    local s = scan3()
    assert.are.same({ 2480, 3508 }, { s.width, s.height })
    assert.are.equal("SCAN", (geom.classify(parse(s):lines(), s.width, s.height)))
    assert.are.equal("SCAN", (geom.classify(parse(overlap()):lines(), 2480, 3508)))
  end)

  it("use HEAD geometry: word quads inside the line, letters slicing the word, the real tilt", function()
    local s = scan3()
    local doc = parse(s)
    local want = { -7, 0, 5 }
    for ri, t in ipairs(s.truth.receipts) do
      assert.are.equal(want[ri], t.angle)
      for _, id in ipairs(t.lines) do
        local l = doc:line(id, 2)
        assert.is_near(want[ri], l.angle_degrees, 1e-6)
        assert.is_near(math.rad(want[ri]), l.angle_radians, 1e-9)
        assert.is_near(l.top_left.x, l.words[1].top_left.x, 1e-12)
        assert.is_near(l.top_right.x, l.words[#l.words].top_right.x, 1e-12)
        for _, w in ipairs(l.words) do
          local first, last = w.letters[1], w.letters[#w.letters]
          assert.is_near(w.top_left.x, first.top_left.x, 1e-12)
          assert.is_near(w.bottom_right.y, last.bottom_right.y, 1e-12)
          assert.are.equal(utf8.len(w.text), #w.letters)
          local b = w.bounding_box
          assert.is_near(math.min(w.top_left.x, w.bottom_left.x), b.x, 1e-12)
          assert.is_near(math.min(w.bottom_left.y, w.bottom_right.y, w.top_left.y, w.top_right.y), b.y, 1e-12)
          if #l.words > 1 then assert.is_true(b.width < l.bounding_box.width) end
        end
      end
    end
  end)

  it("tag addresses, phones, dates and URLs like NSDataDetector (every word of a match)", function()
    local n = native()
    local m = n.truth.receipts[1].merchant
    local merchant
    for _, x in ipairs(synth.MERCHANTS) do if x.name == m then merchant = x end end
    assert.is_truthy(merchant)
    local seen = {}
    for _, w in ipairs(parse(n):words()) do
      local e = w.extracted_data
      if e then
        seen[e.type] = (seen[e.type] or 0) + 1
        if e.type == "phone" then assert.are.equal(merchant.phone, e.value) end
        if e.type == "address" then assert.are.equal(merchant.street .. " " .. merchant.city, e.value) end
        if e.type == "url" then assert.are.equal("http://" .. merchant.url, e.value) end
        if e.type == "date" then assert.is_truthy(e.value:match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:00 %+0000$")) end
      end
    end
    local nstreet = select(2, merchant.street:gsub("%S+", ""))
    local ncity = select(2, merchant.city:gsub("%S+", ""))
    assert.are.same({ address = nstreet + ncity, phone = 2, date = 3, url = 1 }, seen)
  end)

  it("draw ink under every word and paper or table elsewhere", function()
    for _, r in ipairs({ native(), photo(), scan3() }) do
      local img <close> = assert(image.decode(r.image_bytes))
      for _, w in ipairs(parse(r):words()) do
        assert.is_true(darkest(img, w, r.width, r.height) < 110, w.text)
      end
    end
    local img <close> = assert(image.decode(photo().image_bytes))
    local r, g, b = img:get_pixel(20, 20) -- the table top
    assert.is_true(r + g + b < 3 * 140)
  end)
end)

describe("rcpt.synth and the §7/§8 geometry", function()
  it("SCAN: three receipts give three x-clusters and scan_receipt crops of the true sizes", function()
    local s = scan3()
    local lines = parse(s):lines()
    local clusters = geom.cluster_x(lines)
    assert.are.equal(3, #clusters)
    local joined = geom.join_overlapping(lines, clusters, s.width, s.height)
    assert.are.equal(3, #joined)
    for i, c in ipairs(clusters) do
      local t = s.truth.receipts[i]
      assert.are.same(sorted(t.lines), sorted(c.lines))
      local sub = {}
      for _, id in ipairs(c.lines) do sub[#sub + 1] = lines[id] end
      local cr = assert(geom.scan_receipt(sub, s.width, s.height))
      assert.is_true(math.abs(cr.width - t.width) <= 2, "width " .. cr.width .. " vs " .. t.width)
      assert.is_true(math.abs(cr.height - t.height) <= 2, "height " .. cr.height .. " vs " .. t.height)
      for k = 1, 4 do assert.is_true(dist(cr.box[k], t.corners_px[k]) < 3, "corner " .. k) end
    end
  end)

  it("SCAN: two receipts whose boxes overlap split on x and merge into one", function()
    local s = overlap()
    local lines = parse(s):lines()
    local clusters = geom.cluster_x(lines)
    assert.are.equal(2, #clusters)
    local boxes = {}
    for i, c in ipairs(clusters) do
      local sub = {}
      for _, id in ipairs(c.lines) do sub[#sub + 1] = lines[id] end
      boxes[i] = assert(geom.cluster_box(sub, s.width, s.height))
    end
    assert.is_true(geom.polygon_iou(boxes[1], boxes[2]) > 0.01)
    local joined = geom.join_overlapping(lines, clusters, s.width, s.height)
    assert.are.equal(1, #joined)
    assert.are.equal(#lines, #joined[1].lines)
    -- the lower receipt hides part of the upper one: hidden words are not in the OCR
    assert.is_true(s.truth.receipts[1].hidden_words > 0)
    assert.are.equal(0, s.truth.receipts[2].hidden_words)
    assert.are.equal(#lines, #s.truth.receipts[1].lines + #s.truth.receipts[2].lines)
  end)

  it("PHOTO: one DBSCAN cluster and photo_receipt corners on the true ones", function()
    local p = photo()
    local doc = parse(p)
    local lines, words = doc:lines(), doc:words()
    local clusters = geom.dbscan(lines, geom.photo_eps(lines), 10)
    assert.are.equal(1, #clusters)
    assert.are.equal(1, clusters[1].label)
    assert.are.equal(#lines, #clusters[1].lines)
    local t = p.truth.receipts[1]
    local cr = assert(geom.photo_receipt(words, lines, p.width, p.height))
    assert.is_false(cr.fallback)
    for k = 1, 4 do
      assert.is_true(dist(cr.corners[k], t.corners_px[k]) < 3,
        string.format("corner %d: (%.1f, %.1f) vs (%.1f, %.1f)", k, cr.corners[k].x, cr.corners[k].y,
          t.corners_px[k].x, t.corners_px[k].y))
    end
    assert.is_true(math.abs(cr.width - t.width) <= 3 and math.abs(cr.height - t.height) <= 3)
  end)

  it("photo_over: a picture for the real bar receipt's OCR, ink inside its line boxes", function()
    local text = env.read(env.data .. "/vision_bar_receipt.ocr.json")
    local r = synth.photo_over(text, 3024, 4032)
    assert.are.same({ 3024, 4032, "jpeg" }, { r.width, r.height, r.format })
    assert.is_true(#r.image_bytes < 4e6)
    local doc = assert(ocr.parse(r.ocr_json))
    assert.are.equal(24, #r.truth.receipts[1].lines)
    local img <close> = assert(image.decode(r.image_bytes))
    for _, l in ipairs(doc:lines()) do
      assert.is_true(darkest(img, l, 3024, 4032) < 110, l.text)
    end
    assert.are.equal("PHOTO", (geom.classify(doc:lines(), 3024, 4032)))
  end)
end)

describe("rcpt.synth determinism and examples/", function()
  it("gives the same bytes for the same seed, other bytes for another", function()
    local a, b = synth.native({ seed = 1 }), synth.native({ seed = 1 })
    assert.are.equal(a.image_bytes, b.image_bytes)
    assert.are.equal(a.ocr_json, b.ocr_json)
    assert.are.equal(native().image_bytes, a.image_bytes)
    local c = synth.native({ seed = 2 })
    assert.are_not.equal(a.ocr_json, c.ocr_json)
    assert.are_not.equal(a.image_bytes, c.image_bytes)
  end)

  it("makes a valid SQS event with a uuid4 job and image", function()
    local ev, job, img = synth.sqs_event({ seed = 1 })
    local uuid = require("rcpt.uuid")
    assert.is_true(uuid.is_uuid4(job) and uuid.is_uuid4(img) and job ~= img)
    local rec = ev.Records[1]
    assert.are.equal(string.format('{"job_id":"%s","image_id":"%s"}', job, img), rec.body)
    assert.are.equal(synth.md5(rec.body), rec.md5OfBody)
    assert.are.equal("d41d8cd98f00b204e9800998ecf8427e", synth.md5(""))
    assert.are.equal("9e107d9d372bb6826bd81d3542a419d6", synth.md5("The quick brown fox jumps over the lazy dog"))
  end)

  it("examples/ equals a fresh run of tools/gen_examples.lua", function()
    local tool = dofile(env.src .. "/tools/gen_examples.lua")
    local fresh = { native = native(), scan = scan3(), photo = photo() }
    for _, e in ipairs(tool.EXAMPLES) do
      assert.are.same({ seed = 1 }, e.opts) -- the presets this spec generated
      local r = fresh[e.preset]
      local dir = env.src .. "/examples/" .. e.dir .. "/"
      assert.is_true(env.read(dir .. e.image) == r.image_bytes, dir .. e.image .. " differs from a fresh generation")
      assert.is_true(env.read(dir .. e.ocr) == r.ocr_json, dir .. e.ocr .. " differs from a fresh generation")
      assert.is_true(#r.image_bytes < 1.5e6 and #r.ocr_json < 1.5e6)
    end
    assert.are.equal(tool.event(), env.read(env.src .. "/examples/events/sqs_ocr_event.json"))
  end)
end)
