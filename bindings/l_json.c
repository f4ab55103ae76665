/* rcpt.json: JSON for the Lua side, in C on core/json (no lua-cjson).
 *
 *   json.decode(text [, {max_depth = N}]) -> value | nil, msg
 *   json.encode(value [, {sort_keys = true, indent = N}]) -> string   (raises)
 *   json.array([t]) -> t        mark t as a JSON array (so {} encodes as [])
 *   json.is_array(t) -> boolean
 *   json.null                   the JSON null (a light userdata NULL, the
 *                               same value as lua-cjson's cjson.null)
 *
 * Decoding: objects -> tables; arrays -> tables with the array metatable
 * (an empty array re-encodes as []); null -> json.null (so arrays have no
 * holes); integer tokens that fit an int64 -> Lua integers, every other
 * number -> float, correctly rounded; strings may hold NUL.  A key given
 * twice keeps its last value.  Errors: nil, "JSON: byte N: ...".  The
 * default max_depth is 256.
 *
 * Encoding: integers as integers; floats whole and below 2^53 in magnitude
 * as integers (the Swift producer's style), others in the shortest form
 * that reads back to the same double (like Python's repr); NaN and
 * infinities raise.  Strings are escaped minimally ('"', '\\', control
 * characters; '/' is not escaped, UTF-8 is copied) and must be valid UTF-8.
 * A table is an array when it carries the array metatable or when #t > 0
 * (then it may have no other key); otherwise an object whose keys must be
 * strings or numbers (numbers are written as strings).  Keys are sorted
 * (byte order) unless sort_keys = false.  indent = N pretty-prints with N
 * spaces per level and ": " after keys, like Python's json.dumps(indent=N).
 * Cycles and nesting deeper than 1024 raise. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "util/buf.h"

#define RCPT_JSON_ARRAY_MT "rcpt.json.array"
#define RCPT_JSON_BUF_MT "rcpt.json.buffer"
#define RCPT_JSON_READER_MT "rcpt.json.reader"
#define DECODE_DEPTH_DEFAULT 256
#define ENCODE_DEPTH_MAX RCPT_JSON_READER_MAX_DEPTH

/* ---- decode ------------------------------------------------------------- */

/* The reader lives in a userdata so that its locale (made lazily for rare
 * numbers) is released by __gc even when a Lua error (out of memory)
 * unwinds through the decoder. */
static int reader_gc(lua_State *L)
{
    rcpt_json_reader *r = luaL_checkudata(L, 1, RCPT_JSON_READER_MT);
    rcpt_json_reader_done(r);
    return 0;
}

static void push_string(lua_State *L, const rcpt_json_tok *t)
{
    if (!t->escaped) {
        lua_pushlstring(L, t->s, t->len);
        return;
    }
    luaL_Buffer b;
    char *dst = luaL_buffinitsize(L, &b, t->len);
    luaL_pushresultsize(&b, rcpt_json_unescape(t->s, t->len, dst));
}

/* Push the value that starts with token t.  Returns an rcpt status; the
 * message is in the reader's err. */
static int decode_value(lua_State *L, rcpt_json_reader *r, rcpt_json_tok *t)
{
    int rc;
    switch (t->type) {
    case RCPT_JSON_NULL: lua_pushlightuserdata(L, NULL); return RCPT_OK;
    case RCPT_JSON_BOOL: lua_pushboolean(L, t->b); return RCPT_OK;
    case RCPT_JSON_NUMBER:
        if (t->flags & RCPT_JSON_F_I64) lua_pushinteger(L, (lua_Integer)t->i);
        else lua_pushnumber(L, (lua_Number)t->d);
        return RCPT_OK;
    case RCPT_JSON_STRING: push_string(L, t); return RCPT_OK;
    case RCPT_JSON_ARRAY: {
        luaL_checkstack(L, 4, "JSON nesting");
        lua_newtable(L);
        luaL_setmetatable(L, RCPT_JSON_ARRAY_MT);
        lua_Integer n = 0;
        for (;;) {
            if ((rc = rcpt_json_next(r, t))) return rc;
            if (t->type == RCPT_JSON_T_END_ARRAY) return RCPT_OK;
            if ((rc = decode_value(L, r, t))) return rc;
            lua_rawseti(L, -2, ++n);
        }
    }
    case RCPT_JSON_OBJECT:
        luaL_checkstack(L, 4, "JSON nesting");
        lua_newtable(L);
        for (;;) {
            if ((rc = rcpt_json_next(r, t))) return rc;
            if (t->type == RCPT_JSON_T_END_OBJECT) return RCPT_OK;
            push_string(L, t);
            if ((rc = rcpt_json_next(r, t)) || (rc = decode_value(L, r, t))) return rc;
            lua_rawset(L, -3); /* a repeated key: the last value wins */
        }
    }
    return RCPT_EINVAL; /* not reached: the reader only gives values here */
}

