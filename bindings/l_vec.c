/* rcpt.vec: vector collections for Lua (core/vec/vec.h).
 *
 *   local vec = require "rcpt.vec"
 *   local c = vec.new("lines", 1536)
 *   c:upsert(ids, vectors, documents, metadatas)
 *   local r = c:query(v, {k = 8, where = {merchant_name = "Vons"}, exclude_ids = {...}})
 *   local man, json = c:write_snapshot(path, version)
 *   vec.new(name, dim, {lazy = true}) / vec.open(path, {lazy = true}): rows
 *   loaded from files keep their vectors there until written (compaction;
 *   core/vec/vec.h rcpt_vec_set_lazy)
 *   vec.sha256(s) -> hex digest of the string s
 *   vec.content_sha256(head, {name=, ids=, texts=, documents=, metadatas=}, ...) -> hex
 *       the digest naming a receipt's CompactionRun (text layout at the function)
 *   local sp = vec.open_sparse(path[, {verify_manifest =, max_density = 0.25}])
 *   sp:query(v, opts) / sp:query_many({v1, v2, ...}, opts) -> {r1, r2, ...}
 *     a read-only snapshot keeping only non-zero vector entries; the same
 *     hits and scores as coll:query (core/vec/vec_sparse.h); a file denser
 *     than max_density is nil, message, "ELIMIT" (open it with vec.open)
 *
 * Scores are cosine similarities.  Vectors cross as strings of little-endian
 * float32 or arrays of numbers (bindings/lua_types.h); they come back as
 * strings.  Temporary C arrays are Lua userdata, so a Lua error while the
 * arguments are converted never leaks them. */
#include "lua_types.h"
#include "vec/vec.h"
#include "vec/vec_sparse.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#define RCPT_VEC_MT "rcpt.vec.coll"
#define RCPT_VEC_SPARSE_MT "rcpt.vec.sparse"

typedef struct lua_vec {
    rcpt_vec_coll *c;
} lua_vec;

static lua_vec *check_vec(lua_State *L, int i)
{
    lua_vec *v = luaL_checkudata(L, i, RCPT_VEC_MT);
    if (!v->c)
        luaL_error(L, "attempt to use a closed vector collection");
    return v;
}

static int fail(lua_State *L, const rcpt_err *err)
{
    luaL_pushfail(L);
    lua_pushstring(L, err->msg);
    lua_pushstring(L, rcpt_err_name(err->code));
    return 3;
}

/* scratch memory owned by Lua (left on the stack) */
static void *scratch(lua_State *L, size_t n)
{
    return lua_newuserdatauv(L, n ? n : 1, 0);
}

static lua_vec *new_handle(lua_State *L)
{
    lua_vec *v = lua_newuserdatauv(L, sizeof *v, 0);
    v->c = NULL;
    luaL_setmetatable(L, RCPT_VEC_MT);
    return v;
}

/* ---- conversions -------------------------------------------------------------- */
static size_t check_array(lua_State *L, int idx, const char *name)
{
    luaL_argexpected(L, lua_istable(L, idx), idx, "table");
    (void)name;
    return (size_t)luaL_len(L, idx);
}

/* Value at the top of the stack -> *out (strings stay owned by Lua). */
static void to_val(lua_State *L, int idx, rcpt_vec_val *out, const char *what, const char *key)
{
    memset(out, 0, sizeof *out);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        out->type = RCPT_VEC_STR;
        out->str = lua_tolstring(L, idx, &out->len);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            out->type = RCPT_VEC_INT;
            out->i = lua_tointeger(L, idx);
        } else {
            out->type = RCPT_VEC_NUM;
            out->num = lua_tonumber(L, idx);
        }
        break;
    case LUA_TBOOLEAN:
        out->type = RCPT_VEC_BOOL;
        out->b = lua_toboolean(L, idx);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            out->type = RCPT_VEC_NULL;
            break;
        }
        /* fall through */
    default:
        luaL_error(L, "%s.%s: must be a string, number, boolean or vec.null (got %s)", what, key,
                   luaL_typename(L, idx));
    }
}

/* Metadata table at idx -> kv array (scratch pushed on the stack). */
static rcpt_vec_kv *to_meta(lua_State *L, int idx, size_t *n, const char *what)
{
    idx = lua_absindex(L, idx);
    size_t cnt = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        cnt++;
        lua_pop(L, 1);
    }
    rcpt_vec_kv *kv = scratch(L, cnt * sizeof *kv);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: metadata keys must be strings", what);
        kv[i].key = lua_tostring(L, -2);
        to_val(L, -1, &kv[i].val, what, kv[i].key);
        i++;
        lua_pop(L, 1);
    }
    *n = i;
    return kv;
}

