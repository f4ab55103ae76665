-- Crash safety of `rcpt ingest` (issue 7 item 3): the whole local flow (first
-- pass, crops, the local refinement worker, merchant, embeddings, deltas,
-- local compaction) on a SQLite store, killed with SIGKILL at random points,
-- many times (12 trials, 6 under ASan; RCPT_LONG=1: 120).  Two kinds of kill:
--   * at a named point (lua/rcpt/testhook.lua, RCPT_CRASH_AT="*#k"): k drawn
--     uniformly from the points a clean run of that image passes (object puts,
--     the OCR_JOB and routing-decision rows, before/after every pipeline step,
--     before/after each routing decision's final write, after the handler,
--     after the worker);
--   * after a random delay within a clean run's wall time (lands anywhere,
--     inside SQLite writes and object writes included).
-- The images: a small NATIVE screenshot (one receipt, no refinement) and, every
-- fourth trial, a two-receipt SCAN (REFINEMENT jobs answered by the local worker).
--
-- After every kill, before anything else touches the store:
--   I1  `sqlite3 DB "PRAGMA integrity_check"` prints ok;
--   I2  `rcpt export` reads the whole store (every line a DynamoDB JSON item);
--   I3  a COMPLETED FIRST_PASS routing decision has exactly receipt_count
--       RECEIPT rows and all the image's OCR rows (LINE/WORD/LETTER counts of
--       the OCR JSON);
--   I4  no half receipt: every RECEIPT whose rows are final (a NATIVE receipt
--       under a COMPLETED first pass, or a receipt whose REFINEMENT decision
--       is COMPLETED) has RECEIPT_LINEs, every RECEIPT_WORD has its
--       RECEIPT_LINE, every RECEIPT_LETTER its RECEIPT_WORD; for NATIVE the
--       receipt's line/word/letter counts equal the image's.
-- Then the same job is re-driven (the FIRST_PASS OCR_JOB found in the store
-- gives image_id/job_id; ingest_one re-runs under them, which is an SQS
-- redelivery once the routing decision exists; with no OCR_JOB yet, a plain
-- `rcpt ingest` again), then `rcpt compact` for both collections (what the
-- next receipt's local compaction would do: a run the dead process left
-- PENDING is merged by the next compaction), and the export must equal a
-- never-crashed run's export line for line once uuids and timestamps (which
-- differ between any two runs) are masked.
local support = require("support.env")
local cjson = require("cjson")

local seed = tonumber(os.getenv("RCPT_SEED") or "") or os.time()
math.randomseed(seed)
print("crash ingest spec: RCPT_SEED=" .. seed)

local LONG = os.getenv("RCPT_LONG") == "1"
-- the sanitizer build runs each child some 3x slower: half the trials there
local TRIALS = LONG and 120 or (os.getenv("RCPT_SANITIZED") == "1" and 6 or 12)
local q = support.quote

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function now()
  return tonumber(sh("date +%s.%N")) or os.time()
end

local function child_env(dir, extra)
  local vars = { RCPT_STORE = "sqlite:" .. dir .. "/rcpt.db", RCPT_OBJECTS = "file:" .. dir .. "/objects",
    RCPT_VEC_CACHE = dir .. "/cache", RCPT_LOCK_DURATION_S = "0.3", RCPT_LOG_LEVEL = "error" }
  for k, v in pairs(extra or {}) do vars[k] = v end
  local parts = { "env" }
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. q(v) end
  return table.concat(parts, " ")
end

-- run `rcpt ARGS` in dir; kill_after = seconds before SIGKILL (nil: never).
-- Returns the exit status (137 = killed) and the stderr text.
local function run(dir, args, extra, kill_after)
  local words = {}
  for i, a in ipairs(args) do words[i] = q(a) end
  local cmd = string.format("cd %s && %s %s %s >%s 2>%s </dev/null", q(dir), child_env(dir, extra), q(support.bin),
    table.concat(words, " "), q(dir .. "/out.log"), q(dir .. "/err.log"))
  local script
  if kill_after then
    script = string.format("%s & p=$!\n( sleep %.3f; kill -9 $p 2>/dev/null ) & k=$!\nwait $p; echo $?\nwait $k",
      cmd, kill_after)
  else
    script = cmd .. "\necho $?"
  end
  local code = tonumber(sh("sh -c " .. q(script) .. " 2>/dev/null"):match("(%d+)"))
  local f = io.open(dir .. "/err.log", "rb")
  local err = f and f:read("a") or ""
  if f then f:close() end
  return code, err
