-- The work after a receipt's own OCR rows are final (DESIGN.md Flow 3):
-- merchant resolution -> ReceiptMetadata; line and word embeddings with the
-- merchant in their metadata -> one delta per collection -> a CompactionRun;
-- locally, compaction right away.  The steps resolve_merchant,
-- embed_receipt, write_deltas and compact_local (lua/rcpt/steps/) are thin
-- wrappers over the functions here, and rcpt.embed_ndjson (the legacy
-- three-stage flow) runs the same steps over rows read from NDJSON.
--
-- The steps share ctx.receipt_work, one item per receipt:
--   { receipt_id, lines, words,          -- ReceiptLine / ReceiptWord tables
--     metadata,                          -- the ReceiptMetadata written
--     resolution = {source, notes},      -- how it was found
--     inputs = {lines =, words =},       -- rcpt.embed_inputs outputs
--     vectors = {lines =, words =},      -- float32 strings, parallel to inputs
--     run_id, run = {...}, run_existed }
-- built from ctx.receipt_ids (rows loaded from the store) unless the caller
-- filled it (rcpt.embed_ndjson).
--
-- Failures never fail the record (the seed: "don't fail the whole job"; the
-- OCR rows are already stored): each step catches its own errors per
-- receipt, logs them and records them as ctx.merchant_error /
-- ctx.embedding_error / ctx.compaction_error, which M.report copies into the
-- record's result.  A receipt whose embedding failed gets no delta and no
-- CompactionRun; its ReceiptMetadata (if resolution worked) stays.
--
-- Idempotency on re-delivery:
--   * ReceiptMetadata: one row per receipt (its key); when the stored row
--     already says the same (timestamp aside) it is not rewritten, so the
--     change feed sees no spurious MODIFY;
--   * vector ids are the spec's (IMAGE#..#RECEIPT#..#LINE#..[#WORD#..]);
--   * the CompactionRun's run_id is a UUIDv4-shaped digest of the content
--     (image, receipt, embedder, ids, texts, documents, metadata): the same
--     content gives the same run, so a re-delivery finds the run, embeds
--     nothing, uploads nothing and adds no second run; changed content (say
--     the merchant was resolved differently) is a new run whose upserts
--     replace the vectors by id.
local json = require("rcpt.json")
local log = require("rcpt.log")
local store = require("rcpt.store")

local M = {}

-- ------------------------------------------------------------- errors --

local function message(err)
  return require("rcpt.pipeline").message(err)
end

