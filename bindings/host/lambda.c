/* The AWS Lambda Runtime API loop (`rcpt lambda`), in C on libcurl.
 *
 * One process serves invocations one after the other:
 *   init: require "rcpt.json", load the handler named by _HANDLER ("main.handler":
 *         module main, function handler; found by the normal searchers, so
 *         --lua DIR / RCPT_LUA_PATH override the embedded lua/main.lua).  A
 *         failure is posted to /runtime/init/error and the loop returns 1.
 *   loop: GET /runtime/invocation/next (no timeout: it long-polls), decode
 *         the event with rcpt.json, call handler(event, context) in a fresh
 *         coroutine with a deadline hook, encode the result with rcpt.json
 *         and POST it to /invocation/{id}/response, or POST an error to
 *         /invocation/{id}/error.
 *
 * Every invocation handed to us is answered: a malformed event, a Lua error,
 * a timeout, a result JSON cannot hold and a response the API refuses all
 * become an error post; POSTs are retried with backoff on connection errors
 * and 5xx.  The event and result are JSON through rcpt.json (our own codec
 * in C, the one the rest of the Lua code uses); error bodies are written here
 * in C so that they can be sent even when Lua cannot produce anything.
 *
 * The deadline: the handler runs in its own coroutine with a count hook that
 * reads the monotonic clock every RT_HOOK_COUNT VM instructions and raises
 * once the time is within `deadline_margin_ms` of Lambda-Runtime-Deadline-Ms.
 * A Lua handler stuck in a loop is thereby stopped and reported as
 * Runtime.Timeout while the invocation can still be answered; the coroutine
 * is reset (its to-be-closed variables closed) and garbage collected, so the
 * state stays usable.  C code that blocks cannot be interrupted by a hook:
 * it should cap its waits with rcpt_host_remaining_ms() (Lua:
 * require("rcpt.host").remaining_ms()).
 *
 * No global state: the loop's handle is a userdata kept in the registry
 * under the address of a constant, where the hook and remaining_ms find it. */
#include "host.h"
#include "util/buf.h"
#include "util/err.h"

#include <curl/curl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RCPT_LAMBDA_MT "rcpt.host.lambda"
#define RT_API_VERSION "/2018-06-01/runtime"
#define RT_HOOK_COUNT 1000        /* VM instructions between two clock reads */
#define RT_DEFAULT_MARGIN_MS 500
#define RT_POST_ATTEMPTS 5        /* first try + 4 retries: 50, 100, 200, 400 ms */
#define RT_NEXT_ATTEMPTS 5
#define RT_POST_TIMEOUT_MS 30000L /* a POST to the local agent never takes this long */

/* uservalues of the handle */
enum { UV_DECODE = 1, UV_ENCODE, UV_HANDLER, UV_COUNT = UV_HANDLER };

/* The registry key: only its address matters. */
static const char rt_registry_key = 'L';

typedef struct lambda_rt {
    CURL *curl;                 /* NULL when closed */
    char url[512];              /* http://HOST:PORT/2018-06-01/runtime */
    long margin_ms;
    rcpt_buf body;              /* the body of the last answer */
    /* headers of the last /next */
    char request_id[256];
    char arn[512];
    char trace_id[1024];
    long long deadline_ms;      /* wall clock, ms since the epoch; -1 = none */
    rcpt_buf client_context;
    rcpt_buf identity;
    /* the running invocation */
    int in_handler;             /* the hook acts only while this is set */
    int timed_out;
    double stop_mono_ms;        /* monotonic time at which the handler is stopped; <0 = never */
    double t0_mono_ms;
    rcpt_buf out;               /* the body being posted */
    char err_type[128];         /* errorType of the last answer, "" after a response */
} lambda_rt;

/* ---- clocks -------------------------------------------------------------- */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- JSON text --------------------------------------------------------- */

/* Append s as a JSON string; invalid UTF-8 bytes become U+FFFD so that the
 * body stays valid JSON whatever bytes a Lua error message holds. */
