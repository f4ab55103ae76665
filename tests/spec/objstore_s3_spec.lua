-- The object store on S3: the shared behaviour suite (support/objstore_suite.lua)
-- against s3rver on 127.0.0.1, started and stopped here.  Without the npm
-- install (tests/node) this fails, it never skips.
-- loaded in this spec's environment, where busted's describe/it live
local suite = assert(loadfile((os.getenv("RCPT_SOURCE_DIR") or ".") .. "/tests/spec/support/objstore_suite.lua",
  "t", _ENV))()
local s3rver = require("support.s3rver")
local net = require("rcpt.net")

local srv
suite.run("the S3 backend (s3rver)", function()
  srv = s3rver.start({ bucket = "rcpt-test" })
  local function opts(o)
    o.env = srv.env
    return o
  end
  return {
    store = assert(net.objects("s3://rcpt-test/some/prefix", opts({}))),
    opts = opts,
    cleanup = function() srv:stop() end,
    byte_order = false,
  }
end)

