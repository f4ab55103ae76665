-- Synthetic receipt images with their matching Apple-Vision OCR JSON, made by
-- the project itself (examples/, tests of the geometry paths).  Everything is
-- deterministic: same options and seed -> same bytes.
--
--   local synth = require("rcpt.synth")
--   local r = synth.native{seed = 1}        -- 1170x2532 PNG, classifies NATIVE
--   local r = synth.photo{seed = 1}         -- 3024x4032 JPEG, one receipt in perspective
--   local r = synth.scan{seed = 1, receipts = 3, angles = {-7, 0, 5}}
--   local r = synth.scan{seed = 1, overlap = true}   -- two receipts whose boxes overlap
--   local r = synth.photo_over(ocr_json, 3024, 4032) -- a picture for an existing OCR JSON
--   r = { image_bytes=, format="png"|"jpeg", width=, height=, ocr_json=,
--         truth = { receipts = { {corners_px={tl,tr,br,bl}, width=, height=, angle=,
--                                 lines={line ids}, paper_px={tl,tr,br,bl}, merchant=}, ... } } }
--
-- Coordinates (spec/ocr-geometry.md §1): a receipt is laid out on its own
-- paper canvas (pixels, y down, continuous: a glyph dot at pixel (i, j) covers
-- [i, i+1) x [j, j+1)); a placement maps the canvas to the output image with
-- a homography F (canvas -> output pixels).  rcpt.image warps take the inverse
-- (destination -> source), from rcpt.geom.perspective_coeffs.  The OCR JSON is
-- in Vision normalised coordinates: (X/W, 1 - Y/H), origin bottom-left, y up.
--
-- truth.corners_px are the corners of the receipt's *text block* (the
-- envelope of its line boxes on the canvas) mapped to output pixels, y down,
-- TL/TR/BR/BL as seen in the picture: that is what the PHOTO and SCAN crops
-- are built from (§8.2, §8.3), not the paper edge (paper_px).  width/height:
-- the text block's size on the canvas for SCAN/NATIVE (a rigid placement),
-- and for PHOTO the §8.2 k) sizes of the true corners (mean opposite edges).
local image = require("rcpt.image")
local geom = require("rcpt.geom")

local M = {}

-- ---------------------------------------------------------------------------
-- PRNG and the Vision JSON writer (shared with tests/spec/support/gen_ocr.lua)

-- 64-bit LCG; rnd(n) -> integer in [1, n], rnd() -> float in [0, 1).
function M.prng(seed)
  local x = (seed or 1) * 2654435761 + 1
  return function(n)
    x = x * 6364136223846793005 + 1442695040888963407
    local r = (x >> 33) & 0x7fffffff
    if n then return r % n + 1 end
    return r / 0x80000000
  end
end

local V = {}
M.vision_writer = V

-- shortest decimal that reads back as v; whole numbers as integers, as
-- Swift's JSONEncoder writes them
function V.num(v)
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", math.floor(v)) end
  for p = 15, 17 do
    local s = string.format("%." .. p .. "g", v)
    if tonumber(s) == v then return s end
  end
  return string.format("%.17g", v)
end

function V.str(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\"
    elseif c == "\n" then return "\\n" else return string.format("\\u%04x", c:byte()) end
  end) .. '"'
end

-- pairs_ = {{key, json_text}, ...}; opts.shuffle_keys (default true) shuffles
-- with rnd like Vision's arbitrary key order; opts.pretty (default true)
-- indents like Swift's .prettyPrinted.
function V.obj(pairs_, rnd, opts, ind)
  if opts.shuffle_keys ~= false then
    for i = #pairs_, 2, -1 do
      local j = rnd(i)
      pairs_[i], pairs_[j] = pairs_[j], pairs_[i]
    end
  end
  local parts = {}
  if opts.pretty == false then
    for i, p in ipairs(pairs_) do parts[i] = V.str(p[1]) .. ":" .. p[2] end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local pad = string.rep("  ", ind + 1)
  for i, p in ipairs(pairs_) do parts[i] = pad .. V.str(p[1]) .. ": " .. p[2] end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. string.rep("  ", ind) .. "}"
end

function V.arr(items, opts, ind)
  if #items == 0 then return "[]" end
  if opts.pretty == false then return "[" .. table.concat(items, ",") .. "]" end
  local pad = string.rep("  ", ind + 1)
  return "[\n" .. pad .. table.concat(items, ",\n" .. pad) .. "\n" .. string.rep("  ", ind) .. "]"
end

function V.lerp(a, b, t) return { x = a.x + (b.x - a.x) * t, y = a.y + (b.y - a.y) * t } end

-- axis-aligned envelope of a quad {tl, tr, bl, br}: {x, y, width, height}
-- with (x, y) the minimum corner (the lower-left one in VN)
function V.envelope(q)
  local x0 = math.min(q.tl.x, q.tr.x, q.bl.x, q.br.x)
  local x1 = math.max(q.tl.x, q.tr.x, q.bl.x, q.br.x)
  local y0 = math.min(q.tl.y, q.tr.y, q.bl.y, q.br.y)
  local y1 = math.max(q.tl.y, q.tr.y, q.bl.y, q.br.y)
  return { x = x0, y = y0, width = x1 - x0, height = y1 - y0 }
end

-- the part [a, b] (fractions along the baseline) of a quad
function V.slice(q, a, b)
  return { bl = V.lerp(q.bl, q.br, a), br = V.lerp(q.bl, q.br, b), tl = V.lerp(q.tl, q.tr, a),
    tr = V.lerp(q.tl, q.tr, b) }
