-- rcpt lua bench/gen_large.lua OUT.json [lines words_per_line letters_per_word]
-- Writes the generated large receipt (default 200 lines, 1,000 words,
-- 5,000 letters, HEAD-style quads, all four tags) for the benches.
local src = os.getenv("RCPT_SOURCE_DIR") or "."
package.path = src .. "/tests/spec/?.lua;" .. package.path
local gen = require("support.gen_ocr")
local out = assert(arg[1], "usage: gen_large.lua OUT.json [lines wpl lpw]")
local json, info = gen({
  lines = tonumber(arg[2]) or 200, words_per_line = tonumber(arg[3]) or 5,
  letters_per_word = tonumber(arg[4]) or 5, tags = { "address", "phone", "url", "date" }, angle = 1.5,
})
local f = assert(io.open(out, "wb"))
f:write(json)
f:close()
io.stderr:write(string.format("%s: %d lines, %d words, %d letters, %d bytes\n", out, info.lines, info.words,
  info.letters, info.bytes))
