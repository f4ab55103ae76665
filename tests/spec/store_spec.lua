-- rcpt.store from Lua: entities, conditions, transactions, queries, raw
-- items, queues, export/import through the commands, concurrent writers.
local env = require("support.env")
local store = require("rcpt.store")

local IMG = "3f52804b-2fad-4e00-92c8-b593da3a8ed3"
local JOB = "a1b2c3d4-0000-4000-8000-000000000001"
local OWNER = "c1b2c3d4-2222-4222-a222-000000000003"

local function geom(text, extra)
  local t = {
    text = text,
    bounding_box = { x = 0.1, y = 0.2, width = 0.3, height = 0.05 },
    top_left = { x = 0.1, y = 0.25 }, top_right = { x = 0.4, y = 0.25 },
    bottom_left = { x = 0.1, y = 0.2 }, bottom_right = { x = 0.4, y = 0.2 },
    angle_degrees = 1.5, angle_radians = 0.02617993877991494, confidence = 0.995,
  }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

describe("rcpt.store", function()
  local dir, st

  before_each(function()
    dir = env.tmpdir()
    st = assert(store.open("sqlite:" .. dir .. "/s.db"))
  end)

  after_each(function()
    if st then st:close() end
    env.rmrf(dir)
  end)

  it("refuses an unknown URL with nil, message, errname", function()
    local s, msg, name = store.open("ftp://x")
    assert.is_nil(s)
    assert.truthy(msg:find("unknown scheme", 1, true))
    assert.are.equal("EINVAL", name)
  end)

  it("formats numbers and times like the original", function()
    assert.are.equal("1.00", store.decimal(0.995, 2))
    assert.are.equal("0.10000000000000000000", store.decimal(0.1, 20))
    assert.are.equal("0.234457671957671950", store.decimal(0.23445767195767195, 18))
    assert.are.equal("2023-11-14T22:13:20.123456+00:00", store.isoformat(1700000000.123456))
    assert.are.equal("2023-11-14T22:13:20", store.isoformat(1700000000, true))
    assert.truthy(store.now():match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[%.%d]*%+00:00$"))
    assert.is_true(store.is_uuid4(store.uuid4()))
    assert.is_false(store.is_uuid4("3f52804b-2fad-1e00-92c8-b593da3a8ed3"))
  end)

  it("puts and gets entities as plain tables with numbers as numbers", function()
    assert.is_true(st:put("LINE", geom("TOTAL 4.50", { image_id = IMG, line_id = 1 })))
    local line = assert(st:get("LINE", { image_id = IMG, line_id = 1 }))
    assert.are.equal("TOTAL 4.50", line.text)
    assert.are.equal(1, line.line_id)
    assert.are.equal(IMG, line.image_id)
    assert.are.equal(0.1, line.bounding_box.x)
    assert.are.equal(1.0, line.confidence) -- stored as "1.00"
    assert.is_nil(line.PK)
    local item, json = st:get_item("IMAGE#" .. IMG, "LINE#00001")
    assert.are.equal("0.10000000000000000000", item.bounding_box.M.x.N)
    assert.are.equal("1.00", item.confidence.N)
    assert.are.equal("LINE", item.TYPE.S)
    assert.truthy(json:find('"GSI1SK":{"S":"LINE#00001"}', 1, true))
    local none, msg, name = st:get("LINE", { image_id = IMG, line_id = 2 })
    assert.is_nil(none)
    assert.truthy(msg:find("not found", 1, true))
    assert.are.equal("ENOTFOUND", name)
  end)

  it("rejects bad fields naming the entity and the field", function()
    local ok, msg, name = st:put("LINE", geom("x", { image_id = IMG, line_id = 0 }))
    assert.is_nil(ok)
    assert.are.equal("LINE.line_id: must be greater than 0", msg)
    assert.are.equal("EINVAL", name)
    ok, msg = st:put("WORD", geom("x", { image_id = IMG, line_id = 0, word_id = 0, confidence = 1.5 }))
    assert.are.equal("WORD.confidence: must be > 0 and <= 1", msg)
    ok, msg = st:put("OCR_JOB", { image_id = IMG, job_id = "nope", s3_bucket = "b", s3_key = "k",
      created_at = store.now() })
    assert.are.equal("OCR_JOB.job_id: must be a UUIDv4", msg)
    ok, msg = st:put("OCR_JOB", { image_id = IMG, job_id = JOB, s3_bucket = "b", s3_key = "k",
      created_at = store.now(), job_type = "SECOND" })
    assert.are.equal("OCR_JOB.job_type: must be one of FIRST_PASS, REFINEMENT", msg)
    assert.has_error(function() st:put("NOPE", {}) end)
    assert.has_error(function() st:put("LINE", 42) end)
    assert.has_error(function() st:put("LINE", { text = print }) end)
  end)

  it("round-trips every entity type through put, get, query and delete", function()
    local RUN = store.uuid4()
    local ts = "2025-10-24T12:00:00.123456+00:00"
    local cases = {
      { "IMAGE", { image_id = IMG, width = 10, height = 20, timestamp_added = ts, raw_s3_bucket = "raw",
        raw_s3_key = "raw/a.png", image_type = "PHOTO", receipt_count = 2, sha256 = "ab" },
        { image_id = IMG } },
      { "LINE", geom("l", { image_id = IMG, line_id = 2 }), { image_id = IMG, line_id = 2 } },
      { "WORD", geom("w", { image_id = IMG, line_id = 2, word_id = 3 }), { image_id = IMG, line_id = 2, word_id = 3 } },
      { "LETTER", geom("x", { image_id = IMG, line_id = 2, word_id = 3, letter_id = 4 }),
        { image_id = IMG, line_id = 2, word_id = 3, letter_id = 4 } },
      { "RECEIPT", { image_id = IMG, receipt_id = 1, width = 5, height = 9, timestamp_added = ts,
        raw_s3_bucket = "raw", raw_s3_key = "raw/r.png", top_left = { x = 0.1, y = 0.9 },
        top_right = { x = 0.9, y = 0.9 }, bottom_left = { x = 0.1, y = 0.1 }, bottom_right = { x = 0.9, y = 0.1 } },
        { image_id = IMG, receipt_id = 1 } },
      { "RECEIPT_LINE", geom("rl", { image_id = IMG, receipt_id = 1, line_id = 2 }),
        { image_id = IMG, receipt_id = 1, line_id = 2 } },
      { "RECEIPT_WORD", geom("rw", { image_id = IMG, receipt_id = 1, line_id = 2, word_id = 3, is_noise = true,
        embedding_status = "PENDING" }), { image_id = IMG, receipt_id = 1, line_id = 2, word_id = 3 } },
      { "RECEIPT_LETTER", geom("r", { image_id = IMG, receipt_id = 1, line_id = 2, word_id = 3, letter_id = 4 }),
        { image_id = IMG, receipt_id = 1, line_id = 2, word_id = 3, letter_id = 4 } },
      { "OCR_JOB", { image_id = IMG, job_id = JOB, s3_bucket = "b", s3_key = "k", created_at = ts,
        job_type = "REFINEMENT", receipt_id = 1 }, { image_id = IMG, job_id = JOB } },
      { "OCR_ROUTING_DECISION", { image_id = IMG, job_id = JOB, s3_bucket = "b", s3_key = "ocr.json",
        created_at = ts, status = "PENDING", receipt_count = 0 }, { image_id = IMG, job_id = JOB } },
      { "RECEIPT_METADATA", { image_id = IMG, receipt_id = 1, place_id = "P", merchant_name = "Shop",
        validated_by = "PHONE_LOOKUP", timestamp = ts, matched_fields = { "phone" }, phone_number = "805-917-4200" },
        { image_id = IMG, receipt_id = 1 } },
      { "COMPACTION_RUN", { run_id = RUN, image_id = IMG, receipt_id = 1, lines_delta_prefix = "lines/delta/r/",
        words_delta_prefix = "words/delta/r/", created_at = ts }, { image_id = IMG, receipt_id = 1, run_id = RUN } },
      { "COMPACTION_LOCK", { lock_id = "chroma-words-update", owner = OWNER, collection = "words", expires = ts },
        { collection = "words", lock_id = "chroma-words-update" } },
      { "PLACES_CACHE", { search_type = "URL", search_value = "Example.com/A B", place_id = "P",
        places_response = "{}", last_updated = ts, query_count = 3 }, { search_type = "URL", search_value = "Example.com/A B" } },
    }
    assert.are.equal(#store.types, #cases)
    for _, c in ipairs(cases) do
      local ty, fields, ids = c[1], c[2], c[3]
      assert.is_true(st:put(ty, fields), ty)
      local got = assert(st:get(ty, ids), ty)
      for k, v in pairs(fields) do
        if type(v) ~= "table" and k ~= "confidence" then assert.are.equal(v, got[k], ty .. "." .. k) end
      end
      for k, v in pairs(ids) do
        if k ~= "search_value" then assert.are.equal(v, got[k], ty .. " id " .. k) end
      end
      local list = st:query(ty, ids)
      assert.are.equal(1, #list, ty)
    end
    assert.are.equal("UNSURE", st:get("RECEIPT_METADATA", { image_id = IMG, receipt_id = 1 }).validation_status)
    local run = assert(st:update("COMPACTION_RUN", { image_id = IMG, receipt_id = 1, run_id = RUN },
      { lines_state = "PROCESSING", lines_started_at = store.now() }, { condition = "exists" }))
    assert.are.equal("PROCESSING", run.lines_state)
    assert.are.equal("PENDING", run.words_state)
    assert.are.equal(0, run.lines_merged_vectors)
    for i = #cases, 1, -1 do
      assert.is_true(st:delete(cases[i][1], cases[i][3]), cases[i][1])
      assert.are.equal("ENOTFOUND", select(3, st:get(cases[i][1], cases[i][3])))
    end
  end)

  it("keeps conditions: not_exists, exists, lock_free, owner", function()
    local job = { image_id = IMG, job_id = JOB, s3_bucket = "raw", s3_key = "raw/x.png",
      created_at = "2025-10-24T12:00:00" }
    assert.is_true(st:put("OCR_JOB", job, { condition = "not_exists" }))
    local ok, msg, name = st:put("OCR_JOB", job, { condition = "not_exists" })
    assert.is_nil(ok)
    assert.are.equal("ECONFLICT", name)
    assert.truthy(msg:find("attribute_not_exists", 1, true))
    local upd = assert(st:update("OCR_JOB", { image_id = IMG, job_id = JOB },
      { status = "COMPLETED", updated_at = "2025-10-24T12:01:00" }, { condition = "exists" }))
    assert.are.equal("COMPLETED", upd.status)
    local raw = st:get_item("IMAGE#" .. IMG, "OCR_JOB#" .. JOB)
    assert.are.equal("OCR_JOB_STATUS#PENDING", raw.GSI1PK.S) -- like the Swift worker's UpdateItem

    local lock = { lock_id = "chroma-lines-update", owner = OWNER, collection = "lines",
      expires = "2025-10-24T12:03:00+00:00" }
    local now = "2025-10-24T12:00:00+00:00"
    assert.is_true(st:put("COMPACTION_LOCK", lock, { condition = "lock_free", now = now }))
    assert.are.equal("ECONFLICT", select(3, st:put("COMPACTION_LOCK", lock, { condition = "lock_free", now = now })))
    local other = store.uuid4()
    assert.are.equal("ECONFLICT", select(3, st:delete("COMPACTION_LOCK",
      { collection = "lines", lock_id = "chroma-lines-update" }, { condition = "owner", owner = other })))
    -- a heartbeat conditioned on the owner
    lock.expires = "2025-10-24T12:06:00+00:00"
    lock.heartbeat = "2025-10-24T12:03:00+00:00"
    assert.is_true(st:put("COMPACTION_LOCK", lock, { condition = "owner", owner = OWNER }))
    local got = assert(st:get("COMPACTION_LOCK", { collection = "lines", lock_id = "chroma-lines-update" }))
    assert.are.equal("chroma-lines-update", got.lock_id)
    assert.are.equal("2025-10-24T12:06:00+00:00", got.expires)
    assert.is_true(st:delete("COMPACTION_LOCK", { collection = "lines", lock_id = "chroma-lines-update" },
      { condition = "owner", owner = OWNER }))
    assert.has_error(function() st:put("OCR_JOB", job, { condition = "sometimes" }) end)
  end)

  it("runs a transaction all or nothing", function()
    local img = { image_id = IMG, width = 100, height = 200, timestamp_added = store.now(),
      raw_s3_bucket = "raw", raw_s3_key = "raw/a.png" }
    local job = { image_id = IMG, job_id = JOB, s3_bucket = "raw", s3_key = "raw/x.png",
      created_at = "2025-10-24T12:00:00" }
    assert.is_true(st:put("OCR_JOB", job))
    local ok, msg, name = st:transaction(function(b)
      b:put("IMAGE", img)
      b:put("OCR_JOB", job, { condition = "not_exists" }) -- fails
    end)
    assert.is_nil(ok)
    assert.are.equal("ECONFLICT", name)
    assert.truthy(msg:find("op 2", 1, true))
    assert.are.equal("ENOTFOUND", select(3, st:get("IMAGE", { image_id = IMG })))
    -- an error inside the function discards the batch and propagates
    assert.has_error(function()
      st:transaction(function(b) b:put("IMAGE", img); error("boom") end)
    end, nil)
    assert.are.equal("ENOTFOUND", select(3, st:get("IMAGE", { image_id = IMG })))
    assert.is_true(st:transaction(function(b)
      b:put("IMAGE", img)
      b:check("OCR_JOB", { image_id = IMG, job_id = JOB }, { condition = "exists" })
      b:delete("OCR_JOB", { image_id = IMG, job_id = JOB })
    end))
    local image = assert(st:get("IMAGE", { image_id = IMG }))
    assert.are.equal(100, image.width)
    assert.are.equal("SCAN", image.image_type)
    assert.are.equal("ENOTFOUND", select(3, st:get("OCR_JOB", { image_id = IMG, job_id = JOB })))
  end)

  it("queries by key prefix and by each index, with pages", function()
    for l = 1, 3 do
      assert.is_true(st:put("RECEIPT_LINE", geom("line " .. l, { image_id = IMG, receipt_id = 1, line_id = l })))
      for w = 1, 2 do
        assert.is_true(st:put("RECEIPT_WORD", geom("w", { image_id = IMG, receipt_id = 1, line_id = l, word_id = w })))
      end
    end
    assert.is_true(st:put("RECEIPT_LINE", geom("other", { image_id = IMG, receipt_id = 2, line_id = 1 })))
    local lines = st:query("RECEIPT_LINE", { image_id = IMG, receipt_id = 1 })
    assert.are.equal(3, #lines)
    assert.are.equal("line 1", lines[1].text)
    assert.are.equal(1, lines[1].receipt_id)
    assert.are.equal("NONE", lines[1].embedding_status)
    assert.is_false(lines[1].is_noise)
    local words = st:query("RECEIPT_WORD", { image_id = IMG, receipt_id = 1, line_id = 2 })
    assert.are.equal(2, #words)
    -- GSI3: a receipt's words; GSI1: by embedding status
    local g3 = st:query_index("GSI3", "IMAGE#" .. IMG .. "#RECEIPT#00001", { prefix = "WORD" })
    assert.are.equal(6, #g3)
    local g1 = st:query_index("GSI1", "EMBEDDING_STATUS#NONE", { prefix = "LINE#" })
    assert.are.equal(4, #g1)
    local ty = st:query_index("GSITYPE", "RECEIPT_WORD", { raw = true })
    assert.are.equal(6, #ty)
    assert.are.equal("RECEIPT_WORD", ty[1].TYPE.S)
    -- runs, newest first, three at a time
    for i = 1, 7 do
      assert.is_true(st:put("COMPACTION_RUN", { run_id = store.uuid4(), image_id = IMG, receipt_id = 1,
        lines_delta_prefix = "lines/delta/x/", words_delta_prefix = "words/delta/x/",
        created_at = string.format("2025-10-24T12:00:%02d", i) }))
    end
    local seen, cursor, pages = {}, nil, 0
    repeat
      local page
      page, cursor = st:query_index("GSI1", "RUNS", { prefix = "CREATED_AT#", descending = true, limit = 3, cursor = cursor })
      pages = pages + 1
      for _, r in ipairs(page) do seen[#seen + 1] = r.created_at end
    until not cursor
    assert.are.equal(3, pages)
    assert.are.same({ "2025-10-24T12:00:07", "2025-10-24T12:00:06", "2025-10-24T12:00:05", "2025-10-24T12:00:04",
      "2025-10-24T12:00:03", "2025-10-24T12:00:02", "2025-10-24T12:00:01" }, seen)
    local mid = st:query_index("GSI1", "RUNS", { between = { "CREATED_AT#2025-10-24T12:00:02", "CREATED_AT#2025-10-24T12:00:03" } })
    assert.are.equal(2, #mid)
  end)

  it("round-trips hostile text: quotes, %, NUL, 10 KB", function()
    local nasty = "'; DROP TABLE items; -- %s %n \"q\" \\ \0 after-nul é 😀 "
    local big = string.rep(nasty, math.ceil(10240 / #nasty))
    assert.is_true(st:put("WORD", geom(big, { image_id = IMG, line_id = 1, word_id = 1,
      extracted_data = { type = "x'%\0", value = nasty } })))
    local w = assert(st:get("WORD", { image_id = IMG, line_id = 1, word_id = 1 }))
    assert.are.equal(big, w.text)
    assert.are.equal(nasty, w.extracted_data.value)
    assert.are.equal("x'%\0", w.extracted_data.type)
    assert.is_true(st:put_item({ PK = { S = nasty }, SK = { S = "%%" }, v = { S = big } }))
    local it = assert(st:get_item(nasty, "%%"))
    assert.are.equal(big, it.v.S)
    local bad, msg = st:put("WORD", geom("\xff\xfe", { image_id = IMG, line_id = 1, word_id = 2 }))
    assert.is_nil(bad)
    assert.are.equal("WORD.text: must be valid UTF-8", msg)
  end)

  it("has an SQS-like queue", function()
    local q = assert(st:queue("ocr-jobs"))
    local id = assert(q:send('{"job_id":"1","image_id":"2"}'))
    assert.is_true(store.is_uuid4(id))
    local msgs = q:receive(10, 0.2)
    assert.are.equal(1, #msgs)
    assert.are.equal(id, msgs[1].id)
    assert.are.equal(1, msgs[1].receive_count)
    assert.are.equal(0, #q:receive(10, 0.2)) -- invisible
    local vis, inflight = q:count()
    assert.are.equal(0, vis)
    assert.are.equal(1, inflight)
    os.execute("sleep 0.3")
    local again = q:receive(10, 30)
    assert.are.equal(1, #again)
    assert.are.equal(2, again[1].receive_count)
    assert.are.equal("ENOTFOUND", select(3, q:delete(msgs[1].receipt))) -- stale handle
    assert.is_true(q:delete(again[1].receipt))
    assert.are.equal(0, (q:count()))
    q:close()
    assert.has_error(function() q:send("x") end)
  end)

  it("closes idempotently and refuses use after close", function()
    do
      local s2 <close> = assert(store.open("sqlite:" .. dir .. "/s2.db"))
      assert.truthy(tostring(s2):find("sqlite", 1, true))
    end
    st:close()
    st:close()
    assert.has_error(function() st:get("IMAGE", { image_id = IMG }) end)
    st = nil
  end)

  local has_ocr, ocr = pcall(require, "rcpt.ocr")
  local real = env.data .. "/vision_bar_receipt.ocr.json"
  ;(has_ocr and it or pending)("stores a real OCR doc twice with the same rows", function()
    local doc = assert(ocr.parse(env.read(real)))
    local n = assert(st:put_ocr(IMG, doc, { receipt_id = 1 }))
    assert.are.equal(2 * (24 + 62 + 306), n)
    local f1 = dir .. "/e1.jsonl"
    assert(st:export(f1))
    assert(st:put_ocr(IMG, doc, { receipt_id = 1 }))
    local f2 = dir .. "/e2.jsonl"
    assert(st:export(f2))
    assert.are.equal(env.read(f1), env.read(f2))
    assert.are.equal(24, #st:query("LINE", { image_id = IMG }))
    assert.are.equal(62, #st:query("RECEIPT_WORD", { image_id = IMG, receipt_id = 1 }))
    local first = st:get("LINE", { image_id = IMG, line_id = 1 })
    assert.are.equal("614 Gravier LLC", first.text)
  end)

  it("export -> import -> export is byte-identical through the commands", function()
    st:put("IMAGE", { image_id = IMG, width = 3, height = 4, timestamp_added = "2025-10-24T12:00:00+00:00",
      raw_s3_bucket = "raw", raw_s3_key = "raw/é.png", receipt_count = 1 })
    st:put("RECEIPT_METADATA", { image_id = IMG, receipt_id = 1, place_id = "ChIJ1", merchant_name = "Café \"Q\"",
      validated_by = "INFERENCE", timestamp = store.now(), matched_fields = { "google_places_phone", "name" } })
    st:put("PLACES_CACHE", { search_type = "ADDRESS", search_value = "614 Gravier St.", place_id = "ChIJ1",
      places_response = '{"name":"x"}', last_updated = store.now(true) })
    for l = 1, 40 do st:put("LINE", geom("line\t" .. l, { image_id = IMG, line_id = l })) end
    st:close()
    st = nil
    local a, b = dir .. "/a.jsonl", dir .. "/b.jsonl"
    local code, _, err = env.rcpt({ "export", "--store", "sqlite:" .. dir .. "/s.db", "-o", a })
    assert.are.equal(0, code, err)
    assert.truthy(err:find("exported 43 items", 1, true))
    code, _, err = env.rcpt({ "import", "--store", "sqlite:" .. dir .. "/t.db", a })
    assert.are.equal(0, code, err)
    assert.truthy(err:find("imported 43 items", 1, true))
    code = env.rcpt({ "export", "-o", b }, { env = { RCPT_STORE = "sqlite:" .. dir .. "/t.db" } })
    assert.are.equal(0, code)
    local ta = env.read(a)
    assert.are.equal(ta, env.read(b))
    assert.truthy(ta:find('{"Item":{"PK":{"S":"IMAGE#' .. IMG .. '"}', 1, true))
    -- stdout export equals the file export
    local _, out = env.rcpt({ "export", "--store", "sqlite:" .. dir .. "/t.db" })
    assert.are.equal(ta, out)
    -- a broken line names its number, exit 1
    env.write(dir .. "/bad.jsonl", ta:match("^[^\n]*\n") .. '{"Item":{"PK":{"S":"x"},"SK":{"N":"nope"}}}\n')
    code, _, err = env.rcpt({ "import", "--store", "sqlite:" .. dir .. "/u.db", dir .. "/bad.jsonl" })
    assert.are.equal(1, code)
    assert.truthy(err:find("line 2", 1, true), err)
  end)

  it("lets two processes write one SQLite file at the same time", function()
    st:close()
    st = nil
    local script = dir .. "/writer.lua"
    env.write(script, [[
      local store = require("rcpt.store")
      local who, path = ...
      local st = assert(store.open("sqlite:" .. path))
      local q = assert(st:queue("jobs"))
      for i = 1, 150 do
        local ok, msg = st:transaction(function(b)
          for k = 1, 5 do
            b:put("LINE", {
              image_id = "3f52804b-2fad-4e00-92c8-b593da3a8ed3", line_id = (who == "A" and 0 or 1000) + i * 5 + k,
              text = who .. i, bounding_box = { x = 0, y = 0, width = 1, height = 1 },
              top_left = { x = 0, y = 1 }, top_right = { x = 1, y = 1 }, bottom_left = { x = 0, y = 0 },
              bottom_right = { x = 1, y = 0 }, angle_degrees = 0, angle_radians = 0, confidence = 1 })
          end
        end)
        if not ok then io.stderr:write("FAIL ", msg, "\n") os.exit(1) end
        local id, err = q:send(who .. i)
        if not id then io.stderr:write("FAIL ", err, "\n") os.exit(1) end
        local ok2, err2 = st:put_item({ PK = { S = "COUNTER#" .. who }, SK = { S = tostring(i) } })
        if not ok2 then io.stderr:write("FAIL ", err2, "\n") os.exit(1) end
      end
      st:close()
    ]])
    local db = dir .. "/shared.db"
    local cmd = string.format("(%s lua %s A %s 2>%s/A.err & %s lua %s B %s 2>%s/B.err & wait) ",
      env.quote(env.bin), env.quote(script), env.quote(db), dir, env.quote(env.bin), env.quote(script),
      env.quote(db), dir)
    os.execute(cmd)
    local ea, eb = env.read(dir .. "/A.err"), env.read(dir .. "/B.err")
    assert.are.equal("", ea)
    assert.are.equal("", eb)
    assert.falsy((ea .. eb):find("locked", 1, true))
    local s2 = assert(store.open("sqlite:" .. db))
    assert.are.equal(1500, #s2:query("LINE", { image_id = IMG }))
    local vis = s2:queue("jobs"):count()
    assert.are.equal(300, vis)
    s2:close()
  end)
end)
