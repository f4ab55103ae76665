-- Runs busted specs inside rcpt's own Lua, so specs `require "rcpt.ocr"` and the
-- other C modules exactly as the handler does.  ctest calls
--   rcpt lua tests/busted.lua SPEC.lua
-- (one ctest test per spec file; see CMakeLists.txt).
local src = os.getenv("RCPT_SOURCE_DIR") or "."
-- helpers shared by specs: tests/spec/support/*.lua as "support.<name>"
package.path = src .. "/tests/spec/?.lua;" .. package.path
arg[#arg + 1] = "--output=utfTerminal"
arg[#arg + 1] = "--no-auto-insulate"
require("busted.runner")({ standalone = false })
