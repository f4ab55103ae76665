-- UUIDv4 generation and validation (spec §4.1 regex).
local M = {}

local PATTERN = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89abAB]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

function M.is_uuid4(s)
  return type(s) == "string" and s:match(PATTERN) ~= nil
end

local urandom
function M.new()
  if not urandom then urandom = assert(io.open("/dev/urandom", "rb")) end
  local b = { urandom:read(16):byte(1, 16) }
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
    table.unpack(b))
end

return M
