-- Step: merchant resolution (spec §4 with DESIGN.md's fixes) for every
-- receipt of ctx.receipt_ids: vector candidates from the `lines` collection
-- (published snapshot + not-yet-compacted deltas, this receipt excluded),
-- Places when enabled (enable_places) and the vector store is not
-- convincing, then exactly one ReceiptMetadata row.  Failures are recorded
-- in ctx.merchant_error (rcpt.merchant_embed), never raised.
local me = require("rcpt.merchant_embed")

return function(ctx)
  me.each(ctx, "merchant_error", function(it) me.resolve(ctx, it) end)
end
