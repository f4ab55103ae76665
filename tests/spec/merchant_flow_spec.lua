-- The merchant + embedding step over the real pipeline (issue 5 items 5-8):
-- `rcpt ingest` of synthetic NATIVE receipts (rcpt.synth) on a temp store,
-- Places through the loopback fixture, the local embedder, deltas,
-- CompactionRuns and local compaction; under both pipelines (default: in
-- the OCR job; legacy: NDJSON export + the embed queue drained by ingest).
local cjson = require("cjson")
local env = require("support.env")
local fixture = require("support.fixture")
local synth = require("rcpt.synth")
local store = require("rcpt.store")

local PLACES_KEY = "fake-places-key-0123456789"
local HERON = synth.MERCHANTS[2] -- BLUE HERON COFFEE, (608) 555-0117, 218 LAKEVIEW AVE
local BBQ = synth.MERCHANTS[5]   -- LONE STAR BBQ, another merchant
assert(HERON.name == "BLUE HERON COFFEE" and BBQ.name == "LONE STAR BBQ")

local HERON_PLACE = {
  place_id = "ChIJ-blue-heron-madison", name = "Blue Heron Coffee",
  formatted_address = "218 Lakeview Ave, Madison, WI 53703, USA",
  formatted_phone_number = "(608) 555-0117", international_phone_number = "+1 608-555-0117",
  types = { "cafe", "food", "point_of_interest", "establishment" },
  geometry = { location = { lat = 43.0747, lng = -89.3841 } }, business_status = "OPERATIONAL",
}

-- A world: a temp dir with the store, the objects and the vector cache.
local function world()
  local dir = env.tmpdir()
  local w = { dir = dir, db = dir .. "/rcpt.db", objects = "file:" .. dir .. "/objects" }
  w.env = { RCPT_STORE = "sqlite:" .. w.db, RCPT_OBJECTS = w.objects, RCPT_VEC_CACHE = dir .. "/vec-cache",
    RCPT_EMBED_DIM = "256", RCPT_LOG_LEVEL = "warn" }
  function w.ingest(merchant, seed, extra, lua_dir)
    local r = synth.native{ merchant = merchant, seed = seed }
    local stem = string.format("%s/r%d", dir, seed)
    env.write(stem .. ".png", r.image_bytes)
    env.write(stem .. ".json", r.ocr_json)
    local e = {}
    for k, v in pairs(w.env) do e[k] = v end
    for k, v in pairs(extra or {}) do e[k] = v end
    local args = { "ingest", "--json", stem .. ".png", stem .. ".json" }
    if lua_dir then table.insert(args, 1, lua_dir); table.insert(args, 1, "--lua") end
    local code, out, err = env.rcpt(args, { env = e })
    assert(code == 0, "rcpt ingest failed (" .. tostring(code) .. "): " .. out .. err)
    local sum = cjson.decode(out)
    return sum, err
  end
  function w.store()
    return assert(store.open("sqlite:" .. w.db))
  end
  function w.metadata(image_id)
    local st <close> = w.store()
    return st:get("RECEIPT_METADATA", { image_id = image_id, receipt_id = 1 })
  end
  function w.count(type_, ids)
    local st <close> = w.store()
    local rows = assert(st:query(type_, ids))
    return #rows
  end
  function w.runs()
    local st <close> = w.store()
    return assert(st:query_index("GSI1", "RUNS", { type = "COMPACTION_RUN" }))
  end
  function w.close() env.rmrf(dir) end
  return w
end

local function places_requests(srv) return #srv.requests() end

