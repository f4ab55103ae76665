-- Which embedding provider runs: a setting, not code.
--
--   local embedder = require("rcpt.embedder")
--   local e, msg, errname = embedder.from_env([getenv])
--     -> an rcpt.embed embedder (e:embed(texts), e:dim(), e:name(), e:close())
--
-- With RCPT_EMBED_API_KEY or OPENAI_API_KEY set (the first that is non-empty):
-- the OpenAI-compatible HTTP client (rcpt.embed.openai) with
--   RCPT_EMBED_BASE_URL   default https://api.openai.com (Ollama, vLLM: their base)
--   RCPT_EMBED_MODEL      default text-embedding-3-small
--   RCPT_EMBED_DIM        sent as `dimensions` when set; unset = the model's own
--                         size (1536 for the default model; required for others)
--   RCPT_EMBED_TIMEOUT_MS default 60000
-- Without a key: the local deterministic embedder (rcpt.embed.local_embedder)
-- at RCPT_EMBED_DIM (default 1536), so everything runs offline.
-- getenv (default os.getenv) lets tests pass their own environment.
local embed = require("rcpt.embed")

local M = {}

M.DEFAULT_DIM = 1536

local function posint(v, name)
  local n = math.tointeger(tonumber(v))
  if not n or n < 1 then return nil, name .. ": must be a positive integer, got '" .. tostring(v) .. "'" end
  return n
end

function M.from_env(getenv)
  getenv = getenv or os.getenv
  local function env(name)
    local v = getenv(name)
    if v == nil or v == "" then return nil end
    return v
  end
  local dim, timeout, err
  if env("RCPT_EMBED_DIM") then
    dim, err = posint(env("RCPT_EMBED_DIM"), "RCPT_EMBED_DIM")
    if not dim then return nil, err, "EINVAL" end
  end
  if env("RCPT_EMBED_TIMEOUT_MS") then
    timeout, err = posint(env("RCPT_EMBED_TIMEOUT_MS"), "RCPT_EMBED_TIMEOUT_MS")
    if not timeout then return nil, err, "EINVAL" end
  end
  local key = env("RCPT_EMBED_API_KEY") or env("OPENAI_API_KEY")
  if key then
    require("rcpt.log").add_secret(key)
    return embed.openai{
      api_key = key,
      base_url = env("RCPT_EMBED_BASE_URL"),
      model = env("RCPT_EMBED_MODEL"),
      dimensions = dim,
      timeout_ms = timeout,
    }
  end
  return embed.local_embedder{ dim = dim or M.DEFAULT_DIM }
end

return M