static void json_str(rcpt_buf *b, const char *s, size_t n)
{
    rcpt_buf clean = RCPT_BUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && len == 2)
            ok = c >= 0xC2;                                            /* overlong */
        if (ok && len == 3)
            ok = !(c == 0xE0 && p[i + 1] < 0xA0) && !(c == 0xED && p[i + 1] >= 0xA0);
        if (ok && len == 4)
            ok = c <= 0xF4 && !(c == 0xF0 && p[i + 1] < 0x90) && !(c == 0xF4 && p[i + 1] >= 0x90);
        if (ok) {
            rcpt_buf_append(&clean, p + i, len);
            i += len;
        } else {
            rcpt_buf_puts(&clean, "\xEF\xBF\xBD");
            i++;
        }
    }
    rcpt_buf_json_str(b, clean.data ? clean.data : "", clean.len);
    rcpt_buf_free(&clean);
}

static void json_cstr(rcpt_buf *b, const char *s)
{
    json_str(b, s, strlen(s));
}

/* One JSON line per event on stderr.  request_id may be NULL or empty,
 * duration_ms < 0 leaves it out; extra is "key", "value" pairs ending with
 * NULL.  Nothing secret is ever passed here: no event body, no header
 * other than the request id. */
static void rt_log(const char *level, const char *msg, const char *request_id, double duration_ms,
                   ...)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_buf_puts(&b, "{\"level\":");
    json_cstr(&b, level);
    rcpt_buf_puts(&b, ",\"msg\":");
    json_cstr(&b, msg);
    if (request_id && *request_id) {
        rcpt_buf_puts(&b, ",\"request_id\":");
        json_cstr(&b, request_id);
    }
    if (duration_ms >= 0)
        rcpt_buf_printf(&b, ",\"duration_ms\":%.3f", duration_ms);
    va_list ap;
    va_start(ap, duration_ms);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        rcpt_buf_putc(&b, ',');
        json_cstr(&b, k);
        rcpt_buf_putc(&b, ':');
        json_cstr(&b, v ? v : "");
    }
    va_end(ap);
    rcpt_buf_puts(&b, "}\n");
    if (!b.oom)
        fwrite(b.data, 1, b.len, stderr);
    rcpt_buf_free(&b);
}

/* ---- HTTP ------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    lambda_rt *rt = ud;
    return rcpt_buf_append(&rt->body, p, size * n) == RCPT_OK ? size * n : 0;
}

static void copy_header(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int header_is(const char *line, size_t n, const char *name, const char **v, size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return 0;
    const char *s = line + k + 1, *e = line + n;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *v = s;
    *vn = (size_t)(e - s);
    return 1;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    lambda_rt *rt = ud;
    size_t len = size * n, vn;
    const char *v;
    if (header_is(line, len, "Lambda-Runtime-Aws-Request-Id", &v, &vn)) {
        copy_header(rt->request_id, sizeof rt->request_id, v, vn);
    } else if (header_is(line, len, "Lambda-Runtime-Deadline-Ms", &v, &vn)) {
        char tmp[32], *end;
        copy_header(tmp, sizeof tmp, v, vn);
        long long d = strtoll(tmp, &end, 10);
        rt->deadline_ms = (end != tmp && *end == '\0' && d > 0) ? d : -1;
    } else if (header_is(line, len, "Lambda-Runtime-Invoked-Function-Arn", &v, &vn)) {
        copy_header(rt->arn, sizeof rt->arn, v, vn);
    } else if (header_is(line, len, "Lambda-Runtime-Trace-Id", &v, &vn)) {
        copy_header(rt->trace_id, sizeof rt->trace_id, v, vn);
    } else if (header_is(line, len, "Lambda-Runtime-Client-Context", &v, &vn)) {
        rcpt_buf_reset(&rt->client_context);
        rcpt_buf_append(&rt->client_context, v, vn);
    } else if (header_is(line, len, "Lambda-Runtime-Cognito-Identity", &v, &vn)) {
        rcpt_buf_reset(&rt->identity);
        rcpt_buf_append(&rt->identity, v, vn);
    }
    return len;
}

/* One request on the kept-alive handle.  GET when post is NULL.  Returns 0
 * when an answer came (its status in *status, its body in rt->body), -1 on
 * a transport error (message in errbuf). */
