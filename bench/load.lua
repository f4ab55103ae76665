-- bench/load.sh's body, run by `rcpt lua`: see bench/load.sh.
local src = os.getenv("RCPT_SOURCE_DIR") or "."
package.path = src .. "/tests/spec/?.lua;" .. package.path
local support = require("support.env")
local load = require("support.load")

local N = tonumber(arg[1] or "") or 1000
local root = support.tmpdir()
local function say(...) io.stdout:write(string.format(...), "\n"); io.stdout:flush() end

local t0 = load.now()
local list = load.generate(root .. "/in", N, 2)
os.execute("mkdir -p " .. support.quote(root .. "/all") .. " && ln -s " .. support.quote(root .. "/in/part1")
  .. "/* " .. support.quote(root .. "/in/part2") .. "/* " .. support.quote(root .. "/all/"))
say("generated %d NATIVE receipts (400x600 PNG + OCR JSON) in %.1f s", N, load.now() - t0)

local want, total = load.expected(list)
local function run(name, dirs)
  local store_dir = root .. "/" .. name
  local r = load.ingest(store_dir, dirs, { RCPT_COMPACT_AFTER = "0" })
  local c0 = load.now()
  local code, _, err = support.rcpt({ "compact", "--store", "sqlite:" .. store_dir .. "/rcpt.db", "--objects",
    "file:" .. store_dir .. "/objects" }, { env = { RCPT_VEC_CACHE = store_dir .. "/cache" } })
  local compact_s = load.now() - c0
  local c = load.census(store_dir)
  local problems = {}
  if code ~= 0 then problems[#problems + 1] = "compact failed: " .. err end
  for i, p in ipairs(r.procs) do
    if p.code ~= 0 then problems[#problems + 1] = "process " .. i .. " exit " .. tostring(p.code) end
    for line in p.stderr:gmatch("[^\n]+") do
      local l = line:lower()
      if l:find("locked", 1, true) or l:find("busy", 1, true) then problems[#problems + 1] = line end
    end
  end
  for t, n in pairs(want) do
    if c.types[t] ~= n then problems[#problems + 1] = string.format("%s: %s rows, want %d", t, tostring(c.types[t]), n) end
  end
  if c.items ~= total then problems[#problems + 1] = string.format("export: %d items, want %d", c.items, total) end
  if c.dup > 0 then problems[#problems + 1] = c.dup .. " duplicate (PK, SK)" end
  local missing = 0
  for _, rec in ipairs(list) do
    local pk = c.image_of[rec.name]
    if not pk or c.receipts_of[pk] ~= 1 then missing = missing + 1 end
  end
  if missing > 0 then problems[#problems + 1] = missing .. " images without exactly one receipt" end
  if (c.status.COMPLETED or 0) ~= N then problems[#problems + 1] = "decisions not all COMPLETED" end
  if (c.runs["COMPLETED/COMPLETED"] or 0) ~= N then problems[#problems + 1] = "compaction runs not all COMPLETED" end
  say("%-16s %5d receipts %8.1f s %8.2f receipts/s   final compaction %.1f s   rows %d (%s)", name, N, r.seconds,
    N / r.seconds, compact_s, c.items, #problems == 0 and "all present, none twice, no lock errors"
    or ("PROBLEMS: " .. table.concat(problems, "; ")))
  for i, p in ipairs(r.procs) do
    local m = load.memory(p.samples, 10)
    local h = load.memory(p.samples, N // #r.procs // 2)
    if m and h then
      say("  process %d: VmRSS %.1f MB after receipt %d, %.1f MB after %d, %.1f MB after %d; peak (VmHWM) %.1f MB",
        i, m.start_kb / 1024, m.start_n, h.start_kb / 1024, h.start_n, m.end_kb / 1024, m.end_n, m.peak_kb / 1024)
      say("             RssAnon %.1f MB, %.1f MB, %.1f MB: %+.2f KB/receipt over the second half",
        m.start_anon_kb / 1024, h.start_anon_kb / 1024, m.end_anon_kb / 1024, h.anon_per_receipt_kb)
    end
  end
  return N / r.seconds, #problems
end

say("load average: %s", (support.read("/proc/loadavg"):match("^(%S+ %S+ %S+)")))
local seq, p1 = run("sequential", { root .. "/all" })
local par, p2 = run("two-processes", { root .. "/in/part1", root .. "/in/part2" })
say("two processes / sequential: %.2fx receipts/s", par / seq)
support.rmrf(root)
os.exit((p1 + p2) == 0 and 0 or 1)
