-- rcpt compact: merge pending vector deltas and metadata changes into new snapshots.
local config = require("rcpt.config")

return {
  summary = "merge pending vector deltas into the published snapshots",
  usage = "rcpt compact [lines|words] [--all] [--store URL] [--objects URL]",
  help = [[For each collection (default both; --all is the same), takes the compaction
lock, downloads the latest snapshot once (or starts an empty one), applies
every PENDING/PROCESSING CompactionRun's delta and every ReceiptMetadata change
from the store's change feed, uploads one new version, moves
{coll}/snapshot/latest-pointer.txt and marks the runs COMPLETED (or FAILED
when their delta is missing or corrupt).  Progress goes to stderr.

Exit status: 0 when every collection compacted (or had nothing to do),
1 when one failed or a run FAILED, 3 when a collection's lock was busy.

  --store URL     the entity store (default: $RCPT_STORE or ]] .. config.DEFAULT_STORE .. [[)
  --objects URL   where buckets live (default: $RCPT_OBJECTS or ]] .. config.DEFAULT_OBJECTS .. [[)
Settings: LOCK_DURATION_MINUTES (3), HEARTBEAT_INTERVAL_SECONDS (30), CHROMADB_BUCKET.]],
  run = function(args)
    local opts, pos = config.parse(args, { store = "value", objects = "value", all = "flag" })
    if not opts then
      io.stderr:write("rcpt compact: ", pos, "\n")
      return 2
    end
    local colls = { "lines", "words" }
    if #pos > 1 then
      io.stderr:write("rcpt compact: at most one collection\n")
      return 2
    elseif #pos == 1 and not opts.all then
      if pos[1] ~= "lines" and pos[1] ~= "words" then
        io.stderr:write("rcpt compact: collection must be lines or words, got '", pos[1], "'\n")
        return 2
      end
      colls = { pos[1] }
    end
    local ok, env = pcall(require("rcpt.env").open, { store = opts.store, objects = opts.objects })
    if not ok then
      io.stderr:write("rcpt compact: ", type(env) == "table" and env.msg or tostring(env), "\n")
      return 1
    end
    local compaction = require("rcpt.compaction")
    local function progress(msg, f)
      local parts = {}
      for k, v in pairs(f or {}) do
        if k ~= "collection" then parts[#parts + 1] = k .. "=" .. tostring(v) end
      end
      table.sort(parts)
      io.stderr:write(string.format("[%s] %s %s\n", f and f.collection or "-", msg, table.concat(parts, " ")))
    end
    local status = 0
    for _, c in ipairs(colls) do
      local cok, res = pcall(compaction.compact, env, c, { progress = progress })
      if not cok then
        io.stderr:write("[", c, "] failed: ", type(res) == "table" and (res.msg or res.type) or tostring(res), "\n")
        status = 1
      else
        local failed = 0
        for _, r in ipairs(res.results) do if not r.success then failed = failed + 1 end end
        io.stderr:write(string.format("[%s] %s: %d runs, %d metadata changes, %d vectors merged, %d updated, %d failed%s%s\n",
          c, res.status, res.runs, res.metadata_changes, res.merged, res.updated, failed,
          res.version and (", published " .. res.version) or "", res.error and (": " .. res.error) or ""))
        for i, r in ipairs(res.results) do
          if not r.success then io.stderr:write(string.format("[%s]   unit %d: %s\n", c, i, tostring(r.error))) end
        end
        if res.status == "busy" then status = math.max(status, 3)
        elseif res.status ~= "ok" or failed > 0 then status = (status == 3) and 3 or 1 end
      end
    end
    env:close()
    return status
  end,
}
