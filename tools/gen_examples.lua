-- Writes the shipped examples (images with their Vision OCR JSON, an SQS
-- event) with rcpt.synth.  Deterministic: running it twice gives the same
-- bytes, and tests/spec/synth_spec.lua checks the committed files against a
-- fresh generation.
--
--   build/rcpt lua tools/gen_examples.lua OUTDIR      (OUTDIR = examples to refresh them)
local synth = require("rcpt.synth")
local json = require("rcpt.json")

local M = {}

-- name -> {dir, image file, json file, preset, options}; the options are the
-- presets' defaults (what synth_spec.lua generates too) with seed 1
M.EXAMPLES = {
  { dir = "native", image = "receipt.png", ocr = "receipt.ocr.json", preset = "native", opts = { seed = 1 } },
  { dir = "scan", image = "page.png", ocr = "page.ocr.json", preset = "scan", opts = { seed = 1 } },
  { dir = "photo", image = "photo.jpg", ocr = "photo.ocr.json", preset = "photo", opts = { seed = 1 } },
}

function M.event()
  local ev = synth.sqs_event({ seed = 1 })
  return json.encode(ev) .. "\n"
end

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

function M.run(out)
  for _, d in ipairs({ "", "/native", "/scan", "/photo", "/events" }) do
    os.execute("mkdir -p '" .. out .. d .. "'")
  end
  for _, e in ipairs(M.EXAMPLES) do
    local r = synth[e.preset](e.opts)
    write(out .. "/" .. e.dir .. "/" .. e.image, r.image_bytes)
    write(out .. "/" .. e.dir .. "/" .. e.ocr, r.ocr_json)
    io.stderr:write(string.format("%s/%s: %dx%d %s, %d bytes; %s: %d lines, %d bytes\n", e.dir, e.image,
      r.width, r.height, r.format, #r.image_bytes, e.ocr, r.counts.lines, #r.ocr_json))
  end
  write(out .. "/events/sqs_ocr_event.json", M.event())
end

-- run as a script (rcpt lua tools/gen_examples.lua OUTDIR); required as a
-- module (by the spec) it only returns M
if arg and arg[0] and arg[0]:match("gen_examples%.lua$") and arg[1] then
  M.run(arg[1])
elseif arg and arg[0] and arg[0]:match("gen_examples%.lua$") then
  io.stderr:write("usage: rcpt lua tools/gen_examples.lua OUTDIR\n")
  os.exit(2)
end

return M
