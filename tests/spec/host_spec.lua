-- The host: command line, embedded scripts and the --lua / RCPT_LUA_PATH override.
local env = require("support.env")

describe("rcpt host", function()
  it("lists its commands on --help and exits 0", function()
    local code, out = env.rcpt({ "--help" })
    assert.are.equal(0, code)
    assert.truthy(out:find("usage: rcpt", 1, true))
    assert.truthy(out:find("repl", 1, true))
  end)

  it("answers `CMD --help` for every listed command", function()
    local _, out = env.rcpt({ "--help" })
    for name in out:gmatch("\n  ([%w%-]+) ") do
      if name ~= "lua" then
        local code, text = env.rcpt({ name, "--help" })
        assert.are.equal(0, code, name)
        assert.truthy(text:find("usage: rcpt " .. name, 1, true), name)
      end
    end
  end)

  it("refuses an unknown command with exit 2 and the list", function()
    local code, _, err = env.rcpt({ "no-such-command" })
    assert.are.equal(2, code)
    assert.truthy(err:find("unknown command 'no-such-command'", 1, true))
  end)

  it("runs an edited copy of a script from --lua DIR without a rebuild", function()
    local dir = env.tmpdir()
    os.execute("mkdir -p " .. dir .. "/rcpt/cmd")
    env.write(dir .. "/rcpt/cmd/hello.lua",
      'return { summary = "edited", run = function(a) print("hello " .. (a[1] or "")) return 3 end }')
    local code, out = env.rcpt({ "--lua", dir, "hello", "world" })
    assert.are.equal(3, code)
    assert.are.equal("hello world\n", out)
    -- the same through the environment variable, and it shows in --help
    local code2, out2 = env.rcpt({ "--help" }, { env = { RCPT_LUA_PATH = dir } })
    assert.are.equal(0, code2)
    assert.truthy(out2:find("hello%s+edited"))
    env.rmrf(dir)
  end)

  it("an override replaces a compiled-in module", function()
    local dir = env.tmpdir()
    os.execute("mkdir -p " .. dir .. "/rcpt")
    env.write(dir .. "/rcpt/cli.lua", 'return { main = function() print("patched cli") return 0 end }')
    local code, out = env.rcpt({ "--lua", dir, "--help" })
    assert.are.equal(0, code)
    assert.are.equal("patched cli\n", out)
    env.rmrf(dir)
  end)

  it("rcpt lua runs a script with arguments", function()
    local dir = env.tmpdir()
    env.write(dir .. "/s.lua", 'print(select("#", ...), arg[0] ~= nil, ...)')
    local code, out = env.rcpt({ "lua", dir .. "/s.lua", "a", "b" })
    assert.are.equal(0, code)
    assert.are.equal("2\ttrue\ta\tb\n", out)
    env.rmrf(dir)
  end)
end)
