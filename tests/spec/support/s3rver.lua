-- Start and stop s3rver (npm s3rver 3.7.1, installed in tests/node by
-- `npm ci`, which scripts/test.sh runs) on 127.0.0.1 for a spec.
--
--   local s3rver = require("support.s3rver")
--   local srv = s3rver.start({ bucket = "rcpt-test" })   -- or { buckets = { "raw", "site", ... } }
--   srv.endpoint  -- "http://127.0.0.1:PORT"
--   srv.env       -- { AWS_ENDPOINT_URL = ..., AWS_ACCESS_KEY_ID = "S3RVER", ... } for net.objects opts.env
--   s3rver.start({ allow_mismatched_signatures = true }) -- any AWS_SECRET_ACCESS_KEY signs
--   srv:stop()    -- kill + wait, remove its folder; safe to call twice
--
-- A missing install is an error, never a skip: the S3 half of the suite must
-- not pass silently.  A watchdog shell kills the server if the test process
-- dies without calling stop().
local env = require("support.env")
local net = require("rcpt.net")

local M = {}

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function free_port()
  local port = sh([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()']])
  return assert(tonumber(port), "could not pick a free port")
end

local function alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

local function sleep(s) os.execute("sleep " .. s) end

function M.start(opts)
  opts = opts or {}
  -- every bucket is created at start (--configure-bucket repeats); srv.bucket is the first
  local buckets = opts.buckets or { opts.bucket or "rcpt-test" }
  local bucket = buckets[1]
  local node_dir = env.src .. "/tests/node"
  local bin = node_dir .. "/node_modules/s3rver/bin/s3rver.js"
  local f = io.open(bin, "r")
  if not f then
    error("s3rver is not installed (" .. bin .. " missing): run `npm ci` in tests/node "
      .. "(scripts/test.sh does it); the S3 tests cannot run without it", 2)
  end
  f:close()
  -- the pid of this rcpt process: the shell's parent
  local me = sh("echo $PPID"):match("%d+")
  local configure = ""
  for _, b in ipairs(buckets) do configure = configure .. " --configure-bucket " .. env.quote(b) end
  for try = 1, 5 do
    local port = free_port()
    local dir = env.tmpdir()
    local log = dir .. "/s3rver.log"
    os.execute("mkdir -p " .. env.quote(dir .. "/data"))
    -- node in the background, plus a watchdog that kills it when we are gone
    local cmd = "cd " .. env.quote(node_dir) .. " && NODE_OPTIONS=--openssl-legacy-provider "
      .. "node " .. env.quote(bin) .. " -d " .. env.quote(dir .. "/data") .. " -a 127.0.0.1 -p " .. port
      .. " -s" .. configure
      -- any secret key signs (the access key id must still be S3RVER): lets a
      -- spec use a fake secret and look for it everywhere afterwards
      .. (opts.allow_mismatched_signatures and " --allow-mismatched-signatures" or "")
      .. " >" .. env.quote(log) .. " 2>&1 </dev/null & "
      .. "pid=$!; echo $pid; "
      .. "( while kill -0 " .. me .. " 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; "
      .. "kill $pid 2>/dev/null ) >/dev/null 2>&1 </dev/null &"
    local pid = sh("sh -c " .. env.quote(cmd)):match("%d+")
    assert(pid, "could not start s3rver")
    local endpoint = "http://127.0.0.1:" .. port
    local ready = false
    for _ = 1, 100 do
      if not alive(pid) then break end
      local r = net.http({ url = endpoint .. "/" .. bucket .. "?list-type=2&max-keys=1",
        timeout_ms = 1000, retry = { max_attempts = 1 } })
      if r and r.status == 200 then ready = true break end
      sleep(0.1)
    end
    if ready then
      local srv = {
        pid = pid, port = port, dir = dir, bucket = bucket, buckets = buckets, endpoint = endpoint,
        env = {
          AWS_ENDPOINT_URL = endpoint, AWS_ENDPOINT_URL_S3 = false,
          AWS_ACCESS_KEY_ID = "S3RVER", AWS_SECRET_ACCESS_KEY = "S3RVER",
          AWS_SESSION_TOKEN = false, AWS_REGION = "us-east-1",
        },
      }
      function srv.stop(self)
        if self.pid then
          os.execute("kill " .. self.pid .. " 2>/dev/null")
          for _ = 1, 50 do
            if not alive(self.pid) then break end
            sleep(0.1)
          end
          if alive(self.pid) then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
          self.pid = nil
          env.rmrf(self.dir)
        end
      end
      return srv
    end
    local text = env.read(log)
    os.execute("kill " .. pid .. " 2>/dev/null")
    env.rmrf(dir)
    if not text:find("EADDRINUSE", 1, true) or try == 5 then
      error("s3rver did not start on port " .. port .. ":\n" .. text, 2)
    end
  end
end

return M