for _, pipeline in ipairs({ "default", "legacy" }) do
  describe("merchant resolution (" .. pipeline .. " pipeline)", function()
    it("the first receipt through Places, the later ones of that merchant from the vector store alone", function()
      local srv = fixture.places({ key = PLACES_KEY, places = { HERON_PLACE }, rules = {} })
      local w = world()
      finally(function() srv.stop(); w.close() end)
      local places_env = { RCPT_PIPELINE = pipeline, GOOGLE_PLACES_API_KEY = PLACES_KEY,
        RCPT_PLACES_BASE_URL = srv.endpoint .. "/maps/api/place" }

      -- 1: empty store -> Places
      local s1, log1 = w.ingest(2, 11, places_env)
      assert.is_true(s1.success)
      assert.is_nil(log1:find(PLACES_KEY, 1, true)) -- the key never in a log line
      if pipeline == "legacy" then
        -- exported per §6.8 and consumed from the embed queue by ingest
        local base = string.format("%s/objects/site/receipts/%s/receipt-00001/", w.dir, s1.image_id)
        local rows = require("rcpt.merchant.legacy_ndjson").decode(env.read(base .. "lines.ndjson"))
        assert.are.equal(s1.result.counts.lines, #rows)
        assert.is_nil(env.read(base .. "words.ndjson"):find("\n$"))
        assert.are.equal(1, s1.embed.processed)
        assert.are.equal(0, s1.embed.failed)
        assert.is_nil(s1.result.merchant[1].merchant_name) -- not resolved in the OCR job
      else
        assert.are.equal("Blue Heron Coffee", s1.result.merchant[1].merchant_name)
        assert.is_nil(s1.embed)
      end
      local n1 = places_requests(srv)
      assert.is_true(n1 > 0, "the first receipt must ask Places")
      local m1 = assert(w.metadata(s1.image_id))
      assert.are.equal(HERON_PLACE.place_id, m1.place_id)
      assert.are.equal("Blue Heron Coffee", m1.merchant_name)
      assert.is_truthy(({ PHONE_LOOKUP = 1, ADDRESS_LOOKUP = 1, TEXT_SEARCH = 1 })[m1.validated_by], m1.validated_by)
      -- what actually matched: the Places phone and the street both agree with the receipt
      local mf = {}
      for _, f in ipairs(m1.matched_fields) do mf[f] = true end
      assert.is_true(mf.phone and mf.address, table.concat(m1.matched_fields, ","))
      assert.are.equal("MATCHED", m1.validation_status)
      -- vectors: a run per receipt, compacted (RCPT_COMPACT_AFTER defaults on locally)
      local runs = w.runs()
      assert.are.equal(1, #runs)
      assert.are.equal("COMPLETED", runs[1].lines_state)
      assert.are.equal("COMPLETED", runs[1].words_state)
      assert.is_true(runs[1].lines_merged_vectors > 10 and runs[1].words_merged_vectors > runs[1].lines_merged_vectors)

      -- 2 and 3: the same merchant, other receipts -> the vector store, no Places request
      for _, seed in ipairs({ 12, 13 }) do
        local s = w.ingest(2, seed, places_env)
        assert.is_true(s.success)
        assert.are.equal(n1, places_requests(srv), "receipt " .. seed .. " must not ask Places")
        local m = assert(w.metadata(s.image_id))
        assert.are.equal("Blue Heron Coffee", m.merchant_name)
        assert.are.equal(HERON_PLACE.place_id, m.place_id)
        assert.are.equal("ADDRESS_LOOKUP", m.validated_by) -- street-first over the vectors
        assert.is_truthy(m.reasoning:find("vector:street-first neighbour IMAGE#", 1, true), m.reasoning)
        assert.are.equal("MATCHED", m.validation_status)
      end
      assert.are.equal(3, #w.runs())

      -- 4: another merchant matches none of them
      local s4 = w.ingest(5, 14, places_env)
      assert.is_true(s4.success)
      assert.is_true(places_requests(srv) > n1, "a receipt with no vector match asks Places")
      local m4 = assert(w.metadata(s4.image_id))
      assert.are_not.equal("Blue Heron Coffee", m4.merchant_name)
      assert.are_not.equal(HERON_PLACE.place_id, m4.place_id)
      assert.are.equal("INFERENCE", m4.validated_by)
      assert.are.equal(BBQ.name, m4.merchant_name) -- the header guess
    end)

    it("with no Places key and an empty store: an INFERENCE row, then a phone+address match in the vectors", function()
      local w = world()
      finally(function() w.close() end)
      local e = { RCPT_PIPELINE = pipeline, GOOGLE_PLACES_API_KEY = "", RCPT_PLACES_API_KEY = "" }
      local s1 = w.ingest(2, 21, e)
      assert.is_true(s1.success)
      local m1 = assert(w.metadata(s1.image_id))
      assert.are.equal("INFERENCE", m1.validated_by)
      assert.are.equal(HERON.name, m1.merchant_name)
      assert.are.equal("", m1.place_id)
      assert.is_truthy(({ NO_MATCH = 1, UNSURE = 1 })[m1.validation_status], m1.validation_status)

      local s2 = w.ingest(2, 22, e)
      local m2 = assert(w.metadata(s2.image_id))
      assert.are.equal(HERON.name, m2.merchant_name)
      assert.are.equal("ADDRESS_LOOKUP", m2.validated_by)
      local mf = {}
      for _, f in ipairs(m2.matched_fields) do mf[f] = true end
      assert.is_true(mf.phone and mf.address, table.concat(m2.matched_fields, ","))
      assert.is_truthy(m2.reasoning:find(s1.image_id, 1, true), m2.reasoning)
    end)
  end)
end

describe("merchant step", function()
  it("re-processing the same record writes the same rows: one ReceiptMetadata, no second CompactionRun", function()
    local w = world()
    finally(function() w.close() end)
    local s1 = w.ingest(3, 31, {})
    local runs1 = w.runs()
    assert.are.equal(1, #runs1)
    local m1 = assert(w.metadata(s1.image_id))
    -- the same SQS message again, through the Lambda handler (`rcpt invoke`)
    local event = cjson.encode({ Records = { { messageId = "again", eventSource = "aws:sqs",
      body = cjson.encode({ job_id = s1.job_id, image_id = s1.image_id }) } } })
    local code, out, err = env.rcpt({ "invoke", "--results", "-" }, { env = w.env, stdin = event })
    assert(code == 0, out .. err)
    local r = cjson.decode(out).results[1]
    assert.is_true(r.success, out)
    assert.is_true(r.merchant[1].run_existed, out)
    local runs2 = w.runs()
    assert.are.equal(1, #runs2)
    assert.are.equal(runs1[1].run_id, runs2[1].run_id)
    local m2 = assert(w.metadata(s1.image_id))
    assert.are.equal(m1.timestamp, m2.timestamp) -- not rewritten
    assert.are.equal(m1.merchant_name, m2.merchant_name)
  end)

  it("a pipeline copy without enable_places never calls Places, whatever the environment says", function()
    local srv = fixture.places({ key = PLACES_KEY, places = { HERON_PLACE }, rules = {} })
    local w = world()
    finally(function() srv.stop(); w.close() end)
    local lua_dir = w.dir .. "/lua"
    os.execute("mkdir -p " .. env.quote(lua_dir .. "/pipelines"))
    local text = env.read(env.src .. "/lua/pipelines/default.lua")
    local edited, n = text:gsub('"enable_places", ', "")
    assert.are.equal(1, n)
    env.write(lua_dir .. "/pipelines/default.lua", edited)
    local s = w.ingest(2, 41, { GOOGLE_PLACES_API_KEY = PLACES_KEY,
      RCPT_PLACES_BASE_URL = srv.endpoint .. "/maps/api/place" }, lua_dir)
    assert.is_true(s.success)
    assert.are.equal(0, #srv.requests())
    local m = assert(w.metadata(s.image_id))
    assert.are.equal("INFERENCE", m.validated_by)
    assert.are.equal(HERON.name, m.merchant_name)
    -- and the unedited pipeline on the same machine does ask Places
    local s2 = w.ingest(5, 42, { GOOGLE_PLACES_API_KEY = PLACES_KEY,
      RCPT_PLACES_BASE_URL = srv.endpoint .. "/maps/api/place" })
    assert.is_true(s2.success)
    assert.is_true(#srv.requests() > 0)
  end)

  it("an embedding failure keeps the OCR rows and the merchant, reports the error, and does not fail the record", function()
    local srv = fixture.openai({ key = "sk-test-embed-key-xyz", rules = { { mode = "http_500" } } })
    local w = world()
    finally(function() srv.stop(); w.close() end)
    local s = w.ingest(2, 51, { RCPT_EMBED_API_KEY = "sk-test-embed-key-xyz", RCPT_EMBED_BASE_URL = srv.endpoint,
      RCPT_EMBED_DIM = "" })
    assert.is_true(s.success)
    local r = s.result
    assert.is_string(r.embedding_error)
    assert.is_truthy(r.embedding_error:find("500", 1, true), r.embedding_error)
    assert.is_nil(r.embedding_error:find("sk-test-embed-key-xyz", 1, true))
    assert.is_true(#srv.requests() >= 2) -- retried before giving up
    -- OCR rows stored, merchant resolved (header guess), no delta, no run
    assert.is_true(w.count("RECEIPT_LINE", { image_id = s.image_id, receipt_id = 1 }) > 10)
    assert.is_true(w.count("RECEIPT_WORD", { image_id = s.image_id, receipt_id = 1 }) > 30)
    local m = assert(w.metadata(s.image_id))
    assert.are.equal(HERON.name, m.merchant_name)
    assert.are.equal(0, #w.runs())
  end)
end)
