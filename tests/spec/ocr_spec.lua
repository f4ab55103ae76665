-- rcpt.ocr: Vision OCR JSON parsed in C and read from Lua.
local env = require("support.env")
local gen = require("support.gen_ocr")
local ocr = require("rcpt.ocr")

local BAR = env.data .. "/vision_bar_receipt.ocr.json"

-- replace the n-th match of pattern (plain Lua pattern) in s
local function nth_sub(s, pattern, n, repl)
  local i = 0
  return (s:gsub(pattern, function(m)
    i = i + 1
    if i == n then return repl end
    return m
  end))
end

local function small(opts)
  opts = opts or {}
  opts.lines = opts.lines or 3
  opts.pretty = false
  opts.shuffle_keys = false
  return (gen(opts))
end

local function refuses(json, msg, errname)
  local doc, err, name = ocr.parse(json)
  assert.is_nil(doc)
  assert.is_string(err)
  assert.truthy(err:find(msg, 1, true), "message was: " .. tostring(err))
  assert.are.equal(errname or "EINVAL", name)
end

describe("rcpt.ocr on the real bar receipt", function()
  local text = env.read(BAR)
  local doc = assert(ocr.parse(text))

  it("counts 24 lines, 62 words, 306 letters", function()
    assert.are.same({ 24, 62, 306 }, { doc:counts() })
    assert.are.equal(24, #doc)
  end)

  it("reads the first line and its box bit-for-bit", function()
    local l = doc:line(1)
    assert.are.equal("614 Gravier LLC", l.text)
    assert.are.equal(1, l.line_id)
    -- the file's own digits, converted by Lua's tonumber (strtod): must be ==
    local box = text:match('"text"%s*:%s*"614 Gravier LLC"') and
        text:sub(1, text:find('"words"', 1, true)):match('"bounding_box"%s*:%s*(%b{})')
    assert.is_string(box)
    for _, k in ipairs({ "x", "y", "width", "height" }) do
      local digits = box:match('"' .. k .. '"%s*:%s*([%d%.eE+-]+)')
      assert.are.equal(tonumber(digits), l.bounding_box[k], k)
      assert.are.equal(string.pack("<d", tonumber(digits)), string.pack("<d", l.bounding_box[k]))
    end
    assert.are.equal(0.5, l.confidence)
    assert.are.equal(0, l.angle_degrees)
    assert.are.equal(l.bounding_box.x, l.bottom_left.x)
  end)

  it("numbers ids and nests words and letters on request", function()
    local l = doc:line(1, 2)
    assert.are.equal(3, #l.words)
    assert.are.equal("614", l.words[1].text)
    assert.are.same({ "6", "1", "4" }, { l.words[1].letters[1].text, l.words[1].letters[2].text, l.words[1].letters[3].text })
    local c = l.words[1].letters[3]
    assert.are.same({ 1, 1, 3 }, { c.line_id, c.word_id, c.letter_id })
    assert.is_nil(doc:line(1).words)        -- depth 0: no children
    assert.is_nil(doc:line(1, 1).words[1].letters)
    local w = doc:word(1, 2, 1)
    assert.are.equal("Gravier", w.text)
    assert.are.equal(7, #w.letters)
    assert.are.equal("G", doc:letter(1, 2, 1).text)
    local all = doc:lines(2)
    local nw, nc = 0, 0
    for i, line in ipairs(all) do
      assert.are.equal(i, line.line_id)
      for j, word in ipairs(line.words) do
        assert.are.equal(j, word.word_id)
        nw = nw + 1
        nc = nc + #word.letters
      end
    end
    assert.are.same({ 62, 306 }, { nw, nc })
    assert.are.equal(306, #doc:letters())
  end)

  it("keeps extracted_data on 12 words: 7 address, 5 date", function()
    local n = {}
    for _, w in ipairs(doc:words()) do
      if w.extracted_data then n[w.extracted_data.type] = (n[w.extracted_data.type] or 0) + 1 end
    end
    assert.are.same({ address = 7, date = 5 }, n)
    local w = doc:words()
    local dates = {}
    for _, x in ipairs(w) do
      if x.extracted_data and x.extracted_data.type == "date" then dates[x.extracted_data.value] = true end
    end
    assert.are.same({ ["2022-10-22 01:04:00 +0000"] = true }, dates)
  end)

  it("flags noise words like the spec's is_noise_text", function()
    for _, w in ipairs(doc:words()) do
      assert.are.equal(ocr.is_noise(w.text), w.is_noise)
    end
    assert.is_true(ocr.is_noise("---"))
    assert.is_false(ocr.is_noise("$12.99"))
    assert.is_true(ocr.is_noise("@"))
    assert.is_false(ocr.is_noise("Gravier"))
  end)

  it("argument misuse raises; a closed document raises; close is idempotent", function()
    assert.has_error(function() ocr.parse() end)
    assert.has_error(function() ocr.parse({}) end)
    assert.has_error(function() doc:line(0) end)
    assert.has_error(function() doc:line(25) end)
    assert.has_error(function() doc:word(1, 4) end)
    assert.has_error(function() doc:line(1, 3) end)
    local d2 = assert(ocr.parse(text))
    d2:close()
    d2:close()
    assert.has_error(function() d2:counts() end)
    assert.truthy(tostring(d2):find("closed"))
    do
      local d3 <close> = assert(ocr.parse(text))
      assert.are.equal(24, (d3:counts()))
    end
  end)
end)

describe("rcpt.ocr refuses bad input with the field's path", function()
  it("truncated JSON", function()
    local j = small()
    refuses(j:sub(1, #j // 2), "JSON: byte")
    refuses(j:sub(1, #j - 1), "unexpected end of input")
  end)

  it("a body that is not JSON", function()
    refuses("<html>502 Bad Gateway</html>", "JSON: byte 0")
    refuses("", "empty document")
  end)

  it("wrong types", function()
    refuses('{"lines": {}}', "lines: must be an array, got object")
    refuses('["lines"]', "document: must be an object")
    local j = small()
    refuses(nth_sub(j, '"text":"[^"]*"', 1, '"text":7'), "lines[0].text: must be a string, got number")
    refuses(nth_sub(j, '"angle_degrees":[%d%.eE+-]+', 2, '"angle_degrees":"0"'),
      "lines[0].words[0].angle_degrees: must be a number, got string")
    refuses(nth_sub(j, '"words":%[', 2, '"words":"x","w2":['), "lines[1].words: must be an array, got string")
  end)

  it("missing keys", function()
    local j = small()
    refuses(nth_sub(j, ',"confidence":[%d%.eE+-]+', 3, ""), "lines[0].words[0].letters[0].confidence: required key is missing")
    refuses(nth_sub(j, '"top_left":%b{},', 1, ""), "lines[0].top_left: required key is missing")
    refuses(j:gsub('"lines"', '"lignes"'), "lines: required key is missing")
  end)

  it("NaN and 1e400", function()
    local j = small()
    refuses(nth_sub(j, '"angle_radians":[%d%.eE+-]+', 1, '"angle_radians":NaN'), "NaN and Infinity are not valid JSON numbers")
    refuses(nth_sub(j, '"angle_radians":[%d%.eE+-]+', 1, '"angle_radians":1e400'), "number out of range")
  end)

  it("confidence 0 is refused, 1 is fine", function()
    local j = small()
    refuses(nth_sub(j, '"confidence":[%d%.eE+-]+', 3, '"confidence":0'),
      "lines[0].words[0].letters[0].confidence: must be > 0 and <= 1, got 0")
    assert.is_not_nil(ocr.parse(nth_sub(j, '"confidence":[%d%.eE+-]+', 3, '"confidence":1')))
  end)

  it("invalid UTF-8", function()
    local j = small()
    refuses(nth_sub(j, '"text":"[^"]*"', 1, '"text":"\xc3("'), "invalid UTF-8")
  end)

  it("letters: an accent as base + combining mark is one letter; two graphemes are not", function()
    local j = small()
    local doc = assert(ocr.parse(nth_sub(j, '"text":"[^"]*"', 3, '"text":"e\\u0301"')))
    assert.are.equal("e\u{301}", doc:letter(1, 1, 1).text)
    assert.is_not_nil(ocr.parse(nth_sub(j, '"text":"[^"]*"', 3, '"text":"\u{1F44D}\u{1F3FD}"')))
    refuses(nth_sub(j, '"text":"[^"]*"', 3, '"text":"ab"'),
      "lines[0].words[0].letters[0].text: must be exactly one character")
    assert.is_true(ocr.is_one_grapheme("\u{1F1FA}\u{1F1F8}"))
    assert.is_false(ocr.is_one_grapheme("e\u{301}x"))
  end)

  it("an empty lines array is a valid document of zero lines; unknown keys are ignored", function()
    local doc = assert(ocr.parse('{"lines": [], "classification": {"type": "NATIVE"}, "receipts": [], "barcodes": null}'))
    assert.are.same({ 0, 0, 0 }, { doc:counts() })
    assert.are.same({}, doc:lines())
  end)

  it("a document over the size limit", function()
    local doc, err = ocr.parse(small(), { max_size = 100 })
    assert.is_nil(doc)
    assert.truthy(err:find("exceeds the limit of 100 bytes", 1, true))
  end)
end)

-- the limit case separately, with its own option
describe("rcpt.ocr limits", function()
  it("refuses a document over max_size with ELIMIT", function()
    local doc, err, name = ocr.parse(small(), { max_size = 100 })
    assert.is_nil(doc)
    assert.truthy(err:find("exceeds the limit of 100 bytes", 1, true))
    assert.are.equal("ELIMIT", name)
    assert.are.equal(64 * 1024 * 1024, ocr.MAX_SIZE_DEFAULT)
  end)

  it("parses 10 MB of lines", function()
    -- 20 generated lines repeated: the generator itself is slow at 10 MB
    local one, info = gen({ lines = 20, words_per_line = 5, letters_per_word = 5, pretty = false, seed = 7 })
    local body = one:match('^{"lines":%[(.*)%]}$')
    local reps = math.ceil(10 * 1024 * 1024 / #body)
    local parts = {}
    for i = 1, reps do parts[i] = body end
    local j = '{"lines":[' .. table.concat(parts, ",") .. "]}"
    assert.is_true(#j > 10 * 1024 * 1024)
    local doc = assert(ocr.parse(j))
    assert.are.same({ info.lines * reps, info.words * reps, info.letters * reps }, { doc:counts() })
    local last = doc:line(info.lines * reps)
    assert.are.equal(info.lines * reps, last.line_id)
    assert.are.equal(doc:line(info.lines).text, last.text)
  end)
end)

describe("support.gen_ocr", function()
  it("is deterministic and exact in its counts", function()
    local a, ia = gen({ lines = 200, words_per_line = 5, letters_per_word = 5, tags = { "phone", "address", "url", "date" } })
    local b = gen({ lines = 200, words_per_line = 5, letters_per_word = 5, tags = { "phone", "address", "url", "date" } })
    assert.are.equal(a, b)
    assert.are.same({ 200, 1000, 5000 }, { ia.lines, ia.words, ia.letters })
    local doc = assert(ocr.parse(a))
    assert.are.same({ 200, 1000, 5000 }, { doc:counts() })
    local tags = {}
    for _, w in ipairs(doc:words()) do
      if w.extracted_data then tags[w.extracted_data.type] = (tags[w.extracted_data.type] or 0) + 1 end
    end
    assert.are.same(ia.tagged, tags)
    assert.are.equal("(504) 525-1234", ia.tagged.phone > 0 and
      (function() for _, w in ipairs(doc:words()) do
        if w.extracted_data and w.extracted_data.type == "phone" then return w.extracted_data.value end
      end end)())
  end)

  it("line_copy geometry copies the line's box into words and letters; quads slice it", function()
    local doc = assert(ocr.parse((gen({ lines = 4, geometry = "line_copy", seed = 3 }))))
    local l = doc:line(2, 2)
    assert.are.same(l.bounding_box, l.words[1].bounding_box)
    assert.are.same(l.top_left, l.words[1].letters[1].top_left)
    local q = assert(ocr.parse((gen({ lines = 4, geometry = "quads", angle = 2, seed = 3 }))))
    local lq = q:line(2, 2)
    assert.is_true(lq.words[1].bounding_box.width < lq.bounding_box.width or #lq.words == 1)
    assert.is_true(math.abs(lq.angle_degrees - 2) < 1e-9)
    assert.is_true(math.abs(lq.angle_radians - math.rad(2)) < 1e-12)
  end)
end)
