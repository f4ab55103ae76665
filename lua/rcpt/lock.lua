-- The compaction lock (spec §9), a CompactionLock item in the entity store.
--
--   local lock = require("rcpt.lock")
--   local l = lock.acquire(env, "lines")      -> handle | nil, "busy" (held by someone else)
--   l:heartbeat()                             -> true | nil, msg  (extends expiry; only if still ours)
--   l:validate()                              -> true | nil, msg  (exists, ours, not expired)
--   l:release()                               -> true | nil, msg  (delete, only if ours)
--   l:maybe_heartbeat()                       -> heartbeat when HEARTBEAT seconds have passed
--
-- Lock id `chroma-<coll>-update` (the original's), so one lock per collection.
-- Acquire is a put conditioned on `lock_free` (absent, or expires < now); the
-- owner is a fresh uuid4 per acquisition.  Unlike the original, the heartbeat
-- is a re-put conditioned on the OWNER, so a process that lost its lock (it
-- expired and someone else took it) can never extend the new holder's lock,
-- and learns that it lost it.  There are no threads in Lua: the compactor
-- calls maybe_heartbeat() between work units and validate() before it moves
-- the pointer.
--
-- Settings (environment): LOCK_DURATION_MINUTES (default 3; fractions allowed),
-- RCPT_LOCK_DURATION_S (seconds, wins when set: tests use short locks),
-- HEARTBEAT_INTERVAL_SECONDS (default 30).
-- Expiry timestamps are ISO UTC with microseconds and a fixed "+00:00", so
-- the string comparison of the condition is a time comparison.
local store = require("rcpt.store")

local M = {}
M.__index = M

function M.lock_id(coll) return "chroma-" .. coll .. "-update" end

function M.settings(getenv)
  getenv = getenv or os.getenv
  local dur = tonumber(getenv("RCPT_LOCK_DURATION_S") or "")
  if not dur then dur = (tonumber(getenv("LOCK_DURATION_MINUTES") or "") or 3) * 60 end
  local hb = tonumber(getenv("HEARTBEAT_INTERVAL_SECONDS") or "") or 30
  if hb > dur / 2 then hb = dur / 2 end
  return { duration_s = dur, heartbeat_s = hb }
end

-- wall clock with sub-second precision, from the store's ISO clock
local function now_s()
  local iso = store.now(true)
  local y, mo, d, h, mi, s, frac = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)")
  local t = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(s), isdst = false })
  -- os.time reads the table as local time: correct by the offset of the epoch
  local off = os.time(os.date("!*t", 0))
  t = t - off
  return t + (frac ~= "" and tonumber("0." .. frac) or 0)
end
M.now_s = now_s

local function iso(t)
  local whole = math.floor(t)
  local us = math.floor((t - whole) * 1e6)
  return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. string.format(".%06d+00:00", us)
end
M.iso = iso

function M.acquire(env, coll, opts)
  opts = opts or {}
  local set = opts.settings or M.settings()
  local owner = store.uuid4()
  local t = now_s()
  local item = { lock_id = M.lock_id(coll), collection = coll, owner = owner,
    expires = iso(t + set.duration_s), heartbeat = iso(t) }
  local ok, msg, errname = env.store:put("COMPACTION_LOCK", item, { condition = "lock_free", now = iso(t) })
  if not ok then
    if errname == "ECONFLICT" then return nil, "busy" end
    return nil, "lock " .. item.lock_id .. ": " .. tostring(msg)
  end
  return setmetatable({ env = env, coll = coll, owner = owner, id = item.lock_id, settings = set,
    last_beat = t, expires = t + set.duration_s, held = true }, M)
end

function M:keys() return { lock_id = self.id, collection = self.coll } end

function M:heartbeat()
  if not self.held then return nil, "lock " .. self.id .. ": not held" end
  local t = now_s()
  -- a full re-put (so GSI1SK = EXPIRES#… follows), conditioned on the owner
  local ok, msg, errname = self.env.store:put("COMPACTION_LOCK", { lock_id = self.id, collection = self.coll,
    owner = self.owner, expires = iso(t + self.settings.duration_s), heartbeat = iso(t) },
    { condition = "owner", owner = self.owner })
  if not ok then
    if errname == "ECONFLICT" or errname == "ENOTFOUND" then
      self.held = false
      return nil, "lock " .. self.id .. ": lost (taken over or removed)"
    end
    return nil, "lock " .. self.id .. ": heartbeat: " .. tostring(msg)
  end
  self.last_beat, self.expires = t, t + self.settings.duration_s
  return true
end

-- Between work units: a heartbeat when the interval has passed.  A lock whose
-- expiry passed is not given up by itself: the owner-conditioned heartbeat
-- either extends it (nobody took it over) or reports it lost.
function M:maybe_heartbeat()
  if not self.held then return nil, "lock " .. self.id .. ": not held" end
  local t = now_s()
  if t - self.last_beat >= self.settings.heartbeat_s or t >= self.expires then return self:heartbeat() end
  return true
end

function M:validate()
  if not self.held then return nil, "lock " .. self.id .. ": not held" end
  local it, msg = self.env.store:get("COMPACTION_LOCK", self:keys())
  if not it then return nil, "lock " .. self.id .. ": " .. tostring(msg) end
  if it.owner ~= self.owner then return nil, "lock " .. self.id .. ": owned by another process" end
  if it.expires <= iso(now_s()) then return nil, "lock " .. self.id .. ": expired" end
  return true
end

function M:release()
  if not self.held then return true end
  self.held = false
  local ok, msg, errname = self.env.store:delete("COMPACTION_LOCK", self:keys(),
    { condition = "owner", owner = self.owner })
  if not ok and errname ~= "ECONFLICT" and errname ~= "ENOTFOUND" then
    return nil, "lock " .. self.id .. ": release: " .. tostring(msg)
  end
  return true
end

M.__close = function(self) self:release() end

return M