end

local function export_items(dir)
  local out = sh(string.format("%s %s export 2>/dev/null", child_env(dir), q(support.bin)))
  local items, lines = {}, {}
  for line in out:gmatch("[^\n]+") do
    local ok, v = pcall(cjson.decode, line)
    assert(ok and type(v) == "table" and type(v.Item) == "table", "export line is not an item: " .. line:sub(1, 200))
    items[#items + 1] = v.Item
    lines[#lines + 1] = line
  end
  return items, lines
end

-- uuids and timestamps differ between any two runs: mask them, sort the lines
local function masked(lines)
  local out = {}
  for i, l in ipairs(lines) do
    out[i] = l:gsub("%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x", "<uuid>")
      :gsub("%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[%.%d]*[%+%-Z][%d:]*", "<time>")
  end
  table.sort(out)
  return out
end

-- what one sorted list has that the other lacks (the first few, clipped)
local function diff(want, got)
  local n, out = {}, {}
  for _, l in ipairs(want) do n[l] = (n[l] or 0) + 1 end
  for _, l in ipairs(got) do n[l] = (n[l] or 0) - 1 end
  for l, c in pairs(n) do
    if c ~= 0 and #out < 6 then out[#out + 1] = (c > 0 and "missing " or "extra ") .. l:sub(1, 400) end
  end
  return table.concat(out, "\n")
end

local function S(item, k) return item[k] and (item[k].S or item[k].N) end

local function check_consistent(dir, input)
  -- I1
  local ic = sh("sqlite3 " .. q(dir .. "/rcpt.db") .. " 'PRAGMA integrity_check' 2>&1")
  assert.are.equal("ok\n", ic, "PRAGMA integrity_check")
  -- I2
  local items = export_items(dir)
  local by_type = {}
  local jobs, decisions = {}, {}
  for _, it in ipairs(items) do
    local t = S(it, "TYPE")
    by_type[t] = by_type[t] or {}
    table.insert(by_type[t], it)
    if t == "OCR_JOB" then jobs[S(it, "SK"):match("OCR_JOB#(.+)$")] = it end
    if t == "OCR_ROUTING_DECISION" then decisions[#decisions + 1] = it end
  end
  local function count(t, pred)
    local n = 0
    for _, it in ipairs(by_type[t] or {}) do if not pred or pred(S(it, "SK")) then n = n + 1 end end
    return n
  end
  local image = (by_type.IMAGE or {})[1]
  for _, d in ipairs(decisions) do
    local job = jobs[S(d, "SK"):match("ROUTING#(.+)$")]
    assert.is_truthy(job, "a routing decision without its OCR_JOB")
    if S(d, "status") == "COMPLETED" then
      if S(job, "job_type") == "FIRST_PASS" then
        -- I3
        assert.is_truthy(image, "COMPLETED first pass without its IMAGE row")
        assert.are.equal(tonumber(S(d, "receipt_count")), count("RECEIPT"), "receipt_count vs RECEIPT rows")
        assert.are.same({ input.lines, input.words, input.letters }, { count("LINE"), count("WORD"), count("LETTER") })
        -- I4 for NATIVE: receipt 1's rows are written by the first pass
        if S(image, "image_type") == "NATIVE" then
          local function r1(sk) return sk:match("^RECEIPT#00001#") ~= nil end
          assert.are.same({ input.lines, input.words, input.letters },
            { count("RECEIPT_LINE", r1), count("RECEIPT_WORD", r1), count("RECEIPT_LETTER", r1) },
            "NATIVE receipt 1: receipt lines/words/letters of a COMPLETED first pass")
        end
      else
        -- I4 for a refined receipt
        local rid = string.format("RECEIPT#%05d#LINE#", tonumber(S(job, "receipt_id")))
        assert.is_true(count("RECEIPT_LINE", function(sk) return sk:sub(1, #rid) == rid end) > 0,
          "COMPLETED refinement of " .. rid .. " without RECEIPT_LINE rows")
      end
    end
  end
  -- I4: no orphan receipt word or letter
  local have = {}
  for _, t in ipairs({ "RECEIPT_LINE", "RECEIPT_WORD" }) do
    for _, it in ipairs(by_type[t] or {}) do have[S(it, "SK")] = true end
  end
  for _, t in ipairs({ "RECEIPT_WORD", "RECEIPT_LETTER" }) do
    for _, it in ipairs(by_type[t] or {}) do
      local parent = S(it, "SK"):match("^(.*)#[A-Z]+#%d+$")
      assert.is_true(have[parent] == true, t .. " " .. S(it, "SK") .. " without its parent row")
    end
  end
  return jobs
end

describe("rcpt ingest killed with SIGKILL", function()
  local root, inputs
  setup(function()
    root = support.tmpdir()
    local gen = root .. "/gen.lua"
    support.write(gen, [[
local synth = require("rcpt.synth")
local dir = arg[1]
local function write(p, s) local f = assert(io.open(p, "wb")); f:write(s); f:close() end
local n = synth.native({ width = 400, height = 600, seed = 7 })
write(dir .. "/native.png", n.image_bytes); write(dir .. "/native.ocr.json", n.ocr_json)
local s = synth.scan({ width = 1240, height = 1754, scale = 2, receipts = 2, seed = 3 })
write(dir .. "/scan.png", s.image_bytes); write(dir .. "/scan.ocr.json", s.ocr_json)
print(n.counts.lines, n.counts.words, n.counts.letters, s.counts.lines, s.counts.words, s.counts.letters)
]])
    support.write(root .. "/redrive.lua", [[
local img, js, image_id, job_id = arg[1], arg[2], arg[3], arg[4]
local env = require("rcpt.env").open()
local sum = require("rcpt.cmd.ingest").ingest_one(env, img, js,
  { worker = env.settings.local_worker, image_id = image_id, job_id = job_id })
env:close()
io.stdout:write(sum.success and "ok\n" or ("FAILED " .. tostring(sum.error) .. "\n"))
]])
    local out = sh(q(support.bin) .. " lua " .. q(gen) .. " " .. q(root))
    local c = {}
    for v in out:gmatch("%d+") do c[#c + 1] = tonumber(v) end
    assert.are.equal(6, #c, out)
    inputs = {
      native = { image = root .. "/native.png", json = root .. "/native.ocr.json", lines = c[1], words = c[2],
        letters = c[3] },
      scan = { image = root .. "/scan.png", json = root .. "/scan.ocr.json", lines = c[4], words = c[5],
        letters = c[6] },
    }
    -- the never-crashed reference of each, with the points it passes and its time
    for name, input in pairs(inputs) do
      local dir = root .. "/ref-" .. name
      os.execute("mkdir -p " .. q(dir))
      local t0 = now()
      local code, err = run(dir, { "ingest", input.image, input.json }, { RCPT_CRASH_TRACE = dir .. "/trace" })
      input.seconds = now() - t0
      assert.are.equal(0, code, err)
      input.points = {}
      for l in io.lines(dir .. "/trace") do input.points[#input.points + 1] = l end
      local _, lines = export_items(dir)
      input.export = masked(lines)
      print(string.format("reference %s: %d points, %.2f s, %d items", name, #input.points, input.seconds, #lines))
    end
  end)
  teardown(function() support.rmrf(root) end)

  it("leaves SQLite consistent and a re-run completes the image as if it never crashed", function()
    local killed, finished, at_points, by_delay, redelivered = 0, 0, 0, 0, 0
    local seen = {}
    for trial = 1, TRIALS do
      local name = trial % 4 == 0 and "scan" or "native"
      local input = inputs[name]
      local dir = string.format("%s/t%03d", root, trial)
      os.execute("mkdir -p " .. q(dir))
      local code, err, what
      if trial % 2 == 1 then
        local k = math.random(#input.points)
        what = string.format("%s at point %d/%d (%s)", name, k, #input.points, input.points[k])
        seen[input.points[k]] = true
        code, err = run(dir, { "ingest", input.image, input.json }, { RCPT_CRASH_AT = "*#" .. k })
        assert.are.equal(137, code, what .. ": expected the hook's SIGKILL; stderr: " .. err)
        at_points = at_points + 1
      else
        local d = math.random() * input.seconds
        what = string.format("%s after %.3f s", name, d)
        code, err = run(dir, { "ingest", input.image, input.json }, nil, d)
        by_delay = by_delay + 1
      end
      if code == 137 then killed = killed + 1 else
        assert.are.equal(0, code, what .. ": " .. err)
        finished = finished + 1
      end

      local jobs = check_consistent(dir, input)

      local first
      for id, j in pairs(jobs) do if S(j, "job_type") == "FIRST_PASS" then first = { S(j, "PK"):sub(7), id } end end
      local rc, rerr
      if first then
        rc, rerr = run(dir, { "lua", root .. "/redrive.lua", input.image, input.json, first[1], first[2] })
        local out = support.read(dir .. "/out.log")
        assert.are.equal("ok\n", out, what .. ": re-drive: " .. out .. rerr)
      else
        rc, rerr = run(dir, { "ingest", input.image, input.json })
      end
      assert.are.equal(0, rc, what .. ": re-run: " .. rerr)
      -- the OCR results message of every REFINEMENT job the worker answered
      -- (job COMPLETED, its OCR JSON written): the dead process may have been
      -- inside its handler (before the decision, or in after_receipt:
      -- merchant, embeddings, deltas), and nothing else in the store says so.
      -- In AWS that SQS message was never deleted and comes back; locally the
      -- ocr_jobs message comes back after its 300 s visibility timeout and the
      -- worker answers again.  Deliver it now, as SQS would (at least once:
      -- finished ones too, which must change nothing).
      for _, it in ipairs(export_items(dir)) do
        if S(it, "TYPE") == "OCR_JOB" and S(it, "job_type") == "REFINEMENT" and S(it, "status") == "COMPLETED" then
          local image_id, job_id = S(it, "PK"):sub(7), S(it, "SK"):match("OCR_JOB#(.+)$")
          support.write(dir .. "/event.json", cjson.encode({ Records = { {
            messageId = "redelivery-" .. job_id, receiptHandle = "redelivery-" .. job_id,
            body = cjson.encode({ job_id = job_id, image_id = image_id }), eventSource = "aws:sqs",
            eventSourceARN = "arn:aws:sqs:local:000000000000:ocr-results", awsRegion = "local",
            attributes = { ApproximateReceiveCount = "2" }, messageAttributes = {} } } }))
          rc, rerr = run(dir, { "invoke", dir .. "/event.json" })
          local out = support.read(dir .. "/out.log")
          assert.are.equal(0, rc, what .. ": redelivery of " .. job_id .. ": " .. rerr)
          assert.truthy(out:find('"batchItemFailures":[]', 1, true) or out:find('"batchItemFailures":{}', 1, true),
            what .. ": redelivery of " .. job_id .. ": " .. out)
          redelivered = redelivered + 1
        end
      end
      -- a lock the dead process held expires after RCPT_LOCK_DURATION_S
      os.execute("sleep 0.4")
      rc, rerr = run(dir, { "compact" })
      assert.are.equal(0, rc, what .. ": compact: " .. rerr)
      check_consistent(dir, input)
      local _, lines = export_items(dir)
      local got = masked(lines)
      if #got ~= #input.export then
        assert.are.equal(#input.export, #got, what .. ": item count after the re-run; " .. diff(input.export, got))
      end
      for i = 1, #got do
        if got[i] ~= input.export[i] then
          assert.are.equal(input.export[i], got[i], what .. ": export differs from the never-crashed run")
        end
      end
      support.rmrf(dir)
    end
    local names = {}
    for p in pairs(seen) do names[#names + 1] = p end
    table.sort(names)
    print(string.format("crash ingest: %d trials (%d at named points, %d by delay): %d killed, %d finished first, "
      .. "%d refinement results redelivered; points hit: %s", TRIALS, at_points, by_delay, killed, finished, redelivered, table.concat(names, " ")))
    assert.is_true(killed > 0)
  end)
end)
