-- Secrets never leak (issue 7 item 5): the whole flow with FAKE keys —
-- `rcpt ingest` of the examples (objects in s3rver signed with a fake AWS
-- secret and session token), the merchant step against the Places and
-- OpenAI fixtures, `rcpt compact`, `rcpt export`, and failing calls (a
-- refused key, a missing bucket) — then every stdout/stderr line (logs at
-- debug level), every exported row and every object s3rver stored is
-- scanned for the fake secrets: none may appear.
local env = require("support.env")
local faults = require("support.faults")
local fixture = require("support.fixture")
local s3rver = require("support.s3rver")
local synth = require("rcpt.synth")

local SECRETS = {
  aws_secret = "FAKEawsSECRETkey0123456789abcdefGHIJKLMN",
  aws_token = "FAKEsessionTOKEN-9f8e7d6c5b4a",
  openai = "sk-FAKEopenaiKEY-0123456789abcdef",
  places = "AIzaFAKEplacesKEY-0123456789",
}

local HERON_PLACE = {
  place_id = "ChIJ-blue-heron-madison", name = "Blue Heron Coffee",
  formatted_address = "218 Lakeview Ave, Madison, WI 53703, USA",
  formatted_phone_number = "(608) 555-0117", international_phone_number = "+1 608-555-0117",
  types = { "cafe", "food" }, geometry = { location = { lat = 43.0747, lng = -89.3841 } },
  business_status = "OPERATIONAL",
}

-- every regular file under dir, concatenated with its path
local function files_under(dir)
  local out = {}
  local p = io.popen("find " .. env.quote(dir) .. " -type f 2>/dev/null")
  for path in p:lines() do
    local f = io.open(path, "rb")
    if f then out[#out + 1] = { path = path, body = f:read("a") }; f:close() end
  end
  p:close()
  return out
end

local function assert_clean(what, text)
  for name, s in pairs(SECRETS) do
    assert.is_nil(text:find(s, 1, true), what .. " holds the " .. name .. " secret")
    -- nor a recognisable piece of it (a key cut for "display")
    assert.is_nil(text:find(s:sub(1, 16), 1, true), what .. " holds the start of the " .. name .. " secret")
  end
end

describe("secrets", function()
  it("never appear in logs, errors, output, stored rows or stored objects", function()
    local bucket = "rcpt-secrets"
    local s3 = s3rver.start({ bucket = bucket, allow_mismatched_signatures = true })
    local places = fixture.places({ key = SECRETS.places, places = { HERON_PLACE }, rules = {} })
    local openai = fixture.openai({ key = SECRETS.openai, rules = {} })
    local w = faults.world({
      RCPT_OBJECTS = "s3", RAW_BUCKET = bucket, SITE_BUCKET = bucket, CHROMADB_BUCKET = bucket,
      RCPT_UPLOAD_BUCKET = bucket, AWS_ENDPOINT_URL = s3.endpoint, AWS_REGION = "us-east-1",
      AWS_ACCESS_KEY_ID = "S3RVER", AWS_SECRET_ACCESS_KEY = SECRETS.aws_secret,
      AWS_SESSION_TOKEN = SECRETS.aws_token,
      GOOGLE_PLACES_API_KEY = SECRETS.places, RCPT_PLACES_BASE_URL = places.endpoint .. "/maps/api/place",
      OPENAI_API_KEY = SECRETS.openai, RCPT_EMBED_BASE_URL = openai.endpoint,
      RCPT_LOG_LEVEL = "debug", RCPT_COMPACT_AFTER = "0",
    })
    finally(function() s3:stop(); places.stop(); openai.stop(); w.close() end)
    local seen = {}
    local function run(label, args, more, expect_ok)
      local code, out, err = w.run(args, nil, more)
      if expect_ok then assert(code == 0, label .. " failed: " .. out .. err) end
      assert_clean(label .. " stdout", out)
      assert_clean(label .. " stderr", err)
      seen[#seen + 1] = label
      return code, out, err
    end

    -- the examples and a synthetic receipt of a merchant Places knows
    local ex = env.src .. "/examples"
    run("ingest native", { "ingest", "--verbose", ex .. "/native/receipt.png", ex .. "/native/receipt.ocr.json" }, nil, true)
    run("ingest photo", { "ingest", "--verbose", ex .. "/photo/photo.jpg", ex .. "/photo/photo.ocr.json" }, nil, true)
    local stem = w.receipt(2, 71)
    local _, out = run("ingest synth", { "ingest", "--verbose", "--json", stem .. ".png", stem .. ".json" }, nil, true)
    assert.truthy(out:find("Blue Heron Coffee", 1, true), "the merchant step reached Places")
    assert.is_true(#places.requests() > 0 and #openai.requests() > 0, "both fixtures were used")
    run("compact", { "compact" }, nil, true)
    local _, export = run("export", { "export" }, nil, true)
    assert.is_true(#export > 1000)

    -- failing paths: their errors are where a key would slip in
    local stem2 = w.receipt(5, 72)
    local code, _, err = run("ingest, wrong keys",
      { "ingest", "--verbose", "--json", stem2 .. ".png", stem2 .. ".json" },
      { GOOGLE_PLACES_API_KEY = SECRETS.places .. "-wrong", OPENAI_API_KEY = SECRETS.openai .. "-wrong" })
    assert.truthy(err:find("REQUEST_DENIED", 1, true) or err:find("401", 1, true) or code ~= 0, err)
    local o2
    code, o2, err = run("ingest, missing bucket",
      { "ingest", "--verbose", stem2 .. ".png", stem2 .. ".json" }, { RCPT_UPLOAD_BUCKET = "no-such-bucket" })
    assert.are_not.equal(0, code)
    assert.truthy((o2 .. err):find("no-such-bucket", 1, true), o2 .. err)
    code, _, err = run("compact, missing bucket", { "compact" }, { CHROMADB_BUCKET = "no-such-bucket" })
    assert.are_not.equal(0, code)

    -- every object s3rver stored (bodies and its metadata files) and the store
    local objs = files_under(s3.dir .. "/data")
    assert.is_true(#objs > 10, "objects were stored in s3rver: " .. #objs)
    for _, o in ipairs(objs) do assert_clean(o.path, o.body) end
    for _, f in ipairs(files_under(w.dir)) do assert_clean(f.path, f.body) end
    local _, export2 = run("export (final)", { "export" }, nil, true)
    assert_clean("export", export2)
    io.stderr:write(string.format("[secrets] scanned %d commands' output, %d s3 files, %d export bytes: clean\n",
      #seen, #objs, #export2))
  end)
end)
