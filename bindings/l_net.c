/* rcpt.net: the object store and a generic HTTP request for Lua.
 *
 *   local net = require "rcpt.net"
 *   local st, msg, errname = net.objects("s3://bucket/prefix" | "file:DIR" [, opts])
 *       opts: {multipart_threshold=, part_size=, timeout_ms=, connect_timeout_ms=,
 *              retry={max_attempts=, base_delay_ms=, max_delay_ms=},
 *              env={AWS_ENDPOINT_URL=, AWS_ACCESS_KEY_ID=, ...}}  (env overrides the process environment)
 *   st:put(key, bytes[, {content_type=, content_encoding=, metadata={k=v}}])  -> true | nil, msg, errname
 *   st:put_file(key, path[, opts])        -> true | nil, msg, errname
 *       put/put_file opts also: move=true (put_file: the source is scratch: the
 *       file backend may rename it into place, the path is then gone),
 *       no_sync=true (file backend: no fsync at the put; st:sync makes it durable)
 *   st:sync({key, ...})                   -> true | nil, msg, errname
 *       objects put with no_sync made durable together (file backend; S3: no-op)
 *   st:get(key)                           -> bytes | nil, msg, errname ("ENOTFOUND" when missing)
 *   st:get_file(key, path)                -> true | nil, msg, errname
 *   st:head(key)                          -> {size=, etag=, content_type=, content_encoding=,
 *                                             last_modified=, metadata={}} | nil, msg, errname
 *   st:delete(key)                        -> true | nil, msg, errname
 *   st:list(prefix[, {delimiter=, page_size=}]) -> {{key=, size=, etag=, last_modified=}, ...},
 *                                             {common prefix, ...} | nil, msg, errname
 *   st:copy(src_key, dst_key)             -> true | nil, msg, errname
 *   st:url(), st:close()  (also __gc, __close)
 *   net.http{method=, url=, headers=, body=, timeout_ms=, connect_timeout_ms=,
 *            retry={max_attempts=, base_delay_ms=, max_delay_ms=},
 *            sigv4={region=, service=, access_key=, secret_key=, session_token=}}
 *       -> {status=, headers={lower-case name = value}, body=, attempts=} | nil, msg, errname
 *
 * Modelled on liolib.c: the store handle is created closed before the store
 * is opened; every C allocation made during a call hangs off a "scratch"
 * userdata whose __gc frees it, so a Lua error (memory, a raising callback)
 * never leaks. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "net/objstore.h"

#define RCPT_OBJSTORE_MT "rcpt.net.objects"
#define RCPT_SCRATCH_MT "rcpt.net.scratch"

typedef struct lua_objstore {
    rcpt_objstore *st;
} lua_objstore;

/* ---- scratch: C memory owned by the Lua GC for the span of one call ------------ */

typedef struct scratch {
    rcpt_buf buf;
    rcpt_http_response resp;
    rcpt_http_client *client;
    rcpt_objstore_info info;
    int has_resp;
} scratch;

static int scratch_gc(lua_State *L)
{
    scratch *s = luaL_checkudata(L, 1, RCPT_SCRATCH_MT);
    rcpt_buf_free(&s->buf);
    if (s->has_resp)
        rcpt_http_response_free(&s->resp);
    s->has_resp = 0;
    rcpt_http_client_free(s->client);
    s->client = NULL;
    rcpt_objstore_info_free(&s->info);
    return 0;
}

static scratch *new_scratch(lua_State *L)
{
    scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, RCPT_SCRATCH_MT);
    return s;
}

/* nil, message, errname */
static int fail(lua_State *L, const rcpt_err *e)
{
    luaL_pushfail(L);
    lua_pushstring(L, e->msg);
    lua_pushstring(L, rcpt_err_name(e->code));
    return 3;
}

/* ---- store handle ------------------------------------------------------------------ */

static lua_objstore *check_objstore(lua_State *L, int i)
{
    lua_objstore *h = luaL_checkudata(L, i, RCPT_OBJSTORE_MT);
    if (!h->st)
        luaL_error(L, "attempt to use a closed object store");
    return h;
}

