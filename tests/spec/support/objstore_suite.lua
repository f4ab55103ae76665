-- The object-store behaviour suite shared by both backends: each backend's
-- spec loads this file with loadfile(path, "t", _ENV) (busted's describe and it
-- live in the spec's environment) and calls run(name, open); open() returns
--   { store = <net.objects store>, opts = function(o) -> o (adds what the backend
--     needs, e.g. env), cleanup = function() end, byte_order = bool }.
-- (Two spec files, objstore_spec.lua and objstore_s3_spec.lua, so each
-- ctest test stays well under a minute; the assertions are the same.)
local env = require("support.env")
local net = require("rcpt.net")

local M = {}

local function md5_of(bytes)
  local dir = env.tmpdir()
  env.write(dir .. "/b", bytes)
  local p = io.popen("md5sum " .. env.quote(dir .. "/b"))
  local sum = p:read("l"):match("^(%x+)")
  p:close()
  env.rmrf(dir)
  return sum
end

-- every byte value, in 64 KiB blocks that each start with their own counter
-- (so no two blocks are equal and a misplaced part shows), built once per size
local block
local blobs = {}
local function binary_blob(n)
  if blobs[n] then return blobs[n] end
  if not block then
    local t = {}
    for b = 0, 255 do t[#t + 1] = string.char(b) end
    local row = table.concat(t)
    block = string.rep(row, 256, "")
  end
  local parts = {}
  for i = 0, n // #block do
    parts[#parts + 1] = string.pack(">I4", i) .. block:sub(5 + (i % 251))
  end
  blobs[n] = table.concat(parts):sub(1, n)
  return blobs[n]
end

local function keys_of(list)
  local t = {}
  for i, e in ipairs(list) do t[i] = e.key end
  return t
end

function M.run(name, open)
  describe("objects on " .. name, function()
    local st, ctx

    setup(function()
      ctx = open()
      st = ctx.store
    end)

    teardown(function()
      if st then st:close() end
      if ctx and ctx.cleanup then ctx.cleanup() end
    end)

    it("puts, gets, heads and deletes an object with its content type and metadata", function()
      local body = "614 Gravier LLC\n" .. string.rep("x", 1000)
      assert.is_true(st:put("raw/img-1.json", body,
        { content_type = "application/json", metadata = { image_id = "img-1", Run_Id = "r1" } }))
      assert.are.equal(body, st:get("raw/img-1.json"))
      local h = assert(st:head("raw/img-1.json"))
      assert.are.equal(#body, h.size)
      assert.are.equal("application/json", h.content_type)
      assert.are.equal(md5_of(body), h.etag)
      assert.are.equal("img-1", h.metadata.image_id)
      assert.are.equal("r1", h.metadata.run_id)
      assert.truthy(h.last_modified > 1700000000)
      assert.is_true(st:delete("raw/img-1.json"))
      local v, msg, errname = st:get("raw/img-1.json")
      assert.is_nil(v)
      assert.are.equal("ENOTFOUND", errname)
      assert.truthy(msg:find("raw/img-1.json", 1, true))
    end)

    it("replaces an object whole on a second put", function()
      assert.is_true(st:put("over/k", string.rep("a", 5000)))
      assert.is_true(st:put("over/k", "short"))
      assert.are.equal("short", st:get("over/k"))
      assert.are.equal(5, st:head("over/k").size)
    end)

    it("reports a missing key as ENOTFOUND on get, head and get_file; delete is idempotent", function()
      local v, msg, errname = st:get("no/such/key")
      assert.is_nil(v)
      assert.are.equal("ENOTFOUND", errname)
      assert.truthy(msg:find("no/such/key", 1, true))
      v, msg, errname = st:head("no/such/key")
      assert.is_nil(v)
      assert.are.equal("ENOTFOUND", errname)
      local dir = env.tmpdir()
      v, msg, errname = st:get_file("no/such/key", dir .. "/out")
      assert.is_nil(v)
      assert.are.equal("ENOTFOUND", errname)
      assert.is_nil(io.open(dir .. "/out", "rb"))
      env.rmrf(dir)
      assert.is_true(st:delete("no/such/key"))
    end)

    it("refuses invalid keys before any I/O", function()
      local bad = { "../x", "a/../b", "/abs", "a\0b", "a//b", "", "a\\b", "./a", "a/", "a\nb",
        string.rep("k", 1025) }
      for _, k in ipairs(bad) do
        for _, op in ipairs({ "put", "get", "head", "delete" }) do
          local ok, msg, errname
          if op == "put" then ok, msg, errname = st:put(k, "x") else ok, msg, errname = st[op](st, k) end
          assert.is_nil(ok, op .. " " .. k)
          assert.are.equal("EINVAL", errname, op .. " " .. k)
          assert.truthy(msg:find("key", 1, true), msg)
        end
      end
      -- nothing was written anywhere
      for _, e in ipairs(st:list("")) do
        assert.falsy(e.key:find("..", 1, true) or e.key:find("\0", 1, true) or e.key:find("\\", 1, true)
          or e.key == "x" or e.key == "abs" or e.key == "a" or e.key == "a/b" or e.key:find("^long/"), e.key)
      end
      -- a long key is fine (1,000 bytes, segments short enough for any file system)
      local k = "long/" .. string.rep(string.rep("k", 99) .. "/", 9) .. string.rep("k", 95)
      assert.are.equal(1000, #k)
      assert.is_true(st:put(k, "ok"))
      assert.are.equal("ok", st:get(k))
      assert.is_true(st:delete(k))
    end)

    it("keeps binary bodies with NUL bytes and empty bodies byte for byte", function()
      local blob = binary_blob(70000)
      assert.truthy(blob:find("\0", 1, true))
      assert.is_true(st:put("bin/blob", blob))
      assert.are.equal(blob, st:get("bin/blob"))
      assert.are.equal(md5_of(blob), st:head("bin/blob").etag)
      assert.is_true(st:put("bin/empty", ""))
      assert.are.equal("", st:get("bin/empty"))
      assert.are.equal(0, st:head("bin/empty").size)
    end)

    it("keeps a gzip content encoding and returns the stored bytes (spec 7.1 deltas)", function()
      local gz = "\31\139\8\0\0\0\0\0\0\3" .. binary_blob(300)
      assert.is_true(st:put("lines/delta/run-1/delta.tar.gz", gz,
        { content_type = "application/gzip", content_encoding = "gzip",
          metadata = { delta_key = "lines/delta/run-1/", collection = "lines" } }))
      assert.are.equal(gz, st:get("lines/delta/run-1/delta.tar.gz"))
      local h = st:head("lines/delta/run-1/delta.tar.gz")
      assert.are.equal("gzip", h.content_encoding)
      assert.are.equal("application/gzip", h.content_type)
      assert.are.equal("lines/delta/run-1/", h.metadata.delta_key)
    end)

    it("lists a prefix in byte order across more than 1,000 keys (S3 pages)", function()
      local n = 1010
      for i = 1, n do
        assert(st:put(string.format("page/k%04d", i), tostring(i)))
      end
      local all = assert(st:list("page/"))
      assert.are.equal(n, #all)
      for i, e in ipairs(all) do
        assert.are.equal(string.format("page/k%04d", i), e.key)
        assert.are.equal(#tostring(i), e.size)
      end
      -- a prefix that is not a folder
      local some = assert(st:list("page/k10"))
      assert.are.equal(11, #some)  -- k1000..k1010
      assert.are.equal("page/k1000", some[1].key)
      -- small pages give the same answer
      local paged = assert(st:list("page/", { page_size = 97 }))
      assert.are.same(keys_of(all), keys_of(paged))
      assert.are.same({}, keys_of(st:list("page/nothing-here")))
    end)

    it("folds deeper keys into common prefixes with a delimiter", function()
      for _, k in ipairs({ "d/a.txt", "d/sub/x", "d/sub/y", "d/sub2/z", "d/b.txt", "d/sub-file" }) do
        assert(st:put(k, k))
      end
      local entries, prefixes = st:list("d/", { delimiter = "/" })
      assert.are.same({ "d/a.txt", "d/b.txt", "d/sub-file" }, keys_of(entries))
      assert.are.same({ "d/sub/", "d/sub2/" }, prefixes)
      -- flat listing is in UTF-8 byte order ('-' < '/'), as S3 answers; s3rver
      -- walks its folders instead, so for it only the set is checked
      local flat = keys_of(st:list("d/"))
      if ctx.byte_order then
        assert.are.same({ "d/a.txt", "d/b.txt", "d/sub-file", "d/sub/x", "d/sub/y", "d/sub2/z" }, flat)
      else
        table.sort(flat)
        assert.are.same({ "d/a.txt", "d/b.txt", "d/sub-file", "d/sub/x", "d/sub/y", "d/sub2/z" }, flat)
      end
      -- the snapshot layout: versions under timestamped/ as common prefixes
      for _, v in ipairs({ "20250101_000000", "20250102_000000" }) do
        assert(st:put("lines/snapshot/timestamped/" .. v .. "/.snapshot_hash", "{}"))
      end
      local _, versions = st:list("lines/snapshot/timestamped/", { delimiter = "/" })
      assert.are.same({ "lines/snapshot/timestamped/20250101_000000/",
        "lines/snapshot/timestamped/20250102_000000/" }, versions)
    end)

    it("streams put_file and get_file, and get_file never leaves a partial file", function()
      local dir = env.tmpdir()
      local blob = binary_blob(300000)
      env.write(dir .. "/src", blob)
      assert.is_true(st:put_file("files/blob", dir .. "/src", { content_type = "image/png" }))
      assert.are.equal("image/png", st:head("files/blob").content_type)
      assert.is_true(st:get_file("files/blob", dir .. "/dst"))
      assert.are.equal(blob, env.read(dir .. "/dst"))
      local ok, _, errname = st:put_file("files/none", dir .. "/does-not-exist")
      assert.is_nil(ok)
      assert.are.equal("ENOTFOUND", errname)
      -- no temporary files left beside the destination
      local p = io.popen("ls -A " .. env.quote(dir))
      local names = p:read("a")
      p:close()
      assert.are.equal("dst\nsrc\n", names)
      env.rmrf(dir)
    end)

    it("puts a scratch file by moving it, and puts without fsync made durable by sync", function()
      local dir = env.tmpdir()
      local blob = binary_blob(200000)
      env.write(dir .. "/scratch", blob)
      assert.is_true(st:put_file("mv/blob", dir .. "/scratch", { content_type = "application/vnd.sqlite3",
        move = true, no_sync = true }))
      assert.is_true(st:put("mv/manifest.json", "{}", { content_type = "application/json", no_sync = true }))
      assert.is_true(st:sync({ "mv/blob", "mv/manifest.json" }))
      assert.is_true(st:get("mv/blob") == blob)
      local h = st:head("mv/blob")
      assert.are.equal(#blob, h.size)
      assert.are.equal("application/vnd.sqlite3", h.content_type)
      assert.are.equal(md5_of(blob), h.etag)
      assert.are.equal("{}", st:get("mv/manifest.json"))
      -- a file: store took the file itself; S3 uploaded it (the caller drops it)
      local moved = io.open(dir .. "/scratch") == nil
      assert.are.equal(st:url():match("^s3://") == nil, moved)
      -- moving over an existing object replaces it whole
      env.write(dir .. "/scratch2", "second")
      assert.is_true(st:put_file("mv/blob", dir .. "/scratch2", { move = true }))
      assert.are.equal("second", st:get("mv/blob"))
      -- syncing a key that is not there: ENOTFOUND on a file: store (S3 has nothing to sync)
      local ok, _, errname = st:sync({ "mv/none" })
      if st:url():match("^s3://") then assert.is_true(ok) else assert.are.equal("ENOTFOUND", errname) end
      assert.has_error(function() st:sync({ 1 }) end)
      env.rmrf(dir)
    end)

    it("uploads a large object in parts (multipart above the threshold) byte-identical", function()
      local big = assert(net.objects(st:url(), ctx.opts({ multipart_threshold = 6 * 1024 * 1024,
        part_size = 5 * 1024 * 1024 })))
      local blob = binary_blob(12 * 1024 * 1024 + 12345)
      assert.is_true(big:put("mp/blob", blob, { content_type = "application/x-test", metadata = { k = "v" } }))
      local back = big:get("mp/blob")
      assert.are.equal(#blob, #back)
      assert.is_true(back == blob)
      local h = big:head("mp/blob")
      assert.are.equal(#blob, h.size)
      assert.are.equal("application/x-test", h.content_type)
      assert.are.equal("v", h.metadata.k)
      -- the same from a file, read back through get_file
      local dir = env.tmpdir()
      env.write(dir .. "/src", blob)
      assert.is_true(big:put_file("mp/file", dir .. "/src"))
      assert.is_true(big:get_file("mp/file", dir .. "/dst"))
      assert.is_true(env.read(dir .. "/dst") == blob)
      env.rmrf(dir)
      big:close()
    end)

    it("copies an object with its content type", function()
      assert(st:put("cp/src", "copy me", { content_type = "text/plain" }))
      assert.is_true(st:copy("cp/src", "cp/dst"))
      assert.are.equal("copy me", st:get("cp/dst"))
      assert.are.equal("text/plain", st:head("cp/dst").content_type)
      local ok, _, errname = st:copy("cp/missing", "cp/dst2")
      assert.is_nil(ok)
      assert.are.equal("ENOTFOUND", errname)
    end)

    it("closes idempotently and refuses use after close", function()
      local s2 = assert(net.objects(st:url(), ctx.opts({})))
      s2:close()
      s2:close()
      assert.has_error(function() s2:get("x") end)
      do
        local s3 <close> = assert(net.objects(st:url(), ctx.opts({})))
        assert.truthy(tostring(s3):find(st:url(), 1, true))
      end
    end)
  end)
end


M.md5_of = md5_of
return M
