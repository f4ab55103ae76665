-- Normalisers of merchant anchors (spec/merchant-embed-compaction.md §3).
-- Pure functions on strings; every other merchant module compares through
-- these, so a phone, an address or a URL written two ways compares equal.
local M = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- Python's str.upper() also folds accented Latin letters; string.upper only
-- folds ASCII.  Fold the Latin-1 supplement (U+00E0..U+00FE except U+00F7)
-- too, so "Café" and "CAFÉ" normalise alike.
local function upper(s)
  s = s:upper()
  return (s:gsub("\xC3([\xA0-\xBE])", function(c)
    if c == "\xB7" then return nil end
    return "\xC3" .. string.char(c:byte() - 0x20)
  end))
end
M.upper = upper

-- Digits only; a leading country code 1 on an 11+ digit number dropped; the
-- last 10 digits kept; "" unless exactly 10 digits, not all the same.
function M.normalize_phone(s)
  if type(s) ~= "string" then return "" end
  local d = s:gsub("%D", "")
  if #d > 10 and d:sub(1, 1) == "1" then d = d:sub(2) end
  if #d > 10 then d = d:sub(-10) end
  if #d ~= 10 or d == d:sub(1, 1):rep(10) then return "" end
  return d
end

local ABBREV = {
  STREET = "ST", ROAD = "RD", AVENUE = "AVE", BOULEVARD = "BLVD", DRIVE = "DR",
  LANE = "LN", HIGHWAY = "HWY", PARKWAY = "PKWY", SUITE = "STE", APARTMENT = "APT",
}
M.ABBREV = ABBREV

-- The characters stripped from the ends of the whole string (with space and
-- tab) and from the ends of each token.
local END_PUNCT = "[ ,%.;:|/\\%-\t]"
local TOK_PUNCT = "[,%.;:|/\\%-]"

-- Uppercase, collapse whitespace, strip punctuation from the ends of the
-- string and of every token, abbreviate street words, join with one space.
--
-- The original keeps a token that was all punctuation as "" and so emits a
-- double space ("123 MAIN ST - STE 5" -> "123 MAIN ST  STE 5").  We drop
-- such tokens instead: our anchors are compared token-wise and by substring
-- across receipts, so "12 MAIN ST - STE 5" and "12 MAIN ST STE 5" must come
-- out identical, and no stored data of the original has to be matched
-- byte for byte (our vectors carry anchors we computed ourselves).  The
-- spec's test vectors contain no such token and are unaffected.
function M.normalize_address(s)
  if type(s) ~= "string" then return "" end
  s = upper(s):gsub("%s+", " ")
  s = s:gsub("^" .. END_PUNCT .. "+", ""):gsub(END_PUNCT .. "+$", "")
  local out = {}
  for tok in s:gmatch("%S+") do
    tok = tok:gsub("^" .. TOK_PUNCT .. "+", ""):gsub(TOK_PUNCT .. "+$", "")
    if tok ~= "" then out[#out + 1] = ABBREV[tok] or tok end
  end
  return table.concat(out, " ")
end

-- host+path of a URL: "" for an e-mail address without a scheme; scheme
-- "http://" assumed when absent; host lowercased without "www."; path
-- without query and fragment, repeated "/" collapsed, no trailing "/"
-- unless the path is "/".  The path keeps its case.
function M.normalize_url(s)
  if type(s) ~= "string" then return "" end
  s = trim(s)
  if s == "" then return "" end
  local has_scheme = s:match("^%a[%w+%.%-]*://") ~= nil
  if s:find("@", 1, true) and not has_scheme then return "" end
  if not has_scheme then s = "http://" .. s end
  local rest = s:gsub("^%a[%w+%.%-]*://", "")
  local host, path = rest:match("^([^/?#]*)(.*)$")
  host = host:lower():gsub("^www%.", "")
  if host == "" then return "" end
  path = path:gsub("[?#].*$", "")
  if path == "" then path = "/" end
  path = path:gsub("//+", "/")
  if #path > 1 then path = path:gsub("/$", "") end
  return host .. path
end

-- Maximal runs of word characters (Python's Unicode \w, approximated: ASCII
-- alphanumerics, "_" and every non-ASCII byte).
local function word_runs(s)
  local runs = {}
  for r in s:gmatch("[%w_\128-\255]+") do runs[#runs + 1] = r end
  return runs
end
M.word_runs = word_runs

-- \b\d{1,6}\b : some word is 1..6 digits.
local function has_house_number(s)
  for _, r in ipairs(word_runs(s)) do
    if #r <= 6 and r:match("^%d+$") then return true end
  end
  return false
end

-- \b\d{5}(?:-\d{4})?\b or \b[A-Z]{2}\b on the uppercased text: some word is
-- 5 digits (a ZIP; "-dddd" does not change the match) or 2 capital letters.
local function has_place(s)
  for _, r in ipairs(word_runs(upper(s))) do
    if r:match("^%d%d%d%d%d$") or r:match("^%u%u$") then return true end
  end
  return false
end

local function ulen(s) return utf8.len(s) or #s end

-- The address a receipt's Vision-tagged words describe (§3): distinct
-- values of words whose extracted_data.type is exactly "address", longest
-- first (stable); a street entry (has a house number) and a place entry
-- (ZIP or two capital letters), else the first two, else the only one.
function M.build_full_address_from_words(words)
  local vals, seen = {}, {}
  for _, w in ipairs(words or {}) do
    local ed = w.extracted_data
    if type(ed) == "table" and ed.type == "address" and type(ed.value) == "string" then
      local v = trim(ed.value)
      if v ~= "" and not seen[v] then
        seen[v] = true
        vals[#vals + 1] = v
      end
    end
  end
  local idx = {}
  for i = 1, #vals do idx[i] = i end
  table.sort(idx, function(a, b)
    local la, lb = ulen(vals[a]), ulen(vals[b])
    if la ~= lb then return la > lb end
    return a < b
  end)
  local sorted = {}
  for i, k in ipairs(idx) do sorted[i] = vals[k] end
  if #sorted == 0 then return "" end
  local street
  for i, v in ipairs(sorted) do
    if has_house_number(v) then street = i break end
  end
  if street then
    for i, v in ipairs(sorted) do
      if i ~= street and has_place(v) then
        return M.normalize_address(sorted[street] .. " " .. v)
      end
    end
  end
  if #sorted >= 2 then return M.normalize_address(sorted[1] .. " " .. sorted[2]) end
  return M.normalize_address(sorted[1])
end

return M
