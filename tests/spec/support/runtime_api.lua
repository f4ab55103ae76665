-- Start and stop the Lambda Runtime API stand-in (tests/support/runtime_api.py)
-- from a spec, and run `rcpt lambda` against it.
--
--   local api = runtime_api.start{ events = {...}, function_arn = "..." }
--   local code, out, err = api:run_rcpt({"--max-invocations", "3"}, {env = {...}})
--   local rec = api:record()   -- { nexts = {...}, posts = {...}, rejected = {...} }
--   api:stop()                 -- idempotent; also kills the server when the spec failed
--
-- runtime_api.with(cfg, function(api) ... end) stops the server whatever happens.
local cjson = require("cjson")
local env = require("support.env")

local M = {}

local function python()
  -- Debian's interpreter (scripts/deps/build.txt); the one first on PATH may be another
  local f = io.open("/usr/bin/python3", "rb")
  if f then f:close(); return "/usr/bin/python3" end
  return "python3"
end

local function sleep(s) os.execute("sleep " .. s) end

local Server = {}
Server.__index = Server

function Server:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.pid = nil
  end
  if self.dir then
    env.rmrf(self.dir)
    self.dir = nil
  end
end

function Server:record()
  return cjson.decode(env.read(self.dir .. "/record.json"))
end

function Server:log()
  local f = io.open(self.dir .. "/server.log", "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Run `rcpt [--lua DIR] lambda ARGS` against this server.  opts.env adds
-- variables (AWS_LAMBDA_RUNTIME_API is set here); opts.lua is the override folder.
function Server:run_rcpt(args, opts)
  opts = opts or {}
  local vars = { AWS_LAMBDA_RUNTIME_API = "127.0.0.1:" .. self.port }
  for k, v in pairs(opts.env or {}) do vars[k] = v end
  local argv = {}
  if opts.lua then argv[#argv + 1] = "--lua"; argv[#argv + 1] = opts.lua end
  argv[#argv + 1] = "lambda"
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return env.rcpt(argv, { env = vars })
end

function M.start(cfg)
  local s = setmetatable({ dir = env.tmpdir() }, Server)
  local ok, err = pcall(function()
    env.write(s.dir .. "/events.json", cjson.encode(cfg))
    local script = env.src .. "/tests/support/runtime_api.py"
    local cmd = string.format("%s %s --events %s --record %s --idle-exit 60 >%s 2>%s & echo $! >%s",
      python(), env.quote(script), env.quote(s.dir .. "/events.json"),
      env.quote(s.dir .. "/record.json"), env.quote(s.dir .. "/port"),
      env.quote(s.dir .. "/server.log"), env.quote(s.dir .. "/pid"))
    assert(os.execute(cmd), "cannot start the Runtime API stand-in")
    s.pid = env.read(s.dir .. "/pid"):match("%d+")
    for _ = 1, 200 do -- it prints its port once it accepts connections
      local f = io.open(s.dir .. "/port", "rb")
      local port = f and f:read("l")
      if f then f:close() end
      if port and port:match("^%d+$") then s.port = tonumber(port); return end
      sleep(0.05)
    end
    error("the Runtime API stand-in did not start: " .. s:log())
  end)
  if not ok then
    s:stop()
    error(err, 0)
  end
  return s
end

function M.with(cfg, fn)
  local s = M.start(cfg)
  local ok, err = pcall(fn, s)
  s:stop()
  if not ok then error(err, 0) end
end

return M
