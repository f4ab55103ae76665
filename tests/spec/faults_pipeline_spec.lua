-- Fault injection through the whole OCR pipeline (issue 7 item 2): `rcpt
-- ingest` / `rcpt invoke` child processes with RCPT_FAULTS set
-- (core/util/fault.h).  Checks: HTTP retries with backoff; a record whose
-- faults outlast the retries is reported in batchItemFailures with the
-- reason in its routing decision; a failed write leaves no row of the
-- receipt; re-delivering the message with faults off gives the export of a
-- run that never failed.
local faults = require("support.faults")
local fixture = require("support.fixture")
local synth = require("rcpt.synth")

local OPENAI_KEY = "sk-fake-openai-faults-0123456789"
local PLACES_KEY = "fake-places-faults-0123456789"
local HERON = synth.MERCHANTS[2]
local HERON_PLACE = {
  place_id = "ChIJ-blue-heron-madison", name = "Blue Heron Coffee",
  formatted_address = "218 Lakeview Ave, Madison, WI 53703, USA",
  formatted_phone_number = "(608) 555-0117", international_phone_number = "+1 608-555-0117",
  types = { "cafe", "food" }, geometry = { location = { lat = 43.0747, lng = -89.3841 } },
  business_status = "OPERATIONAL",
}
assert(HERON.name == "BLUE HERON COFFEE")

