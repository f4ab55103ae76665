-- Step: when env.settings.compact_after (RCPT_COMPACT_AFTER; on by default
-- outside Lambda) and this record queued a CompactionRun, compact both
-- collections now, so the next receipt's resolution sees this one.  On AWS
-- the DynamoDB stream triggers compaction instead.  Failures ->
-- ctx.compaction_error (the runs stay PENDING for the next compaction).
return function(ctx)
  require("rcpt.merchant_embed").compact_local(ctx)
end
