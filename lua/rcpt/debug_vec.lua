-- Looking at the published vectors: the functions behind `rcpt vec`, and the
-- REPL helpers (lua/rcpt/repl.lua installs this module's functions as
-- globals, so only the two helpers are functions at the top level):
--
--   vec_stats(coll)                       print and return the stats of a collection
--   vec_query(coll, text_or_vector[, {k=, where=}])   print and return the hits
--   (the default env, rcpt.env.open(), is opened on first use; set
--    require("rcpt.debug_vec").env to use another; .out = a file to print to)
--
-- The library (M.lib, used by `rcpt vec`):
--   local lib = require("rcpt.debug_vec").lib
--   lib.open(env, coll) -> coll, version, manifest | nil   (kept in memory per version)
--   lib.stats(env, coll) -> { collection, version, count, dimension, bytes, checksum ("xxh3_128:<hex>", or "sha256:<hex>" for an older manifest),
--                            created_at, versions = {...}, pending_runs, pending_metadata }
--   lib.query(env, coll, text_or_vector, { k =, where = }) -> { {id, score, document, metadata}, ... }
--       text -> embedded with the local embedder (rcpt.embed) at the snapshot's dimension;
--       vector -> a float32 string (dim*4 bytes) or an array of numbers
--   lib.read_vector(path, dim) -> float32 string   (a raw float32 file or a JSON array)
--   lib.format_stats(t), lib.format_hits(hits) -> text
local vectors = require("rcpt.vectors")
local json = require("rcpt.json")

local M = {}
local L = {}
M.lib = L

local mem = {} -- bucket/coll -> { version =, coll =, manifest = }

function L.open(env, coll_name)
  vectors.check_coll(coll_name)
  local version = vectors.pointer(env, coll_name)
  if not version then return nil end
  local key = env.bucket.vectors .. "/" .. coll_name
  local m = mem[key]
  if m and m.version == version then return m.coll, m.version, m.manifest end
  if m then m.coll:close() end
  local coll, v, man = vectors.latest(env, coll_name)
  mem[key] = { version = v, coll = coll, manifest = man }
  return coll, v, man
end

function L.stats(env, coll_name)
  local coll, version, man = L.open(env, coll_name)
  local t = { collection = coll_name, version = version or json.null, count = 0 }
  if coll then
    t.count, t.dimension = coll:count(), coll:dim()
    t.bytes, t.created_at = man.bytes, man.created_at
    t.checksum = man.xxh3_128 and ("xxh3_128:" .. man.xxh3_128) or ("sha256:" .. tostring(man.sha256))
  end
  t.versions = vectors.versions(env, coll_name)
  local work = require("rcpt.compaction").pending(env, coll_name)
  t.pending_runs, t.pending_metadata = 0, 0
  for _, u in ipairs(work) do
    if u.kind == "run" then t.pending_runs = t.pending_runs + 1 else t.pending_metadata = t.pending_metadata + 1 end
  end
  return t
end

function L.format_stats(t)
  local lines = {
    string.format("collection  %s", t.collection),
    string.format("version     %s", t.version ~= json.null and t.version or "(none published)"),
    string.format("count       %d", t.count),
  }
  if t.dimension then
    lines[#lines + 1] = string.format("dimension   %d", t.dimension)
    lines[#lines + 1] = string.format("size        %d bytes (%.1f MB)", t.bytes, t.bytes / 1e6)
    lines[#lines + 1] = string.format("checksum    %s", t.checksum)
    lines[#lines + 1] = string.format("created_at  %s", t.created_at)
  end
  lines[#lines + 1] = string.format("versions    %d kept: %s", #t.versions, table.concat(t.versions, ", "))
  lines[#lines + 1] = string.format("pending     %d runs, %d metadata changes", t.pending_runs, t.pending_metadata)
  return table.concat(lines, "\n") .. "\n"
end

function L.read_vector(path, dim)
  local f, err = io.open(path, "rb")
  if not f then error({ type = "InvalidInput", msg = "--vector: " .. tostring(err) }, 0) end
  local s = f:read("a")
  f:close()
  if s:match("^%s*%[") then
    local arr, jerr = json.decode(s)
    if type(arr) ~= "table" then error({ type = "InvalidInput", msg = path .. ": " .. tostring(jerr) }, 0) end
    if #arr ~= dim then
      error({ type = "InvalidInput", msg = string.format("%s: %d numbers, the collection has dimension %d", path, #arr, dim) }, 0)
    end
    local parts = {}
    for i, x in ipairs(arr) do
      if type(x) ~= "number" then error({ type = "InvalidInput", msg = path .. "[" .. i .. "]: not a number" }, 0) end
      parts[i] = string.pack("<f", x)
    end
    return table.concat(parts)
  end
  if #s ~= dim * 4 then
    error({ type = "InvalidInput", msg = string.format("%s: %d bytes, expected %d float32 (dimension %d) or a JSON array",
      path, #s, dim * 4, dim) }, 0)
  end
  return s
end

local KEY_META = { "merchant_name", "image_id", "receipt_id", "line_id", "word_id", "place_id",
  "normalized_phone_10", "embedding_type" }

function L.query(env, coll_name, what, opts)
  opts = opts or {}
  local coll = L.open(env, coll_name)
  if not coll then error({ type = "NotFound", msg = coll_name .. ": no snapshot published yet" }, 0) end
  local q = what
  if type(what) == "string" and opts.text then
    local emb = require("rcpt.embed").local_embedder({ dim = coll:dim() })
    local vs, msg = emb:embed({ what })
    emb:close()
    if not vs then error({ type = "Embed", msg = msg }, 0) end
    q = vs[1]
  end
  local r, msg = coll:query(q, { k = opts.k or 10, where = opts.where })
  if not r then error({ type = "Query", msg = msg }, 0) end
  local hits = {}
  for i, id in ipairs(r.ids) do
    hits[i] = { id = id, score = r.scores[i], document = r.documents and r.documents[i], metadata = r.metadatas and r.metadatas[i] }
  end
  return hits
end

function L.format_hits(hits)
  local out = {}
  for i, h in ipairs(hits) do
    local md = {}
    for _, k in ipairs(KEY_META) do
      local v = h.metadata and h.metadata[k]
      if v ~= nil and type(v) ~= "userdata" then md[#md + 1] = k .. "=" .. tostring(v) end
    end
    out[#out + 1] = string.format("%2d  %.4f  %s\n    %q  %s", i, h.score, h.id,
      h.document or "", table.concat(md, " "))
  end
  return table.concat(out, "\n") .. (#out > 0 and "\n" or "")
end

local default_env
local function the_env()
  if M.env then return M.env end
  default_env = default_env or require("rcpt.env").open()
  return default_env
end

function M.vec_stats(coll)
  local t = L.stats(the_env(), coll)
  local out = M.out or io.stdout
  out:write(L.format_stats(t))
  return t
end

-- text is embedded (local embedder); a string of dim*4 bytes or a table of
-- numbers is a vector
function M.vec_query(coll, what, opts)
  opts = opts or {}
  local e = the_env()
  local q, text = what, true
  if type(what) == "table" then
    local parts = {}
    for i, x in ipairs(what) do parts[i] = string.pack("<f", x) end
    q, text = table.concat(parts), false
  else
    local c = L.open(e, coll)
    if c and #what == c:dim() * 4 and opts.text == nil then text = false end
  end
  if opts.text ~= nil then text = opts.text end
  local hits = L.query(e, coll, q, { k = opts.k, where = opts.where, text = text })
  local out = M.out or io.stdout
  out:write(L.format_hits(hits))
  return hits
end

return M
