-- Helpers for the fault-injection specs (issue 7 item 2): a world (temp
-- store, objects, vector cache) where `rcpt ingest` / `rcpt invoke` /
-- `rcpt compact` run as child processes with RCPT_FAULTS set, each fault
-- logged through RCPT_FAULTS_LOG so the spec counts what was injected.
--
--   local faults = require("support.faults")
--   local w = faults.world()
--   local code, out, err, injected = w.run({"ingest", ...}, "http:nth=1:status=503", extra_env)
--   faults.tally("name", injected, survived)   -- prints one line, adds to the totals
local cjson = require("cjson")
local env = require("support.env")
local synth = require("rcpt.synth")
local store = require("rcpt.store")

local M = {}
M.totals = { injected = 0, survived = 0 }

function M.tally(name, injected, survived)
  M.totals.injected = M.totals.injected + injected
  M.totals.survived = M.totals.survived + survived
  io.stderr:write(string.format("[faults] %-60s injected %3d survived %3d (total %d/%d)\n", name, injected,
    survived, M.totals.injected, M.totals.survived))
end

-- lines of a fault log, parsed
local function read_log(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  for line in f:lines() do
    local layer, op, subject, effect = line:match("^(%S+) (%S+) (.-) %-> (.+)$")
    out[#out + 1] = { layer = layer, op = op, subject = subject, effect = effect, line = line }
  end
  f:close()
  os.remove(path)
  return out
end

function M.world(extra)
  local dir = env.tmpdir()
  local w = { dir = dir, db = dir .. "/rcpt.db", objects = "file:" .. dir .. "/objects" }
  w.env = { RCPT_STORE = "sqlite:" .. w.db, RCPT_OBJECTS = w.objects, RCPT_VEC_CACHE = dir .. "/vec-cache",
    RCPT_EMBED_DIM = "256", RCPT_LOG_LEVEL = "warn" }
  for k, v in pairs(extra or {}) do w.env[k] = v end
  w.log = dir .. "/faults.log"

  -- run `rcpt ARGS` with RCPT_FAULTS = rules (nil: none); returns code, out, err, injected (list)
  function w.run(args, rules, more, stdin)
    local e = {}
    for k, v in pairs(w.env) do e[k] = v end
    for k, v in pairs(more or {}) do e[k] = v end
    if rules then
      e.RCPT_FAULTS = rules
      e.RCPT_FAULTS_LOG = w.log
    end
    local code, out, err = env.rcpt(args, { env = e, stdin = stdin })
    return code, out, err, read_log(w.log)
  end

  -- a synthetic NATIVE receipt written as PNG + OCR JSON; returns the stem
  function w.receipt(merchant, seed)
    local r = synth.native{ merchant = merchant, seed = seed }
    local stem = string.format("%s/r%d", dir, seed)
    env.write(stem .. ".png", r.image_bytes)
    env.write(stem .. ".json", r.ocr_json)
    return stem
  end

  function w.ingest(stem, rules, more)
    local code, out, err, inj = w.run({ "ingest", "--json", stem .. ".png", stem .. ".json" }, rules, more)
    local ok, sum = pcall(cjson.decode, out)
    return code, ok and sum or nil, err, inj, out
  end

  -- `rcpt invoke --results` on an SQS event re-delivering (image_id, job_id)
  function w.invoke(image_id, job_id, rules, more, message_id)
    local event = cjson.encode({ Records = { { messageId = message_id or "m1", receiptHandle = "h",
      eventSource = "aws:sqs", attributes = { ApproximateReceiveCount = "1" },
      body = cjson.encode({ job_id = job_id, image_id = image_id }) } } })
    local code, out, err, inj = w.run({ "invoke", "--results", "-" }, rules, more, event)
    local ok, r = pcall(cjson.decode, out)
    return code, ok and r or nil, err, inj, out
  end

  function w.export()
    local code, out, err = w.run({ "export" })
    assert(code == 0, "rcpt export failed: " .. out .. err)
    return out
  end

  -- register an upload as `rcpt ingest` does (support.ocr_flow), without
  -- processing it: the SQS message (image_id, job_id) is then `w.invoke`d
  function w.register(stem, ids)
    local flow = require("support.ocr_flow")
    local e = require("rcpt.env").open({ store = w.env.RCPT_STORE, objects = w.objects,
      getenv = function(name) return w.env[name] end })
    local f = setmetatable({ env = e }, flow)
    local image_id, job_id = f:register(env.read(stem .. ".png"), env.read(stem .. ".json"),
      { name = stem:match("[^/]+$") .. ".png", image_id = ids and ids.image_id, job_id = ids and ids.job_id })
    e:close()
    return image_id, job_id
  end

  function w.store() return assert(store.open("sqlite:" .. w.db)) end
  function w.close() env.rmrf(dir) end
  return w
end

-- Attributes that differ between two runs of the same inputs: times and
-- generated ids.  Everything else must be identical.
M.VOLATILE = { "timestamp", "_at$", "^timestamp_", "_finished_at$", "^run_id$", "_ms$" }

local function volatile(k)
  for _, p in ipairs(M.VOLATILE) do if k:find(p) then return true end end
  return false
end

-- An export with the volatile attributes blanked (keys that embed a run id
-- keep their shape: the run id is replaced by "RUN"), lines sorted.
function M.normalise(export)
  local runs = {}
  for line in export:gmatch("[^\n]+") do
    local item = cjson.decode(line).Item
    if item.run_id then runs[item.run_id.S] = true end
  end
  local lines = {}
  for line in export:gmatch("[^\n]+") do
    local item = cjson.decode(line).Item
    local keys = {}
    for k in pairs(item) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
      local v = volatile(k) and "-" or cjson.encode(item[k])
      for id in pairs(runs) do v = v:gsub(id:gsub("%-", "%%-"), "RUN") end
      v = v:gsub("%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[%.%d]*[Z%+%-]?[%d:]*", "TIME")
      parts[#parts + 1] = k .. "=" .. v
    end
    lines[#lines + 1] = table.concat(parts, " ")
  end
  table.sort(lines)
  return table.concat(lines, "\n")
end

return M
