-- rcpt.image: decode/encode, limits, warps, CDN sizes, drawing, and (when
-- Debian's python3-pil is installed) Pillow pixel for pixel.
local env = require("support.env")
local image = require("rcpt.image")

local function pattern(w, h, ch)
  local img = image.new(w, h, ch)
  for y = 0, h - 1 do
    for x = 0, w - 1 do
      local v = {}
      for c = 1, ch do
        v[c] = ((x // 6 + y // 6) % 2 == 0) and ((x * 13 + y * 7 + c * 40) % 256)
          or ((x * x + y * 3 * c) % 256)
      end
      if ch == 4 then v[4] = ({ 0, 255, 128, 77 })[(x + y) % 4 + 1] end
      img:set_pixel(x, y, table.unpack(v))
    end
  end
  return img
end

describe("rcpt.image", function()
  it("round-trips PNG in gray, RGB and RGBA with the same sha256", function()
    for _, ch in ipairs({ 1, 3, 4 }) do
      local img <close> = pattern(37, 23, ch)
      local png = img:encode_png()
      local info = image.info(png)
      assert.are.same({ width = 37, height = 23, channels = ch, format = "png" }, info)
      local back <close> = assert(image.decode(png))
      assert.are.same({ 37, 23, ch }, { back:width(), back:height(), back:channels() })
      assert.are.equal(img:sha256(), back:sha256())
      assert.are.same({ img:get_pixel(5, 7) }, { back:get_pixel(5, 7) })
    end
  end)

  it("encodes JPEG (RGB, gray stays gray) and decodes it to the stored size", function()
    local img <close> = image.new(64, 48, 3, { 90, 140, 200 })
    local jpg = img:encode_jpeg(85)
    assert.are.equal("jpeg", image.info(jpg).format)
    local back <close> = assert(image.decode(jpg))
    assert.are.same({ 64, 48, 3 }, { back:width(), back:height(), back:channels() })
    local r, g, b = back:get_pixel(30, 20)
    assert.is_true(math.abs(r - 90) <= 2 and math.abs(g - 140) <= 2 and math.abs(b - 200) <= 2)
    local gray <close> = img:convert(1)
    local gback <close> = assert(image.decode(gray:encode_jpeg()))
    assert.are.equal(1, gback:channels())
  end)

  it("refuses truncated files, unknown formats and images over the pixel limit", function()
    local img <close> = pattern(50, 40, 3)
    local png, jpg = img:encode_png(), img:encode_jpeg()
    for _, bytes in ipairs({ png:sub(1, #png - 30), jpg:sub(1, #jpg - 30) }) do
      local v, msg, name = image.decode(bytes)
      assert.is_nil(v)
      assert.are.equal("ECORRUPT", name)
      assert.truthy(msg:match("^[a-z]+: "))
    end
    local v, msg, name = image.decode("hello")
    assert.is_nil(v)
    assert.are.equal("EINVAL", name)
    assert.truthy(msg:find("not a JPEG or PNG", 1, true))
    v, msg, name = image.decode(png, { max_pixels = 1999 })
    assert.is_nil(v)
    assert.are.equal("ELIMIT", name)
    assert.truthy(msg:find("50x40", 1, true))
    local ok = image.decode(png, { max_pixels = 2000 })
    assert.truthy(ok)
    ok:close()
    assert.are.equal(100000000, image.MAX_PIXELS)
  end)

  it("raises on misuse and on a closed image; close is idempotent", function()
    assert.has_error(function() image.decode(nil) end)
    assert.has_error(function() image.new(0, 5, 3) end)
    assert.has_error(function() image.new(5, 5, 2) end)
    local img = image.new(4, 4, 3)
    assert.has_error(function() img:warp_affine(4, 4, { 1, 0, 0 }) end)
    assert.has_error(function() img:get_pixel(4, 0) end)
    assert.has_error(function() img:draw_polygon({ 1, 2, 3 }) end)
    img:close()
    img:close()
    assert.truthy(tostring(img):find("closed", 1, true))
    assert.has_error(function() img:width() end, "attempt to use a closed image")
  end)

  it("gives the CDN size table of spec §8", function()
    local img <close> = image.new(4032, 3024, 1)
    local t = img:cdn_sizes()
    assert.are.same({ "thumbnail", "small", "medium", "full" },
      { t[1].name, t[2].name, t[3].name, t[4].name })
    assert.are.same({ 300, 225, true }, { t[1].width, t[1].height, t[1].resize })
    assert.are.same({ 600, 450 }, { t[2].width, t[2].height })
    assert.are.same({ 1200, 900 }, { t[3].width, t[3].height })
    assert.are.same({ 4032, 3024, false }, { t[4].width, t[4].height, t[4].resize })
    local small <close> = image.new(500, 700, 3)
    local s = small:cdn_sizes()
    assert.are.same({ 214, 300, true }, { s[1].width, s[1].height, s[1].resize })
    assert.are.same({ 500, 700, false }, { s[3].width, s[3].height, s[3].resize })
    local r <close> = small:resize(s[1].width, s[1].height)
    assert.are.same({ 214, 300 }, { r:size() })
  end)

  it("warps: identity keeps the pixels, outside is black, landmarks land right", function()
    local img <close> = pattern(40, 30, 3)
    local id <close> = img:warp_perspective(40, 30, { 1, 0, 0, 0, 1, 0, 0, 0 })
    assert.are.equal(img:sha256(), id:sha256())
    -- a shift by (+10, +5): output (x, y) shows source (x + 10, y + 5)
    local sh <close> = img:warp_affine(40, 30, { 1, 0, 10, 0, 1, 5 }, { threads = 1 })
    assert.are.same({ img:get_pixel(12, 9) }, { sh:get_pixel(2, 4) })
    assert.are.same({ 0, 0, 0 }, { sh:get_pixel(35, 4) })
    assert.are.same({ 0, 0, 0 }, { sh:get_pixel(2, 27) })
  end)

  it("draws lines, polygons, translucent fills and text", function()
    local img <close> = image.new(60, 40, 3, "#000000")
    img:draw_line(-100, 10.5, 100, 10.5, { color = "#ff0000" })
    assert.are.same({ 255, 0, 0 }, { img:get_pixel(0, 10) })
    assert.are.same({ 255, 0, 0 }, { img:get_pixel(59, 10) })
    img:draw_polygon({ { 20, 20 }, { 40, 20 }, { 40, 35 }, { 20, 35 } },
      { fill = { 255, 255, 255, 128 }, width = 0 })
    assert.are.same({ 128, 128, 128 }, { img:get_pixel(30, 27) })
    assert.are.same({ 0, 0, 0 }, { img:get_pixel(45, 27) })
    img:draw_polygon({ 2, 2, 15, 2, 15, 8 }, { color = { r = 0, g = 255, b = 0 }, width = 2 })
    assert.are.same({ 0, 255, 0 }, { img:get_pixel(8, 2) })
    local w = img:draw_text(1, 25, "12", "#ffff00", 1)
    assert.are.equal(11, w)
    local lit = 0
    for y = 25, 31 do
      for x = 1, 11 do
        local r, g = img:get_pixel(x, y)
        if r == 255 and g == 255 then lit = lit + 1 end
      end
    end
    assert.is_true(lit > 10)
  end)

  it("matches Pillow pixel for pixel (python3-pil, skipped when absent)", function()
    local py = "/usr/bin/python3"
    if not os.execute(py .. " -c 'import PIL' 2>/dev/null") then
      print("\n  skipped: " .. py .. " with PIL not installed")
      return
    end
    local dir = env.tmpdir()
    local results = {}
    for _, ch in ipairs({ 1, 3, 4 }) do
      local src <close> = pattern(91, 67, ch)
      env.write(dir .. "/src" .. ch .. ".png", src:encode_png())
      local p <close> = src:warp_perspective(80, 90, { 0.8, 0.2, -5.5, -0.15, 0.9, 8.25, 0.001, -0.0015 })
      local a <close> = src:warp_affine(70, 60, { 0.7, -0.4, 30.3, 0.35, 0.8, -7.9 })
      local r <close> = src:resize(33, 71)
      results[ch] = { p = p:sha256(), a = a:sha256(), r = r:sha256() }
    end
    local script = [[
import sys, hashlib
from PIL import Image
d = sys.argv[1]
for ch, mode in ((1, "L"), (3, "RGB"), (4, "RGBA")):
    im = Image.open(f"{d}/src{ch}.png"); im.load()
    assert im.mode == mode, im.mode
    p = im.transform((80, 90), Image.PERSPECTIVE, (0.8, 0.2, -5.5, -0.15, 0.9, 8.25, 0.001, -0.0015), Image.BICUBIC)
    a = im.transform((70, 60), Image.AFFINE, (0.7, -0.4, 30.3, 0.35, 0.8, -7.9), Image.BICUBIC)
    r = im.resize((33, 71), Image.LANCZOS)
    print(ch, *(hashlib.sha256(x.tobytes()).hexdigest() for x in (p, a, r)))
]]
    env.write(dir .. "/cmp.py", script)
    local f = assert(io.popen(py .. " " .. dir .. "/cmp.py " .. dir))
    local out = f:read("a")
    f:close()
    os.execute("rm -rf " .. env.quote(dir))
    local n = 0
    for ch, ph, ah, rh in out:gmatch("(%d) (%x+) (%x+) (%x+)") do
      ch = tonumber(ch)
      assert.are.equal(ph, results[ch].p, "perspective, channels " .. ch)
      assert.are.equal(ah, results[ch].a, "affine, channels " .. ch)
      assert.are.equal(rh, results[ch].r, "resize, channels " .. ch)
      n = n + 1
    end
    assert.are.equal(3, n)
  end)
end)
