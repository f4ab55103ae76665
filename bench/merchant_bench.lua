-- rcpt lua bench/merchant_bench.lua setup DIR [N]     N background receipts (default 1000)
-- rcpt lua bench/merchant_bench.lua run DIR [ITERS] [compact]
--
-- The merchant + embedding step (the default pipeline's after_receipt stage:
-- enable_places, resolve_merchant, embed_receipt, write_deltas,
-- compact_local) for one receipt of 45 lines and 234 words, local embedder
-- at RCPT_EMBED_DIM (1536), over a store whose published snapshots hold N
-- receipts of the same size (45 lines, 234 words each; 50 merchants).
-- `setup` builds the snapshots (in its own process, so its memory does not
-- count); `run` stores a fresh copy of the target receipt per iteration and
-- times the stage, then prints the median, the peak RSS (VmHWM) and what
-- the step decided.  Places is not configured (no key), so a receipt of a
-- known merchant resolves from the vector store.
local src = os.getenv("RCPT_SOURCE_DIR") or "."
package.path = src .. "/tests/spec/?.lua;" .. package.path
local gen = require("support.gen_ocr")
local ocr = require("rcpt.ocr")
local store = require("rcpt.store")

local mode, dir = arg[1], arg[2]
assert(mode and dir, "usage: merchant_bench.lua setup|run DIR ...")

local function merchant(i)
  return { merchant = string.format("BENCH MERCHANT %02d", i), address = string.format("%d OAK ST", 100 + i),
    phone = string.format("(415) 555-%04d", 1000 + i) }
end

