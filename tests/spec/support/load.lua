-- The load run shared by tests/spec/load_spec.lua and bench/load.sh (issue 7
-- item 4): small generated NATIVE receipts ingested with `rcpt ingest --dir`,
-- in one process or in several at once against one SQLite store, while a
-- sampler reads each process's VmRSS / VmHWM from /proc every 0.2 s next to
-- the number of receipts it has finished (its "ingest i/n" stderr lines).
--
--   local load = require("support.load")
--   local inputs = load.generate(dir, n)          -- { {name=, lines=, words=, letters=}, ... }
--   local r = load.ingest(store_dir, { dir1, dir2 }, { RCPT_COMPACT_AFTER = "0" })
--   -- r.seconds, r.procs[i] = { code, stderr, stdout, samples = { {n=, rss_kb=, hwm_kb=}, ... } }
--   local c = load.census(store_dir)              -- rows per TYPE, per image, duplicates
local support = require("support.env")
local cjson = require("cjson")

local M = {}
local q = support.quote

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end
M.sh = sh

function M.now() return tonumber(sh("date +%s.%N")) end

-- n NATIVE receipts (400x600 PNG + OCR JSON) as r0001.png / r0001.ocr.json ...
-- split into `parts` subfolders part1..partK (round robin) when parts is given
function M.generate(dir, n, parts)
  os.execute("mkdir -p " .. q(dir))
  local script = dir .. "/gen.lua"
  support.write(script, [[
local synth = require("rcpt.synth")
local dir, n, parts = arg[1], tonumber(arg[2]), tonumber(arg[3])
local function write(p, s) local f = assert(io.open(p, "wb")); f:write(s); f:close() end
for i = 1, n do
  local r = synth.native({ width = 400, height = 600, seed = i })
  local sub = parts > 0 and (dir .. "/part" .. ((i - 1) % parts + 1)) or dir
  local name = string.format("r%04d", i)
  write(sub .. "/" .. name .. ".png", r.image_bytes); write(sub .. "/" .. name .. ".ocr.json", r.ocr_json)
  print(name, r.counts.lines, r.counts.words, r.counts.letters)
end
]])
  for k = 1, parts or 0 do os.execute("mkdir -p " .. q(dir .. "/part" .. k)) end
  local out = sh(string.format("%s lua %s %s %d %d", q(support.bin), q(script), q(dir), n, parts or 0))
  local list = {}
  for name, l, w, t in out:gmatch("(r%d+)%s+(%d+)%s+(%d+)%s+(%d+)") do
    list[#list + 1] = { name = name, lines = tonumber(l), words = tonumber(w), letters = tonumber(t) }
  end
  assert(#list == n, "generated " .. #list .. " of " .. n .. ": " .. out:sub(1, 300))
  return list
end

function M.env_words(store_dir, extra)
  local vars = { RCPT_STORE = "sqlite:" .. store_dir .. "/rcpt.db", RCPT_OBJECTS = "file:" .. store_dir .. "/objects",
    RCPT_VEC_CACHE = store_dir .. "/cache", RCPT_LOG_LEVEL = "warn" }
  for k, v in pairs(extra or {}) do vars[k] = v end
  local parts = { "env" }
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. q(v) end
  return table.concat(parts, " ")
end

-- `rcpt ingest --dir D` for every D in dirs, all at once, each sampled
function M.ingest(store_dir, dirs, extra)
  os.execute("mkdir -p " .. q(store_dir))
  local lines = {}
  for i, d in ipairs(dirs) do
    local pre = store_dir .. "/p" .. i
    lines[#lines + 1] = string.format([[
( %s %s ingest --dir %s >%s 2>%s </dev/null & p=$!
  while kill -0 $p 2>/dev/null; do
    s=$(awk '/^VmHWM|^VmRSS|^RssAnon|^RssFile/{printf "%%s ", $2}' /proc/$p/status 2>/dev/null)
    n=$(grep -c '^ingest ' %s 2>/dev/null)
    [ -n "$s" ] && echo "$n $s"
    sleep 0.2
  done >%s
  wait $p; echo $? >%s ) &]], M.env_words(store_dir, extra), q(support.bin), q(d), q(pre .. ".out"), q(pre .. ".err"),
      q(pre .. ".err"), q(pre .. ".samples"), q(pre .. ".code"))
  end
  lines[#lines + 1] = "wait"
  local t0 = M.now()
  os.execute("sh -c " .. q(table.concat(lines, "\n")))
  local r = { seconds = M.now() - t0, procs = {} }
  for i = 1, #dirs do
    local pre = store_dir .. "/p" .. i
    local p = { code = tonumber(support.read(pre .. ".code")), stderr = support.read(pre .. ".err"),
      stdout = support.read(pre .. ".out"), samples = {} }
    for l in io.lines(pre .. ".samples") do
      -- in /proc/PID/status order: VmHWM, VmRSS, RssAnon, RssFile
      local n, hwm, rss, anon, file = l:match("^(%d+) (%d+) (%d+) (%d+) (%d+)")
      if n then
        p.samples[#p.samples + 1] = { n = tonumber(n), rss_kb = tonumber(rss), hwm_kb = tonumber(hwm),
          anon_kb = tonumber(anon), file_kb = tonumber(file) }
      end
    end
    r.procs[i] = p
  end
  return r
end

-- RSS at the first sample with at least `from` receipts done, and at the last
-- sample; growth per receipt between them.  VmRSS (rss) and its anonymous
-- part (anon: the heaps, Lua's and SQLite's page cache); the rest is mostly
-- the store's database file mapped by SQLite (mmap_size).  Both grow with the
-- database until SQLite's bounds (core/store/sqlite.c: cache_size 64 MB,
-- mmap_size 256 MB) -- about 0.9 MB of database per small receipt.
function M.memory(samples, from)
  local first, last
  for _, s in ipairs(samples) do
    if not first and s.n >= from then first = s end
    last = s
  end
  if not first or not last or last.n <= first.n then return nil end
  local n = last.n - first.n
  return { start_n = first.n, start_kb = first.rss_kb, end_n = last.n, end_kb = last.rss_kb, peak_kb = last.hwm_kb,
    start_anon_kb = first.anon_kb, end_anon_kb = last.anon_kb,
    per_receipt_kb = (last.rss_kb - first.rss_kb) / n, anon_per_receipt_kb = (last.anon_kb - first.anon_kb) / n }
