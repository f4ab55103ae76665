-- The queue behaviour cases, run against the local queue (rcpt.store) and SQS (rcpt.aws):
-- (a spec loads this file with loadfile(path, "t", _ENV): busted's describe and it live in
-- the spec's environment)
--   require("support.queue_suite").run("title", {
--     new_queue = function() return q end,  -- a fresh, empty queue
--     visibility = 1,       -- a short visibility timeout (s) the backend honours
--     stale_delete = "ENOTFOUND" | nil,      -- what deleting with a stale receipt gives (nil: not checked)
--     count_includes_inflight = bool,  -- local-aws-sqs's ApproximateNumberOfMessages counts in-flight
--                                      -- messages too (real SQS does not): corrected here, not in rcpt
--   })
local env = require("support.env")

local M = {}

local function sleep(s) os.execute("sleep " .. tostring(s)) end

function M.run(title, o)
  describe(title, function()
    local q
    -- visible, in_flight as SQS defines them
    local function count()
      local v, f = q:count()
      if o.count_includes_inflight then v = v - f end
      return v, f
    end
    before_each(function() q = assert(o.new_queue()) end)
    after_each(function() if q then q:close() end end)

    it("sends, hides a received message, redelivers it, deletes it", function()
      local id = assert(q:send('{"job_id":"1","image_id":"2"}'))
      assert.are.equal("string", type(id))
      local msgs = assert(q:receive(10, o.visibility))
      assert.are.equal(1, #msgs)
      assert.are.equal(id, msgs[1].id)
      assert.are.equal('{"job_id":"1","image_id":"2"}', msgs[1].body)
      assert.are.equal(1, msgs[1].receive_count)
      assert.truthy(msgs[1].sent_ms > 1.7e12, "sent_ms is epoch milliseconds")
      assert.are.equal(0, #q:receive(10, o.visibility)) -- invisible
      local vis, inflight = count()
      assert.are.equal(0, vis)
      assert.are.equal(1, inflight)
      sleep(o.visibility + 0.3)
      local again = q:receive(10, 30)
      assert.are.equal(1, #again)
      assert.are.equal(id, again[1].id)
      assert.are.equal(2, again[1].receive_count)
      if o.stale_delete then
        assert.are.equal(o.stale_delete, select(3, q:delete(msgs[1].receipt)))
      end
      assert.is_true(q:delete(again[1].receipt))
      vis, inflight = count()
      assert.are.equal(0, vis)
      assert.are.equal(0, inflight)
    end)

    it("keeps bodies byte for byte and receives at most max per call", function()
      local bodies = { "plain", '{"q":"\\"quoted\\""}', "é 😀 tab\tnewline\n", string.rep("x", 20000) }
      for _, b in ipairs(bodies) do assert(q:send(b)) end
      local got = {}
      for _ = 1, 10 do
        local page = assert(q:receive(2, 30))
        assert.is_true(#page <= 2)
        for _, m in ipairs(page) do got[#got + 1] = m end
        if #got == #bodies then break end
      end
      assert.are.equal(#bodies, #got)
      local seen = {}
      for _, m in ipairs(got) do seen[m.body] = true; assert(q:delete(m.receipt)) end
      for _, b in ipairs(bodies) do assert.is_true(seen[b], b:sub(1, 20)) end
      assert.are.equal(0, (count()))
    end)

    it("refuses use after close", function()
      q:close()
      q:close()
      assert.has_error(function() q:send("x") end)
      q = nil
    end)
  end)
end

M.env = env
return M
