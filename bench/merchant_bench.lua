-- rcpt lua bench/merchant_bench.lua setup DIR [N]     N background receipts (default 1000)
-- rcpt lua bench/merchant_bench.lua run DIR [ITERS] [compact|reread]
-- rcpt lua bench/merchant_bench.lua pipeline DIR [ITERS]
--
-- `pipeline`: the WHOLE default pipeline for one NATIVE receipt, see the
-- section "pipeline" below.
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

-- The pipeline's receipt: a phone screenshot of a digital receipt (NATIVE:
-- the text reaches within 1 % of every edge), 1170 x 2532 RGB PNG drawn with
-- rcpt.synth's layout and font, and its Vision OCR JSON made from the same
-- layout (so the words sit where their pixels are): 45 lines, 234 words, of
-- merchant(7) (same name, street and phone as the store's receipts of that
-- merchant, so it resolves from the vector store).
local function native_receipt()
  local synth, image = require("rcpt.synth"), require("rcpt.image")
  -- scale 5: 39 columns of 5x7 glyphs (35 px tall) across the width
  local W, H, s = 1170, 2532, 5
  local m7 = merchant(7)
  local m = { name = m7.merchant, street = m7.address, city = "SAN FRANCISCO, CA 94107", phone = m7.phone,
    url = "BENCH07.EXAMPLE.COM", tax = { "TAX", 863 }, kind = "diner" }
  local rnd = synth.prng(7)
  local model = synth.receipt_model({ rnd = rnd, merchant = m, items = 8 })
  local function counts()
    local nl, nw = 0, 0
    for _, segs in ipairs(model.rows) do
      if #segs > 0 then nl = nl + 1 end
      for _, seg in ipairs(segs) do for _ in seg.text:gmatch("%S+") do nw = nw + 1 end end
    end
    return nl, nw
  end
  -- more item rows after the last item (before SUBTOTAL's blank row), each
  -- "<qty> <words...>" left + a price right, spreading the missing words
  local nl, nw = counts()
  local add_l, add_w = 45 - nl, 234 - nw
  local at
  for i, segs in ipairs(model.rows) do
    if #segs > 0 and segs[1].text == "SUBTOTAL" then at = i - 1 end
  end
  local VOC = { "TEA", "RYE", "HAM", "EGG", "BUN", "PIE", "HOT", "ICE", "JAM", "OAT", "FIG", "SOY", "DIP" }
  for k = 1, add_l do
    local per = add_w // add_l + (k <= add_w % add_l and 1 or 0) -- words in this row
    local ws = { tostring(1 + rnd(2) - 1) }
    for j = 2, per - 1 do ws[j] = VOC[rnd(#VOC)] end
    table.insert(model.rows, at + k - 1, { { text = table.concat(ws, " "), align = "l" },
      { text = string.format("%d.%02d", rnd(20), rnd(100) - 1), align = "r" } })
  end
  nl, nw = counts()
  assert(nl == 45 and nw == 234, nl .. " lines, " .. nw .. " words")
  local cols = (W + s) // (6 * s)
  local bw = 6 * s * cols - s
  local mx = (W - bw) // 2
  local edge = math.max(1, math.floor(0.004 * H))
  local n = #model.rows
  local span = H - 2 * edge - 7 * s
  local lay = synth.layout(model, { scale = s, cols = cols, margin_x = mx, margin_y = edge, rnd = rnd,
    row_y = function(r) return edge + (r * span + (n - 1) // 2) // (n - 1) end })
  local img <close> = image.new(W, H, 3, { 255, 255, 255 })
  -- an app's header bar and a grey card behind the text, as a screenshot has
  img:fill_rect(0, 0, W, 3 * edge, { 242, 242, 247 })
  img:fill_rect(0, 3 * edge, W, H - 3 * edge, { 252, 252, 252 })
  synth.draw(img, lay, 0, 0, { paper = false, ink = { 20, 20, 24 } })
  local json, info = synth.vision_ocr({ { layout = lay, F = { 1, 0, 0, 0, 1, 0, 0, 0 }, rigid = true } }, W, H)
  assert(info.lines == 45 and info.words == 234, info.lines .. " OCR lines, " .. info.words .. " words")
  return assert(img:encode_png()), json, info
end

local function open_env()
  return require("rcpt.env").open{ store = "sqlite:" .. dir .. "/rcpt.db", objects = "file:" .. dir .. "/objects" }
end

-- wall clock in ms: the host's monotonic clock (clock_gettime, sub-ms)
local now_ms = require("rcpt.host").now_ms

if mode == "setup" then
  local n = tonumber(arg[3]) or 1000
  do -- the pipeline mode's image and OCR JSON (made here: not in its RSS)
    local png, json, info = native_receipt()
    for name, bytes in pairs({ ["native.png"] = png, ["native.ocr.json"] = json }) do
      local f = assert(io.open(dir .. "/" .. name, "wb"))
      f:write(bytes)
      f:close()
    end
    io.stderr:write(string.format("setup: NATIVE receipt 1170x2532 PNG (%d KB), OCR JSON %d lines, %d words, %d letters (%d KB)\n",
      #png // 1024, info.lines, info.words, info.letters, #json // 1024))
    if n == 0 then return end
  end
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

-- pipeline: the whole default pipeline for the NATIVE receipt made by
-- `setup`, as `rcpt ingest` runs it.  Per iteration, untimed: what happens
-- before the OCR results Lambda (the upload Lambda and the OCR worker; in
-- `rcpt ingest`, M.ingest_one's steps 1-5): a fresh image id and job id, the
-- PNG in the uploads bucket, the OCR JSON next to it, the OCRJob and the
-- PENDING OCRRoutingDecision.  Timed: rcpt.handler.handle on the SQS record
-- {"job_id","image_id"} -- the message, the OCRJob and decision reads, the
-- OCR JSON read, parse and validation, the first_pass stage (store_ocr,
-- load_image, classify, native: the raw PNG, the CDN JPEGs, the sha256 of
-- the pixels, the receipt rows, the Receipt and Image rows), the COMPLETED
-- decision, then the after_receipt stage (enable_places, resolve_merchant,
-- embed_receipt, write_deltas; compact_local with local compaction OFF:
-- compact_after = false, i.e. RCPT_COMPACT_AFTER=0, as on AWS, where
-- compaction is its own Lambda; bench/vec.sh measures it).  Per step: the
-- pipeline's own timings (ctx.timings, in the result), plus the OCR JSON
-- parse and the image calls inside `native` (wrapped here to time them).
if mode == "pipeline" then
  local iters = tonumber(arg[3]) or 9
  local function slurp(name)
    local f = assert(io.open(dir .. "/" .. name, "rb"), dir .. "/" .. name .. ": missing (run `setup` first)")
    local b = f:read("a")
    f:close()
    return b
  end
  local png, ocr_json = slurp("native.png"), slurp("native.ocr.json")
  local env = open_env()
  env.settings.compact_after = false
  env.settings.pipeline = "default"
  local json, handler, uuid = require("rcpt.json"), require("rcpt.handler"), require("rcpt.uuid")
  handler.env = function() return env end
  -- time some calls inside the steps: the OCR JSON parse (rcpt.ocr_job
  -- calls ocr.parse through the module table) and the image methods
  local acc = {}
  local function wrap(t, k, label)
    local f = t[k]
    t[k] = function(...)
      local a = now_ms()
      local r = table.pack(f(...))
      acc[label] = (acc[label] or 0) + now_ms() - a
      return table.unpack(r, 1, r.n)
    end
  end
  wrap(ocr, "parse", "ocr json parse+validate")
  do
    local image = require("rcpt.image")
    local probe = image.new(1, 1, 3)
    local mt = getmetatable(probe)
    probe:close()
    local methods = type(mt.__index) == "table" and mt.__index or mt
    wrap(image, "decode", "  image decode (PNG)")
    for _, k in ipairs({ "encode_png", "encode_jpeg", "resize", "sha256" }) do
      if methods[k] then wrap(methods, k, "  image " .. k) end
    end
  end
  local bucket = env.bucket.uploads
  local up = env:objects(bucket)
  local rows = {}
  local walls, cpus, first
  walls, cpus = {}, {}
  local last
  for it = 1, iters do
    local image_id, job_id = uuid.new(), uuid.new()
    local key, json_key = "raw-receipts/" .. image_id .. ".png", "ocr_results/" .. image_id .. "-" .. job_id .. ".json"
    assert(up:put(key, png, { content_type = "image/png" }))
    assert(up:put(json_key, ocr_json, { content_type = "application/json" }))
    local now = store.now()
    assert(env.store:put("OCR_JOB", { image_id = image_id, job_id = job_id, s3_bucket = bucket, s3_key = key,
      created_at = now, updated_at = now, status = "PENDING", job_type = "FIRST_PASS" }))
    assert(env.store:put("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id, s3_bucket = bucket,
      s3_key = json_key, created_at = now, updated_at = now, status = "PENDING", receipt_count = 0 }))
    local event = { Records = { {
      messageId = uuid.new(), receiptHandle = "bench-" .. job_id, body = json.encode({ job_id = job_id, image_id = image_id }),
      eventSource = "aws:sqs", eventSourceARN = "arn:aws:sqs:local:000000000000:ocr-results", awsRegion = "local",
      attributes = { ApproximateReceiveCount = "1" }, messageAttributes = {},
    } } }
    collectgarbage()
    acc = {}
    local t0, c0 = now_ms(), os.clock()
    local response, results = handler.handle(event, { function_name = "rcpt-bench", aws_request_id = uuid.new() })
    local wall, cpu = now_ms() - t0, (os.clock() - c0) * 1000
    local r = results[1]
    assert(#response.batchItemFailures == 0 and r.success, "pipeline failed: " .. tostring(r.error))
    assert(r.image_type == "NATIVE", "not NATIVE: " .. tostring(r.image_type))
    assert(not r.merchant_error and not r.embedding_error and not r.compaction_error,
      tostring(r.merchant_error or r.embedding_error or r.compaction_error))
    local steps, sum = {}, 0
    for _, t in ipairs(r.timings or {}) do
      steps[t.step] = (steps[t.step] or 0) + t.ms
      sum = sum + t.ms
    end
    for k, v in pairs(acc) do steps[k] = v end
    -- the OCR JSON is read and parsed before the first_pass stage starts
    steps["(handler outside the steps)"] = wall - sum - (acc["ocr json parse+validate"] or 0)
    if it == 1 then
      first = { wall = wall, cpu = cpu }
    else
      walls[#walls + 1], cpus[#cpus + 1] = wall, cpu
      for k, v in pairs(steps) do rows[k] = rows[k] or {}; table.insert(rows[k], v) end
    end
    last = r
  end
  local function median(t)
    local c = table.move(t, 1, #t, 1, {})
    table.sort(c)
    local n = #c
    if n == 0 then return 0 / 0 end
    if n % 2 == 1 then return c[(n + 1) // 2] end
    return (c[n // 2] + c[n // 2 + 1]) / 2
  end
  local hwm
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then hwm = tonumber(kb) / 1024 end
  end
  local sw = table.move(walls, 1, #walls, 1, {})
  table.sort(sw)
  print(string.format("whole default pipeline, NATIVE 1170x2532 PNG, %d lines / %d words, 1 receipt, "
    .. "compact_after=false: median %.1f ms wall (min %.1f, max %.1f), CPU median %.1f ms, over %d warm receipts; "
    .. "peak RSS (VmHWM) %.0f MB; load average %s",
    last.counts.lines, last.counts.words, median(walls), sw[1], sw[#sw], median(cpus), #walls, hwm,
    (io.open("/proc/loadavg"):read("l"):match("^(%S+ %S+ %S+)"))))
  print(string.format("  first receipt of the process: %.1f ms (CPU %.1f ms): also opens the lines snapshot as a sparse copy",
    first.wall, first.cpu))
  local order = { "(handler outside the steps)", "ocr json parse+validate", "store_ocr", "load_image",
    "  image decode (PNG)", "classify", "native", "  image encode_png", "  image resize", "  image encode_jpeg",
    "  image sha256", "photo", "scan", "enable_places", "resolve_merchant", "embed_receipt", "write_deltas",
    "compact_local" }
  print("  per step, median ms over the warm receipts (indented: calls inside the step above, summed per receipt):")
  for _, k in ipairs(order) do
    if rows[k] then print(string.format("    %-30s %7.2f", k, median(rows[k]))) end
  end
  local md = last.merchant and last.merchant[1] or {}
  print(string.format("  resolved '%s' via %s (%s); %d objects written; %d rows", tostring(md.merchant_name),
    tostring(md.validated_by), tostring(md.source), #last.objects, last.rows or 0))
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
