-- rcpt lambda against a loopback stand-in of the Lambda Runtime API
-- (tests/support/runtime_api.py): several invocations in one process, the
-- error paths, the deadline, the retry of a failed post, init failures.
local cjson = require("cjson")
local env = require("support.env")
local runtime_api = require("support.runtime_api")

-- The handler the specs run (an override folder, like --lua DIR in production).
local HANDLER = [[
local host = require("rcpt.host")
local M = {}
local served = 0
function M.handler(event, ctx)
  served = served + 1
  local k = event.kind
  if k == "echo" then
    return { echo = event.payload, served = served }, "a second result, not posted"
  elseif k == "string_error" then
    error("the receipt is upside down")
  elseif k == "table_error" then
    error({ type = "Receipt.Invalid", message = "total does not add up" })
  elseif k == "loop" then
    local n = 0
    while true do n = n + 1 end
  elseif k == "unencodable" then
    return { total = 3, f = function() end }
  elseif k == "after_timeout" then
    collectgarbage()
    return { alive = true, served = served, trace = os.getenv("_X_AMZN_TRACE_ID") }
  elseif k == "context" then
    local a = ctx.get_remaining_time_in_millis()
    local stop = host.remaining_ms()
    local t = os.clock()
    while os.clock() - t < 0.05 do end -- 50 ms of CPU
    local b = ctx.get_remaining_time_in_millis()
    return {
      request_id = ctx.aws_request_id, arn = ctx.invoked_function_arn,
      deadline_ms = ctx.deadline_ms, a = a, b = b, stop = stop,
      trace = os.getenv("_X_AMZN_TRACE_ID"), trace_field = ctx.trace_id,
      function_name = ctx.function_name, function_version = ctx.function_version,
      memory = ctx.memory_limit_in_mb, log_group = ctx.log_group_name,
      log_stream = ctx.log_stream_name, client_context = ctx.client_context,
    }
  end
  error("unknown kind " .. tostring(k))
end
return M
]]

local function handler_dir(main_source)
  local dir = env.tmpdir()
  env.write(dir .. "/main.lua", main_source)
  return dir
end

local function by_id(rec)
  local t = {}
  for _, p in ipairs(rec.posts) do
    assert(t[p.request_id] == nil, "two answers for " .. tostring(p.request_id))
    t[p.request_id] = p
  end
  return t
end

local RECEIPT = { merchant = "Ralphs", total = 12.5, items = { "milk", "eggs" }, paid = true }

