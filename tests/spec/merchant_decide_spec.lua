-- rcpt.merchant.decide: §4.5 scoring table, the first-max rule, acceptance
-- on metadata anchors, validation_status thresholds, ReceiptMetadata fields.
local D = require("rcpt.merchant.decide")

local ctx = {
  image_id = "img-a", receipt_id = 1,
  phones = { "8059174200" }, address = "1012 WESTLAKE BLVD WESTLAKE CA 91361",
  name_candidates = { "SPROUTS FARMERS MARKET" },
}

local function places(t)
  t.source = "places"
  return t
end

describe("Places candidate score", function()
  local cases = {
    { "phone + same street", { phone = "(805) 917-4200", address = "1012 Westlake Blvd, Westlake Village, CA" }, 0.9 },
    { "phone + other street", { phone = "+1 805-917-4200", address = "99 Other Rd, CA" }, 0.7 },
    { "phone only", { phone = "805 917 4200" }, 0.5 },
    { "same street only", { address = "1012 Westlake Boulevard" }, 0.4 },
    { "any address", { address = "Somewhere 1" }, 0.2 },
    { "wrong phone", { phone = "(805) 000-1111" }, 0.0 },
    { "route", { address = "1012 Westlake Blvd", types = { "route" } }, 0.0 },
    { "route among others is not a route", { address = "1012 Westlake Blvd", types = { "route", "point_of_interest" } }, 0.4 },
    { "phone + street + route", { phone = "8059174200", address = "1012 Westlake Blvd", types = { "route" } }, 0.3 },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      assert.is_true(math.abs(D.score_places(places(c[2]), ctx) - c[3]) < 1e-9,
        c[1] .. ": " .. D.score_places(places(c[2]), ctx))
    end)
  end
  it("gives no address points when the receipt has no address", function()
    local c2 = { phones = ctx.phones, address = "" }
    assert.are.equal(0.5, D.score_places(places({ phone = "8059174200", address = "1 A St" }), c2))
  end)
end)

describe("vector candidate score (cosine)", function()
  it("converts cosine to the spec's 2cos-1 scale, capped at 0.7", function()
    assert.are.equal(0.7, D.score_vector({ cosine = 1.0 }))
    assert.is_true(math.abs(D.score_vector({ cosine = 0.8 }) - 0.6) < 1e-9)
    assert.are.equal(0, D.score_vector({ cosine = 0.3 }))
    -- the Places rule: spec score 0.5 <=> cosine 0.75
    assert.is_true(math.abs(D.cosine_to_score(D.PLACES_COSINE_THRESHOLD) - 0.5) < 1e-12)
  end)
end)

