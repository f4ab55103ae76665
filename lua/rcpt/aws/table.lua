-- The entity store's DynamoDB table: create it (idempotently) and describe it, for
-- `rcpt store init` / `rcpt store describe`.  Requests go through rcpt.aws.dynamodb (the
-- store's own client: same endpoint, region and credential variables).
--   M.init(name[, opts]) -> info | nil, msg     info = {created = bool, status, ttl}
--   M.describe(name) -> table description (decoded DescribeTable "Table") | nil, msg, errname
-- opts.poll_s (1), opts.timeout_s (600): how CreateTable's CREATING state is waited out.
local json = require("rcpt.json")
local def = require("rcpt.aws.table_definition")

local M = {}

local function call(op, body)
  local aws = require("rcpt.aws")
  local out, msg, name, awstype = aws.dynamodb(op, json.encode(body), body.TableName)
  if not out then return nil, msg, name, awstype end
  return json.decode(out)
end

local function key_text(ks)
  local parts = {}
  for _, k in ipairs(ks or {}) do parts[#parts + 1] = k.AttributeName .. " " .. k.KeyType end
  return table.concat(parts, ", ")
end

-- What differs between an existing table and the definition (nil when nothing that matters).
local function schema_diff(t)
  if key_text(t.KeySchema) ~= key_text(def.KeySchema) then
    return "keys are (" .. key_text(t.KeySchema) .. "), expected (" .. key_text(def.KeySchema) .. ")"
  end
  local have = {}
  for _, g in ipairs(t.GlobalSecondaryIndexes or {}) do have[g.IndexName] = g end
  for _, g in ipairs(def.GlobalSecondaryIndexes) do
    local h = have[g.IndexName]
    if not h then return "index " .. g.IndexName .. " is missing" end
    if key_text(h.KeySchema) ~= key_text(g.KeySchema) then
      return "index " .. g.IndexName .. " has keys (" .. key_text(h.KeySchema) .. "), expected (" ..
        key_text(g.KeySchema) .. ")"
    end
    local p = h.Projection and h.Projection.ProjectionType
    if p ~= "ALL" then return "index " .. g.IndexName .. " projects " .. tostring(p) .. ", expected ALL" end
  end
  return nil
end

-- -> table | nil, msg, errname, aws error type ("ResourceNotFoundException": no such table)
function M.describe(name)
  local r, msg, ename, awstype = call("DescribeTable", { TableName = name })
  if not r then return nil, msg, ename, awstype end
  return r.Table
end

local function sleep(s) os.execute("sleep " .. tostring(s)) end

local function wait_active(name, opts)
  local deadline = os.time() + (opts.timeout_s or 600)
  while true do
    local t, msg = M.describe(name)
    if not t then return nil, msg end
    local ok = t.TableStatus == "ACTIVE"
    for _, g in ipairs(t.GlobalSecondaryIndexes or {}) do
      if g.IndexStatus and g.IndexStatus ~= "ACTIVE" then ok = false end
    end
    if ok then return t end
    if os.time() > deadline then
      return nil, "table " .. name .. " is still " .. tostring(t.TableStatus) .. " after " ..
        tostring(opts.timeout_s or 600) .. " s"
    end
    sleep(opts.poll_s or 1)
  end
end

local function ensure_ttl(name)
  local d = call("DescribeTimeToLive", { TableName = name })
  local st = d and d.TimeToLiveDescription and d.TimeToLiveDescription.TimeToLiveStatus
  if st == "ENABLED" or st == "ENABLING" then
    local attr = d.TimeToLiveDescription.AttributeName
    if attr ~= "time_to_live" then
      return nil, "TTL is on attribute " .. tostring(attr) .. ", expected time_to_live"
    end
    return st
  end
  local r, msg = call("UpdateTimeToLive", { TableName = name,
    TimeToLiveSpecification = { Enabled = true, AttributeName = "time_to_live" } })
  if not r then
    if tostring(msg):find("already enabled", 1, true) then return "ENABLED" end
    return nil, msg
  end
  return r.TimeToLiveSpecification and r.TimeToLiveSpecification.Enabled and "ENABLED" or "ENABLING"
end

function M.init(name, opts)
  opts = opts or {}
  local t, msg, _, awstype = M.describe(name)
  local created = false
  if not t then
    if awstype ~= "ResourceNotFoundException" then return nil, msg end
    local body = { TableName = name }
    for k, v in pairs(def) do body[k] = v end
    local r, cmsg, _, ctype = call("CreateTable", body)
    -- another process may have created it in between: that is fine
    if not r and ctype ~= "ResourceInUseException" then return nil, cmsg end
    created = r ~= nil
  else
    local diff = schema_diff(t)
    if diff then
      return nil, "table " .. name .. " exists with a different schema: " .. diff
    end
  end
  local active, werr = wait_active(name, opts)
  if not active then return nil, werr end
  local diff = schema_diff(active)
  if diff then return nil, "table " .. name .. " exists with a different schema: " .. diff end
  local ttl, terr = ensure_ttl(name)
  if not ttl then return nil, "table " .. name .. ": UpdateTimeToLive: " .. tostring(terr) end
  return { created = created, status = active.TableStatus, ttl = ttl, table = active }
end

M.schema_diff = schema_diff

return M
