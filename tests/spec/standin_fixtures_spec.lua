-- label: noasan
-- The loopback fixture servers (tests/support/places_fixture.py, openai_fixture.py) answer each
-- configured mode as configured, checked over real HTTP with the curl CLI.
local cjson = require("cjson")
local curl = require("support.curl")
local fixture = require("support.fixture")
local proc = require("support.proc")

local KEY = "places-test-key-not-a-secret"
local SPROUTS = {
  place_id = "ChIJsprouts0000westlake",
  name = "Sprouts Farmers Market",
  formatted_address = "5 W Thousand Oaks Blvd, Westlake Village, CA 91362, USA",
  formatted_phone_number = "(805) 917-4200",
  international_phone_number = "+1 805-917-4200",
  types = { "grocery_or_supermarket", "food", "store", "point_of_interest", "establishment" },
  geometry = { location = { lat = 34.1761, lng = -118.8487 } },
  business_status = "OPERATIONAL",
  vicinity = "5 W Thousand Oaks Blvd, Westlake Village",
  website = "https://www.sprouts.com/",
}
local VONS = {
  place_id = "ChIJvons00000000thousand",
  name = "Vons",
  formatted_address = "2725 Agoura Rd, Westlake Village, CA 91361, USA",
  formatted_phone_number = "(805) 497-6801",
  international_phone_number = "+1 805-497-6801",
  types = { "grocery_or_supermarket", "store", "establishment" },
  geometry = { location = { lat = 34.1505, lng = -118.8171 } },
  business_status = "OPERATIONAL",
}

local function places_scenario(rules)
  return { key = KEY, places = { SPROUTS, VONS }, rules = rules or {} }
end

local function get(srv, endpoint, params, opts)
  local parts = {}
  for k, v in pairs(params) do
    parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-_.~]", function(c)
      return string.format("%%%02X", c:byte())
    end)
  end
  table.sort(parts)
  local r = curl.request{ url = srv.endpoint .. "/maps/api/place/" .. endpoint .. "/json?" ..
    table.concat(parts, "&"), max_time = opts and opts.max_time or 30 }
  local ok, j = pcall(cjson.decode, r.body)
  r.json = ok and j or nil
  return r
end

local function phone(input, extra)
  local p = { input = input, inputtype = "phonenumber",
    fields = "formatted_address,name,place_id,types,business_status", key = KEY }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

