-- Test-only crash points (issue 7 item 3: crash tests).
--
--   require("rcpt.testhook").point("ingest:job_row")
--
-- does nothing unless RCPT_CRASH_AT is set.  RCPT_CRASH_AT=NAME[#N] makes the
-- process SIGKILL itself the Nth time (default 1st) it reaches the point NAME;
-- NAME "*" counts every point, so "*#17" dies at the 17th point reached
-- whatever it is.  SIGKILL (not os.exit or error) because that is the crash
-- being simulated: no Lua unwinding, no __close/__gc, no SQLite rollback by
-- the process -- only what the kernel and SQLite's journal give.
-- RCPT_CRASH_TRACE=FILE appends every point reached (one name a line), so a
-- test can learn how many points a clean run passes and pick one at random.
local M = {}

local spec = os.getenv("RCPT_CRASH_AT")
local trace = os.getenv("RCPT_CRASH_TRACE")
if spec == "" then spec = nil end
if trace == "" then trace = nil end

local target, nth = nil, 1
if spec then
  local name, n = spec:match("^(.-)#(%d+)$")
  target = name or spec
  nth = tonumber(n) or 1
end
local hits = 0

-- the pid of this process: /proc/self is resolved by the kernel for the opener
local function self_pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local s = f:read("l")
  f:close()
  return s and s:match("^(%d+)")
end

local function die(name)
  local pid = self_pid()
  io.stderr:write("rcpt testhook: SIGKILL at ", name, " (hit ", hits, ")\n")
  io.stderr:flush()
  if pid then os.execute("kill -9 " .. pid) end
  -- kill failed or /proc is missing: a test-only hook must never fall through silently
  os.exit(137, false)
end

-- Mark a named point.  A no-op (one comparison) when no hook is configured.
function M.point(name)
  if not spec and not trace then return end
  if trace then
    local f = io.open(trace, "a")
    if f then f:write(name, "\n"); f:close() end
  end
  if target and (target == "*" or target == name) then
    hits = hits + 1
    if hits == nth then die(name) end
  end
end

M.enabled = spec ~= nil or trace ~= nil
return M
