-- Crash safety of compaction: `rcpt compact` children killed with SIGKILL at
-- random points, many times (20 trials; RCPT_LONG=1: 100), objects on the file
-- backend and on s3rver.  After every kill the pointer (if any) names a
-- complete snapshot that downloads and verifies, and no published vector is
-- ever lost; the dead child's lock expires and the next run proceeds; after a
-- final clean run every vector of every run is in the latest snapshot and
-- every run is COMPLETED with its count.  Two compactors started together on
-- one collection never both publish, and no run is lost.
local vectors = require("rcpt.vectors")
local lock = require("rcpt.lock")
local support = require("support.env")
local fx = require("support.compaction_fixture")

local seed = tonumber(os.getenv("RCPT_SEED") or "") or os.time()
math.randomseed(seed)
print("compaction crash spec: RCPT_SEED=" .. seed)

local LONG = os.getenv("RCPT_LONG") == "1"
local TRIALS = LONG and 100 or 20
local S3_TRIALS = LONG and 20 or 4
local LOCK_S = 0.5

local q = support.quote

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- the environment of a child, as `env -u X A=B ...` words
local function child_env(dir, extra)
  local parts = { "env" }
  local vars = { RCPT_STORE = "sqlite:" .. dir .. "/rcpt.db", RCPT_OBJECTS = "file:" .. dir .. "/objects",
    RCPT_VEC_CACHE = dir .. "/cache", RCPT_LOCK_DURATION_S = tostring(LOCK_S),
    HEARTBEAT_INTERVAL_SECONDS = "0.1", RCPT_LOG_LEVEL = "warn",
    -- small pauses at the named points widen every window a kill can land in
    RCPT_TEST_PAUSE = "snapshot=0.02,written=0.02,uploaded_file=0.02,uploaded=0.02,pointer=0.02" }
  for k, v in pairs(extra or {}) do vars[k] = v end
  -- env wants its -u options before the assignments
  for k, v in pairs(vars) do if v == false then parts[#parts + 1] = "-u " .. k end end
  for k, v in pairs(vars) do if v ~= false then parts[#parts + 1] = k .. "=" .. q(v) end end
  return table.concat(parts, " ")
end

-- start `rcpt compact ARGS` children together, SIGKILL each after its delay
-- (nil = let it finish); returns their exit statuses (137 = killed)
local function run_children(dir, specs, extra)
  local lines = {}
  for i, s in ipairs(specs) do
    lines[#lines + 1] = string.format("%s %s compact %s >%s 2>&1 </dev/null & p%d=$!", child_env(dir, extra),
      q(support.bin), s.args or "lines", q(dir .. "/child" .. i .. ".log"), i)
  end
  for i, s in ipairs(specs) do
    if s.kill_after then
      lines[#lines + 1] = string.format("( sleep %.3f; kill -9 $p%d 2>/dev/null ) &", s.kill_after, i)
    end
  end
  for i = 1, #specs do lines[#lines + 1] = string.format("wait $p%d; echo $?", i) end
  lines[#lines + 1] = "wait"
  local out = sh("sh -c " .. q(table.concat(lines, "\n")) .. " 2>/dev/null")
  local codes = {}
  for c in out:gmatch("(%d+)") do codes[#codes + 1] = tonumber(c) end
  return codes
end

local function lock_held(e, coll)
  local it = e.store:get("COMPACTION_LOCK", { collection = coll, lock_id = lock.lock_id(coll) })
  return it
end

-- the invariant after any crash
local function check_published(e, coll, state)
  local v = vectors.pointer(e, coll)
  if not v then
    assert.is_nil(state.version, "the pointer disappeared")
    return
  end
  local c, pv, man = fx.published(e, coll) -- downloads fresh and verifies sha256
  assert.are.equal(v, pv)
  assert.are.equal(man.count, c:count())
  -- a newer version never loses what an older one had
  assert.is_true(c:count() >= (state.count or 0), "published count went down")
  if state.version and state.version ~= v then
    assert.is_true(v > state.version, "the pointer moved back")
    state.published = (state.published or 0) + 1
  end
  state.version, state.count = v, c:count()
  c:close()
end

local function final_check(e, runs, colls)
  for _, coll in ipairs(colls) do
    local c = fx.published(e, coll)
    local want = 0
    for _, r in ipairs(runs) do
      local ids = r.ids[coll]
      want = want + #ids
      local got = c:get(ids, { vectors = true })
      assert.are.equal(#ids, #got.ids, "run " .. r.run_id .. " lost vectors in " .. coll)
      for i, id in ipairs(got.ids) do assert.are.equal(r.vecs[id], got.vectors[i]) end
      local run = fx.get_run(e, r)
      assert.are.equal("COMPLETED", run[coll .. "_state"])
      assert.are.equal(#ids, run[coll .. "_merged_vectors"])
    end
    assert.are.equal(want, c:count())
    c:close()
  end
end

local function crash_trials(dir, e, trials, extra)
  local runs = {}
  for _ = 1, 3 do runs[#runs + 1] = fx.make_run(e, { lines = 60, words = 200 }) end
  local state = { lines = {}, words = {} }
  -- how long does a clean child take?  kills land anywhere in [0, 1.3 x that]
  local a = tonumber(sh("date +%s.%N"))
  local codes = run_children(dir, { { args = "lines" } }, extra)
  local span = tonumber(sh("date +%s.%N")) - a
  assert.are.equal(0, codes[1], support.read(dir .. "/child1.log"))
  check_published(e, "lines", state.lines)
  local killed, stale = 0, 0
  for t = 1, trials do
    -- fresh work most of the time, so there is always something to crash in
    if t % 3 ~= 0 then runs[#runs + 1] = fx.make_run(e, { lines = 60, words = 200 }) end
    local coll = (t % 4 == 0) and "words" or "lines"
    codes = run_children(dir, { { args = coll, kill_after = math.random() * span * 1.3 } }, extra)
    if codes[1] == 137 then killed = killed + 1 end
    for _, c in ipairs({ "lines", "words" }) do check_published(e, c, state[c]) end
    -- a stale lock from the killed child: it expires and the next run proceeds
    if lock_held(e, coll) then
      stale = stale + 1
      os.execute("sleep " .. LOCK_S + 0.05)
      codes = run_children(dir, { { args = coll } }, extra)
      assert.are.equal(0, codes[1], support.read(dir .. "/child1.log"))
      check_published(e, coll, state[coll])
    end
  end
  assert.is_true(killed > 0, "no child was ever killed: the delays are too long")
  -- the final clean run
  os.execute("sleep " .. LOCK_S + 0.1)
  codes = run_children(dir, { { args = "" } }, extra)
  assert.are.equal(0, codes[1], support.read(dir .. "/child1.log"))
  final_check(e, runs, { "lines", "words" })
  print(string.format("  %d trials, %d children killed, %d stale locks taken over, %d runs, versions published lines %d words %d",
    trials, killed, stale, #runs, state.lines.published or 0, state.words.published or 0))
end

describe("compaction crash safety", function()
  it("survives SIGKILL at random points (file objects, " .. TRIALS .. " trials)", function()
    local dir = support.tmpdir()
    local e = fx.env(dir)
    local ok, err = pcall(crash_trials, dir, e, TRIALS)
    e:close()
    if ok then support.rmrf(dir) end
    if not ok then error(err, 0) end
  end)

  it("never lets two compactors started together both publish, and loses no run", function()
    local dir = support.tmpdir()
    local e = fx.env(dir)
    local runs = {}
    for round = 1, 3 do
      for _ = 1, 2 do runs[#runs + 1] = fx.make_run(e, { lines = 60, words = 0 }) end
      local before = vectors.versions(e, "lines")
      local pointer = vectors.pointer(e, "lines")
      -- a pause right after taking the lock makes the two overlap for sure
      local codes = run_children(dir, { { args = "lines" }, { args = "lines" } },
        { RCPT_LOCK_DURATION_S = "30", RCPT_TEST_PAUSE = "locked=0.4" })
      table.sort(codes)
      assert.are.same({ 0, 3 }, codes, "round " .. round .. ": " .. support.read(dir .. "/child1.log")
        .. support.read(dir .. "/child2.log"))
      local after = vectors.versions(e, "lines")
      -- exactly one new version, and the pointer names it
      local new = {}
      local old = {}
      for _, v in ipairs(before) do old[v] = true end
      for _, v in ipairs(after) do if not old[v] then new[#new + 1] = v end end
      assert.are.equal(1, #new)
      assert.are.equal(new[1], vectors.pointer(e, "lines"))
      assert.are_not.equal(pointer, new[1])
      assert.is_nil(lock_held(e, "lines"))
      final_check(e, runs, { "lines" })
    end
    e:close()
    support.rmrf(dir)
  end)

  it("survives SIGKILL at random points with objects on s3rver (" .. S3_TRIALS .. " trials)", function()
    local s3rver = require("support.s3rver")
    local srv = s3rver.start({ bucket = "vectors" })
    local dir = support.tmpdir()
    local ok, err = pcall(function()
      local e = fx.env(dir, { objects = "s3", net_opts = { env = srv.env } })
      local extra = { RCPT_OBJECTS = "s3" }
      for k, v in pairs(srv.env) do extra[k] = v end
      local tok, terr = pcall(crash_trials, dir, e, S3_TRIALS, extra)
      e:close()
      if not tok then error(terr, 0) end
    end)
    srv:stop()
    if ok then support.rmrf(dir) end
    if not ok then error(err, 0) end
  end)
end)