describe("choose", function()
  it("takes the first candidate with the maximal score: Places before vector", function()
    local a = places({ reason = "address", place_id = "A", address = "Elsewhere 1" }) -- 0.2
    local b = places({ reason = "phone", place_id = "B", phone = "8059174200" }) -- 0.5
    local c = places({ reason = "phone", place_id = "C", phone = "8059174200" }) -- 0.5, later
    local v = { source = "vector", cosine = 0.99 } -- 0.7
    local best, all = D.choose({ a, b, c }, {}, ctx)
    assert.are.equal(b, best)
    assert.are.equal(3, #all)
    best = D.choose({ a, b, c }, { v }, ctx)
    assert.are.equal(v, best)
    -- tie between a Places 0.7 and a capped vector 0.7: the Places one is first
    local d = places({ reason = "phone", place_id = "D", phone = "8059174200", address = "77 Other St" })
    assert.are.equal(d, (D.choose({ d }, { v }, ctx)))
  end)
  it("has no minimum score and no best without candidates", function()
    local z = places({ reason = "phone", place_id = "Z", phone = "2125550000" })
    assert.are.equal(z, (D.choose({ z }, {}, ctx)))
    assert.is_nil((D.choose({}, {}, ctx)))
  end)
end)

describe("acceptance on metadata anchors", function()
  local meta = { normalized_full_address = "1012 WESTLAKE BLVD WESTLAKE CA 91361", normalized_phone_10 = "8059174200" }
  it("street-first needs the house number as a token and a phone match", function()
    assert.is_true((D.accept_street_first("1012 Westlake Blvd.", meta, ctx)))
    assert.is_false((D.accept_street_first("1012 Westlake Blvd.", meta, { phones = { "2125550000" } })))
    assert.is_false((D.accept_street_first("101 Westlake Blvd.", meta, ctx))) -- a substring is not enough
    assert.is_false((D.accept_street_first("Westlake Blvd", meta, ctx)))
  end)
  it("falls back to the receipt-level anchors of the hit", function()
    local street_line = { normalized_full_address = meta.normalized_full_address, receipt_phone_10 = "8059174200" }
    assert.is_true((D.accept_street_first("1012 Westlake Blvd.", street_line, ctx)))
    local phone_line = { normalized_phone_10 = "8059174200", receipt_full_address = meta.normalized_full_address }
    assert.is_true((D.accept_phone_first("TEL (805) 917-4200", phone_line, ctx)))
    assert.is_false((D.accept_phone_first("TEL (805) 917-4200", { normalized_phone_10 = "8059174200" }, ctx)))
  end)
  it("phone-first passes the address check when the receipt has no address", function()
    local m = { normalized_phone_10 = "8059174200" }
    assert.is_true((D.accept_phone_first("(805) 917-4200", m, { phones = {}, address = "" })))
    assert.is_false((D.accept_phone_first("(805) 917-4201", m, { phones = {}, address = "" })))
  end)
end)

describe("validation_status", function()
  local function st(fields, extra, opts)
    local md = { matched_fields = fields, merchant_name = "Sprouts", phone_number = "(805) 917-4200",
      address = "1012 WESTLAKE BLVD" }
    for k, v in pairs(extra or {}) do md[k] = v end
    return D.validation_status(md, opts)
  end
  it("counts high-quality fields against 2 / 1 by default", function()
    assert.are.equal("MATCHED", st({ "phone", "address" }))
    assert.are.equal("UNSURE", st({ "phone" }))
    assert.are.equal("UNSURE", st({ "google_places_phone" }))
    assert.are.equal("NO_MATCH", st({}))
  end)
  it("drops low-quality fields", function()
    assert.are.equal("UNSURE", st({ "name", "phone" }, { merchant_name = " Ab " }))
    assert.are.equal("UNSURE", st({ "phone", "address" }, { phone_number = "12-34" }))
    assert.are.equal("UNSURE", st({ "phone", "address" }, { address = "12" }))
    assert.are.equal("MATCHED", st({ "phone", "address" }, { address = "BROADWAY" }))
  end)
  it("honours other thresholds", function()
    assert.are.equal("UNSURE", st({ "phone", "address" }, nil, { min_fields_for_match = 3 }))
    assert.are.equal("NO_MATCH", st({ "phone" }, nil, { min_fields_for_match = 3, min_fields_for_unsure = 2 }))
  end)
end)

describe("ReceiptMetadata fields", function()
  it("a Places win says what matched and how it was found", function()
    local best = places({ reason = "phone", place_id = "ChIJ1", name = "Sprouts Farmers Market",
      phone = "(805) 917-4200", address = "1012 Westlake Blvd, Westlake Village, CA 91361, USA" })
    best.decision_score = D.score_places(best, ctx)
    local md = D.metadata(best, ctx)
    assert.are.same({ "phone", "address", "name" }, md.matched_fields)
    assert.are.equal("PHONE_LOOKUP", md.validated_by)
    assert.are.equal("MATCHED", md.validation_status)
    assert.are.equal("ChIJ1", md.canonical_place_id)
    assert.are.equal("Sprouts Farmers Market", md.canonical_merchant_name)
    assert.truthy(md.reasoning:find("places:phone", 1, true))
  end)
  it("a Places win that agrees on nothing is marked as the lookup only", function()
    local best = places({ reason = "address", place_id = "ChIJ2", name = "Other Shop", address = "5 Far Rd" })
    local md = D.metadata(best, ctx)
    assert.are.same({ "google_places_address" }, md.matched_fields)
    assert.are.equal("ADDRESS_LOOKUP", md.validated_by)
    assert.are.equal("UNSURE", md.validation_status)
  end)
  it("a vector win carries the neighbour's merchant", function()
    local best = { source = "vector", reason = "street-first", cosine = 0.97, merchant_name = "Sprouts Farmers Market",
      place_id = "ChIJ1", phone = "8059174200", address = "1012 WESTLAKE BLVD WESTLAKE CA 91361",
      neighbor = { image_id = "img-b", receipt_id = 1 } }
    local md = D.metadata(best, ctx)
    assert.are.equal("Sprouts Farmers Market", md.merchant_name)
    assert.are.equal("ChIJ1", md.place_id)
    assert.are.equal("(805) 917-4200", md.phone_number)
    assert.are.same({ "phone", "address", "name" }, md.matched_fields)
    assert.are.equal("ADDRESS_LOOKUP", md.validated_by)
    assert.are.equal("MATCHED", md.validation_status)
    assert.truthy(md.reasoning:find("IMAGE#img-b#RECEIPT#00001", 1, true))
  end)
  it("without candidates: the header guess, INFERENCE, NO_MATCH", function()
    local md = D.metadata(nil, ctx, { why = "Places not configured" })
    assert.are.equal("SPROUTS FARMERS MARKET", md.merchant_name)
    assert.are.equal("INFERENCE", md.validated_by)
    assert.are.equal("NO_MATCH", md.validation_status)
    assert.are.equal("", md.place_id)
    assert.truthy(md.reasoning:find("Places not configured", 1, true))
    local md2 = D.metadata(nil, { name_candidates = {}, phones = {} })
    assert.are.equal("", md2.merchant_name)
    assert.are.equal("NO_MATCH", md2.validation_status)
  end)
end)