static int rt_request(lambda_rt *rt, const char *path, const char *post, size_t postlen,
                      const char *error_type, long *status, char *errbuf)
{
    CURL *c = rt->curl;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", rt->url, path);
    struct curl_slist *hdrs = NULL, *h;
    /* no "Expect: 100-continue" round trip on larger bodies */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (post && hdrs)
        hdrs = (h = curl_slist_append(hdrs, "Content-Type: application/json")) ? h : NULL;
    if (error_type && hdrs) {
        char line[256];
        snprintf(line, sizeof line, "Lambda-Runtime-Function-Error-Type: %s", error_type);
        h = curl_slist_append(hdrs, line);
        if (!h)
            curl_slist_free_all(hdrs);
        hdrs = h;
    }
    if (!hdrs) {
        snprintf(errbuf, CURL_ERROR_SIZE, "out of memory");
        return -1;
    }
    rcpt_buf_reset(&rt->body);
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)postlen);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, RT_POST_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, NULL);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        /* /next long-polls until an event arrives: no timeout at all */
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 0L);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, rt);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        if (!errbuf[0])
            snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* POST with retries on transport errors and 5xx.  Returns the final HTTP
 * status, or -1 when no answer came at all. */
static long rt_post(lambda_rt *rt, const char *path, const rcpt_buf *body, const char *error_type,
                    const char *request_id)
{
    char errbuf[CURL_ERROR_SIZE];
    long status = -1, wait = 50;
    for (int attempt = 1; attempt <= RT_POST_ATTEMPTS; attempt++) {
        status = -1;
        int rc = rt_request(rt, path, body->data ? body->data : "", body->len, error_type, &status,
                            errbuf);
        if (rc == 0 && status < 500)
            return status;
        char what[CURL_ERROR_SIZE + 32], n[16];
        if (rc == 0)
            snprintf(what, sizeof what, "HTTP %ld", status);
        else
            snprintf(what, sizeof what, "%s", errbuf);
        snprintf(n, sizeof n, "%d", attempt);
        rt_log(attempt < RT_POST_ATTEMPTS ? "warn" : "error",
               attempt < RT_POST_ATTEMPTS ? "post failed, retrying" : "post failed, giving up",
               request_id, -1, "path", path, "error", what, "attempt", n, (char *)NULL);
        if (attempt < RT_POST_ATTEMPTS) {
            sleep_ms(wait);
            wait *= 2;
        }
    }
    return status;
}

/* {"errorMessage":..., "errorType":..., "stackTrace":[...]}; trace is the
 * text of luaL_traceback (its "stack traceback:" line is dropped) or NULL. */
static void error_body(rcpt_buf *b, const char *message, size_t mlen, const char *type,
                       const char *trace)
{
    rcpt_buf_reset(b);
    rcpt_buf_puts(b, "{\"errorMessage\":");
    json_str(b, message, mlen);
    rcpt_buf_puts(b, ",\"errorType\":");
    json_cstr(b, type);
    rcpt_buf_puts(b, ",\"stackTrace\":[");
    int first = 1;
    for (const char *p = trace; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (n && (*s == '\t' || *s == ' '))
            s++, n--;
        if (n && strncmp(s, "stack traceback:", n) != 0) {
            if (!first)
                rcpt_buf_putc(b, ',');
            json_str(b, s, n);
            first = 0;
        }
        p = e ? e + 1 : p + strlen(p);
    }
    rcpt_buf_puts(b, "]}");
}

/* ---- the handle ---------------------------------------------------------- */

static lambda_rt *check_lambda(lua_State *L, int i)
{
    return luaL_checkudata(L, i, RCPT_LAMBDA_MT);
}

static int lambda_release(lua_State *L)
{
    lambda_rt *rt = check_lambda(L, 1);
    if (rt->curl) {
        curl_easy_cleanup(rt->curl);
        rt->curl = NULL;
    }
    rt->in_handler = 0;
    rcpt_buf_free(&rt->body);
    rcpt_buf_free(&rt->out);
    rcpt_buf_free(&rt->client_context);
    rcpt_buf_free(&rt->identity);
    return 0;
}

