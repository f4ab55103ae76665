-- Queues on SQS (rcpt.aws over the JSON protocol) against local-aws-sqs on 127.0.0.1: the same
-- queue cases as the local queue (support.queue_suite), batches, counts, errors, and the
-- OCR job queue of rcpt.env when OCR_JOB_QUEUE_URL holds an http URL.
-- The C client reads AWS_* credentials from the process environment, which Lua cannot set:
-- this file starts the stand-in, then runs itself again in a child with fake credentials.
local env = require("support.env")
local reexec = require("support.reexec")

local SPEC = env.src .. "/tests/spec/sqs_spec.lua"

if not reexec.child() then
  local sqs_local = require("support.sqs_local")
  describe("SQS queues against local-aws-sqs", function()
    local srv
    setup(function() srv = sqs_local.start() end)
    teardown(function() if srv then srv.stop() end end)

    it("pass the queue cases (run in a child with credentials in its environment)", function()
      local vars = { RCPT_TEST_SQS_ENDPOINT = srv.endpoint }
      for k, v in pairs(reexec.FAKE_AWS) do vars[k] = v end
      local code, out = reexec.run(SPEC, vars)
      io.stdout:write(out)
      assert.are.equal(0, code, "the child run failed (its output is above)")
      assert.truthy(out:find("0 failures / 0 errors", 1, true), out)
    end)
  end)
  return
end

-- ---- the child ------------------------------------------------------------------------------------

local aws = require("rcpt.aws")
local curl = require("support.curl")
local endpoint = assert(os.getenv("RCPT_TEST_SQS_ENDPOINT"))
local function load_suite(name)
  return assert(loadfile(env.src .. "/tests/spec/support/" .. name .. ".lua", "t", _ENV))()
end

local seq = 0
local function new_queue_url()
  seq = seq + 1
  return assert(aws.sqs_create_queue(string.format("rcpt-q%03d", seq), { endpoint = endpoint }))
end

load_suite("queue_suite").run("SQS queue (shared queue cases)", {
  visibility = 1, -- SQS counts whole seconds
  count_includes_inflight = true,
  new_queue = function() return aws.sqs_queue(new_queue_url()) end,
})

describe("SQS queue", function()
  it("creates and finds queues by name", function()
    local url = new_queue_url()
    assert.truthy(url:find("^http://127%.0%.0%.1:%d+/%d+/rcpt%-q%d+$"), url)
    assert.are.equal(url, assert(aws.sqs_queue_url(url:match("[^/]+$"), endpoint)))
    local none, msg, name = aws.sqs_queue_url("rcpt-nope", endpoint)
    assert.is_nil(none)
    assert.are.equal("ENOTFOUND", name)
    assert.truthy(msg:find("GetQueueUrl rcpt-nope", 1, true), msg)
    assert.falsy(msg:find("standin-secret", 1, true))
    local q = assert(aws.sqs_queue(url))
    assert.are.equal(url, q:url())
    assert.truthy(tostring(q):find("sqs_queue", 1, true))
    q:close()
    -- a queue that does not exist: sending names it
    local gone = assert(aws.sqs_queue(endpoint .. "/123456789012/rcpt-gone"))
    local ok, m2, n2 = gone:send("x")
    assert.is_nil(ok)
    assert.are.equal("ENOTFOUND", n2)
    assert.truthy(m2:find("SendMessage rcpt-gone", 1, true), m2)
    gone:close()
    assert.are.equal("EINVAL", select(3, aws.sqs_queue("ftp://x/y")))
    assert.has_error(function() aws.sqs_queue({}) end)
  end)

  it("sends a batch in chunks of 10 and gets every message back once", function()
    local q <close> = assert(aws.sqs_queue(new_queue_url()))
    local bodies = {}
    for i = 1, 23 do bodies[i] = string.format('{"job_id":"%d","image_id":"img-%d"}', i, i) end
    local ids, failures = assert(q:send_batch(bodies))
    assert.are.equal(23, #ids)
    assert.are.same({}, failures)
    local seen = {}
    for _, id in ipairs(ids) do
      assert.are.equal("string", type(id))
      assert.is_nil(seen[id])
      seen[id] = true
    end
    -- ApproximateNumberOfMessages is approximate (in SQS and in local-aws-sqs, which
    -- counts a message sent a moment ago only on its next timer tick): wait for it
    local n = q:count()
    for _ = 1, 50 do
      if n == 23 then break end
      os.execute("sleep 0.05")
      n = q:count()
    end
    assert.are.equal(23, n)
    -- more than SQS's 10 per request: several requests
    local got = assert(q:receive(15, 30))
    assert.are.equal(15, #got)
    local vis, inflight = q:count()
    assert.are.equal(8, vis - inflight) -- local-aws-sqs counts in-flight messages as visible too
    assert.are.equal(15, inflight)
    local rest = assert(q:receive(15, 30))
    assert.are.equal(8, #rest)
    local bodies_seen = {}
    for _, list in ipairs({ got, rest }) do
      for _, m in ipairs(list) do
        assert.is_true(seen[m.id])
        bodies_seen[m.body] = true
        assert.is_true(q:delete(m.receipt)) -- local-aws-sqs answers an empty 200 body
      end
    end
    for _, b in ipairs(bodies) do assert.is_true(bodies_seen[b]) end
    assert.are.same({ 0, 0 }, { q:count() })
    assert.are.same({}, (assert(q:send_batch({}))))
    assert.has_error(function() q:send_batch({ "a", 42 }) end)
  end)

  it("long-polls: a receive with wait_s returns when a message arrives", function()
    local url = new_queue_url()
    local q <close> = assert(aws.sqs_queue(url))
    assert.are.equal(0, #assert(q:receive(1, 30, 1)))
    -- a message sent by another client (curl) while we wait
    os.execute(string.format("(sleep 0.5; curl -s -X POST -H 'X-Amz-Target: AmazonSQS.SendMessage' " ..
      "-H 'Content-Type: application/x-amz-json-1.0' --data-binary %s %s/ >/dev/null) &",
      env.quote('{"QueueUrl":"' .. url .. '","MessageBody":"late"}'), endpoint))
    local got = assert(q:receive(1, 30, 5))
    assert.are.equal(1, #got)
    assert.are.equal("late", got[1].body)
    assert.has_error(function() q:receive(1, 30, 21) end)
  end)

  it("is the OCR job queue of rcpt.env when OCR_JOB_QUEUE_URL is an http URL", function()
    local url = new_queue_url()
    local dir = env.tmpdir()
    finally(function() env.rmrf(dir) end)
    local vars = { OCR_JOB_QUEUE_URL = url }
    local e = require("rcpt.env").open({ store = "sqlite:" .. dir .. "/s.db",
      getenv = function(k) return vars[k] or os.getenv(k) end })
    local q = e:queue("ocr_jobs")
    assert.truthy(tostring(q):find("sqs_queue", 1, true))
    assert(q:send('{"job_id":"j","image_id":"i"}'))
    -- seen by an independent client
    local st, body = curl.aws_json(endpoint, "AmazonSQS.ReceiveMessage", { QueueUrl = url, MaxNumberOfMessages = 1 })
    assert.are.equal(200, st)
    assert.are.equal('{"job_id":"j","image_id":"i"}', body.Messages[1].Body)
    e:close()
  end)
end)
