-- Compaction triggered by events (lua/rcpt/handler.lua dispatches here).
--
--   handle_stream(env, event, context) -> { batchItemFailures = [...] }, results
--       DynamoDB stream records (NEW_AND_OLD_IMAGES):
--         INSERT of COMPACTION_RUN                        -> a run unit for lines AND words
--         INSERT/MODIFY/REMOVE of RECEIPT_METADATA        -> a metadata unit for both
--           (a MODIFY that changes none of the merchant fields is skipped)
--         anything else (other types, run MODIFY/REMOVE)  -> ignored (success)
--   process_batch(env, items, context) -> { {success =, error =}, ... } in the items' order
--       SQS compaction messages (the stream processor's format, spec §10): body
--       {"source":"dynamodb_stream","entity_type","entity_data","changes","event_name"}
--       with the collection in the `collection` message attribute or a body field
--       (absent: both collections).
--
-- Both group the work per collection and run ONE compaction per collection
-- per invocation (one lock, one snapshot download and upload).  A record fails
-- when any of its units fails in any collection: a busy lock fails every
-- record (so Lambda/SQS delivers them again), a corrupt delta fails only its
-- run's record (the run is marked FAILED and will not be retried by `rcpt compact`).
--
-- Failure identifiers of a stream batch: the record's dynamodb.SequenceNumber
-- (what Lambda's ReportBatchItemFailures expects for DynamoDB and Kinesis
-- streams), or its eventID when the record has no sequence number.
local json = require("rcpt.json")
local log = require("rcpt.log")
local store = require("rcpt.store")
local compaction = require("rcpt.compaction")
local vectors = require("rcpt.vectors")

local M = {}

local function image_type(img)
  if type(img) ~= "table" then return nil end
  local t = img.TYPE
  if type(t) == "table" and type(t.S) == "string" then return t.S end
  -- items without TYPE: infer from the keys (spec §10 routing)
  local sk = type(img.SK) == "table" and img.SK.S or ""
  if sk:find("#COMPACTION_RUN#", 1, true) then return "COMPACTION_RUN" end
  if sk:match("#METADATA$") then return "RECEIPT_METADATA" end
  return nil
end

local function to_entity(img, what)
  if img == nil or img == json.null then return nil end
  local e, msg = store.entity(img)
  if not e then error({ type = "InvalidInput", msg = what .. ": " .. tostring(msg) }, 0) end
  return e
end

-- One stream record -> units (list) or nil (ignored); raises on a bad record
function M.units_from_record(r)
  local name = r.eventName
  local d = r.dynamodb
  if type(d) ~= "table" then error({ type = "InvalidInput", msg = "dynamodb: missing" }, 0) end
  local t = image_type(d.NewImage) or image_type(d.OldImage)
  if t == "COMPACTION_RUN" then
    if name ~= "INSERT" then return nil end
    local run = to_entity(d.NewImage, "dynamodb.NewImage")
    if not run then error({ type = "InvalidInput", msg = "dynamodb.NewImage: missing on INSERT" }, 0) end
    return { lines = { kind = "run", run = run }, words = { kind = "run", run = run } }
  elseif t == "RECEIPT_METADATA" then
    if name ~= "INSERT" and name ~= "MODIFY" and name ~= "REMOVE" then
      error({ type = "InvalidInput", msg = "eventName: " .. tostring(name) }, 0)
    end
    local old = to_entity(d.OldImage, "dynamodb.OldImage")
    local new = to_entity(d.NewImage, "dynamodb.NewImage")
    local u = compaction.metadata_unit(name, old, new)
    if not u then return nil end
    return { lines = u, words = u }
  end
  return nil
end

-- Group units per collection, run, and collect per-record outcomes.
--   entries: list of { units = {lines = u, words = u} | nil, error = msg | nil }
local function run_grouped(env, entries, context)
  local per = { lines = {}, words = {} }
  for i, e in ipairs(entries) do
    if e.units then
      for _, coll in ipairs(vectors.COLLECTIONS) do
        if e.units[coll] then
          table.insert(per[coll], { entry = i, unit = e.units[coll] })
        end
      end
    end
  end
  local outcome = {}
  for i, e in ipairs(entries) do
    outcome[i] = e.error and { success = false, error = e.error } or { success = true }
  end
  local summary = {}
  for _, coll in ipairs(vectors.COLLECTIONS) do
    local list = per[coll]
    if #list > 0 then
      local work = {}
      for k, x in ipairs(list) do work[k] = x.unit end
      local res = compaction.run(env, coll, work, { progress = function(msg, f) log.info(msg, f) end })
      summary[coll] = { status = res.status, version = res.version, merged = res.merged,
        updated = res.updated, error = res.error }
      for k, x in ipairs(list) do
        local r = res.results[k]
        if r and not r.success and outcome[x.entry].success then
          outcome[x.entry] = { success = false, error = coll .. ": " .. tostring(r.error) }
        end
      end
    end
  end
  return outcome, summary
end

function M.handle_stream(env, event, context)
  local entries, ids = {}, {}
  for i, r in ipairs(event.Records or {}) do
    ids[i] = (type(r.dynamodb) == "table" and r.dynamodb.SequenceNumber) or r.eventID or ("record-" .. i)
    local ok, units = pcall(M.units_from_record, r)
    if ok then
      entries[i] = { units = units }
    else
      local msg = type(units) == "table" and units.msg or tostring(units)
      log.error("stream record rejected", { event_id = r.eventID, error = msg })
      entries[i] = { error = "record " .. tostring(r.eventID or i) .. ": " .. msg }
    end
  end
  local outcome, summary = run_grouped(env, entries, context)
  local failures = {}
  for i, o in ipairs(outcome) do
    o.event_id = event.Records[i].eventID
    if not o.success then failures[#failures + 1] = { itemIdentifier = ids[i] } end
  end
  log.info("stream batch compacted", { records = #entries, failed = #failures,
    lines = summary.lines and summary.lines.status, words = summary.words and summary.words.status })
  return { batchItemFailures = json.array(failures) }, outcome
end

local function attr(record, name)
  local a = type(record) == "table" and type(record.messageAttributes) == "table" and record.messageAttributes[name]
  if type(a) == "table" then return a.stringValue or a.StringValue end
  return nil
end

-- One SQS compaction message -> units
function M.units_from_message(record, body)
  local coll = attr(record, "collection") or body.collection
  local colls
  if coll == nil or coll == json.null then
    colls = vectors.COLLECTIONS
  elseif coll == "lines" or coll == "words" then
    colls = { coll }
  else
    error({ type = "InvalidInput", msg = "collection: must be lines or words, got " .. tostring(coll) }, 0)
  end
  local et = body.entity_type or attr(record, "entity_type")
  local ed = body.entity_data
  if type(ed) ~= "table" then error({ type = "InvalidInput", msg = "entity_data: must be an object" }, 0) end
  local ev = body.event_name or attr(record, "event_name")
  local u
  if et == "COMPACTION_RUN" then
    if ev ~= nil and ev ~= "INSERT" then return nil end
    if not (store.is_uuid4(ed.run_id or "") and store.is_uuid4(ed.image_id or "")) then
      error({ type = "InvalidInput", msg = "entity_data: run_id and image_id must be uuid4" }, 0)
    end
    local run = {}
    for k, v in pairs(ed) do run[k] = v end
    u = { kind = "run", run = run }
    -- delta_s3_prefix is the prefix of the message's own collection (§10)
    local units = {}
    for _, c in ipairs(colls) do
      local rc = { kind = "run", run = setmetatable({}, { __index = run }) }
      if #colls == 1 and ed.delta_s3_prefix and not ed[c .. "_delta_prefix"] then
        rc.run[c .. "_delta_prefix"] = ed.delta_s3_prefix
      end
      units[c] = rc
    end
    return units
  elseif et == "RECEIPT_METADATA" then
    if not store.is_uuid4(ed.image_id or "") or not math.tointeger(tonumber(ed.receipt_id)) then
      error({ type = "InvalidInput", msg = "entity_data: image_id (uuid4) and receipt_id required" }, 0)
    end
    if ev ~= "INSERT" and ev ~= "MODIFY" and ev ~= "REMOVE" then
      error({ type = "InvalidInput", msg = "event_name: " .. tostring(ev) }, 0)
    end
    local changes = type(body.changes) == "table" and body.changes or {}
    u = { kind = "metadata", event = ev, image_id = ed.image_id,
      receipt_id = math.tointeger(tonumber(ed.receipt_id)) }
    if ev == "INSERT" and type(body.fields) == "table" then u.fields = body.fields else u.changes = changes end
  else
    return nil -- labels and other entity types: not vectors' business here
  end
  local units = {}
  for _, c in ipairs(colls) do units[c] = u end
  return units
end

function M.process_batch(env, items, context)
  local entries = {}
  for i, item in ipairs(items) do
    local ok, units = pcall(M.units_from_message, item.record, item.body or {})
    if ok then
      entries[i] = { units = units }
    else
      entries[i] = { error = type(units) == "table" and units.msg or tostring(units) }
    end
  end
  local outcome = run_grouped(env, entries, context)
  return outcome
end

return M
