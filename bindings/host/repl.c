/* The interactive loop of `rcpt repl`: readline with history; a line is first
 * tried as an expression ("return LINE"), then as a statement; an incomplete
 * chunk asks for more lines, as the stand-alone lua does. */
#include "host.h"

#include <lauxlib.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

static void print_results(lua_State *L, int base)
{
    int n = lua_gettop(L) - base;
    if (n <= 0)
        return;
    /* use the environment's `show` (lua/rcpt/repl.lua pretty-prints tables) */
    lua_getglobal(L, "show");
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        lua_getglobal(L, "print");
    }
    lua_insert(L, base + 1);
    if (rcpt_host_pcall(L, n, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

int rcpt_host_repl(lua_State *L)
{
    const char *home = getenv("HOME");
    char hist[1024] = "";
    if (home) {
        snprintf(hist, sizeof hist, "%s/.rcpt_history", home);
        read_history(hist);
    }
    char *chunk = NULL;
    size_t chunklen = 0;
    for (;;) {
        char *line = readline(chunk ? ">> " : "rcpt> ");
        if (!line)
            break;
        size_t n = strlen(line);
        char *p = realloc(chunk, chunklen + n + 2);
        if (!p) {
            free(line);
            break;
        }
        chunk = p;
        if (chunklen)
            chunk[chunklen++] = '\n';
        memcpy(chunk + chunklen, line, n + 1);
        chunklen += n;
        free(line);

        int base = lua_gettop(L);
        lua_pushfstring(L, "return %s", chunk);
        int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=repl");
        lua_remove(L, -2);
        if (status != LUA_OK) {
            lua_pop(L, 1);
            status = luaL_loadbuffer(L, chunk, chunklen, "=repl");
            if (incomplete(L, status))
                continue;
        }
        if (chunklen)
            add_history(chunk);
        if (status == LUA_OK)
            status = rcpt_host_pcall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) {
            print_results(L, base);
        } else {
            fprintf(stderr, "%s\n", lua_tostring(L, -1));
        }
        lua_settop(L, base);
        free(chunk);
        chunk = NULL;
        chunklen = 0;
    }
    free(chunk);
    if (hist[0])
        write_history(hist);
    putchar('\n');
    return 0;
}
