-- The pipeline runner.  A pipeline is data (lua/pipelines/<name>.lua): named
-- stages, each a list of step names; a step is lua/rcpt/steps/<name>.lua
-- returning `function(ctx) ... end`.  Steps never call each other: the runner
-- calls them in order with one context table.  A step ends the stage early by
-- setting ctx.done = "reason"; it fails by raising (a string or a table
-- {msg=, field=, type=}).
--
-- Which pipeline runs is a setting (RCPT_PIPELINE, default "default"); an
-- operator edits a copy under RCPT_LUA_PATH / --lua, no rebuild.
local log = require("rcpt.log")
local testhook = require("rcpt.testhook")

local M = {}

function M.name()
  local n = os.getenv("RCPT_PIPELINE")
  if n == nil or n == "" then n = "default" end
  return n
end

local cache = {}
function M.load(name)
  name = name or M.name()
  if not name:match("^[%w_%-]+$") then
    error({ msg = "RCPT_PIPELINE: not a pipeline name: " .. name, type = "Config" })
  end
  if not cache[name] then
    local ok, p = pcall(require, "pipelines." .. name)
    if not ok then
      error({ msg = "RCPT_PIPELINE: cannot load pipeline '" .. name .. "': " .. tostring(p), type = "Config" })
    end
    if type(p) ~= "table" then
      error({ msg = "pipeline '" .. name .. "' must return a table of stages", type = "Config" })
    end
    cache[name] = p
  end
  return cache[name]
end

local function step_fn(name)
  if type(name) == "function" then return name, "<function>" end
  local ok, f = pcall(require, "rcpt.steps." .. name)
  if not ok then error({ msg = "step '" .. name .. "' cannot be loaded: " .. tostring(f), type = "Config" }) end
  if type(f) ~= "function" then error({ msg = "step '" .. name .. "' must return a function", type = "Config" }) end
  return f, name
end

-- Run one stage of a pipeline over ctx.  Returns ctx.  Errors propagate with
-- the step name added.
function M.run_stage(pipeline, stage, ctx)
  local steps = pipeline[stage]
  if steps == nil then return ctx end
  ctx.timings = ctx.timings or {}
  for _, s in ipairs(steps) do
    if ctx.done then break end
    local f, name = step_fn(s)
    local t0 = log.now_ms()
    testhook.point("step:" .. name)
    local ok, err = pcall(f, ctx)
    if ok then testhook.point("step:" .. name .. ":done") end
    local dt = log.now_ms() - t0
    ctx.timings[#ctx.timings + 1] = { step = name, ms = dt }
    log.debug("step", { step = name, stage = stage, image_id = ctx.image_id, job_id = ctx.job_id,
      duration_ms = dt, ok = ok })
    if not ok then
      if type(err) == "table" then
        err.step = err.step or name
        error(err, 0)
      end
      error({ msg = tostring(err), step = name }, 0)
    end
  end
  return ctx
end

-- A readable message for an error raised by a step.
function M.message(err)
  if type(err) == "table" then
    local m = err.msg or err.message or "error"
    if err.field then m = err.field .. ": " .. m end
    if err.step then m = m .. " (step " .. err.step .. ")" end
    return m
  end
  return tostring(err)
end

return M
