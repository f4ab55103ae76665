-- vec.open_sparse: a snapshot kept as its non-zero entries must answer
-- exactly like the dense collection (same ids, same float scores, same order),
-- with filters, excluded ids and ties; dense files are refused with ELIMIT;
-- damaged files are refused like vec.open refuses them.
local vec = require("rcpt.vec")
local env = require("support.env")
local embed = require("rcpt.embed")

local DIM = 256

local function same(a, b, what)
  assert.are.equal(#a.ids, #b.ids, what .. ": hit count")
  for i = 1, #a.ids do
    assert.are.equal(a.ids[i], b.ids[i], what .. ": id at " .. i)
    -- the same float, not a close one
    assert.are.equal(string.pack("<f", a.scores[i]), string.pack("<f", b.scores[i]), what .. ": score at " .. i)
    assert.are.equal(a.documents[i], b.documents[i])
    assert.are.same(a.metadatas[i], b.metadatas[i])
  end
end

-- receipt-like lines through the local n-gram embedder (sparse vectors), with
-- duplicates across receipts (ties) and per-receipt anchors
local function build(dir)
  local e = assert(embed.local_embedder({ dim = DIM }))
  local c = vec.new("lines", DIM)
  local ids, texts, docs, metas = {}, {}, {}, {}
  local shops = { { "SPROUTS FARMERS MARKET", "1012 WESTLAKE BLVD", "8059174200" },
    { "COSTCO WHOLESALE", "5700 LINDERO CANYON RD", "8186468880" }, { "VONS", "3 MAIN ST", "" } }
  for r = 1, 30 do
    local s = shops[(r - 1) % #shops + 1]
    local lines = { s[1], s[2], "TEL " .. s[3], "TOTAL " .. (r % 7) .. ".99", "THANK YOU", "ITEM " .. r }
    for l, t in ipairs(lines) do
      local n = #ids + 1
      ids[n] = string.format("IMAGE#%08d-0000-4000-8000-000000000000#RECEIPT#00001#LINE#%05d", r, l)
      texts[n], docs[n] = t, t
      metas[n] = { merchant_name = s[1], normalized_phone_10 = s[3] ~= "" and s[3] or nil, receipt_id = r,
        line_id = l }
    end
  end
  assert(c:upsert(ids, assert(e:embed(texts)), docs, metas))
  local path = dir .. "/snap.sqlite"
  local man = assert(c:write_snapshot(path, "v1"))
  return c, path, man, e, ids
end

describe("vec.open_sparse", function()
  local dir
  before_each(function() dir = env.tmpdir() end)

  it("answers exactly as the dense collection: hits, float scores, order, filters, exclusions", function()
    local c, path, man, e, ids = build(dir)
    local sp = assert(vec.open_sparse(path, { verify_manifest = man }))
    assert.are.equal(c:count(), sp:count())
    assert.are.equal(DIM, sp:dim())
    assert.are.equal("lines", sp:name())
    -- sparse: far fewer entries than rows x dim
    assert.is_true(sp:nnz() < c:count() * DIM / 4, tostring(sp:nnz()))
    local qtexts = { "1012 WESTLAKE BLVD", "TEL (805) 917-4200", "THANK YOU", "TOTAL 3.99", "VONS 3 MAIN",
      "nothing alike", "ITEM 7", "COSTCO", "SPROUTS" }
    local qs = assert(e:embed(qtexts))
    local cases = {
      { k = 8 },
      { k = 1 },
      { k = 25, exclude_ids = { ids[1], ids[2], ids[5] } },
      { k = 5, where = { normalized_phone_10 = "8059174200" } },
      { k = 5, where = { normalized_phone_10 = { ["$in"] = { "8186468880", "0000000000" } }, line_id = { ["$ne"] = 3 } } },
      { k = 4, where = { merchant_name = "nobody" } },
      { k = 500 },
    }
    for ci, o in ipairs(cases) do
      local many = sp:query_many(qs, o)
      assert.are.equal(#qs, #many)
      for qi, q in ipairs(qs) do
        local what = string.format("case %d, query %q", ci, qtexts[qi])
        local want = assert(c:query(q, o))
        same(many[qi], want, what)
        same(assert(sp:query(q, o)), want, what .. " (single)")
      end
    end
    -- ties: "THANK YOU" is on every receipt: equal scores come by id
    local r = sp:query(qs[3], { k = 10 })
    assert.is_true(r.scores[1] > 0.999, tostring(r.scores[1]))
    for i = 2, 10 do
      assert.are.equal(r.scores[1], r.scores[i])
      assert.is_true(r.ids[i - 1] < r.ids[i])
    end
    -- a dense query (not from the embedder) works too
    local t = {}
    for i = 1, DIM do t[i] = math.sin(i) end
    same(sp:query(t, { k = 6 }), c:query(t, { k = 6 }), "dense query")
    sp:close()
    c:close()
  end)

  it("refuses a dense file with ELIMIT, and damaged files like vec.open", function()
    local c = vec.new("lines", DIM)
    local ids, vs = {}, {}
    for i = 1, 300 do
      local t = {}
      for j = 1, DIM do t[j] = math.cos(i * j) + 0.01 end
      ids[i], vs[i] = string.format("id%04d", i), t
    end
    assert(c:upsert(ids, vs))
    local path = dir .. "/dense.sqlite"
    assert(c:write_snapshot(path, "v1"))
    local sp, msg, errname = vec.open_sparse(path)
    assert.is_nil(sp)
    assert.are.equal("ELIMIT", errname)
    assert.truthy(msg:find("non-zero", 1, true), msg)
    -- a higher limit takes it
    sp = assert(vec.open_sparse(path, { max_density = 1 }))
    same(sp:query(vs[7], { k = 3 }), c:query(vs[7], { k = 3 }), "dense file")
    sp:close()

    local _, spath, man = build(dir)
    local f = assert(io.open(spath, "rb"))
    local bytes = f:read("a")
    f:close()
    local cut = dir .. "/cut.sqlite"
    f = assert(io.open(cut, "wb"))
    f:write(bytes:sub(1, #bytes - 100))
    f:close()
    sp, msg, errname = vec.open_sparse(cut)
    assert.is_nil(sp)
    assert.are.equal("ECORRUPT", errname)
    assert.truthy(msg:find("truncated", 1, true), msg)
    -- a flipped byte is caught by the manifest
    local flipped = dir .. "/flip.sqlite"
    local pos = #bytes - 5000
    f = assert(io.open(flipped, "wb"))
    f:write(bytes:sub(1, pos - 1), string.char((bytes:byte(pos) + 1) % 256), bytes:sub(pos + 1))
    f:close()
    sp, msg, errname = vec.open_sparse(flipped, { verify_manifest = man })
    assert.is_nil(sp)
    assert.are.equal("ECORRUPT", errname)
    sp, msg, errname = vec.open_sparse(dir .. "/missing.sqlite")
    assert.is_nil(sp)
    assert.are.equal("ENOTFOUND", errname)
  end)

  it("misuse raises; close is idempotent", function()
    local _, path = build(dir)
    local sp = assert(vec.open_sparse(path))
    assert.has_error(function() sp:query("short", {}) end)
    local r, msg, errname = sp:query_many({ string.rep("\0", DIM * 4) }, {})
    assert.is_nil(r)
    assert.are.equal("EINVAL", errname)
    assert.truthy(msg:find("zero", 1, true), msg)
    assert.has_error(function() vec.open_sparse(path, { max_density = 2 }) end)
    sp:close()
    sp:close()
    assert.has_error(function() sp:count() end)
    assert.matches("closed", tostring(sp))
  end)
end)
