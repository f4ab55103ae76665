-- rcpt.geom on the real OCR data (spec/ocr-geometry.md §5, §7, §8.2, §10) and
-- on degenerate input.
local geom = require("rcpt.geom")
local cjson = require("cjson")
local env = require("support.env")

local function load(name)
  return cjson.decode(env.read(env.data .. "/" .. name))
end

-- The bar receipt's raw Vision JSON: lines, and the words of every line with
-- their line number (1-based, = line_id).
local function bar_receipt()
  local doc = load("vision_bar_receipt.ocr.json")
  local lines, words = {}, {}
  for i, l in ipairs(doc.lines) do
    lines[i] = l
    for _, w in ipairs(l.words or {}) do
      w.line_id = i
      words[#words + 1] = w
    end
  end
  return lines, words
end

-- The words of a cluster: those whose line is in it (process_photo step a).
local function cluster_words(words, cluster)
  local in_cluster = {}
  for _, i in ipairs(cluster.lines) do in_cluster[i] = true end
  local out = {}
  for _, w in ipairs(words) do
    if in_cluster[w.line_id] then out[#out + 1] = w end
  end
  return out
end

local function pick(list, idx)
  local out = {}
  for _, i in ipairs(idx) do out[#out + 1] = list[i] end
  return out
end

local function fmt_result(name, r)
  local c = {}
  for _, p in ipairs(r.corners) do c[#c + 1] = string.format("(%.6f, %.6f)", p.x, p.y) end
  local k = {}
  for _, v in ipairs(r.coeffs) do k[#k + 1] = string.format("%.17g", v) end
  return string.format("%s: W'=%d H'=%d fallback=%s final_angle=%.6f\n  corners %s\n  coeffs %s",
    name, r.width, r.height, tostring(r.fallback), r.final_angle, table.concat(c, " "),
    table.concat(k, " "))
end

local function quad(x0, y0, x1, y1)
  return { top_left = { x = x0, y = y1 }, top_right = { x = x1, y = y1 },
           bottom_left = { x = x0, y = y0 }, bottom_right = { x = x1, y = y0 },
           angle_degrees = 0 }
end

describe("rcpt.geom classification (§5)", function()
  it("classifies the real bar receipt as PHOTO with the spec's margins", function()
    local lines = bar_receipt()
    assert.are.equal(24, #lines)
    local kind, d = geom.classify(lines, 3024, 4032)
    assert.are.equal("PHOTO", kind)
    assert.is_true(math.abs(d.left - 0.234496) < 5e-7)
    assert.is_true(math.abs(d.right - 0.273294) < 5e-7)
    assert.is_true(math.abs(d.top - 0.180233) < 5e-7)
    assert.is_true(math.abs(d.bottom - 0.067873) < 5e-7)
    assert.are.equal(0, d.photo_distance)
  end)

  for _, name in ipairs({ "target_receipt.lines.json", "stanley_receipt.lines.json" }) do
    it("classifies " .. name .. " as PHOTO", function()
      local doc = load(name)
      assert.is_true(#doc.lines > 30)
      local kind, d = geom.classify(doc.lines, doc.image.width, doc.image.height)
      assert.are.equal(doc.image.image_type, kind)
      assert.are.equal("PHOTO", kind)
      assert.is_true(d.left > 0.01)
    end)
  end

  it("needs all four margins under 0.01 for NATIVE", function()
    local full = { quad(0.005, 0.5, 0.995, 0.995), quad(0.3, 0.004, 0.6, 0.1) }
    assert.are.equal("NATIVE", (geom.classify(full, 1170, 2532)))
    assert.are.equal("SCAN", (geom.classify({ quad(0.1, 0.1, 0.9, 0.9) }, 2480, 3508)))
    -- no line at all: margins 1.0, decided by the size
    local kind, d = geom.classify({}, 3024, 4032)
    assert.are.equal("PHOTO", kind)
    assert.are.equal(1.0, d.left)
  end)
end)

describe("rcpt.geom PHOTO on the bar receipt (§7.1, §8.2)", function()
  it("finds one non-noise cluster and the production receipt size 1488x3025", function()
    local lines, words = bar_receipt()
    local eps = geom.photo_eps(lines)
    assert.is_true(eps > 0)
    local clusters, labels = geom.dbscan(lines, eps, 10)
    assert.are.equal(#lines, #labels)
    local receipts = {}
    for _, c in ipairs(clusters) do
      if c.label ~= -1 then receipts[#receipts + 1] = c end
    end
    assert.is_true(#receipts >= 1)
    local c = receipts[1]
    assert.are.equal(1, c.label)
    local r, why = geom.photo_receipt(cluster_words(words, c), pick(lines, c.lines), 3024, 4032)
    assert.is_truthy(r, why)
    print("\n" .. fmt_result("bar receipt", r))
    assert.are.equal(4, #r.corners)
    assert.are.equal(8, #r.coeffs)
    for _, p in ipairs(r.corners) do
      assert.is_true(p.x >= 0 and p.x <= 3024 and p.y >= 0 and p.y <= 4032)
    end
    -- a portrait receipt; the production record of this image is 1488x3025
    assert.is_true(r.height > r.width)
    assert.are.equal(1488, r.width)
    assert.are.equal(3025, r.height)
    assert.is_false(r.fallback)
    -- the coefficients map the crop's corners back onto the corners
    local dst = { { 0, 0 }, { r.width - 1, 0 }, { r.width - 1, r.height - 1 }, { 0, r.height - 1 } }
    for i, q in ipairs(dst) do
      local s = geom.perspective_apply(r.coeffs, q)
      assert.is_true(math.abs(s.x - r.corners[i].x) < 1e-6)
      assert.is_true(math.abs(s.y - r.corners[i].y) < 1e-6)
    end
    -- TL/TR above BL/BR (y down) and TL left of TR
    assert.is_true(r.corners.top_left.x < r.corners.top_right.x)
    assert.is_true(r.corners.top_left.y < r.corners.bottom_left.y)
  end)

  for _, name in ipairs({ "target_receipt.lines.json", "stanley_receipt.lines.json" }) do
    it("gives a plausible receipt for " .. name .. " (words = line boxes, as that producer)",
      function()
        local doc = load(name)
        local W, H = doc.image.width, doc.image.height
        local clusters = geom.dbscan(doc.lines, geom.photo_eps(doc.lines), 10)
        local done = 0
        for _, c in ipairs(clusters) do
          if c.label ~= -1 then
            local ls = pick(doc.lines, c.lines)
            local r, why = geom.photo_receipt(ls, ls, W, H)
            if r then
              print("\n" .. fmt_result(name .. " cluster " .. c.label, r))
              assert.is_true(r.width >= 10 and r.height >= 10)
              assert.is_true(r.width <= W * 1.5 and r.height <= H * 1.5)
              done = done + 1
            else
              print("\n" .. name .. " cluster " .. c.label .. " skipped: " .. why)
            end
          end
        end
        assert.is_true(done >= 1)
      end)
  end
end)

describe("rcpt.geom degenerate input never crashes", function()
  it("no lines", function()
    assert.are.same({}, (geom.dbscan({}, 0.1, 10)))
    assert.are.equal(0, geom.photo_eps({}))
    local r, why, name = geom.photo_receipt({}, {}, 3024, 4032)
    assert.is_nil(r)
    assert.truthy(why:find("insufficient lines", 1, true))
    assert.are.equal("SKIP", name)
    local s, swhy = geom.scan_receipt({}, 2480, 3508)
    assert.is_nil(s)
    assert.truthy(swhy:find("no points", 1, true))
    assert.are.same({}, (geom.cluster_x({})))
    assert.are.same({}, geom.join_overlapping({}, {}, 100, 100))
  end)

  it("one line", function()
    local l = quad(0.2, 0.4, 0.6, 0.45)
    local clusters = geom.dbscan({ l }, geom.photo_eps({ l }), 10)
    assert.are.equal(1, #clusters)
    assert.are.equal(-1, clusters[1].label)
    local r, why = geom.photo_receipt({ l, l, l, l }, { l }, 3024, 4032)
    assert.is_nil(r)
    assert.truthy(why:find("insufficient lines", 1, true))
    -- SCAN crops a single line fine: it is a rectangle
    local s = assert(geom.scan_receipt({ l }, 2480, 3508))
    assert.are.equal(175, s.width)   -- 0.05 * 3508 = 175.4; portrait forced
    assert.are.equal(992, s.height)  -- 0.4 * 2480
  end)

  it("collinear corners", function()
    local flat = {}
    for i = 1, 6 do flat[i] = quad(0.1 * i, 0.5, 0.1 * i + 0.05, 0.5) end
    local r, why = geom.photo_receipt(flat, flat, 3024, 4032)
    assert.is_nil(r)
    assert.truthy(why:find("hull", 1, true))
    local s, swhy = geom.scan_receipt(flat, 2480, 3508)
    assert.is_nil(s)
    assert.truthy(swhy:find("degenerate", 1, true))
    local c, cwhy, cname = geom.perspective_coeffs({ { 0, 0 }, { 1, 1 }, { 2, 2 }, { 0, 5 } },
      { { 0, 0 }, { 9, 0 }, { 9, 9 }, { 0, 9 } })
    assert.is_nil(c)
    assert.are.equal("source points 0, 1, 2 are collinear", cwhy)
    assert.are.equal("EINVAL", cname)
  end)

  it("corners outside the image", function()
    local out = {}
    for i = 1, 12 do out[i] = quad(1.2, 1.1 + i * 0.02, 1.6, 1.11 + i * 0.02) end
    local r, why = geom.photo_receipt(out, out, 3024, 4032)
    assert.is_true(r ~= nil or type(why) == "string")
    local s, swhy = geom.scan_receipt(out, 2480, 3508)
    assert.is_true(s ~= nil or type(swhy) == "string")
    local kind = geom.classify(out, 3024, 4032)
    assert.are.equal("PHOTO", kind) -- negative margins are not < 0.01 on every side
  end)

  it("raises on wrong types, naming the field", function()
    local ok, err = pcall(geom.classify, { quad(0, 0, 1, 1), { top_left = { x = "a", y = 1 } } },
      10, 10)
    assert.is_false(ok)
    assert.truthy(err:find("lines[2].top_left.x: must be a number", 1, true))
    ok, err = pcall(geom.photo_receipt, {}, {}, 0, 4032)
    assert.is_false(ok)
    assert.truthy(err:find("image size", 1, true))
    ok, err = pcall(geom.join_overlapping, { quad(0, 0, 1, 1) }, { { label = 1, lines = { 2 } } },
      10, 10)
    assert.is_false(ok)
    assert.truthy(err:find("clusters[1].lines[1]", 1, true))
  end)
end)

describe("rcpt.geom primitives from Lua", function()
  it("accepts {x=, y=} and {x, y} points and returns 1-based clusters", function()
    local hull = geom.convex_hull({ { 0, 0 }, { x = 10, y = 0 }, { 10, 10 }, { 0, 10 }, { 5, 5 } })
    assert.are.equal(4, #hull)
    assert.are.same({ x = 0, y = 0 }, hull[1])
    local box = geom.reorder_box_points({ { 5, 0 }, { 10, 5 }, { 5, 10 }, { 0, 5 } })
    assert.are.same({ x = 0, y = 5 }, box.top_left)
    assert.are.same({ x = 10, y = 5 }, box[3])
    local c, wh, ang = geom.min_area_rect({ { 0, 0 }, { 4, 0 }, { 4, 2 }, { 0, 2 } })
    assert.are.same({ x = 2, y = 1 }, c)
    assert.are.equal(8, wh[1] * wh[2])
    assert.are.equal("number", type(ang))
    assert.are.equal(2, geom.round(2.5))
    assert.are.equal(4, geom.round(3.5))
    local inv = assert(geom.invert_affine(2, 0, 1, 0, 2, 1))
    assert.are.same({ 0.5, 0, -0.5, 0, 0.5, -0.5 }, inv)
    local m, b = geom.theil_sen({ { 0, 10 }, { 5, 5 }, { 10, 0 } })
    assert.are.equal(-1, m)
    assert.are.equal(10, b)
  end)

  it("chains x, merges overlapping SCAN clusters and crops them", function()
    -- two receipts side by side on a 2480x3508 page, the right one in two
    -- columns of lines whose boxes overlap
    local lines = {}
    for i = 0, 9 do lines[#lines + 1] = quad(0.05, 0.1 + i * 0.07, 0.35, 0.14 + i * 0.07) end
    for i = 0, 9 do lines[#lines + 1] = quad(0.55, 0.1 + i * 0.07, 0.7, 0.14 + i * 0.07) end
    for i = 0, 9 do lines[#lines + 1] = quad(0.62, 0.12 + i * 0.07, 0.95, 0.16 + i * 0.07) end
    local clusters, labels = geom.cluster_x(lines, 0.08, 2)
    assert.are.equal(3, #clusters)
    assert.are.equal(30, #labels)
    local merged = geom.join_overlapping(lines, clusters, 2480, 3508, 0.01)
    assert.are.equal(2, #merged)
    assert.are.equal(1, merged[1].label)
    assert.are.equal(2, merged[2].label) -- root id kept, not renumbered
    assert.are.equal(20, #merged[2].lines)
    for _, c in ipairs(merged) do
      local s = assert(geom.scan_receipt(pick(lines, c.lines), 2480, 3508))
      assert.is_true(s.height >= s.width)
      assert.are.equal(6, #s.affine)
    end
  end)
end)
