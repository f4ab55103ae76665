-- The vector files on the object store (spec §7 layout, our own file format:
-- docs/vector-format.md), in the CHROMADB_BUCKET bucket (env.bucket.vectors):
--
--   {coll}/delta/{run_id}/delta.sqlite + manifest.json           one per run and collection
--   {coll}/snapshot/timestamped/{version}/snapshot.sqlite + manifest.json
--   {coll}/snapshot/latest-pointer.txt                            body = version id
--
--   vectors.write_delta(env, coll_name, coll, run_id[, pending]) -> prefix
--   vectors.sync(env, keys)  (durable together: see write_delta's pending)
--   vectors.read_delta(env, prefix) -> coll, manifest | nil, msg, errname
--   vectors.apply_delta(env, dst, prefix[, kept]) -> merged | nil, msg, errname
--     (dst lazy: the downloaded file must outlive dst's write, so its path is
--     appended to the list `kept` instead of being removed; the caller removes
--     them with vectors.remove_files(kept) once the snapshot is written)
--   vectors.pointer(env, coll_name) -> version | nil
--   vectors.latest(env, coll_name[, opts]) -> coll, version, manifest | nil (no snapshot yet) | error
--     opts.lazy: the collection reads its vectors from the cached snapshot file when
--     it is written (compaction, which never queries it);
--     opts.open(path) -> coll | nil, msg, errname: another opener (default vec.open)
--   vectors.latest_for_query(env, coll_name) -> the same, sparse when the vectors are
--   vectors.publish(env, coll_name, coll, opts) -> version, manifest
--   vectors.versions(env, coll_name) -> { version, ... } newest first
--   vectors.new_version() -> "YYYYmmdd_HHMMSS_ffffff_<8 hex>"
--
-- Publishing order (crash safety): the snapshot file, then its manifest, then
-- the pointer.  A reader follows the pointer, so it only ever sees a version
-- whose two objects are complete; a crash before the pointer moves leaves an
-- unpublished version that pruning removes later.  Every download is checked
-- against the manifest's checksum (and size); a mismatch is an error, never a
-- silently used file.  The checksum is XXH3-128 (sha256 in manifests of
-- older versions): it catches corrupt, torn or truncated files, not forgery.
--
-- Local cache: downloaded (and freshly published) snapshots are kept under
-- RCPT_VEC_CACHE (default $TMPDIR/rcpt-vec-cache) as {bucket}/{coll}/{version}/,
-- so the next compaction or query on this machine does not download them
-- again.  A cached file is used when its manifest is there and its size
-- matches; its checksum was checked when it entered the cache.
local vec = require("rcpt.vec")
local store = require("rcpt.store")

local M = {}

M.COLLECTIONS = { "lines", "words" }
M.KEEP_VERSIONS = 4
M.DELTA_FILE = "delta.sqlite"
M.SNAPSHOT_FILE = "snapshot.sqlite"
M.MANIFEST_FILE = "manifest.json"

local function is_coll(c) return c == "lines" or c == "words" end

function M.check_coll(c)
  if not is_coll(c) then
    error({ type = "InvalidInput", msg = "collection: must be \"lines\" or \"words\", got " .. tostring(c) }, 0)
  end
  return c
end

function M.delta_prefix(coll, run_id) return coll .. "/delta/" .. run_id .. "/" end
function M.snapshot_prefix(coll, version) return coll .. "/snapshot/timestamped/" .. version .. "/" end
function M.pointer_key(coll) return coll .. "/snapshot/latest-pointer.txt" end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function mkdir_p(dir)
  local ok = os.execute("mkdir -p " .. q(dir))
  if not ok then error({ type = "IO", msg = "cannot create " .. dir }, 0) end
end

local function rm_rf(dir) os.execute("rm -rf " .. q(dir)) end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function write_file(path, text)
  local tmp = path .. ".tmp-" .. store.uuid4():sub(1, 8)
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  assert(os.rename(tmp, path))
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- M.cache_override (a folder) wins over the environment: tests set it
function M.cache_root()
  if M.cache_override then return M.cache_override end
  local r = os.getenv("RCPT_VEC_CACHE")
  if r and r ~= "" then return r end
  return (os.getenv("TMPDIR") or "/tmp") .. "/rcpt-vec-cache"
end

local function cache_dir(env, coll, version)
  return M.cache_root() .. "/" .. env.bucket.vectors .. "/" .. coll .. "/" .. version
end

-- A fresh path under {cache}/scratch/ for a staging file (deltas going up
-- or coming down), in a folder created only when missing: a
-- `mkdir -p` / `rm -rf` pair through the shell per file cost a few ms each
-- (two forks), more than writing the delta itself.  (io.open of a folder
-- succeeds on Linux: it tells whether the folder is still there.)
local function scratch_file(name)
  local d = M.cache_root() .. "/scratch"
  local f = io.open(d, "rb")
  if f then f:close() else mkdir_p(d) end
  return d .. "/" .. store.uuid4() .. "-" .. name
end

-- Sortable and collision-free: UTC time to the microsecond, then 32 random bits.
function M.new_version()
  local now = store.now(true) -- naive ISO, "2026-01-02T03:04:05.123456" (fraction may be absent)
  local y, mo, d, h, mi, s, frac = now:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)")
  frac = (frac .. "000000"):sub(1, 6)
  return string.format("%s%s%s_%s%s%s_%s_%s", y, mo, d, h, mi, s, frac, store.uuid4():gsub("-", ""):sub(1, 8))