static const luaL_Reg lambda_meta[] = {
    {"__gc", lambda_release},
    {"__close", lambda_release},
    {NULL, NULL},
};

/* The running loop's handle, or NULL outside `rcpt lambda`. */
static lambda_rt *current_rt(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &rt_registry_key);
    lambda_rt *rt = luaL_testudata(L, -1, RCPT_LAMBDA_MT);
    lua_pop(L, 1);
    return rt && rt->curl ? rt : NULL;
}

int rcpt_host_remaining_ms(lua_State *L, long long *ms)
{
    lambda_rt *rt = current_rt(L);
    if (!rt || !rt->in_handler || rt->stop_mono_ms < 0)
        return 0;
    double left = rt->stop_mono_ms - mono_ms();
    *ms = left > 0 ? (long long)left : 0;
    return 1;
}

static void deadline_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lambda_rt *rt = current_rt(L);
    if (!rt || !rt->in_handler || rt->stop_mono_ms < 0 || mono_ms() < rt->stop_mono_ms)
        return;
    rt->timed_out = 1;
    char m[128]; /* lua_pushfstring has no %.2f */
    snprintf(m, sizeof m, "Task timed out after %.2f seconds: stopped %ld ms before its deadline",
             (mono_ms() - rt->t0_mono_ms) / 1e3, rt->margin_ms);
    luaL_error(L, "%s", m);
}

/* context.get_remaining_time_in_millis(): Lambda's own meaning, the time
 * left to the deadline (not to the earlier stop); nil without a deadline. */
static int ctx_remaining(lua_State *L)
{
    lua_Integer d = lua_tointeger(L, lua_upvalueindex(1));
    if (d <= 0)
        return 0;
    long long left = (long long)d - wall_ms();
    lua_pushinteger(L, left > 0 ? left : 0);
    return 1;
}

static void set_env_field(lua_State *L, const char *field, const char *var)
{
    const char *v = getenv(var);
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, field);
    }
}

/* Decode a header holding JSON (client context, identity); left out when it
 * does not decode. */
static void set_json_field(lua_State *L, int rtidx, const char *field, const rcpt_buf *b)
{
    if (!b->len)
        return;
    lua_getiuservalue(L, rtidx, UV_DECODE);
    lua_pushlstring(L, b->data, b->len);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && !lua_isnil(L, -1))
        lua_setfield(L, -2, field);
    else
        lua_pop(L, 1);
}

static void push_context(lua_State *L, int rtidx, lambda_rt *rt)
{
    lua_createtable(L, 0, 14);
    lua_pushstring(L, rt->request_id);
    lua_setfield(L, -2, "aws_request_id");
    if (rt->deadline_ms > 0) {
        lua_pushinteger(L, (lua_Integer)rt->deadline_ms);
        lua_setfield(L, -2, "deadline_ms");
    }
    if (rt->arn[0]) {
        lua_pushstring(L, rt->arn);
        lua_setfield(L, -2, "invoked_function_arn");
    }
    if (rt->trace_id[0]) {
        lua_pushstring(L, rt->trace_id);
        lua_setfield(L, -2, "trace_id");
    }
    set_env_field(L, "function_name", "AWS_LAMBDA_FUNCTION_NAME");
    set_env_field(L, "function_version", "AWS_LAMBDA_FUNCTION_VERSION");
    set_env_field(L, "log_group_name", "AWS_LAMBDA_LOG_GROUP_NAME");
    set_env_field(L, "log_stream_name", "AWS_LAMBDA_LOG_STREAM_NAME");
    const char *mem = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    if (mem) {
        char *end;
        long long m = strtoll(mem, &end, 10);
        if (end != mem && *end == '\0') {
            lua_pushinteger(L, (lua_Integer)m);
            lua_setfield(L, -2, "memory_limit_in_mb");
        }
    }
    set_json_field(L, rtidx, "client_context", &rt->client_context);
    set_json_field(L, rtidx, "identity", &rt->identity);
    lua_pushinteger(L, (lua_Integer)(rt->deadline_ms > 0 ? rt->deadline_ms : 0));
    lua_pushcclosure(L, ctx_remaining, 1);
    lua_setfield(L, -2, "get_remaining_time_in_millis");
}