static int l_decode(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING) {
        lua_pushnil(L);
        lua_pushfstring(L, "JSON text must be a string, got %s", luaL_typename(L, 1));
        return 2;
    }
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    lua_Integer depth = DECODE_DEPTH_DEFAULT;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "max_depth");
        if (!lua_isnil(L, -1)) {
            depth = luaL_checkinteger(L, -1);
            luaL_argcheck(L, depth > 0 && depth <= RCPT_JSON_READER_MAX_DEPTH, 2,
                          "max_depth must be between 1 and 1024");
        }
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    rcpt_err err = {0};
    rcpt_json_reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    rcpt_json_reader_init(r, s, len, (size_t)depth, &err);
    luaL_setmetatable(L, RCPT_JSON_READER_MT);
    rcpt_json_tok t;
    int rc = rcpt_json_next(r, &t);
    if (!rc) rc = decode_value(L, r, &t);
    if (!rc) rc = rcpt_json_next(r, &t); /* EOF, or data after the value */
    rcpt_json_reader_done(r);
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    return 1;
}

/* ---- encode ------------------------------------------------------------- */

/* The output buffer lives in a userdata for the same reason: every raise
 * below (bad value, cycle, out of memory) leaves it to __gc. */
static int buf_gc(lua_State *L)
{
    rcpt_buf *b = luaL_checkudata(L, 1, RCPT_JSON_BUF_MT);
    rcpt_buf_free(b);
    return 0;
}

typedef struct enc {
    lua_State *L;
    rcpt_buf *b;
    int seen;        /* stack index of the set of tables being encoded */
    int sort_keys;
    int indent;      /* < 0: compact */
} enc;

/* One double in the form described at the top; buf has room for 40. */
static void format_double(double x, char *buf, size_t cap)
{
    if (x == floor(x) && fabs(x) < 9007199254740992.0) {
        snprintf(buf, cap, "%lld", (long long)x); /* -0.0 too: "0" */
        return;
    }
    /* 15 digits always read back for a normal double, and %g drops the
     * trailing zeros, so a value with a shorter form gets it; subnormals
     * carry fewer bits (5e-324), so they search from one digit up */
    for (int prec = fabs(x) < 2.2250738585072014e-308 ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        /* a locale with a decimal comma would break the syntax */
        for (char *c = buf; *c; c++)
            if (*c == ',') *c = '.';
        double back;
        if (rcpt_json_number(buf, strlen(buf), &back) == RCPT_OK && back == x) return;
    }
}

static void put_number(enc *E, int idx)
{
    char num[48];
    if (lua_isinteger(E->L, idx)) {
        snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(E->L, idx));
    } else {
        double x = (double)lua_tonumber(E->L, idx);
        if (!isfinite(x)) luaL_error(E->L, "cannot encode NaN or an infinite number as JSON");
        format_double(x, num, sizeof num);
    }
    rcpt_buf_puts(E->b, num);
}

