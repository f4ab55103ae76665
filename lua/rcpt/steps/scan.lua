-- Step: SCAN (spec §8.3): the original's raw PNG and CDN set, then the
-- x-axis clusters of the lines (eps 0.08, min_samples 2) merged where their
-- boxes overlap (IoU > 0.01; receipt_id = the union-find root label), and
-- per cluster the portrait minimum-area rectangle cut out with an affine
-- warp, stored as a receipt with a REFINEMENT job.  Unlike the original
-- (one bad cluster failed the whole scan), a bad cluster is skipped with a
-- logged reason recorded in the routing decision, as in PHOTO.
local assets = require("rcpt.assets")
local geom = require("rcpt.geom")

return function(ctx)
  if ctx.image_type ~= "SCAN" then return end
  local img, W, H = ctx.image, ctx.width, ctx.height
  local f = assets.upload(ctx, img)
  local lines = ctx.lines
  if #lines > 0 then
    local clusters = geom.join_overlapping(lines, geom.cluster_x(lines), W, H)
    for _, c in ipairs(clusters) do
      local sub = {}
      for _, i in ipairs(c.lines) do sub[#sub + 1] = lines[i] end
      local r, reason = geom.scan_receipt(sub, W, H)
      if not r then
        assets.skip(ctx, c.label, reason)
      else
        assets.crop_warped(ctx, c.label, "affine warp", r.box,
          img:warp_affine(r.width, r.height, r.affine))
      end
    end
  end
  assets.write_image(ctx, f)
  ctx.receipt_ids = {}
end
