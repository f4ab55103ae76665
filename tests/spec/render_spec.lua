-- rcpt.render / `rcpt render`: debugging pictures of an image (line boxes by
-- cluster, labelled receipt quadrilaterals) and of a receipt crop.
local fixture = require("support.refine_fixture")
local support = require("support.env")
local render = require("rcpt.render")
local worker = require("rcpt.ocr_worker")
local image = require("rcpt.image")
local ocr = require("rcpt.ocr")

local function same(c, r, g, b) return c[1] == r and c[2] == g and c[3] == b end

-- pixels of exactly colour c within radius px of (x, y)
local function count_color(img, x, y, radius, c)
  local n = 0
  for yy = math.max(0, math.floor(y) - radius), math.min(img:height() - 1, math.floor(y) + radius) do
    for xx = math.max(0, math.floor(x) - radius), math.min(img:width() - 1, math.floor(x) + radius) do
      if same(c, img:get_pixel(xx, yy)) then n = n + 1 end
    end
  end
  return n
end

local function mid(a, b) return (a.x + b.x) / 2, (a.y + b.y) / 2 end

describe("rcpt.render", function()
  local f
  after_each(function() fixture.close(f); f = nil end)

  it("draws a PHOTO's line boxes in their cluster colour and the labelled receipt, scaled to --max-size", function()
    f = fixture.build({ kind = "photo", queue = false })
    local path = f.dir .. "/out.png"
    local p, info = render.write(f.env, f.image_id, { out = path })
    assert.are.equal(path, p)
    local img <close> = assert(image.decode(support.read(path)))
    -- 3024 x 4032 fit into 2000
    assert.are.equal(1500, img:width())
    assert.are.equal(2000, img:height())
    assert.are.equal("uploads/raw-receipts/" .. f.image_id .. ".jpg", info.source) -- the FIRST_PASS job's object
    assert.are.equal(1, info.clusters)
    assert.are.equal("dbscan", info.method)
    local t = f.r.truth.receipts[1]
    -- every line of the receipt: its colour on the middle of its bottom edge
    -- (the receipt outline covers the outer edges of the text block)
    for i = 2, #t.lines - 1 do
      local b = info.line_boxes[t.lines[i]]
      assert.are.same(render.PALETTE[1], b.color)
      local x, y = mid(b.quad[3], b.quad[4])
      assert.is_true(count_color(img, x, y, 2, b.color) > 0, "line " .. t.lines[i])
    end
    -- and the line colour is not everywhere: not in the middle of the table top
    assert.are.equal(0, count_color(img, 20, 1980, 10, render.PALETTE[1]))
    -- the receipt: outline on its left edge, label box with the text in it
    local rc = info.receipts[1]
    assert.are.equal(1, rc.receipt_id)
    local x, y = mid(rc.quad[1], rc.quad[4])
    assert.is_true(count_color(img, x, y, 3, render.RECEIPT) > 0)
    local lab = rc.label
    assert.are.equal("RECEIPT 1", lab.text)
    local bg, fg = 0, 0
    for yy = lab.y, lab.y + lab.h - 1 do
      for xx = lab.x, lab.x + lab.w - 1 do
        local c = { img:get_pixel(xx, yy) }
        if same(render.RECEIPT, c[1], c[2], c[3]) then bg = bg + 1 end
        if same(render.LABEL_TEXT, c[1], c[2], c[3]) then fg = fg + 1 end
      end
    end
    -- "RECEIPT 1" in the 5x7 font: well over a hundred lit pixels at scale >= 2
    assert.is_true(fg > 100, "label text pixels: " .. fg)
    assert.is_true(bg > fg)
    -- the label sits near the receipt's top-left corner
    assert.is_true(math.abs(lab.x - rc.quad[1].x) < 5 and math.abs(lab.y + lab.h - rc.quad[1].y) < 20)
  end)

  it("colours a SCAN's three receipts' lines by their x-chained clusters", function()
    f = fixture.build({ kind = "scan", queue = false })
    local img, info = render.image(f.env, f.image_id, { max_size = 1754 })
    assert.are.equal(1240, img:width())
    assert.are.equal(1754, img:height())
    assert.are.equal(3, info.clusters)
    assert.are.equal("x-chain", info.method)
    local colors = {}
    for k, t in ipairs(f.r.truth.receipts) do
      local c = info.line_boxes[t.lines[1]].color
      for _, id in ipairs(t.lines) do assert.are.same(c, info.line_boxes[id].color) end
      for j = 1, k - 1 do assert.are_not.same(colors[j], c) end
      colors[k] = c
      local b = info.line_boxes[t.lines[5]]
      local x, y = mid(b.quad[3], b.quad[4])
      assert.is_true(count_color(img, x, y, 2, c) > 0)
    end
    assert.are.equal(3, #info.receipts)
    img:close()
  end)

  it("draws a receipt crop with its receipt-level line and word boxes", function()
    f = fixture.build({ kind = "photo", crops = true, queue = false })
    local text = worker.answer(f.env, f.jobs[1])
    local doc <close> = assert(ocr.parse(text))
    assert(f.env.store:put_ocr(f.image_id, doc, { receipt_id = 1, image = false }))
    local rc = f.receipts[1]
    local img <close>, info = render.receipt(f.env, f.image_id, 1, { max_size = 4000 })
    assert.are.equal(rc.width, img:width())
    assert.are.equal(rc.height, img:height())
    assert.are.equal("raw/" .. rc.raw_s3_key, info.source)
    assert.are.equal(#f.r.truth.receipts[1].lines, #info.line_boxes)
    local _, n_words = doc:counts()
    assert.are.equal(n_words, #info.word_boxes)
    for i = 1, #info.word_boxes, 7 do
      local q = info.word_boxes[i].quad
      local x, y = mid(q[1], q[4]) -- the left edge of a word
      assert.is_true(count_color(img, x, y, 1, render.RECEIPT_WORD) > 0, "word " .. i)
    end
    local q = info.line_boxes[3].quad
    local x, y = mid(q[3], q[4])
    assert.is_true(count_color(img, x, y, 3, render.RECEIPT_LINE) > 0)
    -- crop pixels under the boxes: the paper is there, not a blank canvas
    local r, g, b = img:get_pixel(img:width() // 2, img:height() - 2)
    assert.is_true(r > 150 and g > 150 and b > 150)
  end)

  it("draws on a blank canvas of the stored size when the picture is missing", function()
    f = fixture.build({ kind = "photo", queue = false })
    local img <close>, info = render.receipt(f.env, f.image_id, 1, { max_size = 500 })
    assert.is_nil(info.source)
    local rc = f.receipts[1]
    assert.are.equal(500, img:height())
    assert.are.equal(math.floor(rc.width * 500 / rc.height + 0.5), img:width())
    local ok, err = pcall(render.receipt, f.env, f.image_id, 9)
    assert.is_false(ok)
    assert.are.equal("NotFound", err.type)
  end)
end)

describe("rcpt render", function()
  it("writes the image and the receipt pictures and prints their paths", function()
    local f = fixture.build({ kind = "photo", crops = true, queue = false })
    local dir = f.dir
    f.env:close()
    local base = { "--store", "sqlite:" .. dir .. "/s.db", "--objects", "file:" .. dir .. "/obj" }
    local function run(extra, cwd)
      local args = { "render", f.image_id }
      for _, a in ipairs(base) do args[#args + 1] = a end
      for _, a in ipairs(extra) do args[#args + 1] = a end
      return support.rcpt(args, { cwd = cwd })
    end
    local code, out, err = run({ "--max-size", "800" }, dir)
    assert.are.equal(0, code, err)
    assert.are.equal(f.image_id .. ".png\n", out)
    local img = assert(image.decode(support.read(dir .. "/" .. f.image_id .. ".png")))
    assert.are.equal(600, img:width())
    assert.are.equal(800, img:height())
    img:close()
    code, out, err = run({ "--receipt", "1", "-o", dir .. "/r.png" })
    assert.are.equal(0, code, err)
    assert.are.equal(dir .. "/r.png\n", out)
    img = assert(image.decode(support.read(dir .. "/r.png")))
    assert.are.equal(math.floor(f.receipts[1].width * 2000 / f.receipts[1].height + 0.5), img:width())
    assert.are.equal(2000, img:height())
    img:close()
    code, _, err = run({ "--receipt", "zero" })
    assert.are.equal(2, code)
    code, _, err = run({ "--receipt", "4" })
    assert.are.equal(1, code)
    assert.truthy(err:find("receipt 4", 1, true))
    support.rmrf(dir)
  end)
end)
