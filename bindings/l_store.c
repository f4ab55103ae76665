/* rcpt.store: the entity store and its queues for Lua.
 *
 *   local store = require "rcpt.store"
 *   local st, msg, errname = store.open("sqlite:./.rcpt/rcpt.db")
 *
 * Module functions
 *   store.open(url) -> st | nil, msg, errname
 *   store.now([naive]) -> ISO timestamp of now (UTC, "+00:00" unless naive)
 *   store.isoformat(epoch_seconds[, naive]) -> ISO timestamp (Python isoformat rules)
 *   store.decimal(x, places) -> string (§4.1 number format, e.g. decimal(0.995, 2) == "1.00")
 *   store.uuid4() -> string; store.is_uuid4(s) -> boolean
 *   store.types -> { "IMAGE", "LINE", ... } (the entity types)
 *
 * Store methods (type = an entity TYPE; errors are nil, msg, errname with
 * errname one of EINVAL, ENOTFOUND, ECONFLICT, EIO, ENOMEM):
 *   st:put(type, fields[, opts]) -> true          opts.condition (below)
 *   st:get(type, ids) -> entity | nil, "… not found", "ENOTFOUND"
 *   st:delete(type, ids[, opts]) -> true
 *   st:update(type, ids, set[, opts]) -> entity   SET a few attributes (plain values:
 *        string -> S, integer -> N, float -> N (repr), boolean -> BOOL); GSI keys
 *        are not recomputed (like DynamoDB UpdateItem)
 *   st:query(type, ids[, opts]) -> { entity, ... }, cursor|nil
 *        ids narrow the key prefix: RECEIPT_LINE {image_id=, receipt_id=} -> every
 *        receipt line of that receipt; opts: limit, descending, cursor
 *   st:query_index(index, partition[, opts]) -> { entity, ... }, cursor|nil
 *        index "TABLE", "GSI1", "GSI2", "GSI3", "GSITYPE"; opts: prefix, between =
 *        {lo, hi}, type, descending, limit, cursor, raw (items instead of entities)
 *   st:get_item(pk, sk) -> item, json | nil, msg, errname
 *   st:put_item(item_or_json[, opts]) -> true      DynamoDB JSON text or the same as a table
 *   st:delete_item(pk, sk[, opts]) -> true
 *   st:put_ocr(image_id, doc[, {receipt_id=, image=true}]) -> rows written
 *        doc is an rcpt.ocr.doc; writes Line/Word/Letter (image ~= false) and
 *        ReceiptLine/Word/Letter (receipt_id) in one transaction, replacing the
 *        rows of an earlier write of the same image
 *   st:batch() -> b;  b:put(...), b:delete(...), b:check(type, ids, opts),
 *        b:put_item(...), b:commit() -> true | nil, msg, errname (all or nothing)
 *   st:transaction(function(b) ... end) -> true | nil, msg, errname
 *        (an error inside the function discards the batch and is re-raised)
 *   st:export(path_or_file) -> count        {"Item": {...}} per line
 *   st:import(path_or_file[, {progress = function(n) end}]) -> count
 *   st:queue(name) -> q
 *   st:changes([after_seq=0[, limit]]) -> { {seq=, event_name=, pk=, sk=, type=, old_item=,
 *        new_item=, at_ms=}, ... }   the local change feed (SQLite: RECEIPT_METADATA and
 *        COMPACTION_RUN writes; old_item/new_item DynamoDB JSON text or nil); a store
 *        without one -> nil, msg, "EINVAL"
 *   st:change_cursor(consumer[, seq]) -> seq   read (or set) a consumer's position
 *   store.entity(item) -> entity   item = DynamoDB JSON text or a table in that shape
 *        (a stream record's NewImage/OldImage) -> the entity table (as st:get gives)
 *   st:close(); also __gc and __close
 * Conditions (opts.condition): "not_exists", "exists", "lock_free" (with
 *   opts.now, default now), "owner" (opts.owner), "eq" (opts.attr, opts.value).
 *   A failed condition -> nil, msg, "ECONFLICT".
 *
 * Queue methods: q:send(body) -> message id; q:receive([max=1[, visibility_s=30]])
 *   -> { {id=, body=, receipt=, receive_count=, sent_ms=}, ... };
 *   q:delete(receipt) -> true | nil, msg, "ENOTFOUND" (stale handle);
 *   q:count() -> visible, in_flight; q:close()
 *
 * Entity tables: the item's attributes with the key attributes (PK, SK,
 * GSI*, TYPE) removed, N as Lua numbers (integers when written without a
 * point), NULL attributes absent, SS as arrays, and the ids that live only in
 * the keys put back (image_id, receipt_id, line_id, word_id, letter_id,
 * job_id, lock_id).  E.g. a LINE:
 *   { image_id = "…", line_id = 1, text = "TOTAL", bounding_box = {x=, y=, width=, height=},
 *     top_left = {x=, y=}, top_right = …, bottom_left = …, bottom_right = …,
 *     angle_degrees = 0.5, angle_radians = 0.0087, confidence = 0.99 }
 * WORD adds word_id and extracted_data = {type=, value=} (or nil); RECEIPT_*
 * add receipt_id, embedding_status, is_noise; OCR_JOB = {image_id, job_id,
 * s3_bucket, s3_key, created_at, updated_at?, status, job_type, receipt_id?}.
 * Items (raw) are tables in DynamoDB JSON shape: { PK = {S = "IMAGE#…"},
 * width = {N = "100"}, bounding_box = {M = {...}}, sha256 = {NULL = true} }. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_types.h"
#include "store/store.h"

#define RCPT_STORE_MT "rcpt.store"
#define RCPT_QUEUE_MT "rcpt.store.queue"
#define RCPT_BATCH_MT "rcpt.store.batch"
#define RCPT_BOX_MT "rcpt.store.box"

typedef struct lstore {
    rcpt_store *st;
} lstore;

typedef struct lqueue {
    rcpt_queue *q;
} lqueue;

/* a condition with the storage its pointers need; lives in a userdata
 * (RCPT_COND_MT) so a Lua error after it was read cannot leak it */
typedef struct lcond {
    int kind;
    char *attr;
    rcpt_av value;
    char now[64];
} lcond;

#define RCPT_COND_MT "rcpt.store.cond"

/* the rcpt_cond view of an lcond (pointers into it: build it just before use) */
static rcpt_cond cv(lcond *c)
{
    rcpt_cond r = {c->kind, c->attr, &c->value, c->now};
    return r;
}

