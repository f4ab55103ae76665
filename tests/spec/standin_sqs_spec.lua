-- label: noasan
-- The local-aws-sqs stand-in (support.sqs_local) speaks SQS's JSON protocol
-- (X-Amz-Target: AmazonSQS.<Op>, application/x-amz-json-1.0) as the C client will, SigV4 signed.
local curl = require("support.curl")
local sqs_local = require("support.sqs_local")
local proc = require("support.proc")

describe("local-aws-sqs stand-in", function()
  local sqs, url

  setup(function()
    sqs = sqs_local.start()
  end)
  teardown(function()
    if sqs then sqs.stop() end
  end)

  local function call(op, body)
    local st, j, r = curl.aws_json(sqs.endpoint, "AmazonSQS." .. op, body)
    assert.are.equal(200, st, op .. ": " .. r.body)
    return j, r
  end

  it("creates a queue on loopback and finds its URL again", function()
    assert.truthy(sqs.endpoint:find("^http://127%.0%.0%.1:%d+$"))
    local j = call("CreateQueue", { QueueName = "ocr-jobs",
      Attributes = { VisibilityTimeout = "30" } })
    url = j.QueueUrl
    assert.truthy(url:find("/ocr%-jobs$"), url)
    assert.are.equal(url, call("GetQueueUrl", { QueueName = "ocr-jobs" }).QueueUrl)
  end)

  it("sends, hides a received message for its visibility timeout, then deletes it", function()
    local body = '{"job_id":"0b7a6a5e-3c1f-4f5e-9d59-1c0e2f6d8a11","image_id":"3f52804b"}'
    local sent = call("SendMessage", { QueueUrl = url, MessageBody = body,
      MessageAttributes = { kind = { DataType = "String", StringValue = "REFINEMENT" } } })
    assert.truthy(sent.MessageId)
    assert.truthy(sent.MD5OfMessageBody:match("^%x+$"))

    local got = call("ReceiveMessage", { QueueUrl = url, MaxNumberOfMessages = 10,
      VisibilityTimeout = 1, WaitTimeSeconds = 0, MessageAttributeNames = { "All" },
      AttributeNames = { "ApproximateReceiveCount" } })
    assert.are.equal(1, #got.Messages)
    local m = got.Messages[1]
    assert.are.equal(body, m.Body)
    assert.are.equal(sent.MessageId, m.MessageId)
    assert.are.equal(sent.MD5OfMessageBody, m.MD5OfBody)
    assert.are.equal("REFINEMENT", m.MessageAttributes.kind.StringValue)
    assert.are.equal("1", m.Attributes.ApproximateReceiveCount)

    -- hidden while its visibility timeout runs
    local hidden = call("ReceiveMessage", { QueueUrl = url, WaitTimeSeconds = 0 })
    assert.is_true(hidden == nil or hidden.Messages == nil or #hidden.Messages == 0)

    -- back after it (long polling waits for it to reappear)
    local again = call("ReceiveMessage", { QueueUrl = url, WaitTimeSeconds = 3,
      VisibilityTimeout = 30, AttributeNames = { "ApproximateReceiveCount" } })
    assert.are.equal(1, #again.Messages)
    assert.are.equal(sent.MessageId, again.Messages[1].MessageId)
    assert.are.equal("2", again.Messages[1].Attributes.ApproximateReceiveCount)

    -- local-aws-sqs answers DeleteMessage with an empty 200 body (real SQS: "{}")
    local del, raw = call("DeleteMessage", { QueueUrl = url,
      ReceiptHandle = again.Messages[1].ReceiptHandle })
    assert.is_true(raw.body == "" or raw.body == "{}")
    assert.is_true(del == nil or next(del) == nil)

    local attrs = call("GetQueueAttributes", { QueueUrl = url, AttributeNames = { "All" } })
    assert.are.equal("0", attrs.Attributes.ApproximateNumberOfMessages)
    assert.are.equal("0", attrs.Attributes.ApproximateNumberOfMessagesNotVisible)
  end)

  it("sends a batch and reports an unknown queue in the JSON error shape", function()
    local b = call("SendMessageBatch", { QueueUrl = url, Entries = {
      { Id = "a", MessageBody = "one" }, { Id = "b", MessageBody = "two" } } })
    assert.are.equal(2, #b.Successful)
    local st, j, r = curl.aws_json(sqs.endpoint, "AmazonSQS.SendMessage",
      { QueueUrl = sqs.endpoint .. "/123456789012/no-such-queue", MessageBody = "x" })
    assert.are.equal(400, st)
    assert.truthy(j.__type:find("QueueDoesNotExist", 1, true), r.body)
    assert.truthy(r.headers["x-amzn-query-error"]:find("NonExistentQueue", 1, true))
  end)

  it("stops for good", function()
    local pid = sqs.pid
    sqs.stop()
    sqs.stop()
    assert.are.same({}, proc.group(pid))
    assert.is_nil(proc.http_status(sqs.endpoint .. "/"))
    sqs = nil
  end)
end)
