-- The entity-store behaviour cases, run against every backend:
-- (a spec loads this file with loadfile(path, "t", _ENV): busted's describe and it live in
-- the spec's environment)
--   require("support.store_suite").run("rcpt.store on X", {
--     backend = "sqlite" | "dynamodb",
--     new_store = function() return st, url end,  -- a fresh, empty store and its URL
--     drop = function(url) end,                   -- optional: remove it after the case
--     exact_numbers = bool,   -- the store keeps N text as written (SQLite); DynamoDB normalises
--   })
local env = require("support.env")
local canon = require("support.ddb_canon")
local store = require("rcpt.store")

local M = {}

M.IMG = "3f52804b-2fad-4e00-92c8-b593da3a8ed3"
local IMG = M.IMG
local JOB = "a1b2c3d4-0000-4000-8000-000000000001"
local OWNER = "c1b2c3d4-2222-4222-a222-000000000003"

function M.geom(text, extra)
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
local geom = M.geom

local function export_text(st, dir, name)
  local f = dir .. "/" .. name
  assert(st:export(f))
  return env.read(f)
end
M.export_text = export_text

function M.run(title, o)
  describe(title, function()
    local dir, st, url

    before_each(function()
      dir = env.tmpdir()
      st, url = o.new_store()
      assert(st, url)
    end)

    after_each(function()
      if st then st:close() end
      if o.drop and url then o.drop(url) end
      env.rmrf(dir)
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
      if o.exact_numbers then
        assert.are.equal("0.10000000000000000000", item.bounding_box.M.x.N)
        assert.are.equal("1.00", item.confidence.N)
      else -- DynamoDB keeps the number, not its text
        assert.are.equal("0.1", canon.number(item.bounding_box.M.x.N))
        assert.are.equal("1", item.confidence.N)
      end
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
      assert.has_error(function() st:put("NOPE", {}) end)
      assert.has_error(function() st:put("LINE", 42) end)
    end)

    it("round-trips every entity type through put, get, query, update and delete", function()
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

    it("keeps conditions: not_exists, exists, lock_free (string time compare), owner", function()
      local job = { image_id = IMG, job_id = JOB, s3_bucket = "raw", s3_key = "raw/x.png",
        created_at = "2025-10-24T12:00:00" }
      -- exists on a missing item: refused, nothing created
      local ok, msg, name = st:update("OCR_JOB", { image_id = IMG, job_id = JOB }, { status = "COMPLETED" },
        { condition = "exists" })
      assert.is_nil(ok)
      assert.are.equal("ECONFLICT", name)
      assert.truthy(msg:find("attribute_exists", 1, true), msg)
      assert.are.equal("ENOTFOUND", select(3, st:get_item("IMAGE#" .. IMG, "OCR_JOB#" .. JOB)))
      assert.is_true(st:put("OCR_JOB", job, { condition = "not_exists" }))
      ok, msg, name = st:put("OCR_JOB", job, { condition = "not_exists" })
      assert.is_nil(ok)
      assert.are.equal("ECONFLICT", name)
      assert.truthy(msg:find("attribute_not_exists", 1, true))
      local upd = assert(st:update("OCR_JOB", { image_id = IMG, job_id = JOB },
        { status = "COMPLETED", updated_at = "2025-10-24T12:01:00" }, { condition = "exists" }))
      assert.are.equal("COMPLETED", upd.status)
      assert.are.equal("raw/x.png", upd.s3_key)
      local raw = st:get_item("IMAGE#" .. IMG, "OCR_JOB#" .. JOB)
      assert.are.equal("OCR_JOB_STATUS#PENDING", raw.GSI1PK.S) -- like the Swift worker's UpdateItem
      assert.are.equal("COMPLETED", raw.status.S)

      local lock = { lock_id = "chroma-lines-update", owner = OWNER, collection = "lines",
        expires = "2025-10-24T12:03:00+00:00" }
      local now = "2025-10-24T12:00:00+00:00"
      assert.is_true(st:put("COMPACTION_LOCK", lock, { condition = "lock_free", now = now }))
      assert.are.equal("ECONFLICT", select(3, st:put("COMPACTION_LOCK", lock, { condition = "lock_free", now = now })))
      -- a string comparison: "...12:03:00+00:00" < "...12:03:00.5" but > "...12:02:59.9+00:00"
      assert.are.equal("ECONFLICT", select(3, st:put("COMPACTION_LOCK", lock,
        { condition = "lock_free", now = "2025-10-24T12:02:59.9+00:00" })))
      local other = store.uuid4()
      local taken = { lock_id = "chroma-lines-update", owner = other, collection = "lines",
        expires = "2025-10-24T12:08:00+00:00" }
      assert.is_true(st:put("COMPACTION_LOCK", taken, { condition = "lock_free", now = "2025-10-24T12:03:00.5" }))
      assert.are.equal(other, st:get("COMPACTION_LOCK", { collection = "lines", lock_id = "chroma-lines-update" }).owner)
      assert.are.equal("ECONFLICT", select(3, st:delete("COMPACTION_LOCK",
        { collection = "lines", lock_id = "chroma-lines-update" }, { condition = "owner", owner = OWNER })))
      -- a heartbeat conditioned on the owner
      taken.expires = "2025-10-24T12:11:00+00:00"
      taken.heartbeat = "2025-10-24T12:06:00+00:00"
      assert.is_true(st:put("COMPACTION_LOCK", taken, { condition = "owner", owner = other }))
      local got = assert(st:get("COMPACTION_LOCK", { collection = "lines", lock_id = "chroma-lines-update" }))
      assert.are.equal("2025-10-24T12:11:00+00:00", got.expires)
      assert.is_true(st:delete("COMPACTION_LOCK", { collection = "lines", lock_id = "chroma-lines-update" },
        { condition = "owner", owner = other }))
      assert.are.equal("ENOTFOUND", select(3, st:get("COMPACTION_LOCK",
        { collection = "lines", lock_id = "chroma-lines-update" })))
      assert.has_error(function() st:put("OCR_JOB", job, { condition = "sometimes" }) end)
    end)

    it("runs a transaction all or nothing; a failed condition cancels everything", function()
      local img = { image_id = IMG, width = 100, height = 200, timestamp_added = store.now(),
        raw_s3_bucket = "raw", raw_s3_key = "raw/a.png" }
      local job = { image_id = IMG, job_id = JOB, s3_bucket = "raw", s3_key = "raw/x.png",
        created_at = "2025-10-24T12:00:00" }
      assert.is_true(st:put("OCR_JOB", job))
      local ok, msg, name = st:transaction(function(b)
        b:put("IMAGE", img)
        b:put("LINE", geom("l", { image_id = IMG, line_id = 1 }))
        b:put("OCR_JOB", job, { condition = "not_exists" }) -- fails
      end)
      assert.is_nil(ok)
      assert.are.equal("ECONFLICT", name)
      assert.truthy(msg:find("op 3", 1, true), msg)
      assert.are.equal("ENOTFOUND", select(3, st:get("IMAGE", { image_id = IMG })))
      assert.are.equal("ENOTFOUND", select(3, st:get("LINE", { image_id = IMG, line_id = 1 })))
      -- a failed check cancels the writes beside it
      ok, msg, name = st:transaction(function(b)
        b:put("IMAGE", img)
        b:check("OCR_JOB", { image_id = IMG, job_id = store.uuid4() }, { condition = "exists" })
      end)
      assert.are.equal("ECONFLICT", name)
      assert.truthy(msg:find("op 2", 1, true), msg)
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
      assert.are.equal("line 3", lines[3].text)
      assert.are.equal(1, lines[1].receipt_id)
      assert.are.equal("NONE", lines[1].embedding_status)
      assert.is_false(lines[1].is_noise)
      local words = st:query("RECEIPT_WORD", { image_id = IMG, receipt_id = 1, line_id = 2 })
      assert.are.equal(2, #words)
      -- GSI3: a receipt's words; GSI1: by embedding status; GSI2: receipt words by image
      local g3 = st:query_index("GSI3", "IMAGE#" .. IMG .. "#RECEIPT#00001", { prefix = "WORD" })
      assert.are.equal(6, #g3)
      local g1 = st:query_index("GSI1", "EMBEDDING_STATUS#NONE", { prefix = "LINE#" })
      assert.are.equal(4, #g1)
      local g2 = st:query_index("GSI2", "RECEIPT", { prefix = "IMAGE#" .. IMG .. "#RECEIPT#00001#LINE#00003" })
      assert.are.equal(2, #g2)
      assert.are.equal(1, g2[1].word_id)
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
      -- a full last page ends the listing (no empty extra page)
      seen, cursor, pages = {}, nil, 0
      repeat
        local page
        page, cursor = st:query_index("GSI1", "RUNS", { limit = 7, cursor = cursor })
        pages = pages + 1
        for _, r in ipairs(page) do seen[#seen + 1] = r.created_at end
      until not cursor
      assert.are.equal(1, pages)
      assert.are.equal(7, #seen)
      local mid = st:query_index("GSI1", "RUNS", { between = { "CREATED_AT#2025-10-24T12:00:02", "CREATED_AT#2025-10-24T12:00:03" } })
      assert.are.equal(2, #mid)
      -- table pages through the SK order, two at a time
      local sks, pcur = {}, nil
      repeat
        local page
        page, pcur = st:query_index("TABLE", "IMAGE#" .. IMG, { prefix = "RECEIPT#00001#LINE#", limit = 2, cursor = pcur, raw = true })
        for _, r in ipairs(page) do sks[#sks + 1] = r.SK.S end
      until not pcur
      assert.are.equal(9, #sks)
      for i = 2, #sks do assert.is_true(sks[i - 1] < sks[i]) end
      assert.are.equal("EINVAL", select(3, st:query_index("GSI1", "RUNS", { cursor = "not a cursor" })))
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
      -- keys travel as C strings (get, delete): the NUL stays in values
      local key = nasty:gsub("%z", "")
      assert.is_true(st:put_item({ PK = { S = key }, SK = { S = "%%" }, v = { S = big } }))
      local it = assert(st:get_item(key, "%%"))
      assert.are.equal(big, it.v.S)
      assert.are.equal(key, it.PK.S)
      local bad, msg = st:put("WORD", geom("\xff\xfe", { image_id = IMG, line_id = 1, word_id = 2 }))
      assert.is_nil(bad)
      assert.are.equal("WORD.text: must be valid UTF-8", msg)
    end)

    local has_ocr, ocr = pcall(require, "rcpt.ocr")
    local real = env.data .. "/vision_bar_receipt.ocr.json"
    ;(has_ocr and it or pending)("stores the real bar receipt twice with the same rows", function()
      local doc = assert(ocr.parse(env.read(real)))
      local n = assert(st:put_ocr(IMG, doc, { receipt_id = 1 }))
      assert.are.equal(2 * (24 + 62 + 306), n)
      local e1 = export_text(st, dir, "e1.jsonl")
      assert(st:put_ocr(IMG, doc, { receipt_id = 1 }))
      assert.are.equal(e1, export_text(st, dir, "e2.jsonl"))
      assert.are.equal(24, #st:query("LINE", { image_id = IMG }))
      assert.are.equal(62, #st:query("RECEIPT_WORD", { image_id = IMG, receipt_id = 1 }))
      local first = st:get("LINE", { image_id = IMG, line_id = 1 })
      assert.are.equal("614 Gravier LLC", first.text)
      -- a receipt-only rewrite (392 rows) keeps the image rows
      assert(st:put_ocr(IMG, doc, { receipt_id = 1, image = false }))
      assert.are.equal(e1, export_text(st, dir, "e3.jsonl"))
    end)

    ;(has_ocr and it or pending)("replaces a large receipt's rows: stale rows removed, twice identical", function()
      local gen = require("support.gen_ocr")
      local big = assert(ocr.parse((gen({ lines = 25, words_per_line = 3, letters_per_word = 3, seed = 3 }))))
      local small = assert(ocr.parse((gen({ lines = 3, words_per_line = 2, letters_per_word = 2, seed = 4 }))))
      -- small first (42 rows: one transaction on DynamoDB), then the large one over it
      assert.are.equal(2 * (3 + 6 + 12), assert(st:put_ocr(IMG, small, { receipt_id = 2 })))
      assert.are.equal(2 * (3 + 6 + 12), #select(1, st:query_index("TABLE", "IMAGE#" .. IMG, { raw = true })))
      local n = assert(st:put_ocr(IMG, big, { receipt_id = 2 }))
      assert.are.equal(2 * (25 + 75 + 225), n)
      local e1 = export_text(st, dir, "b1.jsonl")
      assert(st:put_ocr(IMG, big, { receipt_id = 2 }))
      assert.are.equal(e1, export_text(st, dir, "b2.jsonl"))
      -- a smaller doc under the same ids leaves only its own rows (the stale ones are deleted)
      assert(st:put_ocr(IMG, small, { receipt_id = 2 }))
      assert.are.equal(3, #st:query("LINE", { image_id = IMG }))
      assert.are.equal(6, #st:query("RECEIPT_WORD", { image_id = IMG, receipt_id = 2 }))
      local all = select(1, st:query_index("TABLE", "IMAGE#" .. IMG, { raw = true }))
      assert.are.equal(2 * (3 + 6 + 12), #all)
      -- and back: the large doc's rows are all there again, byte for byte
      assert(st:put_ocr(IMG, big, { receipt_id = 2 }))
      assert.are.equal(e1, export_text(st, dir, "b3.jsonl"))
    end)

    it("exports and imports the same items", function()
      st:put("IMAGE", { image_id = IMG, width = 3, height = 4, timestamp_added = "2025-10-24T12:00:00+00:00",
        raw_s3_bucket = "raw", raw_s3_key = "raw/é.png", receipt_count = 1 })
      st:put("RECEIPT_METADATA", { image_id = IMG, receipt_id = 1, place_id = "ChIJ1", merchant_name = "Café \"Q\"",
        validated_by = "INFERENCE", timestamp = "2025-10-24T12:00:00+00:00", matched_fields = { "name", "google_places_phone" } })
      for l = 1, 40 do st:put("LINE", geom("line\t" .. l, { image_id = IMG, line_id = l })) end
      local a = export_text(st, dir, "a.jsonl")
      local lines = select(2, a:gsub("\n", ""))
      assert.are.equal(42, lines)
      local st2, url2 = o.new_store()
      finally(function()
        st2:close()
        if o.drop then o.drop(url2) end
      end)
      assert.are.equal(42, assert(st2:import(dir .. "/a.jsonl")))
      assert.are.equal(a, export_text(st2, dir, "b.jsonl"))
      assert.are.equal(40, #st2:query("LINE", { image_id = IMG }))
    end)
  end)
end

return M
