-- Compaction: merge the pending vector deltas and ReceiptMetadata changes of
-- one collection into a new published snapshot (spec §11, with DESIGN.md's
-- fixes: one snapshot download/upload per batch, the first merge creates the
-- snapshot, failed runs are FAILED, metadata INSERTs propagate too).
--
--   local compaction = require("rcpt.compaction")
--   compaction.run(env, coll, work[, opts]) -> result
--   compaction.pending(env, coll) -> work, feed_seq
--   compaction.compact(env, coll[, opts]) -> result   pending + run + advance the feed cursor
--
-- work is a list of units:
--   { kind = "run", run = <CompactionRun entity or its stream entity_data> }
--   { kind = "metadata", event = "INSERT"|"MODIFY"|"REMOVE", image_id =, receipt_id =,
--     fields = { merchant_name =, canonical_merchant_name =, place_id =, address =,
--                phone_number =, merchant_category = } }
--     (fields = the whole new state: absent/empty fields are removed from the vectors;
--      or changes = { field = {old =, new =} }: only those fields, as the SQS messages of §10)
--
-- result = { status = "ok" | "busy" | "error", error = msg?, version = new version | nil,
--            results = { {success =, error =, merged =, updated =}, ... } (one per unit, in order),
--            merged =, updated =, count = rows in the snapshot }
-- "busy": the lock is held by another compactor; nothing was done, every unit
-- failed (the caller reports them for retry).  "error": something failed
-- before the pointer moved (lock lost, upload failed); nothing was published,
-- every unit failed, and the runs stay PENDING/PROCESSING for the next try.
--
-- Order of the work inside one lock (crash safety): take the lock; download
-- the latest snapshot once (or start empty); apply every run's delta (runs
-- first, so a metadata change made after a receipt was embedded wins), then
-- every metadata change in feed order; heartbeat between units; write and
-- upload one version; check the lock; move the pointer; prune; then mark the
-- runs COMPLETED (or FAILED) and release.  A crash anywhere leaves the
-- pointer at a complete version; runs not yet marked are PENDING/PROCESSING
-- and the next compaction applies them again, which changes nothing for the
-- rows already in (deltas are upserts by id, vectors copied bit for bit).
local vec = require("rcpt.vec")
local store = require("rcpt.store")
local vectors = require("rcpt.vectors")
local lock = require("rcpt.lock")
local log = require("rcpt.log")

local M = {}

M.METADATA_FIELDS = { "merchant_name", "canonical_merchant_name", "place_id", "address",
  "phone_number", "merchant_category" }

-- Test hook: RCPT_TEST_PAUSE="point=seconds,point=seconds" sleeps at named
-- points (so a crash test can SIGKILL inside each window).  Points: locked,
-- snapshot, unit, written, uploaded_file, uploaded, pointer, pruned, marked.
local function pauses()
  local spec = os.getenv("RCPT_TEST_PAUSE")
  if not spec or spec == "" then return nil end
  local t = {}
  for name, secs in spec:gmatch("([%w_]+)=([%d%.]+)") do t[name] = tonumber(secs) end
  return t
end

local function make_hook(opts)
  local p = pauses()
  return function(point)
    if opts.hook then opts.hook(point) end
    local s = p and (p[point] or p.all)
    if s and s > 0 then os.execute("sleep " .. s) end
  end
end

function M.receipt_prefix(image_id, receipt_id)
  return string.format("IMAGE#%s#RECEIPT#%05d#", image_id, math.tointeger(tonumber(receipt_id)) or 0)
end

local function run_keys(r)
  return { image_id = r.image_id, receipt_id = math.tointeger(tonumber(r.receipt_id)), run_id = r.run_id }
end

local function mark(env, r, set)
  set.updated_at = store.now()
  return env.store:update("COMPACTION_RUN", run_keys(r), set, { condition = "exists" })
end

local PERMANENT = { ENOTFOUND = true, ECORRUPT = true, EINVAL = true }

local function progress_fn(opts)
  if opts.progress == false then return function() end end
  if type(opts.progress) == "function" then return opts.progress end
  return function(msg, fields) log.info(msg, fields) end
end

