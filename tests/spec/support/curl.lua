-- HTTP from specs through the curl CLI (the C clients are tested elsewhere; this is the
-- independent witness):
--   local curl = require("support.curl")
--   local r = curl.request{ url = ..., method = "POST", headers = {["X-A"] = "b"}, body = "...",
--                           aws_sigv4 = "aws:amz:us-east-1:dynamodb", user = "KEY:SECRET",
--                           max_time = 5 }
--   r.status (0 when no HTTP answer), r.headers (lower-case names), r.body, r.exit (curl's exit
--   code: 28 timeout, 18 body cut short), r.time (seconds, curl's time_total)
--   curl.aws_json(endpoint, "DynamoDB_20120810.PutItem", table, opts) -> status, decoded, r
local cjson = require("cjson")
local env = require("support.env")

local M = {}

local q = env.quote

function M.request(o)
  local dir = env.tmpdir()
  local args = { "curl", "-s", "-S", "-o", dir .. "/body", "-D", dir .. "/headers",
    "-w", "%{http_code} %{time_total}", "-X", o.method or "GET" }
  for k, v in pairs(o.headers or {}) do
    args[#args + 1] = "-H"
    args[#args + 1] = k .. ": " .. v
  end
  if o.body then
    env.write(dir .. "/req", o.body)
    args[#args + 1] = "--data-binary"
    args[#args + 1] = "@" .. dir .. "/req"
  end
  if o.aws_sigv4 then
    args[#args + 1] = "--aws-sigv4"
    args[#args + 1] = o.aws_sigv4
  end
  if o.user then
    -- through a config file, so the secret is not in the process list
    env.write(dir .. "/cfg", 'user = "' .. o.user .. '"\n')
    args[#args + 1] = "-K"
    args[#args + 1] = dir .. "/cfg"
  end
  if o.max_time then
    args[#args + 1] = "--max-time"
    args[#args + 1] = tostring(o.max_time)
  end
  args[#args + 1] = o.url
  local parts = {}
  for i, a in ipairs(args) do parts[i] = q(a) end
  local p = io.popen(table.concat(parts, " ") .. " 2>" .. q(dir .. "/err") .. "; echo \" $?\"")
  local out = p:read("a")
  p:close()
  local code, t, exit = out:match("^(%d+) ([%d.]+)%s+(%d+)")
  local r = { status = tonumber(code) or 0, time = tonumber(t), exit = tonumber(exit),
    headers = {}, body = "" }
  local bf = io.open(dir .. "/body", "rb")
  if bf then r.body = bf:read("a") bf:close() end
  local hf = io.open(dir .. "/headers", "rb")
  if hf then
    for line in hf:lines() do
      local k, v = line:match("^([^:%s]+):%s*(.-)%s*$")
      if k then r.headers[k:lower()] = v end
    end
    hf:close()
  end
  r.stderr = env.read(dir .. "/err")
  env.rmrf(dir)
  return r
end

-- POST an AWS JSON-protocol request (DynamoDB, DynamoDB Streams, SQS). opts.service defaults
-- to the signing name of the target's prefix; opts.user to fake test credentials.
function M.aws_json(endpoint, target, body, opts)
  opts = opts or {}
  local service = opts.service
  if not service then
    service = target:match("^AmazonSQS%.") and "sqs" or "dynamodb"
  end
  local r = M.request{
    url = endpoint .. "/", method = "POST",
    headers = { ["X-Amz-Target"] = target, ["Content-Type"] = "application/x-amz-json-1.0" },
    body = type(body) == "string" and body or cjson.encode(body or {}),
    aws_sigv4 = "aws:amz:" .. (opts.region or "us-east-1") .. ":" .. service,
    user = opts.user or "AKIDSTANDINTEST:standin-secret",
    max_time = opts.max_time or 30,
  }
  local ok, decoded = pcall(cjson.decode, r.body)
  return r.status, ok and decoded or nil, r
end

return M
