-- The object store (rcpt.net objects) on the local folder backend, with the
-- shared behaviour suite (support/objstore_suite.lua, also run against S3 by
-- objstore_s3_spec.lua), backend specifics and net.http.
local env = require("support.env")
local s3rver = require("support.s3rver")
-- loaded in this spec's environment, where busted's describe/it live
local suite = assert(loadfile((os.getenv("RCPT_SOURCE_DIR") or ".") .. "/tests/spec/support/objstore_suite.lua",
  "t", _ENV))()
local net = require("rcpt.net")

suite.run("the file backend", function()
  local dir = env.tmpdir()
  return {
    store = assert(net.objects("file:" .. dir .. "/objects")),
    opts = function(o) return o end,
    cleanup = function() env.rmrf(dir) end,
    byte_order = true,
  }
end)

describe("objects: backend specifics", function()
  it("opens file:DIR, a bare path and refuses unknown schemes", function()
    local dir = env.tmpdir()
    local a = assert(net.objects(dir .. "/bare"))
    assert.is_true(a:put("k", "v"))
    assert.are.equal("v", env.read(dir .. "/bare/k"))
    a:close()
    local st, msg, errname = net.objects("ftp://x/y")
    assert.is_nil(st)
    assert.are.equal("EINVAL", errname)
    assert.truthy(msg:find("scheme", 1, true))
    env.rmrf(dir)
  end)

  it("the file store reports a key that collides with a folder as ECONFLICT", function()
    local dir = env.tmpdir()
    local st = assert(net.objects("file:" .. dir))
    assert(st:put("a/b", "1"))
    local ok, _, errname = st:put("a", "2")
    assert.is_nil(ok)
    assert.are.equal("ECONFLICT", errname)
    ok, _, errname = st:put("a/b/c", "3")
    assert.is_nil(ok)
    assert.are.equal("ECONFLICT", errname)
    -- its bookkeeping names are not keys
    ok, _, errname = st:put(".rcpt-meta/x", "4")
    assert.is_nil(ok)
    assert.are.equal("EINVAL", errname)
    st:close()
    env.rmrf(dir)
  end)

  it("S3 needs credentials and keeps them out of every message", function()
    local st, msg, errname = net.objects("s3://bucket", { env = { AWS_ACCESS_KEY_ID = false,
      AWS_SECRET_ACCESS_KEY = false } })
    assert.is_nil(st)
    assert.are.equal("EAUTH", errname)
    assert.truthy(msg:find("AWS_ACCESS_KEY_ID", 1, true))
    -- a store on a port where nothing listens: every failure message is clean
    local p = io.popen([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']])
    local port = p:read("l")
    p:close()
    st = assert(net.objects("s3://bucket/pfx", {
      retry = { max_attempts = 2, base_delay_ms = 1, max_delay_ms = 5 },
      env = { AWS_ENDPOINT_URL = "http://127.0.0.1:" .. port, AWS_ACCESS_KEY_ID = "AKIDSECRETID",
        AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI-SECRET", AWS_SESSION_TOKEN = "TOKEN-SECRET-1" } }))
    local msgs = {}
    local _, m1, e1 = st:get("a/b")
    local _, m2 = st:put("a/b", "x")
    local _, m3 = st:list("a/")
    msgs = { m1, m2, m3 }
    assert.are.equal("EIO", e1)
    for _, m in ipairs(msgs) do
      assert.truthy(m:find("a/", 1, true), m)
      assert.falsy(m:find("SECRET", 1, true), m)
      assert.falsy(m:find("wJalr", 1, true), m)
      assert.falsy(m:find("Signature", 1, true), m)
    end
    assert.truthy(m1:find("after 2 attempts", 1, true), m1)
    st:close()
  end)
end)

describe("net.http", function()
  it("talks to a server and returns status, headers and body; errors hide the query", function()
    local srv2 = s3rver.start({ bucket = "http-test" })
    local ok, err = pcall(function()
      local r = assert(net.http({ url = srv2.endpoint .. "/http-test?list-type=2",
        headers = { ["Accept"] = "application/xml" } }))
      assert.are.equal(200, r.status)
      assert.truthy(r.body:find("<ListBucketResult", 1, true))
      assert.truthy(r.headers["content-type"]:find("xml", 1, true))
      -- a 404 is a response, not a failure
      r = assert(net.http({ url = srv2.endpoint .. "/no-such-bucket/x?key=SECRET123" }))
      assert.are.equal(404, r.status)
    end)
    srv2:stop()
    assert(ok, err)
    -- a refused connection: nil, message without the query, EIO
    local p = io.popen([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']])
    local port = p:read("l")
    p:close()
    local r, msg, errname = net.http({ url = "http://127.0.0.1:" .. port .. "/maps/api?key=SECRET123&q=x",
      retry = { max_attempts = 2, base_delay_ms = 1, max_delay_ms = 2 } })
    assert.is_nil(r)
    assert.are.equal("EIO", errname)
    assert.truthy(msg:find("GET 127.0.0.1:" .. port .. "/maps/api", 1, true), msg)
    assert.falsy(msg:find("SECRET123", 1, true), msg)
    assert.has_error(function() net.http({}) end)
  end)
end)
