-- Logs: one JSON line per event on stderr (DESIGN.md conventions):
--   {"ts":"…","level":"info","msg":"…","image_id":"…","job_id":"…","duration_ms":12.3,…}
-- Secrets never reach a log line: every string value is scrubbed of the values
-- of the secret environment variables (API keys, AWS secrets) and of anything
-- that looks like a signature or an API key parameter, whatever the caller passed.
local json = require("rcpt.json")

local M = {}

local LEVELS = { debug = 10, info = 20, warn = 30, error = 40 }
local threshold = LEVELS[(os.getenv("RCPT_LOG_LEVEL") or "info"):lower()] or LEVELS.info
local sink = io.stderr

-- Environment variables whose values are secrets.  Declared as data (Redis'
-- script_lua.c style): extend the list, not the code.
M.SECRET_ENV = {
  "GOOGLE_PLACES_API_KEY", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN", "RCPT_EMBED_API_KEY", "RCPT_PLACES_API_KEY",
}

local secrets -- list of literal strings to mask, computed on first use
local function secret_values()
  if not secrets then
    secrets = {}
    for _, name in ipairs(M.SECRET_ENV) do
      local v = os.getenv(name)
      if v and #v >= 6 then secrets[#secrets + 1] = v end
    end
  end
  return secrets
end

-- Add a value to mask (e.g. a key read from a config file rather than the environment).
function M.add_secret(v)
  if type(v) == "string" and #v >= 6 then
    local s = secret_values()
    s[#s + 1] = v
  end
end

local function plain_gsub(s, needle, repl)
  local out, i = {}, 1
  while true do
    local a, b = s:find(needle, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = repl
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

-- Mask secrets in one string.
function M.scrub(s)
  if type(s) ~= "string" then return s end
  for _, v in ipairs(secret_values()) do s = plain_gsub(s, v, "***") end
  -- query parameters and headers that carry credentials
  s = s:gsub("([?&][Kk]ey=)[^&%s\"']+", "%1***")
  s = s:gsub("(X%-Amz%-Signature=)[%x]+", "%1***")
  s = s:gsub("(X%-Amz%-Credential=)[^&%s\"']+", "%1***")
  s = s:gsub("([Aa]uthorization:%s*)[^\r\n\"]+", "%1***")
  s = s:gsub("(Bearer%s+)[%w%-%._~+/]+=*", "%1***")
  return s
end

local function scrub_value(v, depth)
  local t = type(v)
  if t == "string" then return M.scrub(v) end
  if t == "table" and (depth or 0) < 4 then
    local out = {}
    for k, x in pairs(v) do out[k] = scrub_value(x, (depth or 0) + 1) end
    return out
  end
  if t == "number" or t == "boolean" or v == nil then return v end
  return tostring(v)
end

function M.set_sink(f) sink = f end
function M.set_level(name) threshold = LEVELS[name] or threshold end

-- rcpt.json refuses strings that are not UTF-8; the fallback line below
-- must still be written, so its text is made ASCII-safe first.
local function valid_utf8(s)
  if utf8.len(s) then return s end
  return (s:gsub("[\128-\255]", "?"))
end

local function emit(level, msg, fields)
  if LEVELS[level] < threshold then return end
  local rec = { level = level, msg = M.scrub(tostring(msg)), ts = os.date("!%Y-%m-%dT%H:%M:%SZ") }
  for k, v in pairs(fields or {}) do
    if rec[k] == nil then rec[k] = scrub_value(v) end
  end
  local ok, line = pcall(json.encode, rec)
  if not ok then
    line = json.encode({ level = level, msg = valid_utf8(M.scrub(tostring(msg))),
      log_error = valid_utf8(tostring(line)) })
  end
  sink:write(line, "\n")
  if sink.flush then sink:flush() end
end

function M.debug(msg, fields) emit("debug", msg, fields) end
function M.info(msg, fields) emit("info", msg, fields) end
function M.warn(msg, fields) emit("warn", msg, fields) end
function M.error(msg, fields) emit("error", msg, fields) end

-- A monotonic-enough clock in ms for durations (os.clock is CPU time; use the
-- host's clock when it has one).
function M.now_ms()
  local ok, host = pcall(require, "rcpt.host")
  if ok and host.now_ms then return host.now_ms() end
  return os.time() * 1000.0
end

return M
