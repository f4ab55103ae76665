-- Amazon DynamoDB Local 1.25.1 (Java; shipped inside npm amplify-dynamodb-simulator, installed
-- in tests/node-aws) in memory, for specs whose first line is `-- label: netns`:
--   local ddb = require("support.dynamodb_local").start()
--   ddb.endpoint      -- "http://127.0.0.1:PORT" (DynamoDB and DynamoDB Streams on one endpoint)
--   ddb.ready_after   -- seconds from launch until it answered a ListTables
--   ddb.stop()        -- idempotent; also done when the spec process exits (support.proc)
-- DynamoDB Local cannot choose its bind address (it listens on every interface), so start()
-- refuses to run unless this process is in a private network namespace with loopback only
-- (ctest runs `netns` specs under `unshare --net`).
local env = require("support.env")
local proc = require("support.proc")
local curl = require("support.curl")

local M = {}

M.dir = env.src .. "/tests/node-aws/node_modules/amplify-dynamodb-simulator/emulator"

-- Network interfaces of this process's namespace (/proc/net/dev is per namespace, unlike
-- /sys/class/net, which shows the namespace that mounted sysfs).
function M.interfaces()
  local names = {}
  local f = io.open("/proc/net/dev", "r")
  if not f then return names end
  for line in f:lines() do
    local name = line:match("^%s*([^%s:]+):")
    if name then names[#names + 1] = name end
  end
  f:close()
  return names
end

function M.in_private_netns()
  local ifs = M.interfaces()
  return #ifs == 1 and ifs[1] == "lo"
end

local function launch(port, opts)
  local argv = { "java", "-Djava.library.path=./DynamoDBLocal_lib",
    -- JIT tiers 0-1 only: start-up is what a test pays for, not peak speed
    "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss512k",
    "-jar", "DynamoDBLocal.jar", "-inMemory", "-port", tostring(port), "-disableTelemetry" }
  if opts.shared_db then argv[#argv + 1] = "-sharedDb" end
  return proc.spawn(argv, { cwd = M.dir, name = "DynamoDB Local" })
end

function M.start(opts)
  opts = opts or {}
  if not M.in_private_netns() then
    error("support.dynamodb_local: refusing to start DynamoDB Local outside a private network " ..
      "namespace (it binds every interface; interfaces here: " ..
      table.concat(M.interfaces(), ", ") .. "). Make `-- label: netns` the spec's first line " ..
      "and run it through ctest.", 2)
  end
  local f = io.open(M.dir .. "/DynamoDBLocal.jar", "r")
  if not f then
    error("support.dynamodb_local: " .. M.dir .. "/DynamoDBLocal.jar is missing: run `npm ci` " ..
      "in tests/node-aws (scripts/test.sh does)", 2)
  end
  f:close()
  local last
  for _ = 1, 3 do -- a free port can be taken between the probe and Java's bind: try another
    local port = opts.port or proc.free_port()
    local endpoint = "http://127.0.0.1:" .. port
    local h = launch(port, opts)
    -- ready = a real request succeeds (the first one, after HTTP is up, still takes ~1 s:
    -- DynamoDB Local opens its in-memory SQLite store lazily)
    local ok, waited = proc.wait_ready(h, "DynamoDB Local", function()
      return proc.http_status(endpoint .. "/") and
        curl.aws_json(endpoint, "DynamoDB_20120810.ListTables", {}, { max_time = 10 }) == 200
    end, 90)
    if ok then
      return { port = port, endpoint = endpoint, pid = h.pid, ready_after = waited,
        alive = h.alive, stop = h.stop }
    end
    last = waited
    h.stop()
    if opts.port or not tostring(last):find("ddress already in use", 1, true) then break end
  end
  error("support.dynamodb_local: " .. tostring(last), 2)
end

return M
