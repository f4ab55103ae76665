-- rcpt export: the whole entity store as DynamoDB JSON lines.
local config = require("rcpt.config")

return {
  summary = "write the whole entity store as DynamoDB JSON lines",
  usage = "rcpt export [--store URL] [-o FILE]",
  help = [[Writes every item of the entity store, one {"Item": {...}} per line (the shape
of a DynamoDB export to S3), ordered by PK and SK, to FILE or to stdout.
`rcpt import` reads it back; a round trip gives the same bytes.

  --store URL   the store (default: $RCPT_STORE, dynamodb:$DYNAMO_TABLE_NAME,
                or ]] .. config.DEFAULT_STORE .. [[)
  -o, --output FILE   write here instead of stdout]],
  run = function(args)
    local opts, pos = config.parse(args, { store = "value", output = "value" }, { o = "output" })
    if not opts then
      io.stderr:write("rcpt export: ", pos, "\n")
      return 2
    end
    if #pos > 0 then
      io.stderr:write("rcpt export: unexpected argument '", pos[1], "'\n")
      return 2
    end
    local url = config.store_url(opts.store)
    local st, msg = config.open_store(url)
    if not st then
      io.stderr:write("rcpt export: ", msg, "\n")
      return 1
    end
    local n, err = st:export(opts.output or io.stdout)
    st:close()
    if not n then
      io.stderr:write("rcpt export: ", err, "\n")
      return 1
    end
    io.stderr:write(string.format("exported %d items from %s%s\n", n, url,
      opts.output and (" to " .. opts.output) or ""))
    return 0
  end,
}
