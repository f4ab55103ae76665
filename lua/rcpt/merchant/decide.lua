-- Merchant decision (spec §4.2 acceptance, §4.5 scoring, §4.6/§4.7
-- ReceiptMetadata), on plain tables.  No I/O: rcpt.merchant.resolve feeds it
-- candidates and writes nothing.
--
-- Scores.  Our vector store returns the COSINE SIMILARITY of unit vectors.
-- The original's Chroma score was max(0, 1 - squared L2) = 2cos - 1 for
-- unit vectors.  We keep the spec's numbers on the spec's scale by
-- converting once:
--   decision score of a vector candidate = min(0.7, max(0, 2cos - 1))
--   "Places only when the best vector score < 0.5"  <=>  best cosine < 0.75
-- so the Places table (+0.5 phone, +0.4/+0.2 address, -0.6 route; at most
-- 0.9) and the 0.7 cap compare exactly as in the original.
local N = require("rcpt.merchant.normalize")

local M = {}

M.VECTOR_CAP = 0.7
M.PLACES_COSINE_THRESHOLD = 0.75 -- = spec score 0.5 (score = 2cos - 1)

function M.cosine_to_score(cos)
  if type(cos) ~= "number" then return 0 end
  local s = 2 * cos - 1
  if s < 0 then return 0 end
  if s > 1 then return 1 end
  return s
end

