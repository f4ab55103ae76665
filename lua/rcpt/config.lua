-- Shared configuration of the commands: where the stores are, from flags,
-- rcpt's own environment variables and the original Lambda's names.
--
--   store URL    --store URL > RCPT_STORE > DYNAMO_TABLE_NAME (dynamodb:TABLE)
--                > sqlite:./.rcpt/rcpt.db
--   objects URL  --objects URL > RCPT_OBJECTS > file:./.rcpt/objects
--   the original names keep their meaning: RAW_BUCKET, SITE_BUCKET,
--   ARTIFACTS_BUCKET, CHROMADB_BUCKET, OCR_JOB_QUEUE_URL,
--   OCR_RESULTS_QUEUE_URL, GOOGLE_PLACES_API_KEY, OPENAI_API_KEY
--   (M.env(); secrets are returned but never printed by describe()).
local M = {}

M.DEFAULT_STORE = "sqlite:./.rcpt/rcpt.db"
M.DEFAULT_OBJECTS = "file:./.rcpt/objects"

local getenv = os.getenv

local function nonempty(v)
  if v ~= nil and v ~= "" then return v end
end

function M.store_url(flag)
  if nonempty(flag) then return flag end
  if nonempty(getenv("RCPT_STORE")) then return getenv("RCPT_STORE") end
  local t = nonempty(getenv("DYNAMO_TABLE_NAME"))
  if t then return "dynamodb:" .. t end
  return M.DEFAULT_STORE
end

function M.objects_url(flag)
  return nonempty(flag) or nonempty(getenv("RCPT_OBJECTS")) or M.DEFAULT_OBJECTS
end

local ENV_NAMES = {
  "RAW_BUCKET", "SITE_BUCKET", "ARTIFACTS_BUCKET", "CHROMADB_BUCKET", "OCR_JOB_QUEUE_URL",
  "OCR_RESULTS_QUEUE_URL", "GOOGLE_PLACES_API_KEY", "OPENAI_API_KEY", "DYNAMO_TABLE_NAME",
}
local SECRET = { GOOGLE_PLACES_API_KEY = true, OPENAI_API_KEY = true }

-- The original environment, lower-cased keys: raw_bucket, site_bucket, ...
function M.env()
  local t = {}
  for _, n in ipairs(ENV_NAMES) do t[n:lower()] = nonempty(getenv(n)) end
  return t
end

-- One line per setting for humans, secrets shown only as "set".
function M.describe(opts)
  opts = opts or {}
  local lines = {
    "store   " .. M.store_url(opts.store),
    "objects " .. M.objects_url(opts.objects),
  }
  for _, n in ipairs(ENV_NAMES) do
    local v = nonempty(getenv(n))
    if v then lines[#lines + 1] = n .. " " .. (SECRET[n] and "(set)" or v) end
  end
  return table.concat(lines, "\n")
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Open the entity store at url; for sqlite:PATH the folder is created.
-- Returns st | nil, msg, errname.
function M.open_store(url)
  local store = require("rcpt.store")
  local path = url:match("^sqlite:(.+)$")
  if path then
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then os.execute("mkdir -p " .. shell_quote(dir)) end
  end
  return store.open(url)
end

-- Parse command-line flags.  spec maps a flag name (without dashes) to
-- "value" or "flag"; aliases = { o = "output" }.  Returns opts, positional
-- or nil, message.
function M.parse(args, spec, aliases)
  aliases = aliases or {}
  local opts, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^%-%-([%w%-_]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-_]+)$") or a:match("^%-(%a)$") end
    if name and a ~= "-" then
      name = aliases[name] or name
      local kind = spec[name]
      if not kind then return nil, "unknown option " .. a end
      if kind == "flag" then
        opts[name] = true
      elseif inline then
        opts[name] = inline
      else
        i = i + 1
        if args[i] == nil then return nil, "option " .. a .. " needs a value" end
        opts[name] = args[i]
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

return M