/* Run in protected mode on the error object: message and errorType.  A
 * table error gives its `message` (or errorMessage, msg) and `type` (or
 * errorType); anything else its tostring. */
static int describe_error(lua_State *L)
{
    lua_settop(L, 1);
    if (lua_type(L, 1) == LUA_TTABLE) {
        const char *fields[] = {"message", "errorMessage", "msg"};
        int found = 0;
        for (int i = 0; i < 3 && !found; i++) {
            if (lua_getfield(L, 1, fields[i]) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
                lua_tostring(L, -1);
                found = 1;
            } else {
                lua_pop(L, 1);
            }
        }
        if (!found)
            luaL_tolstring(L, 1, NULL);
        if (lua_getfield(L, 1, "type") != LUA_TSTRING) {
            lua_pop(L, 1);
            if (lua_getfield(L, 1, "errorType") != LUA_TSTRING) {
                lua_pop(L, 1);
                lua_pushnil(L);
            }
        }
        return 2;
    }
    if (lua_isstring(L, 1) || luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
        luaL_tolstring(L, 1, NULL);
    } else {
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_pushnil(L);
    return 2;
}

/* POST an error for the current invocation; the rest of the body is made
 * from the arguments. */
static void post_invocation_error(lambda_rt *rt, rcpt_buf *out, const char *message, size_t mlen,
                                  const char *type, const char *trace)
{
    char path[512];
    char *id = curl_easy_escape(rt->curl, rt->request_id, 0);
    snprintf(path, sizeof path, "/invocation/%s/error", id ? id : "");
    curl_free(id);
    error_body(out, message, mlen, type, trace);
    if (out->oom) {
        /* the message was too big for memory: send the type alone */
        rcpt_buf_reset(out);
        out->oom = 0;
        error_body(out, "out of memory writing the error", 31, type, NULL);
    }
    long st = rt_post(rt, path, out, type, rt->request_id);
    if (st < 200 || st > 299) {
        char s[16];
        snprintf(s, sizeof s, "%ld", st);
        rt_log("error", "error post refused", rt->request_id, -1, "status", s, (char *)NULL);
    }
}

/* Answer the invocation whose headers are in rt and body in rt->body.
 * Returns 0 when a response was posted, 1 when an error was (its type in
 * rt->err_type). */
static int invoke(lua_State *L, int rtidx, lambda_rt *rt)
{
    rcpt_buf *out = &rt->out;
    int top = lua_gettop(L);
    const char *type = NULL;
    char path[512];
    if (rt->trace_id[0])
        setenv("_X_AMZN_TRACE_ID", rt->trace_id, 1);
    else
        unsetenv("_X_AMZN_TRACE_ID");
    rt->t0_mono_ms = mono_ms();
    rt->stop_mono_ms = rt->deadline_ms > 0
                           ? rt->t0_mono_ms + (double)(rt->deadline_ms - wall_ms()) - (double)rt->margin_ms
                           : -1;

    /* 1. the event: decode(text) -> value | nil, message */
    lua_getiuservalue(L, rtidx, UV_DECODE);
    lua_pushlstring(L, rt->body.data ? rt->body.data : "", rt->body.len);
    int dst = lua_pcall(L, 1, 2, 0);
    if (dst != LUA_OK || (lua_isnil(L, -2) && !lua_isnil(L, -1))) {
        size_t n;
        const char *m = luaL_tolstring(L, dst == LUA_OK ? -1 : -2, &n);
        lua_pushfstring(L, "the event is not JSON: %s", m);
        m = lua_tolstring(L, -1, &n);
        type = "Runtime.MalformedEvent";
        post_invocation_error(rt, out, m, n, type, NULL);
        snprintf(rt->err_type, sizeof rt->err_type, "%s", type);
        lua_settop(L, top);
        return 1;
    }
    lua_pop(L, 1);
    int event = lua_gettop(L);

    /* 2. the handler, in its own coroutine with the deadline hook */
    lua_State *co = lua_newthread(L);
    int coidx = lua_gettop(L);
    lua_getiuservalue(L, rtidx, UV_HANDLER);
    lua_pushvalue(L, event);
    push_context(L, rtidx, rt);
    lua_xmove(L, co, 3);
    rt->timed_out = 0;
    rt->in_handler = 1;
    if (rt->stop_mono_ms >= 0)
        lua_sethook(co, deadline_hook, LUA_MASKCOUNT, RT_HOOK_COUNT);
    int nres = 0;
    int st = lua_resume(co, L, 2, &nres);
    rt->in_handler = 0;
    lua_sethook(co, NULL, 0, 0);

    if (st == LUA_OK && !rt->timed_out) {
        /* 3. the result */
        lua_getiuservalue(L, rtidx, UV_ENCODE);
        if (nres > 0) {
            lua_pop(co, nres - 1); /* the first result only */
            lua_xmove(co, L, 1);
        } else {
            lua_pushnil(L);
        }
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            const char *json = lua_tolstring(L, -1, &n);
            rcpt_buf_reset(out);
            rcpt_buf_append(out, json, n);
            lua_pop(L, 1);
            if (!out->oom) {
                char *id = curl_easy_escape(rt->curl, rt->request_id, 0);
                snprintf(path, sizeof path, "/invocation/%s/response", id ? id : "");
                curl_free(id);
                long code = rt_post(rt, path, out, NULL, rt->request_id);
                if (code < 200 || code > 299) {
                    /* refused (413 too large, ...) or unreachable: say so on the
                     * error path, so that the invocation is not left open */
                    char m[160];
                    int mn = code < 0 ? snprintf(m, sizeof m, "the response could not be delivered")
                                      : snprintf(m, sizeof m,
                                                 "the Runtime API refused the response with HTTP %ld",
                                                 code);
                    type = "Runtime.ResponseRejected";
                    post_invocation_error(rt, out, m, (size_t)mn, type, NULL);
                }
            } else {
                type = "Runtime.MarshalError";
                post_invocation_error(rt, out, "out of memory copying the response", 34, type, NULL);
            }
        } else {
            size_t n;
            const char *m = luaL_tolstring(L, -1, &n);
            lua_pushfstring(L, "the handler's result cannot be encoded as JSON: %s", m);
            m = lua_tolstring(L, -1, &n);
            type = "Runtime.MarshalError";
            post_invocation_error(rt, out, m, n, type, NULL);
        }
    } else {
        /* an error, a timeout, or a yield across the handler's boundary */
        luaL_traceback(L, co, NULL, 0);
        const char *trace = lua_tostring(L, -1);
        if (st == LUA_YIELD) {
            lua_pushliteral(L, "the handler yielded outside a coroutine");
            lua_pushnil(L);
        } else {
            lua_pushcfunction(L, describe_error);
            if (lua_gettop(co) > 0)
                lua_xmove(co, L, 1);
            else
                lua_pushnil(L);
            if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
                lua_pop(L, 1);
                lua_pushliteral(L, "(the error object could not be described)");
                lua_pushnil(L);
            }
        }
        type = rt->timed_out ? "Runtime.Timeout"
               : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                 : "Runtime.HandlerError";
        size_t n;
        const char *m = lua_tolstring(L, -2, &n);
        if (rt->timed_out && st == LUA_OK)
            m = "Task timed out: the handler caught the timeout error and went on", n = strlen(m);
        post_invocation_error(rt, out, m, n, type, trace);
    }
    /* copied now: a type from the handler's error table lives on the stack */
    snprintf(rt->err_type, sizeof rt->err_type, "%s", type ? type : "");
    /* leave the coroutine closed (to-be-closed variables run) and garbage */
