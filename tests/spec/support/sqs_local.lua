-- local-aws-sqs (npm, tests/node-aws) on 127.0.0.1, a port of the kernel's choice:
--   local sqs = require("support.sqs_local").start()
--   sqs.endpoint -- "http://127.0.0.1:PORT" (POST / with X-Amz-Target: AmazonSQS.<Op>)
--   sqs.stop()   -- idempotent; also done when the spec process exits (support.proc)
local env = require("support.env")
local proc = require("support.proc")

local M = {}

M.dir = env.src .. "/tests/node-aws"

-- Port 0: node binds a free port and the script prints the one it got, so there is no race.
local SCRIPT = [[
require("local-aws-sqs").createSqsServer({port: 0, hostname: "127.0.0.1",
  emulateQueueCreationLifecycle: false}).then(function (s) {
  console.log(s.address().port);
});
]]

function M.start(opts)
  opts = opts or {}
  local f = io.open(M.dir .. "/node_modules/local-aws-sqs/package.json", "r")
  if not f then
    error("support.sqs_local: local-aws-sqs is not installed: run `npm ci` in " .. M.dir ..
      " (scripts/test.sh does)", 2)
  end
  f:close()
  local h = proc.spawn({ "node", "-e", SCRIPT }, { cwd = M.dir, name = "local-aws-sqs",
    env = { AWS_REGION = opts.region or "us-east-1" } })
  local port, err = proc.wait_ready(h, "local-aws-sqs", function()
    return tonumber(h.stdout():match("^(%d+)\n"))
  end, 30)
  if not port then
    h.stop()
    error("support.sqs_local: " .. err, 2)
  end
  return { port = port, endpoint = "http://127.0.0.1:" .. port, pid = h.pid,
    alive = h.alive, stop = h.stop }
end

return M
