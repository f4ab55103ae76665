-- container/bootstrap (the Lambda image's entry) against the Runtime API
-- stand-in: several invocations in a row from one process, with the handler
-- main.lua taken from LAMBDA_TASK_ROOT as in the image.
local env = require("support.env")
local runtime_api = require("support.runtime_api")

local MAIN = [[
local M = {}
function M.handler(event, ctx)
  if event.kind == "ok" then return { ok = true, from = "task root", request = ctx.aws_request_id } end
  if event.kind == "fail" then error({ type = "Receipt.Bad", message = "no lines" }) end
  if event.kind == "loop" then while true do end end
  return { kind = event.kind }
end
return M
]]

describe("container/bootstrap", function()
  it("serves invocations with main.lua from LAMBDA_TASK_ROOT, answering every one", function()
    local root = env.tmpdir()
    env.write(root .. "/main.lua", MAIN)
    runtime_api.with({
      events = {
        { request_id = "r-ok", event = { kind = "ok" } },
        { request_id = "r-bad", body = "{not json" },
        { request_id = "r-fail", event = { kind = "fail" } },
        { request_id = "r-loop", event = { kind = "loop" }, deadline_offset_ms = 1500 },
        { request_id = "r-after", event = { kind = "after" } },
      },
    }, function(api)
      local cmd = string.format(
        "env LAMBDA_TASK_ROOT=%s RCPT_BIN=%s AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d %s --max-invocations 5 >%s/out 2>%s/err",
        env.quote(root), env.quote(env.bin), api.port, env.quote(env.src .. "/container/bootstrap"), root, root)
      local ok, _, code = os.execute(cmd)
      assert.is_true(ok, env.read(root .. "/err"))
      assert.are.equal(0, code)
      local rec = api:record()
      local by = {}
      for _, p in ipairs(rec.posts) do by[p.request_id] = p end
      assert.are.equal("response", by["r-ok"].kind)
      assert.truthy(by["r-ok"].body:find('"from":"task root"', 1, true))
      assert.are.equal("error", by["r-bad"].kind)
      assert.truthy(by["r-bad"].body:find("Runtime.MalformedEvent", 1, true))
      assert.are.equal("error", by["r-fail"].kind)
      assert.truthy(by["r-fail"].body:find("Receipt.Bad", 1, true))
      assert.are.equal("error", by["r-loop"].kind)
      assert.truthy(by["r-loop"].body:find("Runtime.Timeout", 1, true))
      assert.are.equal("response", by["r-after"].kind)
    end)
    env.rmrf(root)
  end)
end)
