/* rcpt.embed: embedding providers for Lua.
 *
 *   embed.local_embedder([{dim = 1536}]) -> embedder
 *   embed.openai{api_key=, base_url="https://api.openai.com", model="text-embedding-3-small",
 *                dimensions=nil (sent only when set), timeout_ms=60000, connect_timeout_ms=5000,
 *                retry={max_attempts=5, base_delay_ms=500, max_delay_ms=30000},
 *                max_batch=2048} -> embedder | nil, msg, errname
 *       the OpenAI-compatible HTTP provider (core/embed/embed.h); name() is "openai"
 *   embedder:embed(texts) -> { vec, ... } | nil, msg, errname
 *       texts is an array of strings; each vec is a string of dim
 *       little-endian float32 (the vector convention of lua_types.h)
 *   embedder:dim() -> integer;  embedder:name() -> "local"
 *   embedder:close(), __gc, __close, __tostring
 *   embed.cosine(a, b) -> number   (two vectors as float32 strings)
 *
 * Every provider is a core rcpt_embedder (core/embed/embed.h) behind the
 * same userdata type, so adding one (the OpenAI-compatible HTTP client) is
 * a constructor like l_local_embedder below plus a line in embed_funcs;
 * the methods do not change. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "embed/embed.h"

#define RCPT_EMBEDDER_MT "rcpt.embed.embedder"

typedef struct lua_embedder {
    rcpt_embedder *e;
} lua_embedder;

static lua_embedder *check_embedder(lua_State *L, int i)
{
    lua_embedder *h = luaL_checkudata(L, i, RCPT_EMBEDDER_MT);
    if (!h->e) luaL_error(L, "attempt to use a closed embedder");
    return h;
}

/* A closed handle on the stack, to be filled by a provider constructor. */
static lua_embedder *new_handle(lua_State *L)
{
    lua_embedder *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->e = NULL;
    luaL_setmetatable(L, RCPT_EMBEDDER_MT);
    return h;
}

static lua_Integer opt_int_field(lua_State *L, int t, const char *k, lua_Integer def)
{
    if (lua_isnoneornil(L, t)) return def;
    lua_getfield(L, t, k);
    lua_Integer v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1)) luaL_error(L, "option '%s' must be an integer", k);
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int l_local_embedder(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer dim = opt_int_field(L, 1, "dim", RCPT_EMBED_LOCAL_DIM_DEFAULT);
    luaL_argcheck(L, dim >= 1 && dim <= RCPT_EMBED_DIM_MAX, 1, "dim out of range");
    lua_embedder *h = new_handle(L);
    rcpt_err err = {0};
    int rc = rcpt_embed_local_new((size_t)dim, &h->e, &err);
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushstring(L, rcpt_err_name(rc));
        return 3;
    }
    return 1;
}

static const char *opt_str_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *v = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option '%s' must be a string", k);
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the options table keeps the string alive */
    return v;
}

static int l_openai(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    rcpt_embed_openai_opts o;
    memset(&o, 0, sizeof o);
    o.api_key = opt_str_field(L, 1, "api_key");
    o.base_url = opt_str_field(L, 1, "base_url");
    o.model = opt_str_field(L, 1, "model");
    lua_Integer dims = opt_int_field(L, 1, "dimensions", 0);
    luaL_argcheck(L, dims >= 0 && dims <= RCPT_EMBED_DIM_MAX, 1, "dimensions out of range");
    lua_Integer to = opt_int_field(L, 1, "timeout_ms", 0);
    lua_Integer cto = opt_int_field(L, 1, "connect_timeout_ms", 0);
    lua_Integer mb = opt_int_field(L, 1, "max_batch", 0);
    luaL_argcheck(L, to >= 0 && cto >= 0, 1, "timeouts must be >= 0");
    luaL_argcheck(L, mb >= 0 && mb <= RCPT_EMBED_OPENAI_MAX_BATCH, 1, "max_batch must be 1..2048");
    o.dimensions = (size_t)dims;
    o.timeout_ms = (long)to;
    o.connect_timeout_ms = (long)cto;
    o.max_batch = (size_t)mb;
    if (lua_getfield(L, 1, "retry") == LUA_TTABLE) {
        int rt = lua_absindex(L, -1);
        lua_Integer ma = opt_int_field(L, rt, "max_attempts", 0);
        lua_Integer bd = opt_int_field(L, rt, "base_delay_ms", 0);
        lua_Integer md = opt_int_field(L, rt, "max_delay_ms", 0);
        luaL_argcheck(L, ma >= 0 && ma <= 100 && bd >= 0 && md >= 0, 1,
                      "retry: max_attempts must be 1..100 and delays >= 0");
        o.max_attempts = (int)ma;
        o.base_delay_ms = (long)bd;
        o.max_delay_ms = (long)md;
    } else if (!lua_isnil(L, -1)) {
        luaL_argerror(L, 1, "retry must be a table");
    }
    lua_pop(L, 1);
    lua_embedder *h = new_handle(L);
    rcpt_err err = {0};
    int rc = rcpt_embed_openai_new(&o, &h->e, &err);
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushstring(L, rcpt_err_name(rc));
        return 3;
    }
    return 1;
}

