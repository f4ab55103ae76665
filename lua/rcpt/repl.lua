-- Helpers for `rcpt repl`: modules as globals and a table printer.
local M = {}

-- Modules whose functions become REPL globals, in this order.
M.HELPERS = { "rcpt.debug", "rcpt.debug_render", "rcpt.debug_vec" }

local function show(v, indent, seen)
  indent, seen = indent or "", seen or {}
  if type(v) ~= "table" then
    return type(v) == "string" and string.format("%q", v) or tostring(v)
  end
  if seen[v] then return "<cycle>" end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  if #keys == 0 then return "{}" end
  local parts = {}
  for _, k in ipairs(keys) do
    local ks = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. show(k) .. "]"
    parts[#parts + 1] = indent .. "  " .. ks .. " = " .. show(v[k], indent .. "  ", seen)
  end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end
M.show = show

function M.install(env)
  env.show = function(...)
    local n = select("#", ...)
    for i = 1, n do print(show((select(i, ...)))) end
  end
  for _, name in ipairs({ "ocr", "geom", "image", "store", "vec", "net", "embed" }) do
    local ok, mod = pcall(require, "rcpt." .. name)
    if ok then env[name] = mod end
  end
  -- the debugging helpers: receipt(image_id), render(image_id), vec queries...
  -- A module that is absent is skipped; one that fails to load is an error.
  for _, name in ipairs(M.HELPERS) do
    local found = package.searchpath(name, package.path) or package.preload[name]
    if not found then
      for _, m in ipairs(require("rcpt.host").modules()) do
        if m == name then found = true end
      end
    end
    if found then
      for k, v in pairs(require(name)) do
        if type(v) == "function" then env[k] = v end
      end
    end
  end
  return env
end

return M