/* Vector at idx (string of float32 or array of numbers) -> dst[dim]. */
static void to_vector(lua_State *L, int idx, float *dst, int dim, const char *what)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len != (size_t)dim * 4)
            luaL_error(L, "%s: float32 string of %d bytes, expected %d (dimension %d)", what,
                       (int)len, dim * 4, dim);
        /* little-endian on the wire; every supported host is little-endian,
         * and the memcpy avoids an unaligned float load */
        const uint16_t one = 1;
        unsigned char le;
        memcpy(&le, &one, 1);
        if (le) {
            memcpy(dst, s, len);
        } else {
            for (int j = 0; j < dim; j++) {
                unsigned char b[4] = {(unsigned char)s[4 * j + 3], (unsigned char)s[4 * j + 2],
                                      (unsigned char)s[4 * j + 1], (unsigned char)s[4 * j]};
                memcpy(&dst[j], b, 4);
            }
        }
    } else if (lua_istable(L, idx)) {
        lua_Integer n = luaL_len(L, idx);
        if (n != dim)
            luaL_error(L, "%s: %d numbers, expected %d", what, (int)n, dim);
        for (int j = 0; j < dim; j++) {
            lua_geti(L, idx, j + 1);
            int ok;
            lua_Number x = lua_tonumberx(L, -1, &ok);
            if (!ok)
                luaL_error(L, "%s[%d]: must be a number", what, j + 1);
            dst[j] = (float)x;
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "%s: must be a float32 string or an array of numbers", what);
    }
}

static void push_val(lua_State *L, const rcpt_vec_val *v)
{
    switch (v->type) {
    case RCPT_VEC_STR: lua_pushlstring(L, v->str, v->len); break;
    case RCPT_VEC_INT: lua_pushinteger(L, (lua_Integer)v->i); break;
    case RCPT_VEC_NUM: lua_pushnumber(L, v->num); break;
    case RCPT_VEC_BOOL: lua_pushboolean(L, v->b); break;
    default: lua_pushlightuserdata(L, NULL); break;
    }
}

static void push_meta(lua_State *L, const rcpt_vec_coll *c, size_t row)
{
    rcpt_vec_meta_it it;
    rcpt_vec_kv kv;
    lua_newtable(L);
    rcpt_vec_meta_begin(c, row, &it);
    while (rcpt_vec_meta_next(&it, &kv)) {
        push_val(L, &kv.val);
        lua_setfield(L, -2, kv.key);
    }
}

static void push_manifest(lua_State *L, const rcpt_vec_manifest *m)
{
    lua_createtable(L, 0, 10);
    lua_pushstring(L, m->format); lua_setfield(L, -2, "format");
    lua_pushinteger(L, m->format_version); lua_setfield(L, -2, "format_version");
    lua_pushstring(L, m->kind); lua_setfield(L, -2, "kind");
    lua_pushstring(L, m->collection); lua_setfield(L, -2, "collection");
    lua_pushinteger(L, m->dimension); lua_setfield(L, -2, "dimension");
    lua_pushinteger(L, (lua_Integer)m->count); lua_setfield(L, -2, "count");
    if (m->version[0]) {
        lua_pushstring(L, m->version);
        lua_setfield(L, -2, "version");
    }
    if (m->xxh3_128[0]) {
        lua_pushstring(L, m->xxh3_128);
        lua_setfield(L, -2, "xxh3_128");
    }
    if (m->sha256[0]) {
        lua_pushstring(L, m->sha256);
        lua_setfield(L, -2, "sha256");
    }
    lua_pushinteger(L, (lua_Integer)m->bytes); lua_setfield(L, -2, "bytes");
    lua_pushstring(L, m->created_at); lua_setfield(L, -2, "created_at");
}

/* Manifest at idx: a JSON string or a table (as returned by write_snapshot
 * or read_manifest).  Returns 0, or fills err. */
static int to_manifest(lua_State *L, int idx, rcpt_vec_manifest *m, rcpt_err *err)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return rcpt_vec_manifest_parse(s, len, m, err);
    }
    luaL_argexpected(L, lua_istable(L, idx), idx, "manifest JSON string or table");
    /* re-encode the table as JSON and parse it: one set of rules */
    idx = lua_absindex(L, idx);
    size_t n;
    rcpt_vec_kv *kv = to_meta(L, idx, &n, "manifest");
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_vec_json_write(&b, kv, n);
    int rc = b.oom ? rcpt_err_set(err, RCPT_ENOMEM, "out of memory")
                   : rcpt_vec_manifest_parse(b.data, b.len, m, err);
    rcpt_buf_free(&b);
    lua_pop(L, 1);
    return rc;
}

/* ---- module functions ------------------------------------------------------------ */
static int l_new(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_Integer dim = luaL_checkinteger(L, 2);
    luaL_argcheck(L, *name, 1, "must be a non-empty string");
    luaL_argcheck(L, dim >= 1 && dim <= RCPT_VEC_MAX_DIM, 2, "dimension out of range");
    lua_Integer threads = 0;
    int lazy = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "threads");
        threads = luaL_optinteger(L, -1, 0);
        lua_getfield(L, 3, "lazy");
        lazy = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    lua_vec *v = new_handle(L);
    rcpt_err err;
    if (rcpt_vec_new(&v->c, name, (int)dim, &err) != RCPT_OK)
        return fail(L, &err);
    if (lazy && rcpt_vec_set_lazy(v->c, 1, &err) != RCPT_OK)
        return fail(L, &err); /* the handle owns the collection: __gc frees it */
    if (threads > 0)
        rcpt_vec_set_threads(v->c, (int)threads);
    return 1;
}

