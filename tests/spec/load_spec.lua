-- Load (issue 7 item 4): small generated NATIVE receipts through the whole
-- local flow on one SQLite store, in a row (one `rcpt ingest --dir`) and from
-- two `rcpt ingest --dir` processes at the same time on the two halves of
-- the set (16 receipts each way, 12 under ASan; RCPT_LONG=1: 1,000; bench/load.sh prints the
-- figures).  Local compaction after every receipt is off (RCPT_COMPACT_AFTER=0)
-- and one `rcpt compact` runs at the end: with it on, the per-receipt
-- compaction of a growing snapshot is what a load run would measure.
-- Checks, each way:
--   * every process exits 0, its tally says all ok, and no stderr line says
--     "locked" or "busy" (SQLite contention never reaches the user);
--   * no lost or duplicated rows: rows per TYPE equal what the generated
--     receipts must give (IMAGE, OCR_JOB, OCR_ROUTING_DECISION, RECEIPT,
--     RECEIPT_METADATA, COMPACTION_RUN: one per receipt; LINE/WORD/LETTER and
--     RECEIPT_LINE/WORD/LETTER: the sums of the OCR JSONs' counts), the export
--     has exactly that many lines and no (PK, SK) twice; every input file has
--     its image with exactly one RECEIPT; every routing decision COMPLETED;
--     every CompactionRun COMPLETED for both collections after the compaction;
--   * memory flat: VmRSS and RssAnon sampled from /proc while it runs.  Both
--     grow with the database at first: SQLite's page cache (cache_size 64 MB)
--     and its mapping of the file (mmap_size 256 MB) fill as some 0.9 MB of
--     rows per receipt arrive.  So: RssAnon from a quarter of the run to its
--     end grows by less than the cache bound + 4 MB; in the long mode (1,000,
--     the cache long full) RssAnon over the second half grows by less than
--     16 KB per receipt.  Not asserted under ASan (RCPT_SANITIZED=1).
local support = require("support.env")
local load = require("support.load")

local LONG = os.getenv("RCPT_LONG") == "1"
local N = LONG and 1000 or (os.getenv("RCPT_SANITIZED") == "1" and 12 or 16)
local SANITIZED = os.getenv("RCPT_SANITIZED") == "1"

describe("rcpt ingest under load", function()
  local root, list
  setup(function()
    root = support.tmpdir()
    list = load.generate(root .. "/in", N, 2)
  end)
  teardown(function() support.rmrf(root) end)

  local function check(name, store_dir, r)
    for i, p in ipairs(r.procs) do
      assert.are.equal(0, p.code, name .. " process " .. i .. ": " .. p.stderr:sub(-2000))
      for line in p.stderr:gmatch("[^\n]+") do
        assert.is_nil(line:lower():find("locked", 1, true), name .. ": " .. line)
        assert.is_nil(line:lower():find("busy", 1, true), name .. ": " .. line)
      end
      assert.truthy(p.stdout:find(" 0 failed", 1, true), p.stdout:sub(-500))
    end
    local code, _, err = support.rcpt({ "compact", "--store", "sqlite:" .. store_dir .. "/rcpt.db", "--objects",
      "file:" .. store_dir .. "/objects" }, { env = { RCPT_VEC_CACHE = store_dir .. "/cache" } })
    assert.are.equal(0, code, err)
    local c = load.census(store_dir)
    local want, total = load.expected(list)
    assert.are.same(want, c.types)
    assert.are.equal(total, c.items)
    assert.are.equal(0, c.dup)
    for _, rec in ipairs(list) do
      local pk = c.image_of[rec.name]
      assert.is_truthy(pk, rec.name .. " has no image")
      assert.are.equal(1, c.receipts_of[pk], rec.name .. " receipts")
    end
    assert.are.same({ COMPLETED = N }, c.status)
    assert.are.same({ ["COMPLETED/COMPLETED"] = N }, c.runs)
    local per = #r.procs
    for i, p in ipairs(r.procs) do
      local m = load.memory(p.samples, math.floor(N / per / 4))
      assert.is_truthy(m, name .. " process " .. i .. ": too few RSS samples (" .. #p.samples .. ")")
      print(string.format("%s p%d: %d receipts in %.1f s (%.2f/s); VmRSS %.1f MB at receipt %d, %.1f MB at %d; "
        .. "RssAnon %.1f -> %.1f MB (%.1f KB/receipt); VmHWM %.1f MB", name, i, N // per, r.seconds, N / r.seconds,
        m.start_kb / 1024, m.start_n, m.end_kb / 1024, m.end_n, m.start_anon_kb / 1024, m.end_anon_kb / 1024,
        m.anon_per_receipt_kb, m.peak_kb / 1024))
      -- under AddressSanitizer freed memory sits in its quarantine (256 MB
      -- by default): RSS says nothing about leaks there (LeakSanitizer does)
      if not SANITIZED then
        -- SQLite's page cache fills as the database grows (some 0.9 MB per
        -- receipt) up to its 64 MB cache_size: growth within that bound is
        -- the cache; past it, nothing may grow per receipt
        assert.is_true(m.end_anon_kb - m.start_anon_kb < (64 + 4) * 1024,
          string.format("%s process %d: RssAnon grew from %d KB to %d KB", name, i, m.start_anon_kb, m.end_anon_kb))
        if LONG then
          local h = load.memory(p.samples, math.floor(N / per / 2))
          assert.is_true(h.anon_per_receipt_kb < 16, string.format("%s process %d: RssAnon grew %.1f KB/receipt "
            .. "over the second half (%d KB -> %d KB)", name, i, h.anon_per_receipt_kb, h.start_anon_kb, h.end_anon_kb))
        end
      end
    end
  end

  it("takes the receipts in a row", function()
    local store_dir = root .. "/seq"
    -- one process over both halves: --dir takes one folder, so link them into one
    os.execute("mkdir -p " .. support.quote(root .. "/all") .. " && ln -s " .. support.quote(root .. "/in/part1")
      .. "/* " .. support.quote(root .. "/in/part2") .. "/* " .. support.quote(root .. "/all/"))
    local r = load.ingest(store_dir, { root .. "/all" }, { RCPT_COMPACT_AFTER = "0" })
    check("in a row", store_dir, r)
  end)

  it("takes them from two processes at once on one store", function()
    local store_dir = root .. "/par"
    local r = load.ingest(store_dir, { root .. "/in/part1", root .. "/in/part2" }, { RCPT_COMPACT_AFTER = "0" })
    check("two processes", store_dir, r)
  end)
end)
