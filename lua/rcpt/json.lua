-- JSON for the Lua side, one place to choose the codec and its settings.
-- Numbers: decoding keeps every double exactly; encoding writes integers as
-- integers and other numbers with enough digits to round-trip.
local cjson = require("cjson")

local M = {}

local codec = cjson.new()
codec.encode_invalid_numbers(false)
codec.decode_invalid_numbers(false)
codec.encode_sparse_array(true)
codec.decode_max_depth(256)
codec.encode_max_depth(256)

M.null = cjson.null

-- Mark a table to be encoded as an array even when it is empty.
local array_mt = { __name = "rcpt.json.array" }
function M.array(t) return setmetatable(t or {}, array_mt) end
function M.is_array(t) return getmetatable(t) == array_mt end

-- cjson prints numbers with %.14g; we need round-trip precision (coordinates
-- are doubles).  Encode numbers ourselves and let cjson do strings.
local function fmt_number(n)
  if math.type(n) == "integer" then return string.format("%d", n) end
  if n ~= n or n == math.huge or n == -math.huge then
    error("cannot encode a non-finite number as JSON", 0)
  end
  if n == math.floor(n) and math.abs(n) < 2^53 then return string.format("%d", math.tointeger(n)) end
  for p = 15, 17 do
    local s = string.format("%." .. p .. "g", n)
    if tonumber(s) == n then return s end
  end
  return string.format("%.17g", n)
end

local encode_value
local function encode_table(t, out, depth)
  if depth > 256 then error("JSON too deep", 0) end
  local n = #t
  local is_arr = M.is_array(t) or n > 0
  if not is_arr then
    -- an object; empty non-marked tables are objects
    if next(t) == nil then out[#out + 1] = "{}"; return end
  end
  if is_arr then
    -- refuse holes and stray keys rather than lose data silently
    local count = 0
    for _ in pairs(t) do count = count + 1 end
    if count ~= n then error("cannot encode a table mixing array and object keys", 0) end
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" and type(k) ~= "number" then
      error("cannot encode a table key of type " .. type(k), 0)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = codec.encode(tostring(k))
    out[#out + 1] = ":"
    encode_value(t[k], out, depth + 1)
  end
  out[#out + 1] = "}"
end

encode_value = function(v, out, depth)
  local t = type(v)
  if t == "table" then
    encode_table(v, out, depth)
  elseif t == "number" then
    out[#out + 1] = fmt_number(v)
  elseif t == "string" then
    out[#out + 1] = (codec.encode(v):gsub("\\/", "/"))
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == cjson.null then
    out[#out + 1] = "null"
  else
    error("cannot encode a " .. t .. " as JSON", 0)
  end
end

-- encode(value) -> string; raises on values JSON cannot hold.  Object keys are
-- sorted so the output is deterministic.
function M.encode(v)
  local out = {}
  encode_value(v, out, 0)
  return table.concat(out)
end

-- decode(text) -> value | nil, message
function M.decode(s)
  if type(s) ~= "string" then return nil, "JSON text must be a string, got " .. type(s) end
  local ok, v = pcall(codec.decode, s)
  if not ok then return nil, "invalid JSON: " .. tostring(v):gsub("^.-:%d+: ", "") end
  return v
end

return M
