-- Step: line and word embeddings (spec §6.2-§6.5) with the resolved
-- merchant name and place_id in their metadata, by the configured embedder
-- (rcpt.embedder.from_env: OpenAI-compatible with a key, else the local one
-- at RCPT_EMBED_DIM).  Skipped for content already queued (same run id).
-- Failures -> ctx.embedding_error.
local me = require("rcpt.merchant_embed")

return function(ctx)
  me.each(ctx, "embedding_error", function(it) me.embed(ctx, it) end)
end
