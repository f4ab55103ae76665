-- Step: one delta per collection (lines, words) on the vectors bucket
-- (rcpt.vectors.write_delta), then one CompactionRun naming both, PENDING.
-- Failures -> ctx.embedding_error.
local me = require("rcpt.merchant_embed")

return function(ctx)
  me.each(ctx, "embedding_error", function(it) me.write_deltas(ctx, it) end,
    function(it) return it.embedding_error ~= nil end)
end
