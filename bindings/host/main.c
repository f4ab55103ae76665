/* rcpt: the program.  Global options are read here (they must act before
 * any Lua runs); every command is Lua (lua/rcpt/cli.lua) except `rcpt lua`,
 * which runs a script like the stand-alone interpreter does (the test
 * runner uses it). */
#include "host.h"

#include <lauxlib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_script(lua_State *L, int argc, char **argv)
{
    /* argv[0] is the script; arg table as lua.c builds it */
    lua_createtable(L, argc, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    if (luaL_loadfile(L, argv[0]) != LUA_OK) {
        fprintf(stderr, "rcpt: %s\n", lua_tostring(L, -1));
        return 1;
    }
    for (int i = 1; i < argc; i++)
        lua_pushstring(L, argv[i]);
    if (rcpt_host_pcall(L, argc - 1, 0) != LUA_OK) {
        fprintf(stderr, "rcpt: %s\n", lua_tostring(L, -1));
        return 1;
    }
    return 0;
}

static int run_cli(lua_State *L, int argc, char **argv)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "rcpt.cli");
    if (rcpt_host_pcall(L, 1, 1) != LUA_OK) {
        fprintf(stderr, "rcpt: cannot load the command line: %s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    if (rcpt_host_pcall(L, 1, 1) != LUA_OK) {
        fprintf(stderr, "rcpt: %s\n", lua_tostring(L, -1));
        return 1;
    }
    return lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
}

/* A long-running rcpt (the Lambda loop, ingest --dir) parses one OCR
 * document after another.  With glibc's defaults a multi-MB parse arena is
 * mmap()ed and unmapped, or trimmed off the heap top, at every free, so the
 * next parse takes fresh pages from the kernel (zeroed, one fault each: half
 * the cold parse time).  Keep freed memory in the process instead: arenas up
 * to 32 MB (glibc's ceiling for this setting on 64-bit; about a 9 MB OCR
 * JSON) come from the heap and are reused, and up to 128 MB of free heap top
 * is kept.  The peak is unchanged; memory is just not handed back between
 * invocations. */
static void keep_freed_pages(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

int main(int argc, char **argv)
{
    keep_freed_pages();
    const char *lua_dirs = getenv("RCPT_LUA_PATH");
    char *joined = NULL;
    int i = 1;
    /* --lua DIR may be repeated; it goes before RCPT_LUA_PATH */
    while (i < argc && strcmp(argv[i], "--lua") == 0) {
        if (i + 1 >= argc) {
            fprintf(stderr, "rcpt: --lua needs a folder\n");
            return 2;
        }
        size_t n = strlen(argv[i + 1]) + 2 + (joined ? strlen(joined) : 0) +
                   (lua_dirs ? strlen(lua_dirs) : 0);
        char *p = malloc(n + 1);
        if (!p)
            return 1;
        snprintf(p, n + 1, "%s%s%s", joined ? joined : argv[i + 1],
                 joined ? ":" : "", joined ? argv[i + 1] : "");
        free(joined);
        joined = p;
        i += 2;
    }
    if (joined && lua_dirs && *lua_dirs) {
        size_t n = strlen(joined) + strlen(lua_dirs) + 2;
        char *p = malloc(n);
        if (!p)
            return 1;
        snprintf(p, n, "%s:%s", joined, lua_dirs);
        free(joined);
        joined = p;
    }
    char msg[512];
    lua_State *L = rcpt_host_newstate(joined ? joined : lua_dirs, msg, sizeof msg);
    if (!L) {
        fprintf(stderr, "rcpt: %s\n", msg);
        free(joined);
        return 1;
    }
    int rc;
    if (i < argc && strcmp(argv[i], "lua") == 0) {
        if (i + 1 >= argc) {
            fprintf(stderr, "usage: rcpt lua SCRIPT [ARGS...]\n");
            rc = 2;
        } else {
            rc = run_script(L, argc - i - 1, argv + i + 1);
        }
    } else {
        rc = run_cli(L, argc - i, argv + i);
    }
    lua_close(L);
    free(joined);
    return rc;
}