static long long opt_int_field(lua_State *L, int t, const char *name, long long dflt)
{
    long long v = dflt;
    if (lua_getfield(L, t, name) != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            luaL_error(L, "%s: must be an integer", name);
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static void read_retry(lua_State *L, int t, rcpt_http_retry *r)
{
    if (lua_getfield(L, t, "retry") == LUA_TTABLE) {
        int rt = lua_absindex(L, -1);
        r->max_attempts = (int)opt_int_field(L, rt, "max_attempts", r->max_attempts);
        r->base_delay_ms = (long)opt_int_field(L, rt, "base_delay_ms", r->base_delay_ms);
        r->max_delay_ms = (long)opt_int_field(L, rt, "max_delay_ms", r->max_delay_ms);
        if (r->max_attempts < 1 || r->base_delay_ms < 0 || r->max_delay_ms < 0)
            luaL_error(L, "retry: max_attempts must be >= 1 and delays >= 0");
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "retry: must be a table");
    }
    lua_pop(L, 1);
}

/* opts.env: values that take the place of the process environment for the
 * AWS_* names the S3 backend reads (a string sets, false unsets); read into
 * C before the store is opened, so no Lua call happens inside C code. */
static const char *const env_names[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", NULL,
};

typedef struct env_over {
    const char *v[8];
    int set[8];
} env_over;

static const char *env_lookup(void *ud, const char *name)
{
    env_over *e = ud;
    for (int i = 0; env_names[i]; i++)
        if (strcmp(env_names[i], name) == 0 && e->set[i])
            return e->v[i];
    return getenv(name);
}

/* net.objects(url[, opts]) */
static int net_objects(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    rcpt_objstore_opts o;
    memset(&o, 0, sizeof o);
    env_over over;
    memset(&over, 0, sizeof over);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        o.multipart_threshold = opt_int_field(L, 2, "multipart_threshold", 0);
        o.part_size = opt_int_field(L, 2, "part_size", 0);
        o.http.timeout_ms = (long)opt_int_field(L, 2, "timeout_ms", 0);
        o.http.connect_timeout_ms = (long)opt_int_field(L, 2, "connect_timeout_ms", 0);
        rcpt_http_retry r = RCPT_HTTP_RETRY_DEFAULT;
        read_retry(L, 2, &r);
        o.http.retry = r;
        if (o.part_size && o.part_size < 5 * 1024 * 1024)
            luaL_argerror(L, 2, "part_size: S3 parts must be at least 5 MiB");
        if (lua_getfield(L, 2, "env") == LUA_TTABLE) {
            /* strings stay alive: the env table is referenced from opts */
            for (int i = 0; env_names[i]; i++) {
                int ty = lua_getfield(L, -1, env_names[i]);
                if (ty == LUA_TSTRING) {
                    over.v[i] = lua_tostring(L, -1);
                    over.set[i] = 1;
                } else if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
                    over.v[i] = NULL;
                    over.set[i] = 1;
                } else if (ty != LUA_TNIL) {
                    luaL_error(L, "env.%s: must be a string or false", env_names[i]);
                }
                lua_pop(L, 1);
            }
            o.getenv = env_lookup;
            o.getenv_ud = &over;
        } else if (!lua_isnil(L, -1)) {
            luaL_argerror(L, 2, "env: must be a table");
        }
        lua_pop(L, 1);
    }
    lua_objstore *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->st = NULL;
    luaL_setmetatable(L, RCPT_OBJSTORE_MT);
    rcpt_err e = {0};
    if (rcpt_objstore_open(url, &o, &h->st, &e) != RCPT_OK)
        return fail(L, &e);
    return 1;
}

static int st_close(lua_State *L)
{
    lua_objstore *h = luaL_checkudata(L, 1, RCPT_OBJSTORE_MT);
    rcpt_objstore_close(h->st);
    h->st = NULL;
    return 0;
}

