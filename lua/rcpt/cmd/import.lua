-- rcpt import: load DynamoDB JSON lines (as written by `rcpt export`).
local config = require("rcpt.config")

return {
  summary = "load DynamoDB JSON lines into the entity store",
  usage = "rcpt import [--store URL] FILE",
  help = [[Reads {"Item": {...}} lines (rcpt export, or a DynamoDB export to S3 once
decompressed) from FILE ("-" = stdin) and puts every item into the store,
overwriting items with the same PK and SK.  A malformed line stops the import
with its line number; items before it stay written (they go in batches of
2000, each one transaction).  Progress goes to stderr.

  --store URL   the store (default: $RCPT_STORE, dynamodb:$DYNAMO_TABLE_NAME,
                or ]] .. config.DEFAULT_STORE .. [[)
  --quiet       no progress]],
  run = function(args)
    local opts, pos = config.parse(args, { store = "value", quiet = "flag" }, { q = "quiet" })
    if not opts then
      io.stderr:write("rcpt import: ", pos, "\n")
      return 2
    end
    if #pos ~= 1 then
      io.stderr:write("rcpt import: expected one FILE (see rcpt import --help)\n")
      return 2
    end
    local file = pos[1] == "-" and io.stdin or pos[1]
    local url = config.store_url(opts.store)
    local st, msg = config.open_store(url)
    if not st then
      io.stderr:write("rcpt import: ", msg, "\n")
      return 1
    end
    local t0 = os.clock()
    local progress = not opts.quiet and function(n)
      io.stderr:write(string.format("\rimported %d items", n))
    end or nil
    local n, err = st:import(file, { progress = progress })
    st:close()
    if progress then io.stderr:write("\r") end
    if not n then
      io.stderr:write("rcpt import: ", err, "\n")
      return 1
    end
    io.stderr:write(string.format("imported %d items into %s (%.1f s)\n", n, url, os.clock() - t0))
    return 0
  end,
}
