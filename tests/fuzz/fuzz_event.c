/* fuzz_event: the event classification of the Lambda handler
 * (lua/rcpt/handler.lua, handler.classify) on arbitrary bytes, in one Lua
 * state made like the host's (bindings/host/state.c: every rcpt.* module
 * preloaded, the lua/ sources compiled in) with no store opened.
 *
 * The input is an event's JSON text.  Text that rcpt.json refuses is only a
 * JSON test; a decoded event must be classified (SQS records with a kind or
 * a per-record error; DynamoDB stream records) or refused with the
 * handler's structured error {type = "InvalidEvent", msg = string}.  Any
 * other Lua error (an "attempt to index a nil value" in the handler, say)
 * is a crash.  When rcpt.compaction_events is present, each stream record
 * and each compaction message also goes through its units_from_record /
 * units_from_message, which must return or raise {type =, msg =}. */
#include <lauxlib.h>
#include <lua.h>

#include "fuzz_util.h"
#include "host/host.h"

static const char driver[] =
    "local handler = require('rcpt.handler')\n"
    "local json = require('rcpt.json')\n"
    "local has_ce, ce = pcall(require, 'rcpt.compaction_events')\n"
    "if not has_ce then ce = nil end\n"
    "local function clean(ok, e, what)\n"
    "  if ok then return end\n"
    "  if type(e) == 'table' and type(e.type) == 'string' and type(e.msg) == 'string' then return end\n"
    "  error(what .. ' raised an unstructured error: ' .. tostring(e), 0)\n"
    "end\n"
    "local function check_plan(event, plan)\n"
    "  assert(type(plan) == 'table', 'plan is not a table')\n"
    "  assert(plan.kind == 'sqs' or plan.kind == 'dynamodb_stream', 'plan.kind ' .. tostring(plan.kind))\n"
    "  assert(type(plan.records) == 'table', 'plan.records')\n"
    "  local n = 0\n"
    "  for _ in ipairs(event.Records) do n = n + 1 end\n"
    "  assert(#plan.records == n, 'records: ' .. #plan.records .. ' of ' .. n)\n"
    "  for i, r in ipairs(plan.records) do\n"
    "    assert(r.id ~= nil, 'record ' .. i .. ' without an id')\n"
    "    if plan.kind == 'sqs' then\n"
    "      assert((r.kind ~= nil) ~= (r.error ~= nil), 'record ' .. i .. ': kind xor error')\n"
    "      if r.error then assert(type(r.error) == 'string' and #r.error > 0, 'error message') end\n"
    "      if r.kind then\n"
    "        assert(type(r.body) == 'table', 'classified body is not a table')\n"
    "        if ce and r.kind.name == 'compaction' and ce.units_from_message then\n"
    "          local ok, e = pcall(ce.units_from_message, r.record, r.body)\n"
    "          clean(ok, e, 'units_from_message')\n"
    "        end\n"
    "      end\n"
    "    elseif ce and ce.units_from_record and type(r.record) == 'table' then\n"
    "      local ok, e = pcall(ce.units_from_record, r.record)\n"
    "      clean(ok, e, 'units_from_record')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return function(text)\n"
    "  local event = json.decode(text)\n"
    "  if event == nil then return 'not json' end\n"
    "  local ok, plan = pcall(handler.classify, event)\n"
    "  if not ok then\n"
    "    if type(plan) == 'table' and plan.type == 'InvalidEvent' and type(plan.msg) == 'string' then\n"
    "      return 'invalid'\n"
    "    end\n"
    "    error('handler.classify raised an unstructured error: ' .. tostring(plan), 0)\n"
    "  end\n"
    "  check_plan(event, plan)\n"
    "  return plan.kind\n"
    "end\n";

static lua_State *L;
static int fn_ref;

static void setup(void)
{
    char msg[512];
    L = rcpt_host_newstate(NULL, msg, sizeof msg);
    FUZZ_CHECK(L != NULL, "%s", msg);
    if (luaL_loadbufferx(L, driver, sizeof driver - 1, "=fuzz_event", "t") != LUA_OK ||
        rcpt_host_pcall(L, 0, 1) != LUA_OK)
        FUZZ_CHECK(0, "driver: %s", lua_tostring(L, -1));
    fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L)
        setup();
    lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (rcpt_host_pcall(L, 1, 1) != LUA_OK)
        FUZZ_CHECK(0, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)");
    lua_pop(L, 1);
    /* keep the heap from growing between inputs: a leak in a binding shows
     * as RSS growth (libFuzzer's -rss_limit_mb) instead of hiding in garbage */
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
