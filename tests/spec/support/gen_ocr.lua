-- A deterministic generator of realistic Apple-Vision OCR JSON (the format of
-- spec/ocr-geometry.md §2), for specs, ingest tests and benches.
--
--   local gen = require("support.gen_ocr")
--   local json, info = gen{ lines = 200, words_per_line = 5, letters_per_word = 5 }
--   -- info = { lines = 200, words = 1000, letters = 5000, bytes = #json,
--   --          tagged = { address = n, phone = n, url = n, date = n } }
--
-- Options (all optional):
--   lines            number of lines (default 24)
--   words_per_line   exact words per line (default: natural texts, 1-6 words)
--   letters_per_word exact letters per word (default: natural word lengths);
--                    with both set, counts are exact: lines*wpl words and
--                    lines*wpl*lpw letters, tagged lines included (their text
--                    is re-cut into words of that length; the tag values stay)
--   width, height    image size in pixels (default 3024 x 4032): sets the
--                    aspect used for quads and angles
--   geometry         "quads" (HEAD: per-word quads sliced from the line by
--                    character index, letters sliced uniformly, real tilt) or
--                    "line_copy" (706a478a2: every word and letter copies the
--                    line's box, corners, angle 0 and confidence). Default "quads".
--   angle            tilt in degrees for "quads" (default 0)
--   tags             list of extracted_data tags to include, from
--                    "address", "phone", "url", "date" (default none)
--   merchant, address, phone, url, date: the texts / values used for the
--                    header line and the tags (defaults: a New Orleans bar)
--   seed             PRNG seed (default 1); same options -> same bytes
--   pretty           indent like Swift's .prettyPrinted (default true)
--   shuffle_keys     arbitrary key order like Vision's files (default true)
--   accents          allow words with accented letters (default false)
local M = {}

-- the PRNG and the Vision JSON writer are shared with rcpt.synth (which
-- also makes the images that go with such JSON)
local synth = require("rcpt.synth")
local V = synth.vision_writer
local prng, num, str = synth.prng, V.num, V.str

local VOCAB = {
  "TOTAL", "SUBTOTAL", "TAX", "VISA", "CASH", "CHANGE", "BEER", "IPA", "BURGER", "FRIES",
  "SALAD", "COFFEE", "TIP", "QTY", "ITEM", "SERVER:", "TABLE", "GUEST", "THANK", "YOU",
  "#1042", "12.99", "3.50", "$8.00", "@", "x2", "-", "Check", "Lager", "Wings", "1", "2",
  "Draft", "Soda", "Card", "AUTH", "****4242", "Amount:", "7.25", "16.00", "=====",
}
local ACCENTED = { "CAFÉ", "CRÈME", "Jalapeño", "Brûlée" }

local function chars(s)
  local out = {}
  for _, c in utf8.codes(s) do out[#out + 1] = utf8.char(c) end
  return out
end

-- cut `text` (spaces removed) into n words of exactly k characters
local function recut(text, n, k)
  local cs = chars((text:gsub("%s+", "")))
  if #cs == 0 then cs = { "0" } end
  local words, i = {}, 1
  for _ = 1, n do
    local w = {}
    for _ = 1, k do
      w[#w + 1] = cs[(i - 1) % #cs + 1]
      i = i + 1
    end
    words[#words + 1] = table.concat(w)
  end
  return words
end

local function fit(word, k)
  local cs = chars(word)
  local out = {}
  for i = 1, k do out[i] = cs[i] or tostring((i - 1) % 10) end
  return table.concat(out)
end

local obj, arr, envelope, slice, geom_pairs = V.obj, V.arr, V.envelope, V.slice, V.geom_pairs

function M.generate(opts)
  opts = opts or {}
  local rnd = prng(opts.seed)
  local n_lines = opts.lines or 24
  local W, H = opts.width or 3024, opts.height or 4032
  local quads = (opts.geometry or "quads") == "quads"
  local angle = quads and (opts.angle or 0) or 0
  local wpl, lpw = opts.words_per_line, opts.letters_per_word
  local want = {}
  for _, t in ipairs(opts.tags or {}) do want[t] = true end
  local address = opts.address or "614 Gravier Street New Orleans, LA 70130"
  local phone = opts.phone or "(504) 525-1234"
  local url = opts.url or "http://www.example.com"
  local date = opts.date or "2022-10-22 01:04:00 +0000"

  -- line texts and tags, in order
  local plan = { { text = opts.merchant or "614 Gravier LLC" } }
  if want.address then
    local a, b = address:match("^(.-%a+)%s+(%u%l+.*)$")
    if not a then a, b = address, nil end
    plan[#plan + 1] = { text = a, tag = "address", value = address }
    if b then plan[#plan + 1] = { text = b, tag = "address", value = address } end
  end
  if want.phone then plan[#plan + 1] = { text = phone, tag = "phone", value = phone } end
  local tail = {}
  if want.date then tail[#tail + 1] = { text = "10/21/2022 08:04 PM", tag = "date", value = date } end
  if want.url then tail[#tail + 1] = { text = (url:gsub("^%a+://", "")), tag = "url", value = url } end
  while #plan + #tail < n_lines do
    local k = wpl or (1 + rnd(6) - 1)
    local ws = {}
    for i = 1, k do
      local v = (opts.accents and rnd(8) == 1) and ACCENTED[rnd(#ACCENTED)] or VOCAB[rnd(#VOCAB)]
      ws[i] = v
    end
    plan[#plan + 1] = { text = table.concat(ws, " ") }
  end
  for _, t in ipairs(tail) do plan[#plan + 1] = t end
  while #plan > n_lines do table.remove(plan) end

  local info = { lines = 0, words = 0, letters = 0, tagged = { address = 0, phone = 0, url = 0, date = 0 } }
  local confs = { 0.3, 0.5, 1, 1, 0.5 }
  local th = math.rad(angle)
  local line_items = {}
  local top, bottom = 0.92, 0.08
  local pitch = (top - bottom) / math.max(n_lines, 1)
  for li, p in ipairs(plan) do
    local words
    if wpl and lpw then
      words = {}
      for w in p.text:gmatch("%S+") do words[#words + 1] = fit(w, lpw) end
      if p.tag or #words ~= wpl then words = recut(p.text, wpl, lpw) end
    else
      words = {}
      for w in p.text:gmatch("%S+") do words[#words + 1] = lpw and fit(w, lpw) or w end
    end
    local text = table.concat(words, " ")
    local nchar = utf8.len(text)
    -- the line quad in y-up pixels, rotated about its lower-left corner
    local hpx = pitch * H * 0.6
    local wpx = math.min(nchar * hpx * 0.55, W * 0.85)
    local x0 = W * (0.06 + 0.04 * rnd())
    local y0 = H * (top - li * pitch)
    local function P(dx, dy)
      return { x = (x0 + dx * math.cos(th) - dy * math.sin(th)) / W, y = (y0 + dx * math.sin(th) + dy * math.cos(th)) / H }
    end
    local lq = { bl = P(0, 0), br = P(wpx, 0), tl = P(0, hpx), tr = P(wpx, hpx) }
    local ang = quads and math.deg(math.atan((lq.br.y - lq.bl.y) * H, (lq.br.x - lq.bl.x) * W)) or 0
    local conf = confs[rnd(#confs)]
    local lbox = envelope(lq)
    local word_items = {}
    local pos = 0
    for wi, w in ipairs(words) do
      local wl = utf8.len(w)
      local wq = quads and slice(lq, pos / nchar, (pos + wl) / nchar) or lq
      pos = pos + wl + 1
      local wbox = quads and envelope(wq) or lbox
      local letter_items = {}
      local cs = chars(w)
      for ci, c in ipairs(cs) do
        local cq = quads and slice(wq, (ci - 1) / #cs, ci / #cs) or lq
        local cbox = quads and envelope(cq) or lbox
        letter_items[ci] = obj(geom_pairs(c, cq, cbox, ang, conf, 6, rnd, opts), rnd, opts, 6)
      end
      info.letters = info.letters + #cs
      local wp = geom_pairs(w, wq, wbox, ang, conf, 4, rnd, opts)
      wp[#wp + 1] = { "letters", arr(letter_items, opts, 5) }
      if p.tag then
        wp[#wp + 1] = { "extracted_data", obj({ { "type", str(p.tag) }, { "value", str(p.value) } }, rnd, opts, 5) }
        info.tagged[p.tag] = info.tagged[p.tag] + 1
      end
      word_items[wi] = obj(wp, rnd, opts, 4)
    end
    info.words = info.words + #words
    local lp = geom_pairs(text, lq, lbox, ang, conf, 2, rnd, opts)
    lp[#lp + 1] = { "words", arr(word_items, opts, 3) }
    line_items[li] = obj(lp, rnd, opts, 2)
  end
  info.lines = #plan
  local json
  if opts.pretty == false then
    json = '{"lines":' .. arr(line_items, opts, 0) .. "}"
  else
    json = '{\n  "lines": ' .. arr(line_items, opts, 1) .. "\n}"
  end
  info.bytes = #json
  return json, info
end

return setmetatable(M, { __call = function(_, opts) return M.generate(opts) end })
