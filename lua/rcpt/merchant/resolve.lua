-- Merchant resolution flow (spec §4), with every outside service injected:
--
--   resolve(ctx, deps[, opts]) -> {best, candidates, metadata, source, notes}
--
-- ctx   rcpt.merchant.context.build(lines, words)
-- deps  {
--   query_lines = function(query, qopts) -> hits
--     query: a vector (array of numbers) when deps.embed is given, else the
--       query text (a store that embeds itself).
--     qopts: {k = 8, exclude = {image_id =, receipt_id =},
--             where = {["$not"] = {image_id =, receipt_id =}},
--             exclude_id_prefix = "IMAGE#<id>#RECEIPT#00001#"}
--       The store must leave out the vectors of this receipt (any of the
--       three forms is the same request); we also drop them here, so a store
--       that ignores the filter only costs recall, never a self-match.
--     hits: {ids = {...}, scores = {...}, metadatas = {...}} (parallel
--       arrays) or a list of {id =, score =, metadata =}; score = COSINE
--       similarity (see rcpt.merchant.decide); best first.
--   query_lines_many = function(queries, qopts) -> {hits, ...}   (optional)
--     all queries at once (one pass over the store), same qopts and hits
--   embed = function(texts) -> vectors            (optional; called once,
--     with the street queries then the phone queries)
--   places = {search_by_phone = fn(phone10), search_by_address = fn(address, words)}
--     or nil (no key).  Each returns a place table {place_id, name,
--     formatted_address, formatted_phone_number, types[, lookup]} or nil
--     (not found), or nil, message on failure; raising is a failure too.
--   neighbor_anchors = function(image_id, receipt_id) -> {phone =, address =}
--     (optional: for neighbours whose vectors lack anchors)
--   log = function(level, msg, fields)             (optional)
-- }
-- opts  {k = 8, places_cosine_threshold = 0.75, street_queries = 3,
--        phone_queries = 2, places_phones = 2, min_fields_for_match, ...}
--
-- Failures of a service never raise out of here: they are logged, noted in
-- result.notes and resolution falls through (vector -> Places -> the
-- header guess, validated_by INFERENCE).
local C = require("rcpt.merchant.context")
local D = require("rcpt.merchant.decide")

local M = {}

local INVALID_PLACE = { [""] = true, null = true, NO_RESULTS = true, INVALID = true }