end

-- what the store holds: rows per TYPE, duplicate (PK, SK), receipts per
-- upload file name (from the FIRST_PASS OCR_JOB's s3_key), decision states
function M.census(store_dir)
  local out = sh(string.format("%s %s export 2>/dev/null", M.env_words(store_dir), q(support.bin)))
  local c = { items = 0, types = {}, dup = 0, image_of = {}, receipts_of = {}, status = {}, runs = {} }
  local seen = {}
  for line in out:gmatch("[^\n]+") do
    local it = cjson.decode(line).Item
    c.items = c.items + 1
    local pk, sk, ty = it.PK.S, it.SK.S, it.TYPE.S
    local key = pk .. "\0" .. sk
    if seen[key] then c.dup = c.dup + 1 end
    seen[key] = true
    c.types[ty] = (c.types[ty] or 0) + 1
    if ty == "OCR_JOB" and it.job_type.S == "FIRST_PASS" then
      local name = it.s3_key.S:match("raw%-receipts/(r%d+)")
      c.image_of[name] = pk
    elseif ty == "RECEIPT" then
      c.receipts_of[pk] = (c.receipts_of[pk] or 0) + 1
    elseif ty == "OCR_ROUTING_DECISION" then
      c.status[it.status.S] = (c.status[it.status.S] or 0) + 1
    elseif ty == "COMPACTION_RUN" then
      local s = it.lines_state.S .. "/" .. it.words_state.S
      c.runs[s] = (c.runs[s] or 0) + 1
    end
  end
  return c
end

-- the rows n NATIVE receipts must give, per TYPE
function M.expected(list)
  local e = { IMAGE = 0, RECEIPT = 0, OCR_JOB = 0, OCR_ROUTING_DECISION = 0, RECEIPT_METADATA = 0, COMPACTION_RUN = 0,
    LINE = 0, WORD = 0, LETTER = 0, RECEIPT_LINE = 0, RECEIPT_WORD = 0, RECEIPT_LETTER = 0 }
  for _, r in ipairs(list) do
    for _, t in ipairs({ "IMAGE", "RECEIPT", "OCR_JOB", "OCR_ROUTING_DECISION", "RECEIPT_METADATA", "COMPACTION_RUN" }) do
      e[t] = e[t] + 1
    end
    e.LINE, e.RECEIPT_LINE = e.LINE + r.lines, e.RECEIPT_LINE + r.lines
    e.WORD, e.RECEIPT_WORD = e.WORD + r.words, e.RECEIPT_WORD + r.words
    e.LETTER, e.RECEIPT_LETTER = e.LETTER + r.letters, e.RECEIPT_LETTER + r.letters
  end
  local total = 0
  for _, v in pairs(e) do total = total + v end
  return e, total
end

return M