static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    rcpt_vec_manifest man;
    rcpt_err err;
    int have_man = 0, flags = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "verify_manifest") != LUA_TNIL) {
            if (to_manifest(L, lua_gettop(L), &man, &err) != RCPT_OK)
                return fail(L, &err);
            have_man = 1;
        }
        lua_getfield(L, 2, "lazy");
        if (lua_toboolean(L, -1))
            flags |= RCPT_VEC_LAZY;
        lua_pop(L, 2);
    }
    lua_vec *v = new_handle(L);
    if (rcpt_vec_open_ex(path, have_man ? &man : NULL, flags, &v->c, &err) != RCPT_OK)
        return fail(L, &err);
    return 1;
}

static int l_read_manifest(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    rcpt_vec_manifest m;
    rcpt_err err;
    if (rcpt_vec_manifest_parse(s, len, &m, &err) != RCPT_OK)
        return fail(L, &err);
    push_manifest(L, &m);
    return 1;
}

static int l_verify(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    rcpt_vec_manifest m;
    rcpt_err err;
    if (to_manifest(L, 2, &m, &err) != RCPT_OK || rcpt_vec_verify(path, &m, &err) != RCPT_OK)
        return fail(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* vec.sha256(s) -> hex digest: names content (delta run ids) without a byte loop in Lua */
static int l_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char hex[65];
    rcpt_err err;
    if (rcpt_vec_sha256(s, len, hex, &err) != RCPT_OK)
        return fail(L, &err);
    lua_pushlstring(L, hex, 64);
    return 1;
}

/* vec.content_sha256(head, coll, ...) -> hex: the sha256 of the content text
 * of a receipt's vector inputs, which names its CompactionRun
 * (rcpt.merchant_embed.content_run_id):
 *   head[1] \3 head[2] \3 ... then per coll {name=, ids=, texts=, documents=,
 *   metadatas=}: \3 name, and per item \3 id \2 text \2 document \2 meta,
 *   meta = key=value pairs joined by \1, keys sorted as table.sort sorts
 *   strings (strcoll), values as tostring.
 * In C because building this text in Lua (a sort and ~12 concatenations per
 * item, 279 items) cost ~2 ms of the ~35 ms per receipt. */
static int cmp_coll(const void *a, const void *b)
{
    return strcoll(*(const char *const *)a, *(const char *const *)b);
}

/* t[i] as a string piece of the content (a string or a number, as `..` takes) */
static void add_field(lua_State *L, luaL_Buffer *b, int t, lua_Integer i, const char *what, const char *coll)
{
    int ty = lua_geti(L, t, i);
    if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
        luaL_error(L, "content_sha256: %s.%s[%d]: must be a string", coll, what, (int)i);
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    luaL_addvalue(b);
}

static int l_content_sha256(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int top = lua_gettop(L);
    /* the widest metadata table: one key array for all of them */
    size_t maxkeys = 1;
    for (int a = 2; a <= top; a++) {
        luaL_checktype(L, a, LUA_TTABLE);
        if (lua_getfield(L, a, "metadatas") != LUA_TTABLE)
            return luaL_error(L, "content_sha256: argument %d: metadatas must be a list", a);
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, -1, i) != LUA_TTABLE)
                return luaL_error(L, "content_sha256: metadatas[%d]: must be a table", (int)i);
            size_t k = 0;
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                if (lua_type(L, -2) != LUA_TSTRING)
                    return luaL_error(L, "content_sha256: metadatas[%d]: keys must be strings", (int)i);
                k++;
                lua_pop(L, 1);
            }
            if (k > maxkeys)
                maxkeys = k;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    const char **keys = lua_newuserdatauv(L, maxkeys * sizeof *keys, 0);
    /* Everything the text is made of goes on the stack before the buffer:
     * between luaL_Buffer operations the stack may only be used in a
     * balanced way (the buffer may live in a box on top of it). */
    static const char *const F[4] = {"ids", "texts", "documents", "metadatas"};
    luaL_checkstack(L, 5 * (top - 1) + 8, "content_sha256");
    int base = lua_gettop(L); /* coll a's name at base + 5*(a-2) + 1, its lists after it */
    for (int a = 2; a <= top; a++) {
        if (lua_getfield(L, a, "name") != LUA_TSTRING)
            return luaL_error(L, "content_sha256: argument %d: name must be a string", a);
        for (int f = 0; f < 4; f++)
            if (lua_getfield(L, a, F[f]) != LUA_TTABLE)
                return luaL_error(L, "content_sha256: %s.%s: must be a list", lua_tostring(L, -1 - f - 1),
                                  F[f]);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_Integer nh = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= nh; i++) {
        if (i > 1)
            luaL_addchar(&b, '\3');
        add_field(L, &b, 1, i, "head", "head");
    }
    for (int a = 2; a <= top; a++) {
        int at = base + 5 * (a - 2) + 1;
        const char *name = lua_tostring(L, at);
        int ids = at + 1, texts = at + 2, docs = at + 3, metas = at + 4;
        lua_Integer n = luaL_len(L, ids);
        luaL_addchar(&b, '\3');
        luaL_addstring(&b, name);
        for (lua_Integer i = 1; i <= n; i++) {
            luaL_addchar(&b, '\3');
            add_field(L, &b, ids, i, "ids", name);
            luaL_addchar(&b, '\2');
            add_field(L, &b, texts, i, "texts", name);
            luaL_addchar(&b, '\2');
            add_field(L, &b, docs, i, "documents", name);
            luaL_addchar(&b, '\2');
            /* the keys (anchored by the table, which the list anchors) */
            if (lua_geti(L, metas, i) != LUA_TTABLE)
                return luaL_error(L, "content_sha256: %s.metadatas[%d]: must be a table", name, (int)i);
            size_t nk = 0;
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                if (lua_type(L, -2) != LUA_TSTRING || nk >= maxkeys)
                    return luaL_error(L, "content_sha256: %s.metadatas[%d]: keys must be strings", name, (int)i);
                keys[nk++] = lua_tostring(L, -2);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
            qsort(keys, nk, sizeof *keys, cmp_coll);
            for (size_t k = 0; k < nk; k++) {
                if (k)
                    luaL_addchar(&b, '\1');
                luaL_addstring(&b, keys[k]);
                luaL_addchar(&b, '=');
                lua_geti(L, metas, i);
                lua_getfield(L, -1, keys[k]);
                luaL_tolstring(L, -1, NULL);
                lua_replace(L, -3);
                lua_pop(L, 1);
                luaL_addvalue(&b);
            }
        }
    }
    luaL_pushresult(&b);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    char hex[65];
    rcpt_err err;
    if (rcpt_vec_sha256(text, len, hex, &err) != RCPT_OK)
        return fail(L, &err);
    lua_pushlstring(L, hex, 64);
    return 1;
}

