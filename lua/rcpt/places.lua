-- Google Places lookups for merchant resolution: the search_by_phone and
-- search_by_address flows of spec §5.4–§5.5 and the PlacesCache policy of
-- §5.7, over the C client rcpt.places_api, with the original's bugs fixed.
--
--   local places = require("rcpt.places")
--   local p = places.new{client = <rcpt.places_api client>,
--                        cache = {get = fn(search_type, value) -> row | nil,
--                                 put = fn(row), touch = fn(row) (optional)} (optional),
--                        ttl_s = 30 * 86400, now = fn() -> epoch seconds, log = fn(level, msg, fields)}
--   p.search_by_phone(phone)            -> place | nil | nil, msg, errname
--   p.search_by_address(address, words) -> place | nil | nil, msg, errname
--     (also callable as methods, p:search_by_phone(...)); exactly what
--     rcpt.merchant.resolve wants of deps.places.
--   places.from_env(cache[, getenv]) -> p | nil (no GOOGLE_PLACES_API_KEY) | nil, msg, errname
--     GOOGLE_PLACES_API_KEY (or RCPT_PLACES_API_KEY), RCPT_PLACES_BASE_URL (a stand-in),
--     RCPT_PLACES_TIMEOUT_MS (default 5000).
--
-- place = {place_id, name, formatted_address, formatted_phone_number,
--          international_phone_number, website, types, business_status, geometry,
--          lookup = "phone" | "address" | "text_search", cached = true (from the cache)}
--
-- Cache rows (the PlacesCache entity lives in rcpt.store; this module only
-- needs its shape):
--   {search_type = "PHONE"|"ADDRESS", search_value, pk = "PLACES#<type>",
--    sk = "VALUE#<padded>" (rcpt.places_api.cache_key, §5.7), place_id,
--    places_response = JSON text of the place (or {"status":"NO_RESULTS",...}),
--    last_updated = ISO-8601 UTC, query_count, time_to_live = epoch s of expiry,
--    normalized_value, value_hash (ADDRESS only)}
--
-- What differs from the original, and why (spec §5.8, §19.7):
--   * every call has a timeout and retries on 5xx/429 (the C client);
--   * OVER_QUERY_LIMIT, REQUEST_DENIED, INVALID_REQUEST, UNKNOWN_ERROR, HTTP
--     errors, timeouts and malformed answers are returned as errors
--     (nil, msg, errname), never cached and never followed by a fallback
--     search that could turn them into a cached "no results";
--   * only real answers are cached: a place (found) or ZERO_RESULTS /
--     NOT_FOUND (negative, place_id "NO_RESULTS"); rows carry time_to_live
--     and an expired row is a miss (checked on read: DynamoDB's TTL deletion
--     lags by days); a row without an expiry counts as expired;
--   * an invalid phone (not 10..15 digits) returns nil without a call and
--     without a cache row (the original wrote an INVALID row: it saved nothing);
--   * no "business-name shortcut" returning an unhydrated Text Search result
--     without a phone: the name word is kept as a more specific first query
--     ("WORD address", Text Search), but its answer is hydrated with Place
--     Details and cached under that query text like any other answer;
--   * no autocomplete: Find Place already matches partial addresses, and the
--     first prediction could silently swap the address for another one; the
--     primitive stays in rcpt.places_api;
--   * no nearby search (the original's always failed, §5.6): a "subpremise"
--     candidate is hydrated with details like any other;
--   * an area (city, state) is not a merchant address: no call, nil;
--   * Text Search results are always hydrated with details (Text Search
--     never returns phone numbers).
local api = require("rcpt.places_api")
local json = require("rcpt.json")

local M = {}

M.TTL_S = 30 * 86400
M.NEGATIVE_PLACE_IDS = { NO_RESULTS = true, INVALID = true, [""] = true }

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- ----------------------------------------------------------- pure helpers --

-- PK and SK of a PlacesCache row (spec §5.7).
function M.cache_key(search_type, value)
  local sk, err, ename = api.cache_key(search_type, value)
  if not sk then return nil, err, ename end
  return "PLACES#" .. search_type, sk
end

-- §5.7 normalized_value: lowercase, blvd/st/ave/rd (optional '.') expanded,
-- punctuation removed, whitespace collapsed.
local ABBREV = { blvd = "boulevard", st = "street", ave = "avenue", rd = "road" }
function M.normalize_address(s)
  s = s:lower()
  s = s:gsub("%f[%w](%a+)%.?", function(w) return ABBREV[w] end)
  s = s:gsub("[^%w%s]", "")
  return trim(s:gsub("%s+", " "))
end

-- "area searches" of §5.7: a town and a state, never one merchant.
local AREA = {
  "^[%a%s]+,%s*[%a%s]+,%s*%u%u$", "^[%a%s]+,%s*[%a%s]+,%s*%u%u%s+USA$",
  "^[%a%s]+,%s*%u%u$", "^[%a%s]+$", "^[%a%s]+%s+%u%u$",
}
function M.is_area(address)
  for _, p in ipairs(AREA) do
    if address:find(p) then return true end
  end
  return false
end

-- The original's business-name word: among the first 10 receipt words, the
-- first whose letters are all upper case and that has no digit (Python
-- isupper()).  We also want two letters at least: "N", "W" are street parts.
function M.business_word(words)
  for i = 1, math.min(10, #(words or {})) do
    local w = words[i]
    local t = type(w) == "table" and w.text or w
    if type(t) == "string" and not t:find("%d") and not t:find("%l") then
      local _, letters = t:gsub("%u", "")
      if letters >= 2 then return t end
    end
  end
  return nil
end

-- +E.164 form of §5.4 step 4.
function M.api_phone(clean, digits)
  if clean:sub(1, 1) == "+" or (#digits == 11 and digits:sub(1, 1) == "1") then return "+" .. digits end
  if #digits == 10 then return "+1" .. digits end
  return "+" .. digits
end

local function has_type(place, t)
  for _, x in ipairs(place.types or {}) do
    if x == t then return true end
  end
  return false
end

local function only_route(place)
  local t = place.types or {}
  return #t == 1 and t[1] == "route"
end

local function iso(ts) return os.date("!%Y-%m-%dT%H:%M:%S+00:00", math.floor(ts)) end

-- --------------------------------------------------------------- the object --

local P = {}
P.__index = P

function M.new(opts)
  assert(type(opts) == "table", "places.new: options table required")
  local client = opts.client
  assert(client ~= nil, "places.new: client required")
  local cache = opts.cache
  if cache ~= nil then
    assert(type(cache) == "table" and type(cache.get) == "function" and type(cache.put) == "function",
      "places.new: cache must be {get = fn, put = fn}")
  end
  local self = setmetatable({
    client = client, cache = cache, ttl_s = opts.ttl_s or M.TTL_S,
    now = opts.now or os.time,
    log = opts.log or function(level, msg, fields) require("rcpt.log")[level](msg, fields) end,
  }, P)
  -- plain functions as well as methods: resolve.lua calls deps.places.search_by_phone(phone)
  self.search_by_phone = function(a, b)
    if a == self then a = b end
    return P.phone(self, a)
  end
  self.search_by_address = function(a, b, c)
    if a == self then a, b = b, c end
    return P.address(self, a, b)
  end
  return self
end

-- ------------------------------------------------------------------ cache --

-- -> {place = table} | {negative = true} | nil (miss, expired, unreadable)
function P:cache_read(search_type, value)
  if not self.cache then return nil end
  local ok, row = pcall(self.cache.get, search_type, value)
  if not ok then
    self.log("warn", "places: cache read failed", { search_type = search_type, error = tostring(row) })
    return nil
  end
  if type(row) ~= "table" then return nil end
  local exp = tonumber(row.time_to_live or row.expires_at)
  if not exp or exp <= self.now() then return nil end
  local okj, place = pcall(json.decode, row.places_response or "")
  if not okj or type(place) ~= "table" then
    self.log("warn", "places: cache row unreadable; refetching", { search_type = search_type })
    return nil
  end
  if type(self.cache.touch) == "function" then pcall(self.cache.touch, row) end
  if M.NEGATIVE_PLACE_IDS[tostring(row.place_id or "")] or place.status == "NO_RESULTS" then
    return { negative = true }
  end
  place.cached = true
  return { place = place }
end

-- place nil = a negative answer (ZERO_RESULTS / NOT_FOUND)
function P:cache_write(search_type, value, place)
  if not self.cache then return end
  local pk, sk = M.cache_key(search_type, value)
  if not pk then return end -- empty value: never cached
  local now = self.now()
  local body
  if place then
    local copy = {}
    for k, v in pairs(place) do
      if k ~= "cached" then copy[k] = v end
    end
    copy.types = json.array(copy.types or {})
    body = copy
  else
    body = { status = "NO_RESULTS", message = "No results found" }
  end
  local row = {
    search_type = search_type, search_value = value, pk = pk, sk = sk,
    place_id = place and place.place_id or "NO_RESULTS",
    places_response = json.encode(body),
    last_updated = iso(now), query_count = 0,
    time_to_live = math.floor(now + self.ttl_s),
  }
  if search_type == "ADDRESS" then
    row.normalized_value = M.normalize_address(value)
    row.value_hash = sk:sub(7, 14)
  end
  local ok, err = pcall(self.cache.put, row)
  if not ok then
    self.log("warn", "places: cache write failed", { search_type = search_type, error = tostring(err) })
  end
end

-- ------------------------------------------------------------------ calls --

-- Place Details of place_id -> place | nil (not found) | nil, msg, errname
function P:hydrate(place_id)
  if type(place_id) ~= "string" or place_id == "" then return nil end
  local r, err, ename = self.client:details(place_id)
  if not r then return nil, err, ename end
  if not r.found then return nil end
  local p = r.places[1]
  p.place_id = p.place_id or place_id
  return p
end

-- Text Search, first result hydrated -> place | nil | nil, msg, errname
function P:text_then_details(query)
  local r, err, ename = self.client:text_search(query)
  if not r then return nil, err, ename end
  if not r.found or not r.places[1].place_id then return nil end
  local p
  p, err, ename = self:hydrate(r.places[1].place_id)
  if not p then return nil, err, ename end
  p.lookup = "text_search"
  return p
end

-- §5.4 with the fixes listed above.
function P:phone(phone)
  if type(phone) ~= "string" then return nil end
  local clean = phone:gsub("[^%d()+%-]", "")
  if clean == "" then return nil end
  local digits = clean:gsub("%D", "")
  if #digits < 10 or #digits > 15 then return nil end

  local hit = self:cache_read("PHONE", digits)
  if hit then return hit.place end

  local r, err, ename = self.client:find_place(M.api_phone(clean, digits), "phonenumber", api.PHONE_FIELDS)
  if not r then return nil, err, ename end
  local details
  if r.found then
    details, err, ename = self:hydrate(r.places[1].place_id)
    if err then return nil, err, ename end
    if details and has_type(details, "establishment") then
      details.lookup = "phone"
      self:cache_write("PHONE", digits, details)
      return details
    end
  end
  -- not an establishment, or nothing: the text fallback (§5.4 step 8), hydrated
  local t
  t, err, ename = self:text_then_details(clean)
  if err then return nil, err, ename end
  local best = t or details
  if best then
    best.lookup = best.lookup or "phone"
    self:cache_write("PHONE", digits, best)
    return best
  end
  self:cache_write("PHONE", digits, nil)
  return nil
end

-- Find Place (textquery) of an address, first candidate hydrated.
-- -> place | nil | nil, msg, errname
function P:find_address(address)
  local r, err, ename = self.client:find_place(address, "textquery", api.ADDRESS_FIELDS)
  if not r then return nil, err, ename end
  if not r.found then return nil end
  local c = r.places[1]
  if only_route(c) then return nil end -- a street, not a merchant
  local p
  p, err, ename = self:hydrate(c.place_id)
  if not p then return nil, err, ename end
  p.lookup = "address"
  return p
end

-- §5.5 with the fixes listed above.
function P:address(address, words)
  if type(address) ~= "string" then return nil end
  address = trim(address)
  if address == "" or M.is_area(address) then return nil end
  local queries = {}
  local word = M.business_word(words)
  if word then queries[#queries + 1] = { text = true, value = word .. " " .. address } end
  queries[#queries + 1] = { value = address }
  for _, q in ipairs(queries) do
    local hit = self:cache_read("ADDRESS", q.value)
    if hit and hit.place and not only_route(hit.place) then return hit.place end
    if not hit then
      local p, err, ename
      if q.text then p, err, ename = self:text_then_details(q.value)
      else p, err, ename = self:find_address(q.value) end
      if err then return nil, err, ename end
      if p and not only_route(p) then
        -- §5.7: an ADDRESS answer is cached only when it is a street address
        if (p.formatted_address or ""):find("^%d") then self:cache_write("ADDRESS", q.value, p) end
        return p
      end
      self:cache_write("ADDRESS", q.value, nil)
    end
  end
  return nil
end

-- ------------------------------------------------------------- from_env --

function M.from_env(cache, getenv)
  getenv = getenv or os.getenv
  local function env(name)
    local v = getenv(name)
    if v == nil or v == "" then return nil end
    return v
  end
  local key = env("GOOGLE_PLACES_API_KEY") or env("RCPT_PLACES_API_KEY")
  if not key then return nil end
  require("rcpt.log").add_secret(key)
  local timeout = env("RCPT_PLACES_TIMEOUT_MS")
  local t = timeout and math.tointeger(tonumber(timeout))
  if timeout and (not t or t < 1) then
    return nil, "RCPT_PLACES_TIMEOUT_MS: must be a positive integer", "EINVAL"
  end
  local client, err, ename = api.client{ api_key = key, base_url = env("RCPT_PLACES_BASE_URL"), timeout_ms = t }
  if not client then return nil, err, ename end
  return M.new{ client = client, cache = cache }
end

return M
