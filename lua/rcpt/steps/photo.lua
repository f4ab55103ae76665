-- Step: PHOTO (spec §8.2): the original's raw PNG and CDN set, then per
-- DBSCAN cluster of line centroids (eps = 2 x mean line diagonal,
-- min_samples 10; noise dropped; receipt_id = the cluster label) the §8.2
-- corners (rcpt.geom.photo_receipt), a perspective warp to W'xH', and the
-- crop as a receipt with a REFINEMENT job.  A bad cluster (too few lines,
-- words or hull points, degenerate corners, a failed warp) is skipped with a
-- logged reason recorded in the routing decision; the rest go on.
local assets = require("rcpt.assets")
local geom = require("rcpt.geom")

return function(ctx)
  if ctx.image_type ~= "PHOTO" then return end
  local img, W, H = ctx.image, ctx.width, ctx.height
  local f = assets.upload(ctx, img)
  local lines, words = ctx.lines, ctx.words
  if #lines > 0 then
    local clusters = geom.dbscan(lines, geom.photo_eps(lines), 10)
    for _, c in ipairs(clusters) do
      if c.label ~= -1 then
        local cl, in_cluster, cw = {}, {}, {}
        for _, i in ipairs(c.lines) do
          cl[#cl + 1] = lines[i]
          in_cluster[lines[i].line_id] = true
        end
        for _, w in ipairs(words) do
          if in_cluster[w.line_id] then cw[#cw + 1] = w end
        end
        local r, reason = geom.photo_receipt(cw, cl, W, H)
        if not r then
          assets.skip(ctx, c.label, reason)
        else
          assets.crop_warped(ctx, c.label, "perspective warp", r.corners,
            img:warp_perspective(r.width, r.height, r.coeffs))
        end
      end
    end
  end
  assets.write_image(ctx, f)
  ctx.receipt_ids = {}
end
