-- The merchant context of one receipt, from its lines and words (plain
-- tables shaped like ReceiptLine / ReceiptWord, VN coordinates, y up):
-- phones, the address, URLs and merchant-name candidates.
--
-- Sources, per DESIGN.md "Deliberate departures":
-- * Vision's extracted_data first (phone / address / url tags);
-- * where tags are absent, patterns over the line text: NANP phones (US and
--   Canada), US street + "City, ST 12345[-6789]" and Canadian
--   "City, PR A1A 1A1" addresses, URLs and bare domains;
-- * never the whole receipt text as its address (the original's
--   build_full_address_from_lines fallback): no address found -> "".
--
-- Reading order is fixed here: lines by line_id, words by (line_id,
-- word_id); the original read words in an undefined order (spec §2).
local N = require("rcpt.merchant.normalize")

local M = {}

-- ---------------------------------------------------------------- input --

local function describe(kind, i, e)
  return string.format("%s[%d] (image %s receipt %s line %s%s)", kind, i,
    tostring(e.image_id), tostring(e.receipt_id), tostring(e.line_id),
    e.word_id ~= nil and (" word " .. tostring(e.word_id)) or "")
end

local function check_entities(list, kind)
  if type(list) ~= "table" then return nil, kind .. ": must be a list" end
  for i, e in ipairs(list) do
    if type(e) ~= "table" then return nil, string.format("%s[%d]: must be a table", kind, i) end
    if math.type(e.line_id) ~= "integer" and not (type(e.line_id) == "number" and e.line_id % 1 == 0) then
      return nil, describe(kind, i, e) .. ".line_id: must be an integer"
    end
    if kind == "words" and not (type(e.word_id) == "number" and e.word_id % 1 == 0) then
      return nil, describe(kind, i, e) .. ".word_id: must be an integer"
    end
    if type(e.text) ~= "string" then return nil, describe(kind, i, e) .. ".text: must be a string" end
    local ed = e.extracted_data
    if ed ~= nil and type(ed) ~= "table" and ed ~= M.null then
      return nil, describe(kind, i, e) .. ".extracted_data: must be a table or nil"
    end
  end
  return true
end
M.check_entities = check_entities