static int st_url(lua_State *L)
{
    lua_pushstring(L, rcpt_objstore_url(check_objstore(L, 1)->st));
    return 1;
}

static int st_tostring(lua_State *L)
{
    lua_objstore *h = luaL_checkudata(L, 1, RCPT_OBJSTORE_MT);
    if (h->st)
        lua_pushfstring(L, "rcpt.net.objects (%s)", rcpt_objstore_url(h->st));
    else
        lua_pushliteral(L, "rcpt.net.objects (closed)");
    return 1;
}

/* A key argument: a Lua string may hold NUL; the store must see (and refuse) it. */
static const char *check_key(lua_State *L, int i, rcpt_objstore *st, rcpt_err *e, int *bad)
{
    size_t n;
    const char *k = luaL_checklstring(L, i, &n);
    *bad = rcpt_objstore_key_check(k, n, e) != RCPT_OK;
    if (*bad)
        rcpt_err_prefix(e, "%s", rcpt_objstore_url(st));
    return k;
}

/* put options from table at index t; metadata pointers point into Lua
 * strings held by the table (alive for the call). */
static void read_put_opts(lua_State *L, int t, rcpt_objstore_put_opts *po)
{
    memset(po, 0, sizeof *po);
    if (lua_isnoneornil(L, t))
        return;
    luaL_checktype(L, t, LUA_TTABLE);
    if (lua_getfield(L, t, "content_type") != LUA_TNIL)
        po->content_type = luaL_checkstring(L, -1);
    lua_pop(L, 1);  /* the string stays alive in the table */
    if (lua_getfield(L, t, "content_encoding") != LUA_TNIL)
        po->content_encoding = luaL_checkstring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, t, "move");
    po->move_source = lua_toboolean(L, -1);
    lua_getfield(L, t, "no_sync");
    po->no_sync = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (lua_getfield(L, t, "metadata") == LUA_TTABLE) {
        int mt = lua_absindex(L, -1);
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, mt)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "metadata: names and values must be strings");
            n++;
            lua_pop(L, 1);
        }
        /* the array is a userdata left on the stack: freed by the GC */
        rcpt_objstore_meta *m = lua_newuserdatauv(L, (n ? n : 1) * sizeof *m, 0);
        size_t i = 0;
        lua_pushnil(L);
        while (lua_next(L, mt) && i < n) {
            m[i].name = lua_tostring(L, -2);
            m[i].value = lua_tostring(L, -1);
            i++;
            lua_pop(L, 1);
        }
        po->metadata = m;
        po->n_metadata = i;
        lua_insert(L, -2);  /* keep the array above the metadata table */
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "metadata: must be a table");
    }
    /* leave the metadata table (and array) on the stack: they anchor the strings */
}

