-- The commands of the local main job, through the built binary: `rcpt ingest`
-- (one pair, --json, --dir with a broken pair), `rcpt invoke`, and the REPL's
-- receipt(image_id) helper driven through stdin.
local env = require("support.env")
local json = require("rcpt.json")
local store = require("rcpt.store")

local EX = env.src .. "/examples"

local function has_worker() return (pcall(require, "rcpt.ocr_worker")) end

describe("rcpt ingest", function()
  local dir, opts
  before_each(function()
    dir = env.tmpdir()
    opts = { "--store", "sqlite:" .. dir .. "/s.db", "--objects", "file:" .. dir .. "/objects" }
  end)
  after_each(function() env.rmrf(dir) end)

  local function args(...)
    local a = { "ingest" }
    for _, v in ipairs(opts) do a[#a + 1] = v end
    for _, v in ipairs({ ... }) do a[#a + 1] = v end
    return a
  end

  it("ingests the NATIVE example and prints what it stored", function()
    local code, out, err = env.rcpt(args(EX .. "/native/receipt.png", EX .. "/native/receipt.ocr.json"),
      { cwd = dir })
    assert.are.equal(0, code, err)
    local id = out:match("image id%s+(%x+%-%x+%-%x+%-%x+%-%x+)")
    assert.is_true(store.is_uuid4(id), out)
    assert.truthy(out:find("NATIVE, 1170x2532", 1, true), out)
    assert.truthy(out:find("#1  1170x2532 px  22 lines", 1, true), out)
    assert.truthy(out:find("objects    7 under file:" .. dir .. "/objects", 1, true), out)
    -- the store holds it: Image, receipt 1, the upload and the OCR JSON in the uploads bucket
    local st <close> = assert(store.open("sqlite:" .. dir .. "/s.db"))
    local im = assert(st:get("IMAGE", { image_id = id }))
    assert.are.same({ "NATIVE", 1 }, { im.image_type, im.receipt_count })
    local jobs = st:query("OCR_JOB", { image_id = id })
    assert.are.equal(1, #jobs)
    assert.are.same({ "uploads", "raw-receipts/receipt.png", "FIRST_PASS" }, { jobs[1].s3_bucket, jobs[1].s3_key,
      jobs[1].job_type })
    local d = st:query("OCR_ROUTING_DECISION", { image_id = id })[1]
    assert.are.equal("ocr_results/receipt-" .. jobs[1].job_id .. ".json", d.s3_key)
    assert.are.equal("COMPLETED", d.status)
    assert.are.equal(env.read(EX .. "/native/receipt.ocr.json"), env.read(dir .. "/objects/uploads/" .. d.s3_key))

    -- the same file again is a new upload (new ids) and keeps the same raw-receipts key
    local code2, out2 = env.rcpt(args("--json", EX .. "/native/receipt.png", EX .. "/native/receipt.ocr.json"),
      { cwd = dir })
    assert.are.equal(0, code2)
    local s = assert(json.decode(out2))
    assert.is_true(s.success)
    assert.are_not.equal(id, s.image_id)
    assert.are.equal("NATIVE", s.image_type)
    assert.are.equal(1, #s.stored.receipts)
    assert.are.equal(22, s.stored.receipts[1].lines)
  end)

  it("answers --help and refuses bad usage with status 2", function()
    local code, out = env.rcpt({ "ingest", "--help" })
    assert.are.equal(0, code)
    assert.truthy(out:find("--dir DIR", 1, true))
    code = env.rcpt({ "ingest", "only-one-arg" })
    assert.are.equal(2, code)
    code = env.rcpt({ "ingest", "--bogus", "a", "b" })
    assert.are.equal(2, code)
  end)

  it("fails clearly on a missing file and on a broken OCR JSON", function()
    local code, out = env.rcpt(args(dir .. "/nope.png", EX .. "/native/receipt.ocr.json"), { cwd = dir })
    assert.are.equal(1, code)
    assert.truthy(out:find("FAILED", 1, true))
    assert.truthy(out:find("nope.png", 1, true))
    env.write(dir .. "/bad.json", '{"lines": [{"text": "x"}]}')
    code, out = env.rcpt(args(EX .. "/native/receipt.png", dir .. "/bad.json"), { cwd = dir })
    assert.are.equal(1, code)
    assert.truthy(out:find("lines[0].bounding_box: required key is missing", 1, true), out)
  end)

  it("--dir: every pair, a line per image when stderr is not a terminal, a tally, non-zero on a bad pair", function()
    local d = dir .. "/in"
    os.execute("mkdir -p " .. env.quote(d))
    os.execute(string.format("cp %s %s/a.png && cp %s %s/a.ocr.json", env.quote(EX .. "/native/receipt.png"), d,
      env.quote(EX .. "/native/receipt.ocr.json"), d))
    os.execute(string.format("cp %s %s/b.png && cp %s %s/b.json", env.quote(EX .. "/scan/page.png"), d,
      env.quote(EX .. "/scan/page.ocr.json"), d))
    -- broken: a truncated OCR JSON, and an image with no JSON at all
    env.write(d .. "/c.png", env.read(EX .. "/native/receipt.png"))
    env.write(d .. "/c.json", env.read(EX .. "/native/receipt.ocr.json"):sub(1, 300))
    env.write(d .. "/d.jpeg", "whatever")
    local code, out, err = env.rcpt(args("--dir", d), { cwd = dir, env = { RCPT_LOCAL_WORKER = "0" } })
    assert.are.equal(1, code)
    assert.truthy(err:find("ingest 1/4 a.png: ok NATIVE, 1 receipt(s)", 1, true), err)
    assert.truthy(err:find("ingest 2/4 b.png: ok SCAN, 3 receipt(s)", 1, true), err)
    assert.truthy(err:find("ingest 3/4 c.png: FAILED", 1, true), err)
    assert.truthy(err:find("ingest 4/4 d.jpeg: FAILED: no OCR JSON", 1, true), err)
    assert.truthy(out:find("ingested 4 image(s) from " .. d .. ": 2 ok, 2 failed", 1, true), out)
    assert.truthy(out:find("unexpected end of input", 1, true), out)
    -- the worker was switched off: the three SCAN jobs wait on the queue
    assert.truthy(out:find("3 REFINEMENT job(s) left on the ocr_jobs queue", 1, true), out)
    local st <close> = assert(store.open("sqlite:" .. dir .. "/s.db"))
    assert.are.equal(3, (st:queue("ocr_jobs"):count()))

    -- --json over the same folder
    code, out = env.rcpt(args("--json", "--no-worker", "--dir", d), { cwd = dir })
    assert.are.equal(1, code)
    local s = assert(json.decode(out))
    assert.are.same({ 2, 2 }, { s.ok, s.failed })
    assert.are.equal(4, #s.images)
  end)

  it("runs the local refinement worker after the first pass when it is there", function()
    local code, out, err = env.rcpt(args(EX .. "/scan/page.png", EX .. "/scan/page.ocr.json"), { cwd = dir })
    assert.are.equal(0, code, err)
    if has_worker() then
      assert.truthy(out:find("refinement 3 of 3 job(s) answered by the local worker", 1, true), out)
    else
      assert.truthy(out:find("rcpt.ocr_worker is not available; 3 REFINEMENT job(s) left", 1, true), out)
    end
  end)
end)

describe("rcpt invoke", function()
  it("runs the handler on an event file or stdin and prints the response as JSON", function()
    local dir = env.tmpdir()
    local e = { RCPT_STORE = "sqlite:" .. dir .. "/s.db", RCPT_OBJECTS = "file:" .. dir .. "/objects" }
    -- register the example event's job by hand: an empty OCR over a small image
    local ev = json.decode(env.read(EX .. "/events/sqs_ocr_event.json"))
    local body = json.decode(ev.Records[1].body)
    local st = assert(store.open(e.RCPT_STORE))
    local now = store.now()
    assert(st:put("OCR_JOB", { image_id = body.image_id, job_id = body.job_id, s3_bucket = "uploads",
      s3_key = "raw-receipts/x.png", created_at = now, status = "PENDING", job_type = "FIRST_PASS" }))
    assert(st:put("OCR_ROUTING_DECISION", { image_id = body.image_id, job_id = body.job_id, s3_bucket = "uploads",
      s3_key = "ocr_results/x.json", created_at = now, status = "PENDING", receipt_count = 0 }))
    st:close()
    os.execute("mkdir -p " .. dir .. "/objects/uploads/raw-receipts " .. dir .. "/objects/uploads/ocr_results")
    env.write(dir .. "/objects/uploads/ocr_results/x.json", '{"lines": []}')
    local image = require("rcpt.image")
    local img <close> = assert(image.new(300, 400, 3, 240))
    env.write(dir .. "/objects/uploads/raw-receipts/x.png", assert(img:encode_png()))

    local code, out, err = env.rcpt({ "invoke", EX .. "/events/sqs_ocr_event.json" }, { env = e })
    assert.are.equal(0, code, err)
    assert.are.equal('{"batchItemFailures":[]}\n', out)
    -- stdin, a record of another (unknown) job: reported by its messageId
    ev.Records[1].body = json.encode({ job_id = store.uuid4(), image_id = body.image_id })
    ev.Records[1].messageId = "the-bad-one"
    code, out = env.rcpt({ "invoke", "--results", "-" }, { env = e, stdin = json.encode(ev) })
    assert.are.equal(0, code)
    local r = assert(json.decode(out))
    assert.are.same({ { itemIdentifier = "the-bad-one" } }, r.response.batchItemFailures)
    assert.truthy(r.results[1].error:find("unknown image_id/job_id", 1, true))
    -- not an event
    code, out, err = env.rcpt({ "invoke", "-" }, { env = e, stdin = "[]" })
    assert.are.equal(1, code)
    assert.truthy(err:find("unrecognised event", 1, true))
    env.rmrf(dir)
  end)
end)

describe("rcpt repl receipt()", function()
  it("prints what is stored for an image, read from a pipe", function()
    local dir = env.tmpdir()
    local e = { RCPT_STORE = "sqlite:" .. dir .. "/s.db", RCPT_OBJECTS = "file:" .. dir .. "/objects",
      RCPT_LOCAL_WORKER = "0" }
    local code, out = env.rcpt({ "ingest", "--json", EX .. "/scan/page.png", EX .. "/scan/page.ocr.json" },
      { env = e, cwd = dir })
    assert.are.equal(0, code)
    local id = json.decode(out).image_id
    local script = string.format('t = receipt(%q)\nprint("N=" .. #t.receipts .. " JOBS=" .. #t.jobs .. " MISSING=" .. t.missing)\nimages()\n', id)
    code, out = env.rcpt({ "repl" }, { env = e, stdin = script, cwd = dir })
    assert.are.equal(0, code)
    assert.truthy(out:find("image " .. id .. "  SCAN  2480x3508  receipts 3", 1, true), out)
    assert.truthy(out:find("rows: 64 lines, 201 words, 962 letters; 3 receipts", 1, true), out)
    assert.truthy(out:find("receipt %d+  537x879  TL %(0%.%d+, 0%.%d+%)"), out)
    assert.truthy(out:find("REFINEMENT PENDING   receipt", 1, true), out)
    assert.truthy(out:find("routing %x+%-[%x%-]+  COMPLETED count 3  uploads/ocr_results/page%-"), out)
    assert.truthy(out:find("objects: 22 present, 0 missing", 1, true), out)
    assert.truthy(out:find("N=3 JOBS=4 MISSING=0", 1, true), out)
    assert.truthy(out:find(id .. "  SCAN ", 1, true), out) -- images()
    env.rmrf(dir)
  end)
end)
