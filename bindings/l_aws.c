/* rcpt.aws: SQS queues by URL and raw DynamoDB calls (for `rcpt store init`).
 *
 *   aws.sqs_queue(url) -> queue | nil, msg, errname
 *   aws.sqs_create_queue(name [, {endpoint=, visibility=}]) -> url | nil, msg, errname
 *   aws.sqs_queue_url(name [, endpoint]) -> url | nil, msg, errname
 *   aws.dynamodb(op, request_json [, what]) -> answer_json | nil, msg, errname, aws_error_type
 *                                  (what: the table name or so, for messages)
 *
 *   q:send(body) -> id
 *   q:send_batch({body, ...}) -> ids, failures   (ids[i] = false and failures[i] =
 *                                  "Code: message" for an entry SQS refused)
 *   q:receive([max [, visibility_s [, wait_s]]]) -> {{id=, body=, receipt=, receive_count=, sent_ms=}, ...}
 *   q:delete(receipt) -> true
 *   q:count() -> visible, in_flight
 *   q:url() -> the queue URL
 *   q:close()                    (also __gc, __close; idempotent)
 * The queue methods match the local queue of rcpt.store (bindings/l_store.c);
 * expected failures return nil, message, errname. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "net/awsjson.h"
#include "net/sqs.h"
#include "store/store.h"

#define RCPT_SQS_MT "rcpt.aws.sqs_queue"
#define RCPT_AWSBOX_MT "rcpt.aws.box"

typedef struct lsqs {
    rcpt_sqs *q;
} lsqs;

/* C memory owned by Lua while code that may raise runs */
typedef struct abox {
    void *p;
    size_t n;
    void (*fn)(void *, size_t);
} abox;

static int abox_gc(lua_State *L)
{
    abox *b = luaL_checkudata(L, 1, RCPT_AWSBOX_MT);
    if (b->p && b->fn)
        b->fn(b->p, b->n);
    b->p = NULL;
    return 0;
}

static abox *abox_new(lua_State *L, void (*fn)(void *, size_t))
{
    abox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->p = NULL;
    b->n = 0;
    b->fn = fn;
    luaL_setmetatable(L, RCPT_AWSBOX_MT);
    return b;
}

static int push_fail(lua_State *L, const rcpt_err *e)
{
    lua_pushnil(L);
    lua_pushstring(L, e->msg[0] ? e->msg : rcpt_err_name(e->code));
    lua_pushstring(L, rcpt_err_name(e->code));
    return 3;
}

static lsqs *check_sqs(lua_State *L, int i)
{
    lsqs *q = luaL_checkudata(L, i, RCPT_SQS_MT);
    if (!q->q)
        luaL_error(L, "attempt to use a closed queue");
    return q;
}

static int l_sqs_queue(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    lsqs *q = lua_newuserdatauv(L, sizeof *q, 0);
    q->q = NULL;
    luaL_setmetatable(L, RCPT_SQS_MT);
    rcpt_err e = {0};
    if (rcpt_sqs_open(url, &q->q, &e))
        return push_fail(L, &e);
    return 1;
}

static void free_str(void *p, size_t n)
{
    (void)n;
    free(p);
}

static int l_sqs_create_queue(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *endpoint = NULL;
    int vis = -1;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "endpoint");
        endpoint = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
        lua_getfield(L, 2, "visibility");
        vis = lua_isnil(L, -1) ? -1 : (int)luaL_checkinteger(L, -1);
    }
    abox *b = abox_new(L, free_str);
    rcpt_err e = {0};
    char *url = NULL;
    if (rcpt_sqs_create_queue(endpoint, name, vis, &url, &e))
        return push_fail(L, &e);
    b->p = url;
    lua_pushstring(L, url);
    return 1;
}

static int l_sqs_queue_url(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *endpoint = luaL_optstring(L, 2, NULL);
    abox *b = abox_new(L, free_str);
    rcpt_err e = {0};
    char *url = NULL;
    if (rcpt_sqs_queue_url(endpoint, name, &url, &e))
        return push_fail(L, &e);
    b->p = url;
    lua_pushstring(L, url);
    return 1;
}

