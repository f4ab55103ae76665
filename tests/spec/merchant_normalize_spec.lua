-- rcpt.merchant.normalize: the spec's §3 test vectors and the edges around them.
local N = require("rcpt.merchant.normalize")

describe("normalize_phone", function()
  it("keeps the 10 digits of US forms (spec vectors)", function()
    assert.are.equal("8059174200", N.normalize_phone("(805) 917-4200"))
    assert.are.equal("8059174200", N.normalize_phone("1-805-917-4200"))
    assert.are.equal("", N.normalize_phone("+"))
    assert.are.equal("", N.normalize_phone("000-000-0000"))
  end)
  it("drops a country code 1, keeps the last 10 of longer numbers, refuses short ones", function()
    assert.are.equal("8059174200", N.normalize_phone("+1 805 917 4200"))
    assert.are.equal("8059174200", N.normalize_phone("44 805 917 4200"))
    assert.are.equal("", N.normalize_phone("917-4200"))
    assert.are.equal("", N.normalize_phone("1111111111"))
    assert.are.equal("", N.normalize_phone(nil))
  end)
end)

describe("normalize_address", function()
  it("uppercases, strips punctuation and abbreviates (spec vectors)", function()
    assert.are.equal("1012 WESTLAKE BLVD WESTLAKE CA 91361",
      N.normalize_address("1012 Westlake Blvd. Westlake, CA 91361"))
    assert.are.equal("123 MAIN ST STE 5", N.normalize_address("123 main street ste 5"))
  end)
  it("collapses whitespace and trims end punctuation", function()
    assert.are.equal("614 GRAVIER ST NEW ORLEANS LA 70130",
      N.normalize_address("  614 Gravier Street\n New Orleans,\tLA 70130. -"))
    assert.are.equal("1 PKWY PKWY HWY RD DR LN AVE APT",
      N.normalize_address("1 parkway Parkway highway road drive lane avenue apartment"))
  end)
  it("drops all-punctuation tokens instead of leaving a double space (our choice)", function()
    assert.are.equal("123 MAIN ST STE 5", N.normalize_address("123 Main St - Ste 5"))
    assert.falsy(N.normalize_address("1 A / B"):find("  ", 1, true))
  end)
  it("folds accented Latin letters like Python's upper()", function()
    assert.are.equal("12 RUE DE L'ÉGLISE", N.normalize_address("12 rue de l'église"))
  end)
end)

describe("normalize_url", function()
  it("keeps host and path (spec vectors)", function()
    assert.are.equal("sprouts.com/offer", N.normalize_url("https://www.SPROUTS.com/offer?utm_source=x#frag"))
    assert.are.equal("thestand.com/TheApp", N.normalize_url("HTTP://TheStand.com/TheApp/"))
    assert.are.equal("", N.normalize_url("info@example.com"))
  end)
  it("adds a scheme, defaults the path to / and collapses slashes", function()
    assert.are.equal("sprouts.com/", N.normalize_url("www.sprouts.com"))
    assert.are.equal("a.com/x/y", N.normalize_url("a.com//x///y//"))
    assert.are.equal("", N.normalize_url("   "))
    assert.are.equal("user@a.com/", N.normalize_url("ftp://user@A.com"))
  end)
end)

describe("build_full_address_from_words", function()
  local function w(t, v) return { text = "x", extracted_data = { type = t, value = v } } end

  it("joins the street entry with the place entry, longest first", function()
    local words = { w("address", "Westlake, CA 91361"), w("address", "1012 Westlake Blvd."),
      w("address", "1012 Westlake Blvd."), w("phone", "(805) 917-4200") }
    assert.are.equal("1012 WESTLAKE BLVD WESTLAKE CA 91361", N.build_full_address_from_words(words))
  end)
  it("uses a single whole-address value as is (the bar receipt's tag)", function()
    local v = "614 Gravier Street New Orleans, LA 70130"
    assert.are.equal("614 GRAVIER ST NEW ORLEANS LA 70130",
      N.build_full_address_from_words({ w("address", v), w("address", v) }))
  end)
  it("falls back to the first two entries, and is exact about the tag type", function()
    assert.are.equal("MAIN ST MALL SOUTH WING",
      N.build_full_address_from_words({ w("address", "Main Street Mall"), w("address", "South Wing") }))
    assert.are.equal("", N.build_full_address_from_words({ w("Address", "1 Main St") }))
    assert.are.equal("", N.build_full_address_from_words({}))
  end)
  it("sorts stably by length: equal lengths keep their order", function()
    -- two 10-character entries, no house number: the first two in input order
    assert.are.equal("AAAAA BBBB CCCCC DDDD",
      N.build_full_address_from_words({ w("address", "aaaaa bbbb"), w("address", "ccccc dddd") }))
  end)
end)
