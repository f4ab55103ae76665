-- The Google Places client (core/net/places.c through rcpt.places_api) and the lookup flows with
-- their cache policy (lua/rcpt/places.lua), over real HTTP against tests/support/places_fixture.py.
local env = require("support.env")
local fixture = require("support.fixture")
local api = require("rcpt.places_api")
local places = require("rcpt.places")
local json = require("rcpt.json")

local KEY = "AIzaFixtureKey-9c41e7d2b8a6"
local SPROUTS = {
  place_id = "ChIJsprouts0000westlake",
  name = "Sprouts Farmers Market",
  formatted_address = "5 W Thousand Oaks Blvd, Westlake Village, CA 91362, USA",
  formatted_phone_number = "(805) 917-4200",
  international_phone_number = "+1 805-917-4200",
  types = { "grocery_or_supermarket", "food", "store", "point_of_interest", "establishment" },
  geometry = { location = { lat = 34.1761, lng = -118.8487 } },
  business_status = "OPERATIONAL",
  website = "https://www.sprouts.com/",
}
local VONS = {
  place_id = "ChIJvons00000000thousand",
  name = "Vons",
  formatted_address = "2725 Agoura Rd, Westlake Village, CA 91361, USA",
  formatted_phone_number = "(805) 497-6801",
  international_phone_number = "+1 805-497-6801",
  types = { "grocery_or_supermarket", "store", "establishment" },
  business_status = "OPERATIONAL",
}

local function scenario(rules) return { key = KEY, places = { SPROUTS, VONS }, rules = rules or {} } end

-- an in-memory PlacesCache with the store's row shape
local function memcache()
  local c = { rows = {}, puts = 0, gets = 0 }
  function c.get(t, v)
    c.gets = c.gets + 1
    return c.rows[t .. "|" .. v]
  end
  function c.put(row)
    c.puts = c.puts + 1
    c.rows[row.search_type .. "|" .. row.search_value] = row
  end
  function c.count()
    local n = 0
    for _ in pairs(c.rows) do n = n + 1 end
    return n
  end
  return c
end

local messages = {} -- every error message of this file: scanned for the key at the end