static void put_string(enc *E, const char *s, size_t n)
{
    size_t bad = rcpt_json_utf8_check(s, n);
    if (bad < n) luaL_error(E->L, "cannot encode a string with invalid UTF-8 (byte %d) as JSON", (int)bad);
    rcpt_buf *b = E->b;
    rcpt_buf_reserve(b, n + 2);
    rcpt_buf_putc(b, '"');
    size_t run = 0; /* bytes copied as they are, appended in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        rcpt_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': rcpt_buf_append(b, "\\\"", 2); break;
        case '\\': rcpt_buf_append(b, "\\\\", 2); break;
        case '\b': rcpt_buf_append(b, "\\b", 2); break;
        case '\f': rcpt_buf_append(b, "\\f", 2); break;
        case '\n': rcpt_buf_append(b, "\\n", 2); break;
        case '\r': rcpt_buf_append(b, "\\r", 2); break;
        case '\t': rcpt_buf_append(b, "\\t", 2); break;
        default: rcpt_buf_printf(b, "\\u%04x", c); break;
        }
    }
    rcpt_buf_append(b, s + run, n - run);
    rcpt_buf_putc(b, '"');
}

static void newline(enc *E, int depth)
{
    if (E->indent < 0) return;
    rcpt_buf_putc(E->b, '\n');
    for (int i = 0; i < E->indent * depth; i++) rcpt_buf_putc(E->b, ' ');
}

static void encode_value(enc *E, int idx, int depth);

/* Key of an object member, as its JSON string. */
typedef struct key {
    const char *s;   /* string keys: the Lua string (anchored by the table) */
    size_t n;
    int type;        /* LUA_TSTRING or LUA_TNUMBER */
    int isint;
    lua_Integer i;
    lua_Number d;
    char num[48];
} key;

static void key_of(enc *E, int idx, key *k)
{
    lua_State *L = E->L;
    k->type = lua_type(L, idx);
    if (k->type == LUA_TSTRING) {
        k->s = lua_tolstring(L, idx, &k->n);
        return;
    }
    if (k->type != LUA_TNUMBER)
        luaL_error(L, "cannot encode a table key of type %s as JSON", luaL_typename(L, idx));
    k->isint = lua_isinteger(L, idx);
    if (k->isint) {
        k->i = lua_tointeger(L, idx);
        snprintf(k->num, sizeof k->num, LUA_INTEGER_FMT, (LUAI_UACINT)k->i);
    } else {
        k->d = lua_tonumber(L, idx);
        if (!isfinite((double)k->d)) luaL_error(L, "cannot encode a non-finite number key as JSON");
        format_double((double)k->d, k->num, sizeof k->num);
    }
    k->s = NULL;
    k->n = strlen(k->num);
}

/* A number key's text is inside the record, which qsort moves: s is only
 * used for string keys. */
static const char *key_str(const key *k)
{
    return k->type == LUA_TNUMBER ? k->num : k->s;
}

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(key_str(x), key_str(y), n);
    if (c) return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static void member(enc *E, int *first, const key *k, int vidx, int depth)
{
    if (!*first) rcpt_buf_putc(E->b, ',');
    *first = 0;
    newline(E, depth + 1);
    put_string(E, key_str(k), k->n);
    if (E->indent >= 0) rcpt_buf_append(E->b, ": ", 2);
    else rcpt_buf_putc(E->b, ':');
    encode_value(E, vidx, depth + 1);
}

static void encode_table(enc *E, int idx, int depth)
{
    lua_State *L = E->L;
    if (depth >= ENCODE_DEPTH_MAX) luaL_error(L, "cannot encode JSON nested deeper than %d levels", ENCODE_DEPTH_MAX);
    luaL_checkstack(L, 6, "JSON nesting");
    const void *self = lua_topointer(L, idx);
    if (lua_rawgetp(L, E->seen, self) != LUA_TNIL)
        luaL_error(L, "cannot encode a table that contains itself (a cycle) as JSON");
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, E->seen, self);

    int marked = 0;
    if (lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, RCPT_JSON_ARRAY_MT);
        marked = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    lua_Unsigned n = lua_rawlen(L, idx);
    if (marked || n > 0) {
        /* refuse holes and stray keys rather than lose data silently */
        lua_Unsigned count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            count++;
            lua_pop(L, 1);
        }
        if (count != n) luaL_error(L, "cannot encode a table mixing array and object keys as JSON");
        rcpt_buf_putc(E->b, '[');
        for (lua_Unsigned i = 1; i <= n; i++) {
            if (i > 1) rcpt_buf_putc(E->b, ',');
            newline(E, depth + 1);
            lua_rawgeti(L, idx, (lua_Integer)i);
            encode_value(E, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
        }
        if (n) newline(E, depth);
        rcpt_buf_putc(E->b, ']');
    } else {
        int first = 1;
        rcpt_buf_putc(E->b, '{');
        if (!E->sort_keys) {
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                key k;
                key_of(E, -2, &k);
                member(E, &first, &k, lua_gettop(L), depth);
                lua_pop(L, 1);
            }
        } else {
            size_t cnt = 0;
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                cnt++;
                lua_pop(L, 1);
            }
            /* the keys in a userdata: collected if a raise unwinds */
            key *keys = lua_newuserdatauv(L, (cnt ? cnt : 1) * sizeof *keys, 0);
            size_t i = 0;
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                lua_pop(L, 1);
                key_of(E, -1, &keys[i++]);
            }
            qsort(keys, cnt, sizeof *keys, key_cmp);
            for (i = 0; i < cnt; i++) {
                key *k = &keys[i];
                if (k->type == LUA_TNUMBER) {
                    if (k->isint) lua_pushinteger(L, k->i);
                    else lua_pushnumber(L, k->d);
                } else {
                    lua_pushlstring(L, k->s, k->n);
                }
                lua_rawget(L, idx);
                member(E, &first, k, lua_gettop(L), depth);
                lua_pop(L, 1);
            }
            lua_pop(L, 1); /* keys */
        }
        if (!first) newline(E, depth);
        rcpt_buf_putc(E->b, '}');
    }
    lua_pushnil(L);
    lua_rawsetp(L, E->seen, self);
}