static void push_vec(lua_State *L, const float *v, size_t dim)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    lua_pushlstring(L, (const char *)v, dim * sizeof(float));
#else
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, dim * 4);
    for (size_t i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        p[4 * i] = (char)u;
        p[4 * i + 1] = (char)(u >> 8);
        p[4 * i + 2] = (char)(u >> 16);
        p[4 * i + 3] = (char)(u >> 24);
    }
    luaL_pushresultsize(&b, dim * 4);
#endif
}

static int emb_embed(lua_State *L)
{
    rcpt_embedder *e = check_embedder(L, 1)->e;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 2, i) != LUA_TSTRING)
            luaL_argerror(L, 2, lua_pushfstring(L, "texts[%d] must be a string, got %s", (int)i,
                                                luaL_typename(L, -1)));
        lua_pop(L, 1);
    }
    size_t dim = e->dim;
    if ((size_t)n > ((size_t)1 << 30) / (dim * sizeof(float) + 2 * sizeof(void *)))
        return luaL_argerror(L, 2, "too many texts in one call");
    /* scratch memory as a userdata: collected even if a Lua error unwinds */
    size_t un = (size_t)n ? (size_t)n : 1;
    const char **texts = lua_newuserdatauv(L, un * (sizeof(char *) + sizeof(size_t)), 0);
    size_t *lens = (size_t *)(texts + un);
    float *out = lua_newuserdatauv(L, un * dim * sizeof(float), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i); /* the table keeps the string alive */
        texts[i - 1] = lua_tolstring(L, -1, &lens[i - 1]);
        lua_pop(L, 1);
    }
    rcpt_err err = {0};
    int rc = rcpt_embed(e, texts, lens, (size_t)n, out, &err);
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushstring(L, rcpt_err_name(rc));
        return 3;
    }
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        push_vec(L, out + (size_t)i * dim, dim);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int emb_dim(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_embedder(L, 1)->e->dim);
    return 1;
}

static int emb_name(lua_State *L)
{
    lua_pushstring(L, check_embedder(L, 1)->e->name);
    return 1;
}

static int emb_close(lua_State *L)
{
    lua_embedder *h = luaL_checkudata(L, 1, RCPT_EMBEDDER_MT);
    rcpt_embed_free(h->e);
    h->e = NULL;
    return 0;
}

static int emb_tostring(lua_State *L)
{
    lua_embedder *h = luaL_checkudata(L, 1, RCPT_EMBEDDER_MT);
    if (!h->e)
        lua_pushliteral(L, "rcpt.embed.embedder (closed)");
    else
        lua_pushfstring(L, "rcpt.embed.embedder (%s, dim %d)", h->e->name, (int)h->e->dim);
    return 1;
}

static float get_f32(const char *p)
{
    uint32_t u = (uint32_t)(unsigned char)p[0] | (uint32_t)(unsigned char)p[1] << 8 |
                 (uint32_t)(unsigned char)p[2] << 16 | (uint32_t)(unsigned char)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int l_cosine(lua_State *L)
{
    size_t na, nb;
    const char *a = luaL_checklstring(L, 1, &na);
    const char *b = luaL_checklstring(L, 2, &nb);
    luaL_argcheck(L, na % 4 == 0, 1, "not a float32 vector");
    luaL_argcheck(L, na == nb, 2, "vectors of different dimensions");
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < na; i += 4) {
        double x = get_f32(a + i), y = get_f32(b + i);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    lua_pushnumber(L, aa > 0 && bb > 0 ? ab / (sqrt(aa) * sqrt(bb)) : 0.0);
    return 1;
}

static const luaL_Reg emb_methods[] = {
    {"embed", emb_embed},
    {"dim", emb_dim},
    {"name", emb_name},
    {"close", emb_close},
    {NULL, NULL},
};

static const luaL_Reg emb_meta[] = {
    {"__index", NULL},
    {"__gc", emb_close},
    {"__close", emb_close},
    {"__tostring", emb_tostring},
    {NULL, NULL},
};

static const luaL_Reg embed_funcs[] = {
    {"local_embedder", l_local_embedder},
    {"openai", l_openai},
    {"cosine", l_cosine},
    {NULL, NULL},
};

int luaopen_rcpt_embed(lua_State *L)
{
    if (luaL_newmetatable(L, RCPT_EMBEDDER_MT)) {
        luaL_setfuncs(L, emb_meta, 0);
        luaL_newlibtable(L, emb_methods);
        luaL_setfuncs(L, emb_methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, embed_funcs);
    return 1;
}
