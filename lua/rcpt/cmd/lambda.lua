-- rcpt lambda: serve AWS Lambda invocations through the Runtime API (the loop
-- is C: bindings/host/lambda.c; this file reads the options).
local host = require("rcpt.host")

local function parse(args)
  local opts = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then
      name = a:match("^%-%-([%w%-]+)$")
      value = args[i + 1]
      i = i + 1
    end
    local key = name and ({ ["max-invocations"] = "max_invocations",
                            ["deadline-margin-ms"] = "deadline_margin_ms" })[name]
    if not key then return nil, "unknown option '" .. a .. "'" end
    local n = math.tointeger(tonumber(value))
    if not n or n < 0 then
      return nil, "--" .. name .. " needs a whole number >= 0, got '" .. tostring(value) .. "'"
    end
    opts[key] = n
    i = i + 1
  end
  return opts
end

return {
  summary = "serve AWS Lambda invocations (Runtime API loop)",
  usage = "rcpt lambda [--max-invocations N] [--deadline-margin-ms MS]",
  help = [[Runs the AWS Lambda Runtime API loop against AWS_LAMBDA_RUNTIME_API
(host:port).  The handler is _HANDLER (default main.handler: module `main`,
function `handler`), found like any module, so --lua DIR / RCPT_LUA_PATH
override the embedded lua/main.lua.  Each event is decoded with rcpt.json (C, core/json) and
handler(event, context) is called; its result is posted as JSON.  Errors are
posted as {errorMessage, errorType, stackTrace}; errorType is the error
table's `type` field, else Runtime.HandlerError (Runtime.MalformedEvent,
Runtime.Timeout, Runtime.MarshalError for the runtime's own failures).  A
failure to load the handler goes to /runtime/init/error and exits 1.

context: aws_request_id, deadline_ms, invoked_function_arn, trace_id,
function_name, function_version, memory_limit_in_mb, log_group_name,
log_stream_name, client_context, identity, get_remaining_time_in_millis().
A Lua handler still running --deadline-margin-ms (default 500) before its
deadline is stopped and reported as Runtime.Timeout.  C code that blocks
cannot be stopped: cap its waits with require("rcpt.host").remaining_ms()
(ms until the stop, nil outside an invocation).

  --max-invocations N     exit 0 after N invocations (default: never)
  --deadline-margin-ms MS stop a handler MS before its deadline (default 500)

Logs: one JSON line per event on stderr.]],
  run = function(args)
    local opts, err = parse(args)
    if not opts then
      io.stderr:write("rcpt lambda: ", err, "\n")
      return 2
    end
    return host.lambda_loop(opts)
  end,
}