static void encode_value(enc *E, int idx, int depth)
{
    lua_State *L = E->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: rcpt_buf_append(E->b, "null", 4); break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx)) rcpt_buf_append(E->b, "true", 4);
        else rcpt_buf_append(E->b, "false", 5);
        break;
    case LUA_TNUMBER: put_number(E, idx); break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        put_string(E, s, n);
        break;
    }
    case LUA_TTABLE: encode_table(E, idx, depth); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            rcpt_buf_append(E->b, "null", 4);
            break;
        }
        /* fall through */
    default: luaL_error(L, "cannot encode a %s as JSON", luaL_typename(L, idx));
    }
    if (E->b->oom) luaL_error(L, "not enough memory to encode JSON");
}

static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    enc E = {L, NULL, 0, 1, -1};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "sort_keys");
        if (!lua_isnil(L, -1)) E.sort_keys = lua_toboolean(L, -1);
        lua_getfield(L, 2, "indent");
        if (!lua_isnil(L, -1)) {
            lua_Integer ind = luaL_checkinteger(L, -1);
            luaL_argcheck(L, ind >= 0 && ind <= 16, 2, "indent must be between 0 and 16");
            E.indent = (int)ind;
        }
        lua_pop(L, 2);
    }
    lua_settop(L, 1);
    lua_newtable(L);
    E.seen = lua_gettop(L);
    E.b = lua_newuserdatauv(L, sizeof(rcpt_buf), 0);
    rcpt_buf_init(E.b);
    luaL_setmetatable(L, RCPT_JSON_BUF_MT);
    encode_value(&E, 1, 0);
    lua_pushlstring(L, E.b->data ? E.b->data : "", E.b->len);
    rcpt_buf_free(E.b); /* now, not at the next collection */
    return 1;
}

/* ---- arrays and null ------------------------------------------------------- */

static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    luaL_setmetatable(L, RCPT_JSON_ARRAY_MT);
    return 1;
}

static int l_is_array(lua_State *L)
{
    int r = 0;
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, RCPT_JSON_ARRAY_MT);
        r = lua_rawequal(L, -1, -2);
    }
    lua_pushboolean(L, r);
    return 1;
}

static const luaL_Reg json_funcs[] = {
    {"decode", l_decode},
    {"encode", l_encode},
    {"array", l_array},
    {"is_array", l_is_array},
    {"null", NULL},
    {NULL, NULL},
};

int luaopen_rcpt_json(lua_State *L)
{
    luaL_newmetatable(L, RCPT_JSON_ARRAY_MT);
    lua_pop(L, 1);
    if (luaL_newmetatable(L, RCPT_JSON_BUF_MT)) {
        lua_pushcfunction(L, buf_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, buf_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, RCPT_JSON_READER_MT)) {
        lua_pushcfunction(L, reader_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, reader_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, json_funcs);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    return 1;
}