describe("Places fixture", function()
  local srv
  after_each(function()
    if srv then srv.stop() end
    srv = nil
  end)

  it("finds by phone, then details, text search, autocomplete and nearby, like Google", function()
    srv = fixture.places(places_scenario())
    local r = get(srv, "findplacefromtext", phone("+18059174200"))
    assert.are.equal(200, r.status)
    assert.truthy(r.headers["content-type"]:find("application/json", 1, true))
    assert.are.equal("OK", r.json.status)
    assert.are.equal(1, #r.json.candidates)
    local c = r.json.candidates[1]
    assert.are.equal(SPROUTS.place_id, c.place_id)
    assert.are.equal(SPROUTS.name, c.name)
    assert.is_nil(c.formatted_phone_number) -- not among the requested fields

    r = get(srv, "details", { place_id = c.place_id, key = KEY,
      fields = "name,formatted_address,place_id,formatted_phone_number,geometry,types" })
    assert.are.equal("OK", r.json.status)
    assert.are.same({}, r.json.html_attributions)
    assert.are.equal("(805) 917-4200", r.json.result.formatted_phone_number)
    assert.are.equal(34.1761, r.json.result.geometry.location.lat)
    assert.is_nil(r.json.result.website)

    r = get(srv, "textsearch", { query = "Sprouts Westlake Village", key = KEY })
    assert.are.equal("OK", r.json.status)
    assert.are.equal(SPROUTS.place_id, r.json.results[1].place_id)
    assert.is_nil(r.json.results[1].formatted_phone_number) -- text search never has phones
    assert.is_nil(r.json.results[1].international_phone_number)

    r = get(srv, "autocomplete", { input = "2725 Agoura", types = "address", key = KEY })
    assert.are.equal("OK", r.json.status)
    assert.are.equal(VONS.formatted_address, r.json.predictions[1].description)
    assert.are.equal("2725 Agoura Rd", r.json.predictions[1].structured_formatting.main_text)

    r = get(srv, "nearbysearch", { location = "34.1760,-118.8486", radius = 100,
      type = "grocery_or_supermarket", key = KEY })
    assert.are.equal("OK", r.json.status)
    assert.are.equal(1, #r.json.results) -- Vons is 3.7 km away
    assert.are.equal(SPROUTS.place_id, r.json.results[1].place_id)

    -- by address (textquery) and with the 10-digit form of the number
    r = get(srv, "findplacefromtext", { input = "2725 Agoura Rd, Westlake Village",
      inputtype = "textquery", fields = "place_id,geometry", key = KEY })
    assert.are.equal(VONS.place_id, r.json.candidates[1].place_id)
    assert.truthy(r.json.candidates[1].geometry)
    r = get(srv, "findplacefromtext", phone("8054976801"))
    assert.are.equal(VONS.place_id, r.json.candidates[1].place_id)
  end)

  it("answers ZERO_RESULTS, NOT_FOUND and INVALID_REQUEST from the request itself", function()
    srv = fixture.places(places_scenario())
    local r = get(srv, "findplacefromtext", phone("+15555550100"))
    assert.are.equal("ZERO_RESULTS", r.json.status)
    assert.are.same({}, r.json.candidates)
    r = get(srv, "details", { place_id = "ChIJunknown", key = KEY })
    assert.are.equal("NOT_FOUND", r.json.status)
    assert.is_nil(r.json.result)
    r = get(srv, "findplacefromtext", { inputtype = "phonenumber", key = KEY })
    assert.are.equal("INVALID_REQUEST", r.json.status)
    assert.truthy(r.json.error_message:find("input", 1, true))
    r = get(srv, "textsearch", { query = "Nothing Like This", key = KEY })
    assert.are.equal("ZERO_RESULTS", r.json.status)
    assert.are.same({}, r.json.results)
  end)

  it("denies a missing or wrong key like Google, without echoing it", function()
    srv = fixture.places(places_scenario())
    local r = get(srv, "findplacefromtext", phone("+18059174200", { key = "" }))
    assert.are.equal(200, r.status)
    assert.are.equal("REQUEST_DENIED", r.json.status)
    assert.truthy(r.json.error_message:find("API key", 1, true))
    r = get(srv, "details", { place_id = SPROUTS.place_id, key = "wrong-key-123" })
    assert.are.equal("REQUEST_DENIED", r.json.status)
    assert.truthy(r.json.error_message:find("invalid", 1, true))
    assert.is_nil(r.body:find("wrong-key-123", 1, true))
  end)

  it("forces statuses by phone, address, query and call number", function()
    srv = fixture.places(places_scenario({
      { phone = "+1 805 917 4200", mode = "OVER_QUERY_LIMIT" },
      { endpoint = "textsearch", query = "vons", mode = "ZERO_RESULTS" },
      { endpoint = "autocomplete", address = "2725 agoura", mode = "REQUEST_DENIED",
        error_message = "This API project is not authorized to use this API." },
      { endpoint = "details", endpoint_call = 1, mode = "INVALID_REQUEST" },
      { endpoint = "details", endpoint_call = 2, mode = "UNKNOWN_ERROR" },
      { endpoint = "nearbysearch", mode = "OK", places = { VONS.place_id } },
    }))
    local r = get(srv, "findplacefromtext", phone("(805) 917-4200"))
    assert.are.equal("OVER_QUERY_LIMIT", r.json.status)
    assert.truthy(r.json.error_message)
    assert.are.same({}, r.json.candidates)
    assert.are.equal("OK", get(srv, "findplacefromtext", phone("+18054976801")).json.status)
    assert.are.equal("ZERO_RESULTS", get(srv, "textsearch", { query = "Vons", key = KEY }).json.status)
    assert.are.equal("OK", get(srv, "textsearch", { query = "Sprouts", key = KEY }).json.status)
    r = get(srv, "autocomplete", { input = "2725 Agoura Rd", key = KEY })
    assert.are.equal("REQUEST_DENIED", r.json.status)
    assert.are.equal("This API project is not authorized to use this API.", r.json.error_message)
    local det = { place_id = SPROUTS.place_id, key = KEY }
    assert.are.equal("INVALID_REQUEST", get(srv, "details", det).json.status)
    assert.are.equal("UNKNOWN_ERROR", get(srv, "details", det).json.status)
    assert.are.equal("OK", get(srv, "details", det).json.status)
    r = get(srv, "nearbysearch", { location = "0,0", radius = 10, key = KEY })
    assert.are.equal(VONS.place_id, r.json.results[1].place_id)
    -- a wrong key wins over a forced status, as at Google
    r = get(srv, "findplacefromtext", phone("+18059174200", { key = "nope" }))
    assert.are.equal("REQUEST_DENIED", r.json.status)
  end)

  it("fails at the HTTP level: 429 with Retry-After, then 500, then answers (times)", function()
    srv = fixture.places(places_scenario({
      { call = 1, mode = "http_429", retry_after = 2 },
      { endpoint = "details", mode = "http_500", times = 1 },
    }))
    local det = { place_id = SPROUTS.place_id, key = KEY }
    local r = get(srv, "details", det)
    assert.are.equal(429, r.status)
    assert.are.equal("2", r.headers["retry-after"])
    r = get(srv, "details", det)
    assert.are.equal(500, r.status)
    r = get(srv, "details", det)
    assert.are.equal(200, r.status)
    assert.are.equal("OK", r.json.status)
  end)

  it("is slow only where configured, past a client's timeout", function()
    srv = fixture.places(places_scenario({
      { endpoint = "details", endpoint_call = { 1, 2 }, mode = "slow", delay = 1.2 },
    }))
    local det = { place_id = SPROUTS.place_id, key = KEY }
    local r = get(srv, "details", det, { max_time = 0.4 })
    assert.are.equal(28, r.exit) -- curl: operation timed out
    r = get(srv, "details", det)
    assert.are.equal("OK", r.json.status) -- slow, then the normal answer
    assert.is_true(r.time >= 1.2, "took " .. r.time)
    r = get(srv, "details", det)
    assert.are.equal("OK", r.json.status)
    assert.is_true(r.time < 1.2, "the third call was delayed too: " .. r.time)
    -- a slow answer may end in a status too
    srv.stop()
    srv = fixture.places(places_scenario({ { mode = "slow", delay = 0.3,
      ["then"] = "OVER_QUERY_LIMIT" } }))
    r = get(srv, "findplacefromtext", phone("+18059174200"))
    assert.are.equal("OVER_QUERY_LIMIT", r.json.status)
    assert.is_true(r.time >= 0.3)
  end)

  it("sends malformed JSON and bodies cut short", function()
    srv = fixture.places(places_scenario({
      { call = 1, mode = "malformed" },
      { call = 2, mode = "truncated" },
    }))
    local det = { place_id = SPROUTS.place_id, key = KEY }
    local r = get(srv, "details", det)
    assert.are.equal(200, r.status)
    assert.is_nil(r.json)
    assert.is_false(pcall(cjson.decode, r.body))
    r = get(srv, "details", det)
    assert.are.equal(18, r.exit) -- curl: transfer closed with outstanding read data remaining
    assert.is_true(#r.body < tonumber(r.headers["content-length"]))
    assert.is_false(pcall(cjson.decode, r.body))
  end)

  it("records what it received", function()
    srv = fixture.places(places_scenario({ { call = 2, mode = "OVER_QUERY_LIMIT" } }))
    get(srv, "findplacefromtext", phone("+18059174200"))
    get(srv, "details", { place_id = SPROUTS.place_id, key = KEY })
    local reqs = srv.requests()
    assert.are.equal(2, #reqs)
    assert.are.equal("GET", reqs[1].method)
    assert.are.equal("/maps/api/place/findplacefromtext/json", reqs[1].path)
    assert.are.equal("findplacefromtext", reqs[1].endpoint)
    assert.are.equal("+18059174200", reqs[1].query.input)
    assert.are.equal("phonenumber", reqs[1].query.inputtype)
    assert.are.equal(KEY, reqs[1].query.key)
    assert.truthy(reqs[1].headers["user-agent"]:find("curl", 1, true))
    assert.are.equal("normal", reqs[1].mode)
    assert.are.equal(2, reqs[2].n)
    assert.are.equal("OVER_QUERY_LIMIT", reqs[2].mode)
  end)

  it("answers 404 off the API's paths and refuses a bad scenario at start", function()
    srv = fixture.places(places_scenario())
    local r = curl.request{ url = srv.endpoint .. "/maps/api/place/photo/json?key=" .. KEY }
    assert.are.equal(404, r.status)
    local ok, err = pcall(fixture.places, { key = KEY, rules = { { mode = "SOMETIMES" } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("rules[1].mode", 1, true) or
      tostring(err):find("rules%[0%]%.mode"))
  end)
end)

-- ---------------------------------------------------------------------------------------------

local OKEY = "sk-test-not-a-secret"

local function embed(srv, body, key)
  local r = curl.request{ url = srv.endpoint .. "/v1/embeddings", method = "POST",
    headers = { ["Content-Type"] = "application/json",
      Authorization = key ~= false and ("Bearer " .. (key or OKEY)) or nil },
    body = type(body) == "string" and body or cjson.encode(body), max_time = 30 }
  local ok, j = pcall(cjson.decode, r.body)
  r.json = ok and j or nil
  return r
end

local function dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

local function is_openai_error(j, etype)
  assert.are.equal("table", type(j and j.error))
  assert.are.equal("string", type(j.error.message))
  assert.are.equal(etype, j.error.type)
end

describe("OpenAI embeddings fixture", function()
  local srv
  after_each(function()
    if srv then srv.stop() end
    srv = nil
  end)

  it("embeds a string and arrays deterministically, L2-normalised, model echoed", function()
    srv = fixture.openai({ key = OKEY })
    local r = embed(srv, { model = "text-embedding-3-small", input = "SPROUTS FARMERS MARKET" })
    assert.are.equal(200, r.status)
    assert.are.equal("list", r.json.object)
    assert.are.equal("text-embedding-3-small", r.json.model)
    assert.are.equal(1, #r.json.data)
    local d = r.json.data[1]
    assert.are.equal("embedding", d.object)
    assert.are.equal(0, d.index)
    assert.are.equal(1536, #d.embedding)
    assert.is_true(math.abs(dot(d.embedding, d.embedding) - 1) < 1e-9)
    assert.is_true(r.json.usage.prompt_tokens > 0)
    assert.are.equal(r.json.usage.prompt_tokens, r.json.usage.total_tokens)

    local texts = { "SPROUTS FARMERS MARKET", "SPROUTS FARMERS MKT", "TOTAL 23.45 VISA" }
    r = embed(srv, { model = "text-embedding-3-small", input = texts, dimensions = 256 })
    assert.are.equal(3, #r.json.data)
    local v = {}
    for i, item in ipairs(r.json.data) do
      assert.are.equal(i - 1, item.index)
      assert.are.equal(256, #item.embedding)
      v[i] = item.embedding
    end
    -- similar texts are near, different ones far
    assert.is_true(dot(v[1], v[2]) > 0.5, "near: " .. dot(v[1], v[2]))
    assert.is_true(dot(v[1], v[3]) < dot(v[1], v[2]))
    -- the same text always gets the same vector
    local again = embed(srv, { model = "text-embedding-3-small", input = texts[1],
      dimensions = 256 })
    assert.are.same(v[1], again.json.data[1].embedding)

    -- any model name (Ollama, vLLM) is echoed; base64 is float32 little-endian
    r = embed(srv, { model = "nomic-embed-text", input = { "a", "b" }, dimensions = 8,
      encoding_format = "base64" })
    assert.are.equal("nomic-embed-text", r.json.model)
    assert.are.equal(44, #r.json.data[1].embedding) -- 32 bytes in base64
  end)

  it("answers 401 in OpenAI's error shape without the key, 400 on bad requests", function()
    srv = fixture.openai({ key = OKEY })
    local r = embed(srv, { model = "m", input = "x" }, "sk-wrong-key-42")
    assert.are.equal(401, r.status)
    is_openai_error(r.json, "invalid_request_error")
    assert.are.equal("invalid_api_key", r.json.error.code)
    assert.is_nil(r.body:find("sk-wrong-key-42", 1, true))
    r = embed(srv, { model = "m", input = "x" }, false)
    assert.are.equal(401, r.status)
    is_openai_error(r.json, "invalid_request_error")

    local many = {}
    for i = 1, 2049 do many[i] = "line " .. i end
    r = embed(srv, { model = "text-embedding-3-small", input = many, dimensions = 2 })
    assert.are.equal(400, r.status)
    is_openai_error(r.json, "invalid_request_error")
    assert.are.equal("input", r.json.error.param)
    many[2049] = nil
    r = embed(srv, { model = "text-embedding-3-small", input = many, dimensions = 2 })
    assert.are.equal(200, r.status)
    assert.are.equal(2048, #r.json.data)
    assert.are.equal(2047, r.json.data[2048].index)

    assert.are.equal(400, embed(srv, "{not json").status)
    assert.are.equal(400, embed(srv, { input = "x" }).status)
    assert.are.equal(400, embed(srv, { model = "m", input = "" }).status)
    r = embed(srv, { model = "text-embedding-3-small", input = "x", dimensions = 4000 })
    assert.are.equal(400, r.status)
    assert.are.equal("dimensions", r.json.error.param)
  end)

  it("fails per call number: 429 with Retry-After, 500, wrong count, wrong dimension", function()
    srv = fixture.openai({ key = OKEY, rules = {
      { call = 1, mode = "http_429", retry_after = 3 },
      { call = 2, mode = "http_500" },
      { call = 3, mode = "wrong_count" },
      { call = 4, mode = "wrong_dimension" },
      { call = 5, mode = "wrong_count", count = 4 },
    } })
    local req = { model = "text-embedding-3-small", input = { "one", "two", "three" },
      dimensions = 16 }
    local r = embed(srv, req)
    assert.are.equal(429, r.status)
    assert.are.equal("3", r.headers["retry-after"])
    is_openai_error(r.json, "requests")
    assert.are.equal("rate_limit_exceeded", r.json.error.code)
    r = embed(srv, req)
    assert.are.equal(500, r.status)
    is_openai_error(r.json, "server_error")
    r = embed(srv, req)
    assert.are.equal(200, r.status)
    assert.are.equal(2, #r.json.data)
    r = embed(srv, req)
    assert.are.equal(3, #r.json.data)
    assert.are.equal(15, #r.json.data[1].embedding)
    r = embed(srv, req)
    assert.are.equal(4, #r.json.data)
    r = embed(srv, req) -- no rule left: a correct answer
    assert.are.equal(3, #r.json.data)
    assert.are.equal(16, #r.json.data[3].embedding)
    local reqs = srv.requests()
    assert.are.equal(6, #reqs)
    assert.are.equal("POST", reqs[1].method)
    assert.are.equal("/v1/embeddings", reqs[1].path)
    assert.are.equal("Bearer " .. OKEY, reqs[1].headers.authorization)
    assert.are.same(req.input, cjson.decode(reqs[6].body).input)
    assert.are.same({ "http_429", "http_500", "wrong_count", "wrong_dimension", "wrong_count",
      "normal" }, (function()
        local m = {}
        for i, x in ipairs(reqs) do m[i] = x.mode end
        return m
      end)())
  end)

  it("is slow only where configured; sends malformed and cut-short bodies", function()
    srv = fixture.openai({ key = OKEY, rules = {
      { call = 1, mode = "slow", delay = 1.2 },
      { contains = { input = "MALFORMED" }, mode = "malformed" },
      { contains = { input = "TRUNCATED" }, mode = "truncated" },
    } })
    local req = { model = "text-embedding-3-small", input = "hello", dimensions = 8 }
    local r = embed(srv, req)
    assert.are.equal(200, r.status)
    assert.is_true(r.time >= 1.2, "took " .. r.time)
    r = embed(srv, req)
    assert.are.equal(200, r.status)
    assert.is_true(r.time < 1.2, "the second call was delayed too: " .. r.time)
    r = embed(srv, { model = "m", input = { "ok", "MALFORMED please" } })
    assert.are.equal(200, r.status)
    assert.is_nil(r.json)
    r = embed(srv, { model = "m", input = "TRUNCATED", dimensions = 64 })
    assert.are.equal(18, r.exit)
    assert.is_true(#r.body < tonumber(r.headers["content-length"]))
  end)

  it("exits with the spec process even without stop()", function()
    -- a child Lua process starts a fixture and exits without stopping it
    local env = require("support.env")
    local dir = env.tmpdir()
    env.write(dir .. "/child.lua", [[
      package.path = os.getenv("RCPT_SOURCE_DIR") .. "/tests/spec/?.lua;" .. package.path
      local srv = require("support.fixture").openai({ key = "k" })
      print(srv.pid)
      os.exit(0, false)
    ]])
    local p = io.popen(env.quote(env.bin) .. " lua " .. env.quote(dir .. "/child.lua"))
    local pid = tonumber(p:read("l"))
    p:close()
    env.rmrf(dir)
    assert.truthy(pid)
    local left
    for _ = 1, 50 do -- the wrapper sees EOF at once; allow the group a moment to go
      left = proc.group(pid)
      if #left == 0 then break end
      proc.sleep(0.1)
    end
    assert.are.same({}, left)
  end)
end)