typedef struct bop {
    int kind;
    rcpt_item *item;
    char *pk, *sk;
    lcond cond;
} bop;

typedef struct lbatch {
    bop *ops;
    size_t n, cap;
    int ref_store; /* registry ref to the store userdata */
    int done;
} lbatch;

/* A box owns C memory while Lua code that may raise runs: its __gc frees. */
typedef struct box {
    void *p;
    void (*fn)(void *);
} box;

static int box_gc(lua_State *L)
{
    box *b = luaL_checkudata(L, 1, RCPT_BOX_MT);
    if (b->p && b->fn)
        b->fn(b->p);
    b->p = NULL;
    return 0;
}

static box *box_new(lua_State *L, void (*fn)(void *))
{
    box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->p = NULL;
    b->fn = fn;
    luaL_setmetatable(L, RCPT_BOX_MT);
    return b;
}

static void free_item(void *p) { rcpt_item_free(p); }
static void free_result(void *p) { rcpt_result_free(p); free(p); }

static int push_fail(lua_State *L, const rcpt_err *e)
{
    lua_pushnil(L);
    lua_pushstring(L, e->msg[0] ? e->msg : rcpt_err_name(e->code));
    lua_pushstring(L, rcpt_err_name(e->code));
    return 3;
}

static lstore *check_store(lua_State *L, int i)
{
    lstore *s = luaL_checkudata(L, i, RCPT_STORE_MT);
    if (!s->st)
        luaL_error(L, "attempt to use a closed store");
    return s;
}

static lqueue *check_queue(lua_State *L, int i)
{
    lqueue *q = luaL_checkudata(L, i, RCPT_QUEUE_MT);
    if (!q->q)
        luaL_error(L, "attempt to use a closed queue");
    return q;
}

static lbatch *check_batch(lua_State *L, int i)
{
    lbatch *b = luaL_checkudata(L, i, RCPT_BATCH_MT);
    if (b->done)
        luaL_error(L, "attempt to use a committed batch");
    return b;
}

/* ---- Lua <-> values (never raise while C memory is held) ------------------ */

#define MAX_DEPTH 32

static int is_sequence(lua_State *L, int idx, size_t *n)
{
    size_t count = 0;
    lua_Integer maxk = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return 0;
        }
        if (lua_tointeger(L, -1) > maxk)
            maxk = lua_tointeger(L, -1);
        count++;
    }
    *n = count;
    return (size_t)maxk == count;
}

/* Lua value at idx -> plain value; returns NULL or an error message */
static const char *to_av(lua_State *L, int idx, rcpt_av *out, int depth, char *ebuf, size_t ecap)
{
    idx = lua_absindex(L, idx);
    memset(out, 0, sizeof *out);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        out->type = RCPT_AV_S;
        out->s = malloc(len + 1);
        if (!out->s)
            return "out of memory";
        memcpy(out->s, s, len);
        out->s[len] = '\0';
        out->len = len;
        return NULL;
    }
    case LUA_TNUMBER:
        out->type = RCPT_AV_NUM;
        if (lua_isinteger(L, idx)) {
            out->num = (double)lua_tointeger(L, idx);
            out->b = 1;
        } else {
            out->num = lua_tonumber(L, idx);
        }
        return NULL;
    case LUA_TBOOLEAN:
        out->type = RCPT_AV_BOOL;
        out->b = lua_toboolean(L, idx);
        return NULL;
    case LUA_TNIL:
        out->type = RCPT_AV_NULL;
        return NULL;
    case LUA_TTABLE: {
        if (depth > MAX_DEPTH)
            return "nested too deeply (or a cycle)";
        if (!lua_checkstack(L, 4))
            return "stack overflow";
        size_t n;
        if (is_sequence(L, idx, &n)) {
            out->type = RCPT_AV_L;
            for (size_t i = 1; i <= n; i++) {
                lua_geti(L, idx, (lua_Integer)i);
                rcpt_av *slot = rcpt_l_push(out, RCPT_AV_NULL);
                const char *m = slot ? to_av(L, -1, slot, depth + 1, ebuf, ecap) : "out of memory";
                lua_pop(L, 1);
                if (m)
                    return m;
            }
            return NULL;
        }
        out->type = RCPT_AV_M;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                return "table keys must be strings (or the table a sequence)";
            }
            const char *k = lua_tostring(L, -2);
            if (strlen(k) != lua_rawlen(L, -2)) {
                lua_pop(L, 2);
                return "a key contains a NUL byte";
            }
            rcpt_av *slot = rcpt_m_set(out, k, RCPT_AV_NULL);
            const char *m = slot ? to_av(L, -1, slot, depth + 1, ebuf, ecap) : "out of memory";
            if (m) {
                if (m != ebuf) {
                    snprintf(ebuf, ecap, "%s: %s", k, m);
                    m = ebuf;
                }
                lua_pop(L, 2);
                return m;
            }
            lua_pop(L, 1);
        }
        return NULL;
    }
    default:
        snprintf(ebuf, ecap, "cannot store a %s", luaL_typename(L, idx));
        return ebuf;
    }
}

/* the table at idx as a plain M, boxed; raises on bad input (nothing leaks:
 * the box owns the value) */
static rcpt_av *boxed_plain(lua_State *L, int idx, const char *what)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    box *b = box_new(L, free_item);
    rcpt_av *v = rcpt_item_new();
    if (!v)
        luaL_error(L, "out of memory");
    b->p = v;
    char ebuf[256];
    const char *m = to_av(L, idx, v, 0, ebuf, sizeof ebuf);
    if (m)
        luaL_error(L, "%s: %s", what, m);
    if (v->type == RCPT_AV_L && v->n == 0)
        v->type = RCPT_AV_M; /* {} */
    if (v->type != RCPT_AV_M)
        luaL_error(L, "%s: must be a table of named fields", what);
    return v;
}

static void push_av(lua_State *L, const rcpt_av *v, int raw);

static void push_plain(lua_State *L, const rcpt_av *v)
{
    push_av(L, v, 0);
}

