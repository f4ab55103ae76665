-- Background servers for specs: start in their own process group, wait until ready, stop for sure.
--
-- A server runs under a small sh wrapper started with io.popen(..., "w"):
--   * setsid gives the wrapper (and so the server) its own session and process group, so that
--     stopping it never signals the spec process, and everything the server forks goes too;
--   * the wrapper holds the write end of a pipe from this Lua process on its stdin and blocks
--     reading it.  It reaches EOF when stop() closes the pipe *or when the spec process exits for
--     any reason* (error, busted crash, SIGKILL): the kernel closes the pipe then.  On EOF it
--     sends SIGTERM to its whole process group, waits for the server (SIGKILL after 5 s), and
--     exits; closing the popen handle waits for the wrapper.  No server outlives its spec.
local env = require("support.env")
local lfs = require("lfs")

local M = {}

local q = env.quote

-- The wrapper script: $1 = pidfile, then the server's argv.  The server is started in the
-- background, where a non-interactive sh gives it /dev/null as stdin.  TERM is ignored by the
-- wrapper only after the server is started (an ignored signal would be inherited).
local WRAPPER = [[
pidfile=$1; shift
echo $$ > "$pidfile"
"$@" &
srv=$!
echo $srv > "$pidfile.server"
trap '' TERM
cat > /dev/null
kill -TERM 0 2>/dev/null
( sleep 5; kill -KILL 0 ) &
wait "$srv"
kill -KILL 0
]]

local function sleep(s) os.execute("sleep " .. s) end
M.sleep = sleep

-- Wall-clock seconds with sub-second precision (os.time has whole seconds, os.clock is CPU).
function M.now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

-- The pid of this process (the spec's rcpt): $PPID of the shell io.popen starts.
function M.getpid()
  local p = io.popen("echo $PPID")
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

-- A port that was free a moment ago on 127.0.0.1 (the kernel's choice for port 0).  A server
-- given it may still lose a race with another program: callers retry on a failed start.
function M.free_port()
  local p = io.popen("python3 -c 'import socket; s = socket.socket(); " ..
    "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
  local port = tonumber(p:read("l"))
  p:close()
  assert(port, "support.proc: could not get a free port from python3")
  return port
end

local function stat(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  -- "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
  local state, pgrp = s:match("^%d+ %(.*%) (%a) %-?%d+ (%d+)")
  return state, tonumber(pgrp)
end

-- Live (not zombie) pids of process group pgid, read from /proc (no procps needed).
function M.group(pgid)
  local out = {}
  for name in lfs.dir("/proc") do
    local p = tonumber(name)
    if p then
      local state, pgrp = stat(p)
      if pgrp == pgid and state ~= "Z" and state ~= "X" then out[#out + 1] = p end
    end
  end
  return out
end

local function alive(pid)
  local state = stat(pid)
  return state ~= nil and state ~= "Z" and state ~= "X"
end
M.alive = alive

-- Start argv (a list) in the background.
--   opts.cwd   working directory;  opts.env {NAME = value};  opts.name for messages
-- Returns a handle {pid= (the wrapper's, = the process group), server_pid=, dir=, name=, stop=,
-- alive=, stdout=, stderr=} (dir holds out/err).
function M.spawn(argv, opts)
  opts = opts or {}
  local dir = env.tmpdir()
  local parts = {}
  if opts.cwd then parts[#parts + 1] = "cd " .. q(opts.cwd) .. " &&" end
  parts[#parts + 1] = "exec env"
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = "setsid sh -c " .. q(WRAPPER) .. " wrapper " .. q(dir .. "/pid")
  for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
  parts[#parts + 1] = ">" .. q(dir .. "/out") .. " 2>" .. q(dir .. "/err")
  local pipe = assert(io.popen(table.concat(parts, " "), "w"))
  local h = { dir = dir, name = opts.name or argv[1] }

  local pid
  for _ = 1, 100 do
    local f = io.open(dir .. "/pid", "r")
    if f then
      pid = tonumber(f:read("l"))
      f:close()
      if pid then break end
    end
    sleep(0.02)
  end
  h.pid = pid

  function h.stdout() return env.read(dir .. "/out") end
  function h.stderr() return env.read(dir .. "/err") end
  -- The server is running when the wrapper has a live child besides its own helpers.
  function h.alive() return pid ~= nil and h.running() end
  -- the server itself (not the wrapper or its `cat`) is still running
  function h.running()
    if not h.server_pid then
      local f = io.open(dir .. "/pid.server", "r")
      if f then h.server_pid = tonumber(f:read("l")) f:close() end
    end
    return h.server_pid ~= nil and alive(h.server_pid)
  end

  local stopped = false
  function h.stop()
    if stopped then return end
    stopped = true
    pipe:close() -- EOF for the wrapper: it kills its group; close() waits for the wrapper
    if pid then
      -- belt and braces: nothing of the group may survive (the wrapper's last act is KILL 0)
      os.execute("kill -KILL -" .. pid .. " 2>/dev/null")
      -- a killed process lingers a moment before the kernel reaps it (a JVM
      -- with many threads takes longest): wait until none is left, up to 5 s
      for _ = 1, 100 do
        if #M.group(pid) == 0 then break end
        sleep(0.05)
      end
    end
    env.rmrf(dir)
  end
  setmetatable(h, { __gc = function() h.stop() end, __close = function() h.stop() end })
  if not pid then
    local err = env.read(dir .. "/err")
    h.stop()
    error("support.proc: " .. h.name .. " did not start: " .. err, 2)
  end
  return h
end

-- Poll check() (returns truthy when ready) until it succeeds; fail with the server's stderr
-- if the server exits first.  `what` names the server in the message.
function M.wait_ready(h, what, check, max_s)
  max_s = max_s or 60
  local t0 = M.now()
  while true do
    local ok = check()
    local waited = M.now() - t0
    if ok then return ok, waited end
    if not h.running() then
      return nil, what .. " exited before it was ready:\n" .. h.stdout() .. h.stderr()
    end
    if waited >= max_s then
      return nil, what .. " not ready after " .. max_s .. " s:\n" .. h.stderr()
    end
    sleep(0.1)
  end
end

-- HTTP status of a GET to url, or nil while nothing answers (curl prints 000).
function M.http_status(url)
  local p = io.popen("curl -s -o /dev/null -m 2 -w '%{http_code}' " .. q(url) .. " 2>/dev/null")
  local code = tonumber(p:read("a"))
  p:close()
  if code and code > 0 then return code end
  return nil
end

return M
