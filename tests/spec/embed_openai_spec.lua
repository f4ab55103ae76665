-- The OpenAI-compatible embeddings client (core/embed/openai.c through rcpt.embed.openai and
-- rcpt.embedder.from_env) over real HTTP against tests/support/openai_fixture.py on 127.0.0.1.
local cjson = require("cjson")
local curl = require("support.curl")
local env = require("support.env")
local fixture = require("support.fixture")
local embed = require("rcpt.embed")
local embedder = require("rcpt.embedder")

local KEY = "sk-fixture-secret-7f3a9c2e5b1d"

local function f32s(s)
  local out = {}
  for i = 1, #s, 4 do out[#out + 1] = (string.unpack("<f", s, i)) end
  return out
end

local function dot(a, b)
  local s = 0
  for i = 1, #a do s = s + a[i] * b[i] end
  return s
end

local function client(srv, extra)
  local o = { api_key = KEY, base_url = srv.endpoint, timeout_ms = 10000,
    retry = { max_attempts = 4, base_delay_ms = 50, max_delay_ms = 5000 } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return assert(embed.openai(o))
end

local function bodies(srv)
  local out = {}
  for _, r in ipairs(srv.requests()) do
    local ok, j = pcall(cjson.decode, r.body)
    out[#out + 1] = ok and j or false
  end
  return out
end

-- every error message seen in this file, scanned for the key at the end
local seen_messages = {}
local function failed(e, texts)
  local v, msg, name = e:embed(texts)
  assert.is_nil(v)
  assert.are.equal("string", type(msg))
  seen_messages[#seen_messages + 1] = msg
  return msg, name
end

describe("embed.openai over HTTP", function()
  local srv
  after_each(function()
    if srv then srv.stop() end
    srv = nil
  end)

  it("embeds 3 texts in one request: unit vectors, equal to the server's own, order kept", function()
    srv = fixture.openai({ key = KEY })
    local e = client(srv)
    assert.are.equal("openai", e:name())
    assert.are.equal(1536, e:dim())
    local texts = { "SPROUTS FARMERS MARKET", "SPROUTS FARMERS MKT", "TOTAL 23.45 VISA" }
    local v = assert(e:embed(texts))
    assert.are.equal(3, #v)
    local vv = {}
    for i = 1, 3 do
      assert.are.equal(1536 * 4, #v[i])
      vv[i] = f32s(v[i])
      assert.is_true(math.abs(dot(vv[i], vv[i]) - 1) < 1e-5)
    end
    assert.is_true(embed.cosine(v[1], v[2]) > 0.5)
    assert.is_true(embed.cosine(v[1], v[3]) < embed.cosine(v[1], v[2]))

    local reqs = srv.requests()
    assert.are.equal(1, #reqs)
    assert.are.equal("POST", reqs[1].method)
    assert.are.equal("/v1/embeddings", reqs[1].path)
    assert.are.equal("Bearer " .. KEY, reqs[1].headers["authorization"])
    assert.truthy(reqs[1].headers["content-type"]:find("application/json", 1, true))
    local b = cjson.decode(reqs[1].body)
    assert.are.equal("text-embedding-3-small", b.model)
    assert.are.same(texts, b.input)
    assert.is_nil(b.dimensions) -- not set, not sent

    -- the witness: the server's answer for text 3 alone, fetched with curl
    local r = curl.request{ url = srv.endpoint .. "/v1/embeddings", method = "POST",
      headers = { ["Content-Type"] = "application/json", Authorization = "Bearer " .. KEY },
      body = cjson.encode({ model = "text-embedding-3-small", input = texts[3] }), max_time = 30 }
    local want = cjson.decode(r.body).data[1].embedding
    assert.are.equal(1536, #want)
    local maxdiff = 0
    for i = 1, 1536 do maxdiff = math.max(maxdiff, math.abs(want[i] - vv[3][i])) end
    assert.is_true(maxdiff < 1e-6, "max difference " .. maxdiff)
    e:close()
  end)

  it("splits 5,000 texts into 3 requests of at most 2,048 and keeps the order", function()
    srv = fixture.openai({ key = KEY })
    local e = client(srv, { dimensions = 64 })
    local texts = {}
    for i = 1, 5000 do texts[i] = string.format("line %d of receipt %d", i, i * 7919 % 1013) end
    local v = assert(e:embed(texts))
    assert.are.equal(5000, #v)
    local b = bodies(srv)
    assert.are.equal(3, #b)
    assert.are.same({ 2048, 2048, 904 }, { #b[1].input, #b[2].input, #b[3].input })
    assert.are.equal(texts[1], b[1].input[1])
    assert.are.equal(texts[2049], b[2].input[1])
    assert.are.equal(texts[5000], b[3].input[904])
    -- each vector belongs to its own text: embed a sample on its own and compare
    local idx = { 1, 2, 2048, 2049, 3000, 4096, 4097, 5000 }
    local sample = {}
    for i, k in ipairs(idx) do sample[i] = texts[k] end
    local w = assert(e:embed(sample))
    for i, k in ipairs(idx) do
      assert.is_true(embed.cosine(v[k], w[i]) > 0.99999, "text " .. k)
    end
    assert.is_true(embed.cosine(v[1], v[2]) < 0.99)
  end)

  it("sends dimensions when set and checks the size of what comes back", function()
    srv = fixture.openai({ key = KEY })
    local e = client(srv, { dimensions = 256, model = "text-embedding-3-large" })
    assert.are.equal(256, e:dim())
    local v = assert(e:embed({ "VONS 2725 AGOURA RD" }))
    assert.are.equal(256 * 4, #v[1])
    local b = bodies(srv)[1]
    assert.are.equal(256, b.dimensions)
    assert.are.equal("text-embedding-3-large", b.model)
  end)

  it("waits as Retry-After asks on 429, then succeeds", function()
    srv = fixture.openai({ key = KEY, rules = { { call = 1, mode = "http_429", retry_after = 1 } } })
    local e = client(srv)
    local v = assert(e:embed({ "a", "b" }))
    assert.are.equal(2, #v)
    local reqs = srv.requests()
    assert.are.equal(2, #reqs)
    assert.are.equal("http_429", reqs[1].mode)
    -- base_delay_ms is 50: only Retry-After explains a second's wait
    assert.is_true(reqs[2].time - reqs[1].time >= 0.95, "waited " .. (reqs[2].time - reqs[1].time))
  end)

  it("retries a 500 and succeeds", function()
    srv = fixture.openai({ key = KEY, rules = { { call = 1, mode = "http_500" } } })
    local e = client(srv)
    assert(e:embed({ "x" }))
    local reqs = srv.requests()
    assert.are.equal(2, #reqs)
    assert.are.equal("http_500", reqs[1].mode)
  end)

  it("gives up on a 500 that does not stop, naming the attempts", function()
    srv = fixture.openai({ key = KEY, rules = { { mode = "http_500" } } })
    local e = client(srv, { retry = { max_attempts = 3, base_delay_ms = 10, max_delay_ms = 50 } })
    local msg, name = failed(e, { "x" })
    assert.are.equal("EHTTP", name)
    assert.truthy(msg:find("HTTP 500 after 3 attempts", 1, true), msg)
    assert.are.equal(3, #srv.requests())
  end)

  it("times out on a slow answer: ETIMEOUT", function()
    srv = fixture.openai({ key = KEY, rules = { { mode = "slow", delay = 3 } } })
    local e = client(srv, { timeout_ms = 300, retry = { max_attempts = 2, base_delay_ms = 10, max_delay_ms = 20 } })
    local msg, name = failed(e, { "x" })
    assert.are.equal("ETIMEOUT", name)
    assert.are.equal(2, #srv.requests())
    assert.truthy(msg:find("embeddings", 1, true))
  end)

  it("refuses malformed JSON, a wrong count and a wrong dimension", function()
    srv = fixture.openai({ key = KEY, rules = {
      { call = 1, mode = "malformed" },
      { call = 2, mode = "wrong_count" },
      { call = 3, mode = "wrong_dimension" },
    } })
    local e = client(srv)
    local msg, name = failed(e, { "a", "b", "c" })
    assert.are.equal("EHTTP", name)
    assert.truthy(msg:find("JSON", 1, true), msg)
    msg, name = failed(e, { "a", "b", "c" })
    assert.are.equal("EHTTP", name)
    assert.truthy(msg:find("2 embeddings for 3 inputs", 1, true), msg)
    msg, name = failed(e, { "a", "b", "c" })
    assert.are.equal("EHTTP", name)
    assert.truthy(msg:find("1535 numbers, expected 1536", 1, true), msg)
    -- none of them retried: a bad answer is not a transient failure
    assert.are.equal(3, #srv.requests())
    -- and the next good answer works on the same client
    assert(e:embed({ "a" }))
  end)

  it("401: EAUTH, and the key is in no message", function()
    srv = fixture.openai({ key = KEY })
    local wrong = "sk-wrong-key-4d4d4d4d4d4d"
    local e = assert(embed.openai{ api_key = wrong, base_url = srv.endpoint })
    local msg, name = failed(e, { "x" })
    assert.are.equal("EAUTH", name)
    assert.truthy(msg:find("refused", 1, true), msg)
    assert.is_nil(msg:find(wrong, 1, true))
    assert.is_nil(msg:find("4d4d", 1, true))
    assert.are.equal(1, #srv.requests()) -- an auth error is not retried
  end)

  it("refuses bad options with a message naming them", function()
    local e, msg, name = embed.openai{ api_key = KEY, model = "nomic-embed-text" }
    assert.is_nil(e)
    assert.are.equal("EINVAL", name)
    assert.truthy(msg:find("dimensions", 1, true))
    e, msg = embed.openai{ base_url = "http://127.0.0.1:1" }
    assert.is_nil(e)
    assert.truthy(msg:find("api_key", 1, true))
    e, msg = embed.openai{ api_key = KEY, base_url = "ftp://x" }
    assert.is_nil(e)
    assert.truthy(msg:find("base_url", 1, true))
    assert.has_error(function() embed.openai{ api_key = KEY, max_batch = 5000 } end)
    assert.has_error(function() embed.openai("x") end)
  end)

  it("from_env: the local embedder without a key, the HTTP client with one", function()
    local function envf(t) return function(k) return t[k] end end
    local e = assert(embedder.from_env(envf({})))
    assert.are.equal("local", e:name())
    assert.are.equal(1536, e:dim())
    e = assert(embedder.from_env(envf({ RCPT_EMBED_DIM = "384" })))
    assert.are.equal(384, e:dim())
    local _, msg = embedder.from_env(envf({ RCPT_EMBED_DIM = "lots" }))
    assert.truthy(msg:find("RCPT_EMBED_DIM", 1, true))

    srv = fixture.openai({ key = KEY })
    e = assert(embedder.from_env(envf({ OPENAI_API_KEY = KEY, RCPT_EMBED_BASE_URL = srv.endpoint,
      RCPT_EMBED_DIM = "128" })))
    assert.are.equal("openai", e:name())
    assert.are.equal(128, e:dim())
    local v = assert(e:embed({ "hello" }))
    assert.are.equal(512, #v[1])
    assert.are.equal(128, bodies(srv)[1].dimensions)
    e = assert(embedder.from_env(envf({ RCPT_EMBED_API_KEY = KEY, RCPT_EMBED_BASE_URL = srv.endpoint,
      RCPT_EMBED_MODEL = "text-embedding-ada-002" })))
    assert.are.equal(1536, e:dim())
    assert(e:embed({ "hello" }))
    assert.are.equal("text-embedding-ada-002", bodies(srv)[2].model)
  end)

  it("a failing run prints and logs no key (scanned over a whole rcpt process)", function()
    srv = fixture.openai({ key = KEY,
      rules = { { call = 2, mode = "malformed" }, { call = 3, mode = "wrong_count" } } })
    local dir = env.tmpdir()
    local script = dir .. "/run.lua"
    env.write(script, [[
      local log = require("rcpt.log")
      local e = assert(require("rcpt.embedder").from_env())
      local v, msg, name = e:embed({ "ok" })
      log.info("embedded", { n = v and #v })
      for i = 1, 2 do
        v, msg, name = e:embed({ "x" })
        log.warn("embed failed", { error = msg, errname = name })
        print(msg)
      end
      -- a wrong key too
      local bad = require("rcpt.embed").openai{ api_key = "sk-other-7f3a9c2e5b1d",
        base_url = os.getenv("RCPT_EMBED_BASE_URL") }
      v, msg, name = bad:embed({ "x" })
      log.warn("embed failed", { error = msg, errname = name })
      print(msg, name)
    ]])
    local code, out, err = env.rcpt({ "lua", script }, { env = {
      OPENAI_API_KEY = KEY, RCPT_EMBED_BASE_URL = srv.endpoint, RCPT_EMBED_DIM = "32" } })
    env.rmrf(dir)
    assert.are.equal(0, code, err)
    assert.truthy(out:find("EAUTH", 1, true), out)
    assert.truthy(err:find('"embed failed"', 1, true), err)
    assert.is_nil((out .. err):find(KEY, 1, true))
    assert.is_nil((out .. err):find("7f3a9c2e5b1d", 1, true))
    for _, m in ipairs(seen_messages) do assert.is_nil(m:find(KEY, 1, true), m) end
  end)
end)
