-- Canonical DynamoDB JSON of an export ({"Item": {...}} per line), to compare what two backends
-- hold: attribute names sorted at every level, numbers in DynamoDB's normal form (no leading or
-- trailing zeros: "0.10000" -> "0.1", "1.00" -> "1"; DynamoDB stores numbers, not their text),
-- string sets sorted (a set has no order), lines sorted.  Everything else byte for byte.
local cjson = require("cjson")

local M = {}

function M.number(s)
  local sign, int, frac = s:match("^([-+]?)(%d*)%.?(%d*)$")
  assert(sign, "not a plain decimal number: " .. s)
  int = int:gsub("^0+", "")
  frac = frac:gsub("0+$", "")
  if int == "" then int = "0" end
  if int == "0" and frac == "" then return "0" end
  return (sign == "-" and "-" or "") .. int .. (frac ~= "" and ("." .. frac) or "")
end

local enc

local function enc_value(tv, out)
  local ty, v = next(tv)
  assert(next(tv, ty) == nil, "a typed value has one key")
  out[#out + 1] = '{"' .. ty .. '":'
  if ty == "S" or ty == "BOOL" or ty == "NULL" then
    out[#out + 1] = cjson.encode(v)
  elseif ty == "N" then
    out[#out + 1] = cjson.encode(M.number(v))
  elseif ty == "SS" or ty == "NS" then
    local c = {}
    for i, x in ipairs(v) do c[i] = ty == "NS" and M.number(x) or x end
    table.sort(c)
    local parts = {}
    for i, x in ipairs(c) do parts[i] = cjson.encode(x) end
    out[#out + 1] = "[" .. table.concat(parts, ",") .. "]"
  elseif ty == "M" then
    enc(v, out)
  elseif ty == "L" then
    out[#out + 1] = "["
    for i, x in ipairs(v) do
      if i > 1 then out[#out + 1] = "," end
      enc_value(x, out)
    end
    out[#out + 1] = "]"
  else
    error("unexpected type " .. ty)
  end
  out[#out + 1] = "}"
end

enc = function(m, out)
  local keys = {}
  for k in pairs(m) do keys[#keys + 1] = k end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = cjson.encode(k) .. ":"
    enc_value(m[k], out)
  end
  out[#out + 1] = "}"
end

function M.item(item)
  local out = {}
  enc(item, out)
  return table.concat(out)
end

function M.export(text)
  local lines = {}
  for line in text:gmatch("[^\n]+") do
    local t = cjson.decode(line)
    lines[#lines + 1] = '{"Item":' .. M.item(t.Item) .. "}"
  end
  table.sort(lines)
  return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end

return M
