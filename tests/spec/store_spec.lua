-- rcpt.store from Lua on SQLite: the shared entity-store cases (support.store_suite, also run
-- against DynamoDB Local by store_dynamodb_spec.lua), the shared queue cases
-- (support.queue_suite, also run against SQS by sqs_spec.lua), and what is SQLite's own:
-- formats, URLs, export/import through the commands, concurrent writers.
local env = require("support.env")
local store = require("rcpt.store")
-- the suites are loaded into this spec's environment (busted's describe and it live there)
local function load_suite(name)
  return assert(loadfile(env.src .. "/tests/spec/support/" .. name .. ".lua", "t", _ENV))()
end
local suite = load_suite("store_suite")
local queue_suite = load_suite("queue_suite")

do
  local dirs = {}
  suite.run("rcpt.store on SQLite (shared entity-store cases)", {
    backend = "sqlite",
    exact_numbers = true,
    new_store = function()
      local d = env.tmpdir()
      local url = "sqlite:" .. d .. "/s.db"
      dirs[url] = d
      return assert(store.open(url)), url
    end,
    drop = function(url) env.rmrf(dirs[url]); dirs[url] = nil end,
  })
  local qdir, qst
  queue_suite.run("the local queue (shared queue cases)", {
    visibility = 0.2,
    stale_delete = "ENOTFOUND",
    new_queue = function()
      if qst then qst:close() end
      env.rmrf(qdir)
      qdir = env.tmpdir()
      qst = assert(store.open("sqlite:" .. qdir .. "/q.db"))
      return qst:queue("ocr-jobs")
    end,
  })
end

local IMG = "3f52804b-2fad-4e00-92c8-b593da3a8ed3"

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

  it("reads a stream image with bad attribute names as nil, message (found by fuzz_event)", function()
    local img = { PK = { S = "IMAGE#" .. IMG }, SK = { S = "RECEIPT#00001#METADATA" } }
    img["merchant\0name"] = { S = "Vons" }
    local e, msg, name = store.entity(img)
    assert.is_nil(e)
    assert.truthy(msg:find("NUL", 1, true), msg)
    assert.are.equal("EINVAL", name)
    e, msg = store.entity({ PK = { S = "IMAGE#" .. IMG }, [1] = { S = "x" } })
    assert.is_nil(e)
    assert.truthy(msg:find("item", 1, true), msg)
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
