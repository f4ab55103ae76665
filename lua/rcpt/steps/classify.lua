-- Step: NATIVE | PHOTO | SCAN (spec §5, rcpt.geom.classify) from the
-- image-level lines and the decoded size.
local geom = require("rcpt.geom")

return function(ctx)
  ctx.image_type, ctx.layout = geom.classify(ctx.lines, ctx.width, ctx.height)
end