describe("rcpt lambda, several invocations in one process", function()
  local api, dir, code, err, rec, posts
  local events = {
    { request_id = "r1-echo", event = { kind = "echo", payload = RECEIPT } },
    { request_id = "r2-malformed", body = '{"kind": "echo", ' },
    { request_id = "r3-after-malformed", event = { kind = "echo", payload = { n = 3 } } },
    { request_id = "r4-string-error", event = { kind = "string_error" } },
    { request_id = "r5-table-error", event = { kind = "table_error" } },
    { request_id = "r6-loop", event = { kind = "loop" }, deadline_offset_ms = 1500 },
    { request_id = "r7-after-timeout", event = { kind = "after_timeout" } },
    { request_id = "r8-unencodable", event = { kind = "unencodable" } },
    { request_id = "r9-post-fails-once", event = { kind = "echo", payload = { n = 9 } },
      fail_posts = { 500 } },
    { request_id = "r10-context", event = { kind = "context" }, deadline_offset_ms = 20000,
      trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
      client_context = '{"client":{"app_title":"receipts"}}',
      function_arn = "arn:aws:lambda:us-east-1:123456789012:function:rcpt-ocr:live" },
  }

  lazy_setup(function()
    dir = handler_dir(HANDLER)
    api = runtime_api.start({ events = events })
    local r = table.pack(api:run_rcpt({ "--max-invocations", tostring(#events) }, {
      lua = dir,
      env = {
        _HANDLER = "main.handler",
        AWS_LAMBDA_FUNCTION_NAME = "rcpt-ocr", AWS_LAMBDA_FUNCTION_VERSION = "7",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE = "1024",
        AWS_LAMBDA_LOG_GROUP_NAME = "/aws/lambda/rcpt-ocr",
        AWS_LAMBDA_LOG_STREAM_NAME = "2026/11/29/[7]abc",
      },
    }))
    code, err = r[1], r[3]
    rec = api:record()
    posts = by_id(rec)
  end)

  lazy_teardown(function()
    if api then api:stop() end
    env.rmrf(dir)
  end)

  it("serves every invocation and exits 0 after --max-invocations", function()
    assert.are.equal(0, code, err)
    assert.are.equal(#events, #rec.nexts)
    for _, ev in ipairs(events) do
      assert.is_table(posts[ev.request_id], ev.request_id .. " was not answered")
    end
    assert.are.equal(#events, #rec.posts)
  end)

  it("keeps one connection alive for every request", function()
    local port = rec.nexts[1].peer_port
    for _, r in ipairs(rec.nexts) do assert.are.equal(port, r.peer_port) end
    for _, r in ipairs(rec.posts) do assert.are.equal(port, r.peer_port) end
    for _, r in ipairs(rec.rejected) do assert.are.equal(port, r.peer_port) end
  end)

  it("posts the handler's result as the response body", function()
    local p = posts["r1-echo"]
    assert.are.equal("response", p.kind)
    assert.are.same({ echo = RECEIPT, served = 1 }, cjson.decode(p.body))
    assert.are.equal("application/json", p.headers["Content-Type"])
  end)

  it("answers a malformed event with Runtime.MalformedEvent and goes on", function()
    local p = posts["r2-malformed"]
    assert.are.equal("error", p.kind)
    local body = cjson.decode(p.body)
    assert.are.equal("Runtime.MalformedEvent", body.errorType)
    assert.are.equal("Runtime.MalformedEvent", p.headers["Lambda-Runtime-Function-Error-Type"])
    assert.truthy(body.errorMessage:find("not JSON", 1, true), body.errorMessage)
    -- the handler never saw it: the next event is its second call
    local nxt = posts["r3-after-malformed"]
    assert.are.equal("response", nxt.kind)
    assert.are.same({ echo = { n = 3 }, served = 2 }, cjson.decode(nxt.body))
  end)

  it("reports a string error with its message, type and stack", function()
    local p = posts["r4-string-error"]
    assert.are.equal("error", p.kind)
    local body = cjson.decode(p.body)
    assert.are.equal("Runtime.HandlerError", body.errorType)
    assert.are.equal("Runtime.HandlerError", p.headers["Lambda-Runtime-Function-Error-Type"])
    assert.truthy(body.errorMessage:find("main.lua:%d+: the receipt is upside down$"), body.errorMessage)
    local joined = table.concat(body.stackTrace, "\n")
    assert.truthy(joined:find("main.lua:%d+: in function 'main.handler'"), joined)
  end)

  it("reports a table error with its own type", function()
    local p = posts["r5-table-error"]
    local body = cjson.decode(p.body)
    assert.are.equal("Receipt.Invalid", body.errorType)
    assert.are.equal("Receipt.Invalid", p.headers["Lambda-Runtime-Function-Error-Type"])
    assert.are.equal("total does not add up", body.errorMessage)
    assert.truthy(#body.stackTrace >= 1)
  end)

  it("stops a handler past its deadline margin and reports Runtime.Timeout before the deadline", function()
    local p = posts["r6-loop"]
    assert.are.equal("error", p.kind)
    local body = cjson.decode(p.body)
    assert.are.equal("Runtime.Timeout", body.errorType)
    assert.are.equal("Runtime.Timeout", p.headers["Lambda-Runtime-Function-Error-Type"])
    assert.truthy(body.errorMessage:find("Task timed out", 1, true), body.errorMessage)
    assert.truthy(p.t_ms < p.deadline_ms, ("posted at %d, deadline %d"):format(p.t_ms, p.deadline_ms))
    assert.truthy(table.concat(body.stackTrace, "\n"):find("main.lua"))
    -- the state is still usable: the next handler call runs and counts on
    local nxt = posts["r7-after-timeout"]
    assert.are.equal("response", nxt.kind)
    assert.are.same({ alive = true, served = 6 }, cjson.decode(nxt.body))
  end)

  it("posts an error when the result cannot be encoded", function()
    local p = posts["r8-unencodable"]
    assert.are.equal("error", p.kind)
    local body = cjson.decode(p.body)
    assert.are.equal("Runtime.MarshalError", body.errorType)
    assert.truthy(body.errorMessage:find("function", 1, true), body.errorMessage)
  end)

  it("retries a post answered 500 and is recorded once", function()
    assert.are.equal(1, #rec.rejected)
    assert.are.equal("r9-post-fails-once", rec.rejected[1].request_id)
    assert.are.equal(500, rec.rejected[1].status)
    local p = posts["r9-post-fails-once"]
    assert.are.equal("response", p.kind)
    assert.are.same({ echo = { n = 9 }, served = 8 }, cjson.decode(p.body))
    assert.truthy(err:find('"msg":"post failed, retrying","request_id":"r9-post-fails-once"', 1, true), err)
  end)

  it("hands the context and _X_AMZN_TRACE_ID to the handler", function()
    local p = posts["r10-context"]
    assert.are.equal("response", p.kind, p.body)
    local c = cjson.decode(p.body)
    local ev = events[10]
    assert.are.equal("r10-context", c.request_id)
    assert.are.equal(ev.function_arn, c.arn)
    assert.are.equal(p.deadline_ms, c.deadline_ms)
    assert.are.equal(ev.trace_id, c.trace)
    assert.are.equal(ev.trace_id, c.trace_field)
    assert.are.equal("rcpt-ocr", c.function_name)
    assert.are.equal("7", c.function_version)
    assert.are.equal(1024, c.memory)
    assert.are.equal("/aws/lambda/rcpt-ocr", c.log_group)
    assert.are.equal("2026/11/29/[7]abc", c.log_stream)
    assert.are.same({ client = { app_title = "receipts" } }, c.client_context)
    -- remaining time: within the offset, decreasing, and the stop comes a margin earlier
    assert.truthy(c.a > 0 and c.a <= 20000, tostring(c.a))
    assert.truthy(c.b < c.a, ("%d then %d"):format(c.a, c.b))
    assert.truthy(c.stop < c.a and c.stop >= c.a - 600, ("stop %d, remaining %d"):format(c.stop, c.a))
    -- the trace id is per invocation: unset for one that carried none
    assert.is_nil(cjson.decode(posts["r7-after-timeout"].body).trace)
  end)

  it("logs one JSON line per event on stderr", function()
    local n = 0
    for line in err:gmatch("[^\n]+") do
      local ok, t = pcall(cjson.decode, line)
      assert.truthy(ok and type(t) == "table" and t.level and t.msg, line)
      if t.msg == "invocation done" or t.msg == "invocation failed" then
        n = n + 1
        assert.is_string(t.request_id)
        assert.is_number(t.duration_ms)
      end
    end
    assert.are.equal(#events, n)
  end)
end)

describe("rcpt lambda init failures", function()
  local function init_failure(main_source, handler)
    local dir = handler_dir(main_source)
    local result
    local ok, e = pcall(runtime_api.with, { events = { { event = { kind = "echo" } } } }, function(api)
      local code, _, err = api:run_rcpt({ "--max-invocations", "1" },
        { lua = dir, env = { _HANDLER = handler } })
      result = { code = code, err = err, rec = api:record() }
    end)
    env.rmrf(dir)
    assert(ok, e)
    return result
  end

  local function assert_init_error(r, etype)
    assert.are_not.equal(0, r.code)
    assert.are.equal(0, #r.rec.nexts) -- it never asked for an event
    assert.are.equal(1, #r.rec.posts)
    local p = r.rec.posts[1]
    assert.are.equal("init_error", p.kind)
    assert.are.equal(etype, p.headers["Lambda-Runtime-Function-Error-Type"])
    local body = cjson.decode(p.body)
    assert.are.equal(etype, body.errorType)
    assert.is_table(body.stackTrace)
    return body
  end

  it("posts /runtime/init/error and exits non-zero when the handler module is missing", function()
    local r = init_failure("return {}", "no_such_module.handler")
    local body = assert_init_error(r, "Runtime.ImportModuleError")
    assert.truthy(body.errorMessage:find("module 'no_such_module' not found", 1, true), body.errorMessage)
  end)

  it("posts /runtime/init/error when main.lua raises while loading", function()
    local r = init_failure('error("DYNAMO_TABLE_NAME is not set")', "main.handler")
    local body = assert_init_error(r, "Runtime.ImportModuleError")
    assert.truthy(body.errorMessage:find("DYNAMO_TABLE_NAME is not set", 1, true), body.errorMessage)
    assert.truthy(#body.stackTrace > 0)
  end)

  it("posts Runtime.HandlerNotFound when the module has no such function", function()
    local r = init_failure("return { handler = function() return 1 end }", "main.nope")
    local body = assert_init_error(r, "Runtime.HandlerNotFound")
    assert.truthy(body.errorMessage:find("no function 'nope'", 1, true), body.errorMessage)
  end)
end)
