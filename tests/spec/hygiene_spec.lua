-- Input hygiene over the whole flow (issue 7 item 5): ids and object keys
-- from events are validated (uuid4, no path tricks) before anything is
-- read; hostile OCR text goes through `rcpt ingest` and comes back
-- byte-identical in `rcpt export` (SQL is parameterised everywhere).
local cjson = require("cjson")
local env = require("support.env")
local faults = require("support.faults")
local synth = require("rcpt.synth")
local store = require("rcpt.store")
local uuid = require("rcpt.uuid")

local function items(export)
  local out = {}
  for line in export:gmatch("[^\n]+") do out[#out + 1] = cjson.decode(line).Item end
  return out
end

describe("ids and keys from events", function()
  local w
  before_each(function() w = faults.world({ RCPT_COMPACT_AFTER = "0" }) end)
  after_each(function() w.close() end)

  it("an SQS body with path tricks for ids is refused by name, nothing read", function()
    local bad = {
      { image_id = "../../etc/passwd", job_id = uuid.new(), field = "body.image_id" },
      { image_id = uuid.new(), job_id = "../x", field = "body.job_id" },
      { image_id = "/etc/passwd", job_id = uuid.new(), field = "body.image_id" },
      { image_id = "00000000-0000-1000-8000-000000000000", job_id = uuid.new(), field = "body.image_id" }, -- v1
    }
    for i, b in ipairs(bad) do
      local code, r, err, _, out = w.invoke(b.image_id, b.job_id, nil, nil, "bad" .. i)
      assert(code == 0 and r, out .. err)
      assert.are.same({ { itemIdentifier = "bad" .. i } }, r.response.batchItemFailures)
      local e = r.results[1].error
      assert.truthy(e:find(b.field .. ": must be a uuid4", 1, true), e)
    end
    -- nothing was written for them
    assert.are.equal("", w.export())
  end)

  local key_cases = {
    { what = "OCR JSON key with ..", bucket = nil, key = "../x" },
    { what = "OCR JSON key absolute", bucket = nil, key = "/etc/passwd" },
    { what = "OCR JSON key with a .. segment inside", bucket = nil, key = "ocr_results/../../secret.json" },
    { what = "bucket with ..", bucket = "..", key = "secret.json" },
    { what = "bucket with a slash", bucket = "uploads/../..", key = "secret.json" },
  }
  for _, c in ipairs(key_cases) do
    it("a routing decision whose " .. c.what .. " fails the record with a clear error, nothing read outside the store", function()
      -- a readable OCR document outside every bucket: if rcpt read it, the
      -- record would succeed (or fail with an OCR error), not with a key error
      local r = synth.native{ merchant = 2, seed = 51 }
      os.execute("mkdir -p " .. env.quote(w.dir .. "/objects"))
      env.write(w.dir .. "/secret.json", r.ocr_json)
      env.write(w.dir .. "/objects/secret.json", r.ocr_json)
      env.write(w.dir .. "/x", r.ocr_json)
      local stem = w.receipt(2, 51)
      local image_id, job_id = w.register(stem)
      local st <close> = w.store()
      local d = assert(st:get("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id }))
      assert(st:update("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id },
        { s3_key = c.key, s3_bucket = c.bucket or d.s3_bucket }))
      st:close()
      local code, res, err, _, out = w.invoke(image_id, job_id)
      assert(code == 0 and res, out .. err)
      assert.are.same({ { itemIdentifier = "m1" } }, res.response.batchItemFailures)
      local e = res.results[1].error
      assert.truthy(e:find(c.bucket and "bucket" or "key", 1, true), e)
      assert.is_nil(e:find("lines", 1, true), "the document was not parsed: " .. e)
      local st2 <close> = w.store()
      local d2 = assert(st2:get("OCR_ROUTING_DECISION", { image_id = image_id, job_id = job_id }))
      assert.are.equal("FAILED", d2.status)
      assert.are.equal(0, #assert(st2:query("LINE", { image_id = image_id })))
    end)
  end
end)

describe("hostile OCR text through ingest and export", function()
  it("quotes, %, SQL, NUL and 10 KB words come back identical", function()
    local w = faults.world({ RCPT_COMPACT_AFTER = "0" })
    finally(function() w.close() end)
    local hostile = {
      "it's", '"quoted"', "100%", "%s%d%%", "'; DROP TABLE items; --", "a\0b", "\0",
      "x' OR '1'='1", "\\n\\0\\", string.rep("W", 10 * 1024), "ñ€😀", "Robert'); DELETE FROM items;--",
    }
    local r = synth.native{ merchant = 2, seed = 61 }
    local doc = cjson.decode(r.ocr_json)
    -- put them on the lines below the header (the merchant line stays readable)
    local placed = {}
    local li = 4
    for _, h in ipairs(hostile) do
      while #doc.lines[li].words == 0 do li = li + 1 end
      local line = doc.lines[li]
      line.words[1].text = h
      local texts = {}
      for i, wd in ipairs(line.words) do texts[i] = wd.text end
      line.text = table.concat(texts, " ")
      placed[#placed + 1] = { line = li, text = h, line_text = line.text }
      li = li + 1
    end
    local stem = w.dir .. "/hostile"
    env.write(stem .. ".png", r.image_bytes)
    env.write(stem .. ".json", cjson.encode(doc))
    local code, sum, err, _, out = w.ingest(stem)
    assert(code == 0 and sum and sum.success, out .. err)
    local st <close> = w.store()
    assert(st:get("IMAGE", { image_id = sum.image_id }), "the items table is still there")
    local words, lines = {}, {}
    for _, it in ipairs(items(w.export())) do
      if it.PK.S == "IMAGE#" .. sum.image_id then
        if it.TYPE and it.TYPE.S == "WORD" then words[it.SK.S] = it.text.S end
        if it.TYPE and it.TYPE.S == "LINE" then lines[it.SK.S] = it.text.S end
      end
    end
    for _, p in ipairs(placed) do
      local lsk = string.format("LINE#%05d", p.line)
      assert.are.equal(p.line_text, lines[lsk], lsk)
      assert.are.equal(p.text, words[lsk .. "#WORD#00001"], lsk)
    end
    local n = 0
    for _ in pairs(words) do n = n + 1 end
    assert.is_true(n > #hostile)
  end)
end)
