-- Helpers for the compaction specs: an env on a temp folder, runs made of
-- random vectors written as deltas with rcpt.vec + rcpt.vectors, and checks.
local vec = require("rcpt.vec")
local store = require("rcpt.store")
local vectors = require("rcpt.vectors")
local support = require("support.env")

local M = {}

M.DIM = 32

-- env over dir: sqlite store, file objects (or objects_url, with net opts)
function M.env(dir, opts)
  opts = opts or {}
  local e = require("rcpt.env").open({ store = "sqlite:" .. dir .. "/rcpt.db",
    objects = opts.objects or ("file:" .. dir .. "/objects"), getenv = opts.getenv })
  if opts.net_opts then
    local net = require("rcpt.net")
    local url = e:objects_url(e.bucket.vectors)
    e._objects[e.bucket.vectors] = assert(net.objects(url, opts.net_opts))
  end
  vectors.cache_override = dir .. "/cache"
  return e
end

local function randvec(dim)
  local t = {}
  local n2 = 0
  for i = 1, dim do
    local x = math.random() * 2 - 1
    t[i] = x
    n2 = n2 + x * x
  end
  local n = math.sqrt(n2)
  for i = 1, dim do t[i] = t[i] / n end
  return string.pack("<" .. string.rep("f", dim), table.unpack(t))
end
M.randvec = randvec

-- A run: nlines line vectors and nwords word vectors of one receipt, deltas
-- uploaded, CompactionRun put (PENDING).  Returns { run_id, image_id, receipt_id,
-- ids = { lines = {...}, words = {...} }, vecs = { id = vector } }.
function M.make_run(e, opts)
  opts = opts or {}
  local dim = opts.dim or M.DIM
  local nlines, nwords = opts.lines or 40, opts.words or 160
  local run = { run_id = store.uuid4(), image_id = opts.image_id or store.uuid4(),
    receipt_id = opts.receipt_id or 1, ids = { lines = {}, words = {} }, vecs = {} }
  local prefixes = {}
  for _, coll in ipairs({ "lines", "words" }) do
    local c = vec.new(coll, dim)
    local ids, vs, docs, metas = {}, {}, {}, {}
    local n = coll == "lines" and nlines or nwords
    for i = 1, n do
      local line = coll == "lines" and i or (i - 1) // 5 + 1
      local id = string.format("IMAGE#%s#RECEIPT#%05d#LINE#%05d", run.image_id, run.receipt_id, line)
      if coll == "words" then id = id .. string.format("#WORD#%05d", (i - 1) % 5 + 1) end
      ids[i] = id
      vs[i] = randvec(dim)
      docs[i] = coll .. " text " .. i
      metas[i] = { image_id = run.image_id, receipt_id = run.receipt_id, line_id = line,
        merchant_name = opts.merchant or "Sprouts Farmers Market", embedding_type = coll:sub(1, 4) }
      run.vecs[id] = vs[i]
    end
    if n > 0 then assert(c:upsert(ids, vs, docs, metas)) end
    run.ids[coll] = ids
    prefixes[coll] = vectors.write_delta(e, coll, c, run.run_id)
    c:close()
  end
  assert(e.store:put("COMPACTION_RUN", { run_id = run.run_id, image_id = run.image_id,
    receipt_id = run.receipt_id, lines_delta_prefix = prefixes.lines, words_delta_prefix = prefixes.words,
    created_at = store.now() }, { condition = "not_exists" }))
  run.prefixes = prefixes
  return run
end

function M.get_run(e, run)
  return assert(e.store:get("COMPACTION_RUN", { image_id = run.image_id, receipt_id = run.receipt_id, run_id = run.run_id }))
end

-- The published snapshot, downloaded fresh (cache bypassed) and verified.
function M.published(e, coll)
  local saved = vectors.cache_override
  vectors.cache_override = support.tmpdir()
  local ok, c, v, man = pcall(vectors.latest, e, coll)
  support.rmrf(vectors.cache_override)
  vectors.cache_override = saved
  if not ok then error(c, 0) end
  return c, v, man
end

function M.metadata(e, image_id, receipt_id, fields)
  local t = { image_id = image_id, receipt_id = receipt_id, place_id = "ChIJ-" .. image_id:sub(1, 6),
    merchant_name = "Vons", validated_by = "PHONE_LOOKUP", timestamp = store.now(),
    matched_fields = { "phone" }, phone_number = "805-917-4200", address = "1 Main St" }
  -- false removes a field
  for k, v in pairs(fields or {}) do if v == false then t[k] = nil else t[k] = v end end
  assert(e.store:put("RECEIPT_METADATA", t))
  return t
end

return M
