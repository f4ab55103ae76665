/* rcpt.places_api: the Google Places legacy Web Service client (core/net/places.h)
 * for Lua.  The search flows and the cache policy are in lua/rcpt/places.lua
 * (module rcpt.places); this module is named places_api so the two never
 * shadow each other.
 *
 *   local api = require "rcpt.places_api"
 *   api.client{api_key=, base_url=api.BASE_URL, timeout_ms=5000, connect_timeout_ms=3000,
 *              retry={max_attempts=3, base_delay_ms=250, max_delay_ms=10000}}
 *       -> client | nil, msg, errname
 *   client:find_place(input, inputtype[, fields])   inputtype "phonenumber" | "textquery"
 *   client:details(place_id[, fields])              fields default api.DETAILS_FIELDS
 *   client:text_search(query[, {lat=, lng=, radius=1000}])
 *   client:autocomplete(input[, types = "address"])
 *       each -> {status=, found=bool, attempts=, places={place, ...}}
 *             | nil, msg, errname ("EAUTH" for REQUEST_DENIED, "EHTTP", "ETIMEOUT", ...), status|nil
 *       place = {place_id=, name=, formatted_address=, formatted_phone_number=,
 *                international_phone_number=, website=, business_status=, vicinity=,
 *                description= (autocomplete), types={...},
 *                geometry={location={lat=, lng=}}, rating=, user_ratings_total=, price_level=}
 *         (absent fields are nil; types is always a table)
 *   client:requests() -> HTTP attempts so far;  client:close(), __gc, __close, __tostring
 *   api.parse(endpoint, body[, key]) -> same as a call (endpoint: "findplacefromtext",
 *       "details", "textsearch", "autocomplete"); for tests
 *   api.cache_key(search_type, value) -> "VALUE#..." (spec §5.7) | nil, msg, errname
 *   api.BASE_URL, api.DETAILS_FIELDS, api.PHONE_FIELDS, api.ADDRESS_FIELDS
 *
 * A result is converted inside a "scratch" userdata whose __gc frees the C
 * result, so a memory error while building the tables never leaks. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "net/places.h"

#define RCPT_PLACES_MT "rcpt.places_api.client"
#define RCPT_PLACES_SCRATCH_MT "rcpt.places_api.scratch"

typedef struct lua_places {
    rcpt_places_client *c;
} lua_places;

typedef struct scratch {
    rcpt_places_result r;
    rcpt_buf buf;
} scratch;

static int scratch_gc(lua_State *L)
{
    scratch *s = luaL_checkudata(L, 1, RCPT_PLACES_SCRATCH_MT);
    rcpt_places_result_free(&s->r);
    rcpt_buf_free(&s->buf);
    return 0;
}

static scratch *new_scratch(lua_State *L)
{
    scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
    rcpt_places_result_init(&s->r);
    rcpt_buf_init(&s->buf);
    luaL_setmetatable(L, RCPT_PLACES_SCRATCH_MT);
    return s;
}

static lua_places *check_places(lua_State *L, int i)
{
    lua_places *h = luaL_checkudata(L, i, RCPT_PLACES_MT);
    if (!h->c) luaL_error(L, "attempt to use a closed Places client");
    return h;
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer def)
{
    lua_Integer v = def;
    if (lua_getfield(L, t, k) != LUA_TNIL) {
        if (!lua_isinteger(L, -1)) luaL_error(L, "option '%s' must be an integer", k);
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, int t, const char *k)
{
    const char *v = NULL;
    if (lua_getfield(L, t, k) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option '%s' must be a string", k);
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the options table keeps it alive */
    return v;
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static void push_place(lua_State *L, const rcpt_place *p)
{
    lua_createtable(L, 0, 14);
    set_str(L, "place_id", p->place_id);
    set_str(L, "name", p->name);
    set_str(L, "formatted_address", p->formatted_address);
    set_str(L, "formatted_phone_number", p->formatted_phone_number);
    set_str(L, "international_phone_number", p->international_phone_number);
    set_str(L, "website", p->website);
    set_str(L, "business_status", p->business_status);
    set_str(L, "vicinity", p->vicinity);
    set_str(L, "description", p->description);
    lua_createtable(L, (int)p->n_types, 0);
    for (size_t i = 0; i < p->n_types; i++) {
        lua_pushstring(L, p->types[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "types");
    if (p->has_location) {
        lua_createtable(L, 0, 1);
        lua_createtable(L, 0, 2);
        lua_pushnumber(L, p->lat);
        lua_setfield(L, -2, "lat");
        lua_pushnumber(L, p->lng);
        lua_setfield(L, -2, "lng");
        lua_setfield(L, -2, "location");
        lua_setfield(L, -2, "geometry");
    }
    if (p->has_rating) {
        lua_pushnumber(L, p->rating);
        lua_setfield(L, -2, "rating");
    }
    if (p->user_ratings_total >= 0) {
        lua_pushinteger(L, (lua_Integer)p->user_ratings_total);
        lua_setfield(L, -2, "user_ratings_total");
    }
    if (p->price_level >= 0) {
        lua_pushinteger(L, p->price_level);
        lua_setfield(L, -2, "price_level");
    }
}

/* Push the outcome of a call whose scratch is at index si. */
static int push_outcome(lua_State *L, scratch *s, int rc, const rcpt_err *err)
{
    if (rc) {
        luaL_pushfail(L);
        lua_pushstring(L, err->msg);
        lua_pushstring(L, rcpt_err_name(rc));
        if (s->r.status[0])
            lua_pushstring(L, s->r.status);
        else
            lua_pushnil(L);
        rcpt_places_result_free(&s->r);
        return 4;
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, s->r.status);
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, s->r.found);
    lua_setfield(L, -2, "found");
    lua_pushinteger(L, s->r.attempts);
    lua_setfield(L, -2, "attempts");
    lua_createtable(L, (int)s->r.n, 0);
    for (size_t i = 0; i < s->r.n; i++) {
        push_place(L, &s->r.places[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "places");
    rcpt_places_result_free(&s->r);
    return 1;
}

/* api.client{...} */
static int l_client(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    rcpt_places_opts o;
    memset(&o, 0, sizeof o);
    o.api_key = opt_str(L, 1, "api_key");
    o.base_url = opt_str(L, 1, "base_url");
    lua_Integer to = opt_int(L, 1, "timeout_ms", 0), cto = opt_int(L, 1, "connect_timeout_ms", 0);
    luaL_argcheck(L, to >= 0 && cto >= 0 && to <= 3600000 && cto <= 3600000, 1, "timeouts must be 0..3600000 ms");
    o.timeout_ms = (long)to;
    o.connect_timeout_ms = (long)cto;
    if (lua_getfield(L, 1, "retry") == LUA_TTABLE) {
        int rt = lua_absindex(L, -1);
        lua_Integer ma = opt_int(L, rt, "max_attempts", 0), bd = opt_int(L, rt, "base_delay_ms", 0),
                    md = opt_int(L, rt, "max_delay_ms", 0);
        luaL_argcheck(L, ma >= 0 && ma <= 100 && bd >= 0 && md >= 0, 1,
                      "retry: max_attempts must be 1..100 and delays >= 0");
        o.max_attempts = (int)ma;
        o.base_delay_ms = (long)bd;
        o.max_delay_ms = (long)md;
    } else if (!lua_isnil(L, -1)) {
        luaL_argerror(L, 1, "retry must be a table");
    }
    lua_pop(L, 1);
    lua_places *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->c = NULL;
    luaL_setmetatable(L, RCPT_PLACES_MT);
    rcpt_err err = {0};
    int rc = rcpt_places_new(&o, &h->c, &err);
    if (rc) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        lua_pushstring(L, rcpt_err_name(rc));
        return 3;
    }
    return 1;
}

static int m_find_place(lua_State *L)
{
    lua_places *h = check_places(L, 1);
    const char *input = luaL_checkstring(L, 2);
    const char *type = luaL_checkstring(L, 3);
    const char *fields = luaL_optstring(L, 4, NULL);
    scratch *s = new_scratch(L);
    rcpt_err err = {0};
    int rc = rcpt_places_find_place(h->c, input, type, fields, &s->r, &err);
    return push_outcome(L, s, rc, &err);
}

static int m_details(lua_State *L)
{
    lua_places *h = check_places(L, 1);
    const char *id = luaL_checkstring(L, 2);
    const char *fields = luaL_optstring(L, 3, NULL);
    scratch *s = new_scratch(L);
    rcpt_err err = {0};
    int rc = rcpt_places_details(h->c, id, fields, &s->r, &err);
    return push_outcome(L, s, rc, &err);
}

static int m_text_search(lua_State *L)
{
    lua_places *h = check_places(L, 1);
    const char *q = luaL_checkstring(L, 2);
    int with = 0;
    double lat = 0, lng = 0;
    long radius = 1000;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        int tl = lua_getfield(L, 3, "lat"), tg = lua_getfield(L, 3, "lng");
        if (tl != LUA_TNIL || tg != LUA_TNIL) {
            luaL_argcheck(L, tl == LUA_TNUMBER && tg == LUA_TNUMBER, 3, "lat and lng must both be numbers");
            lat = lua_tonumber(L, -2);
            lng = lua_tonumber(L, -1);
            with = 1;
        }
        lua_pop(L, 2);
        lua_Integer r = opt_int(L, 3, "radius", 1000);
        luaL_argcheck(L, r > 0 && r <= 50000, 3, "radius must be 1..50000 m");
        radius = (long)r;
    }
    scratch *s = new_scratch(L);
    rcpt_err err = {0};
    int rc = rcpt_places_text_search(h->c, q, with, lat, lng, radius, &s->r, &err);
    return push_outcome(L, s, rc, &err);
}

static int m_autocomplete(lua_State *L)
{
    lua_places *h = check_places(L, 1);
    const char *in = luaL_checkstring(L, 2);
    const char *types = luaL_optstring(L, 3, NULL);
    scratch *s = new_scratch(L);
    rcpt_err err = {0};
    int rc = rcpt_places_autocomplete(h->c, in, types, &s->r, &err);
    return push_outcome(L, s, rc, &err);
}

static int m_requests(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rcpt_places_requests(check_places(L, 1)->c));
    return 1;
}