end

-- the key/value pairs every record has (§2.2), in Swift's field order
function V.geom_pairs(text, q, box, ang_deg, conf, ind, rnd, opts)
  local function pt(p) return V.obj({ { "x", V.num(p.x) }, { "y", V.num(p.y) } }, rnd, opts, ind + 1) end
  return {
    { "text", V.str(text) },
    { "bounding_box", V.obj({ { "x", V.num(box.x) }, { "y", V.num(box.y) }, { "width", V.num(box.width) },
      { "height", V.num(box.height) } }, rnd, opts, ind + 1) },
    { "top_left", pt(q.tl) }, { "top_right", pt(q.tr) },
    { "bottom_left", pt(q.bl) }, { "bottom_right", pt(q.br) },
    { "angle_degrees", V.num(ang_deg) }, { "angle_radians", V.num(ang_deg * math.pi / 180) },
    { "confidence", V.num(conf) },
  }
end

-- ---------------------------------------------------------------------------
-- Merchants (invented; phone numbers in the fictional 555-01xx range, URLs
-- under the reserved example.com) and their goods

M.MERCHANTS = {
  { name = "MAPLE LEAF DINER", street = "1480 HARBOUR RD", city = "HALIFAX, NS B3H 1A1",
    phone = "(902) 555-0142", url = "MAPLELEAF.EXAMPLE.COM", tax = { "HST", 1500 }, kind = "diner" },
  { name = "BLUE HERON COFFEE", street = "218 LAKEVIEW AVE", city = "MADISON, WI 53703",
    phone = "(608) 555-0117", url = "BLUEHERON.EXAMPLE.COM", tax = { "TAX", 550 }, kind = "coffee" },
  { name = "PINE STREET HARDWARE", street = "77 PINE ST", city = "PORTLAND, OR 97204",
    phone = "(503) 555-0163", url = "PINESTREET.EXAMPLE.COM", tax = { "TAX", 0 }, kind = "hardware" },
  { name = "NORTHERN LIGHTS BAKERY", street = "905 RUE SAINT-DENIS", city = "MONTREAL, QC H2X 3K4",
    phone = "(514) 555-0188", url = "NLBAKERY.EXAMPLE.COM", tax = { "TPS+TVQ", 1498 }, kind = "bakery" },
  { name = "LONE STAR BBQ", street = "3120 ELM ST", city = "DALLAS, TX 75226",
    phone = "(214) 555-0131", url = "LONESTARBBQ.EXAMPLE.COM", tax = { "TAX", 825 }, kind = "bbq" },
  { name = "GRANVILLE BOOKS", street = "1055 GRANVILLE ST", city = "VANCOUVER, BC V6Z 1L4",
    phone = "(604) 555-0199", url = "GRANVILLEBKS.EXAMPLE.COM", tax = { "GST", 500 }, kind = "books" },
}

-- name, low and high price in cents
local GOODS = {
  diner = { { "COFFEE", 225, 350 }, { "PANCAKES", 700, 1100 }, { "EGGS BENEDICT", 1100, 1500 },
    { "HASH BROWNS", 300, 500 }, { "BLT SANDWICH", 800, 1200 }, { "ORANGE JUICE", 300, 500 },
    { "CLUB SANDWICH", 1000, 1400 }, { "APPLE PIE", 400, 700 } },
  coffee = { { "LATTE", 450, 600 }, { "CAPPUCCINO", 425, 575 }, { "ESPRESSO", 275, 350 },
    { "CHAI LATTE", 475, 600 }, { "BLUEBERRY MUFFIN", 325, 425 }, { "CROISSANT", 350, 450 },
    { "DRIP COFFEE", 250, 325 }, { "BAGEL", 300, 400 } },
  hardware = { { "WOOD SCREWS 1LB", 699, 999 }, { "PAINT ROLLER", 499, 899 }, { "DUCT TAPE", 599, 799 },
    { "LED BULB 4PK", 999, 1499 }, { "WORK GLOVES", 1299, 1799 }, { "PVC ELBOW 1/2IN", 79, 149 },
    { "HAMMER 16OZ", 1999, 2699 }, { "SANDPAPER 5PK", 449, 649 } },
  bakery = { { "SOURDOUGH LOAF", 650, 850 }, { "BAGUETTE", 350, 450 }, { "CROISSANT", 275, 375 },
    { "CINNAMON ROLL", 400, 500 }, { "RYE BREAD", 600, 750 }, { "BUTTER TART", 300, 400 },
    { "MACARONS 6PK", 1200, 1500 }, { "BRIOCHE", 500, 650 } },
  bbq = { { "BRISKET 1/2LB", 1400, 1700 }, { "PULLED PORK", 1100, 1400 }, { "RIBS HALF RACK", 1800, 2200 },
    { "MAC N CHEESE", 400, 550 }, { "COLESLAW", 300, 400 }, { "CORNBREAD", 250, 350 },
    { "SWEET TEA", 250, 325 }, { "PECAN PIE", 500, 650 } },
  books = { { "PAPERBACK NOVEL", 1499, 2199 }, { "NOTEBOOK A5", 899, 1299 }, { "CITY MAP", 799, 999 },
    { "COOKBOOK", 2999, 3999 }, { "BOOKMARK", 199, 399 }, { "GREETING CARD", 499, 699 },
    { "POETRY COLLECTION", 1799, 2499 }, { "PUZZLE 500PC", 1999, 2499 } },
}