static void push_av(lua_State *L, const rcpt_av *v, int raw)
{
    luaL_checkstack(L, 4, "value nested too deeply");
    if (raw) { /* DynamoDB JSON shape */
        static const char *const TAG[] = {"", "S", "N", "BOOL", "NULL", "M", "L", "SS", "N"};
        lua_createtable(L, 0, 1);
        switch (v->type) {
        case RCPT_AV_S: case RCPT_AV_N: lua_pushlstring(L, v->s, v->len); break;
        case RCPT_AV_BOOL: lua_pushboolean(L, v->b); break;
        case RCPT_AV_NULL: lua_pushboolean(L, 1); break;
        case RCPT_AV_M:
            lua_createtable(L, 0, (int)v->n);
            for (size_t i = 0; i < v->n; i++) {
                push_av(L, &v->vals[i], 1);
                lua_setfield(L, -2, v->keys[i]);
            }
            break;
        case RCPT_AV_SS:
            lua_createtable(L, (int)v->n, 0);
            for (size_t i = 0; i < v->n; i++) {
                lua_pushlstring(L, v->vals[i].s, v->vals[i].len);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
            break;
        case RCPT_AV_L:
            lua_createtable(L, (int)v->n, 0);
            for (size_t i = 0; i < v->n; i++) {
                push_av(L, &v->vals[i], 1);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
            break;
        default: lua_pushnil(L);
        }
        lua_setfield(L, -2, TAG[v->type]);
        return;
    }
    switch (v->type) {
    case RCPT_AV_S: case RCPT_AV_N: lua_pushlstring(L, v->s, v->len); break;
    case RCPT_AV_NUM:
        if (v->b && v->num >= -9.2e18 && v->num <= 9.2e18)
            lua_pushinteger(L, (lua_Integer)v->num);
        else
            lua_pushnumber(L, v->num);
        break;
    case RCPT_AV_BOOL: lua_pushboolean(L, v->b); break;
    case RCPT_AV_M:
        lua_createtable(L, 0, (int)v->n);
        for (size_t i = 0; i < v->n; i++) {
            push_av(L, &v->vals[i], 0);
            lua_setfield(L, -2, v->keys[i]);
        }
        break;
    case RCPT_AV_L: case RCPT_AV_SS:
        lua_createtable(L, (int)v->n, 0);
        for (size_t i = 0; i < v->n; i++) {
            push_av(L, &v->vals[i], 0);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    default: lua_pushnil(L);
    }
}

/* item -> entity table; returns 0 or pushes nothing and returns an error */
static int push_entity(lua_State *L, const rcpt_item *it, rcpt_err *e)
{
    rcpt_av *p = NULL;
    int rc = rcpt_entity_plain(it, &p, e);
    if (rc)
        return rc;
    box *b = box_new(L, free_item);
    b->p = p;
    push_plain(L, p);
    lua_remove(L, -2); /* the box: collected later, frees p */
    return RCPT_OK;
}

/* ---- conditions ------------------------------------------------------------------ */

static void cond_clear(lcond *c)
{
    free(c->attr);
    rcpt_av_clear(&c->value);
    memset(c, 0, sizeof *c);
}

/* opts at idx (table or nil) -> condition; raises on misuse before any
 * allocation it could leak (attr/value are allocated last) */
static int cond_gc(lua_State *L)
{
    cond_clear(luaL_checkudata(L, 1, RCPT_COND_MT));
    return 0;
}

/* opts at idx -> a condition userdata pushed on the stack */
static lcond *get_cond(lua_State *L, int idx)
{
    /* look at opts before pushing: idx may be just above the top */
    int none = lua_isnoneornil(L, idx);
    if (!none)
        luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    lcond *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, RCPT_COND_MT);
    if (none)
        return c;
    lua_getfield(L, idx, "condition");
    const char *k = lua_tostring(L, -1);
    if (!k || !strcmp(k, "none")) {
        lua_pop(L, 1);
        return c;
    }
    if (!strcmp(k, "not_exists")) {
        c->kind = RCPT_COND_NOT_EXISTS;
    } else if (!strcmp(k, "exists")) {
        c->kind = RCPT_COND_EXISTS;
    } else if (!strcmp(k, "lock_free")) {
        c->kind = RCPT_COND_LOCK_FREE;
        lua_getfield(L, idx, "now");
        if (lua_isstring(L, -1))
            snprintf(c->now, sizeof c->now, "%s", lua_tostring(L, -1));
        else
            rcpt_now_iso(1, c->now);
        lua_pop(L, 1);
    } else if (!strcmp(k, "owner") || !strcmp(k, "eq")) {
        int owner = k[0] == 'o';
        const char *attr = "owner";
        if (!owner) {
            lua_getfield(L, idx, "attr");
            attr = lua_tostring(L, -1);
            if (!attr)
                luaL_error(L, "condition 'eq' needs opts.attr");
            lua_pop(L, 1); /* the string stays alive through opts */
        }
        lua_getfield(L, idx, owner ? "owner" : "value");
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
            luaL_error(L, "condition '%s' needs opts.%s (string, number or boolean)", k, owner ? "owner" : "value");
        char ebuf[64];
        rcpt_av v;
        to_av(L, -1, &v, 0, ebuf, sizeof ebuf); /* scalar: cannot fail but for ENOMEM */
        lua_pop(L, 1);
        if (v.type == RCPT_AV_NUM) { /* compare as N */
            char tmp[64];
            if (v.b)
                snprintf(tmp, sizeof tmp, "%.0f", v.num);
            else
                rcpt_fmt_repr(v.num, tmp, sizeof tmp);
            v.type = RCPT_AV_N;
            v.s = strdup(tmp);
            v.len = v.s ? strlen(v.s) : 0;
        }
        c->kind = RCPT_COND_EQ;
        c->value = v;
        c->attr = strdup(attr);
    } else {
        luaL_error(L, "unknown condition '%s' (none, not_exists, exists, lock_free, owner, eq)", k);
    }
    lua_pop(L, 1);
    return c;
}

/* ---- module functions ------------------------------------------------------------ */

static int l_open(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    lstore *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->st = NULL; /* closed until opened: an error below leaks nothing */
    luaL_setmetatable(L, RCPT_STORE_MT);
    rcpt_err e = {0};
    if (rcpt_store_open(url, &s->st, &e))
        return push_fail(L, &e);
    return 1;
}

static int l_now(lua_State *L)
{
    char b[40];
    rcpt_now_iso(!lua_toboolean(L, 1), b);
    lua_pushstring(L, b);
    return 1;
}

static int l_isoformat(lua_State *L)
{
    lua_Number t = luaL_checknumber(L, 1);
    char b[40];
    lua_Number s = (lua_Number)(long long)t;
    if (s > t)
        s -= 1;
    int usec = (int)((t - s) * 1e6 + 0.5);
    if (usec > 999999) {
        s += 1;
        usec -= 1000000;
    }
    if (rcpt_isoformat((int64_t)s, usec, !lua_toboolean(L, 2), b) < 0)
        return luaL_argerror(L, 1, "time out of range");
    lua_pushstring(L, b);
    return 1;
}

static int l_decimal(lua_State *L)
{
    lua_Number v = luaL_checknumber(L, 1);
    lua_Integer d = luaL_checkinteger(L, 2);
    luaL_argcheck(L, d >= 0 && d <= 40, 2, "places must be 0..40");
    char b[480];
    if (rcpt_fmt_decimal(v, (int)d, b, sizeof b) < 0)
        return luaL_argerror(L, 1, "not a finite number (or too large)");
    lua_pushstring(L, b);
    return 1;
}

static int l_uuid4(lua_State *L)
{
    char b[37];
    if (rcpt_uuid4(b))
        return luaL_error(L, "no randomness available");
    lua_pushstring(L, b);
    return 1;
}

static int l_is_uuid4(lua_State *L)
{
    lua_pushboolean(L, lua_type(L, 1) == LUA_TSTRING && rcpt_is_uuid4(lua_tostring(L, 1)));
    return 1;
}

/* ---- store methods ------------------------------------------------------------------ */

static const char *check_type(lua_State *L, int i)
{
    const char *t = luaL_checkstring(L, i);
    if (!rcpt_entity_known(t))
        luaL_argerror(L, i, lua_pushfstring(L, "unknown entity type '%s'", t));
    return t;
}

/* build the entity item (boxed on the stack); returns NULL after pushing nothing
 * and filling e when the fields are invalid */
static rcpt_item *boxed_entity(lua_State *L, const char *type, int idx, rcpt_err *e)
{
    rcpt_av *p = boxed_plain(L, idx, type); /* box 1 */
    box *b = box_new(L, free_item);          /* box 2 */
    rcpt_item *it = NULL;
    if (rcpt_entity_item(type, p, &it, e))
        return NULL;
    b->p = it;
    return it;
}

static int l_put(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *type = check_type(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lcond *c = get_cond(L, 4);
    rcpt_err e = {0};
    rcpt_item *it = boxed_entity(L, type, 3, &e);
    rcpt_cond cc = cv(c);
    int rc = it ? rcpt_store_put(s->st, it, &cc, &e) : e.code;
    if (rc)
        return push_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int keys_of(lua_State *L, const char *type, int idx, char **pk, char **sk, int prefix, rcpt_err *e)
{
    rcpt_av *p = boxed_plain(L, idx, type);
    int rc = prefix ? rcpt_entity_prefix(type, p, pk, sk, e) : rcpt_entity_key(type, p, pk, sk, e);
    lua_pop(L, 1); /* the box: frees p when collected */
    return rc;
}

static int l_get(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *type = check_type(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    rcpt_err e = {0};
    char *pk = NULL, *sk = NULL;
    if (keys_of(L, type, 3, &pk, &sk, 0, &e))
        return push_fail(L, &e);
    box *b = box_new(L, free_item);
    rcpt_item *it = NULL;
    int rc = rcpt_store_get(s->st, pk, sk, &it, &e);
    if (rc == RCPT_ENOTFOUND)
        rcpt_err_set(&e, rc, "%s %s / %s: not found", type, pk, sk);
    free(pk);
    free(sk);
    if (rc)
        return push_fail(L, &e);
    b->p = it;
    const char *t = rcpt_m_str(it, "TYPE");
    if (!t || strcmp(t, type) != 0) {
        rcpt_err_set(&e, RCPT_ENOTFOUND, "%s at %s / %s: not found (the item there is a %s)", type,
                     rcpt_m_str(it, "PK"), rcpt_m_str(it, "SK"), t ? t : "item without TYPE");
        return push_fail(L, &e);
    }
    if (push_entity(L, it, &e))
        return push_fail(L, &e);
    return 1;
}

static int l_delete(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *type = check_type(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lcond *c = get_cond(L, 4);
    rcpt_err e = {0};
    char *pk = NULL, *sk = NULL;
    int rc = keys_of(L, type, 3, &pk, &sk, 0, &e);
    rcpt_cond cc = cv(c);
    if (!rc)
        rc = rcpt_store_delete(s->st, pk, sk, &cc, &e);
    free(pk);
    free(sk);
    if (rc)
        return push_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

/* plain set values -> typed attributes */
static int typed_set(const rcpt_av *plain, rcpt_item *set, rcpt_err *e)
{
    for (size_t i = 0; i < plain->n; i++) {
        const rcpt_av *v = &plain->vals[i];
        const char *k = plain->keys[i];
        int rc = RCPT_OK;
        char tmp[64];
        switch (v->type) {
        case RCPT_AV_S: rc = rcpt_m_set_s(set, k, v->s, v->len); break;
        case RCPT_AV_NUM:
            if (v->b)
                snprintf(tmp, sizeof tmp, "%.0f", v->num);
            else if (rcpt_fmt_repr(v->num, tmp, sizeof tmp) < 0 || v->num != v->num)
                return rcpt_err_set(e, RCPT_EINVAL, "update.%s: not a finite number", k);
            rc = rcpt_m_set_n(set, k, tmp);
            break;
        case RCPT_AV_BOOL: rc = rcpt_m_set_bool(set, k, v->b); break;
        default:
            return rcpt_err_set(e, RCPT_EINVAL, "update.%s: must be a string, number or boolean", k);
        }
        if (rc)
            return rcpt_err_set(e, RCPT_ENOMEM, "out of memory");
    }
    return RCPT_OK;
}

static int l_update(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *type = check_type(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    lcond *c = get_cond(L, 5);
    rcpt_err e = {0};
    char *pk = NULL, *sk = NULL;
    int rc = keys_of(L, type, 3, &pk, &sk, 0, &e);
    if (rc)
        return push_fail(L, &e);
    rcpt_av *plain = NULL;
    /* boxed_plain may raise: free pk/sk first on that path by boxing them */
    box *kb = box_new(L, free);
    kb->p = pk;
    box *kb2 = box_new(L, free);
    kb2->p = sk;
    plain = boxed_plain(L, 4, "update");
    box *sb = box_new(L, free_item);
    rcpt_item *set = rcpt_item_new();
    sb->p = set;
    rcpt_item *out = NULL;
    rc = set ? typed_set(plain, set, &e) : rcpt_err_set(&e, RCPT_ENOMEM, "out of memory");
    rcpt_cond cc = cv(c);
    if (!rc)
        rc = rcpt_store_update(s->st, pk, sk, set, &cc, &out, &e);
    if (rc)
        return push_fail(L, &e);
    box *ob = box_new(L, free_item);
    ob->p = out;
    if (push_entity(L, out, &e))
        return push_fail(L, &e);
    return 1;
}

static int push_result(lua_State *L, rcpt_result *r, int raw, rcpt_err *e)
{
    lua_createtable(L, (int)r->n, 0);
    for (size_t i = 0; i < r->n; i++) {
        if (raw) {
            push_av(L, r->items[i], 1);
            lua_getfield(L, -1, "M"); /* an item is the map itself */
            lua_remove(L, -2);
        }
        else if (push_entity(L, r->items[i], e))
            return e->code;
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    if (r->cursor)
        lua_pushstring(L, r->cursor);
    else
        lua_pushnil(L);
    return RCPT_OK;
}

static void query_opts(lua_State *L, int idx, rcpt_query *q, int *raw)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "limit");
    q->limit = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "descending");
    q->descending = lua_toboolean(L, -1);
    lua_getfield(L, idx, "cursor");
    q->cursor = lua_tostring(L, -1);
    lua_getfield(L, idx, "prefix");
    if (!q->sk_prefix)
        q->sk_prefix = lua_tostring(L, -1);
    lua_getfield(L, idx, "type");
    if (!q->type)
        q->type = lua_tostring(L, -1);
    lua_getfield(L, idx, "raw");
    if (raw)
        *raw = lua_toboolean(L, -1);
    lua_getfield(L, idx, "between");
    if (lua_istable(L, -1)) {
        lua_geti(L, -1, 1);
        q->sk_lo = lua_tostring(L, -1);
        lua_geti(L, -2, 2);
        q->sk_hi = lua_tostring(L, -1);
        lua_pop(L, 2); /* the strings stay referenced by the opts table */
    }
    lua_pop(L, 7);
    luaL_argcheck(L, q->limit >= 0, idx, "limit must be >= 0");
}

static int run_query(lua_State *L, lstore *s, rcpt_query *q, int raw)
{
    rcpt_err e = {0};
    box *b = box_new(L, free_result);
    rcpt_result *r = calloc(1, sizeof *r);
    if (!r)
        return luaL_error(L, "out of memory");
    b->p = r;
    if (rcpt_store_query(s->st, q, r, &e) || push_result(L, r, raw, &e))
        return push_fail(L, &e);
    return 2;
}

static int l_query(lua_State *L)
{
    lua_settop(L, 4);
    lstore *s = check_store(L, 1);
    const char *type = check_type(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    rcpt_err e = {0};
    char *pk = NULL, *sk = NULL;
    if (keys_of(L, type, 3, &pk, &sk, 1, &e))
        return push_fail(L, &e);
    lua_pushstring(L, pk); /* anchored copies; the C strings go now */
    lua_pushstring(L, sk);
    free(pk);
    free(sk);
    rcpt_query q = {RCPT_IDX_TABLE, lua_tostring(L, -2), lua_tostring(L, -1), NULL, NULL, type, 0, 0, NULL};
    query_opts(L, 4, &q, NULL);
    return run_query(L, s, &q, 0);
}

static int l_query_index(lua_State *L)
{
    lua_settop(L, 4);
    lstore *s = check_store(L, 1);
    int idx = rcpt_index_from_name(luaL_checkstring(L, 2));
    luaL_argcheck(L, idx >= 0, 2, "index must be TABLE, GSI1, GSI2, GSI3 or GSITYPE");
    rcpt_query q = {idx, luaL_checkstring(L, 3), NULL, NULL, NULL, NULL, 0, 0, NULL};
    int raw = 0;
    query_opts(L, 4, &q, &raw);
    return run_query(L, s, &q, raw);
}

static int l_get_item(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *pk = luaL_checkstring(L, 2), *sk = luaL_checkstring(L, 3);
    rcpt_err e = {0};
    box *b = box_new(L, free_item);
    rcpt_item *it = NULL;
    if (rcpt_store_get(s->st, pk, sk, &it, &e))
        return push_fail(L, &e);
    b->p = it;
    rcpt_buf j = RCPT_BUF_INIT;
    box *jb = box_new(L, free);
    rcpt_item_to_json(it, &j);
    jb->p = j.data;
    push_av(L, it, 1);
    lua_getfield(L, -1, "M"); /* the top level is the map itself */
    lua_pushlstring(L, j.data ? j.data : "{}", j.len);
    return 2;
}

static int l_put_item(lua_State *L)
{
    lstore *s = check_store(L, 1);
    rcpt_err e = {0};
    rcpt_item *it = NULL;
    lcond *c = get_cond(L, 3);
    box *b = box_new(L, free_item);
    if (lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        const char *j = lua_tolstring(L, 2, &len);
        if (!rcpt_item_from_json(j, len, &it, &e))
            b->p = it;
    } else {
        if (!lua_istable(L, 2))
            return luaL_typeerror(L, 2, "DynamoDB JSON string or table");
        char ebuf[256];
        it = rcpt_item_new();
        b->p = it;
        const char *m = it ? to_av(L, 2, it, 0, ebuf, sizeof ebuf) : "out of memory";
        /* the table is data (a stream image from an event): a bad one is an
         * expected failure, not misuse of the API */
        if (m) {
            rcpt_err_set(&e, RCPT_EINVAL, "item: %s", m);
            return push_fail(L, &e);
        }
        if (it->type != RCPT_AV_M || rcpt_item_type_plain(it, &e)) {
            if (!e.code)
                rcpt_err_set(&e, RCPT_EINVAL, "item: must be a table of attributes");
            it = NULL;
        }
    }
    rcpt_cond cc = cv(c);
    int rc = it ? rcpt_store_put(s->st, it, &cc, &e) : e.code;
    if (rc)
        return push_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_delete_item(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *pk = luaL_checkstring(L, 2), *sk = luaL_checkstring(L, 3);
    lcond *c = get_cond(L, 4);
    rcpt_err e = {0};
    rcpt_cond cc = cv(c);
    int rc = rcpt_store_delete(s->st, pk, sk, &cc, &e);
    if (rc)
        return push_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_put_ocr(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *id = luaL_checkstring(L, 2);
    lua_ocr_doc *d = luaL_checkudata(L, 3, RCPT_OCR_DOC_MT);
    luaL_argcheck(L, d->doc != NULL, 3, "the OCR doc is closed");
    int image = 1;
    lua_Integer rid = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_getfield(L, 4, "receipt_id");
        rid = luaL_optinteger(L, -1, 0);
        lua_getfield(L, 4, "image");
        if (!lua_isnil(L, -1))
            image = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    luaL_argcheck(L, rid >= 0 && rid <= 99999999, 4, "receipt_id must be a positive integer");
    rcpt_err e = {0};
    if (rcpt_store_put_ocr(s->st, id, d->doc, image, (int)rid, &e))
        return push_fail(L, &e);
    size_t per = d->doc->n_lines + d->doc->n_words + d->doc->n_letters;
    lua_pushinteger(L, (lua_Integer)(per * (size_t)((image ? 1 : 0) + (rid > 0 ? 1 : 0))));
    return 1;
}

/* ---- batches / transactions ------------------------------------------------------------ */

static void batch_clear(lbatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        rcpt_item_free(b->ops[i].item);
        free(b->ops[i].pk);
        free(b->ops[i].sk);
        cond_clear(&b->ops[i].cond);
    }
    free(b->ops);
    b->ops = NULL;
    b->n = b->cap = 0;
}

static int batch_gc(lua_State *L)
{
    lbatch *b = luaL_checkudata(L, 1, RCPT_BATCH_MT);
    batch_clear(b);
    if (b->ref_store != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, b->ref_store);
        b->ref_store = LUA_NOREF;
    }
    return 0;
}

static int l_batch(lua_State *L)
{
    check_store(L, 1);
    lbatch *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    b->ref_store = LUA_NOREF;
    luaL_setmetatable(L, RCPT_BATCH_MT);
    lua_pushvalue(L, 1);
    b->ref_store = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

/* move a condition out of its userdata into a batch op */
static void take_cond(lcond *dst, lcond *src)
{
    *dst = *src;
    memset(src, 0, sizeof *src);
}

/* append an op; takes ownership of item/pk/sk/cond (freed on failure) */
static bop *batch_push(lua_State *L, lbatch *b)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 8;
        bop *n = realloc(b->ops, nc * sizeof *n);
        if (!n)
            return NULL;
        b->ops = n;
        b->cap = nc;
    }
    bop *o = &b->ops[b->n++];
    memset(o, 0, sizeof *o);
    return o;
}

/* b:put(type, fields, opts) -> true | nil, msg, errname (validation now) */
static int b_put(lua_State *L)
{
    lbatch *b = check_batch(L, 1);
    const char *type = check_type(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lcond *c = get_cond(L, 4);
    rcpt_err e = {0};
    rcpt_av *p = boxed_plain(L, 3, type);
    rcpt_item *it = NULL;
    if (rcpt_entity_item(type, p, &it, &e))
        return push_fail(L, &e);
    bop *o = batch_push(L, b);
    if (!o) {
        rcpt_item_free(it);
        return luaL_error(L, "out of memory");
    }
    o->kind = RCPT_TX_PUT;
    o->item = it;
    take_cond(&o->cond, c);
    lua_pushboolean(L, 1);
    return 1;
}

static int b_put_item(lua_State *L)
{
    lbatch *b = check_batch(L, 1);
    size_t len;
    const char *j = luaL_checklstring(L, 2, &len);
    lcond *c = get_cond(L, 3);
    rcpt_err e = {0};
    rcpt_item *it = NULL;
    if (rcpt_item_from_json(j, len, &it, &e))
        return push_fail(L, &e);
    bop *o = batch_push(L, b);
    if (!o) {
        rcpt_item_free(it);
        return luaL_error(L, "out of memory");
    }
    o->kind = RCPT_TX_PUT;
    o->item = it;
    take_cond(&o->cond, c);
    lua_pushboolean(L, 1);
    return 1;
}

static int b_keyed(lua_State *L, int kind)
{
    lbatch *b = check_batch(L, 1);
    const char *type = check_type(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lcond *c = get_cond(L, 4);
    rcpt_err e = {0};
    char *pk = NULL, *sk = NULL;
    if (keys_of(L, type, 3, &pk, &sk, 0, &e))
        return push_fail(L, &e);
    bop *o = batch_push(L, b);
    if (!o) {
        free(pk);
        free(sk);
        return luaL_error(L, "out of memory");
    }
    o->kind = kind;
    o->pk = pk;
    o->sk = sk;
    take_cond(&o->cond, c);
    lua_pushboolean(L, 1);
    return 1;
}

static int b_delete(lua_State *L) { return b_keyed(L, RCPT_TX_DELETE); }
static int b_check(lua_State *L) { return b_keyed(L, RCPT_TX_CHECK); }

static int b_commit(lua_State *L)
{
    lbatch *b = check_batch(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->ref_store);
    lstore *s = check_store(L, -1);
    rcpt_txop *ops = calloc(b->n ? b->n : 1, sizeof *ops);
    if (!ops)
        return luaL_error(L, "out of memory");
    for (size_t i = 0; i < b->n; i++) {
        ops[i].kind = b->ops[i].kind;
        ops[i].item = b->ops[i].item;
        ops[i].pk = b->ops[i].pk;
        ops[i].sk = b->ops[i].sk;
        ops[i].cond = cv(&b->ops[i].cond);
    }
    rcpt_err e = {0};
    int rc = rcpt_store_transact(s->st, ops, b->n, &e);
    free(ops);
    batch_clear(b);
    b->done = 1;
    if (rc)
        return push_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int b_len(lua_State *L)
{
    lbatch *b = luaL_checkudata(L, 1, RCPT_BATCH_MT);
    lua_pushinteger(L, (lua_Integer)b->n);
    return 1;
}

static int l_transaction(lua_State *L)
{
    check_store(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_pushcfunction(L, l_batch);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1); /* 3: the batch */
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lbatch *b = luaL_checkudata(L, 3, RCPT_BATCH_MT);
        batch_clear(b);
        b->done = 1;
        return lua_error(L); /* re-raise the function's error */
    }
    lua_pushcfunction(L, b_commit);
    lua_pushvalue(L, 3);
    lua_call(L, 1, LUA_MULTRET);
    return lua_gettop(L) - 3;
}

/* ---- export / import ------------------------------------------------------------- */

static int write_file(void *ud, const char *p, size_t n)
{
    return fwrite(p, 1, n, ud) == n ? RCPT_OK : RCPT_EIO;
}

static FILE *file_arg(lua_State *L, int i, const char *mode, int *owned)
{
    luaL_Stream *ls = luaL_testudata(L, i, LUA_FILEHANDLE);
    *owned = 0;
    if (ls) {
        if (!ls->closef)
            luaL_argerror(L, i, "the file is closed");
        return ls->f;
    }
    const char *path = luaL_checkstring(L, i);
    FILE *f = fopen(path, mode);
    *owned = f != NULL;
    return f;
}

static int l_export(lua_State *L)
{
    lstore *s = check_store(L, 1);
    int owned;
    FILE *f = file_arg(L, 2, "wb", &owned);
    rcpt_err e = {0};
    if (!f) {
        rcpt_err_set(&e, RCPT_EIO, "export: cannot open %s: %s", lua_tostring(L, 2), strerror(errno));
        return push_fail(L, &e);
    }
    size_t n = 0;
    int rc = rcpt_store_export(s->st, write_file, f, &n, &e);
    if (fflush(f) != 0 && !rc)
        rc = rcpt_err_set(&e, RCPT_EIO, "export: write failed: %s", strerror(errno));
    if (owned && fclose(f) != 0 && !rc)
        rc = rcpt_err_set(&e, RCPT_EIO, "export: close failed: %s", strerror(errno));
    if (rc)
        return push_fail(L, &e);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

typedef struct imp {
    FILE *f;
    lua_State *L;
    int progress; /* stack index of the function or 0 */
    int lua_failed;
} imp;

static int read_line(void *ud, rcpt_buf *line, int *eof)
{
    imp *im = ud;
    char chunk[65536];
    *eof = 0;
    for (;;) {
        if (!fgets(chunk, sizeof chunk, im->f)) {
            *eof = 1;
            return ferror(im->f) ? RCPT_EIO : RCPT_OK;
        }
        size_t n = strlen(chunk);
        if (rcpt_buf_append(line, chunk, n))
            return RCPT_ENOMEM;
        if (n && chunk[n - 1] == '\n')
            return RCPT_OK;
    }
}

static int progress_cb(void *ud, size_t items)
{
    imp *im = ud;
    if (!im->progress)
        return RCPT_OK;
    lua_pushvalue(im->L, im->progress);
    lua_pushinteger(im->L, (lua_Integer)items);
    if (lua_pcall(im->L, 1, 0, 0) != LUA_OK) {
        im->lua_failed = 1; /* error object left on the stack */
        return RCPT_EINVAL;
    }
    return RCPT_OK;
}

static int l_import(lua_State *L)
{
    lstore *s = check_store(L, 1);
    int progress = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "progress");
        if (lua_isfunction(L, -1))
            progress = lua_gettop(L);
        else
            lua_pop(L, 1);
    }
    int owned;
    FILE *f = file_arg(L, 2, "rb", &owned);
    rcpt_err e = {0};
    if (!f) {
        rcpt_err_set(&e, RCPT_EIO, "import: cannot open %s: %s", lua_tostring(L, 2), strerror(errno));
        return push_fail(L, &e);
    }
    imp im = {f, L, progress, 0};
    size_t n = 0;
    int rc = rcpt_store_import(s->st, read_line, &im, progress_cb, &im, &n, &e);
    if (owned)
        fclose(f);
    if (im.lua_failed)
        return lua_error(L);
    if (rc)
        return push_fail(L, &e);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* ---- queues ------------------------------------------------------------------------------ */

static int l_queue(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lqueue *q = lua_newuserdatauv(L, sizeof *q, 0);
    q->q = NULL;
    luaL_setmetatable(L, RCPT_QUEUE_MT);
    rcpt_err e = {0};
    if (rcpt_store_queue(s->st, name, &q->q, &e))
        return push_fail(L, &e);
    return 1;
}

static int q_send(lua_State *L)
{
    lqueue *q = check_queue(L, 1);
    size_t len;
    const char *body = luaL_checklstring(L, 2, &len);
    char id[40];
    rcpt_err e = {0};
    if (q->q->ops->send(q->q, body, len, id, &e))
        return push_fail(L, &e);
    lua_pushstring(L, id);
    return 1;
}

static void free_msgs_box(void *p)
{
    /* p points at {rcpt_msg *m; size_t n} */
    struct { rcpt_msg *m; size_t n; } *mb = p;
    rcpt_msgs_free(mb->m, mb->n);
    free(mb);
}

static int q_receive(lua_State *L)
{
    lqueue *q = check_queue(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, 1);
    lua_Number vis = luaL_optnumber(L, 3, 30);
    box *b = box_new(L, free_msgs_box);
    struct { rcpt_msg *m; size_t n; } *mb = calloc(1, sizeof *mb);
    if (!mb)
        return luaL_error(L, "out of memory");
    b->p = mb;
    rcpt_err e = {0};
    if (q->q->ops->receive(q->q, (int)max, vis, &mb->m, &mb->n, &e))
        return push_fail(L, &e);
    lua_createtable(L, (int)mb->n, 0);
    for (size_t i = 0; i < mb->n; i++) {
        rcpt_msg *m = &mb->m[i];
        lua_createtable(L, 0, 5);
        lua_pushstring(L, m->id);
        lua_setfield(L, -2, "id");
        lua_pushlstring(L, m->body, m->body_len);
        lua_setfield(L, -2, "body");
        lua_pushstring(L, m->receipt);
        lua_setfield(L, -2, "receipt");
        lua_pushinteger(L, m->receive_count);
        lua_setfield(L, -2, "receive_count");
        lua_pushinteger(L, (lua_Integer)m->sent_ms);
        lua_setfield(L, -2, "sent_ms");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int q_delete(lua_State *L)
{
    lqueue *q = check_queue(L, 1);
    const char *r = luaL_checkstring(L, 2);
    rcpt_err e = {0};
    if (q->q->ops->del(q->q, r, &e))
        return push_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int q_count(lua_State *L)
{
    lqueue *q = check_queue(L, 1);
    long vis = 0, inf = 0;
    rcpt_err e = {0};
    if (q->q->ops->count(q->q, &vis, &inf, &e))
        return push_fail(L, &e);
    lua_pushinteger(L, vis);
    lua_pushinteger(L, inf);
    return 2;
}

static int q_close(lua_State *L)
{
    lqueue *q = luaL_checkudata(L, 1, RCPT_QUEUE_MT);
    if (q->q) {
        rcpt_queue_close(q->q);
        q->q = NULL;
    }
    return 0;
}

static int q_tostring(lua_State *L)
{
    lqueue *q = luaL_checkudata(L, 1, RCPT_QUEUE_MT);
    lua_pushstring(L, q->q ? "rcpt.store.queue" : "rcpt.store.queue (closed)");
    return 1;
}

/* ---- store lifetime ----------------------------------------------------------------------- */

static int l_close(lua_State *L)
{
    lstore *s = luaL_checkudata(L, 1, RCPT_STORE_MT);
    if (s->st) {
        rcpt_store_close(s->st);
        s->st = NULL;
    }
    return 0;
}

static void free_changes_box(void *p)
{
    /* the box holds a {ptr, n} pair */
    void **pair = p;
    rcpt_changes_free(pair[0], (size_t)(uintptr_t)pair[1]);
    free(pair);
}

static void set_opt_str(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static int l_changes(lua_State *L)
{
    lstore *s = check_store(L, 1);
    lua_Integer after = luaL_optinteger(L, 2, 0);
    lua_Integer limit = luaL_optinteger(L, 3, 0);
    luaL_argcheck(L, limit >= 0 && limit <= 1000000, 3, "limit out of range");
    box *b = box_new(L, free_changes_box);
    void **pair = calloc(2, sizeof *pair);
    if (!pair)
        return luaL_error(L, "out of memory");
    b->p = pair;
    rcpt_err e = {0};
    rcpt_change *v = NULL;
    size_t n = 0;
    if (rcpt_store_changes(s->st, (int64_t)after, (int)limit, &v, &n, &e))
        return push_fail(L, &e);
    pair[0] = v;
    pair[1] = (void *)(uintptr_t)n;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 8);
        lua_pushinteger(L, (lua_Integer)v[i].seq);
        lua_setfield(L, -2, "seq");
        set_opt_str(L, "event_name", v[i].event);
        set_opt_str(L, "pk", v[i].pk);
        set_opt_str(L, "sk", v[i].sk);
        set_opt_str(L, "type", v[i].type);
        set_opt_str(L, "old_item", v[i].old_item);
        set_opt_str(L, "new_item", v[i].new_item);
        lua_pushinteger(L, (lua_Integer)v[i].at_ms);
        lua_setfield(L, -2, "at_ms");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int l_change_cursor(lua_State *L)
{
    lstore *s = check_store(L, 1);
    const char *consumer = luaL_checkstring(L, 2);
    lua_Integer set = -1;
    if (!lua_isnoneornil(L, 3)) {
        set = luaL_checkinteger(L, 3);
        luaL_argcheck(L, set >= 0, 3, "must be >= 0");
    }
    rcpt_err e = {0};
    int64_t out = 0;
    if (rcpt_store_cursor(s->st, consumer, (int64_t)set, &out, &e))
        return push_fail(L, &e);
    lua_pushinteger(L, (lua_Integer)out);
    return 1;
}

static int l_entity(lua_State *L)
{
    rcpt_err e = {0};
    rcpt_item *it = NULL;
    box *b = box_new(L, free_item);
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t len;
        const char *j = lua_tolstring(L, 1, &len);
        if (rcpt_item_from_json(j, len, &it, &e))
            return push_fail(L, &e);
        b->p = it;
    } else {
        if (!lua_istable(L, 1))
            return luaL_typeerror(L, 1, "DynamoDB JSON string or table");
        char ebuf[256];
        it = rcpt_item_new();
        b->p = it;
        const char *m = it ? to_av(L, 1, it, 0, ebuf, sizeof ebuf) : "out of memory";
        /* the table is data (a stream image from an event): a bad one is an
         * expected failure, not misuse of the API */
        if (m) {
            rcpt_err_set(&e, RCPT_EINVAL, "item: %s", m);
            return push_fail(L, &e);
        }
        if (it->type != RCPT_AV_M || rcpt_item_type_plain(it, &e)) {
            if (!e.code)
                rcpt_err_set(&e, RCPT_EINVAL, "item: must be a table of attributes");
            return push_fail(L, &e);
        }
    }
    if (push_entity(L, it, &e))
        return push_fail(L, &e);
    return 1;
}

static int l_tostring(lua_State *L)
{
    lstore *s = luaL_checkudata(L, 1, RCPT_STORE_MT);
    if (s->st)
        lua_pushfstring(L, "rcpt.store (%s)", s->st->ops->name);
    else
        lua_pushstring(L, "rcpt.store (closed)");
    return 1;
}

static const luaL_Reg store_methods[] = {
    {"put", l_put}, {"get", l_get}, {"delete", l_delete}, {"update", l_update},
    {"query", l_query}, {"query_index", l_query_index}, {"get_item", l_get_item},
    {"put_item", l_put_item}, {"delete_item", l_delete_item}, {"put_ocr", l_put_ocr},
    {"batch", l_batch}, {"transaction", l_transaction}, {"export", l_export},
    {"import", l_import}, {"queue", l_queue}, {"changes", l_changes},
    {"change_cursor", l_change_cursor}, {"close", l_close}, {NULL, NULL}};

static const luaL_Reg store_meta[] = {
    {"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {"__index", NULL},
    {NULL, NULL}};

static const luaL_Reg queue_methods[] = {
    {"send", q_send}, {"receive", q_receive}, {"delete", q_delete}, {"count", q_count},
    {"close", q_close}, {NULL, NULL}};

static const luaL_Reg queue_meta[] = {
    {"__gc", q_close}, {"__close", q_close}, {"__tostring", q_tostring}, {"__index", NULL},
    {NULL, NULL}};

static const luaL_Reg batch_methods[] = {
    {"put", b_put}, {"put_item", b_put_item}, {"delete", b_delete}, {"check", b_check},
    {"commit", b_commit}, {NULL, NULL}};

static const luaL_Reg batch_meta[] = {
    {"__gc", batch_gc}, {"__close", batch_gc}, {"__len", b_len}, {"__index", NULL}, {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"open", l_open}, {"now", l_now}, {"isoformat", l_isoformat}, {"decimal", l_decimal},
    {"uuid4", l_uuid4}, {"is_uuid4", l_is_uuid4}, {"entity", l_entity}, {NULL, NULL}};

static void new_type(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

int luaopen_rcpt_store(lua_State *L)
{
    new_type(L, RCPT_STORE_MT, store_meta, store_methods);
    new_type(L, RCPT_QUEUE_MT, queue_meta, queue_methods);
    new_type(L, RCPT_BATCH_MT, batch_meta, batch_methods);
    luaL_newmetatable(L, RCPT_COND_MT);
    lua_pushcfunction(L, cond_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, RCPT_BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    static const char *const TYPES[] = {
        "IMAGE", "LINE", "WORD", "LETTER", "RECEIPT", "RECEIPT_LINE", "RECEIPT_WORD",
        "RECEIPT_LETTER", "OCR_JOB", "OCR_ROUTING_DECISION", "RECEIPT_METADATA",
        "COMPACTION_RUN", "COMPACTION_LOCK", "PLACES_CACHE", NULL};
    lua_newtable(L);
    for (int i = 0; TYPES[i]; i++) {
        lua_pushstring(L, TYPES[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "types");
    return 1;
}