static int m_close(lua_State *L)
{
    lua_places *h = luaL_checkudata(L, 1, RCPT_PLACES_MT);
    rcpt_places_free(h->c);
    h->c = NULL;
    return 0;
}

static int m_tostring(lua_State *L)
{
    lua_places *h = luaL_checkudata(L, 1, RCPT_PLACES_MT);
    lua_pushstring(L, h->c ? "rcpt.places_api.client" : "rcpt.places_api.client (closed)");
    return 1;
}

static int l_parse(lua_State *L)
{
    static const char *const names[] = {"findplacefromtext", "details", "textsearch", "autocomplete", NULL};
    static const rcpt_places_endpoint eps[] = {RCPT_PLACES_FIND, RCPT_PLACES_DETAILS, RCPT_PLACES_TEXTSEARCH,
                                               RCPT_PLACES_AUTOCOMPLETE};
    int which = luaL_checkoption(L, 1, NULL, names);
    size_t len;
    const char *body = luaL_checklstring(L, 2, &len);
    const char *key = luaL_optstring(L, 3, NULL);
    scratch *s = new_scratch(L);
    rcpt_err err = {0};
    int rc = rcpt_places_parse(eps[which], body, len, key, &s->r, &err);
    return push_outcome(L, s, rc, &err);
}

