-- The command line: `rcpt [--lua DIR] COMMAND [ARGS]`.
-- Each command is a module lua/rcpt/cmd/<name>.lua returning
--   { summary = "one line", usage = "rcpt NAME ...", help = "longer text", run = function(args) -> exit code }
-- so a command is added by dropping a file there; `rcpt --help` lists them.
local host = require("rcpt.host")

local M = {}

local function command_names()
  local names, seen = {}, {}
  local function add(n)
    if not seen[n] then seen[n] = true; names[#names + 1] = n end
  end
  for _, m in ipairs(host.modules()) do
    local n = m:match("^rcpt%.cmd%.([%w_%-]+)$")
    if n then add((n:gsub("_", "-"))) end
  end
  -- commands present only in an override folder (RCPT_LUA_PATH / --lua)
  for dir in (package.rcpt_override.path or ""):gmatch("([^;]+)/%?%.lua") do
    local p = io.popen('ls "' .. dir .. '/rcpt/cmd" 2>/dev/null')
    if p then
      for f in p:lines() do
        local n = f:match("^([%w_%-]+)%.lua$")
        if n then add((n:gsub("_", "-"))) end
      end
      p:close()
    end
  end
  table.sort(names)
  return names
end

local function load_command(name)
  local ok, cmd = pcall(require, "rcpt.cmd." .. name:gsub("%-", "_"))
  if ok then return cmd end
  if tostring(cmd):find("module 'rcpt.cmd.", 1, true) then return nil end
  error(cmd, 0)
end

function M.usage(out)
  out = out or io.stdout
  out:write("rcpt ", host.version, ": receipt OCR processing (C core, Lua orchestration)\n\n")
  out:write("usage: rcpt [--lua DIR] COMMAND [ARGS]\n\ncommands:\n")
  for _, n in ipairs(command_names()) do
    local cmd = load_command(n)
    out:write(string.format("  %-12s %s\n", n, cmd and cmd.summary or ""))
  end
  out:write("  lua          run a Lua script with the rcpt modules loaded\n")
  out:write("\n`rcpt COMMAND --help` tells more.  --lua DIR (or RCPT_LUA_PATH=DIR[:DIR])\n")
  out:write("puts an edited copy of the lua/ scripts first: no rebuild needed.\n")
end

function M.main(argv)
  local name = argv[1]
  if name == nil or name == "-h" or name == "--help" or name == "help" then
    if name == "help" and argv[2] then
      local cmd = load_command(argv[2])
      if cmd then
        io.stdout:write(cmd.usage or ("rcpt " .. argv[2]), "\n\n", cmd.help or cmd.summary or "", "\n")
        return 0
      end
    end
    M.usage(io.stdout)
    return name == nil and 2 or 0
  end
  if name == "--version" then
    print("rcpt " .. host.version)
    return 0
  end
  local cmd = load_command(name)
  if not cmd then
    io.stderr:write("rcpt: unknown command '", name, "'\n\n")
    M.usage(io.stderr)
    return 2
  end
  local args = table.move(argv, 2, #argv, 1, {})
  for _, a in ipairs(args) do
    if a == "-h" or a == "--help" then
      io.stdout:write("usage: ", cmd.usage or ("rcpt " .. name), "\n\n", cmd.help or cmd.summary or "", "\n")
      return 0
    end
  end
  local rc = cmd.run(args)
  return math.tointeger(rc) or 0
end

return M
