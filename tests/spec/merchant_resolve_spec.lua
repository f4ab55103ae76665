-- rcpt.merchant.resolve with fake services: a small in-memory line store
-- with a hashed-bigram embedder (cosine scores), a scripted store, and fake
-- Places clients that count their calls.
local C = require("rcpt.merchant.context")
local R = require("rcpt.merchant.resolve")
local E = require("rcpt.embed_inputs")
local F = require("support.merchant_fixtures")

local DIM = 128
local function embed(texts)
  local out = {}
  for i, t in ipairs(texts) do
    local v = {}
    for k = 1, DIM do v[k] = 0 end
    local s = " " .. t:upper() .. " "
    for j = 1, #s - 1 do
      local h = (s:byte(j) * 31 + s:byte(j + 1)) % DIM + 1
      v[h] = v[h] + 1
    end
    local n = 0
    for k = 1, DIM do n = n + v[k] * v[k] end
    n = math.sqrt(n)
    for k = 1, DIM do v[k] = n > 0 and v[k] / n or 0 end
    out[i] = v
  end
  return out
end

-- A line store honouring opts.exclude unless told to ignore it.
local function store(ignore_exclude)
  local S = { ids = {}, vecs = {}, metas = {}, queries = 0 }
  function S.add(batch)
    local vecs = embed(batch.texts)
    for i, id in ipairs(batch.ids) do
      S.ids[#S.ids + 1], S.vecs[#S.vecs + 1], S.metas[#S.metas + 1] = id, vecs[i], batch.metadatas[i]
    end
  end
  function S.query_lines(q, opts)
    S.queries = S.queries + 1
    S.last_opts = opts
    local scored = {}
    for i, v in ipairs(S.vecs) do
      local m = S.metas[i]
      local ex = opts.exclude
      if ignore_exclude or not (m.image_id == ex.image_id and m.receipt_id == ex.receipt_id) then
        local dot = 0
        for k = 1, DIM do dot = dot + v[k] * q[k] end
        scored[#scored + 1] = { i = i, s = dot }
      end
    end
    table.sort(scored, function(a, b) return a.s > b.s end)
    local res = { ids = {}, scores = {}, metadatas = {} }
    for r = 1, math.min(opts.k, #scored) do
      local i = scored[r].i
      res.ids[r], res.scores[r], res.metadatas[r] = S.ids[i], scored[r].s, S.metas[i]
    end
    return res
  end
  return S
end

local function fake_places(result, err)
  local P = { calls = {} }
  P.search_by_phone = function(p)
    P.calls[#P.calls + 1] = "phone:" .. p
    if err then return nil, err end
    return result
  end
  P.search_by_address = function(a)
    P.calls[#P.calls + 1] = "address:" .. a
    if err then return nil, err end
    return result
  end
  return P
end

local SPROUTS = {
  "SPROUTS FARMERS MARKET", "1012 Westlake Blvd.", "Westlake Village, CA 91361",
  "TEL: (805) 917-4200", "BANANAS 1.99", "TOTAL 1.99",
}
local SPROUTS_B = { -- another receipt of the same store, laid out differently
  "Sprouts", "Farmers Market #54", "1012 Westlake Blvd.", "Westlake Village, CA 91361",
  "Store phone (805) 917-4200", "APPLES 2.49", "TOTAL 2.49",
}
local OTHER = { "JOE'S DINER", "55 Elm Rd", "Springfield, IL 62701", "(217) 555-0100", "PIE 4.00" }

local function ctx_of(image, rows)
  return assert(C.build(F.synthetic(image, 1, rows)))
end

local function add_receipt(S, image, rows, merchant)
  local lines, words = F.synthetic(image, 1, rows)
  S.add(assert(E.lines(lines, words, merchant)))
end

describe("merchant resolution", function()
  it("a vector win carries the neighbour's merchant name and place_id; Places is not called", function()
    local S = store()
    add_receipt(S, "img-first", SPROUTS, { merchant_name = "Sprouts Farmers Market", place_id = "ChIJsprouts" })
    add_receipt(S, "img-other", OTHER, { merchant_name = "Joe's Diner", place_id = "ChIJjoe" })
    local P = fake_places({ place_id = "ChIJwrong", name = "Wrong", formatted_phone_number = "(805) 917-4200" })
    local res = R.resolve(ctx_of("img-later", SPROUTS_B), { query_lines = S.query_lines, embed = embed, places = P })
    assert.are.equal("vector", res.source)
    assert.are.equal("Sprouts Farmers Market", res.metadata.merchant_name)
    assert.are.equal("ChIJsprouts", res.metadata.place_id)
    assert.are.equal("img-first", res.best.neighbor.image_id)
    assert.are.equal("MATCHED", res.metadata.validation_status)
    assert.are.same({}, P.calls)
    assert.are.equal(8, S.last_opts.k)
    assert.are.equal("IMAGE#img-later#RECEIPT#00001#", S.last_opts.exclude_id_prefix)
  end)

  it("a receipt of another merchant does not match, and goes to Places", function()
    local S = store()
    add_receipt(S, "img-first", SPROUTS, { merchant_name = "Sprouts Farmers Market", place_id = "ChIJsprouts" })
    local P = fake_places({ place_id = "ChIJjoe", name = "Joe's Diner", formatted_phone_number = "(217) 555-0100",
      formatted_address = "55 Elm Rd, Springfield, IL 62701, USA", types = { "restaurant" } })
    local res = R.resolve(ctx_of("img-joe", OTHER), { query_lines = S.query_lines, embed = embed, places = P })
    assert.are.equal("places", res.source)
    assert.are.equal("ChIJjoe", res.metadata.place_id)
    assert.are.same({ "address:55 ELM RD SPRINGFIELD IL 62701", "phone:2175550100" }, P.calls)
    assert.are.same({ "phone", "address", "name" }, res.metadata.matched_fields)
    assert.are.equal("MATCHED", res.metadata.validation_status)
  end)

  it("never matches the receipt itself, even through a store that ignores the filter", function()
    local S = store(true)
    add_receipt(S, "img-self", SPROUTS, { merchant_name = "Stale Name", place_id = "ChIJstale" })
    local res = R.resolve(ctx_of("img-self", SPROUTS), { query_lines = S.query_lines, embed = embed })
    assert.are.equal("inference", res.source)
    assert.are.equal(0, #res.candidates)
    assert.is_true(S.queries > 0)
  end)

  describe("Places only under the vector threshold", function()
    local ctx = ctx_of("img-q", SPROUTS)
    local function scripted(score)
      return function()
        return { { id = "IMAGE#n#RECEIPT#00001#LINE#00002", score = score, metadata = {
          image_id = "n", receipt_id = 1, merchant_name = "Sprouts", place_id = "ChIJn",
          normalized_full_address = "1012 WESTLAKE BLVD WESTLAKE VILLAGE CA 91361", receipt_phone_10 = "8059174200" } } }
      end
    end
    for _, c in ipairs({ { 0.74, true }, { 0.76, false } }) do
      it("cosine " .. c[1] .. (c[2] and " calls" or " does not call") .. " Places", function()
        local P = fake_places(nil)
        local res = R.resolve(ctx, { query_lines = scripted(c[1]), places = P })
        assert.are.equal(c[2], #P.calls > 0)
        -- the vector candidate still wins when Places finds nothing
        assert.are.equal("vector", res.source)
        assert.are.equal("ChIJn", res.metadata.place_id)
      end)
    end
    it("the threshold is a setting", function()
      local P = fake_places(nil)
      R.resolve(ctx, { query_lines = scripted(0.76), places = P }, { places_cosine_threshold = 0.9 })
      assert.is_true(#P.calls > 0)
    end)
  end)

  it("with no Places and an empty store: the header guess, INFERENCE, never an error", function()
    local S = store()
    local res = R.resolve(ctx_of("img-new", SPROUTS), { query_lines = S.query_lines, embed = embed })
    assert.are.equal("inference", res.source)
    assert.is_nil(res.best)
    assert.are.equal("SPROUTS FARMERS MARKET", res.metadata.merchant_name)
    assert.are.equal("INFERENCE", res.metadata.validated_by)
    assert.are.equal("NO_MATCH", res.metadata.validation_status)
    assert.truthy(res.metadata.reasoning:find("Places not configured", 1, true))
  end)

  it("a failing Places falls through to inference with the reason logged", function()
    local logged = {}
    local log = function(level, msg) logged[#logged + 1] = level .. " " .. msg end
    for _, P in ipairs({ fake_places(nil, "OVER_QUERY_LIMIT"),
      { search_by_phone = function() error("timeout after 5 s") end,
        search_by_address = function() error("timeout after 5 s") end } }) do
      logged = {}
      local res = R.resolve(ctx_of("img-x", SPROUTS), { query_lines = store().query_lines, embed = embed,
        places = P, log = log })
      assert.are.equal("inference", res.source)
      assert.are.equal("SPROUTS FARMERS MARKET", res.metadata.merchant_name)
      local text = table.concat(logged, "\n")
      assert.truthy(text:find("warn merchant: Places search_by_address", 1, true), text)
      assert.truthy(text:find("OVER_QUERY_LIMIT", 1, true) or text:find("timeout after 5 s", 1, true), text)
      assert.truthy(res.metadata.reasoning:find("Places search_by", 1, true))
    end
  end)

  it("a failing vector store is logged and Places still runs", function()
    local P = fake_places({ place_id = "ChIJs", name = "Sprouts Farmers Market", formatted_phone_number = "(805) 917-4200" })
    P.search_by_address = function() return nil end -- found nothing
    local res = R.resolve(ctx_of("img-y", SPROUTS), {
      query_lines = function() return nil, "snapshot missing" end, embed = embed, places = P })
    assert.are.equal("places", res.source)
    assert.are.equal("PHONE_LOOKUP", res.metadata.validated_by)
    assert.truthy(table.concat(res.notes, "\n"):find("snapshot missing", 1, true))
  end)

  it("ignores Places negative answers (no place id)", function()
    local P = fake_places({ place_id = "NO_RESULTS", status = "NO_RESULTS" })
    local res = R.resolve(ctx_of("img-z", SPROUTS), { places = P })
    assert.are.equal("inference", res.source)
    assert.is_true(#P.calls == 2)
  end)

  it("builds at most 3 street and 2 phone queries from the lines", function()
    local ctx = ctx_of("img-w", { "A SHOP", "1 Main St", "Springfield, IL 62701", "(217) 555-0100",
      "(217) 555-0101", "(217) 555-0102" })
    local street, phone = R.queries(ctx)
    assert.are.same({ "1 Main St", "Springfield, IL 62701" }, street)
    assert.are.same({ "(217) 555-0100", "(217) 555-0101" }, phone)
  end)
end)
