-- rcpt.vec from Lua: collections with the metadata of the original system
-- (spec §6.4-§6.6), filters, files, manifests, damaged files.
local vec = require("rcpt.vec")
local env = require("support.env")

local DIM = 64

-- deterministic vectors: a linear congruential generator, so runs repeat
local function rng(seed)
  local s = seed
  return function()
    s = (s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFF
    return ((s >> 16) % 20001) / 10000 - 1
  end
end

local function f32(t) return string.pack("<" .. string.rep("f", #t), table.unpack(t)) end
local function unf32(s) return { string.unpack("<" .. string.rep("f", #s // 4), s) } end

local function randvec(r)
  local t = {}
  for i = 1, DIM do t[i] = r() end
  return t
end

local merchants = { "Sprouts Farmers Market", "Costco Wholesale", "Vons", "" }
local phones = { "8059174200", "8186468880", "", "" }

-- §6.4 ids, §6.5/6.6 metadata: 6 receipts x 8 lines
local function receipt_lines(r)
  local ids, vecs, docs, metas, raw = {}, {}, {}, {}, {}
  for rid = 1, 6 do
    for lid = 1, 8 do
      local image = string.format("%08x-aaaa-bbbb-cccc-%012d", rid * 7919, rid)
      local id = string.format("IMAGE#%s#RECEIPT#%05d#LINE#%05d", image, rid, lid)
      local text = ("line %d of receipt %d"):format(lid, rid)
      local v = randvec(r)
      ids[#ids + 1] = id
      raw[#raw + 1] = v
      vecs[#vecs + 1] = (#vecs % 2 == 0) and f32(v) or v -- both vector forms
      docs[#docs + 1] = text
      metas[#metas + 1] = {
        image_id = image,
        receipt_id = tostring(rid), -- a string, as the upload path writes it
        line_id = lid,
        embedding_type = "line",
        text = text,
        merchant_name = merchants[(rid - 1) % 4 + 1],
        normalized_phone_10 = lid == 2 and phones[(rid - 1) % 4 + 1] or nil,
        normalized_full_address = lid == 3 and ("%d main st springfield ca 9%04d"):format(rid * 100, rid) or nil,
        confidence = 0.5 + lid / 20,
      }
    end
  end
  return ids, vecs, docs, metas, raw
end

local function dot(a, b)
  local s, na, nb = 0, 0, 0
  for i = 1, #a do s, na, nb = s + a[i] * b[i], na + a[i] * a[i], nb + b[i] * b[i] end
  return s / math.sqrt(na) / math.sqrt(nb)
end

-- brute force in Lua (double precision) over rows passing pred
local function expected(raw, metas, ids, q, k, pred)
  local all = {}
  for i = 1, #raw do
    if pred(metas[i], ids[i]) then all[#all + 1] = { id = ids[i], s = dot(q, raw[i]) } end
  end
  table.sort(all, function(a, b) if a.s ~= b.s then return a.s > b.s end return a.id < b.id end)
  local out = {}
  for i = 1, math.min(k, #all) do out[i] = all[i] end
  return out
end

local function same_hits(res, exp)
  assert.are.equal(#exp, #res.ids)
  for i = 1, #exp do
    assert.are.equal(exp[i].id, res.ids[i])
    assert.is_true(math.abs(exp[i].s - res.scores[i]) < 1e-5)
  end
end

describe("rcpt.vec", function()
  local dir
  before_each(function() dir = env.tmpdir() end)
  after_each(function() env.rmrf(dir) end)

  it("upserts, gets, replaces and deletes rows with realistic metadata", function()
    local r = rng(42)
    local ids, vecs, docs, metas = receipt_lines(r)
    local c = vec.new("lines", DIM)
    assert.are.equal(48, c:upsert(ids, vecs, docs, metas))
    assert.are.equal(48, c:count())
    assert.are.equal(48, #c)
    assert.are.equal(DIM, c:dim())
    assert.are.equal("lines", c:name())
    local g = c:get({ ids[10], "IMAGE#missing", ids[3] }, { vectors = true })
    assert.are.same({ ids[10], ids[3] }, g.ids)
    assert.are.equal(docs[10], g.documents[1])
    assert.are.same(metas[10], g.metadatas[1])
    assert.are.equal(math.type(g.metadatas[1].line_id), "integer")
    assert.are.equal("8186468880", g.metadatas[1].normalized_phone_10)
    -- vectors come back normalised, as float32 strings
    local v = unf32(g.vectors[1])
    local n = 0
    for i = 1, DIM do n = n + v[i] * v[i] end
    assert.is_true(math.abs(n - 1) < 1e-5)
    assert.is_nil(c:get({ ids[1] }).vectors)
    -- replace by id
    local m = { merchant_name = "Trader Joe's", receipt_id = "1", line_id = 1 }
    assert.are.equal(1, c:upsert({ ids[1] }, { randvec(r) }, { "TRADER JOE'S" }, { m }))
    assert.are.equal(48, c:count())
    assert.are.same(m, c:get({ ids[1] }).metadatas[1])
    -- delete
    assert.are.equal(2, c:delete({ ids[1], ids[2], "nope" }))
    assert.are.equal(46, c:count())
    assert.are.same({}, c:get({ ids[1] }).ids)
    local all = c:ids()
    assert.are.equal(46, #all)
    c:close()
    c:close() -- idempotent
    assert.has_error(function() c:count() end)
  end)

  it("refuses bad vectors with nil, message, errname naming the id", function()
    local c <close> = vec.new("words", 4)
    local ok, msg, name = c:upsert({ "IMAGE#x#RECEIPT#00001#LINE#00001#WORD#00001" }, { { 0, 0, 0, 0 } })
    assert.is_nil(ok)
    assert.truthy(msg:find("IMAGE#x#RECEIPT#00001#LINE#00001#WORD#00001", 1, true))
    assert.truthy(msg:find("zero", 1, true))
    assert.are.equal("EINVAL", name)
    ok, msg = c:upsert({ "n" }, { { 0 / 0, 1, 1, 1 } })
    assert.is_nil(ok)
    assert.truthy(msg:find("NaN", 1, true))
    assert.are.equal(0, c:count())
    -- misuse raises
    assert.has_error(function() c:upsert({ "a" }, { "short" }) end)
    assert.has_error(function() c:upsert({ "a" }, { { 1, 2, 3 } }) end)
    assert.has_error(function() c:upsert({ "a", "b" }, { { 1, 2, 3, 4 } }) end)
    assert.has_error(function() c:upsert({ "a" }, { { 1, 2, 3, 4 } }, nil, { { nested = {} } }) end)
    assert.has_error(function() vec.new("x", 0) end)
  end)

  it("queries top-k by cosine with $eq, $ne, $in, AND and exclude_ids like a brute force", function()
    local r = rng(7)
    local ids, vecs, docs, metas, raw = receipt_lines(r)
    local c = vec.new("lines", DIM)
    c:upsert(ids, vecs, docs, metas)
    for _ = 1, 5 do
      local q = randvec(r)
      same_hits(c:query(f32(q), { k = 5 }), expected(raw, metas, ids, q, 5, function() return true end))
      same_hits(c:query(q, { k = 7, where = { merchant_name = "Vons" } }),
        expected(raw, metas, ids, q, 7, function(m) return m.merchant_name == "Vons" end))
      same_hits(c:query(q, { k = 9, where = { receipt_id = { ["$ne"] = "1" } } }),
        expected(raw, metas, ids, q, 9, function(m) return m.receipt_id ~= "1" end))
      local imgs = { metas[1].image_id, metas[20].image_id }
      same_hits(c:query(q, { k = 6, where = { image_id = { ["$in"] = imgs } } }),
        expected(raw, metas, ids, q, 6, function(m) return m.image_id == imgs[1] or m.image_id == imgs[2] end))
      local ex = { ids[4], ids[9], ids[17], ids[30] }
      local exs = {}
      for _, e in ipairs(ex) do exs[e] = true end
      same_hits(c:query(q, {
        k = 4,
        where = { merchant_name = { ["$in"] = { "Vons", "Costco Wholesale" } }, line_id = { ["$ne"] = 3 },
          embedding_type = "line" },
        exclude_ids = ex,
      }), expected(raw, metas, ids, q, 4, function(m, id)
        return (m.merchant_name == "Vons" or m.merchant_name == "Costco Wholesale") and m.line_id ~= 3
          and not exs[id]
      end))
      -- rows lacking the key pass $ne and fail $eq
      same_hits(c:query(q, { k = 50, where = { normalized_phone_10 = { ["$ne"] = "8059174200" } } }),
        expected(raw, metas, ids, q, 50, function(m) return m.normalized_phone_10 ~= "8059174200" end))
    end
    -- a neighbour lookup as merchant resolution does it: the phone line of receipt 2
    local res = c:query(raw[10], { k = 1 })
    assert.are.equal(ids[10], res.ids[1])
    assert.are.equal("8186468880", res.metadatas[1].normalized_phone_10)
    assert.are.equal(docs[10], res.documents[1])
    assert.is_true(math.abs(res.scores[1] - 1) < 1e-5)
    assert.has_error(function() c:query(raw[1], { where = { x = { ["$gt"] = 1 } } }) end)
    local zero = {}
    for i = 1, DIM do zero[i] = 0 end
    local ok, msg, name = c:query(zero, {})
    assert.is_nil(ok)
    assert.truthy(msg:find("zero", 1, true))
    assert.are.equal("EINVAL", name)
  end)

  it("updates metadata of selected ids (set and remove keys)", function()
    local r = rng(3)
    local ids, vecs, docs, metas = receipt_lines(r)
    local c = vec.new("lines", DIM)
    c:upsert(ids, vecs, docs, metas)
    local before = c:get({ ids[1] }, { vectors = true })
    local n = c:update_metadata({ ids[1], ids[2], "IMAGE#none" },
      { merchant_name = "Sprouts", place_id = "ChIJ123", last_metadata_update = "2026-01-01T00:00:00Z" },
      { "normalized_phone_10", "confidence" })
    assert.are.equal(2, n)
    local g = c:get({ ids[1], ids[2] }, { vectors = true })
    assert.are.equal("Sprouts", g.metadatas[2].merchant_name)
    assert.are.equal("ChIJ123", g.metadatas[1].place_id)
    assert.is_nil(g.metadatas[2].normalized_phone_10)
    assert.is_nil(g.metadatas[1].confidence)
    assert.are.equal(metas[1].text, g.metadatas[1].text)
    assert.are.equal(before.vectors[1], g.vectors[1]) -- vectors untouched
    -- the filter sees the new value
    local res = c:query(vecs[2], { k = 3, where = { merchant_name = "Sprouts" } })
    assert.are.equal(2, #res.ids)
  end)

  it("writes snapshots and deltas, reads them back exactly, applies idempotently", function()
    local r = rng(11)
    local ids, vecs, docs, metas = receipt_lines(r)
    local c = vec.new("lines", DIM)
    c:upsert(ids, vecs, docs, metas)
    c:update_metadata({ ids[5] }, { flag = true, gone = vec.null }, nil)
    local snap = dir .. "/snapshot.sqlite"
    local man, json = c:write_snapshot(snap, "20260102_030405-1a2b")
    assert.are.equal("snapshot", man.kind)
    assert.are.equal(48, man.count)
    assert.are.equal(DIM, man.dimension)
    assert.are.equal("lines", man.collection)
    assert.are.equal("20260102_030405-1a2b", man.version)
    assert.matches("^%x+$", man.xxh3_128)
    assert.are.equal(32, #man.xxh3_128)
    assert.is_nil(man.sha256)
    assert.are.same(man, vec.read_manifest(json))
    assert.is_true(vec.verify(snap, json))
    assert.is_true(vec.verify(snap, man))
    local s = assert(vec.open(snap, { verify_manifest = json }))
    local a = c:get(ids, { vectors = true })
    local b = s:get(ids, { vectors = true })
    assert.are.same(a, b)
    assert.are.equal(true, b.metadatas[5].flag)
    assert.are.equal(vec.null, b.metadatas[5].gone)
    -- a delta of new and replaced rows
    local d = vec.new("lines", DIM)
    local dids = { ids[1], ids[2], "IMAGE#new#RECEIPT#00001#LINE#00001" }
    d:upsert(dids, { randvec(r), randvec(r), randvec(r) }, { "a", "b", "c" },
      { { merchant_name = "X" }, { merchant_name = "Y" }, { merchant_name = "Z" } })
    local dman, djson = d:write_delta(dir .. "/delta.sqlite")
    assert.are.equal("delta", dman.kind)
    assert.is_nil(dman.version)
    assert.are.equal(3, s:apply(dir .. "/delta.sqlite", djson))
    assert.are.equal(49, s:count())
    local once = s:get(s:ids(), { vectors = true })
    assert.are.equal(3, s:apply(dir .. "/delta.sqlite"))
    assert.are.equal(3, s:apply(d))
    assert.are.same(once, s:get(s:ids(), { vectors = true }))
    assert.are.equal("Y", s:get({ ids[2] }).metadatas[1].merchant_name)
    -- same content written twice -> same rows table (ids sorted)
    local m2 = s:write_snapshot(dir .. "/s2.sqlite", "v2")
    assert.are.equal(49, m2.count)
  end)

  it("reports damaged files as ECORRUPT and missing ones as ENOTFOUND", function()
    local r = rng(5)
    local ids, vecs, docs, metas = receipt_lines(r)
    local c = vec.new("lines", DIM)
    c:upsert(ids, vecs, docs, metas)
    local snap = dir .. "/snap.sqlite"
    local man, json = c:write_snapshot(snap, "v1")
    local bytes = env.read(snap)
    -- truncated
    env.write(dir .. "/t.sqlite", bytes:sub(1, #bytes - 100))
    local ok, msg, name = vec.open(dir .. "/t.sqlite")
    assert.is_nil(ok)
    assert.are.equal("ECORRUPT", name)
    assert.truthy(msg:find("truncated", 1, true))
    -- one flipped byte in the middle: caught by the manifest
    local at = #bytes // 2
    env.write(dir .. "/f.sqlite", bytes:sub(1, at - 1) .. string.char(bytes:byte(at) ~ 1) .. bytes:sub(at + 1))
    ok, msg, name = vec.open(dir .. "/f.sqlite", { verify_manifest = json })
    assert.is_nil(ok)
    assert.are.equal("ECORRUPT", name)
    assert.truthy(msg:find("checksum mismatch: xxh3_128", 1, true))
    ok, _, name = vec.verify(dir .. "/f.sqlite", man)
    assert.is_nil(ok)
    assert.are.equal("ECORRUPT", name)
    -- the same file under a manifest of an older rcpt (sha256, no xxh3_128):
    -- the intact file verifies and opens, the flipped one is ECORRUPT
    local old = {}
    for k, v in pairs(man) do old[k] = v end
    old.xxh3_128, old.sha256 = nil, vec.sha256(bytes)
    assert.is_true(vec.verify(snap, old))
    local o = assert(vec.open(snap, { verify_manifest = old }))
    assert.are.equal(man.count, o:count())
    o:close()
    ok, msg, name = vec.verify(dir .. "/f.sqlite", old)
    assert.is_nil(ok)
    assert.are.equal("ECORRUPT", name)
    assert.truthy(msg:find("checksum mismatch: sha256", 1, true))
    -- a manifest with neither checksum is refused, naming both
    old.sha256 = nil
    ok, msg, name = vec.verify(snap, old)
    assert.is_nil(ok)
    assert.are.equal("EINVAL", name)
    assert.truthy(msg:find("xxh3_128", 1, true) and msg:find("sha256", 1, true))
    -- not a database
    env.write(dir .. "/n.sqlite", ("not sqlite "):rep(100))
    ok, _, name = vec.open(dir .. "/n.sqlite")
    assert.is_nil(ok)
    assert.are.equal("ECORRUPT", name)
    ok, _, name = vec.open(dir .. "/missing.sqlite")
    assert.is_nil(ok)
    assert.are.equal("ENOTFOUND", name)
    -- a delta of another dimension
    local d = vec.new("lines", 8)
    d:upsert({ "a" }, { { 1, 0, 0, 0, 0, 0, 0, 0 } })
    d:write_delta(dir .. "/d8.sqlite")
    ok, msg, name = c:apply(dir .. "/d8.sqlite")
    assert.is_nil(ok)
    assert.are.equal("EINVAL", name)
    assert.truthy(msg:find("dimension", 1, true))
    -- bad manifests
    ok, _, name = vec.read_manifest('{"format":"rcpt-vec"}')
    assert.is_nil(ok)
    assert.are.equal("EINVAL", name)
    ok = vec.read_manifest("[1,2]")
    assert.is_nil(ok)
  end)
end)