-- rcpt.json decodes JSON null as a light userdata (the same value as
-- lua-cjson's cjson.null); treat it as absent.
M.null = require("rcpt.json").null

local function tag(e)
  local ed = e.extracted_data
  if type(ed) ~= "table" or type(ed.type) ~= "string" then return nil end
  return ed.type:lower(), type(ed.value) == "string" and ed.value or nil
end
M.tag = tag

-- Copies sorted into reading order (the caller's arrays are not touched).
function M.sorted_lines(lines)
  local out = table.move(lines, 1, #lines, 1, {})
  table.sort(out, function(a, b) return a.line_id < b.line_id end)
  return out
end

function M.sorted_words(words)
  local out = table.move(words, 1, #words, 1, {})
  table.sort(out, function(a, b)
    if a.line_id ~= b.line_id then return a.line_id < b.line_id end
    return a.word_id < b.word_id
  end)
  return out
end

-- Mean of the four corners (spec §2), else the bounding-box centre.
function M.centroid(e)
  local tl, tr, bl, br = e.top_left, e.top_right, e.bottom_left, e.bottom_right
  if type(tl) == "table" and type(tr) == "table" and type(bl) == "table" and type(br) == "table"
     and tonumber(tl.x) and tonumber(tr.x) and tonumber(bl.x) and tonumber(br.x) then
    return (tl.x + tr.x + bl.x + br.x) / 4, (tl.y + tr.y + bl.y + br.y) / 4
  end
  local bb = e.bounding_box
  if type(bb) == "table" and tonumber(bb.x) and tonumber(bb.y) then
    return bb.x + (bb.width or 0) / 2, bb.y + (bb.height or 0) / 2
  end
  return nil
end

-- --------------------------------------------------------------- phones --

local TOLL_FREE = { ["800"] = true, ["833"] = true, ["844"] = true, ["855"] = true,
  ["866"] = true, ["877"] = true, ["888"] = true }
local KEYPAD = { A = 2, B = 2, C = 2, D = 3, E = 3, F = 3, G = 4, H = 4, I = 4, J = 5, K = 5,
  L = 5, M = 6, N = 6, O = 6, P = 7, Q = 7, R = 7, S = 7, T = 8, U = 8, V = 8, W = 9, X = 9,
  Y = 9, Z = 9 }

-- NANP: area code and exchange start with 2..9.
local function nanp(d)
  return #d == 10 and d:match("^[2-9]%d%d[2-9]") ~= nil and N.normalize_phone(d) == d
end

local function isdigit_at(s, i) return i >= 1 and i <= #s and s:sub(i, i):match("%d") ~= nil end

-- Every occurrence of `pat` in s whose match is not glued to more digits.
local function each_match(s, pat, fn)
  local init = 1
  while true do
    local caps = { s:find(pat, init) }
    local a, b = caps[1], caps[2]
    if not a then return end
    if not isdigit_at(s, a - 1) and not isdigit_at(s, b + 1) then
      fn(a, b, table.unpack(caps, 3))
      init = b + 1
    else
      init = a + 1
    end
  end
end

-- The 10-digit phones written in a line of text, in order, distinct.
-- Forms: "(805) 917-4200", "(805)917-4200", "805-917-4200", "805.917.4200",
-- "805 917 4200", "+1 805 917 4200", "1-805-917-4200"; ten bare digits only
-- after a TEL / PHONE / PH / CALL keyword; toll-free vanity numbers
-- ("1-800-FLOWERS" -> 8003569377): they are what the receipt prints as its
-- phone, and a chain's toll-free number still tells its receipts apart from
-- others'.  Vanity forms outside the toll-free codes are not recognised
-- (too easily confused with words next to a number).
function M.extract_phones(text)
  local out, seen = {}, {}
  local function add(d)
    if nanp(d) and not seen[d] then seen[d] = true; out[#out + 1] = d end
  end
  local hits = {}
  each_match(text, "%((%d%d%d)%)%s*(%d%d%d)[ %.%-]?(%d%d%d%d)", function(a, _, x, y, z)
    hits[#hits + 1] = { a, x .. y .. z }
  end)
  each_match(text, "(%d%d%d)([ %.%-])(%d%d%d)%2(%d%d%d%d)", function(a, _, x, _, y, z)
    hits[#hits + 1] = { a, x .. y .. z }
  end)
  local up = text:upper()
  if up:find("%f[%a]TEL%f[%A]") or up:find("%f[%a]PHONE%f[%A]") or up:find("%f[%a]PH%f[%A]")
     or up:find("%f[%a]CALL%f[%A]") then
    each_match(text, "1?%d%d%d%d%d%d%d%d%d%d", function(a, b)
      hits[#hits + 1] = { a, N.normalize_phone(text:sub(a, b)) }
    end)
  end
  local init = 1
  while true do
    local a, b, code, rest = up:find("(8%d%d)[ %-]([%u%d][%u%d%-]*%u[%u%d%-]*)", init)
    if not a then break end
    local letters = rest:gsub("%-", "")
    local after = up:sub(b + 1, b + 1)
    if TOLL_FREE[code] and #letters == 7 and not after:match("[%w]") and not isdigit_at(up, a - 1) then
      local d = code .. letters:gsub("%u", function(c) return tostring(KEYPAD[c]) end)
      hits[#hits + 1] = { a, d }
    end
    init = a + 1
  end
  table.sort(hits, function(p, q) return p[1] < q[1] end)
  for _, h in ipairs(hits) do add(h[2]) end
  return out
end

-- ------------------------------------------------------------- addresses --

local US_STATES = {}
for s in ([[AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH
  NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR VI GU AS MP]]):gmatch("%u%u") do
  US_STATES[s] = true
end
local CA_PROVINCES = {}
for s in ("AB BC MB NB NL NS NT NU ON PE QC SK YT"):gmatch("%u%u") do CA_PROVINCES[s] = true end

-- Street designators after the name (normalised spelling, see
-- normalize.ABBREV) and French ones before it ("1234 RUE STE-CATHERINE").
local SUFFIX = {}
for s in ([[ST RD AVE AV BLVD DR LN HWY PKWY WAY CT COURT PL PLACE CIR CIRCLE TER TERRACE TRL
  TRAIL SQ SQUARE PLZ PLAZA LOOP PIKE CRES CRESCENT ROW WALK ALY ALLEY EXPY EXPRESSWAY FWY FREEWAY
  TPKE TURNPIKE CTR CENTER CENTRE BYP BYPASS XING CROSSING RUN PATH PT POINT MALL GRN GREEN]]):gmatch("%u+") do
  SUFFIX[s] = true
end
local FRENCH = { RUE = true, CHEMIN = true, CH = true, BOUL = true, BOULEVARD = true, BLVD = true,
  AVENUE = true, AVE = true, AV = true, ROUTE = true, RANG = true, MONTEE = true }

local function tokens(s)
  local t = {}
  for w in N.normalize_address(s):gmatch("%S+") do t[#t + 1] = w end
  return t
end

-- "City, ST 12345[-6789]" or "City, PR A1A 1A1" somewhere in the line.
function M.is_city_line(text)
  local up = N.upper(text)
  for st, zip in up:gmatch("%f[%a](%u%u)%.?,?%s+(%d%d%d%d%d)%f[%D]") do
    if US_STATES[st] and zip then return true end
  end
  for pr in up:gmatch("%f[%a](%u%u)%.?,?%s+%u%d%u%s?%d%u%d%f[%W]") do
    if CA_PROVINCES[pr] then return true end
  end
  return false
end

-- "614 Gravier Street", "1012 Westlake Blvd.", "100 W 5th Ave Suite 2",
-- "1234 rue Sainte-Catherine": a house number first, then a street name and
-- a designator.  Item lines with a price are refused.
function M.is_street_line(text)
  if text:find("%d[%.,]%d%d%f[%D]") or text:find("%$") then return false end
  local t = tokens(text)
  if #t < 2 or #t > 14 then return false end
  if not (t[1]:match("^%d%d?%d?%d?%d?%d?%u?$")) then return false end
  if FRENCH[t[2]] and #t >= 3 then return true end
  for i = 3, #t do
    if SUFFIX[t[i]] then return true end
  end
  return false
end

-- -------------------------------------------------------------------- urls --

local TLDS = {}
for s in ("com net org edu gov biz info io co us ca uk shop store menu app me tv ly cafe bar restaurant")
    :gmatch("%a+") do TLDS[s] = true end

-- URLs and bare domains written in a line, normalised, in order.
function M.extract_urls(text)
  local out = {}
  for tok in text:gmatch("%S+") do
    tok = tok:gsub("^[%(%[<\"']+", ""):gsub("[%)%]>\"',;:!%.]+$", "")
    local lower = tok:lower()
    local is_url = lower:match("^https?://") or lower:match("^www%.")
    if not is_url and not tok:find("@", 1, true) then
      local host = lower:match("^([%w%-%.]+)")
      local tld = host and host:match("%.(%a+)$")
      if tld and TLDS[tld] and host:match("^[%w%-]+%.") and not host:match("^%d+%.%d+$") then
        is_url = true
      end
    end
    if is_url then
      local u = N.normalize_url(tok)
      if u ~= "" and u:match("^[^/]+%.[^/]+") then out[#out + 1] = u end
    end
  end
  return out
end

-- ----------------------------------------------------------- header names --

local MONTHS = { JAN = 1, FEB = 1, MAR = 1, APR = 1, MAY = 1, JUN = 1, JUL = 1, AUG = 1, SEP = 1,
  SEPT = 1, OCT = 1, NOV = 1, DEC = 1, JANUARY = 1, FEBRUARY = 1, MARCH = 1, APRIL = 1, JUNE = 1,
  JULY = 1, AUGUST = 1, SEPTEMBER = 1, OCTOBER = 1, NOVEMBER = 1, DECEMBER = 1 }

local function looks_like_date(text)
  local up = text:upper()
  if up:find("%d%d?[/%-%.]%d%d?[/%-%.]%d%d") or up:find("%d%d%d%d%-%d%d%-%d%d")
     or up:find("%f[%d]%d%d?:%d%d") then
    return true
  end
  for w in up:gmatch("%a+") do
    if MONTHS[w] and up:find("%d") then return true end
  end
  return false
end

-- Whole lines that are boilerplate, and first words of field lines.
local BOILER_WHOLE = {}
for _, s in ipairs({ "WELCOME", "RECEIPT", "SALES RECEIPT", "CUSTOMER RECEIPT", "THANK YOU",
  "THANKS", "CUSTOMER COPY", "MERCHANT COPY", "STORE COPY", "DUPLICATE", "COPY", "REPRINT",
  "DUPLICATE RECEIPT", "ORIGINAL", "INVOICE", "TAX INVOICE", "SALE", "SALES", "ORDER", "TO GO",
  "DINE IN", "TAKE OUT", "TAKEOUT", "CARRY OUT", "HERE", "WELCOME BACK", "HELLO" }) do
  BOILER_WHOLE[s] = true
end
local BOILER_FIRST = {}
for s in ([[RECEIPT TICKET ORDER CASHIER SERVER TABLE STORE REG REGISTER TERMINAL TRANS TRANSACTION
  AUTH AUTHORIZATION APPROVED DATE TIME INVOICE CHECK CHK GUEST GUESTS TOTAL SUBTOTAL TAX VISA
  MASTERCARD AMEX DISCOVER DEBIT CREDIT CASH CHANGE BALANCE TEL PHONE FAX EMAIL WWW HTTP HTTPS
  OPEN HOURS MON TUE WED THU FRI SAT SUN ACCT ACCOUNT CARD EMPLOYEE OPERATOR LANE TILL]]):gmatch("%u+") do
  BOILER_FIRST[s] = true
end

local function letters(s) return select(2, s:gsub("%a", "")) end

-- A cleaned merchant-name candidate from a header line, or nil.
local function name_from_line(text)
  local s = text:gsub("%s+", " "):gsub("^[%s%*%-=#~_]+", ""):gsub("[%s%*%-=#~_!]+$", "")
  local up = N.upper(s)
  local rest = up:match("^WELCOME TO%s+(.+)$") or up:match("^WELCOME%s+TO%s+(.+)$")
  if rest then s = s:sub(#s - #rest + 1) up = rest end
  local plain = up:gsub("[^%w%s&']", ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if plain == "" or BOILER_WHOLE[plain] then return nil end
  if up:find("THANK") then return nil end
  local first = plain:match("^(%a+)")
  if first and BOILER_FIRST[first] then return nil end
  if up:match("^[%a%s#%.]+:") then return nil end         -- "Ticket: #50", "Server: Ann"
  if letters(s) < 3 then return nil end                  -- numbers, amounts, codes
  if s:find("%d[%.,]%d%d%f[%D]") or s:find("%$") then return nil end -- item / amount lines
  if looks_like_date(s) then return nil end
  return s
end
M.name_from_line = name_from_line

-- ------------------------------------------------------------------ build --

local HEADER_LINES = 10 -- the top lines (by y) searched for the merchant name
local NAME_CANDIDATES = 3

-- ctx = {image_id, receipt_id, lines, words (reading order), phones,
--   phone_lines, address, address_lines, address_source ("extracted_data" |
--   "text" | "none"), urls, name_candidates, line_anchors[line_id] =
--   {phone=, address=, url=}} or nil, error naming the record and field.
function M.build(lines, words)
  local ok, err = check_entities(lines, "lines")
  if not ok then return nil, err end
  ok, err = check_entities(words or {}, "words")
  if not ok then return nil, err end
  lines, words = M.sorted_lines(lines), M.sorted_words(words or {})

  local first = lines[1] or words[1] or {}
  local ctx = {
    image_id = first.image_id, receipt_id = first.receipt_id,
    lines = lines, words = words,
    phones = {}, phone_lines = {}, address = "", address_lines = {}, address_source = "none",
    urls = {}, name_candidates = {}, line_anchors = {},
  }
  local by_line = {}
  for _, w in ipairs(words) do
    local l = by_line[w.line_id]
    if not l then l = {}; by_line[w.line_id] = l end
    l[#l + 1] = w
  end
  local function anchors(lid)
    local a = ctx.line_anchors[lid]
    if not a then a = {}; ctx.line_anchors[lid] = a end
    return a
  end
  local tagged_line = {} -- line_id -> set of tag types on its words

  -- phones and urls: tags per line, the patterns on lines without that tag
  local seen_phone, seen_url = {}, {}
  for _, l in ipairs(lines) do
    local tags = {}
    tagged_line[l.line_id] = tags
    local phones, urls = {}, {}
    for _, w in ipairs(by_line[l.line_id] or {}) do
      local t, v = tag(w)
      if t then tags[t] = true end
      if t == "phone" then
        local p = N.normalize_phone(v or w.text)
        if p ~= "" then phones[#phones + 1] = p end
      elseif t == "url" or t == "link" then
        local u = N.normalize_url(v or w.text)
        if u ~= "" then urls[#urls + 1] = u end
      end
    end
    if not tags.phone then phones = M.extract_phones(l.text) end
    if not (tags.url or tags.link) then urls = M.extract_urls(l.text) end
    if #phones > 0 then
      anchors(l.line_id).phone = phones[1]
      ctx.phone_lines[#ctx.phone_lines + 1] = l.text
      for _, p in ipairs(phones) do
        if not seen_phone[p] then seen_phone[p] = true; ctx.phones[#ctx.phones + 1] = p end
      end
    end
    if #urls > 0 then
      anchors(l.line_id).url = urls[1]
      for _, u in ipairs(urls) do
        if not seen_url[u] then seen_url[u] = true; ctx.urls[#ctx.urls + 1] = u end
      end
    end
  end

  -- address: Vision's tags if any word carries one, else the patterns
  local address_line_ids = {}
  local tagged_address = N.build_full_address_from_words(words)
  if tagged_address ~= "" then
    ctx.address, ctx.address_source = tagged_address, "extracted_data"
    for _, l in ipairs(lines) do
      for _, w in ipairs(by_line[l.line_id] or {}) do
        if tag(w) == "address" then
          anchors(l.line_id).address = N.build_full_address_from_words({ w })
          ctx.address_lines[#ctx.address_lines + 1] = l.text
          address_line_ids[l.line_id] = true
          break
        end
      end
    end
  else
    for i, l in ipairs(lines) do
      if M.is_street_line(l.text) then
        local parts = { l }
        if not M.is_city_line(l.text) then
          for j = i + 1, math.min(i + 3, #lines) do
            if M.is_city_line(lines[j].text) then parts[2] = lines[j] break end
          end
        end
        local texts = {}
        for k, p in ipairs(parts) do texts[k] = p.text end
        ctx.address = N.normalize_address(table.concat(texts, " "))
        ctx.address_source = "text"
        for _, p in ipairs(parts) do
          anchors(p.line_id).address = ctx.address
          ctx.address_lines[#ctx.address_lines + 1] = p.text
          address_line_ids[p.line_id] = true
        end
        break
      end
    end
  end

  -- merchant-name candidates: the top lines by y that are none of the above
  local header = {}
  for _, l in ipairs(lines) do
    local ws = by_line[l.line_id] or {}
    local noise = l.is_noise == true
    if not noise and #ws > 0 then
      noise = true
      for _, w in ipairs(ws) do if not w.is_noise then noise = false break end end
    end
    local _, y = M.centroid(l)
    if not noise and y then header[#header + 1] = { line = l, y = y } end
  end
  table.sort(header, function(a, b)
    if a.y ~= b.y then return a.y > b.y end
    return a.line.line_id < b.line.line_id
  end)
  for i = 1, math.min(HEADER_LINES, #header) do
    local l = header[i].line
    local tags, a = tagged_line[l.line_id] or {}, ctx.line_anchors[l.line_id] or {}
    if not (tags.date or tags.phone or tags.url or tags.link or tags.address or a.phone or a.url
            or address_line_ids[l.line_id] or M.is_street_line(l.text) or M.is_city_line(l.text)) then
      local name = name_from_line(l.text)
      if name and #ctx.name_candidates < NAME_CANDIDATES then
        ctx.name_candidates[#ctx.name_candidates + 1] = name
      end
    end
  end
  return ctx
end

return M
