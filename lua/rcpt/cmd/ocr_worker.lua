-- rcpt ocr-worker: the local refinement worker (lua/rcpt/ocr_worker.lua) on
-- the OCR job queue.
local config = require("rcpt.config")

local function sleep(seconds)
  -- true unless the sleep was interrupted (Ctrl-C reaches the child too)
  local ok, how, code = os.execute("sleep " .. string.format("%g", seconds))
  return ok == true or (how == "exit" and code == 0)
end

return {
  summary = "answer REFINEMENT OCR jobs locally (first-pass OCR reprojected into the crops)",
  usage = "rcpt ocr-worker [--once] [--wait SECONDS] [--poll SECONDS] [--store URL] [--objects URL]",
  help = [[Receives messages {"job_id","image_id"} from the OCR job queue (OCR_JOB_QUEUE_URL,
or the store's "ocr_jobs" queue), and answers every REFINEMENT job without running OCR:
the first pass's lines, words and letters whose centre lies inside the receipt are
mapped through the receipt's warp into the crop and written as a Vision OCR JSON at
ocr_results/<image_id>_RECEIPT_<rid>-<job_id>.json in the job's bucket, with a PENDING
routing decision; the job is marked COMPLETED and the result goes straight to the OCR
pipeline (as the results queue would).  Other job types are skipped (deleted, logged).
A failed job stays on the queue for redelivery.  docs/ocr-worker.md tells more.

  --once            drain the queue once and exit (the default with neither flag:
                    keep polling until interrupted)
  --wait SECONDS    keep polling, exit after SECONDS without work
  --poll SECONDS    pause between polls of an empty queue (default 1)
  --store URL       the entity store (default $RCPT_STORE or ]] .. config.DEFAULT_STORE .. [[)
  --objects URL     where the buckets live (default $RCPT_OBJECTS or ]] .. config.DEFAULT_OBJECTS .. [[)

Progress lines go to stderr; the exit code is 1 when a job failed.]],
  run = function(args)
    local opts, pos = config.parse(args, { once = "flag", wait = "value", poll = "value", store = "value",
      objects = "value" })
    if not opts then
      io.stderr:write("rcpt ocr-worker: ", pos, "\n")
      return 2
    end
    if #pos > 0 then
      io.stderr:write("rcpt ocr-worker: unexpected argument '", pos[1], "'\n")
      return 2
    end
    local wait = opts.wait and tonumber(opts.wait)
    local poll = opts.poll and tonumber(opts.poll) or 1
    if (opts.wait and not (wait and wait >= 0)) or not (poll > 0) then
      io.stderr:write("rcpt ocr-worker: --wait and --poll take a number of seconds\n")
      return 2
    end
    local ok, env = pcall(require("rcpt.env").open, { store = opts.store, objects = opts.objects })
    if not ok then
      io.stderr:write("rcpt ocr-worker: ", type(env) == "table" and env.msg or tostring(env), "\n")
      return 1
    end
    local worker = require("rcpt.ocr_worker")
    local function progress(line) io.stderr:write("ocr-worker: ", line, "\n") end
    local total = { processed = 0, failed = 0, skipped = 0, rejected = 0 }
    local idle_since = os.time()
    local status = 0
    while true do
      local dok, res = pcall(worker.drain, env, { progress = progress })
      if not dok then
        io.stderr:write("rcpt ocr-worker: ", type(res) == "table" and (res.msg or "error") or tostring(res), "\n")
        status = 1
        break
      end
      for k in pairs(total) do total[k] = total[k] + res[k] end
      local work = res.processed + res.failed + res.skipped + res.rejected
      if work > 0 then idle_since = os.time() end
      if opts.once then break end
      if wait and work == 0 and os.time() - idle_since >= wait then break end
      if work == 0 and not sleep(poll) then break end
    end
    env:close()
    io.stderr:write(string.format("ocr-worker: %d answered, %d failed, %d skipped, %d dropped\n",
      total.processed, total.failed, total.skipped, total.rejected))
    if total.failed > 0 or total.rejected > 0 then status = 1 end
    return status
  end,
}
