-- rcpt repl: a Lua prompt with the rcpt modules loaded.
return {
  summary = "interactive Lua prompt with the rcpt modules and helpers loaded",
  usage = "rcpt repl",
  help = [[Starts a Lua 5.4 prompt (readline, history in ~/.rcpt_history).
An expression is printed; `show(x)` pretty-prints a table.  The modules are
loaded as globals (ocr, geom, image, store, vec, net, embed where built), and
the helpers of lua/rcpt/repl.lua are available, e.g. receipt(image_id).]],
  run = function()
    require("rcpt.repl").install(_G)
    return require("rcpt.host").repl()
  end,
}
