-- rcpt invoke EVENT.json: run the Lambda handler once on an event, locally.
local config = require("rcpt.config")
local json = require("rcpt.json")

local USAGE = "rcpt invoke [--store URL] [--objects URL] [--results] EVENT.json|-"

return {
  summary = "run the handler once on an event (file or - for stdin) and print its result as JSON",
  usage = USAGE,
  help = [[Reads a Lambda event (an SQS batch of OCR results messages, embed or compaction
messages, or DynamoDB stream records) from EVENT.json or stdin (-), runs the
same handler the Lambda runs (lua/main.lua) once, and prints its response as
one JSON line on stdout, e.g. {"batchItemFailures":[{"itemIdentifier":"<messageId>"}]}
listing the failed records only.  Logs go to stderr as JSON lines.

  --store URL     entity store (default: $RCPT_STORE, dynamodb:$DYNAMO_TABLE_NAME,
                  or ]] .. config.DEFAULT_STORE .. [[)
  --objects URL   object store root (default: $RCPT_OBJECTS or ]] .. config.DEFAULT_OBJECTS .. [[)
  --results       print {"response": ..., "results": [per-record results]} instead

Exit status: 0 when the handler ran (even if records failed: see the response),
1 when the event could not be read or the handler raised, 2 on usage errors.]],
  run = function(args)
    local opts, pos = config.parse(args, { store = "value", objects = "value", results = "flag" })
    if not opts then
      io.stderr:write("rcpt invoke: ", pos, "\nusage: ", USAGE, "\n")
      return 2
    end
    if #pos ~= 1 then
      io.stderr:write("rcpt invoke: expected one EVENT.json (or -)\nusage: ", USAGE, "\n")
      return 2
    end
    local text
    if pos[1] == "-" then
      text = io.stdin:read("a")
    else
      local f, msg = io.open(pos[1], "rb")
      if not f then
        io.stderr:write("rcpt invoke: ", msg, "\n")
        return 1
      end
      text = f:read("a")
      f:close()
    end
    local event, derr = json.decode(text or "")
    if event == nil then
      io.stderr:write("rcpt invoke: ", pos[1], ": ", derr, "\n")
      return 1
    end
    local handler = require("rcpt.handler")
    local env
    if opts.store or opts.objects then
      local eok, e = pcall(require("rcpt.env").open, { store = opts.store, objects = opts.objects })
      if not eok then
        io.stderr:write("rcpt invoke: ", require("rcpt.pipeline").message(e), "\n")
        return 1
      end
      env = e
      handler.env = function() return env end
    end
    local context = { function_name = "rcpt-invoke", aws_request_id = require("rcpt.uuid").new() }
    local ok, response, results = pcall(handler.handle, event, context)
    if env then env:close() end
    if not ok then
      io.stderr:write("rcpt invoke: ", require("rcpt.pipeline").message(response), "\n")
      return 1
    end
    local out = response
    if opts.results then out = { response = response, results = json.array(results or {}) } end
    io.stdout:write(json.encode(out), "\n")
    return 0
  end,
}
