-- rcpt vec: look at the published vector snapshots.
local config = require("rcpt.config")

return {
  summary = "query or describe the published vector snapshots",
  usage = "rcpt vec query COLL (TEXT | --vector FILE) [-k N] [--where JSON]\n       rcpt vec stats COLL",
  help = [[COLL is lines or words.

  query   exact top-k by cosine similarity over the latest snapshot.  TEXT is
          embedded with the local embedder at the snapshot's dimension; --vector
          FILE is dim float32 (little-endian) or a JSON array of numbers.
          -k N (10), --where '{"merchant_name":"Vons"}' (also $ne, $in).
          Prints rank, score, id, document and key metadata.
  stats   version, count, dimension, size, checksum, created_at, the kept
          versions and the pending runs / metadata changes.

  --store URL, --objects URL as for `rcpt compact`.  The downloaded snapshot is
  cached under $RCPT_VEC_CACHE (default $TMPDIR/rcpt-vec-cache) per version.]],
  run = function(args)
    local opts, pos = config.parse(args, { store = "value", objects = "value", vector = "value",
      k = "value", where = "value", json = "flag" })
    if not opts then
      io.stderr:write("rcpt vec: ", pos, "\n")
      return 2
    end
    local sub, coll = pos[1], pos[2]
    if (sub ~= "query" and sub ~= "stats") or (coll ~= "lines" and coll ~= "words") then
      io.stderr:write("usage: rcpt vec query COLL (TEXT | --vector FILE) [-k N] [--where JSON]\n",
        "       rcpt vec stats COLL      (COLL: lines or words)\n")
      return 2
    end
    local json = require("rcpt.json")
    local dv = require("rcpt.debug_vec").lib
    local ok, env = pcall(require("rcpt.env").open, { store = opts.store, objects = opts.objects })
    if not ok then
      io.stderr:write("rcpt vec: ", type(env) == "table" and env.msg or tostring(env), "\n")
      return 1
    end
    local rok, err = pcall(function()
      if sub == "stats" then
        local t = dv.stats(env, coll)
        io.stdout:write(opts.json and (json.encode(t) .. "\n") or dv.format_stats(t))
        return
      end
      local text = table.concat(pos, " ", 3)
      if (text == "") == (opts.vector == nil) then
        error({ msg = "give either TEXT or --vector FILE" }, 0)
      end
      local where
      if opts.where then
        local w, jerr = json.decode(opts.where)
        if type(w) ~= "table" then error({ msg = "--where: " .. tostring(jerr or "must be a JSON object") }, 0) end
        where = w
      end
      local k = tonumber(opts.k or "10")
      if not k or k < 1 or k ~= math.floor(k) then error({ msg = "-k: must be a positive integer" }, 0) end
      local q, is_text = text, true
      if opts.vector then
        local c = dv.open(env, coll)
        if not c then error({ msg = coll .. ": no snapshot published yet" }, 0) end
        q, is_text = dv.read_vector(opts.vector, c:dim()), false
      end
      local hits = dv.query(env, coll, q, { k = math.tointeger(k), where = where, text = is_text })
      io.stdout:write(dv.format_hits(hits))
    end)
    env:close()
    if not rok then
      io.stderr:write("rcpt vec: ", type(err) == "table" and (err.msg or err.type) or tostring(err), "\n")
      return 1
    end
    return 0
  end,
}
