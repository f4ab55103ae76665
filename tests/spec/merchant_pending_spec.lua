-- Resolution from a `lines` delta not yet compacted (compaction off): a
-- receipt resolves from the pending delta of an earlier receipt of the same
-- merchant, whether this process wrote that delta (kept open after the
-- write) or downloads it (a fresh process); both give the same decision.
-- And content_run_id is the digest of the documented content text.
local env = require("support.env")
local gen = require("support.gen_ocr")
local ocr = require("rcpt.ocr")
local store = require("rcpt.store")
local vec = require("rcpt.vec")

local M1 = { merchant = "PENDING TEST CAFE", address = "742 ELM ST", phone = "(312) 555-0142" }
local M2 = { merchant = "OTHER PLACE DINER", address = "9 PINE AVE", phone = "(212) 555-0199" }

local function rows_of(m, seed)
  local json = gen{ lines = 30, words_per_line = 4, seed = seed, tags = { "address", "phone" },
    merchant = m.merchant, address = m.address, phone = m.phone, width = 1170, height = 2532 }
  local doc = assert(ocr.parse(json))
  local lines, words = doc:lines(), doc:words()
  doc:close()
  return lines, words
end

-- the after_receipt work of one receipt through `me` (a loaded
-- rcpt.merchant_embed), rows handed over as the native step does
local function run_receipt(me, e, m, seed)
  local image_id = store.uuid4()
  local lines, words = rows_of(m, seed)
  local rows = me.rows_from_ocr(image_id, 1, lines, words)
  local b = e.store:batch()
  for _, l in ipairs(rows.lines) do b:put("RECEIPT_LINE", l) end
  for _, w in ipairs(rows.words) do b:put("RECEIPT_WORD", w) end
  assert(b:commit())
  local ctx = { env = e, image_id = image_id, job_id = store.uuid4(), receipt_ids = { 1 },
    receipt_rows = { [1] = rows } }
  me.each(ctx, "merchant_error", function(it) me.resolve(ctx, it) end)
  me.each(ctx, "embedding_error", function(it) me.embed(ctx, it) end,
    function(it) return it.merchant_error ~= nil end)
  me.each(ctx, "embedding_error", function(it) me.write_deltas(ctx, it) end,
    function(it) return it.embedding_error ~= nil end)
  local res = me.report(ctx, {})
  assert.is_nil(res.merchant_error)
  assert.is_nil(res.embedding_error)
  return res.merchant[1], ctx.receipt_work[1]
end

local function fresh_module()
  package.loaded["rcpt.merchant_embed"] = nil
  return require("rcpt.merchant_embed")
end

describe("resolution from pending deltas", function()
  local dir, e
  before_each(function()
    dir = env.tmpdir()
    e = require("rcpt.env").open{ store = "sqlite:" .. dir .. "/rcpt.db", objects = "file:" .. dir .. "/objects" }
    e.settings.compact_after = false
  end)
  after_each(function()
    e:close()
    env.rmrf(dir)
    fresh_module()
  end)

  it("finds the earlier receipt's delta, kept or downloaded, with the same decision", function()
    local me = fresh_module()
    local first = run_receipt(me, e, M1, 1)
    assert.are.equal("INFERENCE", first.validated_by)
    local other = run_receipt(me, e, M2, 2)
    -- same process: the deltas written above are searched
    local kept = run_receipt(me, e, M1, 3)
    assert.are.equal("vector", kept.source)
    assert.are.equal(first.merchant_name, kept.merchant_name)
    -- a fresh process (no delta kept) downloads them and decides the same
    local me2 = fresh_module()
    local downloaded = run_receipt(me2, e, M1, 3)
    assert.are.equal("vector", downloaded.source)
    for _, k in ipairs({ "merchant_name", "place_id", "validated_by", "validation_status" }) do
      assert.are.equal(kept[k], downloaded[k])
    end
    assert.are_not.equal(other.merchant_name, kept.merchant_name)
    -- three runs of the first process and one of the second, all pending
    local runs = assert(e.store:query_index("GSI1", "RUNS", { type = "COMPACTION_RUN" }))
    local pending = 0
    for _, r in ipairs(runs) do if r.lines_state == "PENDING" then pending = pending + 1 end end
    assert.are.equal(4, pending)
  end)

  it("content_run_id is the sha256 of the documented content text", function()
    local me = fresh_module()
    local _, it = run_receipt(me, e, M1, 4)
    -- independently: image, receipt, embedder, then per collection its name
    -- and per item id \2 text \2 document \2 sorted key=value pairs (\1),
    -- all joined by \3; the first 128 bits shaped as a UUIDv4
    local parts = { it.run.image_id, tostring(it.receipt_id), me.embedder():name() .. "/" .. it.dim }
    for _, coll in ipairs({ "lines", "words" }) do
      local t = it.inputs[coll]
      parts[#parts + 1] = coll
      for i, id in ipairs(t.ids) do
        local m, keys, kv = t.metadatas[i], {}, {}
        for k in pairs(m) do keys[#keys + 1] = k end
        table.sort(keys)
        for j, k in ipairs(keys) do kv[j] = k .. "=" .. tostring(m[k]) end
        parts[#parts + 1] = table.concat({ id, t.texts[i], t.documents[i], table.concat(kv, "\1") }, "\2")
      end
    end
    local hex = vec.sha256(table.concat(parts, "\3"))
    assert.are.equal(hex:sub(1, 8), it.run_id:sub(1, 8))
    assert.are.equal(hex:sub(21, 32), it.run_id:sub(25, 36))
    -- metadata keys must be strings (a list cannot be sorted into the text)
    assert.has_error(function()
      vec.content_sha256({ "h" }, { name = "x", ids = { "a" }, texts = { "t" }, documents = { "d" },
        metadatas = { { "v" } } })
    end)
    -- an extra metadata key (not one rcpt.embed_inputs sets) changes it
    it.inputs.words.metadatas[1].zz_extra = "x"
    assert.are_not.equal(it.run_id, me.content_run_id(it.run.image_id, it.receipt_id,
      me.embedder():name() .. "/" .. it.dim, it.inputs))
  end)
end)