local function split(s)
  local t = {}
  for w in (s or ""):gmatch("%S+") do t[#t + 1] = w end
  return t
end

-- The token an address is anchored on: its first all-digit token (the house
-- number of a street line; the ZIP of a city line).  The original took the
-- first token whatever it was and tested it as a *substring* ("614" is in
-- "1614 ..."); we test whole tokens.
function M.house_number(addr)
  for _, t in ipairs(split(N.normalize_address(addr or ""))) do
    if t:match("^%d+%u?$") then return t end
  end
  return nil
end

local function has_token(addr, tok)
  for _, t in ipairs(split(addr)) do if t == tok then return true end end
  return false
end

local function contains(list, v)
  for _, x in ipairs(list or {}) do if x == v then return true end end
  return false
end

-- The neighbour's anchors: the hit line's own, else the receipt-level ones
-- every line vector carries (rcpt.embed_inputs), else `extra` (e.g. from
-- a store lookup of the neighbour receipt, the original's fallback).
function M.neighbor_anchors(meta, extra)
  meta, extra = meta or {}, extra or {}
  local phone = meta.normalized_phone_10
  if phone == nil or phone == "" then phone = meta.receipt_phone_10 end
  if phone == nil or phone == "" then phone = extra.phone end
  local addr = meta.normalized_full_address
  if addr == nil or addr == "" then addr = meta.receipt_full_address end
  if addr == nil or addr == "" then addr = extra.address end
  return phone or "", addr or ""
end

-- Street-first (§4.2): the house-number token of the normalised street
-- query is a token of the neighbour's address AND the neighbour's phone is
-- one of this receipt's phones.
function M.accept_street_first(query, meta, ctx, extra)
  local nphone, naddr = M.neighbor_anchors(meta, extra)
  local hn = M.house_number(query)
  local addr_ok = naddr ~= "" and hn ~= nil and has_token(naddr, hn)
  local phone_ok = #(ctx.phones or {}) > 0 and nphone ~= "" and contains(ctx.phones, nphone)
  return addr_ok and phone_ok, { addr_ok = addr_ok, phone_ok = phone_ok }
end

-- Phone-first (§4.2): a phone of the query line equals the neighbour's
-- phone AND, when this receipt has an address, its house-number token is a
-- token of the neighbour's address.  The query line's phones come from
-- `extract` (the context's patterns, so "TEL 805-917-4200 FAX ..." works)
-- with normalize_phone(line) as the original's fallback.
function M.accept_phone_first(query, meta, ctx, extra, extract)
  local nphone, naddr = M.neighbor_anchors(meta, extra)
  local qphones = extract and extract(query) or {}
  local qn = N.normalize_phone(query)
  if qn ~= "" then qphones[#qphones + 1] = qn end
  local phone_ok = nphone ~= "" and contains(qphones, nphone)
  local addr_ok = true
  if (ctx.address or "") ~= "" then
    local hn = M.house_number(ctx.address)
    addr_ok = naddr ~= "" and hn ~= nil and has_token(naddr, hn)
  end
  return phone_ok and addr_ok, { addr_ok = addr_ok, phone_ok = phone_ok }
end

-- ------------------------------------------------------------- scoring --

local function first_two(addr)
  local t = split(N.normalize_address(addr))
  return t[1], t[2]
end

-- What a Places candidate actually agrees on with the receipt.
function M.places_matches(cand, ctx)
  local m = {}
  local p = N.normalize_phone(cand.phone or "")
  m.phone = p ~= "" and contains(ctx.phones, p)
  m.address_exact, m.address = false, false
  if (ctx.address or "") ~= "" and (cand.address or "") ~= "" then
    local a1, a2 = first_two(ctx.address)
    local b1, b2 = first_two(cand.address)
    m.address_exact = a1 == b1 and a2 == b2
    m.address = m.address_exact
  end
  m.name = M.name_matches(cand.name, ctx.name_candidates)
  return m
end

-- §4.5: +0.5 phone; +0.4 when the first two address tokens agree, else
-- +0.2 when both addresses exist; -0.6 for a bare route; clamped to [0,1].
function M.score_places(cand, ctx)
  local s = 0
  local p = N.normalize_phone(cand.phone or "")
  if p ~= "" and contains(ctx.phones, p) then s = s + 0.5 end
  if (ctx.address or "") ~= "" and (cand.address or "") ~= "" then
    local a1, a2 = first_two(ctx.address)
    local b1, b2 = first_two(cand.address)
    s = s + ((a1 == b1 and a2 == b2) and 0.4 or 0.2)
  end
  local types = cand.types or {}
  if #types == 1 and types[1] == "route" then s = s - 0.6 end
  if s < 0 then s = 0 elseif s > 1 then s = 1 end
  return s
end

function M.score_vector(cand)
  return math.min(M.VECTOR_CAP, M.cosine_to_score(cand.cosine or cand.score))
end

-- Order: Places (as given: address, phone 1, phone 2), then vector
-- candidates; every candidate gets .decision_score; best = the FIRST with
-- the maximal score (no minimum).  nil only without candidates.
function M.choose(places, vectors, ctx)
  local all = {}
  for _, c in ipairs(places or {}) do
    c.decision_score = M.score_places(c, ctx)
    all[#all + 1] = c
  end
  for _, c in ipairs(vectors or {}) do
    c.decision_score = M.score_vector(c)
    all[#all + 1] = c
  end
  local best
  for _, c in ipairs(all) do
    if not best or c.decision_score > best.decision_score then best = c end
  end
  return best, all
end

-- ------------------------------------------------------------- names --

local NAME_STOP = { THE = true, LLC = true, INC = true, CO = true, LTD = true, CORP = true,
  OF = true, AND = true, ["&"] = true, RESTAURANT = true, STORE = true, ["#"] = true }

local function name_tokens(s)
  local t = {}
  for w in N.upper(s or ""):gsub("[^%w%s&\128-\255]", " "):gmatch("%S+") do
    if not NAME_STOP[w] then t[#t + 1] = w end
  end
  return t
end

-- A name agrees with a header candidate when at least half of its
-- significant tokens (and at least one) appear in the candidate.
function M.name_matches(name, candidates)
  local nt = name_tokens(name)
  if #nt == 0 then return false end
  for _, c in ipairs(candidates or {}) do
    local set = {}
    for _, w in ipairs(name_tokens(c)) do set[w] = true end
    local hit = 0
    for _, w in ipairs(nt) do if set[w] then hit = hit + 1 end end
    if hit >= 1 and hit * 2 >= #nt then return true end
  end
  return false
end

-- --------------------------------------------------- validation status --

local function digits(s) return select(2, (s or ""):gsub("%d", "")) end

-- The address quality heuristic of the entity (ocr-geometry §4.7).
function M.address_quality(addr)
  local toks = split(addr)
  if #toks == 0 then return false end
  local pts, has_num = 0, false
  for _, t in ipairs(toks) do
    if t:match("^%d+$") then pts = pts + 1; has_num = true
    elseif t:find("%d") then pts = pts + 1; has_num = true
    elseif t:match("^%a+$") and #t >= 3 then pts = pts + 1
    elseif #toks > 1 then pts = pts + 0.5 end
  end
  if pts >= 2 then return true end
  if #toks == 1 and not toks[1]:match("^%d+$") then return true end
  return has_num and #toks > 1
end

local function env_int(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v and math.floor(v) or default
end

-- MATCHED / UNSURE / NO_MATCH from the high-quality matched fields: name
-- needs > 2 characters, phone >= 7 digits, address the token heuristic;
-- other field names count as they are.  Thresholds: opts, else env
-- MIN_FIELDS_FOR_MATCH (2) / MIN_FIELDS_FOR_UNSURE (1).
function M.validation_status(md, opts)
  opts = opts or {}
  local need_match = opts.min_fields_for_match or env_int("MIN_FIELDS_FOR_MATCH", 2)
  local need_unsure = opts.min_fields_for_unsure or env_int("MIN_FIELDS_FOR_UNSURE", 1)
  local n = 0
  for _, f in ipairs(md.matched_fields or {}) do
    if f == "name" then
      if #((md.merchant_name or ""):gsub("^%s+", ""):gsub("%s+$", "")) > 2 then n = n + 1 end
    elseif f == "phone" then
      if digits(md.phone_number) >= 7 then n = n + 1 end
    elseif f == "address" then
      if M.address_quality(md.address or "") then n = n + 1 end
    else
      n = n + 1
    end
  end
  if n >= need_match then return "MATCHED" end
  if n >= need_unsure then return "UNSURE" end
  return "NO_MATCH"
end

-- ------------------------------------------------------------ metadata --

local function fmt_phone(p)
  if #p == 10 then return string.format("(%s) %s-%s", p:sub(1, 3), p:sub(4, 6), p:sub(7)) end
  return p
end

-- The ReceiptMetadata fields for `best` (nil = no candidate at all).
-- matched_fields name what was actually compared equal, validated_by the
-- method that found the merchant, reasoning says which candidate won.
function M.metadata(best, ctx, opts)
  local guess = (ctx.name_candidates or {})[1] or ""
  local md = {
    image_id = ctx.image_id, receipt_id = ctx.receipt_id,
    merchant_category = "", matched_fields = {},
  }
  if best and best.source == "places" then
    local m = M.places_matches(best, ctx)
    if m.phone then md.matched_fields[#md.matched_fields + 1] = "phone" end
    if m.address then md.matched_fields[#md.matched_fields + 1] = "address" end
    if m.name then md.matched_fields[#md.matched_fields + 1] = "name" end
    if #md.matched_fields == 0 then md.matched_fields[1] = "google_places_" .. (best.reason or "lookup") end
    md.place_id = best.place_id or ""
    md.merchant_name = best.name or ""
    md.address = best.address or ""
    md.phone_number = best.phone or ""
    if best.lookup == "text_search" then md.validated_by = "TEXT_SEARCH"
    elseif best.lookup == "nearby" then md.validated_by = "NEARBY_LOOKUP"
    elseif best.reason == "phone" then md.validated_by = "PHONE_LOOKUP"
    else md.validated_by = "ADDRESS_LOOKUP" end
    md.reasoning = string.format("Selected via places:%s (score %.2f; matched %s)", best.reason or "?",
      best.decision_score or 0, table.concat(md.matched_fields, ","))
  elseif best and best.source == "vector" then
    -- accepted only with phone AND address agreeing (see accept_*)
    md.matched_fields = { "phone", "address" }
    local name = best.merchant_name or ""
    local name_note = ""
    if name == "" then
      name, name_note = guess, " (neighbour had no merchant name: header guess used)"
    elseif M.name_matches(name, ctx.name_candidates) then
      md.matched_fields[3] = "name"
    end
    md.merchant_name = name
    md.place_id = best.place_id or ""
    md.address = best.address ~= "" and best.address or (ctx.address or "")
    md.phone_number = best.phone ~= "" and fmt_phone(best.phone or "") or ""
    md.validated_by = best.reason == "phone-first" and "PHONE_LOOKUP" or "ADDRESS_LOOKUP"
    md.reasoning = string.format("Selected via vector:%s neighbour IMAGE#%s#RECEIPT#%05d (cosine %.3f)%s",
      best.reason or "?", tostring(best.neighbor and best.neighbor.image_id),
      math.tointeger(best.neighbor and best.neighbor.receipt_id) or 0, best.cosine or 0, name_note)
  else
    -- No candidate: a guess from the header, validated by nothing.
    md.merchant_name = guess
    md.place_id = ""
    md.address = ctx.address or ""
    md.phone_number = (ctx.phones or {})[1] and fmt_phone(ctx.phones[1]) or ""
    md.validated_by = "INFERENCE"
    md.reasoning = guess ~= "" and ("No candidate; merchant name guessed from the header line '" .. guess .. "'")
      or "No candidate and no header line usable as a merchant name"
    if opts and opts.why then md.reasoning = md.reasoning .. "; " .. opts.why end
  end
  md.canonical_place_id = md.place_id
  md.canonical_merchant_name = md.merchant_name
  md.canonical_address = md.address
  md.canonical_phone_number = md.phone_number
  md.validation_status = M.validation_status(md, opts)
  return md
end

return M