-- The metadata change of one unit -> set, remove_keys
local function metadata_change(u, now)
  local set, remove = {}, {}
  if u.event == "REMOVE" then
    for _, f in ipairs(M.METADATA_FIELDS) do remove[#remove + 1] = f end
    set.metadata_removed_at = now
  elseif u.changes then
    -- an SQS message of the stream processor: only the fields it names
    for _, f in ipairs(M.METADATA_FIELDS) do
      local ch = u.changes[f]
      if type(ch) == "table" then
        if type(ch.new) == "string" and ch.new ~= "" then set[f] = ch.new else remove[#remove + 1] = f end
      end
    end
    set.last_metadata_update = now
  else
    local fields = u.fields or {}
    for _, f in ipairs(M.METADATA_FIELDS) do
      local v = fields[f]
      if type(v) == "string" and v ~= "" then set[f] = v else remove[#remove + 1] = f end
    end
    set.last_metadata_update = now
  end
  return set, remove
end

-- The target is lazy (rcpt.vec): the vectors of the snapshot and of every
-- delta stay in their (verified) files until the new snapshot is written,
-- which copies them straight from there, so memory holds ids and metadata
-- only and each vector is copied about as often as a file copy would.  The
-- downloaded deltas are kept (in `kept`) until then.
local function do_run(env, coll_name, work, opts, l, res, hook, progress, kept)
  local t0 = log.now_ms()
  local target, base_version = vectors.latest(env, coll_name, { lazy = true })
  hook("snapshot")
  progress(base_version and "snapshot loaded" or "no snapshot yet: starting an empty one",
    { collection = coll_name, version = base_version, count = target and target:count() or 0,
      duration_ms = log.now_ms() - t0 })
  local changed = false
  local runs = {}  -- index -> run entity, for marking
  local state_key, merged_key = coll_name .. "_state", coll_name .. "_merged_vectors"
  local prefix_key = coll_name .. "_delta_prefix"
  -- runs first, then metadata in order
  local order = {}
  for i, u in ipairs(work) do if u.kind == "run" then order[#order + 1] = i end end
  for i, u in ipairs(work) do if u.kind ~= "run" then order[#order + 1] = i end end
  local now = store.now()
  for n, i in ipairs(order) do
    local u = work[i]
    local ok, why = l:maybe_heartbeat()
    if not ok then error({ type = "LockLost", msg = why }, 0) end
    hook("unit")
    if u.kind == "run" then
      local r = u.run or {}
      -- the stored run is the truth (an SQS message may be stale)
      local stored = r.run_id and r.image_id and env.store:get("COMPACTION_RUN", run_keys(r))
      if stored then r = stored end
      runs[i] = stored
      local prefix = r[prefix_key] or r.delta_s3_prefix
      if stored and stored[state_key] == "COMPLETED" then
        res.results[i] = { success = true, merged = stored[merged_key] or 0, skipped = "already COMPLETED" }
        runs[i] = nil
      elseif not prefix then
        res.results[i] = { success = false, permanent = true, error = "run " .. tostring(r.run_id) .. ": no " .. prefix_key }
      else
        if stored and stored[state_key] == "PENDING" then
          mark(env, r, { [state_key] = "PROCESSING", [coll_name .. "_started_at"] = store.now() })
        end
        local merged, msg, errname
        if not target then
          local d
          d, msg, errname = vectors.read_delta(env, prefix)
          if d then
            target = vec.new(coll_name, d:dim(), { lazy = true })
            merged, msg, errname = target:apply(d)
            d:close()
          end
        else
          merged, msg, errname = vectors.apply_delta(env, target, prefix, kept)
        end
        if merged then
          res.results[i] = { success = true, merged = merged }
          res.merged = res.merged + merged
          changed = true
          progress("delta applied", { collection = coll_name, run_id = r.run_id, merged = merged,
            done = n, total = #work })
        else
          res.results[i] = { success = false, permanent = PERMANENT[errname] or false,
            error = tostring(msg) }
          log.warn("delta not applied", { collection = coll_name, run_id = r.run_id, error = msg })
        end
      end
    elseif u.kind == "metadata" then
      local updated = 0
      if target and u.image_id and u.receipt_id then
        local ids = target:ids(M.receipt_prefix(u.image_id, u.receipt_id))
        if #ids > 0 then
          local set, remove = metadata_change(u, now)
          local n2, msg = target:update_metadata(ids, set, remove)
          if not n2 then error({ type = "Metadata", msg = msg }, 0) end
          updated = n2
          changed = changed or n2 > 0
        end
      end
      res.updated = res.updated + updated
      res.results[i] = { success = true, updated = updated }
    else
      res.results[i] = { success = false, permanent = true, error = "unknown work unit kind " .. tostring(u.kind) }
    end
  end

  if changed then
    local ok, why = l:heartbeat()
    if not ok then error({ type = "LockLost", msg = why }, 0) end
    local t1 = log.now_ms()
    res.version = vectors.publish(env, coll_name, target, {
      keep = opts.keep, hook = hook,
      -- the owner-conditioned heartbeat is the ownership check: it fails when
      -- someone else holds the lock, and otherwise gives the pointer move a
      -- full lock duration
      before_pointer = function()
        local vok, vwhy = l:heartbeat()
        if not vok then error({ type = "LockLost", msg = vwhy }, 0) end
      end,
    })
    progress("snapshot published", { collection = coll_name, version = res.version, count = target:count(),
      duration_ms = log.now_ms() - t1 })
  end
  res.count = target and target:count() or 0
  if target then target:close() end
  vectors.remove_files(kept)

  -- the runs: only now, after the pointer moved
  local finished = store.now()
  for i, r in pairs(runs) do
    local rr = res.results[i]
    if rr.success then
      mark(env, r, { [state_key] = "COMPLETED", [merged_key] = rr.merged, [coll_name .. "_finished_at"] = finished })
    elseif rr.permanent then
      mark(env, r, { [state_key] = "FAILED", [coll_name .. "_error"] = rr.error:sub(1, 1000),
        [coll_name .. "_finished_at"] = finished })
    end
  end
  hook("marked")
end

function M.run(env, coll_name, work, opts)
  vectors.check_coll(coll_name)
  opts = opts or {}
  local progress = progress_fn(opts)
  local hook = make_hook(opts)
  local res = { status = "ok", results = {}, merged = 0, updated = 0 }
  local function fail_all(status, msg)
    res.status, res.error = status, msg
    for i = 1, #work do
      local r = res.results[i]
      -- a unit whose failure is permanent keeps its own message
      if not (r and not r.success and r.permanent) then
        res.results[i] = { success = false, error = msg }
      end
    end
    return res
  end
  if #work == 0 then return res end
  local l, why = lock.acquire(env, coll_name, { settings = opts.lock_settings })
  if not l then
    progress("lock not acquired", { collection = coll_name, reason = why })
    return fail_all(why == "busy" and "busy" or "error", "compaction lock " .. lock.lock_id(coll_name) .. ": " .. why)
  end
  hook("locked")
  local kept = {}
  local ok, err = pcall(do_run, env, coll_name, work, opts, l, res, hook, progress, kept)
  vectors.remove_files(kept)
  local rok, rwhy = l:release()
  if not rok then log.warn("lock release failed", { collection = coll_name, error = rwhy }) end
  if not ok then
    local msg = type(err) == "table" and (err.msg or err.type) or tostring(err)
    log.error("compaction failed", { collection = coll_name, error = msg })
    return fail_all("error", msg)
  end
  return res
end

-- ---- the local change feed -------------------------------------------------------------

function M.cursor_name(coll_name) return "compaction-" .. coll_name end

local function changed_fields(old, new)
  for _, f in ipairs(M.METADATA_FIELDS) do
    if (old and old[f]) ~= (new and new[f]) then return true end
  end
  return false
end

-- A ReceiptMetadata change (entities old/new, either may be nil) -> unit or nil
function M.metadata_unit(event, old, new)
  local e = new or old
  if not e then return nil end
  if event == "MODIFY" and not changed_fields(old, new) then return nil end
  local fields = {}
  if event ~= "REMOVE" and new then
    for _, f in ipairs(M.METADATA_FIELDS) do fields[f] = new[f] end
  end
  return { kind = "metadata", event = event, image_id = e.image_id, receipt_id = e.receipt_id, fields = fields }
end

function M.pending(env, coll_name)
  vectors.check_coll(coll_name)
  local work = {}
  local state_key = coll_name .. "_state"
  local cursor
  repeat
    local page, next_cursor = env.store:query_index("GSI1", "RUNS", { type = "COMPACTION_RUN", cursor = cursor })
    if not page then error({ type = "Store", msg = "runs: " .. tostring(next_cursor) }, 0) end
    for _, r in ipairs(page) do
      local s = r[state_key]
      if s == "PENDING" or s == "PROCESSING" then work[#work + 1] = { kind = "run", run = r } end
    end
    cursor = next_cursor
  until not cursor
  -- ReceiptMetadata changes from the change feed (none on a store without one)
  local has_feed = env.store.change_cursor ~= nil
  -- reading a cursor registers its consumer: register both collections, so
  -- the feed keeps an entry until both have applied it
  local last
  if has_feed then
    for _, c in ipairs(vectors.COLLECTIONS) do
      local seq = env.store:change_cursor(M.cursor_name(c))
      if c == coll_name then last = seq end
    end
  end
  local feed_seq = last
  if last then
    while true do
      local changes = env.store:changes(feed_seq, 1000)
      if not changes or #changes == 0 then break end
      for _, c in ipairs(changes) do
        feed_seq = c.seq
        if c.type == "RECEIPT_METADATA" then
          local old = c.old_item and store.entity(c.old_item)
          local new = c.new_item and store.entity(c.new_item)
          local u = M.metadata_unit(c.event_name, old, new)
          if u then u.seq = c.seq work[#work + 1] = u end
        end
      end
    end
  end
  return work, feed_seq, last
end

-- pending + run; the feed cursor moves only after a successful run
function M.compact(env, coll_name, opts)
  opts = opts or {}
  local work, feed_seq, last = M.pending(env, coll_name)
  local progress = progress_fn(opts)
  local nruns = 0
  for _, u in ipairs(work) do if u.kind == "run" then nruns = nruns + 1 end end
  progress("pending work", { collection = coll_name, runs = nruns, metadata_changes = #work - nruns })
  local res = M.run(env, coll_name, work, opts)
  if res.status == "ok" and feed_seq and feed_seq ~= last then
    env.store:change_cursor(M.cursor_name(coll_name), feed_seq)
  end
  res.runs = nruns
  res.metadata_changes = #work - nruns
  return res
end

return M
