-- Compaction: deltas and metadata changes into published snapshots (spec §7-§11,
-- DESIGN.md's fixes), the lock, the change feed, the event entry points, the
-- commands.  Objects on the file backend, and one scenario on s3rver.
local vec = require("rcpt.vec")
local store = require("rcpt.store")
local json = require("rcpt.json")
local vectors = require("rcpt.vectors")
local compaction = require("rcpt.compaction")
local lock = require("rcpt.lock")
local events = require("rcpt.compaction_events")
local support = require("support.env")
local fx = require("support.compaction_fixture")

math.randomseed(tonumber(os.getenv("RCPT_SEED") or "") or 20261129)

local QUIET = { progress = false }

local function rows(c)
  local ids = c:ids()
  table.sort(ids)
  local r = c:get(ids, { vectors = true })
  local t = {}
  for i, id in ipairs(r.ids) do
    t[id] = { vec = r.vectors and r.vectors[i], doc = r.documents[i], md = json.encode(r.metadatas[i]) }
  end
  return t, #ids
end

local function count_keys(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end

describe("compaction", function()
  local dir, e
  before_each(function()
    dir = support.tmpdir()
    e = fx.env(dir)
  end)
  after_each(function()
    e:close()
    support.rmrf(dir)
  end)

  it("creates the snapshot on the first merge and applies every run once", function()
    local runs = { fx.make_run(e), fx.make_run(e), fx.make_run(e, { lines = 0, words = 7 }) }
    assert.is_nil(vectors.pointer(e, "lines"))
    for _, coll in ipairs({ "lines", "words" }) do
      local res = compaction.compact(e, coll, QUIET)
      assert.are.equal("ok", res.status, res.error)
      assert.are.equal(3, res.runs)
      assert.truthy(res.version)
      assert.are.equal(res.version, vectors.pointer(e, coll))
      local c, v, man = fx.published(e, coll)
      assert.are.equal(res.version, v)
      assert.are.equal(man.count, c:count())
      local want = 0
      for _, r in ipairs(runs) do
        want = want + #r.ids[coll]
        local got = c:get(r.ids[coll], { vectors = true })
        assert.are.equal(#r.ids[coll], #got.ids)
        for i, id in ipairs(got.ids) do
          -- the vector went through unchanged (already unit length, copied bit for bit)
          assert.are.equal(r.vecs[id], got.vectors[i])
        end
        local run = fx.get_run(e, r)
        assert.are.equal("COMPLETED", run[coll .. "_state"])
        assert.are.equal(#r.ids[coll], run[coll .. "_merged_vectors"])
        assert.truthy(run[coll .. "_finished_at"])
      end
      assert.are.equal(want, c:count())
      c:close()
    end
    -- nothing pending any more: a second compact publishes nothing
    local res = compaction.compact(e, "lines", QUIET)
    assert.are.equal(0, res.runs)
    assert.is_nil(res.version)
  end)

  it("applying the same delta twice changes nothing", function()
    local r = fx.make_run(e)
    fx.make_run(e)
    assert.are.equal("ok", compaction.compact(e, "words", QUIET).status)
    local c1 = fx.published(e, "words")
    local before, n1 = rows(c1)
    c1:close()
    -- the run again, as a re-delivered stream event would bring it
    assert(e.store:update("COMPACTION_RUN", { image_id = r.image_id, receipt_id = 1, run_id = r.run_id },
      { words_state = "PENDING" }, { condition = "exists" }))
    local res = compaction.compact(e, "words", QUIET)
    assert.are.equal(1, res.runs)
    assert.are.equal(#r.ids.words, res.merged)
    local c2, v2 = fx.published(e, "words")
    local after, n2 = rows(c2)
    c2:close()
    assert.are.equal(res.version, v2)
    assert.are.equal(n1, n2)
    assert.are.same(before, after)
    -- and a collection applied twice directly
    local d = assert(vectors.read_delta(e, r.prefixes.words))
    local t = vec.new("words", fx.DIM)
    t:apply(d)
    local once = rows(t)
    t:apply(d)
    assert.are.same(once, (rows(t)))
    assert.are.equal(#r.ids.words, t:count())
  end)

  it("marks a run whose delta is missing or corrupt FAILED; the others still merge", function()
    local good = fx.make_run(e)
    local missing = fx.make_run(e)
    local corrupt = fx.make_run(e)
    local o = e:objects(e.bucket.vectors)
    assert(o:delete(missing.prefixes.lines .. "delta.sqlite"))
    -- one flipped byte deep inside the file: only the checksum can tell
    local key = corrupt.prefixes.lines .. "delta.sqlite"
    local bytes = assert(o:get(key))
    local pos = #bytes - 100
    bytes = bytes:sub(1, pos - 1) .. string.char((bytes:byte(pos) + 1) % 256) .. bytes:sub(pos + 1)
    assert(o:put(key, bytes))
    local res = compaction.compact(e, "lines", QUIET)
    assert.are.equal("ok", res.status)
    assert.truthy(res.version)
    assert.are.equal("COMPLETED", fx.get_run(e, good).lines_state)
    local m = fx.get_run(e, missing)
    assert.are.equal("FAILED", m.lines_state)
    assert.matches("delta", m.lines_error)
    local cr = fx.get_run(e, corrupt)
    assert.are.equal("FAILED", cr.lines_state)
    assert.matches("checksum mismatch", cr.lines_error)
    local c = fx.published(e, "lines")
    assert.are.equal(#good.ids.lines, c:count())
    c:close()
    -- FAILED runs are not pending any more
    assert.are.equal(0, compaction.compact(e, "lines", QUIET).runs)
    -- and the words of all three are fine
    assert.are.equal(3, compaction.compact(e, "words", QUIET).runs)
  end)

  it("refuses a snapshot whose checksum does not match its manifest", function()
    fx.make_run(e)
    local res = compaction.compact(e, "lines", QUIET)
    local o = e:objects(e.bucket.vectors)
    local key = vectors.snapshot_prefix("lines", res.version) .. "snapshot.sqlite"
    local bytes = assert(o:get(key))
    local pos = #bytes // 2
    assert(o:put(key, bytes:sub(1, pos - 1) .. string.char((bytes:byte(pos) ~ 1)) .. bytes:sub(pos + 1)))
    local ok, err = pcall(fx.published, e, "lines")
    assert.is_false(ok)
    assert.are.equal("Corrupt", err.type)
    assert.matches("checksum mismatch", err.msg)
    -- a compaction against it fails without publishing, and the run stays pending
    local r2 = fx.make_run(e)
    vectors.cache_override = dir .. "/cache2"
    local res2 = compaction.compact(e, "lines", QUIET)
    assert.are.equal("error", res2.status)
    assert.matches("checksum mismatch", res2.error)
    assert.are.equal(res.version, vectors.pointer(e, "lines"))
    assert.are.equal("PENDING", fx.get_run(e, r2).lines_state)
  end)

  it("propagates ReceiptMetadata INSERT, MODIFY and REMOVE to the receipt's vectors", function()
    local r1 = fx.make_run(e, { merchant = "Unknown" })
    local r2 = fx.make_run(e, { merchant = "Other" })
    assert.are.equal("ok", compaction.compact(e, "lines", QUIET).status)
    local function md(r, coll)
      local c = fx.published(e, coll)
      local got = c:get({ r.ids[coll][1], r.ids[coll][#r.ids[coll]] })
      c:close()
      return got.metadatas[1], got.metadatas[2]
    end
    -- INSERT (the original dropped these)
    fx.metadata(e, r1.image_id, 1, { merchant_name = "Vons", canonical_merchant_name = "VONS" })
    for _, coll in ipairs({ "lines", "words" }) do
      local res = compaction.compact(e, coll, QUIET)
      assert.are.equal("ok", res.status)
      assert.are.equal(1, res.metadata_changes)
    end
    for _, coll in ipairs({ "lines", "words" }) do
      local a, b = md(r1, coll)
      for _, m in ipairs({ a, b }) do
        assert.are.equal("Vons", m.merchant_name)
        assert.are.equal("VONS", m.canonical_merchant_name)
        assert.are.equal("1 Main St", m.address)
        assert.are.equal("805-917-4200", m.phone_number)
        assert.truthy(m.last_metadata_update)
      end
      assert.are.equal("Other", (md(r2, coll)).merchant_name) -- another receipt untouched
    end
    -- MODIFY: a new name, the address gone
    local t = fx.metadata(e, r1.image_id, 1, { merchant_name = "Vons Market", address = false })
    assert.is_nil(t.address)
    local res = compaction.compact(e, "lines", QUIET)
    assert.are.equal(1, res.metadata_changes)
    local a = md(r1, "lines")
    assert.are.equal("Vons Market", a.merchant_name)
    assert.is_nil(a.address)
    assert.are.equal("805-917-4200", a.phone_number)
    -- a MODIFY of fields vectors do not carry is not a change
    fx.metadata(e, r1.image_id, 1, { merchant_name = "Vons Market", address = false, reasoning = "again" })
    assert.are.equal(0, compaction.compact(e, "lines", QUIET).metadata_changes)
    -- REMOVE
    assert(e.store:delete("RECEIPT_METADATA", { image_id = r1.image_id, receipt_id = 1 }))
    assert.are.equal(1, compaction.compact(e, "lines", QUIET).metadata_changes)
    a = md(r1, "lines")
    assert.is_nil(a.merchant_name)
    assert.is_nil(a.phone_number)
    assert.truthy(a.metadata_removed_at)
    -- the vectors themselves did not move
    local c = fx.published(e, "lines")
    local got = c:get({ r1.ids.lines[3] }, { vectors = true })
    assert.are.equal(r1.vecs[r1.ids.lines[3]], got.vectors[1])
    c:close()
  end)

  it("keeps the newest 4 versions, never the pointer's, with ids that sort and never collide", function()
    local seen, prev = {}, nil
    for _ = 1, 2000 do
      local v = vectors.new_version()
      assert.is_nil(seen[v])
      seen[v] = true
      assert.matches("^%d%d%d%d%d%d%d%d_%d%d%d%d%d%d_%d%d%d%d%d%d_%x%x%x%x%x%x%x%x$", v)
      if prev then assert.is_true(v:sub(1, 22) >= prev:sub(1, 22)) end
      prev = v
    end
    local published = {}
    for i = 1, 7 do
      fx.make_run(e, { lines = 3, words = 0 })
      published[i] = compaction.compact(e, "lines", QUIET).version
    end
    local kept = vectors.versions(e, "lines")
    assert.are.equal(4, #kept)
    assert.are.same({ published[7], published[6], published[5], published[4] }, kept)
    -- an unpublished version with a later name (a crashed upload) does not push the pointer's out
    local o = e:objects(e.bucket.vectors)
    for i = 1, 5 do
      assert(o:put(vectors.snapshot_prefix("lines", "29991231_000000_00000" .. i .. "_deadbeef") .. "snapshot.sqlite", "x"))
    end
    vectors.prune(e, "lines", 4, vectors.pointer(e, "lines"))
    kept = vectors.versions(e, "lines")
    assert.are.equal(5, #kept)
    assert.are.equal(published[7], kept[5])
    local c = fx.published(e, "lines")
    assert.are.equal(21, c:count())
    c:close()
  end)

  it("takes the lock: busy when held, stale locks expire, heartbeat and release check the owner", function()
    local set = { duration_s = 1, heartbeat_s = 0.2 }
    local a = assert(lock.acquire(e, "lines", { settings = set }))
    local b, why = lock.acquire(e, "lines", { settings = set })
    assert.is_nil(b)
    assert.are.equal("busy", why)
    -- another collection has its own lock
    local w = assert(lock.acquire(e, "words", { settings = set }))
    assert(w:release())
    -- a compaction while the lock is held: busy, every unit failed, nothing published
    local r = fx.make_run(e)
    local res = compaction.compact(e, "lines", QUIET)
    assert.are.equal("busy", res.status)
    assert.are.equal(1, #res.results)
    assert.is_false(res.results[1].success)
    assert.is_nil(vectors.pointer(e, "lines"))
    assert.are.equal("PENDING", fx.get_run(e, r).lines_state)
    assert.is_true(a:validate())
    assert.is_true(a:heartbeat())
    -- a stale lock (its holder died): taken over once expired
    os.execute("sleep 1.2")
    local c = assert(lock.acquire(e, "lines", { settings = set }))
    assert.are_not.equal(a.owner, c.owner)
    -- the old holder can neither extend nor release the new holder's lock
    local ok, msg = a:heartbeat()
    assert.is_nil(ok)
    assert.matches("lost", msg)
    assert.is_nil((a:validate()))
    a.held = true
    assert(a:release())
    assert.is_true(c:validate())
    local item = assert(e.store:get("COMPACTION_LOCK", { collection = "lines", lock_id = "chroma-lines-update" }))
    assert.are.equal(c.owner, item.owner)
    assert(c:release())
    assert.are.equal("ENOTFOUND", select(3, e.store:get("COMPACTION_LOCK", { collection = "lines", lock_id = "chroma-lines-update" })))
    assert.are.equal("ok", compaction.compact(e, "lines", QUIET).status)
  end)

  it("keeps a change feed of RECEIPT_METADATA and COMPACTION_RUN writes, with cursors", function()
    local st = e.store
    local img = store.uuid4()
    local base = st:change_cursor("spec")
    assert.are.equal(0, base)
    local ts = store.now()
    fx.metadata(e, img, 1, { timestamp = ts })
    fx.metadata(e, img, 1, { timestamp = ts })                      -- unchanged: no MODIFY
    fx.metadata(e, img, 1, { timestamp = ts, merchant_name = "X" }) -- MODIFY
    assert(st:put("IMAGE", { image_id = img, width = 10, height = 10, timestamp_added = store.now(),
      raw_s3_bucket = "b", raw_s3_key = "k" }))      -- other types: not in the feed
    assert(st:delete("RECEIPT_METADATA", { image_id = img, receipt_id = 1 }))
    -- a failed transaction leaves nothing
    assert.is_nil(st:transaction(function(b)
      b:put("RECEIPT_METADATA", { image_id = img, receipt_id = 2, merchant_name = "Y", timestamp = store.now() })
      b:check("IMAGE", { image_id = store.uuid4() }, { condition = "exists" })
    end))
    local ch = assert(st:changes(base))
    local names = {}
    for i, c in ipairs(ch) do names[i] = c.event_name end
    assert.are.same({ "INSERT", "MODIFY", "REMOVE" }, names)
    assert.is_nil(ch[1].old_item)
    assert.are.equal("Vons", store.entity(ch[1].new_item).merchant_name)
    assert.are.equal("X", store.entity(ch[2].new_item).merchant_name)
    assert.are.equal("Vons", store.entity(ch[2].old_item).merchant_name)
    assert.is_nil(ch[3].new_item)
    assert.are.equal("RECEIPT#00001#METADATA", ch[3].sk)
    assert.is_true(ch[1].seq < ch[2].seq and ch[2].seq < ch[3].seq)
    assert.are.equal(1, #st:changes(base, 1))
    assert.are.equal(ch[3].seq, st:change_cursor("spec", ch[3].seq))
    assert.are.equal(ch[3].seq, st:change_cursor("spec"))
    -- passed by every consumer -> pruned
    for _, coll in ipairs({ "lines", "words" }) do st:change_cursor(compaction.cursor_name(coll), ch[3].seq) end
    assert.are.equal(0, #st:changes(0))
  end)

  it("compacts DynamoDB stream events: runs and metadata to both collections, failures by sequence number", function()
    local r = fx.make_run(e)
    local function ddb(t) -- entity -> DynamoDB JSON image, through the store itself
      local _, j = e.store:get_item(t.pk, t.sk)
      return json.decode(j)
    end
    local run_img = ddb({ pk = "IMAGE#" .. r.image_id, sk = string.format("RECEIPT#00001#COMPACTION_RUN#%s", r.run_id) })
    local md = fx.metadata(e, r.image_id, 1, { merchant_name = "Ralphs" })
    local md_img = ddb({ pk = "IMAGE#" .. r.image_id, sk = "RECEIPT#00001#METADATA" })
    local event = { Records = {
      { eventID = "e1", eventName = "INSERT", eventSource = "aws:dynamodb",
        dynamodb = { SequenceNumber = "100", NewImage = run_img } },
      { eventID = "e2", eventName = "INSERT", eventSource = "aws:dynamodb",
        dynamodb = { SequenceNumber = "101", NewImage = md_img } },
      { eventID = "e3", eventName = "MODIFY", eventSource = "aws:dynamodb",
        dynamodb = { SequenceNumber = "102", NewImage = run_img, OldImage = run_img } },
      { eventID = "e4", eventName = "INSERT", eventSource = "aws:dynamodb",
        dynamodb = { SequenceNumber = "103", NewImage = { PK = { S = "IMAGE#x" }, SK = { S = "IMAGE" }, TYPE = { S = "IMAGE" } } } },
    } }
    -- lock busy -> every record that carries work fails, so Lambda retries
    local held = assert(lock.acquire(e, "words"))
    local resp = events.handle_stream(e, event, {})
    local failed = {}
    for _, f in ipairs(resp.batchItemFailures) do failed[#failed + 1] = f.itemIdentifier end
    assert.are.same({ "100", "101" }, failed)
    assert.is_nil(vectors.pointer(e, "words"))
    assert(held:release())
    resp = events.handle_stream(e, event, {})
    assert.are.equal(0, #resp.batchItemFailures)
    for _, coll in ipairs({ "lines", "words" }) do
      local c = fx.published(e, coll)
      assert.are.equal(#r.ids[coll], c:count())
      local got = c:get({ r.ids[coll][1] })
      assert.are.equal("Ralphs", got.metadatas[1].merchant_name)
      c:close()
      assert.are.equal("COMPLETED", fx.get_run(e, r)[coll .. "_state"])
    end
    -- a malformed record fails alone
    resp = events.handle_stream(e, { Records = { { eventID = "bad", eventName = "INSERT",
      dynamodb = { SequenceNumber = "200", NewImage = { TYPE = { S = "COMPACTION_RUN" }, PK = { S = "IMAGE#nope" } } } } } }, {})
    assert.are.equal("200", resp.batchItemFailures[1].itemIdentifier)
    assert.truthy(md)
  end)

  it("compacts SQS compaction messages (the stream processor's format), one lock per collection", function()
    local r = fx.make_run(e)
    local function msg(id, coll, body)
      return { id = id, body = body, record = { messageId = id, body = json.encode(body),
        messageAttributes = coll and { collection = { stringValue = coll, dataType = "String" } } or nil } }
    end
    local items = {
      msg("m1", "lines", { source = "dynamodb_stream", entity_type = "COMPACTION_RUN", event_name = "INSERT",
        entity_data = { run_id = r.run_id, image_id = r.image_id, receipt_id = 1,
          delta_s3_prefix = r.prefixes.lines }, changes = {} }),
      msg("m2", "lines", { source = "dynamodb_stream", entity_type = "RECEIPT_METADATA", event_name = "MODIFY",
        entity_data = { entity_type = "RECEIPT_METADATA", image_id = r.image_id, receipt_id = 1 },
        changes = { merchant_name = { old = "Sprouts Farmers Market", new = "Trader Joe's" } } }),
      msg("m3", "bogus", { source = "dynamodb_stream", entity_type = "RECEIPT_METADATA", event_name = "MODIFY",
        entity_data = { image_id = r.image_id, receipt_id = 1 }, changes = {} }),
      msg("m4", "lines", { source = "dynamodb_stream", entity_type = "RECEIPT_WORD_LABEL", event_name = "MODIFY",
        entity_data = { image_id = r.image_id, receipt_id = 1 }, changes = {} }),
    }
    local out = events.process_batch(e, items, {})
    assert.are.equal(4, #out)
    assert.is_true(out[1].success, out[1].error)
    assert.is_true(out[2].success, out[2].error)
    assert.is_false(out[3].success)
    assert.matches("collection", out[3].error)
    assert.is_true(out[4].success)
    local c = fx.published(e, "lines")
    assert.are.equal(#r.ids.lines, c:count())
    local m = c:get({ r.ids.lines[2] }).metadatas[1]
    assert.are.equal("Trader Joe's", m.merchant_name)
    assert.are.equal(r.image_id, m.image_id) -- other keys untouched
    c:close()
    assert.is_nil(vectors.pointer(e, "words"))
    -- through the Lambda handler's dispatch too: a busy lock fails both messages
    local handler = require("rcpt.handler")
    local held = assert(lock.acquire(e, "lines"))
    local saved = handler.env
    handler.env = function() return e end
    local resp = handler.handle({ Records = { items[1].record, items[2].record } }, {})
    handler.env = saved
    assert(held:release())
    assert.are.equal(2, #resp.batchItemFailures)
  end)

  it("rcpt compact and rcpt vec work from the command line", function()
    local r = fx.make_run(e, { merchant = "Costco Wholesale" })
    local envv = { RCPT_STORE = "sqlite:" .. dir .. "/rcpt.db", RCPT_OBJECTS = "file:" .. dir .. "/objects",
      RCPT_VEC_CACHE = dir .. "/cli-cache" }
    local code, _, err = support.rcpt({ "compact" }, { env = envv })
    assert.are.equal(0, code, err)
    assert.matches("%[lines%] delta applied", err)
    assert.matches("%[words%] ok: 1 runs", err)
    code, _, err = support.rcpt({ "compact", "nope" }, { env = envv })
    assert.are.equal(2, code)
    local out
    code, out, err = support.rcpt({ "vec", "stats", "lines" }, { env = envv })
    assert.are.equal(0, code, err)
    assert.matches("count%s+" .. #r.ids.lines, out)
    assert.matches("dimension%s+" .. fx.DIM, out)
    assert.matches("version%s+" .. vectors.pointer(e, "lines"), out)
    assert.matches("pending%s+0 runs", out)
    -- a vector file: the 5th line's own vector is its best match, score 1
    local id = r.ids.lines[5]
    support.write(dir .. "/q.f32", r.vecs[id])
    code, out, err = support.rcpt({ "vec", "query", "lines", "--vector", dir .. "/q.f32", "-k", "3" }, { env = envv })
    assert.are.equal(0, code, err)
    local first_id, score = out:match("^%s*1%s+([%d%.]+)%s+(%S+)")
    assert.are.equal(id, score)
    assert.is_true(math.abs(tonumber(first_id) - 1) < 1e-4)
    -- as a JSON array, with a filter that excludes everything
    local arr = { string.unpack("<" .. string.rep("f", fx.DIM), r.vecs[id]) }
    arr[#arr] = nil
    support.write(dir .. "/q.json", json.encode(arr))
    code, out = support.rcpt({ "vec", "query", "lines", "--vector", dir .. "/q.json", "--where", '{"merchant_name":"Vons"}' }, { env = envv })
    assert.are.equal(0, code)
    assert.are.equal("", out)
    -- text through the local embedder
    code, out, err = support.rcpt({ "vec", "query", "words", "words", "text", "7", "-k", "2" }, { env = envv })
    assert.are.equal(0, code, err)
    assert.matches("Costco Wholesale", out)
    code, _, err = support.rcpt({ "vec", "query", "lines", "--vector", dir .. "/nope" }, { env = envv })
    assert.are.equal(1, code)
    assert.matches("nope", err)
    -- the REPL helpers (installed as globals by rcpt.repl)
    local dv = require("rcpt.debug_vec")
    local g = require("rcpt.repl").install({})
    assert.are.equal(dv.vec_query, g.vec_query)
    assert.is_nil(g.open)
    dv.env = e
    dv.out = assert(io.open(dir .. "/repl.out", "w"))
    local t = dv.vec_stats("lines")
    local hits = dv.vec_query("lines", r.vecs[id], { k = 2 })
    local nums = { string.unpack("<" .. string.rep("f", fx.DIM), r.vecs[id]) }
    nums[#nums] = nil -- unpack's next position
    local hits2 = dv.vec_query("lines", nums, { k = 1 })
    dv.out:close()
    dv.out, dv.env = nil, nil
    assert.are.equal(#r.ids.lines, t.count)
    assert.are.equal(id, hits[1].id)
    assert.are.equal(id, hits2[1].id)
    assert.matches(id, support.read(dir .. "/repl.out"), 1, true)
  end)
end)

describe("compaction on S3 (s3rver)", function()
  it("publishes, verifies and takes runs through to COMPLETED", function()
    local s3rver = require("support.s3rver")
    local srv = s3rver.start({ bucket = "vectors" })
    local dir = support.tmpdir()
    local ok, err = pcall(function()
      local e = fx.env(dir, { objects = "s3", net_opts = { env = srv.env } })
      local runs = { fx.make_run(e), fx.make_run(e) }
      local res = compaction.compact(e, "lines", QUIET)
      assert.are.equal("ok", res.status, res.error)
      local c, v = fx.published(e, "lines")
      assert.are.equal(res.version, v)
      assert.are.equal(#runs[1].ids.lines + #runs[2].ids.lines, c:count())
      c:close()
      for _, r in ipairs(runs) do assert.are.equal("COMPLETED", fx.get_run(e, r).lines_state) end
      -- a damaged object on S3 is refused on download
      local o = e:objects("vectors")
      local key = vectors.snapshot_prefix("lines", v) .. "snapshot.sqlite"
      local bytes = assert(o:get(key))
      assert(o:put(key, bytes:sub(1, -2) .. string.char(bytes:byte(-1) ~ 0x10)))
      local pok, perr = pcall(fx.published, e, "lines")
      assert.is_false(pok)
      assert.matches("checksum mismatch", perr.msg)
      e:close()
    end)
    srv:stop()
    support.rmrf(dir)
    if not ok then error(err, 0) end
  end)
end)