/* ---- methods ------------------------------------------------------------------------ */
static int m_upsert(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    size_t n = check_array(L, 2, "ids");
    luaL_checktype(L, 3, LUA_TTABLE);
    int has_docs = !lua_isnoneornil(L, 4), has_meta = !lua_isnoneornil(L, 5);
    if (has_docs)
        luaL_checktype(L, 4, LUA_TTABLE);
    if (has_meta)
        luaL_checktype(L, 5, LUA_TTABLE);
    luaL_argcheck(L, (size_t)luaL_len(L, 3) == n, 3, "must have as many vectors as ids");
    if (has_docs)
        luaL_argcheck(L, (size_t)luaL_len(L, 4) == n, 4, "must have as many documents as ids");
    if (has_meta)
        luaL_argcheck(L, (size_t)luaL_len(L, 5) == n, 5, "must have as many metadatas as ids");
    int dim = rcpt_vec_dim(v->c);
    lua_settop(L, 5);
    rcpt_vec_row *rows = scratch(L, n * sizeof *rows);              /* 6 */
    float *vecs = scratch(L, n * (size_t)dim * sizeof *vecs);         /* 7 */
    lua_createtable(L, (int)n, 0);                                    /* 8: keeps scratch kv alive */
    char what[64];
    for (size_t i = 0; i < n; i++) {
        memset(&rows[i], 0, sizeof rows[i]);
        lua_geti(L, 2, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "ids[%d]: must be a string", (int)i + 1);
        rows[i].id = lua_tostring(L, -1);
        lua_pop(L, 1); /* still referenced by the ids table */
        snprintf(what, sizeof what, "vectors[%d]", (int)i + 1);
        lua_geti(L, 3, (lua_Integer)i + 1);
        to_vector(L, -1, vecs + i * (size_t)dim, dim, what);
        lua_pop(L, 1);
        rows[i].vec = vecs + i * (size_t)dim;
        if (has_docs) {
            lua_geti(L, 4, (lua_Integer)i + 1);
            if (lua_type(L, -1) != LUA_TSTRING && !lua_isnil(L, -1))
                return luaL_error(L, "documents[%d]: must be a string", (int)i + 1);
            rows[i].doc = lua_tolstring(L, -1, &rows[i].doc_len);
            lua_pop(L, 1);
        }
        if (has_meta) {
            lua_geti(L, 5, (lua_Integer)i + 1);
            if (!lua_isnil(L, -1)) {
                if (!lua_istable(L, -1))
                    return luaL_error(L, "metadatas[%d]: must be a table", (int)i + 1);
                snprintf(what, sizeof what, "metadatas[%d]", (int)i + 1);
                rows[i].meta = to_meta(L, -1, &rows[i].nmeta, what);
                lua_rawseti(L, 8, (lua_Integer)i + 1);
            }
            lua_pop(L, 1);
        }
    }
    rcpt_err err;
    if (rcpt_vec_upsert(v->c, rows, n, &err) != RCPT_OK)
        return fail(L, &err);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* ids table at idx -> const char * array (scratch pushed) */
static const char **to_ids(lua_State *L, int idx, size_t *n, const char *what)
{
    *n = check_array(L, idx, what);
    const char **ids = scratch(L, *n * sizeof *ids);
    for (size_t i = 0; i < *n; i++) {
        lua_geti(L, idx, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s[%d]: must be a string", what, (int)i + 1);
        ids[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    return ids;
}

static int m_delete(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    size_t n, deleted;
    const char **ids = to_ids(L, 2, &n, "ids");
    rcpt_err err;
    if (rcpt_vec_delete(v->c, ids, n, &deleted, &err) != RCPT_OK)
        return fail(L, &err);
    lua_pushinteger(L, (lua_Integer)deleted);
    return 1;
}

static void push_vector(lua_State *L, const rcpt_vec_coll *c, size_t row)
{
    lua_pushlstring(L, (const char *)rcpt_vec_row_vec(c, row), (size_t)rcpt_vec_dim(c) * 4);
}

/* get([ids][, {vectors=true}]): the rows found, in the order asked (all rows
 * when ids is nil). */
static int m_get(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    int want_vec = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "vectors");
        want_vec = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    size_t n = 0;
    const char **ids = NULL;
    int all = lua_isnoneornil(L, 2);
    if (!all)
        ids = to_ids(L, 2, &n, "ids");
    else
        n = rcpt_vec_count(v->c);
    if (want_vec && rcpt_vec_lazy_rows(v->c) > 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: the collection is lazy (vectors still in their files): "
                        "no vectors to return", rcpt_vec_name(v->c));
        lua_pushliteral(L, "EINVAL");
        return 3;
    }
    int t = lua_gettop(L) + 1;
    lua_createtable(L, 0, 4);
    lua_newtable(L); /* ids */
    lua_newtable(L); /* documents */
    lua_newtable(L); /* metadatas */
    lua_newtable(L); /* vectors */
    lua_Integer k = 0;
    for (size_t i = 0; i < n; i++) {
        long row = all ? (long)i : rcpt_vec_find(v->c, ids[i]);
        if (row < 0)
            continue;
        k++;
        size_t dl;
        lua_pushstring(L, rcpt_vec_row_id(v->c, (size_t)row));
        lua_rawseti(L, t + 1, k);
        const char *d = rcpt_vec_row_doc(v->c, (size_t)row, &dl);
        lua_pushlstring(L, d, dl);
        lua_rawseti(L, t + 2, k);
        push_meta(L, v->c, (size_t)row);
        lua_rawseti(L, t + 3, k);
        if (want_vec) {
            push_vector(L, v->c, (size_t)row);
            lua_rawseti(L, t + 4, k);
        }
    }
    if (!want_vec)
        lua_pop(L, 1);
    else
        lua_setfield(L, t, "vectors");
    lua_setfield(L, t, "metadatas");
    lua_setfield(L, t, "documents");
    lua_setfield(L, t, "ids");
    return 1;
}

static int m_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rcpt_vec_count(check_vec(L, 1)->c));
    return 1;
}

