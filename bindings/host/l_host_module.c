/* rcpt.host: what the host offers Lua (the REPL, the list of compiled-in
 * modules, terminal checks, the Lambda loop and its remaining time). */
#include "embedded.h"
#include "host.h"

#include <lauxlib.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int host_repl(lua_State *L)
{
    lua_pushinteger(L, rcpt_host_repl(L));
    return 1;
}

static int host_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 2)));
    return 1;
}

/* modules() -> { "rcpt.cli", ... }: the Lua modules compiled into the binary */
static int host_modules(lua_State *L)
{
    lua_newtable(L);
    int i = 1;
    for (const rcpt_embedded_file *f = rcpt_embedded_lua; f->module; f++) {
        lua_pushstring(L, f->module);
        lua_rawseti(L, -2, i++);
    }
    return 1;
}

/* now_ms() -> milliseconds (float) on the monotonic clock, for durations */
static int host_now_ms(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec * 1000.0 + (lua_Number)ts.tv_nsec / 1e6);
    return 1;
}

/* remaining_ms() -> ms | nil: see rcpt_host_remaining_ms (host.h) */
static int host_remaining_ms(lua_State *L)
{
    long long ms;
    if (!rcpt_host_remaining_ms(L, &ms))
        return 0;
    lua_pushinteger(L, (lua_Integer)ms);
    return 1;
}

static const luaL_Reg host_funcs[] = {
    {"repl", host_repl},
    {"isatty", host_isatty},
    {"modules", host_modules},
    {"lambda_loop", rcpt_host_lambda_loop},
    {"remaining_ms", host_remaining_ms},
    {"now_ms", host_now_ms},
    {NULL, NULL},
};

int luaopen_rcpt_host(lua_State *L)
{
    luaL_newlib(L, host_funcs);
    lua_pushliteral(L, "0.1.0");
    lua_setfield(L, -2, "version");
    return 1;
}
