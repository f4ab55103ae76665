-- rcpt embed-worker: the local consumer of the legacy pipeline's embed
-- queue (spec §1 B): every embed message -> merchant + embeddings
-- (rcpt.embed_ndjson.drain).  `rcpt ingest` drains the queue itself after
-- each image when the queue is local; this command is for a queue filled
-- by something else (a --no-worker ingest, an SQS queue stand-in).
local config = require("rcpt.config")
local json = require("rcpt.json")
local log = require("rcpt.log")

return {
  summary = "process the embed_ndjson queue (legacy pipeline): merchant + embeddings",
  usage = "rcpt embed-worker [--store URL] [--objects URL] [--json] [--verbose]",
  help = [[Receives every message on the embed_ndjson queue (EMBED_NDJSON_QUEUE_URL when it
is an SQS URL, else the store's local queue), reads the receipt's lines.ndjson and
words.ndjson, resolves the merchant (ReceiptMetadata), embeds lines and words,
writes the deltas and a CompactionRun, and compacts when RCPT_COMPACT_AFTER is on
(the default locally).  A message that fails stays on the queue.

  --store URL     entity store (default: $RCPT_STORE or ]] .. config.DEFAULT_STORE .. [[)
  --objects URL   object store root (default: $RCPT_OBJECTS or ]] .. config.DEFAULT_OBJECTS .. [[)
  --json          print the results as JSON
  --verbose       info-level logs on stderr

Exit status: 0 when every message was processed, 1 when any failed, 2 on usage errors.]],
  run = function(args)
    local opts, pos = config.parse(args, { store = "value", objects = "value", json = "flag", verbose = "flag" })
    if not opts or #pos > 0 then
      io.stderr:write("rcpt embed-worker: ", opts and ("unexpected argument '" .. pos[1] .. "'") or pos, "\n")
      return 2
    end
    if not os.getenv("RCPT_LOG_LEVEL") then log.set_level(opts.verbose and "info" or "warn") end
    local ok, env = pcall(require("rcpt.env").open, { store = opts.store, objects = opts.objects })
    if not ok then
      io.stderr:write("rcpt embed-worker: ", require("rcpt.pipeline").message(env), "\n")
      return 1
    end
    local dok, res = pcall(require("rcpt.embed_ndjson").drain, env)
    env:close()
    if not dok then
      io.stderr:write("rcpt embed-worker: ", require("rcpt.pipeline").message(res), "\n")
      return 1
    end
    if opts.json then
      res.results = json.array(res.results)
      io.stdout:write(json.encode(res), "\n")
    else
      for _, r in ipairs(res.results) do
        io.stdout:write(string.format("%s receipt %s: %s%s\n", tostring(r.image_id), tostring(r.receipt_id),
          r.success and "ok" or "FAILED", r.success and (r.merchant and r.merchant[1] and
            (" merchant '" .. tostring(r.merchant[1].merchant_name) .. "'") or "") or (": " .. tostring(r.error))))
      end
      io.stdout:write(string.format("%d processed, %d failed\n", res.processed, res.failed))
    end
    return res.failed > 0 and 1 or 0
  end,
}