local function money(c) return string.format("%d.%02d", c // 100, c % 100) end

-- ---------------------------------------------------------------------------
-- The receipt model: rows of segments {text=, align="l"|"r"|"c", tag=}; an
-- empty row is a blank line.  tag = {type=, value=, id=} marks the words an
-- NSDataDetector match would cover (§2.1: every overlapping word gets it).

function M.receipt_model(opts)
  opts = opts or {}
  local rnd = opts.rnd or M.prng(opts.seed)
  local m = opts.merchant
  if type(m) == "number" then m = M.MERCHANTS[(m - 1) % #M.MERCHANTS + 1] end
  m = m or M.MERCHANTS[rnd(#M.MERCHANTS)]
  local rows = {}
  local function row(...) rows[#rows + 1] = { ... } end
  local addr = { type = "address", value = m.street .. " " .. m.city, id = "address" }
  -- opts.frame: a full-width first and last row, so the text block's hull is
  -- its quadrilateral (what the PHOTO corner method of §8.2 can recover)
  if opts.frame then
    row({ text = string.format("STORE #%04d", rnd(10000) - 1), align = "l" },
      { text = string.format("TERM %02d", rnd(20)), align = "r" })
    rows[#rows].full = true
    row()
  end
  row({ text = m.name, align = "c" })
  row({ text = m.street, align = "c", tag = addr })
  row({ text = m.city, align = "c", tag = addr })
  row({ text = m.phone, align = "c", tag = { type = "phone", value = m.phone, id = "phone" } })
  row()
  local mon, day, year = rnd(12), rnd(28), 2021 + rnd(4)
  local hour, min = 6 + rnd(15) - 1, rnd(60) - 1
  local h12 = hour % 12 == 0 and 12 or hour % 12
  local date = { type = "date", id = "date",
    value = string.format("%04d-%02d-%02d %02d:%02d:00 +0000", year, mon, day, hour, min) }
  row({ text = string.format("%02d/%02d/%04d", mon, day, year), align = "l", tag = date },
    { text = string.format("%02d:%02d %s", h12, min, hour < 12 and "AM" or "PM"), align = "r", tag = date })
  row({ text = string.format("ORDER #%d", 1000 + rnd(9000) - 1), align = "l" },
    { text = string.format("REG %02d", rnd(12)), align = "r" })
  row()
  local goods = GOODS[m.kind]
  local n_items = math.min(opts.items or (4 + rnd(5) - 1), #goods)
  local sub = 0
  local used = {}
  for _ = 1, n_items do
    local g
    repeat g = goods[rnd(#goods)] until not used[g]
    used[g] = true
    local qty = rnd(4) == 1 and 2 or 1
    local unit = g[2] + rnd(g[3] - g[2] + 1) - 1
    unit = unit - unit % 25 + (rnd(2) == 1 and 24 or 0) -- prices like 4.49, 12.24, 3.50
    sub = sub + qty * unit
    row({ text = string.format("%d %s", qty, g[1]), align = "l" }, { text = money(qty * unit), align = "r" })
  end
  row()
  local tax = (sub * m.tax[2] + 5000) // 10000
  row({ text = "SUBTOTAL", align = "l" }, { text = money(sub), align = "r" })
  row({ text = string.format("%s %s%%", m.tax[1], (money(m.tax[2]):gsub("0+$", ""):gsub("%.$", ""))), align = "l" },
    { text = money(tax), align = "r" })
  row({ text = "TOTAL", align = "l" }, { text = money(sub + tax), align = "r" })
  row()
  local cards = { "VISA", "MASTERCARD", "AMEX", "DEBIT" }
  row({ text = string.format("%s ****%04d", cards[rnd(#cards)], rnd(10000) - 1), align = "l" },
    { text = money(sub + tax), align = "r" })
  row({ text = string.format("AUTH %06d", rnd(1000000) - 1), align = "l" }, { text = "APPROVED", align = "r" })
  row()
  row({ text = "THANK YOU", align = "c" })
  row({ text = "PLEASE COME AGAIN", align = "c" })
  row({ text = m.url, align = "c", tag = { type = "url", value = "http://" .. m.url, id = "url" } })
  if opts.frame then
    row()
    row({ text = "CUSTOMER COPY", align = "l" }, { text = string.format("TRANS %05d", rnd(100000) - 1), align = "r" })
    rows[#rows].full = true
  end
  return { merchant = m, rows = rows, frame = opts.frame, subtotal = sub, tax = tax, total = sub + tax }
end

-- ---------------------------------------------------------------------------
-- Layout on the paper canvas with the 5x7 font: a glyph is 5s x 7s pixels in
-- a 6s x 8s cell (rcpt.image draw_text).  The text block is `cols` cells wide;
-- left segments start at its left edge, right ones end at its right edge,
-- centred ones are centred.
--   opts: scale (s), cols, margin (paper margin, default 10 s), pitch
--   (row pitch, default 11 s) or row_y (function(r) -> y of row r, 0-based)
--   -> {width=, height=, scale=, lines = { {words = { {text=, x0=, y0=, x1=,
--       y1=, tag=} }, conf=} }, block = {x0=, y0=, x1=, y1=}}

function M.layout(model, opts)
  local s = opts.scale
  local cols = opts.cols or 30
  local margin = opts.margin or 10 * s
  local mx, my = opts.margin_x or margin, opts.margin_y or margin
  local pitch = opts.pitch or 11 * s
  local bw = 6 * s * cols - s
  local rnd = opts.rnd or M.prng(1)
  local nrows = #model.rows
  local row_y = opts.row_y or function(r) return my + r * pitch end
  local lines = {}
  for r, segs in ipairs(model.rows) do
    if #segs > 0 then
      local y0 = row_y(r - 1)
      local words = {}
      for _, seg in ipairs(segs) do
        local n = utf8.len(seg.text)
        local sw = 6 * s * n - s
        assert(sw <= bw, "synth.layout: row '" .. seg.text .. "' is wider than the text block")
        -- in a framed receipt only the frame rows reach the block's edges
        local inset = (model.frame and not segs.full) and 6 * s or 0
        local x = seg.align == "r" and mx + bw - sw - inset or seg.align == "c" and mx + (bw - sw) // 2 or mx + inset
        local c = 0
        for lead, w in seg.text:gmatch("()(%S+)") do
          c = utf8.len(seg.text:sub(1, lead - 1))
          local k = utf8.len(w)
          words[#words + 1] = { text = w, x0 = x + 6 * s * c, x1 = x + 6 * s * (c + k) - s, y0 = y0,
            y1 = y0 + 7 * s, tag = seg.tag }
        end
      end
      lines[#lines + 1] = { words = words, conf = rnd(6) == 1 and 0.5 or 1 }
    end
  end
  local bx0, by0, bx1, by1 = math.huge, math.huge, -math.huge, -math.huge
  for _, l in ipairs(lines) do
    for _, w in ipairs(l.words) do
      bx0, by0 = math.min(bx0, w.x0), math.min(by0, w.y0)
      bx1, by1 = math.max(bx1, w.x1), math.max(by1, w.y1)
    end
  end
  return { width = mx * 2 + bw, height = row_y(nrows - 1) + 7 * s + my, scale = s, lines = lines,
    block = { x0 = bx0, y0 = by0, x1 = bx1, y1 = by1 }, model = model }
end

-- Draw a layout's paper (unless paper == false) and text onto img, the
-- canvas origin at integer (ox, oy).
function M.draw(img, lay, ox, oy, colors)
  colors = colors or {}
  if colors.paper ~= false then
    img:fill_rect(ox, oy, math.floor(lay.width + 0.5), math.floor(lay.height + 0.5), colors.paper or { 250, 249, 244 })
  end
  local ink = colors.ink or { 30, 30, 34 }
  for _, l in ipairs(lay.lines) do
    for _, w in ipairs(l.words) do img:draw_text(ox + w.x0, oy + w.y0, w.text, ink, lay.scale) end
  end
end

-- ---------------------------------------------------------------------------
-- Transforms: a homography as 8 coefficients {a..h}:
-- X = (a x + b y + c) / (g x + h y + 1), Y = (d x + e y + f) / (g x + h y + 1)

local function apply(k, x, y)
  local w = k[7] * x + k[8] * y + 1
  return (k[1] * x + k[2] * y + k[3]) / w, (k[4] * x + k[5] * y + k[6]) / w
end
M.apply = apply

local function rect(w, h) return { { x = 0, y = 0 }, { x = w, y = 0 }, { x = w, y = h }, { x = 0, y = h } } end

-- forward (src -> dst) homography through 4 point pairs
local function homography(src, dst)
  return assert(geom.perspective_coeffs(dst, src))
end

-- A rigid placement: the canvas (w x h) rotated by angle degrees
-- (counter-clockwise as seen, like Vision's angle_degrees) about its centre,
-- the centre put at (cx, cy) in output pixels.
function M.rigid(w, h, cx, cy, angle)
  local t = math.rad(angle or 0)
  local c, s = math.cos(t), math.sin(t)
  -- X = cx + c (x - w/2) + s (y - h/2); Y = cy - s (x - w/2) + c (y - h/2)
  return { c, s, cx - c * w / 2 - s * h / 2, -s, c, cy + s * w / 2 - c * h / 2, 0, 0 }
end

local function quad_px(k, x0, y0, x1, y1)
  local function P(x, y) local X, Y = apply(k, x, y); return { x = X, y = Y } end
  return { tl = P(x0, y0), tr = P(x1, y0), br = P(x1, y1), bl = P(x0, y1) }
end

local function inside_convex(poly, x, y)
  local sign = 0
  for i = 1, #poly do
    local a, b = poly[i], poly[i % #poly + 1]
    local cr = (b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x)
    if cr ~= 0 then
      local sg = cr > 0 and 1 or -1
      if sign == 0 then sign = sg elseif sg ~= sign then return false end
    end
  end
  return true
end

-- ---------------------------------------------------------------------------
-- OCR JSON for placed receipts.  placements = { {layout=, F=} } in drawing
-- order; a word any corner of which lies under a later receipt's paper is
-- hidden (Vision cannot read it); a tag is kept only when all its words are
-- visible.  Returns the JSON text, the truth receipts, and the line records.

local function vn_quad(q, W, H)
  local function v(p) return { x = p.x / W, y = 1 - p.y / H } end
  return { tl = v(q.tl), tr = v(q.tr), br = v(q.br), bl = v(q.bl) }
end

function M.vision_ocr(placements, W, H, opts)
  opts = opts or {}
  local wopts = { pretty = opts.pretty ~= false, shuffle_keys = false }
  local papers = {}
  for i, p in ipairs(placements) do
    local q = quad_px(p.F, 0, 0, p.layout.width, p.layout.height)
    papers[i] = { q.tl, q.tr, q.br, q.bl }
  end
  local line_items, truth = {}, {}
  local n_lines, n_words, n_letters = 0, 0, 0
  for k, p in ipairs(placements) do
    local lay, F = p.layout, p.F
    -- visibility of every word, then which tags survive
    local vis_lines, broken, hidden_words = {}, {}, 0
    for _, l in ipairs(lay.lines) do
      local vis = {}
      for _, w in ipairs(l.words) do
        local q = quad_px(F, w.x0, w.y0, w.x1, w.y1)
        local hidden = false
        for j = k + 1, #placements do
          for _, c in ipairs({ q.tl, q.tr, q.br, q.bl }) do
            if inside_convex(papers[j], c.x, c.y) then hidden = true end
          end
        end
        if hidden then
          hidden_words = hidden_words + 1
          if w.tag then broken[w.tag.id] = true end
        else
          vis[#vis + 1] = w
        end
      end
      if #vis > 0 then vis_lines[#vis_lines + 1] = { words = vis, conf = l.conf } end
    end
    local ids = {}
    local bx0, by0, bx1, by1 = math.huge, math.huge, -math.huge, -math.huge
    for _, l in ipairs(vis_lines) do
      local first, last = l.words[1], l.words[#l.words]
      bx0, by0 = math.min(bx0, first.x0), math.min(by0, first.y0)
      bx1, by1 = math.max(bx1, last.x1), math.max(by1, first.y1)
      local lq = vn_quad(quad_px(F, first.x0, first.y0, last.x1, first.y1), W, H)
      local ang = math.deg(math.atan((lq.br.y - lq.bl.y) * H, (lq.br.x - lq.bl.x) * W))
      local texts, word_items = {}, {}
      for wi, w in ipairs(l.words) do
        texts[wi] = w.text
        local wq = vn_quad(quad_px(F, w.x0, w.y0, w.x1, w.y1), W, H)
        local cs = {}
        for _, c in utf8.codes(w.text) do cs[#cs + 1] = utf8.char(c) end
        local letter_items = {}
        local step = (w.x1 - w.x0) / #cs
        for ci, c in ipairs(cs) do
          local cq = vn_quad(quad_px(F, w.x0 + (ci - 1) * step, w.y0, w.x0 + ci * step, w.y1), W, H)
          letter_items[ci] = V.obj(V.geom_pairs(c, cq, V.envelope(cq), ang, l.conf, 6, nil, wopts), nil, wopts, 6)
        end
        n_letters = n_letters + #cs
        local wp = V.geom_pairs(w.text, wq, V.envelope(wq), ang, l.conf, 4, nil, wopts)
        wp[#wp + 1] = { "letters", V.arr(letter_items, wopts, 5) }
        if w.tag and not broken[w.tag.id] then
          wp[#wp + 1] = { "extracted_data", V.obj({ { "type", V.str(w.tag.type) }, { "value", V.str(w.tag.value) } },
            nil, wopts, 5) }
        end
        word_items[wi] = V.obj(wp, nil, wopts, 4)
      end
      n_words = n_words + #l.words
      local lp = V.geom_pairs(table.concat(texts, " "), lq, V.envelope(lq), ang, l.conf, 2, nil, wopts)
      lp[#lp + 1] = { "words", V.arr(word_items, wopts, 3) }
      line_items[#line_items + 1] = V.obj(lp, nil, wopts, 2)
      n_lines = n_lines + 1
      ids[#ids + 1] = n_lines
    end
    local c = quad_px(F, bx0, by0, bx1, by1)
    local t = { corners_px = { c.tl, c.tr, c.br, c.bl }, lines = ids, angle = p.angle or 0,
      paper_px = papers[k], merchant = lay.model and lay.model.merchant.name, hidden_words = hidden_words }
    if p.rigid then
      t.width, t.height = bx1 - bx0, by1 - by0
    else
      local function d(a, b) return math.sqrt((a.x - b.x) ^ 2 + (a.y - b.y) ^ 2) end
      t.width = geom.round((d(c.tl, c.tr) + d(c.bl, c.br)) / 2)
      t.height = geom.round((d(c.tl, c.bl) + d(c.tr, c.br)) / 2)
    end
    truth[k] = t
  end
  local json
  if wopts.pretty then
    json = '{\n  "lines": ' .. V.arr(line_items, wopts, 1) .. "\n}\n"
  else
    json = '{"lines":' .. V.arr(line_items, wopts, 0) .. "}"
  end
  return json, { receipts = truth, lines = n_lines, words = n_words, letters = n_letters }
end

-- ---------------------------------------------------------------------------
-- Backgrounds

-- smooth noise: a small random image scaled up (low frequencies compress
-- well in JPEG and still look like a table top)
local function noise(w, h, base, amp, cell, rnd)
  local nw, nh = math.max(2, w // cell), math.max(2, h // cell)
  local small = image.new(nw, nh, 3)
  for y = 0, nh - 1 do
    for x = 0, nw - 1 do
      local n = rnd(2 * amp + 1) - amp - 1
      local grain = (y * 7 + x) % 11 == 0 and -amp // 2 or 0 -- a faint streak, like wood
      local function ch(b) return math.max(0, math.min(255, b + n + grain)) end
      small:set_pixel(x, y, ch(base[1]), ch(base[2]), ch(base[3]))
    end
  end
  local big = assert(small:resize(w, h))
  small:close()
  return big
end

local function encode(img, format, quality)
  if format == "jpeg" then return assert(img:encode_jpeg(quality or 85)) end
  return assert(img:encode_png())
end

local function result(img, format, quality, json, info)
  local r = { format = format, width = img:width(), height = img:height(), ocr_json = json,
    truth = { receipts = info.receipts }, counts = { lines = info.lines, words = info.words, letters = info.letters } }
  r.image_bytes = encode(img, format, quality)
  return r
end

-- ---------------------------------------------------------------------------
-- Presets

-- A phone screenshot of a digital receipt: the text reaches within 1 % of
-- every edge (spec §5: all four margins < 0.01 -> NATIVE).
function M.native(opts)
  opts = opts or {}
  local W, H = opts.width or 1170, opts.height or 2532
  local rnd = M.prng(opts.seed or 1)
  local model = M.receipt_model({ rnd = rnd, merchant = opts.merchant, items = opts.items })
  -- the largest scale with at least 28 columns, then as many columns as fit
  local s = opts.scale or math.max(1, W // (6 * 28 - 1))
  local cols = (W + s) // (6 * s)
  local bw = 6 * s * cols - s
  local mx = (W - bw) // 2
  assert(mx < 0.01 * W, "synth.native: the text cannot reach within 1 % of the side edges at this width")
  local edge = math.max(1, math.floor(0.004 * H))
  local n = #model.rows
  local span = H - 2 * edge - 7 * s
  local lay = M.layout(model, { scale = s, cols = cols, margin_x = mx, margin_y = edge, rnd = rnd,
    row_y = function(r) return edge + (r * span + (n - 1) // 2) // (n - 1) end })
  local bg = opts.background or { 252, 252, 252 }
  local img <close> = image.new(W, H, 3, bg)
  M.draw(img, lay, 0, 0, { paper = false, ink = { 20, 20, 24 } })
  local placement = { layout = lay, F = { 1, 0, 0, 0, 1, 0, 0, 0 }, rigid = true }
  local json, info = M.vision_ocr({ placement }, W, H, opts)
  return result(img, opts.format or "png", opts.quality, json, info)
end

-- One receipt in perspective on a table top (3024x4032 JPEG): PHOTO.
function M.photo(opts)
  opts = opts or {}
  local W, H = opts.width or 3024, opts.height or 4032
  local rnd = M.prng(opts.seed or 1)
  local model = M.receipt_model({ rnd = rnd, merchant = opts.merchant, items = opts.items or 6,
    frame = opts.frame ~= false })
  local s = opts.scale or 6
  local lay = M.layout(model, { scale = s, cols = 30, rnd = rnd })
  local pw, ph = lay.width, lay.height
  -- where the paper's corners land: a rotated rectangle, its far (top) edge
  -- shortened as by a camera tilted towards the table
  local k = (opts.fill or 0.66) * H / ph
  local ang = math.rad(opts.angle or -3)
  local vang = ang + math.rad(opts.shear or 1)
  local keystone = opts.keystone or 0.97
  local cx, cy = W / 2 + (rnd() - 0.5) * 0.04 * W, H / 2 + (rnd() - 0.5) * 0.04 * H
  local hw, hh = pw * k / 2, ph * k / 2
  -- u along the paper's width, v down it; the far (top) edge slightly shorter
  local rel = { { -hw * keystone, -hh }, { hw * keystone, -hh }, { hw, hh }, { -hw, hh } }
  local quad = {}
  for i, r in ipairs(rel) do
    quad[i] = { x = cx + r[1] * math.cos(ang) + r[2] * math.sin(vang),
      y = cy - r[1] * math.sin(ang) + r[2] * math.cos(vang) }
  end
  local Hp = homography(rect(pw, ph), quad) -- paper canvas -> output
  local inv = assert(geom.perspective_coeffs(rect(pw, ph), quad)) -- output -> paper canvas
  -- the source canvas covers the preimage of the whole output
  local x0, y0, x1, y1 = 0, 0, pw, ph
  for _, c in ipairs({ { 0, 0 }, { W, 0 }, { W, H }, { 0, H } }) do
    local u, v = apply(inv, c[1], c[2])
    x0, y0, x1, y1 = math.min(x0, u), math.min(y0, v), math.max(x1, u), math.max(y1, v)
  end
  local ox, oy = math.ceil(-x0) + 4, math.ceil(-y0) + 4
  local sw, sh = math.ceil(x1 + ox) + 4, math.ceil(y1 + oy) + 4
  local src <close> = noise(sw, sh, opts.table_color or { 92, 70, 54 }, 18, 12, rnd)
  M.draw(src, lay, ox, oy, { paper = { 243, 241, 233 }, ink = { 38, 36, 40 } })
  local coeffs = assert(geom.perspective_coeffs(
    { { x = ox, y = oy }, { x = ox + pw, y = oy }, { x = ox + pw, y = oy + ph }, { x = ox, y = oy + ph } }, quad))
  local img <close> = assert(src:warp_perspective(W, H, coeffs))
  local placement = { layout = lay, F = Hp, angle = opts.angle or -3 }
  local json, info = M.vision_ocr({ placement }, W, H, opts)
  return result(img, opts.format or "jpeg", opts.quality or 80, json, info)
end

-- Composite a layout onto page img (W x H) with the rigid placement F: the
-- page is warped into the receipt's frame (a canvas large enough to hold the
-- whole page), the receipt is drawn there axis-aligned, and the frame is
-- warped back.  rcpt.image has no alpha compositing; a round trip through
-- the receipt's frame is how a rotated receipt lands on an existing page.
-- Returns the new page (the old one is closed).
local function composite(page, W, H, lay, F, colors, border_color)
  local q = quad_px(F, 0, 0, lay.width, lay.height)
  local pq = { q.tl, q.tr, q.br, q.bl }
  local inv = assert(geom.perspective_coeffs(rect(lay.width, lay.height), pq)) -- page -> canvas
  if F[1] == 1 and F[2] == 0 and F[4] == 0 and F[5] == 1 and F[3] == math.floor(F[3]) and F[6] == math.floor(F[6]) then
    M.draw(page, lay, math.tointeger(F[3]), math.tointeger(F[6]), colors)
    return page
  end
  local x0, y0, x1, y1 = 0, 0, lay.width, lay.height
  for _, c in ipairs({ { 0, 0 }, { W, 0 }, { W, H }, { 0, H } }) do
    local u, v = apply(inv, c[1], c[2])
    x0, y0, x1, y1 = math.min(x0, u), math.min(y0, v), math.max(x1, u), math.max(y1, v)
  end
  local ox, oy = math.ceil(-x0) + 4, math.ceil(-y0) + 4
  local fw, fh = math.ceil(x1 + ox) + 4, math.ceil(y1 + oy) + 4
  local fq = { { x = ox, y = oy }, { x = ox + lay.width, y = oy }, { x = ox + lay.width, y = oy + lay.height },
    { x = ox, y = oy + lay.height } }
  local frame <close> = assert(page:warp_perspective(fw, fh, assert(geom.perspective_coeffs(pq, fq))))
  page:close()
  M.draw(frame, lay, ox, oy, colors)
  local out = assert(frame:warp_perspective(W, H, assert(geom.perspective_coeffs(fq, pq))))
  -- pixels next to the page edge sampled the black outside it: repaint a frame
  for _, r in ipairs({ { 0, 0, W, 4 }, { 0, H - 4, W, 4 }, { 0, 0, 4, H }, { W - 4, 0, 4, H } }) do
    out:fill_rect(r[1], r[2], r[3], r[4], border_color)
  end
  return out
end

-- A flatbed scan (2480x3508, A4 at 300 dpi) of N receipts at different
-- angles, side by side so that cluster_x (eps 0.08) splits them: SCAN.
-- opts: receipts (default 3), angles (default {-7, 0, 5, ...}), overlap
-- (two receipts, the second lower right, whose text boxes overlap a little:
-- join_overlapping merges them), format ("png" default, or "jpeg").
function M.scan(opts)
  opts = opts or {}
  local W, H = opts.width or 2480, opts.height or 3508
  local rnd = M.prng(opts.seed or 1)
  local n = opts.overlap and 2 or (opts.receipts or 3)
  local angles = opts.angles or (opts.overlap and { -2, 3 } or ({ { 0 }, { -7, 5 }, { -7, 0, 5 }, { -7, 0, 5, -3 } })[n])
    or {}
  local s = opts.scale or 3
  local first = rnd(#M.MERCHANTS)
  local lays = {}
  for i = 1, n do
    local model = M.receipt_model({ rnd = rnd, merchant = (first + i - 2) % #M.MERCHANTS + 1, items = opts.items })
    lays[i] = M.layout(model, { scale = s, cols = 30, margin = 12 * s, rnd = rnd })
  end
  local placements = {}
  for i, lay in ipairs(lays) do
    local ang = angles[i] or 0
    local cx, cy
    if opts.overlap then
      -- B's text block starts xo left of A's right text edge and yo above
      -- A's bottom text edge (the corner boxes overlap, the text does not
      -- collide: A's footer and B's header are short centred lines)
      local a = lays[1]
      local xo, yo = opts.overlap_x or 150, opts.overlap_y or 300
      if i == 1 then
        cx, cy = W * 0.3, H * 0.35
      else
        local acx, acy = placements[1].cx, placements[1].cy
        local a_right = acx - a.width / 2 + a.block.x1
        local a_bottom = acy - a.height / 2 + a.block.y1
        cx = a_right - xo - lay.block.x0 + lay.width / 2
        cy = a_bottom - yo - lay.block.y0 + lay.height / 2
      end
    else
      cx = W * (i - 0.5) / n
      cy = H * 0.42 + (rnd() - 0.5) * 0.1 * H
    end
    if ang == 0 then -- whole pixels: drawn straight onto the page
      cx, cy = math.floor(cx - lay.width / 2) + lay.width / 2, math.floor(cy - lay.height / 2) + lay.height / 2
    end
    placements[i] = { layout = lay, F = M.rigid(lay.width, lay.height, cx, cy, ang), rigid = true, angle = ang,
      cx = cx, cy = cy }
  end
  local page_color = opts.page_color or { 236, 236, 232 }
  local page = image.new(W, H, 3, page_color)
  for _, p in ipairs(placements) do
    page = composite(page, W, H, p.layout, p.F, { paper = { 252, 251, 247 }, ink = { 28, 28, 32 } }, page_color)
  end
  local json, info = M.vision_ocr(placements, W, H, opts)
  local r = result(page, opts.format or "png", opts.quality, json, info)
  page:close()
  return r
end

-- A photo-like picture of size W x H for an existing Vision OCR JSON (e.g.
-- the real bar receipt): a table top, a sheet of paper under the lines, and
-- every line's text drawn in the 5x7 font across its axis-aligned box, so a
-- render of the OCR over it looks right.  truth.receipts[1].corners_px is
-- the envelope of all line boxes (pixels, y down).
function M.photo_over(ocr_json, W, H, opts)
  opts = opts or {}
  local json = require("rcpt.json")
  local doc = assert(json.decode(ocr_json))
  local rnd = M.prng(opts.seed or 1)
  local img <close> = noise(W, H, opts.table_color or { 92, 70, 54 }, 18, 12, rnd)
  local pts = {}
  local x0, y0, x1, y1 = math.huge, math.huge, -math.huge, -math.huge
  local ids = {}
  for i, l in ipairs(doc.lines or {}) do
    ids[i] = i
    for _, k in ipairs({ "top_left", "top_right", "bottom_right", "bottom_left" }) do
      local X, Y = l[k].x * W, (1 - l[k].y) * H
      pts[#pts + 1] = { x = X, y = Y }
      x0, y0, x1, y1 = math.min(x0, X), math.min(y0, Y), math.max(x1, X), math.max(y1, Y)
    end
  end
  if #pts >= 3 then
    local hull = geom.convex_hull(pts)
    local c = geom.hull_centroid(hull)
    local pad = opts.paper_margin or 0.06 * math.min(W, H)
    local poly = {}
    for i, p in ipairs(hull) do
      local dx, dy = p.x - c.x, p.y - c.y
      local d = math.sqrt(dx * dx + dy * dy)
      poly[i] = { x = p.x + dx / d * pad, y = p.y + dy / d * pad }
    end
    img:draw_polygon(poly, { fill = { 243, 241, 233 }, width = 0 })
  end
  for _, l in ipairs(doc.lines or {}) do
    local b = l.bounding_box
    local bx, by, bw, bh = b.x * W, (1 - b.y - b.height) * H, b.width * W, b.height * H
    local cs = {}
    for _, c in utf8.codes(l.text or "") do cs[#cs + 1] = utf8.char(c) end
    if #cs > 0 then
      local cell = bw / #cs
      local s = math.max(1, math.min(math.floor(bh / 7), math.floor(cell / 5)))
      local ty = math.floor(by + (bh - 7 * s) / 2 + 0.5)
      for i, c in ipairs(cs) do
        if c ~= " " then
          local tx = math.floor(bx + (i - 1) * cell + (cell - 5 * s) / 2 + 0.5)
          img:draw_text(tx, ty, c, { 38, 36, 40 }, s)
        end
      end
    end
  end
  local r = { format = "jpeg", width = W, height = H, ocr_json = ocr_json,
    truth = { receipts = { { corners_px = { { x = x0, y = y0 }, { x = x1, y = y0 }, { x = x1, y = y1 }, { x = x0, y = y1 } },
      width = geom.round(x1 - x0), height = geom.round(y1 - y0), angle = 0, lines = ids } } } }
  r.image_bytes = encode(img, "jpeg", opts.quality or 80)
  return r
end

-- ---------------------------------------------------------------------------
-- Events

-- a version-4 UUID from the PRNG (deterministic, unlike rcpt.uuid.new)
function M.uuid4(rnd)
  local b = {}
  for i = 1, 16 do b[i] = rnd(256) - 1 end
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", table.unpack(b))
end

-- MD5 (RFC 1321) of a string, hex: SQS puts md5OfBody in every record.
function M.md5(msg)
  local K, S = {}, { 7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21 }
  for i = 0, 63 do K[i] = math.floor(math.abs(math.sin(i + 1)) * 2 ^ 32) & 0xffffffff end
  local function rotl(x, n) x = x & 0xffffffff; return ((x << n) | (x >> (32 - n))) & 0xffffffff end
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. string.pack("<I8", (len * 8) & 0xffffffffffffffff)
  local a0, b0, c0, d0 = 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476
  for chunk = 1, #msg, 64 do
    local Mw = { string.unpack("<" .. string.rep("I4", 16), msg, chunk) }
    local A, B, C, D = a0, b0, c0, d0
    for i = 0, 63 do
      local f, g
      local r = i // 16
      if r == 0 then f, g = (B & C) | (~B & D), i
      elseif r == 1 then f, g = (D & B) | (~D & C), (5 * i + 1) % 16
      elseif r == 2 then f, g = B ~ C ~ D, (3 * i + 5) % 16
      else f, g = C ~ (B | ~D), (7 * i) % 16 end
      f = (f + A + K[i] + Mw[g + 1]) & 0xffffffff
      A, D, C = D, C, B
      B = (B + rotl(f, S[r * 4 + i % 4 + 1])) & 0xffffffff
    end
    a0, b0, c0, d0 = (a0 + A) & 0xffffffff, (b0 + B) & 0xffffffff, (c0 + C) & 0xffffffff, (d0 + D) & 0xffffffff
  end
  local digest = string.pack("<I4I4I4I4", a0, b0, c0, d0)
  return (digest:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- An SQS event with one OCR-results record (DESIGN.md flow 1): body
-- {"job_id","image_id"}.  opts: seed, job_id, image_id, queue.
function M.sqs_event(opts)
  opts = opts or {}
  local json = require("rcpt.json")
  local rnd = M.prng(opts.seed or 1)
  local job_id, image_id = opts.job_id or M.uuid4(rnd), opts.image_id or M.uuid4(rnd)
  local body = string.format('{"job_id":%s,"image_id":%s}', json.encode(job_id), json.encode(image_id))
  local queue = opts.queue or "ocr-results"
  local ts = tostring(opts.timestamp or 1700000000000)
  return {
    Records = { {
      messageId = M.uuid4(rnd),
      receiptHandle = "AQEB" .. M.md5(body .. "handle"),
      body = body,
      attributes = { ApproximateReceiveCount = "1", SentTimestamp = ts, SenderId = "000000000000",
        ApproximateFirstReceiveTimestamp = ts },
      messageAttributes = {},
      md5OfBody = M.md5(body),
      eventSource = "aws:sqs",
      eventSourceARN = "arn:aws:sqs:us-east-1:000000000000:" .. queue,
      awsRegion = "us-east-1",
    } },
  }, job_id, image_id
end

return M