function M.items(ctx)
  if ctx.receipt_work then return ctx.receipt_work end
  local items = {}
  for _, rid in ipairs(ctx.receipt_ids or {}) do items[#items + 1] = { receipt_id = rid } end
  ctx.receipt_work = items
  return items
end

local function note(ctx, key, it, msg)
  it[key] = msg
  local line = string.format("receipt %d: %s", it.receipt_id, msg)
  ctx[key] = ctx[key] and (ctx[key] .. "; " .. line) or line
  log.error(key:gsub("_", " "), { image_id = ctx.image_id, job_id = ctx.job_id, receipt_id = it.receipt_id,
    error = msg })
end

-- Run fn(it) for every item (those `skip(it)` says nothing about), catching
-- failures into ctx[key] and it[key].
function M.each(ctx, key, fn, skip)
  for _, it in ipairs(M.items(ctx)) do
    if not (skip and skip(it)) then
      local ok, err = pcall(fn, it)
      if not ok then note(ctx, key, it, message(err)) end
    end
  end
end

-- The stage's outcome in the record's result (ocr_job / embed_ndjson).
function M.report(ctx, res)
  local out = {}
  for _, it in ipairs(ctx.receipt_work or {}) do
    local md = it.metadata or {}
    out[#out + 1] = {
      receipt_id = it.receipt_id,
      merchant_name = it.metadata and md.merchant_name or nil,
      place_id = it.metadata and md.place_id or nil,
      validated_by = md.validated_by, validation_status = md.validation_status,
      source = it.resolution and it.resolution.source or nil,
      places_called = it.resolution and it.resolution.places_called or nil,
      lines_embedded = it.inputs and it.inputs.lines and #it.inputs.lines.ids or nil,
      words_embedded = it.inputs and it.inputs.words and #it.inputs.words.ids or nil,
      run_id = it.run_id, run_existed = it.run_existed or nil,
      merchant_error = it.merchant_error, embedding_error = it.embedding_error,
    }
  end
  if #out > 0 then res.merchant = json.array(out) end
  res.merchant_error = ctx.merchant_error
  res.embedding_error = ctx.embedding_error
  res.compaction_error = ctx.compaction_error
  res.compaction = ctx.compaction
  return res
end

-- ------------------------------------------------------------- the rows --

local function query_all(st, type_, ids)
  local out, cursor = {}, nil
  repeat
    local page, nxt = st:query(type_, ids, { cursor = cursor })
    if not page then error({ type = "Store", msg = "reading " .. type_ .. ": " .. tostring(nxt) }, 0) end
    for _, e in ipairs(page) do out[#out + 1] = e end
    cursor = nxt
  until not cursor
  return out
end

function M.load_rows(env, image_id, rid)
  local ids = { image_id = image_id, receipt_id = rid }
  return query_all(env.store, "RECEIPT_LINE", ids), query_all(env.store, "RECEIPT_WORD", ids)
end

-- The receipt rows the OCR step has just written, without reading them back
-- (that read cost ~9-20 ms of a ~50 ms budget per receipt: the store
-- decodes 279 JSON items into tables).  lines/words are the tables of the
-- parsed OCR document (doc:lines(), doc:words(): the same document put_ocr
-- serialised) and the result equals what M.load_rows returns for that
-- receipt, field for field (tests/spec/merchant_rows_spec.lua checks it on
-- real OCR): the keys the store adds (image_id, receipt_id,
-- embedding_status "NONE", is_noise false on lines), and the numbers as the
-- store writes them (store.decimal, spec/ocr-geometry.md §4.1: geometry at
-- 20 places, angles at 18, confidence at 2) and reads them back.
-- Rounding to d places is a no-op on the shortest round-trip digits of a
-- double when |v| >= 10^(16-d) (at most 17 significant digits end at or
-- before place d), so only smaller numbers go through store.decimal; the
-- nested point tables of the document are shared when nothing changes
-- (the rows are read, never modified, by the steps).
local GEOM_DP, ANGLE_DP, CONF_DP = 20, 18, 2
local GEOM_MIN, ANGLE_MIN = 10.0 ^ (16 - GEOM_DP), 10.0 ^ (16 - ANGLE_DP)

local function as_stored(v, dp, min)
  if v == 0 or v >= min or v <= -min then return v end
  return tonumber(store.decimal(v, dp))
end

-- A confidence that is already k/100 (the nearest double to it: k / 100
-- is a correctly rounded division) reads back as itself; others (0.333...,
-- 0.995) go through store.decimal.
local function conf_as_stored(c)
  local k = c * 100
  if k == math.floor(k) and k / 100 == c then return c end
  return tonumber(store.decimal(c, CONF_DP))
end

local function exact(v) return v == 0 or v >= GEOM_MIN or v <= -GEOM_MIN end

local function copy_geom(p)
  local q = {}
  for k, v in pairs(p) do q[k] = as_stored(v, GEOM_DP, GEOM_MIN) end
  return q
end

local function xy(p)
  if exact(p.x) and exact(p.y) then return p end
  return copy_geom(p)
end

local function box(b)
  if exact(b.x) and exact(b.y) and exact(b.width) and exact(b.height) then return b end
  return copy_geom(b)
end

local function row_of(e, image_id, rid, is_word)
  local r = {
    image_id = image_id, receipt_id = rid, line_id = e.line_id, text = e.text,
    bounding_box = box(e.bounding_box),
    top_left = xy(e.top_left), top_right = xy(e.top_right),
    bottom_left = xy(e.bottom_left), bottom_right = xy(e.bottom_right),
    angle_degrees = as_stored(e.angle_degrees, ANGLE_DP, ANGLE_MIN),
    angle_radians = as_stored(e.angle_radians, ANGLE_DP, ANGLE_MIN),
    confidence = conf_as_stored(e.confidence),
    embedding_status = "NONE", is_noise = false,
  }
  if is_word then
    r.word_id, r.is_noise = e.word_id, e.is_noise == true
    local ed = e.extracted_data
    if ed then r.extracted_data = { type = ed.type, value = ed.value } end
  end
  return r
end

function M.rows_from_ocr(image_id, rid, lines, words)
  local ls, ws = {}, {}
  for i, l in ipairs(lines) do ls[i] = row_of(l, image_id, rid, false) end
  for i, w in ipairs(words) do ws[i] = row_of(w, image_id, rid, true) end
  return { lines = ls, words = ws }
end

-- ctx.receipt_rows[rid] = M.rows_from_ocr(...), or a function returning it
-- (made only if a step asks), when the step that wrote the rows had them
-- (native, refine); else (the legacy flow fills it.lines
-- from NDJSON; a caller with only receipt_ids) the store is read.
local function ensure_rows(ctx, it)
  if it.lines then return end
  local given = ctx.receipt_rows and ctx.receipt_rows[it.receipt_id]
  if type(given) == "function" then given = given() end
  if given then
    it.lines, it.words = given.lines, given.words
    return
  end
  it.lines, it.words = M.load_rows(ctx.env, ctx.image_id, it.receipt_id)
end

-- ------------------------------------------------------------- embedder --

-- One embedder per process and configuration (the OpenAI client keeps its
-- connection; the local one its tables).
local emb = { key = nil, e = nil }
local EMBED_VARS = { "RCPT_EMBED_API_KEY", "OPENAI_API_KEY", "RCPT_EMBED_BASE_URL", "RCPT_EMBED_MODEL",
  "RCPT_EMBED_DIM", "RCPT_EMBED_TIMEOUT_MS" }

function M.embedder()
  local parts = {}
  for i, v in ipairs(EMBED_VARS) do parts[i] = os.getenv(v) or "" end
  local key = table.concat(parts, "\0")
  if emb.key ~= key or not emb.e then
    if emb.e then emb.e:close() end
    emb.e, emb.key = nil, nil
    local e, msg = require("rcpt.embedder").from_env()
    if not e then error({ type = "Config", msg = "embedder: " .. tostring(msg) }, 0) end
    emb.e, emb.key = e, key
  end
  return emb.e
end

-- ------------------------------------------------------ vector queries --

-- The published `lines` snapshot, opened once per version and kept (a warm
-- process answers the next receipt without reading the file again): a
-- sparse copy when its vectors are mostly zeros (the local embedder's;
-- 1,000 receipts: ~17 MB instead of 276 MB dense, the same hits and
-- scores), else the dense collection (vectors.latest_for_query).
local snap = { key = nil, coll = nil }

local function latest_lines(env)
  local vectors = require("rcpt.vectors")
  local version = vectors.pointer(env, "lines")
  if not version then return nil end
  local key = env.objects_root .. "|" .. env.bucket.vectors .. "|" .. version
  if snap.key ~= key then
    if snap.coll then snap.coll:close() end
    snap.key, snap.coll = nil, nil
    local coll, v = vectors.latest_for_query(env, "lines")
    if not coll then return nil end
    snap.key, snap.coll = env.objects_root .. "|" .. env.bucket.vectors .. "|" .. v, coll
  end
  return snap.coll
end

-- Deltas not yet compacted.  Locally compaction follows every receipt, so
-- there are none; on AWS compaction runs from the stream, a few seconds
-- behind, and a receipt of the same merchant uploaded in that window would
-- miss its neighbour.  We therefore also query the `lines` deltas of the
-- newest PENDING/PROCESSING runs, at most RCPT_RESOLVE_PENDING_DELTAS
-- (default 16; 0 = snapshot only): one small GSI1 query (newest first) per
-- receipt, and each delta downloaded once per process (deltas are
-- immutable).  Older pending runs are compaction's backlog, not resolution's.
local deltas = {} -- prefix -> coll

-- A `lines` delta this process has just written and recorded in a run: the
-- collection it was written from has the same ids, vectors, documents and
-- metadata as the file (deltas are immutable), so it is kept instead of
-- being read back by the next receipt.  It leaves the cache like a
-- downloaded one, when its run is no longer among the newest pending.
local function pending_limit()
  return math.tointeger(tonumber(os.getenv("RCPT_RESOLVE_PENDING_DELTAS") or "")) or 16
end

local function remember_delta(prefix, coll)
  if deltas[prefix] == coll then return end
  if deltas[prefix] then deltas[prefix]:close() end
  deltas[prefix] = nil
  -- with pending deltas off nothing would ever evict it
  if pending_limit() <= 0 then coll:close() return end
  deltas[prefix] = coll
end

local function pending_line_deltas(env, skip_image, skip_rid)
  local n = pending_limit()
  if n <= 0 then return {} end
  local page, err = env.store:query_index("GSI1", "RUNS", { type = "COMPACTION_RUN", descending = true, limit = n })
  if not page then
    log.warn("merchant: pending runs not read", { error = tostring(err) })
    return {}
  end
  local out, keep = {}, {}
  for _, r in ipairs(page) do
    local own = r.image_id == skip_image and tonumber(r.receipt_id) == tonumber(skip_rid)
    if not own and (r.lines_state == "PENDING" or r.lines_state == "PROCESSING") and r.lines_delta_prefix then
      local p = r.lines_delta_prefix
      if not deltas[p] then
        local coll, msg = require("rcpt.vectors").read_delta(env, p)
        if coll then deltas[p] = coll
        else log.warn("merchant: pending delta not read", { prefix = p, error = tostring(msg) }) end
      end
      if deltas[p] then out[#out + 1] = deltas[p]; keep[p] = true end
    end
  end
  for p, c in pairs(deltas) do
    if not keep[p] then c:close(); deltas[p] = nil end
  end
  return out
end

-- The `lines` collections to search: the published snapshot and the
-- pending deltas.  Empty on an empty store: resolution then embeds no
-- queries at all.
local function line_colls(env, image_id, rid)
  local colls = {}
  local s = latest_lines(env)
  if s then colls[1] = s end
  for _, d in ipairs(pending_line_deltas(env, image_id, rid)) do colls[#colls + 1] = d end
  return colls
end

-- query_lines_many for rcpt.merchant.resolve: for each query the top k
-- over the collections, this receipt's own vectors excluded by id.  A
-- sparse snapshot answers all queries in one pass (query_many).
local function make_query_many(colls, exclude_ids)
  return function(qs, qopts)
    local k = qopts.k or 8
    local per = {}
    for qi = 1, #qs do per[qi] = {} end
    for _, c in ipairs(colls) do
      for _, q in ipairs(qs) do
        if c:dim() * 4 ~= #q then
          error(string.format("the lines collection has %d dimensions, the query %d (RCPT_EMBED_DIM changed?)",
            c:dim(), #q // 4), 0)
        end
      end
      local rs, msg
      if c.query_many then
        rs, msg = c:query_many(qs, { k = k, exclude_ids = exclude_ids })
        if not rs then error("lines query: " .. tostring(msg), 0) end
      else
        rs = {}
        for qi, q in ipairs(qs) do
          rs[qi], msg = c:query(q, { k = k, exclude_ids = exclude_ids })
          if not rs[qi] then error("lines query: " .. tostring(msg), 0) end
        end
      end
      for qi, r in ipairs(rs) do
        local hits = per[qi]
        for i, id in ipairs(r.ids) do
          hits[#hits + 1] = { id = id, score = r.scores[i], metadata = r.metadatas[i] }
        end
      end
    end
    local out = {}
    for qi, hits in ipairs(per) do
      -- equal scores by id, as within one collection
      table.sort(hits, function(a, b)
        if a.score ~= b.score then return a.score > b.score end
        return a.id < b.id
      end)
      local o, seen = {}, {}
      for _, h in ipairs(hits) do
        if #o >= k then break end
        if not seen[h.id] then seen[h.id] = true; o[#o + 1] = h end
      end
      out[qi] = o
    end
    return out
  end
end

-- ------------------------------------------------------------- Places --

-- rcpt.places' cache interface over the PLACES_CACHE entity.  Expiry is
-- checked by rcpt.places on read (time_to_live); touch counts the hit.
function M.places_cache(st)
  return {
    get = function(stype, value)
      local e, msg, errname = st:get("PLACES_CACHE", { search_type = stype, search_value = value })
      if e then return e end
      if errname == "ENOTFOUND" then return nil end
      error("PLACES_CACHE read: " .. tostring(msg), 0)
    end,
    put = function(row)
      local f = {}
      for k, v in pairs(row) do if k ~= "pk" and k ~= "sk" then f[k] = v end end
      local ok, msg = st:put("PLACES_CACHE", f)
      if not ok then error("PLACES_CACHE write: " .. tostring(msg), 0) end
    end,
    touch = function(row)
      st:update("PLACES_CACHE", { search_type = row.search_type, search_value = row.search_value },
        { query_count = (math.tointeger(row.query_count) or 0) + 1, last_updated = store.now() })
    end,
  }
end

-- The enable_places step: Places for this record when a key is configured.
function M.enable_places(ctx)
  local p, msg = require("rcpt.places").from_env(M.places_cache(ctx.env.store))
  if p then
    ctx.places = p
  elseif msg then
    -- a bad setting is reported, and resolution goes on without Places
    ctx.places_note = "Places not used: " .. tostring(msg)
    log.warn("merchant: " .. ctx.places_note, { image_id = ctx.image_id, job_id = ctx.job_id })
  end
end

-- ---------------------------------------------------------- resolution --

local METADATA_FIELDS = { "place_id", "merchant_name", "merchant_category", "address", "phone_number",
  "validated_by", "reasoning", "canonical_place_id", "canonical_merchant_name", "canonical_address",
  "canonical_phone_number", "validation_status" }

local function same_metadata(old, new)
  for _, f in ipairs(METADATA_FIELDS) do
    if (old[f] or "") ~= (new[f] or "") then return false end
  end
  local a, b = old.matched_fields or {}, new.matched_fields or {}
  if #a ~= #b then return false end
  local set = {}
  for _, v in ipairs(a) do set[v] = true end
  for _, v in ipairs(b) do if not set[v] then return false end end
  return true
end

function M.resolve(ctx, it)
  ensure_rows(ctx, it)
  local C = require("rcpt.merchant.context")
  local E = require("rcpt.embed_inputs")
  local cx, err = C.build(it.lines, it.words)
  if not cx then error({ type = "InvalidInput", msg = err }, 0) end
  it.context = cx -- built once per receipt: embed reuses it
  cx.image_id, cx.receipt_id = ctx.image_id, it.receipt_id
  local exclude = {}
  for i, l in ipairs(it.lines) do exclude[i] = E.line_id(ctx.image_id, it.receipt_id, l.line_id) end
  local places_called = false
  local places
  if ctx.places then
    places = {
      search_by_phone = function(...) places_called = true return ctx.places.search_by_phone(...) end,
      search_by_address = function(...) places_called = true return ctx.places.search_by_address(...) end,
    }
  end
  local colls = line_colls(ctx.env, ctx.image_id, it.receipt_id)
  local deps = {
    query_lines = #colls > 0 and function(q, qopts) return make_query_many(colls, exclude)({ q }, qopts)[1] end or nil,
    query_lines_many = #colls > 0 and make_query_many(colls, exclude) or nil,
    -- lazily: a broken embedder costs the vector candidates, not the
    -- ReceiptMetadata (resolve logs the failure and goes on)
    embed = function(texts) return (assert(M.embedder():embed(texts))) end,
    places = places,
    -- no neighbor_anchors: every line vector carries its receipt's anchors
    -- (rcpt.embed_inputs), so a store lookup per hit would find nothing new
    log = function(level, msg, fields)
      fields = fields or {}
      fields.image_id, fields.job_id, fields.receipt_id = ctx.image_id, ctx.job_id, it.receipt_id
      log[level](msg, fields)
    end,
  }
  local r = require("rcpt.merchant.resolve").resolve(cx, deps)
  local md = r.metadata
  md.image_id, md.receipt_id = ctx.image_id, it.receipt_id
  if ctx.places_note then
    md.reasoning = (md.reasoning or "") .. "; " .. ctx.places_note
  end
  local st = ctx.env.store
  local old = st:get("RECEIPT_METADATA", { image_id = ctx.image_id, receipt_id = it.receipt_id })
  if old and same_metadata(old, md) then
    md.timestamp = old.timestamp
  else
    md.timestamp = store.now()
    local ok, msg = st:put("RECEIPT_METADATA", md)
    if not ok then error({ type = "Store", msg = "RECEIPT_METADATA: " .. tostring(msg) }, 0) end
    -- the store computes validation_status (entities.c); report its value
    local stored = st:get("RECEIPT_METADATA", { image_id = ctx.image_id, receipt_id = it.receipt_id })
    if stored then md.validation_status = stored.validation_status end
  end
  it.metadata = md
  it.resolution = { source = r.source, notes = r.notes, places_called = places_called }
end

-- ----------------------------------------------------------- embedding --

-- The first 128 bits of the content's sha256 (in C: a byte loop in Lua
-- cost ~40 ms per receipt), shaped as a UUIDv4 (the entity requires one).
local function digest_uuid(hex)
  hex = hex:sub(1, 32)
  local y = string.format("%x", 8 + (tonumber(hex:sub(17, 17), 16) & 3))
  return hex:sub(1, 8) .. "-" .. hex:sub(9, 12) .. "-4" .. hex:sub(14, 16) .. "-" .. y .. hex:sub(18, 20)
    .. "-" .. hex:sub(21, 32)
end

-- sha256 of: image_id \3 receipt_id \3 embedder, then per collection
-- \3 name and per item \3 id \2 text \2 document \2 its metadata as sorted
-- key=value pairs joined by \1 (vec.content_sha256 builds that text in C)
function M.content_run_id(image_id, rid, embedder_sig, inputs)
  local l, w = inputs.lines, inputs.words
  return digest_uuid(require("rcpt.vec").content_sha256({ image_id, tostring(rid), embedder_sig },
    { name = "lines", ids = l.ids, texts = l.texts, documents = l.documents, metadatas = l.metadatas },
    { name = "words", ids = w.ids, texts = w.texts, documents = w.documents, metadatas = w.metadatas }))
end

function M.embed(ctx, it)
  ensure_rows(ctx, it)
  local E = require("rcpt.embed_inputs")
  local md = it.metadata or {}
  local merchant = { merchant_name = md.merchant_name or "", place_id = md.place_id or "" }
  local li, err = E.lines(it.lines, it.words, merchant, it.context)
  if not li then error({ type = "InvalidInput", msg = err }, 0) end
  local wi
  wi, err = E.words(it.lines, it.words, merchant, it.context)
  if not wi then error({ type = "InvalidInput", msg = err }, 0) end
  it.inputs = { lines = li, words = wi }
  if #li.ids == 0 and #wi.ids == 0 then
    it.nothing_to_embed = true
    return
  end
  local e = M.embedder()
  it.dim = e:dim()
  it.run_id = M.content_run_id(ctx.image_id, it.receipt_id, e:name() .. "/" .. it.dim, it.inputs)
  local existing = ctx.env.store:get("COMPACTION_RUN",
    { image_id = ctx.image_id, receipt_id = it.receipt_id, run_id = it.run_id })
  if existing then
    -- the same content was embedded and queued before (a re-delivery)
    it.run_existed, it.run = true, existing
    return
  end
  it.vectors = {}
  for _, coll in ipairs({ "lines", "words" }) do
    local texts = it.inputs[coll].texts
    if #texts > 0 then
      local v, msg = e:embed(texts)
      if not v then error({ type = "Embedding", msg = coll .. ": " .. tostring(msg) }, 0) end
      if #v ~= #texts then
        error({ type = "Embedding", msg = string.format("%s: %d vectors for %d texts", coll, #v, #texts) }, 0)
      end
      it.vectors[coll] = v
    else
      it.vectors[coll] = {}
    end
  end
end

-- ---------------------------------------------------------- the deltas --

function M.write_deltas(ctx, it)
  if it.run_existed or it.nothing_to_embed or not it.vectors then return end
  local vec = require("rcpt.vec")
  local vectors = require("rcpt.vectors")
  local prefixes = {}
  -- the `lines` delta stays open: once its run is recorded, the next
  -- receipt's resolution finds it among the pending deltas without
  -- downloading and re-reading the file (remember_delta)
  local lines_coll
  -- Both deltas' four objects are put without fsync and made durable in
  -- one batch (the fsyncs overlap) before the CompactionRun row refers to
  -- them.  A crash before that leaves objects under a prefix no row names;
  -- a re-delivery writes them again under the same (content) run id.
  local pending = {}
  for _, coll_name in ipairs({ "lines", "words" }) do
    local inp = it.inputs[coll_name]
    local c = vec.new(coll_name, it.dim)
    local ok, err = pcall(function()
      if #inp.ids > 0 then
        local uok, msg = c:upsert(inp.ids, it.vectors[coll_name], inp.documents, inp.metadatas)
        if not uok then error({ type = "Vectors", msg = coll_name .. " upsert: " .. tostring(msg) }, 0) end
      end
      prefixes[coll_name] = vectors.write_delta(ctx.env, coll_name, c, it.run_id, pending)
    end)
    if not ok or coll_name ~= "lines" then c:close() end
    if not ok then
      if lines_coll then lines_coll:close() end
      error(err, 0)
    end
    if coll_name == "lines" then lines_coll = c end
  end
  local sok, serr = pcall(vectors.sync, ctx.env, pending)
  if not sok then
    lines_coll:close()
    error(serr, 0)
  end
  local run = {
    run_id = it.run_id, image_id = ctx.image_id, receipt_id = it.receipt_id,
    lines_delta_prefix = prefixes.lines, words_delta_prefix = prefixes.words,
    lines_state = "PENDING", words_state = "PENDING", created_at = store.now(),
  }
  local ok, msg, errname = ctx.env.store:put("COMPACTION_RUN", run, { condition = "not_exists" })
  if not ok and errname ~= "ECONFLICT" then
    lines_coll:close()
    error({ type = "Store", msg = "COMPACTION_RUN: " .. tostring(msg) }, 0)
  end
  remember_delta(prefixes.lines, lines_coll)
  it.run = run
  it.vectors = nil -- the floats are in the deltas now
  ctx.new_runs = (ctx.new_runs or 0) + 1
end

-- ---------------------------------------------------------- compaction --

function M.compact_local(ctx)
  if not (ctx.env.settings and ctx.env.settings.compact_after) then return end
  if (ctx.new_runs or 0) == 0 then return end
  local compaction = require("rcpt.compaction")
  ctx.compaction = {}
  for _, coll in ipairs({ "lines", "words" }) do
    local ok, res = pcall(compaction.compact, ctx.env, coll, { progress = false })
    if not ok then res = { status = "error", error = message(res) } end
    ctx.compaction[coll] = { status = res.status, version = res.version, merged = res.merged, count = res.count,
      error = res.error }
    if res.status ~= "ok" then
      local msg = coll .. ": " .. tostring(res.status) .. (res.error and (": " .. res.error) or "")
      ctx.compaction_error = ctx.compaction_error and (ctx.compaction_error .. "; " .. msg) or msg
      log.error("local compaction failed (the run stays PENDING)", { image_id = ctx.image_id,
        job_id = ctx.job_id, collection = coll, error = msg })
    end
  end
end

return M