static int m_dim(lua_State *L)
{
    lua_pushinteger(L, rcpt_vec_dim(check_vec(L, 1)->c));
    return 1;
}

static int m_name(lua_State *L)
{
    lua_pushstring(L, rcpt_vec_name(check_vec(L, 1)->c));
    return 1;
}

static int m_threads(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    if (!lua_isnoneornil(L, 2))
        rcpt_vec_set_threads(v->c, (int)luaL_checkinteger(L, 2));
    lua_pushinteger(L, rcpt_vec_threads(v->c));
    return 1;
}

/* ids([prefix]) -> { id, ... } (only the ids starting with prefix, when given:
 * compaction finds a receipt's vectors by "IMAGE#<id>#RECEIPT#<rid>#") */
static int m_ids(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    size_t plen = 0;
    const char *prefix = luaL_optlstring(L, 2, NULL, &plen);
    size_t n = rcpt_vec_count(v->c);
    lua_createtable(L, prefix ? 0 : (int)n, 0);
    lua_Integer k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = rcpt_vec_row_id(v->c, i);
        if (prefix && strncmp(id, prefix, plen) != 0)
            continue;
        lua_pushstring(L, id);
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

/* where = { key = value | {["$eq"]=v} | {["$ne"]=v} | {["$in"]={v,...}} } */
static rcpt_vec_cond *to_where(lua_State *L, int idx, size_t *n)
{
    idx = lua_absindex(L, idx);
    size_t cnt = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        cnt++;
        lua_pop(L, 1);
    }
    rcpt_vec_cond *conds = scratch(L, cnt * sizeof *conds);
    int keep = lua_gettop(L);
    lua_newtable(L); /* keeps value arrays alive */
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "where: keys must be strings");
        const char *key = lua_tostring(L, -2);
        rcpt_vec_cond *c = &conds[i++];
        c->key = key;
        if (lua_istable(L, -1)) {
            int t = lua_gettop(L), ops = 0;
            const char *opname[] = {"$eq", "$ne", "$in"};
            for (int op = 0; op < 3; op++) {
                if (lua_getfield(L, t, opname[op]) == LUA_TNIL) {
                    lua_pop(L, 1);
                    continue;
                }
                ops++;
                c->op = op;
                if (op == RCPT_VEC_IN) {
                    if (!lua_istable(L, -1))
                        luaL_error(L, "where.%s.$in: must be an array", key);
                    size_t m = (size_t)luaL_len(L, -1);
                    rcpt_vec_val *vals = scratch(L, m * sizeof *vals);
                    lua_rawseti(L, keep + 1, (lua_Integer)i);
                    for (size_t j = 0; j < m; j++) {
                        lua_geti(L, -1, (lua_Integer)j + 1);
                        to_val(L, -1, &vals[j], "where", key);
                        lua_pop(L, 1);
                    }
                    c->vals = vals;
                    c->nvals = m;
                } else {
                    rcpt_vec_val *val = scratch(L, sizeof *val);
                    lua_rawseti(L, keep + 1, (lua_Integer)i);
                    to_val(L, -1, val, "where", key);
                    c->vals = val;
                    c->nvals = 1;
                }
                lua_pop(L, 1);
            }
            lua_pushnil(L);
            int other = 0;
            while (lua_next(L, t)) {
                other++;
                lua_pop(L, 1);
            }
            if (ops != 1 || other != 1)
                luaL_error(L, "where.%s: use exactly one of $eq, $ne, $in", key);
        } else {
            rcpt_vec_val *val = scratch(L, sizeof *val);
            lua_rawseti(L, keep + 1, (lua_Integer)i);
            to_val(L, -1, val, "where", key);
            c->op = RCPT_VEC_EQ;
            c->vals = val;
            c->nvals = 1;
        }
        lua_pop(L, 1);
    }
    *n = i;
    return conds;
}

