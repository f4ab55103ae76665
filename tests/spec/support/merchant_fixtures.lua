-- Receipt fixtures for the merchant / embedding specs: the real bar receipt
-- turned into ReceiptLine / ReceiptWord tables (ids per ocr-geometry §3.1:
-- line_id 1.. in array order, word_id 1.. restarting per line), and
-- synthetic receipts laid out line by line.
local cjson = require("cjson")
local env = require("support.env")

local M = {}

local function copy_point(p) return { x = p.x, y = p.y } end

local function entity(src, image_id, receipt_id, line_id, word_id)
  local bb = src.bounding_box
  return {
    image_id = image_id, receipt_id = receipt_id, line_id = line_id, word_id = word_id,
    text = src.text,
    bounding_box = { x = bb.x, y = bb.y, width = bb.width, height = bb.height },
    top_left = copy_point(src.top_left), top_right = copy_point(src.top_right),
    bottom_left = copy_point(src.bottom_left), bottom_right = copy_point(src.bottom_right),
    angle_degrees = src.angle_degrees, angle_radians = src.angle_radians,
    confidence = src.confidence, is_noise = false,
  }
end

-- is_noise_text of ocr-geometry §3.3, enough for these receipts: blank,
-- single punctuation / separator, or only symbols (currency excepted).
local function is_noise_text(t)
  if not t:match("%S") then return true end
  if t:match("^[%$€£¥]") or t:match("[%$€£¥]$") then return false end
  if #t == 1 and not t:match("%w") then return true end
  return t:match("^[^%w%s]+$") ~= nil and not ({ ["@"] = 1, ["#"] = 1, ["&"] = 1, ["+"] = 1, ["%"] = 1 })[t]
end

-- lines, words of an OCR JSON document (strip = drop every extracted_data).
function M.from_ocr(doc, image_id, receipt_id, strip)
  local lines, words = {}, {}
  for li, l in ipairs(doc.lines) do
    lines[#lines + 1] = entity(l, image_id, receipt_id, li)
    for wi, w in ipairs(l.words or {}) do
      local e = entity(w, image_id, receipt_id, li, wi)
      e.is_noise = is_noise_text(w.text)
      if not strip and type(w.extracted_data) == "table" then
        e.extracted_data = { type = w.extracted_data.type, value = w.extracted_data.value }
      end
      words[#words + 1] = e
    end
  end
  return lines, words
end

function M.bar_receipt(strip)
  local doc = cjson.decode(env.read(env.data .. "/vision_bar_receipt.ocr.json"))
  return M.from_ocr(doc, "2f6bc9a8-1c0e-4a37-9d8e-5b1f6c2d7e90", 1, strip)
end

-- A synthetic receipt: `rows` = list of line texts (or {text, tags} where
-- tags maps a word index to {type, value}), laid out top to bottom, left
-- aligned; each word gets its own box along the line (6 px per char).
function M.synthetic(image_id, receipt_id, rows)
  local lines, words = {}, {}
  local h, gap = 0.02, 0.03
  for li, r in ipairs(rows) do
    local text, tags = r, {}
    if type(r) == "table" then text, tags = r[1], r.tags or {} end
    local y = 0.95 - (li - 1) * gap - h
    local x0, cw = 0.1, 0.012
    local function box(x, w)
      return {
        bounding_box = { x = x, y = y, width = w, height = h },
        top_left = { x = x, y = y + h }, top_right = { x = x + w, y = y + h },
        bottom_left = { x = x, y = y }, bottom_right = { x = x + w, y = y },
      }
    end
    local lb = box(x0, #text * cw)
    lb.text = lb.text or text
    lb.angle_degrees, lb.angle_radians, lb.confidence = 0.0, 0.0, 1.0
    lines[#lines + 1] = entity(lb, image_id, receipt_id, li)
    local x, wi = x0, 0
    for word in text:gmatch("%S+") do
      wi = wi + 1
      local wb = box(x, #word * cw)
      wb.text, wb.angle_degrees, wb.angle_radians, wb.confidence = word, 0.0, 0.0, 1.0
      local e = entity(wb, image_id, receipt_id, li, wi)
      e.is_noise = is_noise_text(word)
      if tags[wi] then e.extracted_data = { type = tags[wi][1], value = tags[wi][2] } end
      words[#words + 1] = e
      x = x + (#word + 1) * cw
    end
  end
  return lines, words
end

return M