static int st_put(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    rcpt_err e = {0};
    int bad;
    const char *key = check_key(L, 2, h->st, &e, &bad);
    size_t n;
    const char *data = luaL_checklstring(L, 3, &n);
    rcpt_objstore_put_opts po;
    read_put_opts(L, 4, &po);
    if (bad)
        return fail(L, &e);
    if (rcpt_objstore_put(h->st, key, data, n, &po, &e) != RCPT_OK)
        return fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int st_put_file(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    rcpt_err e = {0};
    int bad;
    const char *key = check_key(L, 2, h->st, &e, &bad);
    const char *path = luaL_checkstring(L, 3);
    rcpt_objstore_put_opts po;
    read_put_opts(L, 4, &po);
    if (bad)
        return fail(L, &e);
    if (rcpt_objstore_put_file(h->st, key, path, &po, &e) != RCPT_OK)
        return fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int st_get(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    rcpt_err e = {0};
    int bad;
    const char *key = check_key(L, 2, h->st, &e, &bad);
    if (bad)
        return fail(L, &e);
    scratch *s = new_scratch(L);
    if (rcpt_objstore_get(h->st, key, &s->buf, &e) != RCPT_OK)
        return fail(L, &e);
    lua_pushlstring(L, s->buf.data ? s->buf.data : "", s->buf.len);
    rcpt_buf_free(&s->buf);
    return 1;
}

static int st_get_file(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    rcpt_err e = {0};
    int bad;
    const char *key = check_key(L, 2, h->st, &e, &bad);
    const char *path = luaL_checkstring(L, 3);
    if (bad)
        return fail(L, &e);
    if (rcpt_objstore_get_file(h->st, key, path, &e) != RCPT_OK)
        return fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int st_head(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    rcpt_err e = {0};
    int bad;
    const char *key = check_key(L, 2, h->st, &e, &bad);
    if (bad)
        return fail(L, &e);
    scratch *s = new_scratch(L);
    if (rcpt_objstore_head(h->st, key, &s->info, &e) != RCPT_OK)
        return fail(L, &e);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, s->info.size);
    lua_setfield(L, -2, "size");
    lua_pushstring(L, s->info.etag);
    lua_setfield(L, -2, "etag");
    lua_pushstring(L, s->info.content_type);
    lua_setfield(L, -2, "content_type");
    if (s->info.content_encoding[0]) {
        lua_pushstring(L, s->info.content_encoding);
        lua_setfield(L, -2, "content_encoding");
    }
    lua_pushinteger(L, s->info.last_modified);
    lua_setfield(L, -2, "last_modified");
    lua_createtable(L, 0, (int)s->info.n_metadata);
    for (size_t i = 0; i < s->info.n_metadata; i++) {
        lua_pushstring(L, s->info.metadata[i].value);
        lua_setfield(L, -2, s->info.metadata[i].name);
    }
    lua_setfield(L, -2, "metadata");
    return 1;
}

static int st_delete(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    rcpt_err e = {0};
    int bad;
    const char *key = check_key(L, 2, h->st, &e, &bad);
    if (bad)
        return fail(L, &e);
    if (rcpt_objstore_delete(h->st, key, &e) != RCPT_OK)
        return fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int st_copy(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    rcpt_err e = {0};
    int bad1, bad2;
    const char *src = check_key(L, 2, h->st, &e, &bad1);
    if (bad1)
        return fail(L, &e);
    const char *dst = check_key(L, 3, h->st, &e, &bad2);
    if (bad2)
        return fail(L, &e);
    if (rcpt_objstore_copy(h->st, src, dst, &e) != RCPT_OK)
        return fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int st_sync(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    rcpt_err e = {0};
    /* the key array is a userdata: freed by the GC even if a check raises */
    const char **keys = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *keys, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 2, i) != LUA_TSTRING)
            return luaL_error(L, "sync: keys[%d]: must be a string", (int)i);
        keys[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays alive in the table */
    }
    if (rcpt_objstore_sync(h->st, keys, (size_t)n, &e) != RCPT_OK)
        return fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

/* list: entries are packed into a scratch buffer during the C call (no Lua
 * call may raise while C holds resources), then turned into tables.
 * Record: 'E' size(8) mtime(8) keylen(4) key etaglen(4) etag | 'P' len(4) prefix */
static int pack(void *ud, char tag, const char *a, long long size, long long mtime, const char *b)
{
    rcpt_buf *buf = ud;
    uint32_t al = (uint32_t)strlen(a), bl = b ? (uint32_t)strlen(b) : 0;
    rcpt_buf_putc(buf, tag);
    if (tag == 'E') {
        rcpt_buf_append(buf, &size, 8);
        rcpt_buf_append(buf, &mtime, 8);
    }
    rcpt_buf_append(buf, &al, 4);
    rcpt_buf_append(buf, a, al);
    if (tag == 'E') {
        rcpt_buf_append(buf, &bl, 4);
        rcpt_buf_append(buf, b, bl);
    }
    return buf->oom ? RCPT_ENOMEM : 0;
}

static int on_entry(void *ud, const rcpt_objstore_entry *e)
{
    return pack(ud, 'E', e->key, e->size, e->last_modified, e->etag);
}

static int on_prefix(void *ud, const char *p) { return pack(ud, 'P', p, 0, 0, NULL); }

static int st_list(lua_State *L)
{
    lua_objstore *h = check_objstore(L, 1);
    const char *prefix = luaL_optstring(L, 2, "");
    rcpt_objstore_list_opts lo;
    memset(&lo, 0, sizeof lo);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "delimiter") != LUA_TNIL)
            lo.delimiter = luaL_checkstring(L, -1);
        lua_pop(L, 1);
        lo.page_size = (int)opt_int_field(L, 3, "page_size", 0);
        if (lo.page_size < 0 || lo.page_size > 1000)
            luaL_argerror(L, 3, "page_size: must be 1..1000");
    }
    scratch *s = new_scratch(L);
    lo.on_entry = on_entry;
    lo.on_prefix = on_prefix;
    lo.ud = &s->buf;
    rcpt_err e = {0};
    int rc = rcpt_objstore_list(h->st, prefix, &lo, &e);
    if (rc == RCPT_ENOMEM && !e.code)
        rcpt_err_set(&e, RCPT_ENOMEM, "%s: list: out of memory", rcpt_objstore_url(h->st));
    if (rc != RCPT_OK)
        return fail(L, &e);
    lua_newtable(L);
    int entries = lua_gettop(L);
    lua_newtable(L);
    int prefixes = lua_gettop(L);
    lua_Integer ne = 0, np = 0;
    /* an empty listing leaves buf.data NULL: NULL + 0 is undefined behaviour */
    const char *p = s->buf.data, *end = p ? p + s->buf.len : NULL;
    while (p && p < end) {
        char tag = *p++;
        long long size = 0, mtime = 0;
        uint32_t kl, el = 0;
        if (tag == 'E') {
            memcpy(&size, p, 8);
            memcpy(&mtime, p + 8, 8);
            p += 16;
        }
        memcpy(&kl, p, 4);
        p += 4;
        const char *k = p;
        p += kl;
        if (tag == 'P') {
            lua_pushlstring(L, k, kl);
            lua_rawseti(L, prefixes, ++np);
            continue;
        }
        memcpy(&el, p, 4);
        p += 4;
        lua_createtable(L, 0, 4);
        lua_pushlstring(L, k, kl);
        lua_setfield(L, -2, "key");
        lua_pushinteger(L, size);
        lua_setfield(L, -2, "size");
        lua_pushlstring(L, p, el);
        lua_setfield(L, -2, "etag");
        lua_pushinteger(L, mtime);
        lua_setfield(L, -2, "last_modified");
        lua_rawseti(L, entries, ++ne);
        p += el;
    }
    rcpt_buf_free(&s->buf);
    return 2;
}