end

local function objects(env) return env:objects(env.bucket.vectors) end

local function fail(msg, errname) return nil, msg, errname or "EIO" end

-- ---- deltas --------------------------------------------------------------------------

-- pending (optional, a list): the objects are put without fsync and their
-- keys appended to it; the caller makes them durable with
-- vectors.sync(env, pending) before anything refers to the prefix.
function M.write_delta(env, coll_name, coll, run_id, pending)
  M.check_coll(coll_name)
  assert(store.is_uuid4(run_id), "write_delta: run_id must be a uuid4")
  local path = scratch_file(M.DELTA_FILE)
  local ok, res = pcall(function()
    local _, json = assert(coll:write_delta(path, { fsync = false }))
    local prefix = M.delta_prefix(coll_name, run_id)
    local o = objects(env)
    local no_sync = pending ~= nil
    -- the scratch file is moved, not copied, into a file: store
    assert(o:put_file(prefix .. M.DELTA_FILE, path, { content_type = "application/vnd.sqlite3", move = true,
      no_sync = no_sync }))
    -- the manifest last: a delta without its manifest is never applied
    assert(o:put(prefix .. M.MANIFEST_FILE, json, { content_type = "application/json", no_sync = no_sync }))
    if pending then
      pending[#pending + 1] = prefix .. M.DELTA_FILE
      pending[#pending + 1] = prefix .. M.MANIFEST_FILE
    end
    return prefix
  end)
  os.remove(path)
  if not ok then error(res, 0) end
  return res
end

-- Make objects put by write_delta(..., pending) durable (one batch of fsyncs).
function M.sync(env, keys)
  local ok, msg = objects(env):sync(keys)
  if not ok then error({ type = "IO", msg = "syncing " .. tostring(keys[1]) .. "...: " .. tostring(msg) }, 0) end
end

local function normalise_prefix(prefix)
  if prefix:sub(-1) ~= "/" then prefix = prefix .. "/" end
  return prefix
end

-- Download a delta to path and return path and its manifest.
local function fetch_delta(env, prefix, path)
  prefix = normalise_prefix(prefix)
  local o = objects(env)
  local mtext, msg, errname = o:get(prefix .. M.MANIFEST_FILE)
  if not mtext then return fail("delta " .. prefix .. ": manifest: " .. tostring(msg), errname) end
  local man, merr = vec.read_manifest(mtext)
  if not man then return fail("delta " .. prefix .. ": " .. merr, "ECORRUPT") end
  if man.kind ~= "delta" then return fail("delta " .. prefix .. ": manifest kind is " .. tostring(man.kind), "ECORRUPT") end
  local ok, gmsg, gerr = o:get_file(prefix .. M.DELTA_FILE, path)
  if not ok then return fail("delta " .. prefix .. ": " .. tostring(gmsg), gerr) end
  return path, man
end

function M.read_delta(env, prefix)
  local file = scratch_file(M.DELTA_FILE)
  local path, man, errname = fetch_delta(env, prefix, file)
  local coll, msg
  if path then
    coll, msg, errname = vec.open(path, { verify_manifest = man })
    if not coll then man = nil end
  else
    msg = man
  end
  os.remove(file)
  if not coll then return fail(msg, errname) end
  return coll, man
end

-- Apply the delta at prefix to dst: download, verify against the manifest,
-- read it whole, then upsert (a damaged delta never half-applies).
function M.apply_delta(env, dst, prefix, kept)
  local file = scratch_file(M.DELTA_FILE)
  local path, man, errname = fetch_delta(env, prefix, file)
  local merged, msg
  if path then
    if man.dimension ~= dst:dim() then
      msg, errname = "delta " .. prefix .. ": dimension " .. man.dimension .. ", the collection has " .. dst:dim(), "EINVAL"
    else
      merged, msg, errname = dst:apply(path, man)
    end
  else
    msg = man
  end
  if merged and dst:lazy() then
    assert(kept, "apply_delta: a lazy collection needs a list of kept files")
    kept[#kept + 1] = file
  else
    os.remove(file)
  end
  if not merged then return fail("delta " .. tostring(prefix) .. ": " .. tostring(msg), errname) end
  return merged
end

-- Remove the files apply_delta kept for a lazy collection.
function M.remove_files(kept)
  for i = #kept, 1, -1 do
    os.remove(kept[i])
    kept[i] = nil
  end
end

-- ---- snapshots -----------------------------------------------------------------------

function M.pointer(env, coll_name)
  local body, msg, errname = objects(env):get(M.pointer_key(coll_name))
  if not body then
    if errname == "ENOTFOUND" then return nil end
    error({ type = "IO", msg = "pointer " .. M.pointer_key(coll_name) .. ": " .. tostring(msg) }, 0)
  end
  local v = body:match("^%s*(.-)%s*$")
  if v == "" or not v:match("^[%w_%-%.]+$") then
    -- A torn pointer: S3 never stores a partial PUT, but a stand-in such as
    -- s3rver can keep an empty object when the writer is killed mid-request.
    -- Never use it; fall back to the newest version whose manifest exists
    -- (the manifest is uploaded after the snapshot file and deleted first
    -- when a version is pruned, so its presence means the version is whole;
    -- the checksum is still verified on download).
    require("rcpt.log").warn("vector pointer unreadable; using the newest complete version",
      { key = M.pointer_key(coll_name), body = body:sub(1, 80) })
    for _, version in ipairs(M.versions(env, coll_name)) do
      if objects(env):head(M.snapshot_prefix(coll_name, version) .. M.MANIFEST_FILE) then return version end
    end
    return nil
  end
  return v
end

-- The cached copy of a version: path and manifest, or nil.
local function cached(env, coll_name, version)
  local dir = cache_dir(env, coll_name, version)
  local mtext = read_file(dir .. "/" .. M.MANIFEST_FILE)
  if not mtext then return nil end
  local man = vec.read_manifest(mtext)
  local path = dir .. "/" .. M.SNAPSHOT_FILE
  if not man or file_size(path) ~= man.bytes then return nil end
  return path, man
end

-- Download a version (or take it from the cache), verified; returns path, manifest.
function M.fetch_snapshot(env, coll_name, version)
  local path, man = cached(env, coll_name, version)
  if path then return path, man end
  local o = objects(env)
  local prefix = M.snapshot_prefix(coll_name, version)
  local mtext, msg = o:get(prefix .. M.MANIFEST_FILE)
  if not mtext then
    error({ type = "IO", msg = "snapshot " .. prefix .. ": manifest: " .. tostring(msg) }, 0)
  end
  local merr
  man, merr = vec.read_manifest(mtext)
  if not man then error({ type = "Corrupt", msg = "snapshot " .. prefix .. ": " .. merr }, 0) end
  if man.kind ~= "snapshot" or man.collection ~= coll_name or man.version ~= version then
    error({ type = "Corrupt", msg = "snapshot " .. prefix .. ": manifest names " .. tostring(man.kind) .. " "
      .. tostring(man.collection) .. " " .. tostring(man.version) }, 0)
  end
  local dir = cache_dir(env, coll_name, version)
  mkdir_p(dir)
  local part = dir .. "/" .. M.SNAPSHOT_FILE .. ".part-" .. store.uuid4():sub(1, 8)
  local ok, gmsg = o:get_file(prefix .. M.SNAPSHOT_FILE, part)
  if not ok then
    os.remove(part)
    error({ type = "IO", msg = "snapshot " .. prefix .. ": " .. tostring(gmsg) }, 0)
  end
  -- the checksum, on every download
  local vok, vmsg = vec.verify(part, man)
  if not vok then
    os.remove(part)
    error({ type = "Corrupt", msg = "snapshot " .. prefix .. ": " .. tostring(vmsg) }, 0)
  end
  path = dir .. "/" .. M.SNAPSHOT_FILE
  assert(os.rename(part, path))
  write_file(dir .. "/" .. M.MANIFEST_FILE, mtext)
  return path, man
end

-- coll, version, manifest of the published snapshot; nil when there is none.
function M.latest(env, coll_name, opts)
  M.check_coll(coll_name)
  local lazy = opts and opts.lazy or false
  local version = M.pointer(env, coll_name)
  if not version then return nil end
  local path, man = M.fetch_snapshot(env, coll_name, version)
  -- verified on download; open still checks the file's structure and that it
  -- agrees with the manifest (collection, dimension, count, kind, version)
  local coll, msg
  if opts and opts.open then
    coll, msg = opts.open(path)
  else
    coll, msg = vec.open(path, { lazy = lazy })
  end
  if not coll then
    -- a damaged cache entry: drop it, so the next call downloads again
    rm_rf(cache_dir(env, coll_name, version))
    error({ type = "Corrupt", msg = "snapshot " .. coll_name .. " " .. version .. ": " .. tostring(msg) }, 0)
  end
  if coll:count() ~= man.count or coll:dim() ~= man.dimension then
    rm_rf(cache_dir(env, coll_name, version))
    error({ type = "Corrupt", msg = "snapshot " .. coll_name .. " " .. version .. ": differs from its manifest" }, 0)
  end
  return coll, version, man
end

-- For queries only (merchant resolution): the published snapshot as a
-- sparse copy (vec.open_sparse: only non-zero entries, exact same hits and
-- scores), or opened densely when its vectors are not sparse (an HTTP
-- embedder's).  Returns what M.latest returns; the object has :query,
-- :count, :dim, :close (a sparse one also :query_many).
function M.latest_for_query(env, coll_name)
  return M.latest(env, coll_name, { open = function(path)
    local sp, msg, errname = vec.open_sparse(path)
    if sp or errname ~= "ELIMIT" then return sp, msg, errname end
    return vec.open(path)
  end })
end

-- Versions under timestamped/, newest first.
function M.versions(env, coll_name)
  local _, prefixes = objects(env):list(coll_name .. "/snapshot/timestamped/", { delimiter = "/" })
  local out = {}
  for _, p in ipairs(prefixes or {}) do
    local v = p:match("/timestamped/([^/]+)/$")
    if v then out[#out + 1] = v end
  end
  table.sort(out, function(a, b) return a > b end)
  return out
end

-- Remove all but the newest `keep` versions, never the one the pointer names.
function M.prune(env, coll_name, keep, pointed)
  keep = keep or M.KEEP_VERSIONS
  local o = objects(env)
  local removed = 0
  for i, v in ipairs(M.versions(env, coll_name)) do
    if i > keep and v ~= pointed then
      local prefix = M.snapshot_prefix(coll_name, v)
      local items = o:list(prefix) or {}
      -- the manifest first: a half-deleted version is never taken for complete
      table.sort(items, function(a, b)
        return (a.key:sub(-#M.MANIFEST_FILE) == M.MANIFEST_FILE) and b.key:sub(-#M.MANIFEST_FILE) ~= M.MANIFEST_FILE
      end)
      for _, it in ipairs(items) do o:delete(it.key) end
      rm_rf(cache_dir(env, coll_name, v))
      removed = removed + 1
    end
  end
  return removed
end

-- Publish coll as a new version of coll_name.
--   opts.keep      versions kept (default 4)
--   opts.before_pointer  function(version) called after the upload and before the
--                  pointer moves (the lock check); an error there deletes the
--                  uploaded version and is re-raised
--   opts.hook      function(point) test hook (named crash points)
function M.publish(env, coll_name, coll, opts)
  M.check_coll(coll_name)
  opts = opts or {}
  local hook = opts.hook or function() end
  local version = M.new_version()
  local dir = cache_dir(env, coll_name, version)
  mkdir_p(dir)
  local path = dir .. "/" .. M.SNAPSHOT_FILE
  local man, json = coll:write_snapshot(path, version, { fsync = false })
  if not man then
    rm_rf(dir)
    error({ type = "IO", msg = "snapshot " .. coll_name .. ": " .. tostring(json) }, 0)
  end
  hook("written")
  local o = objects(env)
  local prefix = M.snapshot_prefix(coll_name, version)
  local ok, msg = o:put_file(prefix .. M.SNAPSHOT_FILE, path, { content_type = "application/vnd.sqlite3",
    metadata = { snapshot_version = version, xxh3_128 = man.xxh3_128 } })
  if ok then
    hook("uploaded_file")
    ok, msg = o:put(prefix .. M.MANIFEST_FILE, json, { content_type = "application/json" })
  end
  if not ok then
    o:delete(prefix .. M.SNAPSHOT_FILE)
    rm_rf(dir)
    error({ type = "IO", msg = "snapshot " .. prefix .. ": upload: " .. tostring(msg) }, 0)
  end
  hook("uploaded")
  if opts.before_pointer then
    local cok, cerr = pcall(opts.before_pointer, version)
    if not cok then
      o:delete(prefix .. M.MANIFEST_FILE)
      o:delete(prefix .. M.SNAPSHOT_FILE)
      rm_rf(dir)
      error(cerr, 0)
    end
  end
  -- in the cache before the pointer moves: a crash in between leaves a cached,
  -- unpublished version (harmless: it is only used when the pointer names it)
  write_file(dir .. "/" .. M.MANIFEST_FILE, json)
  ok, msg = o:put(M.pointer_key(coll_name), version, { content_type = "text/plain" })
  if not ok then
    error({ type = "IO", msg = "pointer " .. M.pointer_key(coll_name) .. ": " .. tostring(msg) }, 0)
  end
  hook("pointer")
  M.prune(env, coll_name, opts.keep, version)
  hook("pruned")
  return version, man
end

return M