-- 45 lines, 234 words: 45 x 5 generated, 9 more cloned onto the first lines
local function receipt_rows(image_id, rid, m, seed)
  local json = gen{ lines = 45, words_per_line = 5, seed = seed, tags = { "address", "phone", "url" },
    merchant = m.merchant, address = m.address, phone = m.phone, width = 1170, height = 2532 }
  local doc = assert(ocr.parse(json))
  local lines, words = doc:lines(), doc:words()
  doc:close()
  for _, e in ipairs(lines) do e.image_id, e.receipt_id, e.embedding_status, e.is_noise = image_id, rid, "NONE", false end
  for _, e in ipairs(words) do e.image_id, e.receipt_id, e.embedding_status, e.is_noise = image_id, rid, "NONE", false end
  local extra = {}
  for _, w in ipairs(words) do
    if #extra < 234 - #words and w.word_id == 5 then
      local c = {}
      for k, v in pairs(w) do c[k] = v end
      c.word_id, c.extracted_data = 6, nil
      extra[#extra + 1] = c
    end
  end
  for _, c in ipairs(extra) do words[#words + 1] = c end
  assert(#lines == 45 and #words == 234, #lines .. " lines, " .. #words .. " words")
  return lines, words
end

local function open_env()
  return require("rcpt.env").open{ store = "sqlite:" .. dir .. "/rcpt.db", objects = "file:" .. dir .. "/objects" }
end

-- wall clock in ms (rcpt has no sub-second clock in Lua): `date +%s%N`
-- through a pipe; the cost of one reading (about a fork) is measured and
-- subtracted from the intervals in `run`
local function now_ms()
  local p = io.popen("date +%s%N")
  local ns = p:read("n")
  p:close()
  return ns / 1e6
end

if mode == "setup" then
  local n = tonumber(arg[3]) or 1000
  local env = open_env()
  local vec = require("rcpt.vec")
  local vectors = require("rcpt.vectors")
  local E = require("rcpt.embed_inputs")
  local e = assert(require("rcpt.embedder").from_env())
  local dim = e:dim()
  local colls = { lines = vec.new("lines", dim), words = vec.new("words", dim) }
  local t0 = now_ms()
  local texts = 0
  -- 50 receipt templates (one per merchant: generating OCR JSON in Lua is
  -- the slow part), each stored under n/50 image ids; the vectors of a
  -- template are embedded once and upserted under every id
  local tmpl = {}
  for i = 1, math.min(n, 50) do
    local m = merchant(i)
    local lines, words = receipt_rows("00000000-0000-4000-8000-000000000000", 1, m, i)
    tmpl[i] = { lines = lines, words = words, md = { merchant_name = m.merchant, place_id = "" } }
  end
  for i = 1, n do
    local t = tmpl[(i - 1) % #tmpl + 1]
    local image_id = store.uuid4()
    for _, l in ipairs(t.lines) do l.image_id = image_id end
    for _, w in ipairs(t.words) do w.image_id = image_id end
    for _, kind in ipairs({ "lines", "words" }) do
      local inp = assert(E[kind](t.lines, t.words, t.md))
      t.vec = t.vec or {}
      if not t.vec[kind] then t.vec[kind] = assert(e:embed(inp.texts)) end
      texts = texts + #inp.texts
      assert(colls[kind]:upsert(inp.ids, t.vec[kind], inp.documents, inp.metadatas))
    end
  end
  local t1 = now_ms()
  for _, kind in ipairs({ "lines", "words" }) do vectors.publish(env, kind, colls[kind]) end
  io.stderr:write(string.format("setup: %d receipts, %d lines + %d words vectors at %d dims; built %d vectors in %.1f s, published in %.1f s\n",
    n, colls.lines:count(), colls.words:count(), dim, texts, (t1 - t0) / 1000, (now_ms() - t1) / 1000))
  env:close()
  return
end

-- run
local iters = tonumber(arg[3]) or 7
local compact = arg[4] == "compact"
-- "reread": the rows are read back from the store (the legacy path's
-- fallback, and the step before the handover)
local reread = arg[4] == "reread"
local me = require("rcpt.merchant_embed")
local env = open_env()
env.settings.compact_after = compact
local pipe = require("rcpt.pipeline").load("default")
local overhead
do
  local o = {}
  for i = 1, 5 do local a = now_ms(); o[i] = now_ms() - a end
  table.sort(o)
  overhead = o[3]
end
local times, cpus, last = {}, {}, nil
for it = 1, iters do
  local image_id = store.uuid4()
  local lines, words = receipt_rows(image_id, 1, merchant(7), 100000 + it)
  local b = env.store:batch()
  for _, l in ipairs(lines) do b:put("RECEIPT_LINE", l) end
  for _, w in ipairs(words) do b:put("RECEIPT_WORD", w) end
  assert(b:commit())
  -- as the native step hands them over: the OCR document's tables, turned
  -- into the stored rows inside the timed stage (rows_from_ocr)
  local ctx = { env = env, image_id = image_id, job_id = store.uuid4(), receipt_ids = { 1 },
    receipt_rows = { [1] = function() return me.rows_from_ocr(image_id, 1, lines, words) end } }
  if reread then ctx.receipt_rows = nil end
  local t0, c0 = now_ms(), os.clock()
  require("rcpt.pipeline").run_stage(pipe, "after_receipt", ctx)
  -- process CPU time too: on a shared machine the wall clock also counts
  -- waiting for a core (and fsyncs), the CPU time only our own work
  cpus[it] = (os.clock() - c0) * 1000
  times[it] = now_ms() - t0 - overhead
  local res = require("rcpt.merchant_embed").report(ctx, {})
  assert(not res.merchant_error and not res.embedding_error and not res.compaction_error,
    tostring(res.merchant_error or res.embedding_error or res.compaction_error))
  last = { res = res, timings = ctx.timings }
end
-- the first receipt of a process also opens the published `lines`
-- snapshot and builds its sparse copy (once per process and snapshot
-- version: vec.open_sparse reads every vector of the file once)
local first_wall, first_cpu = times[1], cpus[1]
local sorted = table.move(times, 1, #times, 1, {})
table.sort(sorted)
local med = sorted[(#sorted + 1) // 2]
table.sort(cpus)
local cpu_med = cpus[(#cpus + 1) // 2]
local hwm
for line in io.lines("/proc/self/status") do
  local kb = line:match("^VmHWM:%s+(%d+)")
  if kb then hwm = tonumber(kb) / 1024 end
end
local m = last.res.merchant[1]
local steps = {}
for _, t in ipairs(last.timings) do steps[#steps + 1] = string.format("%s %.1f", t.step, t.ms) end
print(string.format("merchant+embedding step, 45 lines / 234 words, compact_after=%s%s: median %.1f ms over %d (min %.1f, max %.1f; CPU median %.1f ms); peak RSS %.0f MB",
  tostring(compact), reread and ", rows read back" or "", med, iters, sorted[1], sorted[#sorted], cpu_med, hwm))
print(string.format("  first receipt of the process: %.1f ms (CPU %.1f ms), with opening the lines snapshot as a sparse copy",
  first_wall, first_cpu))
print("  last receipt: " .. table.concat(steps, ", ") .. " ms")
print(string.format("  resolved '%s' via %s (%s), %d line + %d word vectors", m.merchant_name, m.validated_by,
  m.source, m.lines_embedded, m.words_embedded))
env:close()