/* opts at idx (nil or {k=, where=, exclude_ids=}) -> *o (scratch pushed) */
static void to_query_opts(lua_State *L, int idx, rcpt_vec_query_opts *o)
{
    memset(o, 0, sizeof *o);
    o->k = 10;
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "k") != LUA_TNIL) {
        lua_Integer k = luaL_checkinteger(L, -1);
        luaL_argcheck(L, k >= 0 && k <= 100000, idx, "k out of range 0..100000");
        o->k = (size_t)k;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "where") != LUA_TNIL) {
        luaL_checktype(L, -1, LUA_TTABLE);
        o->where = to_where(L, -1, &o->nwhere);
    }
    if (lua_getfield(L, idx, "exclude_ids") != LUA_TNIL)
        o->exclude_ids = to_ids(L, lua_gettop(L), &o->nexclude, "exclude_ids");
}

/* {ids=, scores=, documents=, metadatas=} for hits over the rows of c */
static void push_hits(lua_State *L, const rcpt_vec_coll *c, const rcpt_vec_hit *hits, size_t nh)
{
    lua_createtable(L, 0, 4);
    const char *names[] = {"ids", "scores", "documents", "metadatas"};
    for (int f = 0; f < 4; f++) {
        lua_createtable(L, (int)nh, 0);
        for (size_t i = 0; i < nh; i++) {
            size_t row = hits[i].row, dl;
            switch (f) {
            case 0: lua_pushstring(L, rcpt_vec_row_id(c, row)); break;
            case 1: lua_pushnumber(L, hits[i].score); break;
            case 2: {
                const char *d = rcpt_vec_row_doc(c, row, &dl);
                lua_pushlstring(L, d, dl);
                break;
            }
            default: push_meta(L, c, row); break;
            }
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, names[f]);
    }
}

static int m_query(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    int dim = rcpt_vec_dim(v->c);
    lua_settop(L, 3);
    float *q = scratch(L, (size_t)dim * sizeof *q);
    to_vector(L, 2, q, dim, "vector");
    rcpt_vec_query_opts o;
    to_query_opts(L, 3, &o);
    rcpt_vec_hit *hits = scratch(L, o.k * sizeof *hits);
    size_t nh;
    rcpt_err err;
    if (rcpt_vec_query(v->c, q, &o, hits, &nh, &err) != RCPT_OK)
        return fail(L, &err);
    push_hits(L, v->c, hits, nh);
    return 1;
}

static int m_update_metadata(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    lua_settop(L, 4);
    size_t n, nset = 0, nrm = 0;
    const char **ids = to_ids(L, 2, &n, "ids");
    rcpt_vec_kv *set = NULL;
    const char **rm = NULL;
    if (!lua_isnil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        set = to_meta(L, 3, &nset, "set");
    }
    if (!lua_isnil(L, 4))
        rm = to_ids(L, 4, &nrm, "remove_keys");
    size_t upd;
    rcpt_err err;
    if (rcpt_vec_update_metadata(v->c, ids, n, set, nset, rm, nrm, &upd, &err) != RCPT_OK)
        return fail(L, &err);
    lua_pushinteger(L, (lua_Integer)upd);
    return 1;
}

/* write_delta(path[, opts]) / write_snapshot(path, version[, opts]):
 * opts.fsync = false skips the fsyncs (a staging copy that is uploaded next) */
