/* The rcpt host: one Lua state with the rcpt modules, the module searchers and
 * the commands that must be C (the REPL, the Lambda Runtime API loop). */
#ifndef RCPT_HOST_H
#define RCPT_HOST_H

#include <lua.h>

/* Create a Lua state with the standard libraries, every rcpt.* C module in
 * package.preload, and the searchers: preload, then the override folders
 * (lua_dirs, ':'-separated, may be NULL), then the embedded sources, then
 * Lua's own path and cpath.  Returns NULL and writes a message on failure. */
lua_State *rcpt_host_newstate(const char *lua_dirs, char *msg, size_t msgcap);

/* Call the function on top of the stack with a traceback handler;
 * returns the lua_pcall status and leaves results or the message. */
int rcpt_host_pcall(lua_State *L, int nargs, int nresults);

/* luaopen_rcpt_host: the host's own module (repl, version, ...). */
int luaopen_rcpt_host(lua_State *L);

/* The Lambda Runtime API loop (host/lambda.c), a lua_CFunction:
 * rcpt.host.lambda_loop{max_invocations=, deadline_margin_ms=, handler=,
 * runtime_api=} -> exit code. */
int rcpt_host_lambda_loop(lua_State *L);

/* Inside a Lambda invocation: the milliseconds left before the handler is
 * stopped (deadline minus the margin, >= 0) in *ms, returns 1; outside an
 * invocation or without a deadline returns 0.  C code that blocks (HTTP
 * clients) caps its timeouts with it: the deadline hook cannot stop C. */
int rcpt_host_remaining_ms(lua_State *L, long long *ms);

/* Interactive loop (host/repl.c). */
int rcpt_host_repl(lua_State *L);

#endif
