-- rcpt.merchant.context on the real bar receipt (with and without Vision's
-- extracted_data) and on synthetic US and Canadian receipts.
local C = require("rcpt.merchant.context")
local F = require("support.merchant_fixtures")

local function has(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

describe("receipt context of the bar receipt", function()
  it("takes the address from extracted_data", function()
    local lines, words = F.bar_receipt(false)
    local ctx = assert(C.build(lines, words))
    assert.are.equal("614 GRAVIER ST NEW ORLEANS LA 70130", ctx.address)
    assert.are.equal("extracted_data", ctx.address_source)
    assert.are.same({ "614 Gravier Street", "New Orleans, LA 70130" }, ctx.address_lines)
    assert.are.same({}, ctx.phones)
    assert.are.equal("614 Gravier LLC", ctx.name_candidates[1])
  end)

  it("finds the same address in the text when the tags are stripped, never the whole text", function()
    local lines, words = F.bar_receipt(true)
    for _, w in ipairs(words) do assert.is_nil(w.extracted_data) end
    local ctx = assert(C.build(lines, words))
    assert.are.equal("614 GRAVIER ST NEW ORLEANS LA 70130", ctx.address)
    assert.are.equal("text", ctx.address_source)
    assert.falsy(ctx.address:find("CATHEAD", 1, true))
    assert.falsy(ctx.address:find("TOTAL", 1, true))
    -- date and time lines are not merchant names
    for _, n in ipairs(ctx.name_candidates) do
      assert.falsy(n:find("2022", 1, true))
      assert.falsy(n:find("PM", 1, true))
      assert.falsy(n:find("Ticket", 1, true))
    end
    assert.are.equal("614 Gravier LLC", ctx.name_candidates[1])
  end)

  it("handles lines and words in reading order whatever order they come in", function()
    local lines, words = F.bar_receipt(true)
    local rl, rw = {}, {}
    for i = #lines, 1, -1 do rl[#rl + 1] = lines[i] end
    for i = #words, 1, -1 do rw[#rw + 1] = words[i] end
    local a, b = assert(C.build(lines, words)), assert(C.build(rl, rw))
    assert.are.same(a.address_lines, b.address_lines)
    assert.are.equal(a.address, b.address)
    assert.are.equal(lines[1], b.lines[1])
    assert.are.equal(24, rl[1].line_id) -- the caller's array is not reordered
  end)

  it("gives an empty address when the receipt prints none", function()
    local lines, words = F.bar_receipt(true)
    local kept_l, kept_w = {}, {}
    for _, l in ipairs(lines) do if l.line_id ~= 2 and l.line_id ~= 3 then kept_l[#kept_l + 1] = l end end
    for _, w in ipairs(words) do if w.line_id ~= 2 and w.line_id ~= 3 then kept_w[#kept_w + 1] = w end end
    local ctx = assert(C.build(kept_l, kept_w))
    assert.are.equal("", ctx.address)
    assert.are.same({}, ctx.address_lines)
  end)

  it("names the record and field of bad input", function()
    local lines, words = F.bar_receipt(false)
    words[5].text = 42
    local ctx, err = C.build(lines, words)
    assert.is_nil(ctx)
    assert.truthy(err:find("words[5]", 1, true))
    assert.truthy(err:find(".text: must be a string", 1, true))
  end)
end)

describe("receipt context from text patterns", function()
  it("reads a US receipt: phone forms, street + city with ZIP+4, URL, header name", function()
    local lines, words = F.synthetic("img-us", 1, {
      "*** WELCOME ***", "SPROUTS FARMERS MARKET", "1012 Westlake Blvd.", "Westlake Village, CA 91361-2001",
      "Store #123  TEL: (805) 917-4200", "www.sprouts.com", "10/21/2022 6:04 PM", "BANANAS 1.99",
      "Questions? 805.917.4201", "THANK YOU",
    })
    local ctx = assert(C.build(lines, words))
    assert.are.equal("1012 WESTLAKE BLVD WESTLAKE VILLAGE CA 91361-2001", ctx.address)
    assert.are.same({ "1012 Westlake Blvd.", "Westlake Village, CA 91361-2001" }, ctx.address_lines)
    assert.are.same({ "8059174200", "8059174201" }, ctx.phones)
    assert.are.same({ "Store #123  TEL: (805) 917-4200", "Questions? 805.917.4201" }, ctx.phone_lines)
    assert.are.same({ "sprouts.com/" }, ctx.urls)
    assert.are.equal("SPROUTS FARMERS MARKET", ctx.name_candidates[1])
    assert.falsy(has(ctx.name_candidates, "*** WELCOME ***"))
    assert.falsy(has(ctx.name_candidates, "THANK YOU"))
  end)

  it("reads a Canadian receipt: postal code, +1 phone, bare domain, WELCOME TO name", function()
    local lines, words = F.synthetic("img-ca", 2, {
      "Welcome to The Stand", "100 King Street West", "Toronto, ON M5V 3L9", "+1 416 555 0199",
      "thestand.com", "Receipt: 4471", "COFFEE 3.50",
    })
    local ctx = assert(C.build(lines, words))
    assert.are.equal("100 KING ST WEST TORONTO ON M5V 3L9", ctx.address)
    assert.are.same({ "4165550199" }, ctx.phones)
    assert.are.same({ "thestand.com/" }, ctx.urls)
    assert.are.equal("The Stand", ctx.name_candidates[1])
    assert.are.equal(2, ctx.receipt_id)
  end)

  it("prefers the tags where there are some, and patterns only on untagged lines", function()
    local lines, words = F.synthetic("img-t", 1, {
      "JOE'S DINER",
      { "55 Elm Rd Springfield IL 62701", tags = { [1] = { "address", "55 Elm Rd Springfield IL 62701" } } },
      { "Ph 217 555 0100", tags = { [2] = { "phone", "217-555-0100" } } },
      "Fax 217-555-0199",
    })
    local ctx = assert(C.build(lines, words))
    assert.are.equal("55 ELM RD SPRINGFIELD IL 62701", ctx.address)
    assert.are.equal("extracted_data", ctx.address_source)
    assert.are.same({ "2175550100", "2175550199" }, ctx.phones)
    assert.are.same({ "2175550100" }, { ctx.line_anchors[3].phone })
    assert.are.equal("JOE'S DINER", ctx.name_candidates[1])
  end)

  it("recognises the phone forms and refuses lookalikes", function()
    local cases = {
      ["(805) 917-4200"] = "8059174200", ["(805)917-4200"] = "8059174200",
      ["805-917-4200"] = "8059174200", ["805.917.4200"] = "8059174200",
      ["805 917 4200"] = "8059174200", ["+1 805 917 4200"] = "8059174200",
      ["1-805-917-4200"] = "8059174200", ["TEL: 8059174200"] = "8059174200",
      ["1-800-FLOWERS"] = "8003569377",
    }
    for text, want in pairs(cases) do
      assert.are.same({ want }, C.extract_phones(text), text)
    end
    for _, text in ipairs({ "4111 1111 1111 1111", "805-917-42001", "Auth 8059174200",
      "123-456-7890", "1-555-FLOWERS", "12.99 13.49 14.0000" }) do
      assert.are.same({}, C.extract_phones(text), text)
    end
  end)

  it("tells street, city and other lines apart", function()
    assert.is_true(C.is_street_line("614 Gravier Street"))
    assert.is_true(C.is_street_line("100 W 5th Ave Suite 2"))
    assert.is_true(C.is_street_line("1234 rue Sainte-Catherine"))
    assert.is_false(C.is_street_line("614 Gravier LLC"))
    assert.is_false(C.is_street_line("2 Dr Pepper 3.99"))
    assert.is_true(C.is_city_line("New Orleans, LA 70130"))
    assert.is_true(C.is_city_line("Toronto ON M5V3L9"))
    assert.is_false(C.is_city_line("Table XX 70130"))
  end)
end)