static int write_common(lua_State *L, const char *version, int opts_idx)
{
    lua_vec *v = check_vec(L, 1);
    const char *path = luaL_checkstring(L, 2);
    int flags = 0;
    if (!lua_isnoneornil(L, opts_idx)) {
        luaL_checktype(L, opts_idx, LUA_TTABLE);
        lua_getfield(L, opts_idx, "fsync");
        if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
            flags |= RCPT_VEC_NO_FSYNC;
        lua_pop(L, 1);
    }
    rcpt_vec_manifest m;
    rcpt_buf js = RCPT_BUF_INIT;
    rcpt_err err;
    if (rcpt_vec_write_ex(v->c, path, version, flags, &m, &js, &err) != RCPT_OK) {
        rcpt_buf_free(&js);
        return fail(L, &err);
    }
    push_manifest(L, &m);
    lua_pushlstring(L, js.data, js.len);
    rcpt_buf_free(&js);
    return 2;
}

static int m_write_delta(lua_State *L)
{
    return write_common(L, NULL, 3);
}

static int m_write_snapshot(lua_State *L)
{
    const char *version = luaL_checkstring(L, 3);
    return write_common(L, version, 4);
}

/* apply(other_coll | path[, manifest]) -> merged */
static int m_apply(lua_State *L)
{
    lua_vec *v = check_vec(L, 1);
    size_t merged;
    rcpt_err err;
    int rc;
    if (lua_type(L, 2) == LUA_TSTRING) {
        rcpt_vec_manifest m;
        int have = !lua_isnoneornil(L, 3);
        if (have && to_manifest(L, 3, &m, &err) != RCPT_OK)
            return fail(L, &err);
        rc = rcpt_vec_apply_file(v->c, lua_tostring(L, 2), have ? &m : NULL, &merged, &err);
    } else {
        lua_vec *o = check_vec(L, 2);
        rc = rcpt_vec_apply(v->c, o->c, &merged, &err);
    }
    if (rc != RCPT_OK)
        return fail(L, &err);
    lua_pushinteger(L, (lua_Integer)merged);
    return 1;
}

/* lazy() -> whether rows loaded from files keep their vectors there;
 * lazy_rows() -> rows whose vector is still in a file */
static int m_lazy(lua_State *L)
{
    lua_pushboolean(L, rcpt_vec_is_lazy(check_vec(L, 1)->c));
    return 1;
}

static int m_lazy_rows(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rcpt_vec_lazy_rows(check_vec(L, 1)->c));
    return 1;
}

static int m_close(lua_State *L)
{
    lua_vec *v = luaL_checkudata(L, 1, RCPT_VEC_MT);
    rcpt_vec_free(v->c);
    v->c = NULL;
    return 0;
}

static int m_tostring(lua_State *L)
{
    lua_vec *v = luaL_checkudata(L, 1, RCPT_VEC_MT);
    if (!v->c)
        lua_pushliteral(L, "rcpt.vec collection (closed)");
    else
        lua_pushfstring(L, "rcpt.vec collection %s (%d-d, %I rows)", rcpt_vec_name(v->c),
                        rcpt_vec_dim(v->c), (lua_Integer)rcpt_vec_count(v->c));
    return 1;
}

/* ---- sparse snapshots ------------------------------------------------------------------ */
typedef struct lua_sparse {
    rcpt_vec_sparse *s;
} lua_sparse;

static lua_sparse *check_sparse(lua_State *L, int i)
{
    lua_sparse *v = luaL_checkudata(L, i, RCPT_VEC_SPARSE_MT);
    if (!v->s)
        luaL_error(L, "attempt to use a closed sparse snapshot");
    return v;
}

static int l_open_sparse(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    rcpt_vec_manifest man;
    rcpt_err err;
    int have_man = 0;
    double density = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "verify_manifest") != LUA_TNIL) {
            if (to_manifest(L, lua_gettop(L), &man, &err) != RCPT_OK)
                return fail(L, &err);
            have_man = 1;
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "max_density") != LUA_TNIL) {
            density = luaL_checknumber(L, -1);
            luaL_argcheck(L, density > 0 && density <= 1, 2, "max_density must be in (0, 1]");
        }
        lua_pop(L, 1);
    }
    /* the handle exists (closed) before the file is read */
    lua_sparse *v = lua_newuserdatauv(L, sizeof *v, 0);
    v->s = NULL;
    luaL_setmetatable(L, RCPT_VEC_SPARSE_MT);
    if (rcpt_vec_sparse_open(path, have_man ? &man : NULL, density, &v->s, &err) != RCPT_OK)
        return fail(L, &err);
    return 1;
}

/* query(v, opts) -> result; query_many({v, ...}, opts) -> {result, ...}:
 * one pass over the rows for up to 8 queries */