local function norm_hits(res)
  local out = {}
  if type(res) ~= "table" then return out end
  if res.ids then
    for i, id in ipairs(res.ids) do
      out[#out + 1] = { id = id, score = (res.scores or res.similarities or {})[i],
        metadata = (res.metadatas or {})[i] or {} }
    end
  else
    for _, h in ipairs(res) do
      out[#out + 1] = { id = h.id, score = h.score, metadata = h.metadata or {} }
    end
  end
  return out
end

local function same_receipt(meta, ctx)
  return meta.image_id == ctx.image_id and tonumber(meta.receipt_id) == tonumber(ctx.receipt_id)
end

-- Street queries: the text of lines holding the address (tagged or found
-- by pattern), at most n; else the address itself.  Phone queries: the
-- text of lines holding a phone, at most n; no fallback.
function M.queries(ctx, opts)
  opts = opts or {}
  local street, phone = {}, {}
  for _, t in ipairs(ctx.address_lines or {}) do
    if #street < (opts.street_queries or 3) and t ~= "" then street[#street + 1] = t end
  end
  if #street == 0 and (ctx.address or "") ~= "" then street[1] = ctx.address end
  for _, t in ipairs(ctx.phone_lines or {}) do
    if #phone < (opts.phone_queries or 2) and t ~= "" then phone[#phone + 1] = t end
  end
  return street, phone
end

function M.resolve(ctx, deps, opts)
  deps, opts = deps or {}, opts or {}
  local notes = {}
  local function log(level, msg, fields)
    notes[#notes + 1] = msg
    if deps.log then pcall(deps.log, level, msg, fields or {}) end
  end
  local rid = math.tointeger(tonumber(ctx.receipt_id)) or 0
  local qopts = {
    k = opts.k or 8,
    exclude = { image_id = ctx.image_id, receipt_id = rid },
    where = { ["$not"] = { image_id = ctx.image_id, receipt_id = rid } },
    exclude_id_prefix = string.format("IMAGE#%s#RECEIPT#%05d#", tostring(ctx.image_id), rid),
  }

  -- 1. vector candidates
  local vectors = {}
  local street, phone = M.queries(ctx, opts)
  local anchor_cache = {}
  local function extra_for(meta)
    if not deps.neighbor_anchors then return nil end
    local key = tostring(meta.image_id) .. "#" .. tostring(meta.receipt_id)
    if anchor_cache[key] == nil then
      local ok, a = pcall(deps.neighbor_anchors, meta.image_id, tonumber(meta.receipt_id))
      anchor_cache[key] = ok and type(a) == "table" and a or false
    end
    return anchor_cache[key] or nil
  end
  -- every query text embedded in one call, and searched in one pass when
  -- the store can (deps.query_lines_many); candidates keep the spec's
  -- order: street queries, then phone queries, each by hit rank
  local texts, reasons = {}, {}
  for _, t in ipairs(street) do texts[#texts + 1], reasons[#texts + 1] = t, "street-first" end
  for _, t in ipairs(phone) do texts[#texts + 1], reasons[#texts + 1] = t, "phone-first" end
  local qs = texts
  if #texts > 0 and deps.query_lines and deps.embed then
    local ok, vecs = pcall(deps.embed, texts)
    if not ok or type(vecs) ~= "table" or #vecs ~= #texts then
      log("warn", "merchant: embedding the " .. (#phone > 0 and #street > 0 and "street-first and phone-first"
        or #street > 0 and "street-first" or "phone-first") .. " queries failed: " .. tostring(ok and "bad result" or vecs))
      qs = {}
    else
      qs = vecs
    end
  end
  local results = {}
  if #qs > 0 and deps.query_lines then
    local ok, res, err
    if deps.query_lines_many then
      ok, res, err = pcall(deps.query_lines_many, qs, qopts)
      if not ok or res == nil then
        log("warn", "merchant: vector query failed: " .. tostring(ok and err or res))
        res = {}
      end
      results = res
    else
      for qi, q in ipairs(qs) do
        ok, res, err = pcall(deps.query_lines, q, qopts)
        if not ok or res == nil then
          log("warn", "merchant: vector query failed: " .. tostring(ok and err or res))
        else
          results[qi] = res
        end
      end
    end
  end
  for qi = 1, #qs do
    local reason, query = reasons[qi], texts[qi]
    for _, h in ipairs(norm_hits(results[qi])) do
      local meta = h.metadata
      local prefix = qopts.exclude_id_prefix
      local own = same_receipt(meta, ctx) or (type(h.id) == "string" and h.id:sub(1, #prefix) == prefix)
      if not own then
        local accepted
        if reason == "street-first" then
          accepted = D.accept_street_first(query, meta, ctx)
          if not accepted and deps.neighbor_anchors then
            accepted = D.accept_street_first(query, meta, ctx, extra_for(meta))
          end
        else
          accepted = D.accept_phone_first(query, meta, ctx, nil, C.extract_phones)
          if not accepted and deps.neighbor_anchors then
            accepted = D.accept_phone_first(query, meta, ctx, extra_for(meta), C.extract_phones)
          end
        end
        if accepted then
          local nphone, naddr = D.neighbor_anchors(meta, extra_for(meta) or nil)
          vectors[#vectors + 1] = {
            source = "vector", reason = reason, id = h.id, query = query,
            neighbor = { image_id = meta.image_id, receipt_id = tonumber(meta.receipt_id) },
            address = naddr, phone = nphone, cosine = tonumber(h.score) or 0,
            merchant_name = meta.merchant_name or "", place_id = meta.place_id or "",
          }
        end
      end
    end
  end

  local best_cos
  for _, c in ipairs(vectors) do
    if not best_cos or c.cosine > best_cos then best_cos = c.cosine end
  end

  -- 2. Places, only when the vector store is not convincing
  local places = {}
  local threshold = opts.places_cosine_threshold or D.PLACES_COSINE_THRESHOLD
  if best_cos == nil or best_cos < threshold then
    if not deps.places then
      log("info", "merchant: Places not configured; skipped")
    else
      local function call(fname, reason, ...)
        local fn = deps.places[fname]
        if type(fn) ~= "function" then
          log("warn", "merchant: Places has no " .. fname)
          return
        end
        local ok, r, err = pcall(fn, ...)
        if not ok then
          log("warn", "merchant: Places " .. fname .. " raised: " .. tostring(r))
        elseif r == nil and err ~= nil then
          log("warn", "merchant: Places " .. fname .. " failed: " .. tostring(err))
        elseif type(r) == "table" and not INVALID_PLACE[tostring(r.place_id or "")] then
          places[#places + 1] = {
            source = "places", reason = reason, place_id = r.place_id, name = r.name or "",
            address = r.formatted_address or r.address or "",
            phone = r.formatted_phone_number or r.international_phone_number or r.phone or "",
            types = r.types or {}, lookup = r.lookup,
          }
        end
      end
      if (ctx.address or "") ~= "" then call("search_by_address", "address", ctx.address, ctx.words) end
      for i = 1, math.min(opts.places_phones or 2, #(ctx.phones or {})) do
        call("search_by_phone", "phone", ctx.phones[i])
      end
    end
  end

  -- 3. decide
  local best, all = D.choose(places, vectors, ctx)
  local why
  if not best and #notes > 0 then why = table.concat(notes, "; ") end
  local md = D.metadata(best, ctx, { why = why, min_fields_for_match = opts.min_fields_for_match,
    min_fields_for_unsure = opts.min_fields_for_unsure })
  local source = best and best.source or "inference"
  log("info", "merchant: resolved", { source = source, merchant_name = md.merchant_name,
    validation_status = md.validation_status, candidates = #all })
  return { best = best, candidates = all, metadata = md, source = source, notes = notes }
end

return M
