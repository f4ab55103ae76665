-- rcpt store: create and describe the entity store.
local config = require("rcpt.config")

local function usage_error(msg)
  io.stderr:write("rcpt store: ", msg, "\n")
  return 2
end

local function init(url)
  local tname = url:match("^dynamodb:(.+)$")
  if tname then
    local info, msg = require("rcpt.aws.table").init(tname)
    if not info then
      io.stderr:write("rcpt store init: ", msg, "\n")
      return 1
    end
    io.stderr:write(string.format("%s table %s: %s, TTL on time_to_live %s\n",
      info.created and "created" or "kept", tname, info.status, info.ttl))
    return 0
  end
  local st, msg = config.open_store(url)
  if not st then
    io.stderr:write("rcpt store init: ", msg, "\n")
    return 1
  end
  st:close()
  io.stderr:write("initialised ", url, "\n")
  return 0
end

local function describe(url)
  local tname = url:match("^dynamodb:(.+)$")
  if tname then
    local t, msg = require("rcpt.aws.table").describe(tname)
    if not t then
      io.stderr:write("rcpt store describe: ", msg, "\n")
      return 1
    end
    local out = { "store " .. url, "status " .. tostring(t.TableStatus),
      "items " .. tostring(t.ItemCount), "keys " .. (function()
        local p = {}
        for _, k in ipairs(t.KeySchema or {}) do p[#p + 1] = k.AttributeName .. " " .. k.KeyType end
        return table.concat(p, ", ")
      end)() }
    for _, g in ipairs(t.GlobalSecondaryIndexes or {}) do
      local p = {}
      for _, k in ipairs(g.KeySchema or {}) do p[#p + 1] = k.AttributeName .. " " .. k.KeyType end
      out[#out + 1] = "index " .. g.IndexName .. " (" .. table.concat(p, ", ") .. ")"
    end
    local s = t.StreamSpecification
    out[#out + 1] = "stream " .. (s and s.StreamEnabled and tostring(s.StreamViewType) or "off")
    io.stdout:write(table.concat(out, "\n"), "\n")
    return 0
  end
  local st, msg = config.open_store(url)
  if not st then
    io.stderr:write("rcpt store describe: ", msg, "\n")
    return 1
  end
  local n, err = st:export("/dev/null")
  st:close()
  if not n then
    io.stderr:write("rcpt store describe: ", err, "\n")
    return 1
  end
  io.stdout:write("store ", url, "\nitems ", tostring(n), "\n")
  return 0
end

return {
  summary = "create (init) or describe the entity store",
  usage = "rcpt store init|describe [--store URL]",
  help = [[rcpt store init: create the entity store.  For dynamodb:TABLE, CreateTable with the
spec's keys and indexes (PK/SK; GSI1, GSI2, GSI3, GSITYPE; on-demand; stream
NEW_AND_OLD_IMAGES), wait until it is ACTIVE, then enable TTL on time_to_live.
Idempotent: an existing table with the same keys and indexes is kept; one with
another schema is an error.  For sqlite:PATH, the file with its schema.
rcpt store describe: status, item count, keys and indexes.

  --store URL   the store (default: $RCPT_STORE, dynamodb:$DYNAMO_TABLE_NAME,
                or ]] .. config.DEFAULT_STORE .. [[)
DynamoDB settings: AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.]],
  run = function(args)
    local opts, pos = config.parse(args, { store = "value" })
    if not opts then return usage_error(pos) end
    local sub = pos[1]
    if #pos ~= 1 or (sub ~= "init" and sub ~= "describe") then
      return usage_error("expected `init` or `describe` (rcpt store init|describe [--store URL])")
    end
    local url = config.store_url(opts.store)
    if sub == "init" then return init(url) end
    return describe(url)
  end,
}