/* ---- net.http ----------------------------------------------------------------------- */

static const char *opt_str_field(lua_State *L, int t, const char *name)
{
    const char *v = NULL;
    int ty = lua_getfield(L, t, name);
    if (ty != LUA_TNIL) {
        if (ty != LUA_TSTRING)
            luaL_error(L, "%s: must be a string", name);
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1);  /* the string stays alive in the table */
    return v;
}

static int net_http(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    rcpt_http_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = opt_str_field(L, 1, "method");
    if (!rq.method)
        rq.method = "GET";
    rq.url = opt_str_field(L, 1, "url");
    if (!rq.url)
        return luaL_argerror(L, 1, "url: required");
    if (lua_getfield(L, 1, "body") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_argerror(L, 1, "body: must be a string");
        rq.body = lua_tolstring(L, -1, &rq.body_len);
    }
    lua_pop(L, 1);
    rq.timeout_ms = (long)opt_int_field(L, 1, "timeout_ms", 0);
    rq.connect_timeout_ms = (long)opt_int_field(L, 1, "connect_timeout_ms", 0);
    rcpt_http_retry retry = RCPT_HTTP_RETRY_DEFAULT;
    read_retry(L, 1, &retry);
    rq.retry = &retry;
    rcpt_http_sigv4 sig;
    if (lua_getfield(L, 1, "sigv4") == LUA_TTABLE) {
        int t = lua_absindex(L, -1);
        memset(&sig, 0, sizeof sig);
        sig.region = opt_str_field(L, t, "region");
        sig.service = opt_str_field(L, t, "service");
        sig.access_key = opt_str_field(L, t, "access_key");
        sig.secret_key = opt_str_field(L, t, "secret_key");
        sig.session_token = opt_str_field(L, t, "session_token");
        rq.sigv4 = &sig;
    } else if (!lua_isnil(L, -1)) {
        return luaL_argerror(L, 1, "sigv4: must be a table");
    }
    /* keep the sigv4 table on the stack: its strings are in use */

    /* headers: {Name = value} or {"Name: value", ...}; formatted strings are
     * kept in a Lua table so they live until the request is done */
    lua_newtable(L);
    int hstore = lua_gettop(L);
    size_t nh = 0;
    if (lua_getfield(L, 1, "headers") == LUA_TTABLE) {
        int ht = lua_absindex(L, -1);
        lua_pushnil(L);
        while (lua_next(L, ht)) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
                lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
            else if (lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TSTRING)
                lua_pushvalue(L, -1);
            else
                return luaL_argerror(L, 1, "headers: {Name = value} or {\"Name: value\", ...} with strings");
            lua_rawseti(L, hstore, (lua_Integer)++nh);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        return luaL_argerror(L, 1, "headers: must be a table");
    }
    lua_pop(L, 1);
    const char **hv = lua_newuserdatauv(L, (nh ? nh : 1) * sizeof *hv, 0);
    for (size_t i = 0; i < nh; i++) {
        lua_rawgeti(L, hstore, (lua_Integer)i + 1);
        hv[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    rq.headers = hv;
    rq.n_headers = nh;

    scratch *s = new_scratch(L);
    rcpt_err e = {0};
    s->client = rcpt_http_client_new(NULL, &e);
    if (!s->client)
        return fail(L, &e);
    rcpt_http_response_init(&s->resp);
    s->has_resp = 1;
    int rc = rcpt_http_do(s->client, &rq, &s->resp, &e);
    if (rc != RCPT_OK && s->resp.status == 0)
        return fail(L, &e);
    /* any HTTP answer, 4xx/5xx included, is a response for a generic client */
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, s->resp.status);
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, s->resp.attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushlstring(L, s->resp.body.data ? s->resp.body.data : "", s->resp.body.len);
    lua_setfield(L, -2, "body");
    lua_newtable(L);
    for (size_t i = 0; i < s->resp.n_headers; i++) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *p = s->resp.headers[i].name; *p; p++)
            luaL_addchar(&b, (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p));
        luaL_pushresult(&b);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {
            /* repeated header: join as HTTP allows */
            lua_pushliteral(L, ", ");
            lua_pushstring(L, s->resp.headers[i].value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, s->resp.headers[i].value);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    return 1;
}

/* ---- module -------------------------------------------------------------------------- */

static const luaL_Reg st_methods[] = {
    {"put", st_put},
    {"put_file", st_put_file},
    {"get", st_get},
    {"get_file", st_get_file},
    {"head", st_head},
    {"delete", st_delete},
    {"list", st_list},
    {"copy", st_copy},
    {"sync", st_sync},
    {"url", st_url},
    {"close", st_close},
    {NULL, NULL},
};

static const luaL_Reg st_meta[] = {
    {"__gc", st_close},
    {"__close", st_close},
    {"__tostring", st_tostring},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg net_funcs[] = {
    {"objects", net_objects},
    {"http", net_http},
    {NULL, NULL},
};

int luaopen_rcpt_net(lua_State *L)
{
    luaL_newmetatable(L, RCPT_OBJSTORE_MT);
    luaL_setfuncs(L, st_meta, 0);
    luaL_newlibtable(L, st_methods);
    luaL_setfuncs(L, st_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, RCPT_SCRATCH_MT);
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, net_funcs);
    return 1;
}
