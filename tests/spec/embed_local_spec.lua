-- rcpt.embed: the local deterministic embedder from Lua.
local embed = require("rcpt.embed")

local function norm(v)
  local s = 0
  for i = 1, #v, 4 do
    local x = string.unpack("<f", v, i)
    s = s + x * x
  end
  return math.sqrt(s)
end

describe("rcpt.embed local embedder", function()
  it("gives one float32 string per text, unit length, 1536 by default", function()
    local e = embed.local_embedder()
    assert.are.equal(1536, e:dim())
    assert.are.equal("local", e:name())
    local v = assert(e:embed({ "TOTAL 12.99", "614 Gravier LLC", "" }))
    assert.are.equal(3, #v)
    for _, x in ipairs(v) do
      assert.are.equal(1536 * 4, #x)
      assert.is_true(math.abs(norm(x) - 1) < 1e-5)
    end
    assert.are.same({}, e:embed({}))
  end)

  it("puts similar lines closer than unrelated ones, deterministically", function()
    local e = embed.local_embedder({ dim = 512 })
    local v = e:embed({ "TOTAL 12.99", "TOTAL 12.98", "614 Gravier LLC", "Visa ending in 4242" })
    local near = embed.cosine(v[1], v[2])
    assert.is_true(near > embed.cosine(v[1], v[3]) + 0.3)
    assert.is_true(near > embed.cosine(v[1], v[4]) + 0.3)
    local again = embed.local_embedder({ dim = 512 }):embed({ "TOTAL 12.99" })
    assert.are.equal(v[1], again[1])
    assert.are.equal(512 * 4, #v[1])
  end)

  it("raises on misuse and after close", function()
    local e = embed.local_embedder({ dim = 16 })
    assert.has_error(function() e:embed("text") end)
    assert.has_error(function() e:embed({ "a", 2 }) end)
    assert.has_error(function() embed.local_embedder({ dim = 0 }) end)
    assert.has_error(function() embed.local_embedder({ dim = "x" }) end)
    assert.has_error(function() embed.cosine("abcd", "abcdefgh") end)
    e:close()
    e:close()
    assert.has_error(function() e:embed({ "a" }) end)
    assert.truthy(tostring(e):find("closed"))
  end)
end)
