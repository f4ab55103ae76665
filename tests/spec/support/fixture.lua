-- Loopback fixture servers speaking third-party wire formats (tests/support/*_fixture.py):
--   local fixture = require("support.fixture")
--   local srv = fixture.start("places", scenario)   -- or "openai"; scenario: table or JSON path
--   srv.endpoint   -- "http://127.0.0.1:PORT" (Places paths start /maps/api/place/, OpenAI /v1/)
--   srv.requests() -- what it received so far: {n, endpoint, endpoint_call, method, path,
--                  --   raw_query, query = {k = v}, headers = {lowercase = v}, body, mode, time}
--   srv.stop()     -- idempotent; also done when the spec process exits (support.proc)
-- Scenario format: tests/support/README.md.
local cjson = require("cjson")
local env = require("support.env")
local proc = require("support.proc")

local M = {}

M.kinds = { places = "places_fixture.py", openai = "openai_fixture.py" }

-- Debian's interpreter when present (stdlib only, so any python3 would do; it starts faster
-- than a version-manager shim).
local function python()
  local f = io.open("/usr/bin/python3", "r")
  if f then f:close() return "/usr/bin/python3" end
  return "python3"
end

function M.start(kind, scenario)
  local script = M.kinds[kind]
  if not script then error("support.fixture: unknown fixture '" .. tostring(kind) .. "'", 2) end
  local dir = env.tmpdir()
  local path = scenario
  if type(scenario) == "table" then
    path = dir .. "/scenario.json"
    env.write(path, cjson.encode(scenario))
  elseif type(scenario) ~= "string" then
    error("support.fixture: scenario must be a table or a JSON file path", 2)
  end
  local record = dir .. "/requests.ndjson"
  env.write(record, "")
  local h = proc.spawn({ python(), env.src .. "/tests/support/" .. script,
    "--scenario", path, "--record", record, "--parent-pid", tostring(proc.getpid()),
    "--ignore-stdin" }, { name = kind .. " fixture" })
  local port, err = proc.wait_ready(h, kind .. " fixture", function()
    return tonumber(h.stdout():match("^(%d+)\n"))
  end, 30)
  if not port then
    h.stop()
    env.rmrf(dir)
    error("support.fixture: " .. err, 2)
  end
  local srv = { kind = kind, port = port, endpoint = "http://127.0.0.1:" .. port, pid = h.pid,
    scenario_path = path }
  function srv.requests()
    local out = {}
    local f = io.open(record, "r")
    if not f then return out end
    for line in f:lines() do out[#out + 1] = cjson.decode(line) end
    f:close()
    return out
  end
  function srv.alive() return h.alive() end
  function srv.stop()
    h.stop()
    env.rmrf(dir)
  end
  return srv
end

function M.places(scenario) return M.start("places", scenario) end
function M.openai(scenario) return M.start("openai", scenario) end

return M