static int l_cache_key(lua_State *L)
{
    const char *type = luaL_checkstring(L, 1);
    size_t len;
    const char *v = luaL_checklstring(L, 2, &len);
    scratch *s = new_scratch(L);
    rcpt_err err = {0};
    int rc = rcpt_places_cache_key(type, v, len, &s->buf, &err);
    if (rc) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        lua_pushstring(L, rcpt_err_name(rc));
        return 3;
    }
    lua_pushlstring(L, s->buf.data, s->buf.len);
    return 1;
}

static const luaL_Reg client_methods[] = {
    {"find_place", m_find_place},
    {"details", m_details},
    {"text_search", m_text_search},
    {"autocomplete", m_autocomplete},
    {"requests", m_requests},
    {"close", m_close},
    {NULL, NULL},
};

static const luaL_Reg client_meta[] = {
    {"__index", NULL},
    {"__gc", m_close},
    {"__close", m_close},
    {"__tostring", m_tostring},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"client", l_client},
    {"parse", l_parse},
    {"cache_key", l_cache_key},
    {NULL, NULL},
};

int luaopen_rcpt_places_api(lua_State *L)
{
    if (luaL_newmetatable(L, RCPT_PLACES_MT)) {
        luaL_setfuncs(L, client_meta, 0);
        luaL_newlibtable(L, client_methods);
        luaL_setfuncs(L, client_methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, RCPT_PLACES_SCRATCH_MT)) {
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_pushliteral(L, RCPT_PLACES_BASE_DEFAULT);
    lua_setfield(L, -2, "BASE_URL");
    lua_pushliteral(L, RCPT_PLACES_DETAILS_FIELDS);
    lua_setfield(L, -2, "DETAILS_FIELDS");
    lua_pushliteral(L, RCPT_PLACES_PHONE_FIELDS);
    lua_setfield(L, -2, "PHONE_FIELDS");
    lua_pushliteral(L, RCPT_PLACES_ADDRESS_FIELDS);
    lua_setfield(L, -2, "ADDRESS_FIELDS");
    return 1;
}
