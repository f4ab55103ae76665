-- Fault injection through compaction (issue 7 item 2; docs/compaction.md):
-- `rcpt compact` child processes with RCPT_FAULTS object-store rules.
-- Nothing is half-published: a failed snapshot upload (error or torn
-- write) or pointer put leaves the pointer naming the previous complete
-- snapshot (or none); a transient delta download error leaves the run
-- PENDING, a missing delta marks it FAILED with the reason; a later
-- compaction without faults publishes everything.
local faults = require("support.faults")
local env = require("support.env")
local json = require("rcpt.json")

local COLLS = { "lines", "words" }
-- a run not yet applied: the next compaction takes PENDING and PROCESSING alike
local WAITING = { PENDING = true, PROCESSING = true }

local function pointer(w, coll)
  local f = io.open(w.dir .. "/objects/vectors/" .. coll .. "/snapshot/latest-pointer.txt", "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return (s:gsub("%s+$", ""))
end

-- the version the pointer names is complete: its manifest parses, names the
-- collection and the version, and the file's size matches it
local function assert_complete(w, coll, version)
  local base = w.dir .. "/objects/vectors/" .. coll .. "/snapshot/timestamped/" .. version .. "/"
  local m = assert(env.read(base .. "manifest.json"), coll .. " " .. version .. ": manifest missing")
  local man = json.decode(m)
  local file = assert(env.read(base .. "snapshot.sqlite"), coll .. " " .. version .. ": snapshot missing")
  local text = m
  assert.truthy(text:find(version, 1, true), "manifest names the version")
  local size = man.size or man.file_size or (man.file and man.file.size)
  if size then assert.are.equal(size, #file) end
end

local function runs(w)
  local st <close> = w.store()
  local rs = assert(st:query_index("GSI1", "RUNS", { type = "COMPACTION_RUN" }))
  local by = {}
  for _, r in ipairs(rs) do by[r.image_id] = r end
  return by
end

-- a world with receipt A compacted (pointer v1) and receipt B's run pending
local function world_v1()
  local w = faults.world({ RCPT_COMPACT_AFTER = "0" })
  local code, a, err, _, out = w.ingest(w.receipt(2, 31))
  assert(code == 0, out .. err)
  local c2, o2, e2 = w.run({ "compact" })
  assert(c2 == 0, o2 .. e2)
  local code3, b, err3, _, out3 = w.ingest(w.receipt(3, 32))
  assert(code3 == 0, out3 .. err3)
  w.a, w.b = a.image_id, b.image_id
  w.v1 = {}
  for _, coll in ipairs(COLLS) do
    w.v1[coll] = assert(pointer(w, coll), coll .. ": no pointer after the first compaction")
    assert_complete(w, coll, w.v1[coll])
  end
  assert.are.equal("COMPLETED", runs(w)[w.a].lines_state)
  assert.is_true(WAITING[runs(w)[w.b].lines_state])
  return w
end

describe("compaction under object-store faults", function()
  local publish_cases = {
    { name = "snapshot file upload fails", rules = "objstore:op=put:key=/snapshot.sqlite:error=EIO:times=always" },
    { name = "snapshot file torn after 100 bytes", rules = "objstore:op=put:key=/snapshot.sqlite:short=100:times=always" },
    { name = "manifest upload fails", rules = "objstore:op=put:key=/snapshot/timestamped/:error=ETIMEOUT:times=always" },
    { name = "pointer put fails", rules = "objstore:op=put:key=latest-pointer.txt:error=EIO:times=always" },
  }
  for _, c in ipairs(publish_cases) do
    it(c.name .. ": the pointer keeps naming the previous complete snapshot, the run stays pending", function()
      local w = world_v1()
      finally(function() w.close() end)
      local code, out, err, inj = w.run({ "compact" }, c.rules)
      assert.are_not.equal(0, code, "a failed publish is a failed compaction: " .. out .. err)
      assert.is_true(#inj >= 1)
      for _, coll in ipairs(COLLS) do
        assert.are.equal(w.v1[coll], pointer(w, coll), coll .. ": the pointer moved")
        assert_complete(w, coll, w.v1[coll])
        assert.are_not.equal("COMPLETED", runs(w)[w.b][coll .. "_state"], coll)
      end
      -- faults off: the next compaction publishes B
      code, out, err = w.run({ "compact" })
      assert(code == 0, out .. err)
      local r = runs(w)[w.b]
      for _, coll in ipairs(COLLS) do
        local v = pointer(w, coll)
        assert.are_not.equal(w.v1[coll], v)
        assert_complete(w, coll, v)
        assert.are.equal("COMPLETED", r[coll .. "_state"])
        assert.is_true(r[coll .. "_merged_vectors"] > 0)
      end
      faults.tally("compact: " .. c.name, #inj, #inj)
    end)
  end

  it("the first compaction's pointer put fails: no pointer at all, then a complete one", function()
    local w = faults.world({ RCPT_COMPACT_AFTER = "0" })
    finally(function() w.close() end)
    local code, s, err, _, out = w.ingest(w.receipt(2, 33))
    assert(code == 0, out .. err)
    local inj
    code, out, err, inj = w.run({ "compact" }, "objstore:op=put:key=latest-pointer.txt:error=EIO:times=always")
    assert.are_not.equal(0, code)
    for _, coll in ipairs(COLLS) do assert.is_nil(pointer(w, coll)) end
    assert.is_true(WAITING[runs(w)[s.image_id].lines_state])
    code, out, err = w.run({ "compact" })
    assert(code == 0, out .. err)
    for _, coll in ipairs(COLLS) do assert_complete(w, coll, assert(pointer(w, coll))) end
    faults.tally("compact: first pointer put fails", #inj, #inj)
  end)

  it("a transient delta download error leaves the run PENDING; a missing delta marks it FAILED with the reason", function()
    local w = world_v1()
    finally(function() w.close() end)
    local code, out, err, inj = w.run({ "compact" }, "objstore:op=get:key=/delta/:error=EIO:times=always")
    assert.is_true(#inj >= 2, "both collections tried the delta")
    local r = runs(w)[w.b]
    for _, coll in ipairs(COLLS) do
      assert.is_true(WAITING[r[coll .. "_state"]], coll .. ": " .. tostring(r[coll .. "_state"]))
      assert.are.equal(w.v1[coll], pointer(w, coll))
    end
    faults.tally("compact: delta download EIO (transient)", #inj, #inj)
    -- cut short: the same, transient
    local inj2
    code, out, err, inj2 = w.run({ "compact" }, "objstore:op=get:key=/delta/:short=10:times=always")
    r = runs(w)[w.b]
    for _, coll in ipairs(COLLS) do assert.is_true(WAITING[r[coll .. "_state"]], coll) end
    faults.tally("compact: delta download cut short (transient)", #inj2, #inj2)
    -- permanent: the delta is gone
    local inj3
    code, out, err, inj3 = w.run({ "compact" }, "objstore:op=get:key=/delta/:error=ENOTFOUND:times=always")
    assert.are_not.equal(0, code, "a FAILED run makes compact exit non-zero")
    r = runs(w)[w.b]
    for _, coll in ipairs(COLLS) do
      assert.are.equal("FAILED", r[coll .. "_state"], coll)
      local e = r[coll .. "_error"]
      assert.truthy(e and e:find(coll .. "/delta/", 1, true) and e:find("ENOTFOUND", 1, true), tostring(e))
      assert_complete(w, coll, assert(pointer(w, coll)))
    end
    -- A's vectors are still published: the pointer names a complete snapshot
    faults.tally("compact: delta missing (FAILED, by design)", #inj3, 0)
  end)
end)