static int sparse_query(lua_State *L, int many)
{
    lua_sparse *v = check_sparse(L, 1);
    int dim = rcpt_vec_sparse_dim(v->s);
    lua_settop(L, 3);
    size_t nq = 1;
    if (many)
        nq = check_array(L, 2, "vectors");
    float *q = scratch(L, nq * (size_t)dim * sizeof *q);
    char what[48];
    for (size_t i = 0; i < nq; i++) {
        if (many) {
            lua_geti(L, 2, (lua_Integer)i + 1);
            snprintf(what, sizeof what, "vectors[%zu]", i + 1);
            to_vector(L, -1, q + i * (size_t)dim, dim, what);
            lua_pop(L, 1);
        } else {
            to_vector(L, 2, q, dim, "vector");
        }
    }
    rcpt_vec_query_opts o;
    to_query_opts(L, 3, &o);
    size_t k = o.k < rcpt_vec_sparse_count(v->s) ? o.k : rcpt_vec_sparse_count(v->s);
    rcpt_vec_hit *hits = scratch(L, nq * k * sizeof *hits);
    size_t *nh = scratch(L, nq * sizeof *nh);
    rcpt_err err;
    if (rcpt_vec_sparse_query(v->s, q, nq, &o, hits, nh, &err) != RCPT_OK)
        return fail(L, &err);
    const rcpt_vec_coll *rows = rcpt_vec_sparse_rows(v->s);
    if (!many) {
        push_hits(L, rows, hits, nh[0]);
        return 1;
    }
    lua_createtable(L, (int)nq, 0);
    for (size_t i = 0; i < nq; i++) {
        push_hits(L, rows, hits + i * k, nh[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int ms_query(lua_State *L) { return sparse_query(L, 0); }
static int ms_query_many(lua_State *L) { return sparse_query(L, 1); }

static int ms_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rcpt_vec_sparse_count(check_sparse(L, 1)->s));
    return 1;
}

static int ms_dim(lua_State *L)
{
    lua_pushinteger(L, rcpt_vec_sparse_dim(check_sparse(L, 1)->s));
    return 1;
}

static int ms_name(lua_State *L)
{
    lua_pushstring(L, rcpt_vec_name(rcpt_vec_sparse_rows(check_sparse(L, 1)->s)));
    return 1;
}

static int ms_nnz(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rcpt_vec_sparse_nnz(check_sparse(L, 1)->s));
    return 1;
}

static int ms_close(lua_State *L)
{
    lua_sparse *v = luaL_checkudata(L, 1, RCPT_VEC_SPARSE_MT);
    rcpt_vec_sparse_free(v->s);
    v->s = NULL;
    return 0;
}

static int ms_tostring(lua_State *L)
{
    lua_sparse *v = luaL_checkudata(L, 1, RCPT_VEC_SPARSE_MT);
    if (!v->s)
        lua_pushliteral(L, "rcpt.vec sparse snapshot (closed)");
    else
        lua_pushfstring(L, "rcpt.vec sparse snapshot %s (%d-d, %I rows, %I non-zeros)",
                        rcpt_vec_name(rcpt_vec_sparse_rows(v->s)), rcpt_vec_sparse_dim(v->s),
                        (lua_Integer)rcpt_vec_sparse_count(v->s), (lua_Integer)rcpt_vec_sparse_nnz(v->s));
    return 1;
}

static const luaL_Reg sparse_methods[] = {
    {"query", ms_query},
    {"query_many", ms_query_many},
    {"count", ms_count},
    {"dim", ms_dim},
    {"name", ms_name},
    {"nnz", ms_nnz},
    {"close", ms_close},
    {NULL, NULL},
};

static const luaL_Reg sparse_meta[] = {
    {"__index", NULL},
    {"__gc", ms_close},
    {"__close", ms_close},
    {"__tostring", ms_tostring},
    {"__len", ms_count},
    {NULL, NULL},
};

static const luaL_Reg vec_methods[] = {
    {"upsert", m_upsert},
    {"delete", m_delete},
    {"get", m_get},
    {"count", m_count},
    {"dim", m_dim},
    {"name", m_name},
    {"threads", m_threads},
    {"ids", m_ids},
    {"query", m_query},
    {"update_metadata", m_update_metadata},
    {"write_delta", m_write_delta},
    {"write_snapshot", m_write_snapshot},
    {"apply", m_apply},
    {"lazy", m_lazy},
    {"lazy_rows", m_lazy_rows},
    {"close", m_close},
    {NULL, NULL},
};

static const luaL_Reg vec_meta[] = {
    {"__index", NULL},
    {"__gc", m_close},
    {"__close", m_close},
    {"__tostring", m_tostring},
    {"__len", m_count},
    {NULL, NULL},
};

static const luaL_Reg vec_funcs[] = {
    {"new", l_new},
    {"open", l_open},
    {"open_sparse", l_open_sparse},
    {"read_manifest", l_read_manifest},
    {"verify", l_verify},
    {"sha256", l_sha256},
    {"content_sha256", l_content_sha256},
    {NULL, NULL},
};

int luaopen_rcpt_vec(lua_State *L)
{
    luaL_newmetatable(L, RCPT_VEC_MT);
    luaL_setfuncs(L, vec_meta, 0);
    luaL_newlibtable(L, vec_methods);
    luaL_setfuncs(L, vec_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, RCPT_VEC_SPARSE_MT);
    luaL_setfuncs(L, sparse_meta, 0);
    luaL_newlibtable(L, sparse_methods);
    luaL_setfuncs(L, sparse_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, vec_funcs);
    /* metadata null: JSON null in metadata comes back as this value */
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_pushliteral(L, "cosine");
    lua_setfield(L, -2, "score");
    return 1;
}
