-- The receipt rows handed from the OCR step to the merchant + embedding
-- step (rcpt.merchant_embed.rows_from_ocr) are the rows the store returns
-- for that receipt, field for field and number for number, so skipping the
-- read-back changes no vector input, id or metadata.
local env = require("support.env")
local ocr = require("rcpt.ocr")
local store = require("rcpt.store")
local json = require("rcpt.json")
local me = require("rcpt.merchant_embed")

-- differences between a and b as "path: a vs b" strings (math.type too:
-- an integer 1 and a float 1.0 are different rows)
local function diff(a, b, path, out)
  if type(a) == "table" and type(b) == "table" then
    for k, v in pairs(a) do diff(v, b[k], path .. "." .. tostring(k), out) end
    for k, v in pairs(b) do
      if a[k] == nil then out[#out + 1] = path .. "." .. tostring(k) .. ": missing, stored " .. tostring(v) end
    end
  elseif a ~= b or math.type(a) ~= math.type(b) then
    out[#out + 1] = string.format("%s: %s (%s) vs stored %s (%s)", path, tostring(a), tostring(math.type(a)),
      tostring(b), tostring(math.type(b)))
  end
  return out
end

-- Every number of the document (but ids) run through f.
local function each_number(t, f)
  for k, v in pairs(t) do
    if type(v) == "table" then each_number(v, f)
    elseif math.type(v) == "float" and k ~= "line_id" and k ~= "word_id" then t[k] = f(v, k) end
  end
end

describe("rows_from_ocr", function()
  local dir, e
  before_each(function()
    dir = env.tmpdir()
    e = require("rcpt.env").open{ store = "sqlite:" .. dir .. "/rcpt.db", objects = "file:" .. dir .. "/objects" }
  end)
  after_each(function()
    e:close()
    env.rmrf(dir)
  end)

  local function check(text, rid)
    local doc = assert(ocr.parse(text))
    local id = store.uuid4()
    assert(e.store:put_ocr(id, doc, { receipt_id = rid, image = false }))
    local got = me.rows_from_ocr(id, rid, doc:lines(), doc:words())
    doc:close()
    local lines, words = me.load_rows(e, id, rid)
    assert.are.equal(#lines, #got.lines)
    assert.are.equal(#words, #got.words)
    assert.is_true(#words > 0)
    assert.are.same({}, diff(got.lines, lines, "lines", {}))
    assert.are.same({}, diff(got.words, words, "words", {}))
    return got
  end

  it("equals the stored rows of real OCR (tags, noise, every number)", function()
    local got = check(env.read(env.data .. "/vision_bar_receipt.ocr.json"), 1)
    local tagged = 0
    for _, w in ipairs(got.words) do if w.extracted_data then tagged = tagged + 1 end end
    assert.is_true(tagged > 0)
  end)

  it("equals the stored rows when the numbers need the store's rounding", function()
    -- tiny coordinates (rounded at 20 places), small angles (18 places),
    -- confidences at a rounding tie (0.995 -> 1.00, 0.125 -> 0.13)
    local t = json.decode(env.read(env.data .. "/vision_bar_receipt.ocr.json"))
    local n = 0
    each_number(t, function(v, k)
      n = n + 1
      if k == "confidence" then return ({ 0.995, 0.125, 0.5, 0.3333333333333333 })[n % 4 + 1] end
      if k == "angle_degrees" or k == "angle_radians" then return (n % 3 == 0) and 1.2345678901234567e-5 or v end
      if n % 5 == 0 then return v * 1.2345678901234567e-9 end
      if n % 7 == 0 then return -v * 3.0000000000000004e-6 end
      return v
    end)
    check(json.encode(t), 2)
  end)
end)
