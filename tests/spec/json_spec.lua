-- rcpt.json: the C codec on core/json that the runtime uses instead of lua-cjson.
local env = require("support.env")
local json = require("rcpt.json")

local BAR = env.data .. "/vision_bar_receipt.ocr.json"

-- deep equality that also tells integers from floats and checks array marks
local function same(a, b, path)
  path = path or "$"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then return false, path .. ": " .. math.type(a) .. " vs " .. math.type(b) end
    if a ~= b and not (a ~= a and b ~= b) then return false, path .. ": " .. a .. " vs " .. b end
    return true
  end
  if type(a) ~= "table" then
    if a ~= b then return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    return true
  end
  if json.is_array(a) ~= json.is_array(b) then return false, path .. ": array mark differs" end
  for k, v in pairs(a) do
    local ok, why = same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": missing" end
  end
  return true
end

local function assert_same(a, b)
  local ok, why = same(a, b)
  assert(ok, why)
end

describe("rcpt.json", function()
  it("is the C module, with the API of the former Lua one", function()
    assert.are.equal("function", type(json.decode))
    assert.are.equal("function", type(json.encode))
    assert.are.equal("function", type(json.array))
    assert.are.equal("function", type(json.is_array))
    assert.are.equal("userdata", type(json.null))
    assert.is_nil(package.loaded.cjson, "the runtime must not load lua-cjson")
  end)

  it("json.null is lua-cjson's null too (light userdata NULL)", function()
    local ok, cjson = pcall(require, "cjson")
    if ok then assert.are.equal(cjson.null, json.null) end
    package.loaded.cjson = nil
  end)

  it("round-trips every type", function()
    local v = {
      int = 42, neg = -7, zero = 0, big = math.maxinteger, small = math.mininteger,
      float = 0.1, third = 1 / 3, tiny = 5e-324, huge = 1.7976931348623157e308, exp = 1.5e-7,
      t = true, f = false, null = json.null, s = "plain", e = "", u = "café 😀 \u{2028}",
      esc = "quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f ctl \1 del \127",
      arr = json.array({ 1, "two", json.null, false, { nested = json.array() } }),
      empty_arr = json.array(), empty_obj = {},
      obj = { a = { b = { c = json.array({ 1.25, -0.5 }) } } },
    }
    local text = json.encode(v)
    local back = assert(json.decode(text))
    assert_same(v, back)
    -- and once more through the pretty printer
    assert_same(v, assert(json.decode(json.encode(v, { indent = 2 }))))
    -- floats that are whole: written as integers (Swift's style), read back as integers
    assert.are.equal("[3,-2,0,1e+300]", json.encode(json.array({ 3.0, -2.0, -0.0, 1e300 })))
  end)

  it("decodes integers as integers, other numbers as floats", function()
    local v = assert(json.decode("[1, -0, 1.0, 1e2, 9223372036854775807, -9223372036854775808, "
      .. "9223372036854775808, 12345678901234567890123, 0.5]"))
    local types = {}
    for i, x in ipairs(v) do types[i] = math.type(x) end
    assert.are.same({ "integer", "integer", "float", "float", "integer", "integer", "float", "float", "float" }, types)
    assert.are.equal(math.maxinteger, v[5])
    assert.are.equal(math.mininteger, v[6])
    assert.are.equal(2.0 ^ 63, v[7])
  end)

  it("keeps arrays arrays: an empty array re-encodes as []", function()
    local v = assert(json.decode('{"a": [], "b": {}, "c": [[]], "d": [{}]}'))
    assert.is_true(json.is_array(v.a))
    assert.is_false(json.is_array(v.b))
    assert.are.equal('{"a":[],"b":{},"c":[[]],"d":[{}]}', json.encode(v))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal("{}", json.encode({}))
    local t = {}
    assert.are.equal(t, json.array(t))
    assert.is_false(json.is_array({}))
    assert.is_false(json.is_array("x"))
  end)

  it("decodes and encodes NUL inside strings", function()
    local v = assert(json.decode('["a\\u0000b", {"k\\u0000": 1}]'))
    assert.are.equal("a\0b", v[1])
    assert.are.equal(3, #v[1])
    assert.are.equal(1, v[2]["k\0"])
    assert.are.equal('["a\\u0000b"]', json.encode(json.array({ "a\0b" })))
  end)

  it("writes strings minimally: '/' as it is, UTF-8 copied", function()
    assert.are.equal('"a/b"', json.encode("a/b"))
    assert.are.equal('"é😀"', json.encode("é😀"))
    assert.are.equal('"\\"\\\\\\n\\u001f"', json.encode('"\\\n\31'))
  end)

  it("sorts keys by default, in byte order; sort_keys = false keeps table order", function()
    assert.are.equal('{"B":1,"a":2,"b":3,"é":4}', json.encode({ b = 3, a = 2, B = 1, ["é"] = 4 }))
    local out = json.encode({ x = 1, y = 2, z = 3 }, { sort_keys = false })
    assert.are.same({ x = 1, y = 2, z = 3 }, json.decode(out))
    -- number keys (no [1], so not an array) are written as strings
    assert.are.equal('{"1.5":"c","20":"b","3":"a"}', json.encode({ [1.5] = "c", [20] = "b", [3] = "a" }))
  end)

  it("pretty-prints like Python's json.dumps(indent=N, sort_keys=True)", function()
    assert.are.equal('{\n  "a": [\n    1,\n    {}\n  ],\n  "b": []\n}',
      json.encode({ a = json.array({ 1, {} }), b = json.array() }, { indent = 2 }))
    assert.are.equal('[\n1\n]', json.encode(json.array({ 1 }), { indent = 0 }))
  end)

  it("writes every double so that it reads back exactly, as short as %.17g or shorter", function()
    local seed = 12345
    local function rnd()
      seed = (seed * 6364136223846793005 + 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
      return seed
    end
    local vals = { 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e23, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
      0.49999999571319464, 0.2577519449629466, 9007199254740993.0, 2.0 ^ 53, 2.0 ^ 53 + 2, 123456789.125, -1e-300 }
    for _ = 1, 20000 do
      local bits = rnd()
      local x = string.unpack("<d", string.pack("<i8", bits))
      if x == x and x ~= math.huge and x ~= -math.huge then vals[#vals + 1] = x end
      vals[#vals + 1] = (rnd() % 10 ^ 16) / 10 ^ 16 -- OCR-like coordinates
    end
    for _, x in ipairs(vals) do
      local s = json.encode(x)
      local back = json.decode(s)
      assert(back == x, string.format("%s read back as %.17g, not %.17g", s, back, x))
      local ref = string.format("%.17g", x)
      assert(tonumber(ref) == x) -- the reference round trip
      local digits = s:gsub("e.*$", ""):gsub("[^0-9]", ""):gsub("^0+", "")
      local rdigits = ref:gsub("e.*$", ""):gsub("[^0-9]", ""):gsub("^0+", "")
      assert(#digits <= #rdigits, s .. " is longer than " .. ref)
    end
    -- the shortest form, as Python's repr
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal("5e-324", json.encode(5e-324))
    assert.are.equal("0.30000000000000004", json.encode(0.1 + 0.2))
    assert.are.equal("1.5e-07", json.encode(1.5e-7))
  end)

  it("refuses what JSON cannot hold", function()
    local function refuses(v, msg)
      local ok, err = pcall(json.encode, v)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(msg, 1, true), tostring(err))
    end
    refuses(0 / 0, "NaN")
    refuses(math.huge, "infinite")
    refuses({ x = -math.huge }, "infinite")
    refuses({ 1, 2, x = 3 }, "mixing array and object keys")
    refuses({ 1, nil, 3 }, "mixing")
    refuses({ [true] = 1 }, "key of type boolean")
    refuses({ [{}] = 1 }, "key of type table")
    refuses(print, "cannot encode a function")
    refuses(coroutine.create(print), "cannot encode a thread")
    refuses("\xff", "invalid UTF-8")
    refuses({ k = "ok\xc3" }, "invalid UTF-8")
    refuses({ ["\xc0\xaf"] = 1 }, "invalid UTF-8")
    local t = { a = {} }
    t.a.back = t
    refuses(t, "contains itself")
    local arr = json.array()
    arr[1] = arr
    refuses(arr, "contains itself")
    -- a table seen twice but not inside itself is fine
    local shared = { 1 }
    assert.are.equal('{"a":[1],"b":[1]}', json.encode({ a = shared, b = shared }))
  end)

  it("reports malformed JSON with the byte offset", function()
    local cases = {
      { '{"a": 1,}', "JSON: byte 8: expected a string key in object" },
      { '[1 2]', "JSON: byte 3: expected ',' or ']' in array" },
      { '{"a" 1}', "JSON: byte 5: expected ':' after object key" },
      { '[1, 2', "JSON: byte 5: unexpected end of input" },
      { '', "JSON: byte 0: unexpected end of input (empty document)" },
      { '[NaN]', "JSON: byte 1: NaN and Infinity are not valid JSON numbers" },
      { '[1e400]', "JSON: byte 1: number out of range (overflows a double)" },
      { '["\xff"]', "JSON: byte 2: invalid UTF-8 in string" },
      { '["\\ud800"]', "JSON: byte 2: lone high surrogate" },
      { '{} x', "JSON: byte 3: unexpected data after the JSON value" },
      { '<html>', "JSON: byte 0: expected a value" },
    }
    for _, c in ipairs(cases) do
      local v, err = json.decode(c[1])
      assert.is_nil(v)
      assert.truthy(err:find(c[2], 1, true), c[1] .. " -> " .. tostring(err))
    end
    local v, err = json.decode(nil)
    assert.is_nil(v)
    assert.truthy(err:find("must be a string"))
  end)

  it("limits nesting (default 256, max_depth = N)", function()
    local function nest(n) return string.rep("[", n) .. string.rep("]", n) end
    assert.is_table(json.decode(nest(256)))
    local v, err = json.decode(nest(257))
    assert.is_nil(v)
    assert.truthy(err:find("nesting deeper than 256 levels", 1, true), err)
    assert.is_table(json.decode(nest(1000), { max_depth = 1000 }))
    v, err = json.decode('{"a":{"b":{"c":1}}}', { max_depth = 2 })
    assert.is_nil(v)
    assert.truthy(err:find("JSON: byte 10: nesting deeper than 2", 1, true), err)
    -- the encoder goes as deep as the decoder can
    local deep = assert(json.decode(nest(1000), { max_depth = 1000 }))
    assert.are.equal(nest(1000), json.encode(deep))
    assert.has_error(function() json.decode("[]", { max_depth = 0 }) end)
  end)

  it("handles large arrays and repeated keys (the last wins)", function()
    local n = 200000
    local t = json.array()
    for i = 1, n do t[i] = i % 3 == 0 and i * 0.5 + 0.25 or i end
    local text = json.encode(t)
    local back = assert(json.decode(text))
    assert.are.equal(n, #back)
    assert.are.equal(150.25, back[300])
    assert.are.equal("float", math.type(back[300]))
    assert.are.equal(math.type(back[1]), "integer")
    assert_same(t, back)
    assert.are.same({ k = 3, j = 2 }, json.decode('{"k": 1, "j": 2, "k": 3}'))
  end)

  it("decodes the real bar receipt and re-encodes it to the same values", function()
    local text = env.read(BAR)
    local v = assert(json.decode(text))
    assert.are.equal(24, #v.lines)
    assert.are.equal("614 Gravier LLC", v.lines[1].text)
    assert.are.equal(0.2577519449629466, v.lines[1].bounding_box.x)
    local again = assert(json.decode(json.encode(v)))
    assert_same(v, again)
    assert_same(v, assert(json.decode(json.encode(v, { indent = 2, sort_keys = false }))))
    -- the values agree with rcpt.ocr's own parse of the same bytes
    local doc = assert(require("rcpt.ocr").parse(text))
    local l = doc:line(1, 2)
    assert.are.equal(l.words[1].letters[1].top_right.x, v.lines[1].words[1].letters[1].top_right.x)
    doc:close()
  end)

  it("rcpt.log still writes a line when a message or a field is not UTF-8", function()
    local log = require("rcpt.log")
    local lines = {}
    log.set_sink({ write = function(_, line) lines[#lines + 1] = line end })
    log.error("bad \xff byte", { text = "caf\xe9", n = 1 })
    log.error("fine", { nan = 0 / 0 })
    log.set_sink(io.stderr)
    assert.are.equal(2, #lines)
    local a = assert(json.decode(lines[1]))
    assert.are.equal("bad ? byte", a.msg)
    assert.truthy(a.log_error:find("invalid UTF-8", 1, true))
    local b = assert(json.decode(lines[2]))
    assert.are.equal("fine", b.msg)
    assert.truthy(b.log_error:find("NaN", 1, true))
  end)
end)
