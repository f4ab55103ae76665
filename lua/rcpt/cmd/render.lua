-- rcpt render: a debugging picture of an image (line boxes coloured by
-- cluster, receipt quadrilaterals) or of one receipt crop (its receipt-level
-- line and word boxes).  lua/rcpt/render.lua draws it.
local config = require("rcpt.config")

return {
  summary = "draw an image's line boxes, clusters and receipts (or a receipt crop) into a PNG",
  usage = "rcpt render IMAGE_ID [-o out.png] [--receipt N] [--max-size PX] [--store URL] [--objects URL]",
  help = [[Draws the original picture of IMAGE_ID (the FIRST_PASS OCR job's object, else the
Image row's raw key) with every OCR line's quadrilateral, coloured by the cluster the
first pass finds (PHOTO: DBSCAN, SCAN: x-chaining merged by overlap; grey = no
cluster), and every Receipt's quadrilateral labelled with its receipt id.

  --receipt N       draw receipt N's crop (the Receipt row's raw key) with its
                    ReceiptLine (blue) and ReceiptWord (red) boxes instead
  -o, --output FILE where to write the PNG (default <image_id>.png or
                    <image_id>_RECEIPT_<N:05d>.png in the current folder)
  --max-size PX     scale the picture down to fit PX (default 2000)
  --store URL, --objects URL   as for the other commands

When the picture cannot be read the boxes are drawn on a blank canvas of the
stored size (with a warning).  Prints the path written.]],
  run = function(args)
    local opts, pos = config.parse(args, { output = "value", receipt = "value", ["max-size"] = "value",
      store = "value", objects = "value" }, { o = "output" })
    if not opts then
      io.stderr:write("rcpt render: ", pos, "\n")
      return 2
    end
    if #pos ~= 1 then
      io.stderr:write("rcpt render: expected one IMAGE_ID\n")
      return 2
    end
    local receipt = opts.receipt and math.tointeger(tonumber(opts.receipt))
    local max_size = opts["max-size"] and math.tointeger(tonumber(opts["max-size"]))
    if (opts.receipt and not (receipt and receipt > 0)) or (opts["max-size"] and not (max_size and max_size > 0)) then
      io.stderr:write("rcpt render: --receipt and --max-size take a positive integer\n")
      return 2
    end
    local ok, env = pcall(require("rcpt.env").open, { store = opts.store, objects = opts.objects })
    if not ok then
      io.stderr:write("rcpt render: ", type(env) == "table" and env.msg or tostring(env), "\n")
      return 1
    end
    local rok, path = pcall(require("rcpt.render").write, env, pos[1],
      { receipt = receipt, out = opts.output, max_size = max_size })
    env:close()
    if not rok then
      io.stderr:write("rcpt render: ", type(path) == "table" and (path.msg or "error") or tostring(path), "\n")
      return 1
    end
    print(path)
    return 0
  end,
}