local function setup_flow(srv, opts)
  opts = opts or {}
  local client = assert(api.client{ api_key = opts.key or KEY, base_url = srv.endpoint .. "/maps/api/place",
    timeout_ms = opts.timeout_ms, retry = opts.retry or { max_attempts = 3, base_delay_ms = 20, max_delay_ms = 3000 } })
  local cache = memcache()
  local clock = { t = 1700000000 }
  local p = places.new{ client = client, cache = cache, now = function() return clock.t end,
    log = function(_, msg, f) messages[#messages + 1] = msg .. " " .. json.encode(f or {}) end }
  return p, cache, clock, client
end

local function endpoints(srv)
  local out = {}
  for _, r in ipairs(srv.requests()) do out[#out + 1] = r.endpoint end
  return out
end

local function fails(...)
  local r, msg, name = ...
  assert.is_nil(r)
  assert.are.equal("string", type(msg), "expected an error message")
  messages[#messages + 1] = msg
  return msg, name
end

describe("Places client over HTTP", function()
  local srv
  after_each(function()
    if srv then srv.stop() end
    srv = nil
  end)

  it("phone: find place, then details; cached; served from the cache with no HTTP call", function()
    srv = fixture.places(scenario())
    local p, cache, clock = setup_flow(srv)
    local r = assert(p.search_by_phone("(805) 917-4200"))
    assert.are.equal(SPROUTS.place_id, r.place_id)
    assert.are.equal(SPROUTS.name, r.name)
    assert.are.equal(SPROUTS.formatted_address, r.formatted_address)
    assert.are.equal(SPROUTS.formatted_phone_number, r.formatted_phone_number)
    assert.are.same(SPROUTS.types, r.types)
    assert.are.equal(34.1761, r.geometry.location.lat)
    assert.are.equal("phone", r.lookup)

    local reqs = srv.requests()
    assert.are.same({ "findplacefromtext", "details" }, endpoints(srv))
    assert.are.equal("+18059174200", reqs[1].query.input)
    assert.are.equal("phonenumber", reqs[1].query.inputtype)
    assert.are.equal(api.PHONE_FIELDS, reqs[1].query.fields)
    assert.are.equal(KEY, reqs[1].query.key)
    assert.are.equal(SPROUTS.place_id, reqs[2].query.place_id)
    assert.are.equal(api.DETAILS_FIELDS, reqs[2].query.fields)

    local row = cache.rows["PHONE|8059174200"]
    assert.truthy(row)
    assert.are.equal(SPROUTS.place_id, row.place_id)
    assert.are.equal("PLACES#PHONE", row.pk)
    assert.are.equal("VALUE#" .. string.rep("_", 20) .. "8059174200", row.sk)
    assert.are.equal(clock.t + 30 * 86400, row.time_to_live)
    assert.are.equal(SPROUTS.name, json.decode(row.places_response).name)

    -- the same digits written differently: the cache answers (the key is the digits, §5.4)
    local again = assert(p:search_by_phone("805.917.4200"))
    assert.are.equal(SPROUTS.place_id, again.place_id)
    assert.is_true(again.cached)
    assert.are.equal(2, #srv.requests())
  end)

  it("ZERO_RESULTS is cached as not found and served from the cache", function()
    srv = fixture.places(scenario())
    local p, cache = setup_flow(srv)
    local r, msg = p.search_by_phone("212-555-0100")
    assert.is_nil(r)
    assert.is_nil(msg) -- not found is not an error
    -- find place said ZERO_RESULTS, the text fallback too
    assert.are.same({ "findplacefromtext", "textsearch" }, endpoints(srv))
    local row = cache.rows["PHONE|2125550100"]
    assert.are.equal("NO_RESULTS", row.place_id)
    assert.are.equal(1, cache.puts)
    r, msg = p.search_by_phone("(212) 555-0100")
    assert.is_nil(r)
    assert.is_nil(msg)
    assert.are.equal(2, #srv.requests())
  end)

  for _, case in ipairs({ { "OVER_QUERY_LIMIT", "EHTTP" }, { "INVALID_REQUEST", "EHTTP" },
    { "UNKNOWN_ERROR", "EHTTP" }, { "REQUEST_DENIED", "EAUTH" } }) do
    local status, errname = case[1], case[2]
    it(status .. " is an error (" .. errname .. "), never cached, and the next call asks again", function()
      srv = fixture.places(scenario({ { phone = "+18059174200", mode = status } }))
      local p, cache = setup_flow(srv)
      local msg, name = fails(p.search_by_phone("805-917-4200"))
      assert.are.equal(errname, name)
      assert.truthy(msg:find(status, 1, true), msg)
      assert.truthy(msg:find("Places findplacefromtext", 1, true), msg)
      -- no fallback search after an error (the original's path to a cached NO_RESULTS)
      assert.are.same({ "findplacefromtext" }, endpoints(srv))
      assert.are.equal(0, cache.puts)
      fails(p.search_by_phone("805-917-4200"))
      assert.are.equal(2, #srv.requests())
      assert.are.equal(0, cache.count())
    end)
  end

  it("a wrong key: REQUEST_DENIED -> EAUTH, the key in no message", function()
    srv = fixture.places(scenario())
    local wrong = "AIzaWrongKey-55aa55aa55aa"
    local p, cache = setup_flow(srv, { key = wrong })
    local msg, name = fails(p.search_by_address("2725 Agoura Rd, Westlake Village, CA 91361", {}))
    assert.are.equal("EAUTH", name)
    assert.truthy(msg:find("REQUEST_DENIED", 1, true))
    assert.is_nil(msg:find(wrong, 1, true))
    assert.are.equal(0, cache.puts)
  end)

  it("429 with Retry-After is retried after the wait it asks for", function()
    srv = fixture.places(scenario({ { call = 1, mode = "http_429", retry_after = 1 } }))
    local p = setup_flow(srv)
    local r = assert(p.search_by_phone("8054976801"))
    assert.are.equal(VONS.place_id, r.place_id)
    local reqs = srv.requests()
    assert.are.same({ "findplacefromtext", "findplacefromtext", "details" }, endpoints(srv))
    assert.are.equal("http_429", reqs[1].mode)
    -- base_delay_ms is 20: only Retry-After explains a second's wait
    assert.is_true(reqs[2].time - reqs[1].time >= 0.95, "waited " .. (reqs[2].time - reqs[1].time))
  end)

  it("500 is retried, then the answer is used", function()
    srv = fixture.places(scenario({ { endpoint = "details", endpoint_call = 1, mode = "http_500" } }))
    local p, cache = setup_flow(srv)
    local r = assert(p.search_by_phone("(805) 497-6801"))
    assert.are.equal("Vons", r.name)
    assert.are.same({ "findplacefromtext", "details", "details" }, endpoints(srv))
    assert.are.equal(1, cache.puts)
  end)

  it("500 that does not stop: EHTTP after the configured attempts, not cached", function()
    srv = fixture.places(scenario({ { endpoint = "details", mode = "http_500" } }))
    local p, cache = setup_flow(srv)
    local msg, name = fails(p.search_by_phone("(805) 497-6801"))
    assert.are.equal("EHTTP", name)
    assert.truthy(msg:find("HTTP 500 after 3 attempts", 1, true), msg)
    assert.are.equal(0, cache.puts)
  end)

  it("a slow answer past the timeout: ETIMEOUT, not cached", function()
    srv = fixture.places(scenario({ { endpoint = "details", mode = "slow", delay = 2.5 } }))
    local p, cache = setup_flow(srv, { timeout_ms = 400,
      retry = { max_attempts = 2, base_delay_ms = 10, max_delay_ms = 20 } })
    local _, name = fails(p.search_by_phone("(805) 497-6801"))
    assert.are.equal("ETIMEOUT", name)
    assert.are.same({ "findplacefromtext", "details", "details" }, endpoints(srv))
    assert.are.equal(0, cache.puts)
  end)

  it("the default timeout is 5 s: a 3 s answer is waited for, a 6 s one is not", function()
    srv = fixture.places(scenario({
      { endpoint = "details", endpoint_call = 1, mode = "slow", delay = 3 },
      { endpoint = "details", endpoint_call = 2, mode = "slow", delay = 6 },
    }))
    local client = assert(api.client{ api_key = KEY, base_url = srv.endpoint .. "/maps/api/place",
      retry = { max_attempts = 1 } })
    local r = assert(client:details(VONS.place_id))
    assert.is_true(r.found)
    local _, name = fails(client:details(VONS.place_id))
    assert.are.equal("ETIMEOUT", name)
  end)

  it("malformed JSON and a cut body: EHTTP, not cached", function()
    srv = fixture.places(scenario({ { endpoint = "details", mode = "malformed" } }))
    local p, cache = setup_flow(srv)
    local msg, name = fails(p.search_by_phone("(805) 497-6801"))
    assert.are.equal("EHTTP", name)
    assert.truthy(msg:find("JSON", 1, true), msg)
    assert.are.equal(0, cache.puts)
    srv.stop()
    srv = fixture.places(scenario({ { endpoint = "details", mode = "truncated" } }))
    p, cache = setup_flow(srv, { retry = { max_attempts = 2, base_delay_ms = 10, max_delay_ms = 20 } })
    msg, name = fails(p.search_by_phone("(805) 497-6801"))
    assert.are.equal("EIO", name)
    assert.truthy(msg:find("cut short", 1, true), msg)
    assert.are.equal(0, cache.puts)
  end)

  it("an expired cache row is refetched and replaced", function()
    srv = fixture.places(scenario())
    local p, cache, clock = setup_flow(srv)
    assert(p.search_by_phone("(805) 917-4200"))
    assert.are.equal(2, #srv.requests())
    clock.t = clock.t + 29 * 86400 -- still fresh
    assert.is_true(assert(p.search_by_phone("(805) 917-4200")).cached)
    assert.are.equal(2, #srv.requests())
    clock.t = clock.t + 2 * 86400 -- 31 days after it was written
    local r = assert(p.search_by_phone("(805) 917-4200"))
    assert.is_nil(r.cached)
    assert.are.equal(4, #srv.requests())
    assert.are.equal(clock.t + 30 * 86400, cache.rows["PHONE|8059174200"].time_to_live)
    -- a row without any expiry (not written by us) is not trusted either
    cache.rows["PHONE|8059174200"].time_to_live = nil
    assert(p.search_by_phone("(805) 917-4200"))
    assert.are.equal(6, #srv.requests())
  end)

  it("address with a business word: text search hydrated with details (a phone), cached", function()
    srv = fixture.places(scenario())
    local p, cache = setup_flow(srv)
    local words = { { text = "SPROUTS" }, { text = "FARMERS" }, { text = "MARKET" }, { text = "5" } }
    local addr = "5 W Thousand Oaks Blvd, Westlake Village, CA 91362"
    local r = assert(p.search_by_address(addr, words))
    assert.are.equal(SPROUTS.place_id, r.place_id)
    assert.are.equal(SPROUTS.formatted_phone_number, r.formatted_phone_number) -- hydrated
    assert.are.equal("text_search", r.lookup)
    local reqs = srv.requests()
    assert.are.same({ "textsearch", "details" }, endpoints(srv))
    assert.are.equal("SPROUTS " .. addr, reqs[1].query.query)
    local row = cache.rows["ADDRESS|SPROUTS " .. addr]
    assert.truthy(row)
    assert.are.equal("PLACES#ADDRESS", row.pk)
    assert.are.equal(6 + 9 + 400, #row.sk)
    assert.are.equal(row.sk:sub(7, 14), row.value_hash)
    assert.truthy(row.normalized_value:find("boulevard", 1, true))
    assert.is_true(assert(p.search_by_address(addr, words)).cached)
    assert.are.equal(2, #srv.requests())
  end)

  it("address alone: find place (textquery) then details; a town is not looked up", function()
    srv = fixture.places(scenario())
    local p = setup_flow(srv)
    local r = assert(p.search_by_address("2725 Agoura Rd, Westlake Village, CA 91361", { { text = "12.99" } }))
    assert.are.equal(VONS.place_id, r.place_id)
    assert.are.equal("address", r.lookup)
    assert.are.equal(VONS.formatted_phone_number, r.formatted_phone_number)
    local reqs = srv.requests()
    assert.are.same({ "findplacefromtext", "details" }, endpoints(srv))
    assert.are.equal("textquery", reqs[1].query.inputtype)
    assert.are.equal(api.ADDRESS_FIELDS, reqs[1].query.fields)
    assert.is_nil(p.search_by_address("Westlake Village, CA", {}))
    assert.is_nil(p.search_by_address("   ", {}))
    assert.are.equal(2, #srv.requests())
  end)

  it("address not found: both queries cached as not found", function()
    srv = fixture.places(scenario())
    local p, cache = setup_flow(srv)
    local r, msg = p.search_by_address("99 Nowhere Ln, Springfield, OR 97477", { { text = "ACME" } })
    assert.is_nil(r)
    assert.is_nil(msg)
    assert.are.same({ "textsearch", "findplacefromtext" }, endpoints(srv))
    assert.are.equal(2, cache.puts)
    assert.is_nil(p.search_by_address("99 Nowhere Ln, Springfield, OR 97477", { { text = "ACME" } }))
    assert.are.equal(2, #srv.requests())
  end)

  it("the primitive calls: text search and autocomplete parse into plain tables", function()
    srv = fixture.places(scenario())
    local c = assert(api.client{ api_key = KEY, base_url = srv.endpoint .. "/maps/api/place/" })
    local r = assert(c:text_search("Vons Westlake Village", { lat = 34.15, lng = -118.81, radius = 2000 }))
    assert.is_true(r.found)
    assert.are.equal("Vons", r.places[1].name)
    assert.is_nil(r.places[1].formatted_phone_number) -- text search never has one
    local q = srv.requests()[1].query
    assert.are.equal("2000", q.radius)
    assert.truthy(q.location:find("^34%.15"))
    r = assert(c:autocomplete("2725 Agoura"))
    assert.is_true(r.found)
    assert.are.equal(VONS.formatted_address, r.places[1].description)
    assert.are.equal("address", srv.requests()[2].query.types)
    r = assert(c:details("ChIJnothing"))
    assert.is_false(r.found)
    assert.are.equal("NOT_FOUND", r.status)
    assert.are.equal(3, c:requests())
    c:close()
    assert.has_error(function() c:details("x") end)
    c:close() -- idempotent
  end)

  it("from_env: nil without a key; with one, a working client pointed at RCPT_PLACES_BASE_URL", function()
    assert.is_nil(places.from_env(nil, function() return nil end))
    assert.is_nil(places.from_env(nil, function(k) return k == "GOOGLE_PLACES_API_KEY" and "" or nil end))
    srv = fixture.places(scenario())
    local e = { GOOGLE_PLACES_API_KEY = KEY, RCPT_PLACES_BASE_URL = srv.endpoint .. "/maps/api/place" }
    local cache = memcache()
    local p = assert(places.from_env(cache, function(k) return e[k] end))
    assert.are.equal("Vons", assert(p.search_by_phone("8054976801")).name)
    assert.are.equal(1, cache.puts)
  end)

  it("plugs into rcpt.merchant.resolve as deps.places: a receipt resolved through the fixture", function()
    local C = require("rcpt.merchant.context")
    local R = require("rcpt.merchant.resolve")
    local F = require("support.merchant_fixtures")
    srv = fixture.places(scenario())
    local p, cache = setup_flow(srv)
    local ctx = assert(C.build(F.synthetic("7d1f0c1e-0000-4000-8000-000000000001", 1, {
      "SPROUTS FARMERS MARKET", "5 W Thousand Oaks Blvd", "Westlake Village, CA 91362",
      "(805) 917-4200", "BANANAS 1.99", "TOTAL 12.34" })))
    local res = R.resolve(ctx, { query_lines = function() return {} end, places = p,
      log = function(_, msg) messages[#messages + 1] = msg end })
    assert.are.equal("places", res.source)
    assert.are.equal(SPROUTS.place_id, res.metadata.place_id)
    assert.are.equal(SPROUTS.name, res.metadata.merchant_name)
    assert.truthy(table.concat(res.metadata.matched_fields, ","):find("phone", 1, true))
    assert.is_true(cache.puts >= 1)
    -- a second receipt of the same merchant: Places answers from the cache, no HTTP call
    local n = #srv.requests()
    res = R.resolve(ctx, { query_lines = function() return {} end, places = p })
    assert.are.equal(SPROUTS.place_id, res.metadata.place_id)
    assert.are.equal(n, #srv.requests())
  end)

  it("the key appears in no error, log line or output of a failing rcpt process", function()
    srv = fixture.places(scenario({ { endpoint = "details", mode = "OVER_QUERY_LIMIT",
      error_message = "quota exceeded for this key" }, { endpoint = "textsearch", mode = "http_500" } }))
    local dir = env.tmpdir()
    local script = dir .. "/run.lua"
    env.write(script, [[
      local log = require("rcpt.log")
      local p = assert(require("rcpt.places").from_env(nil))
      local r, msg, name = p.search_by_phone("(805) 917-4200")
      log.warn("places failed", { error = msg, errname = name })
      print(msg, name)
      r, msg, name = p.search_by_address("1 Main St, Springfield, OR 97477", { { text = "ACME" } })
      log.warn("places failed", { error = msg, errname = name })
      print(msg, name)
    ]])
    local code, out, err = env.rcpt({ "lua", script }, { env = {
      GOOGLE_PLACES_API_KEY = KEY, RCPT_PLACES_BASE_URL = srv.endpoint .. "/maps/api/place" } })
    env.rmrf(dir)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("OVER_QUERY_LIMIT", 1, true), out)
    assert.truthy(out:find("HTTP 500", 1, true), out)
    assert.truthy(err:find('"places failed"', 1, true), err)
    assert.is_nil((out .. err):find(KEY, 1, true))
    assert.is_nil((out .. err):find("9c41e7d2b8a6", 1, true))
    -- and the key did reach the server (the check above is not vacuous)
    assert.are.equal(KEY, srv.requests()[1].query.key)
    for _, m in ipairs(messages) do assert.is_nil(m:find(KEY, 1, true), m) end
  end)
end)