static void free_client(void *p, size_t n)
{
    (void)n;
    rcpt_awsjson_free(p);
}

static void free_buf(void *p, size_t n)
{
    (void)n;
    rcpt_buf_free(p);
    free(p);
}

static int l_dynamodb(lua_State *L)
{
    const char *op = luaL_checkstring(L, 1);
    size_t len;
    const char *body = luaL_checklstring(L, 2, &len);
    const char *what = luaL_optstring(L, 3, "");
    for (const char *p = op; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
            return luaL_argerror(L, 1, "an operation name (letters only)");
    abox *cb = abox_new(L, free_client);
    abox *bb = abox_new(L, free_buf);
    rcpt_err e = {0};
    rcpt_awsjson *c = NULL;
    if (rcpt_ddb_client_new(&c, &e))
        return push_fail(L, &e);
    cb->p = c;
    rcpt_buf *raw = calloc(1, sizeof *raw);
    if (!raw)
        return luaL_error(L, "out of memory");
    bb->p = raw;
    rcpt_awsjson_result r;
    int rc = rcpt_awsjson_call_raw(c, op, what, body, len, raw, &r, &e);
    if (rc) {
        int n = push_fail(L, &e);
        lua_pushstring(L, r.type);
        rcpt_awsjson_result_free(&r);
        return n + 1;
    }
    rcpt_awsjson_result_free(&r);
    lua_pushlstring(L, raw->data ? raw->data : "{}", raw->data ? raw->len : 2);
    return 1;
}

/* ---- queue methods ----------------------------------------------------------------------- */

static int q_send(lua_State *L)
{
    lsqs *q = check_sqs(L, 1);
    size_t len;
    const char *body = luaL_checklstring(L, 2, &len);
    abox *b = abox_new(L, free_str);
    char *id = NULL;
    rcpt_err e = {0};
    if (rcpt_sqs_send(q->q, body, len, &id, &e))
        return push_fail(L, &e);
    b->p = id;
    lua_pushstring(L, id);
    return 1;
}

typedef struct sendb {
    const char **bodies;
    size_t *lens;
    char **ids, **fails;
} sendb;

static void free_sendb(void *p, size_t n)
{
    sendb *s = p;
    free(s->bodies);
    free(s->lens);
    for (size_t i = 0; i < n; i++) {
        if (s->ids)
            free(s->ids[i]);
        if (s->fails)
            free(s->fails[i]);
    }
    free(s->ids);
    free(s->fails);
    free(s);
}

static int q_send_batch(lua_State *L)
{
    lsqs *q = check_sqs(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t n = (size_t)luaL_len(L, 2);
    for (size_t i = 1; i <= n; i++) {
        if (lua_geti(L, 2, (lua_Integer)i) != LUA_TSTRING)
            return luaL_argerror(L, 2, "a list of message bodies (strings)");
        lua_pop(L, 1);
    }
    abox *b = abox_new(L, free_sendb);
    sendb *s = calloc(1, sizeof *s);
    if (!s)
        return luaL_error(L, "out of memory");
    b->p = s;
    b->n = n;
    s->bodies = calloc(n ? n : 1, sizeof *s->bodies);
    s->lens = calloc(n ? n : 1, sizeof *s->lens);
    if (!s->bodies || !s->lens)
        return luaL_error(L, "out of memory");
    for (size_t i = 0; i < n; i++) {
        lua_geti(L, 2, (lua_Integer)i + 1);
        s->bodies[i] = lua_tolstring(L, -1, &s->lens[i]); /* kept alive by the table */
        lua_pop(L, 1);
    }
    rcpt_err e = {0};
    size_t nfailed = 0;
    if (rcpt_sqs_send_batch(q->q, s->bodies, s->lens, n, &s->ids, &s->fails, &nfailed, &e))
        return push_fail(L, &e);
    lua_createtable(L, (int)n, 0);
    lua_createtable(L, 0, (int)nfailed);
    for (size_t i = 0; i < n; i++) {
        if (s->ids[i])
            lua_pushstring(L, s->ids[i]);
        else
            lua_pushboolean(L, 0);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
        if (s->fails[i]) {
            lua_pushstring(L, s->fails[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    }
    return 2;
}

static void free_msgs(void *p, size_t n) { rcpt_sqs_msgs_free(p, n); }

static int q_receive(lua_State *L)
{
    lsqs *q = check_sqs(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, 1);
    double vis = luaL_optnumber(L, 3, -1);
    lua_Integer wait = luaL_optinteger(L, 4, 0);
    luaL_argcheck(L, max >= 1 && max <= 1000, 2, "between 1 and 1000");
    luaL_argcheck(L, wait >= 0 && wait <= 20, 4, "between 0 and 20 seconds");
    abox *b = abox_new(L, free_msgs);
    rcpt_sqs_msg *m = NULL;
    size_t n = 0;
    rcpt_err e = {0};
    if (rcpt_sqs_receive(q->q, (int)max, vis, (int)wait, &m, &n, &e))
        return push_fail(L, &e);
    b->p = m;
    b->n = n;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, m[i].id);
        lua_setfield(L, -2, "id");
        lua_pushlstring(L, m[i].body, m[i].body_len);
        lua_setfield(L, -2, "body");
        lua_pushstring(L, m[i].receipt);
        lua_setfield(L, -2, "receipt");
        lua_pushinteger(L, m[i].receive_count);
        lua_setfield(L, -2, "receive_count");
        lua_pushinteger(L, (lua_Integer)m[i].sent_ms);
        lua_setfield(L, -2, "sent_ms");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int q_delete(lua_State *L)
{
    lsqs *q = check_sqs(L, 1);
    const char *receipt = luaL_checkstring(L, 2);
    rcpt_err e = {0};
    if (rcpt_sqs_delete(q->q, receipt, &e))
        return push_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int q_count(lua_State *L)
{
    lsqs *q = check_sqs(L, 1);
    long vis = 0, inflight = 0;
    rcpt_err e = {0};
    if (rcpt_sqs_count(q->q, &vis, &inflight, &e))
        return push_fail(L, &e);
    lua_pushinteger(L, vis);
    lua_pushinteger(L, inflight);
    return 2;
}

static int q_url(lua_State *L)
{
    lsqs *q = check_sqs(L, 1);
    lua_pushstring(L, rcpt_sqs_url(q->q));
    return 1;
}

static int q_close(lua_State *L)
{
    lsqs *q = luaL_checkudata(L, 1, RCPT_SQS_MT);
    rcpt_sqs_close(q->q);
    q->q = NULL;
    return 0;
}

static int q_tostring(lua_State *L)
{
    lsqs *q = luaL_checkudata(L, 1, RCPT_SQS_MT);
    if (q->q)
        lua_pushfstring(L, "rcpt.aws.sqs_queue (%s)", rcpt_sqs_url(q->q));
    else
        lua_pushliteral(L, "rcpt.aws.sqs_queue (closed)");
    return 1;
}

static const luaL_Reg queue_methods[] = {
    {"send", q_send}, {"send_batch", q_send_batch}, {"receive", q_receive}, {"delete", q_delete},
    {"count", q_count}, {"url", q_url}, {"close", q_close}, {NULL, NULL}};

static const luaL_Reg queue_meta[] = {
    {"__gc", q_close}, {"__close", q_close}, {"__tostring", q_tostring}, {"__index", NULL}, {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"sqs_queue", l_sqs_queue}, {"sqs_create_queue", l_sqs_create_queue},
    {"sqs_queue_url", l_sqs_queue_url}, {"dynamodb", l_dynamodb}, {NULL, NULL}};

int luaopen_rcpt_aws(lua_State *L)
{
    luaL_newmetatable(L, RCPT_SQS_MT);
    luaL_setfuncs(L, queue_meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, queue_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, RCPT_AWSBOX_MT);
    lua_pushcfunction(L, abox_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
