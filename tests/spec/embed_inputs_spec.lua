-- rcpt.embed_inputs: word context neighbours (§6.3), vector ids (§6.4),
-- metadata with the merchant and the anchors (§6.5 + §6.6).
local E = require("rcpt.embed_inputs")
local F = require("support.merchant_fixtures")

-- A word at x..x+w, y..y+h (VN, y up).
local function word(line_id, word_id, text, x, y, w, h, noise)
  return {
    image_id = "img-w", receipt_id = 3, line_id = line_id, word_id = word_id, text = text,
    bounding_box = { x = x, y = y, width = w, height = h },
    top_left = { x = x, y = y + h }, top_right = { x = x + w, y = y + h },
    bottom_left = { x = x, y = y }, bottom_right = { x = x + w, y = y },
    angle_degrees = 0.0, angle_radians = 0.0, confidence = 1.0, is_noise = noise or false,
  }
end

describe("word inputs", function()
  local words = {
    word(2, 1, "TAX", 0.40, 0.47, 0.05, 0.02),        -- the line below: outside TOTAL's band
    word(1, 3, "12.99", 0.70, 0.50, 0.10, 0.02),
    word(1, 1, "TOTAL", 0.10, 0.50, 0.10, 0.02),
    word(1, 2, "*", 0.55, 0.505, 0.01, 0.01, true),    -- noise inside the band: a neighbour, not an input
    word(3, 1, "PART", 0.40, 0.51, 0.05, 0.02),        -- overlaps the band only partly
    word(4, 1, "TARGET", 0.80, 0.90, 0.15, 0.03),
  }

  it("builds the tagged input with the band / x-order neighbour rules", function()
    local out = assert(E.words({}, words, { merchant_name = "Bar", place_id = "P1" }))
    local by = {}
    for i, id in ipairs(out.ids) do by[out.documents[i]] = { id = id, text = out.texts[i], meta = out.metadatas[i] } end
    assert.is_nil(by["*"])
    assert.are.equal(5, #out.ids)
    assert.are.equal("<TARGET>TOTAL</TARGET> <POS>middle-left</POS> <CONTEXT><EDGE> *</CONTEXT>", by.TOTAL.text)
    assert.are.equal("<TARGET>12.99</TARGET> <POS>middle-right</POS> <CONTEXT>* <EDGE></CONTEXT>", by["12.99"].text)
    assert.are.equal("<TARGET>PART</TARGET> <POS>middle-center</POS> <CONTEXT><EDGE> <EDGE></CONTEXT>", by.PART.text)
    assert.are.equal("<TARGET>TARGET</TARGET> <POS>top-right</POS> <CONTEXT><EDGE> <EDGE></CONTEXT>", by.TARGET.text)
    assert.are.equal("<TARGET>TAX</TARGET> <POS>middle-center</POS> <CONTEXT><EDGE> <EDGE></CONTEXT>", by.TAX.text)
    -- ids and reading order
    assert.are.equal("IMAGE#img-w#RECEIPT#00003#LINE#00001#WORD#00001", out.ids[1])
    assert.are.equal("IMAGE#img-w#RECEIPT#00003#LINE#00004#WORD#00001", out.ids[5])
    assert.are.same({ image_id = "img-w", receipt_id = 3, line_id = 1, word_id = 3, embedding_type = "word",
      text = "12.99", merchant_name = "Bar", place_id = "P1" }, by["12.99"].meta)
    assert.are.equal("integer", math.type(by.TOTAL.meta.receipt_id))
  end)

  it("words in a band see their nearest neighbours on each side", function()
    local row = { word(1, 1, "A", 0.1, 0.3, 0.05, 0.02), word(1, 2, "B", 0.3, 0.3, 0.05, 0.02),
      word(1, 3, "C", 0.5, 0.3, 0.05, 0.02), word(1, 4, "D", 0.7, 0.3, 0.05, 0.02) }
    local out = assert(E.words({}, row))
    assert.are.equal("<TARGET>B</TARGET> <POS>bottom-left</POS> <CONTEXT>A C</CONTEXT>", out.texts[2])
    assert.are.equal("<TARGET>C</TARGET> <POS>bottom-center</POS> <CONTEXT>B D</CONTEXT>", out.texts[3])
    assert.are.equal("", out.metadatas[1].merchant_name)
  end)

  it("puts anchors on the words Vision tagged", function()
    local lines, ws = F.synthetic("img-t", 1, { "SHOP", { "Call 805-917-4200", tags = { [2] = { "phone", "805-917-4200" } } } })
    local out = assert(E.words(lines, ws))
    assert.is_nil(out.metadatas[2].normalized_phone_10)
    assert.are.equal("8059174200", out.metadatas[3].normalized_phone_10)
  end)

  it("names the record and field of bad geometry", function()
    local bad = { word(1, 1, "A", 0.1, 0.3, 0.05, 0.02) }
    bad[1].top_left = nil
    local out, err = E.words({}, bad)
    assert.is_nil(out)
    assert.truthy(err:find("words[1] (image img-w receipt 3 line 1 word 1).top_left", 1, true), err)
  end)
end)

describe("line inputs", function()
  local rows = {
    "SPROUTS FARMERS MARKET", "1012 Westlake Blvd.", "Westlake Village, CA 91361",
    "TEL: (805) 917-4200", "www.sprouts.com", "BANANAS 1.99",
  }

  it("embeds the plain text of non-noise lines with ids and the merchant", function()
    local lines, words = F.synthetic("img-l", 7, rows)
    lines[6].is_noise = true
    local out = assert(E.lines(lines, words, { merchant_name = "Sprouts Farmers Market", place_id = "ChIJs" }))
    assert.are.equal(5, #out.ids)
    assert.are.same({ "SPROUTS FARMERS MARKET", "1012 Westlake Blvd.", "Westlake Village, CA 91361",
      "TEL: (805) 917-4200", "www.sprouts.com" }, out.texts)
    assert.are.same(out.texts, out.documents)
    assert.are.equal("IMAGE#img-l#RECEIPT#00007#LINE#00002", out.ids[2])
    local m = out.metadatas[1]
    assert.are.equal("line", m.embedding_type)
    assert.are.equal(7, m.receipt_id)
    assert.are.equal("integer", math.type(m.receipt_id))
    assert.are.equal("Sprouts Farmers Market", m.merchant_name)
    assert.are.equal("ChIJs", m.place_id)
  end)

  it("anchors the phone, address and url lines, and the receipt on every line", function()
    local lines, words = F.synthetic("img-l", 7, rows)
    local out = assert(E.lines(lines, words))
    local addr = "1012 WESTLAKE BLVD WESTLAKE VILLAGE CA 91361"
    local md = out.metadatas
    assert.is_nil(md[1].normalized_full_address)
    assert.is_nil(md[1].normalized_phone_10)
    assert.are.equal(addr, md[2].normalized_full_address)
    assert.are.equal(addr, md[3].normalized_full_address)
    assert.are.equal("8059174200", md[4].normalized_phone_10)
    assert.is_nil(md[4].normalized_full_address)
    assert.are.equal("sprouts.com/", md[5].normalized_url)
    for i = 1, #md do
      assert.are.equal("8059174200", md[i].receipt_phone_10)
      assert.are.equal(addr, md[i].receipt_full_address)
    end
  end)

  it("uses Vision's address tag per line on the real bar receipt", function()
    local lines, words = F.bar_receipt(false)
    local out = assert(E.lines(lines, words, { merchant_name = "614 Gravier" }))
    assert.are.equal(24, #out.ids)
    assert.are.equal("614 GRAVIER ST NEW ORLEANS LA 70130", out.metadatas[2].normalized_full_address)
    assert.are.equal("614 GRAVIER ST NEW ORLEANS LA 70130", out.metadatas[3].normalized_full_address)
    assert.is_nil(out.metadatas[1].normalized_full_address)
    assert.is_nil(out.metadatas[13].normalized_full_address) -- the date line
    local wout = assert(E.words(lines, words))
    local noise = 0
    for _, w in ipairs(words) do if w.is_noise then noise = noise + 1 end end
    assert.are.equal(62, #words)
    assert.are.equal(62 - noise, #wout.ids)
    assert.are.equal("614 GRAVIER ST NEW ORLEANS LA 70130", wout.metadatas[4].normalized_full_address)
  end)
end)