#if LUA_VERSION_RELEASE_NUM >= 50406
    lua_closethread(co, L);
#else
    lua_resetthread(co);
#endif
    (void)coidx;
    lua_settop(L, top);
    if (rt->timed_out)
        lua_gc(L, LUA_GCCOLLECT);
    return rt->err_type[0] != '\0';
}

/* Tell the Runtime API that init failed. */
static void post_init_error(lambda_rt *rt, rcpt_buf *out, const char *message, size_t mlen,
                            const char *type, const char *trace)
{
    error_body(out, message, mlen, type, trace);
    long st = rt_post(rt, "/init/error", out, type, NULL);
    char s[16];
    snprintf(s, sizeof s, "%ld", st);
    rt_log("error", "init failed", NULL, -1, "errorType", type, "status", s, (char *)NULL);
}

/* Protected: require "rcpt.json", then the handler module, then pick its
 * function.  Leaves decode, encode, handler. */
static int load_handler(lua_State *L)
{
    const char *spec = lua_tostring(L, 1);
    lua_settop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "rcpt.json");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "decode");
    lua_getfield(L, -2, "encode");
    if (!lua_isfunction(L, -1) || !lua_isfunction(L, -2))
        return luaL_error(L, "rcpt.json has no encode/decode functions");
    /* "dir/mod.fn" → module "dir.mod", function "fn" (the Lambda spelling) */
    const char *dot = strrchr(spec, '.');
    if (!dot || dot == spec || !dot[1])
        return luaL_error(L, "_HANDLER '%s' is not MODULE.FUNCTION", spec);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const char *p = spec; p < dot; p++)
        luaL_addchar(&b, *p == '/' ? '.' : *p);
    luaL_pushresult(&b);
    int mod = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushvalue(L, mod);
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "module '%s' returned a %s, not a table", lua_tostring(L, mod),
                          luaL_typename(L, -1));
    lua_getfield(L, -1, dot + 1);
    int fn = lua_gettop(L);
    int callable = lua_isfunction(L, fn);
    if (!callable && luaL_getmetafield(L, fn, "__call") != LUA_TNIL) {
        lua_pop(L, 1); /* a callable table will do */
        callable = 1;
    }
    if (!callable) {
        lua_createtable(L, 0, 2);
        lua_pushfstring(L, "module '%s' has no function '%s'", lua_tostring(L, mod), dot + 1);
        lua_setfield(L, -2, "message");
        lua_pushliteral(L, "Runtime.HandlerNotFound");
        lua_setfield(L, -2, "type");
        return lua_error(L);
    }
    lua_pushvalue(L, 3); /* decode */
    lua_pushvalue(L, 4); /* encode */
    lua_pushvalue(L, fn);
    return 3;
}

