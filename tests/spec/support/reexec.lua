-- Run a spec file again in a child `rcpt lua tests/busted.lua SPEC` with extra environment
-- variables (the C clients read AWS_* from the process environment, which Lua cannot set).
-- The child inherits this process's network namespace, so a stand-in started here (DynamoDB
-- Local inside `unshare --net`) is reachable from it.
--   if reexec.child() then ... (the cases) ... return end
--   local code, output = reexec.run(spec_path, { AWS_ENDPOINT_URL_DYNAMODB = ..., ... })
local env = require("support.env")

local M = {}

M.VAR = "RCPT_SPEC_CHILD"

function M.child() return os.getenv(M.VAR) == "1" end

function M.run(spec, vars)
  local dir = env.tmpdir()
  local parts = { "env", M.VAR .. "=1" }
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. env.quote(v) end
  parts[#parts + 1] = env.quote(env.bin)
  parts[#parts + 1] = "lua"
  parts[#parts + 1] = env.quote(env.src .. "/tests/busted.lua")
  parts[#parts + 1] = env.quote(spec)
  local cmd = table.concat(parts, " ") .. " >" .. dir .. "/out 2>&1 </dev/null"
  local _, _, code = os.execute(cmd)
  local out = env.read(dir .. "/out")
  env.rmrf(dir)
  return code, out
end

-- Fake credentials for stand-ins (they check no signature); never real ones.
M.FAKE_AWS = {
  AWS_ACCESS_KEY_ID = "AKIDSTANDINTEST", AWS_SECRET_ACCESS_KEY = "standin-secret",
  AWS_REGION = "us-east-1", AWS_SESSION_TOKEN = "standin-session-token",
}

return M