describe("HTTP faults", function()
  it("embeddings answering 429 (Retry-After: 1) twice, then OK: the receipt succeeds after waiting", function()
    local srv = fixture.openai({ key = OPENAI_KEY, rules = { { call = { 1, 2 }, mode = "http_429", retry_after = 1 } } })
    local w = faults.world({ OPENAI_API_KEY = OPENAI_KEY, RCPT_EMBED_BASE_URL = srv.endpoint })
    finally(function() srv.stop(); w.close() end)
    local code, sum, err, _, out = w.ingest(w.receipt(2, 11))
    assert(code == 0, out .. err)
    assert.is_true(sum.success)
    local reqs = srv.requests()
    assert.is_true(#reqs >= 3, "3 requests at least, got " .. #reqs)
    -- the server's clock: each retry came after the Retry-After it asked for
    for i = 2, 3 do
      local gap = reqs[i].time - reqs[i - 1].time
      assert.is_true(gap >= 0.95, string.format("retry %d after %.3f s", i - 1, gap))
    end
    assert.is_nil(err:find(OPENAI_KEY, 1, true))
    faults.tally("embeddings 429 x2 (fixture)", 2, 2)
  end)

  it("Places: 503 twice then a timeout (RCPT_FAULTS), then OK: the merchant resolves", function()
    local srv = fixture.places({ key = PLACES_KEY, places = { HERON_PLACE }, rules = {} })
    local w = faults.world({ GOOGLE_PLACES_API_KEY = PLACES_KEY, RCPT_PLACES_BASE_URL = srv.endpoint .. "/maps/api/place" })
    finally(function() srv.stop(); w.close() end)
    local rules = "http:key=/maps/api/place:status=503:times=2;http:key=/maps/api/place:timeout:nth=3"
    local code, sum, err, inj, out = w.ingest(w.receipt(2, 12), rules)
    assert(code == 0, out .. err)
    assert.is_true(sum.success)
    assert.are.equal(3, #inj)
    assert.are.equal("status 503", inj[1].effect)
    assert.are.equal("status 503", inj[2].effect)
    assert.are.equal("timeout", inj[3].effect)
    for _, l in ipairs(inj) do
      assert.truthy(l.subject:find("/maps/api/place/", 1, true), l.line)
      assert.is_nil(l.line:find(PLACES_KEY, 1, true)) -- the log names host/path, never the query
    end
    assert.is_true(#srv.requests() > 0, "the 4th attempt reached Places")
    local st <close> = w.store()
    local m = assert(st:get("RECEIPT_METADATA", { image_id = sum.image_id, receipt_id = 1 }))
    assert.are.equal(HERON_PLACE.place_id, m.place_id)
    faults.tally("places 503 x2 + timeout (RCPT_FAULTS)", 3, 3)
  end)

  it("a malformed RCPT_FAULTS is an error naming the rule, not a silent no-op", function()
    local w = faults.world()
    finally(function() w.close() end)
    local code, _, err = w.run({ "ingest", "--json", w.receipt(2, 13) .. ".png", w.dir .. "/r13.json" },
      "http:nth=3:status=abc")
    assert.are_not.equal(0, code)
    assert.truthy(err:find('RCPT_FAULTS: rule "http:nth=3:status=abc": bad value for status', 1, true), err)
  end)
end)

describe("faults past the retries", function()
  -- one image, the same ids in every world, and a control world that never failed
  local stem_world, control, image_id, job_id, control_export
  setup(function()
    stem_world = faults.world()
    control = faults.world({ RCPT_COMPACT_AFTER = "0" })
    local stem = stem_world.receipt(2, 21)
    image_id, job_id = control.register(stem)
    local code, r, err, _, out = control.invoke(image_id, job_id)
    assert(code == 0 and r and #r.response.batchItemFailures == 0, out .. err)
    control_export = faults.normalise(control.export())
    stem_world.stem = stem
  end)
  teardown(function() stem_world.close(); control.close() end)

  local cases = {
    { name = "SQLite disk full on the 50th row write (image lines/words)", rules = "sqlite:op=put:nth=50:error=full",
      reason = "database or disk is full", no_image_rows = true },
    { name = "SQLite I/O error on the receipt's first row", rules = "sqlite:op=put:key=RECEIPT#00001:error=ioerr",
      reason = "disk I/O error" },
    { name = "object store: the OCR JSON cannot be read (every attempt)",
      rules = "objstore:op=get:key=ocr_results/:error=EIO:times=always", reason = "injected fault",
      no_image_rows = true },
    { name = "object store: the OCR JSON arrives cut short", rules = "objstore:op=get:key=ocr_results/:short=1000",
      reason = "cut short", no_image_rows = true },
  }
  for _, c in ipairs(cases) do
    it(c.name .. ": batchItemFailures, FAILED with the reason, no receipt rows; re-delivery completes", function()
      local w = faults.world({ RCPT_COMPACT_AFTER = "0" })
      finally(function() w.close() end)
      w.register(stem_world.stem, { image_id = image_id, job_id = job_id })
      local code, r, err, inj, out = w.invoke(image_id, job_id, c.rules)
      assert(code == 0 and r, out .. err)
      assert.is_true(#inj >= 1, "the fault was injected")
      assert.are.same({ { itemIdentifier = "m1" } }, r.response.batchItemFailures)
      assert.is_false(r.results[1].success)
      local st <close> = w.store()
      local d = assert(st:get("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id }))
      assert.are.equal("FAILED", d.status)
      assert.truthy(d.failure_reason and d.failure_reason:find(c.reason, 1, true), tostring(d.failure_reason))
      st:close()
      -- no orphan rows: no row of the image whose SK starts with RECEIPT#
      -- (receipt, its lines/words/letters, metadata, runs) and, when the
      -- fault hit the image write, no LINE/WORD/LETTER row and no IMAGE row
      local pk = '"PK":{"S":"IMAGE#' .. image_id .. '"}'
      for line in w.export():gmatch("[^\n]+") do
        if line:find(pk, 1, true) then
          local sk = line:match('"SK":{"S":"([^"]*)"}')
          assert.is_nil(sk:match("^RECEIPT#"), "orphan row " .. sk)
          if c.no_image_rows then
            assert.truthy(sk:match("^OCR_JOB#") or sk:match("^ROUTING#"), "orphan row " .. sk)
          end
        end
      end
      -- re-delivery with faults off completes and equals the control run
      code, r, err, _, out = w.invoke(image_id, job_id)
      assert(code == 0 and r, out .. err)
      assert.are.same({}, r.response.batchItemFailures)
      assert.is_true(r.results[1].success)
      assert.are.equal(control_export, faults.normalise(w.export()))
      faults.tally(c.name, #inj, #inj) -- survived: the re-delivery ended in the control state
    end)
  end
end)
