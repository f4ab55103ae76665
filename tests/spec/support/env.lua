-- Shared helpers for specs: paths, temp dirs, running the rcpt binary.
local M = {}

M.src = os.getenv("RCPT_SOURCE_DIR") or "."
M.bin = os.getenv("RCPT_BIN") or "./rcpt"
M.data = os.getenv("RCPT_TEST_DATA") or (M.src .. "/../shared/data")

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.quote = q

function M.tmpdir()
  local p = io.popen("mktemp -d /tmp/rcpt-spec.XXXXXX")
  local d = p:read("l")
  p:close()
  return d
end

function M.rmrf(dir)
  if dir and dir:match("^/tmp/rcpt%-") then os.execute("rm -rf " .. q(dir)) end
end

-- Run `rcpt ARGS...` (a list), optionally with env (table) and stdin text.
-- Returns exit code, stdout, stderr.
function M.rcpt(args, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local parts = {}
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. q(v) end
  parts[#parts + 1] = q(M.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  local cmd = "env " .. table.concat(parts, " ") .. " >" .. dir .. "/out 2>" .. dir .. "/err"
  if opts.stdin then
    M.write(dir .. "/in", opts.stdin)
    cmd = cmd .. " <" .. dir .. "/in"
  else
    cmd = cmd .. " </dev/null"
  end
  if opts.cwd then cmd = "cd " .. q(opts.cwd) .. " && " .. cmd end
  local _, _, code = os.execute(cmd)
  local out, err = M.read(dir .. "/out"), M.read(dir .. "/err")
  M.rmrf(dir)
  return code, out, err
end

return M
