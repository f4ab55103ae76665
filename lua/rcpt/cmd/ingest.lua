-- rcpt ingest: the local main job (issue 2 item 7; spec/ocr-geometry.md §9.1).
--
-- For each IMAGE + OCR.json it does what the upload Lambda and the Mac OCR
-- worker do before the OCR results Lambda runs, then runs that Lambda's
-- handler on a synthetic SQS record:
--   1. uuid4 image_id and job_id;
--   2. the image in the uploads bucket at raw-receipts/<filename> (when a
--      different file already sits under that name, raw-receipts/<stem>-<image_id><ext>,
--      so that an earlier image's job keeps its own original);
--   3. OCRJob FIRST_PASS PENDING pointing at it;
--   4. the OCR JSON next to it at ocr_results/<stem>-<job_id>.json (§2.3);
--   5. OCRRoutingDecision PENDING, receipt_count 0, pointing at the JSON;
--   6. rcpt.handler.handle{Records = {{body = {"job_id","image_id"}}}};
--   7. unless --no-worker / RCPT_LOCAL_WORKER=0: the local refinement worker
--      (rcpt.ocr_worker.drain) answers the REFINEMENT jobs the first pass queued;
--   8. when the embed_ndjson queue is local and holds messages (the legacy
--      pipeline), its consumer (rcpt.embed_ndjson.drain): merchant + embeddings;
--   9. a summary from what the store now holds (rcpt.debug.inspect).
local config = require("rcpt.config")
local json = require("rcpt.json")
local log = require("rcpt.log")
local store = require("rcpt.store")
local uuid = require("rcpt.uuid")

local USAGE = "rcpt ingest [--store URL] [--objects URL] [--json] [--no-worker] [--verbose] IMAGE OCR.json\n"
  .. "       rcpt ingest [options] --dir DIR"

local HELP = [[Registers an image and its Apple-Vision OCR JSON as a new upload, runs the OCR
results handler on it (the same code the Lambda runs: classify, cut receipts,
store rows and objects), lets the local refinement worker answer the receipts'
REFINEMENT jobs, and prints what was stored.

  IMAGE OCR.json   one image (PNG or JPEG) and its OCR JSON
  --dir DIR        every pair in DIR: x.png|x.jpg|x.jpeg with x.ocr.json or x.json;
                   a progress bar on stderr (a line per image when not a terminal),
                   a final tally; one bad pair never stops the rest
  --store URL      entity store (default: $RCPT_STORE, dynamodb:$DYNAMO_TABLE_NAME,
                   or ]] .. config.DEFAULT_STORE .. [[)
  --objects URL    object store root (default: $RCPT_OBJECTS or ]] .. config.DEFAULT_OBJECTS .. [[)
  --json           print the summary as JSON on stdout
  --no-worker      leave REFINEMENT jobs on the queue (also RCPT_LOCAL_WORKER=0)
  --verbose        info-level JSON logs on stderr (default: warnings only;
                   RCPT_LOG_LEVEL wins when set)

Exit status: 0 when every image was processed, 1 when any failed, 2 on usage errors.]]

local CONTENT_TYPES = { png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg" }

-- wall clock in seconds, sub-second where /proc/uptime exists
local function clock()
  local f = io.open("/proc/uptime", "r")
  if f then
    local s = f:read("n")
    f:close()
    if s then return s end
  end
  return os.time()
end

local function read_file(path)
  local f, msg = io.open(path, "rb")
  if not f then return nil, msg end
  local s = f:read("a")
  f:close()
  if not s then return nil, path .. ": cannot read" end
  return s
end

local function basename(p) return (p:gsub("/+$", ""):match("([^/]+)$")) or p end

local function split_ext(name)
  local stem, ext = name:match("^(.+)%.([^.]+)$")
  if not stem then return name, "" end
  return stem, ext
end

local M = {}

-- Register one upload and run the handler on it.  Returns a summary table;
-- raises only on setup errors (a file that cannot be read, a store refusing).
function M.ingest_one(env, image_path, json_path, opts)
  opts = opts or {}
  local t0 = clock()
  local sum = { image = image_path, ocr_json = json_path, success = false }
  local img_bytes, msg = read_file(image_path)
  if not img_bytes then sum.error = "image: " .. tostring(msg); return sum end
  local ocr_text
  ocr_text, msg = read_file(json_path)
  if not ocr_text then sum.error = "OCR JSON: " .. tostring(msg); return sum end

  local image_id, job_id = uuid.new(), uuid.new()
  sum.image_id, sum.job_id = image_id, job_id
  local filename = basename(image_path)
  local stem, ext = split_ext(filename)
  local bucket = env.bucket.uploads
  local objects = env:objects(bucket)
  local key = "raw-receipts/" .. filename
  local existing = objects:head(key)
  if existing and (existing.size ~= #img_bytes or objects:get(key) ~= img_bytes) then
    key = "raw-receipts/" .. stem .. "-" .. image_id .. (ext ~= "" and ("." .. ext) or "")
  end
  local written = {}
  local function put(k, bytes, ctype)
    local ok, pmsg = objects:put(k, bytes, { content_type = ctype })
    if not ok then error("cannot put " .. bucket .. "/" .. k .. ": " .. tostring(pmsg), 0) end
    written[#written + 1] = { bucket = bucket, key = k, bytes = #bytes }
  end
  put(key, img_bytes, CONTENT_TYPES[ext:lower()] or "application/octet-stream")
  img_bytes = nil -- luacheck: ignore
  local json_key = "ocr_results/" .. stem .. "-" .. job_id .. ".json"
  put(json_key, ocr_text, "application/json")
  ocr_text = nil -- luacheck: ignore

  local st, now = env.store, store.now()
  local ok, perr = st:put("OCR_JOB", { image_id = image_id, job_id = job_id, s3_bucket = bucket, s3_key = key,
    created_at = now, updated_at = now, status = "PENDING", job_type = "FIRST_PASS" }, { condition = "not_exists" })
  if not ok then error("OCR_JOB: " .. tostring(perr), 0) end
  ok, perr = st:put("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id, s3_bucket = bucket,
    s3_key = json_key, created_at = now, updated_at = now, status = "PENDING", receipt_count = 0 })
  if not ok then error("OCR_ROUTING_DECISION: " .. tostring(perr), 0) end

  -- the handler, exactly as the Lambda runs it, on this env
  local handler = require("rcpt.handler")
  local body = json.encode({ job_id = job_id, image_id = image_id })
  local event = { Records = { {
    messageId = uuid.new(), receiptHandle = "local-" .. job_id, body = body, eventSource = "aws:sqs",
    eventSourceARN = "arn:aws:sqs:local:000000000000:ocr-results", awsRegion = "local",
    attributes = { ApproximateReceiveCount = "1" }, messageAttributes = {},
  } } }
  local saved = handler.env
  handler.env = function() return env end
  local hok, response, results = pcall(handler.handle, event, { function_name = "rcpt-ingest", aws_request_id = uuid.new() })
  handler.env = saved
  if not hok then error(response, 0) end
  local r = results and results[1] or {}
  sum.result = r
  sum.success = r.success == true and #response.batchItemFailures == 0
  sum.error = r.error
  sum.image_type = r.image_type
  sum.skipped = r.skipped
  for _, o in ipairs(r.objects or {}) do written[#written + 1] = o end

  -- the local refinement worker
  local queued = r.queued and #r.queued or 0
  sum.worker = { queued = queued }
  if sum.success and queued > 0 then
    if not opts.worker then
      sum.worker.note = "not run (--no-worker or RCPT_LOCAL_WORKER=0): " .. queued
        .. " REFINEMENT job(s) left on the ocr_jobs queue"
    else
      local wok, worker = pcall(require, "rcpt.ocr_worker")
      if not wok then
        if tostring(worker):find("module 'rcpt.ocr_worker' not found", 1, true) then
          sum.worker.note = "skipped: rcpt.ocr_worker is not available; " .. queued
            .. " REFINEMENT job(s) left on the ocr_jobs queue"
        else
          sum.worker.note = "skipped: rcpt.ocr_worker failed to load: " .. tostring(worker)
        end
      else
        local dok, dres = pcall(worker.drain, env)
        if dok then
          sum.worker.ran = true
          sum.worker.result = type(dres) == "table" and dres or { value = dres }
        else
          sum.worker.error = require("rcpt.pipeline").message(dres)
        end
      end
    end
  end
  -- the legacy pipeline's embed messages (spec §1 B), when the queue is
  -- local: its consumer runs here, as the refinement worker does
  local eq = os.getenv("EMBED_NDJSON_QUEUE_URL") or ""
  if not eq:match("^https?://") and env:queue("embed_ndjson"):count() > 0 then
    local eok, eres = pcall(require("rcpt.embed_ndjson").drain, env)
    if eok then
      eres.results = json.array(eres.results)
      sum.embed = eres
    else
      sum.embed = { error = require("rcpt.pipeline").message(eres) }
    end
  end
  local info = require("rcpt.debug").inspect(env, image_id)
  sum.stored = info
  -- refinement results (the worker's decisions) count towards success
  for _, d in ipairs(info.decisions) do
    if d.job_id ~= job_id and d.status == "FAILED" then
      sum.refinement_failures = (sum.refinement_failures or 0) + 1
    end
  end
  sum.objects = written
  sum.seconds = clock() - t0
  return sum
end

local function kb(n)
  if n >= 1048576 then return string.format("%.1f MB", n / 1048576) end
  return string.format("%.0f KB", n / 1024)
end

function M.format(sum, env)
  local out = {}
  local function say(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
  local info = sum.stored
  local im = info and info.image
  say("%s  %s", sum.image, sum.success and "ok" or "FAILED")
  if sum.image_id then say("  image id   %s", sum.image_id) end
  if im then
    say("  type       %s, %dx%d", im.image_type, im.width, im.height)
  elseif sum.image_type then
    say("  type       %s", sum.image_type)
  end
  if sum.error then say("  error      %s", sum.error) end
  local c = sum.result and sum.result.counts
  if c then say("  OCR        %d lines, %d words, %d letters", c.lines, c.words, c.letters) end
  if info then
    say("  receipts   %d", #info.receipts)
    for _, r in ipairs(info.receipts) do
      local job
      for _, j in ipairs(info.jobs) do if j.receipt_id == r.receipt_id then job = j end end
      say("    #%d  %dx%d px  %d lines, %d words, %d letters%s", r.receipt_id, r.width, r.height, r.lines, r.words,
        r.letters, job and ("  (refinement job " .. job.status .. ")") or "")
    end
    for _, s in ipairs(sum.skipped or {}) do say("    cluster %s skipped: %s", tostring(s.cluster), s.reason) end
    local k = info.counts
    say("  rows       %d in %s (%d lines, %d words, %d letters; %d receipt lines, %d words, %d letters; %d jobs, %d decisions)",
      k.total, env.store_url, k.LINE or 0, k.WORD or 0, k.LETTER or 0, k.RECEIPT_LINE or 0, k.RECEIPT_WORD or 0,
      k.RECEIPT_LETTER or 0, k.OCR_JOB or 0, k.OCR_ROUTING_DECISION or 0)
    local by_bucket, order = {}, {}
    for _, o in ipairs(info.objects) do
      if o.size then
        if not by_bucket[o.bucket] then by_bucket[o.bucket] = { n = 0, bytes = 0 }; order[#order + 1] = o.bucket end
        by_bucket[o.bucket].n = by_bucket[o.bucket].n + 1
        by_bucket[o.bucket].bytes = by_bucket[o.bucket].bytes + o.size
      end
    end
    local parts = {}
    for _, b in ipairs(order) do
      parts[#parts + 1] = string.format("%s/ %d (%s)", b, by_bucket[b].n, kb(by_bucket[b].bytes))
    end
    say("  objects    %d under %s: %s%s", #info.objects - info.missing, env.objects_root, table.concat(parts, ", "),
      info.missing > 0 and string.format(" -- %d MISSING", info.missing) or "")
  end
  -- merchant resolution and vectors, per receipt (the after_receipt stage)
  local image_id = info and info.image_id or (sum.result and sum.result.image_id)
  if image_id and env.store then
    for _, md in ipairs(env.store:query("RECEIPT_METADATA", { image_id = image_id }) or {}) do
      say("  merchant   #%d %s (%s, %s%s)", md.receipt_id, md.merchant_name ~= "" and md.merchant_name or "?",
        tostring(md.validated_by), tostring(md.validation_status),
        md.place_id and md.place_id ~= "" and (", place " .. md.place_id) or "")
    end
    for _, run in ipairs(env.store:query("COMPACTION_RUN", { image_id = image_id }) or {}) do
      say("  vectors    #%d run %s: lines %s (%d), words %s (%d)", run.receipt_id, run.run_id:sub(1, 8),
        tostring(run.lines_state), run.lines_merged_vectors or 0, tostring(run.words_state),
        run.words_merged_vectors or 0)
    end
  end
  local r = sum.result or {}
  if r.merchant_error then say("  merchant   FAILED: %s", r.merchant_error) end
  if r.embedding_error then say("  embedding  FAILED: %s", r.embedding_error) end
  if r.compaction_error then say("  compaction FAILED: %s", r.compaction_error) end
  local w = sum.worker
  if w and w.queued > 0 then
    if w.ran then
      local done = 0
      for _, j in ipairs(info and info.jobs or {}) do
        if j.job_type == "REFINEMENT" then
          for _, d in ipairs(info.decisions) do
            if d.job_id == j.job_id and d.status == "COMPLETED" then done = done + 1 end
          end
        end
      end
      say("  refinement %d of %d job(s) answered by the local worker", done, w.queued)
    elseif w.error then
      say("  refinement worker failed: %s", w.error)
    elseif w.note then
      say("  refinement %s", w.note)
    end
  end
  if sum.refinement_failures then say("  refinement FAILED for %d job(s)", sum.refinement_failures) end
  if sum.seconds then say("  time       %.2f s", sum.seconds) end
  return table.concat(out, "\n")
end

-- a JSON-safe copy of a summary (drops nothing but functions)
local function for_json(sum)
  local t = {}
  for k, v in pairs(sum) do t[k] = v end
  return t
end

-- image/JSON pairs in a folder, sorted by name; unpaired images are reported
function M.pairs_in(dir)
  local names = {}
  local ok, lfs = pcall(require, "lfs")
  if ok then
    local iok, err = pcall(function()
      for n in lfs.dir(dir) do names[#names + 1] = n end
    end)
    if not iok then return nil, tostring(err) end
  else
    local p = io.popen("ls -1A " .. "'" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
    for n in p:lines() do names[#names + 1] = n end
    p:close()
  end
  local have = {}
  for _, n in ipairs(names) do have[n] = true end
  local out = {}
  table.sort(names)
  for _, n in ipairs(names) do
    local stem, ext = split_ext(n)
    if CONTENT_TYPES[ext:lower()] then
      local j
      if have[stem .. ".ocr.json"] then j = stem .. ".ocr.json" elseif have[stem .. ".json"] then j = stem .. ".json" end
      out[#out + 1] = { image = dir .. "/" .. n, ocr_json = j and (dir .. "/" .. j) or nil, name = n }
    end
  end
  return out
end

local function progress(i, n, name, tty, line)
  if tty then
    local width = 30
    local fill = math.floor(width * i / math.max(n, 1) + 0.5)
    io.stderr:write(string.format("\r\27[K[%s%s] %d/%d %s", string.rep("#", fill), string.rep(".", width - fill),
      i, n, name:sub(1, 40)))
    if i == n and line then io.stderr:write("\n") end
  elseif line then
    io.stderr:write(string.format("ingest %d/%d %s\n", i, n, line))
  end
  io.stderr:flush()
end

local function run(args)
  local opts, pos = config.parse(args, { store = "value", objects = "value", json = "flag", dir = "value",
    ["no-worker"] = "flag", verbose = "flag" })
  if not opts then
    io.stderr:write("rcpt ingest: ", pos, "\nusage: ", USAGE, "\n")
    return 2
  end
  if (opts.dir and #pos ~= 0) or (not opts.dir and #pos ~= 2) then
    io.stderr:write("rcpt ingest: expected IMAGE OCR.json or --dir DIR\nusage: ", USAGE, "\n")
    return 2
  end
  if not os.getenv("RCPT_LOG_LEVEL") then log.set_level(opts.verbose and "info" or "warn") end
  local eok, env = pcall(require("rcpt.env").open, { store = opts.store, objects = opts.objects })
  if not eok then
    io.stderr:write("rcpt ingest: ", require("rcpt.pipeline").message(env), "\n")
    return 1
  end
  local worker = env.settings.local_worker and not opts["no-worker"]
  local function one(img, js)
    local ok, sum = pcall(M.ingest_one, env, img, js, { worker = worker })
    if not ok then
      sum = { image = img, ocr_json = js, success = false, error = require("rcpt.pipeline").message(sum) }
    end
    return sum
  end

  local rc = 0
  if not opts.dir then
    local sum = one(pos[1], pos[2])
    if opts.json then io.stdout:write(json.encode(for_json(sum)), "\n")
    else io.stdout:write(M.format(sum, env), "\n") end
    rc = sum.success and 0 or 1
  else
    local list, lerr = M.pairs_in(opts.dir)
    if not list then
      io.stderr:write("rcpt ingest: --dir ", opts.dir, ": ", lerr, "\n")
      env:close()
      return 1
    end
    local tty = require("rcpt.host").isatty(2)
    local t0, sums, okn = clock(), {}, 0
    for i, p in ipairs(list) do
      if tty then progress(i - 1, #list, p.name, true) end
      local sum
      if not p.ocr_json then
        sum = { image = p.image, success = false, error = "no OCR JSON next to it (" .. split_ext(p.name)
          .. ".ocr.json or .json)" }
      else
        sum = one(p.image, p.ocr_json)
      end
      sums[#sums + 1] = sum
      if sum.success then okn = okn + 1 end
      local line = string.format("%s: %s", p.name, sum.success
        and string.format("ok %s, %d receipt(s), %.2f s", tostring(sum.image_type),
          sum.stored and #sum.stored.receipts or 0, sum.seconds or 0)
        or ("FAILED: " .. tostring(sum.error)))
      progress(i, #list, p.name, tty, line)
    end
    local failed = #sums - okn
    if opts.json then
      local js = {}
      for i, s in ipairs(sums) do js[i] = for_json(s) end
      io.stdout:write(json.encode({ dir = opts.dir, images = json.array(js), ok = okn, failed = failed,
        seconds = clock() - t0 }), "\n")
    else
      for _, s in ipairs(sums) do io.stdout:write(M.format(s, env), "\n") end
      io.stdout:write(string.format("ingested %d image(s) from %s: %d ok, %d failed, %.2f s\n", #sums, opts.dir, okn,
        failed, clock() - t0))
      for _, s in ipairs(sums) do
        if not s.success then io.stdout:write("  FAILED ", s.image, ": ", tostring(s.error), "\n") end
      end
    end
    rc = failed > 0 and 1 or 0
  end
  env:close()
  return rc
end

M.summary = "register an image + its OCR JSON and run the OCR job on it (the local main job)"
M.usage = USAGE
M.help = HELP
M.run = run
return M