/* host.lambda_loop{max_invocations=N, deadline_margin_ms=MS, handler=NAME,
 * runtime_api=HOST:PORT} -> exit code (0 after N invocations; 1 when init
 * failed or the Runtime API went away; 2 on a bad setting). */
int rcpt_host_lambda_loop(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "max_invocations");
    lua_Integer max = luaL_optinteger(L, -1, 0);
    lua_getfield(L, 1, "deadline_margin_ms");
    lua_Integer margin = luaL_optinteger(L, -1, RT_DEFAULT_MARGIN_MS);
    lua_getfield(L, 1, "handler");
    const char *handler = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 1, "runtime_api");
    const char *api = luaL_optstring(L, -1, NULL);
    if (max < 0)
        return luaL_argerror(L, 1, "max_invocations must be >= 0");
    if (margin < 0)
        return luaL_argerror(L, 1, "deadline_margin_ms must be >= 0");
    if (!handler || !*handler)
        handler = getenv("_HANDLER");
    if (!handler || !*handler)
        handler = "main.handler";
    if (!api || !*api)
        api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api) {
        rt_log("error", "AWS_LAMBDA_RUNTIME_API is not set", NULL, -1, (char *)NULL);
        lua_pushinteger(L, 2);
        return 1;
    }

    /* the handle, closed until curl is up */
    lambda_rt *rt = lua_newuserdatauv(L, sizeof *rt, UV_COUNT);
    memset(rt, 0, sizeof *rt);
    int rtidx = lua_gettop(L);
    if (luaL_newmetatable(L, RCPT_LAMBDA_MT))
        luaL_setfuncs(L, lambda_meta, 0);
    lua_setmetatable(L, rtidx);
    if (snprintf(rt->url, sizeof rt->url, "http://%s" RT_API_VERSION, api) >= (int)sizeof rt->url)
        return luaL_argerror(L, 1, "AWS_LAMBDA_RUNTIME_API is too long");
    rt->margin_ms = (long)margin;
    rt->deadline_ms = -1;
    rt->stop_mono_ms = -1;
    rt->curl = curl_easy_init();
    if (!rt->curl)
        return luaL_error(L, "cannot start libcurl");
    CURL *c = rt->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");   /* the agent is local: never through a proxy */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rt);
    lua_pushvalue(L, rtidx);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &rt_registry_key);

    double t0 = mono_ms();
    int rc = 0;

    /* init */
    lua_pushcfunction(L, load_handler);
    lua_pushstring(L, handler);
    if (rcpt_host_pcall(L, 1, 3) != LUA_OK) {
        /* a string error carries the traceback rcpt_host_pcall appended */
        lua_pushcfunction(L, describe_error);
        lua_pushvalue(L, -2);
        if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
            lua_pop(L, 1);
            lua_pushliteral(L, "(the error object could not be described)");
            lua_pushnil(L);
        }
        size_t n;
        const char *m = lua_tolstring(L, -2, &n);
        const char *type = lua_isstring(L, -1) ? lua_tostring(L, -1) : "Runtime.ImportModuleError";
        const char *tb = strstr(m, "\nstack traceback:");
        size_t mn = tb ? (size_t)(tb - m) : n;
        post_init_error(rt, &rt->out, m, mn, type, tb ? tb + 1 : NULL);
        rc = 1;
        goto done;
    }
    lua_setiuservalue(L, rtidx, UV_HANDLER);
    lua_setiuservalue(L, rtidx, UV_ENCODE);
    lua_setiuservalue(L, rtidx, UV_DECODE);
    {
        char hs[256];
        snprintf(hs, sizeof hs, "%s", handler);
        rt_log("info", "init done", NULL, mono_ms() - t0, "handler", hs, (char *)NULL);
    }

    for (lua_Integer served = 0; max == 0 || served < max;) {
        rt->request_id[0] = rt->arn[0] = rt->trace_id[0] = '\0';
        rt->deadline_ms = -1;
        rcpt_buf_reset(&rt->client_context);
        rcpt_buf_reset(&rt->identity);
        long status = -1;
        char errbuf[CURL_ERROR_SIZE];
        int got = 0;
        long wait = 50;
        for (int attempt = 1; attempt <= RT_NEXT_ATTEMPTS && !got; attempt++) {
            status = -1;
            if (rt_request(rt, "/invocation/next", NULL, 0, NULL, &status, errbuf) == 0 &&
                status == 200) {
                got = 1;
            } else {
                char what[CURL_ERROR_SIZE + 32];
                if (status >= 0)
                    snprintf(what, sizeof what, "HTTP %ld", status);
                else
                    snprintf(what, sizeof what, "%s", errbuf);
                rt_log("warn", "next failed", NULL, -1, "error", what, (char *)NULL);
                sleep_ms(wait);
                wait *= 2;
            }
        }
        if (!got) {
            rt_log("error", "the Runtime API is gone: stopping", NULL, -1, (char *)NULL);
            rc = 1;
            break;
        }
        if (!rt->request_id[0]) {
            /* nothing to answer to: the API broke its own protocol */
            rt_log("error", "next answered without Lambda-Runtime-Aws-Request-Id", NULL, -1,
                   (char *)NULL);
            continue;
        }
        served++;
        double t = mono_ms();
        if (invoke(L, rtidx, rt)) {
            rt_log("error", "invocation failed", rt->request_id, mono_ms() - t, "errorType",
                   rt->err_type, (char *)NULL);
        } else {
            rt_log("info", "invocation done", rt->request_id, mono_ms() - t, (char *)NULL);
        }
    }

done:
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &rt_registry_key);
    lua_pushcfunction(L, lambda_release);
    lua_pushvalue(L, rtidx);
    lua_call(L, 1, 0);
    lua_pushinteger(L, rc);
    return 1;
}
