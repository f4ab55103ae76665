-- REPL helper (rcpt repl): render(image_id[, {receipt=, out=, max_size=}]) -> path
-- writes the debugging picture of lua/rcpt/render.lua and returns its path.
-- The stores are the default ones (RCPT_STORE / RCPT_OBJECTS ...), opened on
-- first use; render.env = an rcpt.env to use another.
local M = {}

local env
function M.render(image_id, opts)
  opts = opts or {}
  local e = opts.env or M.env
  if not e then
    env = env or require("rcpt.env").open()
    e = env
  end
  local path = require("rcpt.render").write(e, image_id, opts)
  return path
end

return M
