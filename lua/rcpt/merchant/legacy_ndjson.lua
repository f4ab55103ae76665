-- The NDJSON export of the older three-stage flow (spec §6.8): one JSON
-- object per ReceiptLine / ReceiptWord, rows joined by "\n", no trailing
-- newline; and the reverse, for the embed_from_ndjson consumer.
--
--   M.encode_lines(lines) -> string | nil, err
--   M.encode_words(words) -> string | nil, err
--   M.decode(text) -> rows | nil, err        (JSON null -> nil)
--
-- Strings go through rcpt.json (minimal escapes, "/" as it is).  Objects
-- are assembled here because the rows need their own number style and key
-- order: numbers are written like Python's json.dumps: floats in the
-- shortest form that reads back exactly, with ".0" when whole; ids as
-- integers.  Keys come in the entity's field order.
local json = require("rcpt.json")

local M = {}

local function str(s)
  return json.encode(s)
end

local function float(v)
  if v ~= v or v == math.huge or v == -math.huge then return nil end
  local s
  for p = 1, 17 do
    s = string.format("%." .. p .. "g", v)
    if tonumber(s) == v then break end
  end
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

local POINT = { "x", "y" }
local BOX = { "x", "y", "width", "height" }

local function fail(kind, i, e, field, what)
  return nil, string.format("%s[%d] (image %s receipt %s line %s%s).%s: %s", kind, i,
    tostring(e.image_id), tostring(e.receipt_id), tostring(e.line_id),
    e.word_id ~= nil and (" word " .. tostring(e.word_id)) or "", field, what)
end

local function number_obj(t, keys)
  if type(t) ~= "table" then return nil, "must be an object" end
  local parts = {}
  for i, k in ipairs(keys) do
    local v = t[k]
    if type(v) ~= "number" then return nil, k .. " must be a number" end
    local f = float(v + 0.0)
    if not f then return nil, k .. " must be finite" end
    parts[i] = str(k) .. ":" .. f
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function integer(v)
  if type(v) ~= "number" or v % 1 ~= 0 then return nil end
  return string.format("%d", math.tointeger(v) or math.floor(v))
end

local LINE_FIELDS = { "receipt_id", "image_id", "line_id", "text", "bounding_box", "top_right",
  "top_left", "bottom_right", "bottom_left", "angle_degrees", "angle_radians", "confidence",
  "embedding_status", "is_noise" }
local WORD_FIELDS = { "receipt_id", "image_id", "line_id", "word_id", "text", "bounding_box",
  "top_right", "top_left", "bottom_right", "bottom_left", "angle_degrees", "angle_radians",
  "confidence", "extracted_data", "embedding_status", "is_noise" }

local INT = { receipt_id = true, line_id = true, word_id = true }
local FLOAT = { angle_degrees = true, angle_radians = true, confidence = true }

local function row(kind, i, e, fields)
  if type(e) ~= "table" then return nil, string.format("%s[%d]: must be a table", kind, i) end
  local parts = {}
  for _, k in ipairs(fields) do
    local v, s, err = e[k], nil, nil -- luacheck: ignore 311
    if INT[k] then
      s = integer(v)
      if not s then return fail(kind, i, e, k, "must be an integer") end
    elseif FLOAT[k] then
      s = type(v) == "number" and float(v + 0.0)
      if not s then return fail(kind, i, e, k, "must be a finite number") end
    elseif k == "image_id" or k == "text" then
      if type(v) ~= "string" then return fail(kind, i, e, k, "must be a string") end
      s = str(v)
    elseif k == "bounding_box" then
      s, err = number_obj(v, BOX)
      if not s then return fail(kind, i, e, k, err) end
    elseif k == "top_left" or k == "top_right" or k == "bottom_left" or k == "bottom_right" then
      s, err = number_obj(v, POINT)
      if not s then return fail(kind, i, e, k, err) end
    elseif k == "embedding_status" then
      if v ~= nil and type(v) ~= "string" then return fail(kind, i, e, k, "must be a string") end
      s = str(v or "NONE")
    elseif k == "is_noise" then
      s = v and "true" or "false"
    elseif k == "extracted_data" then
      if v == nil or v == json.null then
        s = "null"
      elseif type(v) == "table" and type(v.type) == "string" and type(v.value) == "string" then
        s = "{" .. str("type") .. ":" .. str(v.type) .. "," .. str("value") .. ":" .. str(v.value) .. "}"
      else
        return fail(kind, i, e, k, "must be null or {type, value} strings")
      end
    end
    parts[#parts + 1] = str(k) .. ":" .. s
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function encode(list, kind, fields)
  if type(list) ~= "table" then return nil, kind .. ": must be a list" end
  local rows = {}
  for i, e in ipairs(list) do
    local r, err = row(kind, i, e, fields)
    if not r then return nil, err end
    rows[i] = r
  end
  return table.concat(rows, "\n")
end

function M.encode_lines(lines) return encode(lines, "lines", LINE_FIELDS) end
function M.encode_words(words) return encode(words, "words", WORD_FIELDS) end

local function denull(t)
  for k, v in pairs(t) do
    if v == json.null then t[k] = nil elseif type(v) == "table" then denull(v) end
  end
  return t
end

-- Rows of an NDJSON text; integer fields come back as Lua integers.
function M.decode(text)
  if type(text) ~= "string" then return nil, "ndjson: must be a string" end
  local rows, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:match("%S") then
      local r, jerr = json.decode(line)
      if type(r) ~= "table" then
        return nil, string.format("ndjson row %d: invalid JSON (%s)", n, tostring(jerr or "not an object"))
      end
      denull(r)
      for k in pairs(INT) do
        if type(r[k]) == "number" then r[k] = math.tointeger(r[k]) or r[k] end
      end
      rows[#rows + 1] = r
    end
  end
  return rows
end

return M
