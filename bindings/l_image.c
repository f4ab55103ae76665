/* rcpt.image: pixels for Lua (core/image/image.h).
 *
 *   local image = require "rcpt.image"
 *   local img, msg, errname = image.decode(bytes[, {max_pixels = n}])
 *   image.info(bytes) -> {width=, height=, channels=, format="jpeg"|"png"}
 *   image.new(w, h, channels[, fill])        fill: byte or colour
 *   img:warp_perspective(w, h, {a..h}[, {threads = n}])
 *
 * Colours are {r, g, b[, a]}, {r=, g=, b=, a=} or "#rrggbb[aa]".
 * Pixel memory lives outside Lua's heap, so the collector does not feel its
 * weight: close images (or use <close>) in loops over many pictures. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

#define RCPT_IMAGE_MT "rcpt.image"

typedef struct l_image {
    rcpt_image img; /* img.px == NULL: closed */
} l_image;

static l_image *check_image(lua_State *L, int i)
{
    l_image *u = luaL_checkudata(L, i, RCPT_IMAGE_MT);
    if (!u->img.px)
        luaL_error(L, "attempt to use a closed image");
    return u;
}

/* A closed handle, pushed before any pixel memory exists (liolib's newprefile). */
static l_image *new_handle(lua_State *L)
{
    l_image *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->img = (rcpt_image)RCPT_IMAGE_INIT;
    luaL_setmetatable(L, RCPT_IMAGE_MT);
    return u;
}

static int push_fail(lua_State *L, const rcpt_err *e)
{
    luaL_pushfail(L);
    lua_pushstring(L, e->msg);
    lua_pushstring(L, rcpt_err_name(e->code));
    return 3;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int color_byte(lua_State *L, int t, int idx, const char *key, int dflt, int arg)
{
    int type = lua_rawgeti(L, t, idx);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        type = lua_getfield(L, t, key);
    }
    int v = dflt;
    if (type != LUA_TNIL) {
        int ok;
        lua_Integer n = lua_tointegerx(L, -1, &ok);
        if (!ok || n < 0 || n > 255)
            luaL_argerror(L, arg, lua_pushfstring(L, "colour.%s: must be an integer 0..255", key));
        v = (int)n;
    }
    lua_pop(L, 1);
    return v;
}

/* Colour at arg (absolute index); dflt when nil/none. */
static rcpt_rgba check_color(lua_State *L, int arg, rcpt_rgba dflt)
{
    rcpt_rgba c = dflt;
    int t = lua_type(L, arg);
    if (t == LUA_TNONE || t == LUA_TNIL)
        return c;
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, arg, &n);
        unsigned char v[4] = {0, 0, 0, 255};
        if (s[0] != '#' || (n != 7 && n != 9))
            luaL_argerror(L, arg, "colour string must be #rrggbb or #rrggbbaa");
        for (size_t i = 0; i < (n - 1) / 2; i++) {
            int hi = hexval(s[1 + 2 * i]), lo = hexval(s[2 + 2 * i]);
            if (hi < 0 || lo < 0)
                luaL_argerror(L, arg, "colour string: bad hex digit");
            v[i] = (unsigned char)(hi * 16 + lo);
        }
        c.r = v[0]; c.g = v[1]; c.b = v[2]; c.a = v[3];
        return c;
    }
    if (t != LUA_TTABLE)
        luaL_argerror(L, arg, "colour must be a table {r,g,b[,a]} or a string #rrggbb[aa]");
    c.r = (unsigned char)color_byte(L, arg, 1, "r", 0, arg);
    c.g = (unsigned char)color_byte(L, arg, 2, "g", 0, arg);
    c.b = (unsigned char)color_byte(L, arg, 3, "b", 0, arg);
    c.a = (unsigned char)color_byte(L, arg, 4, "a", 255, arg);
    return c;
}

static int opt_int_field(lua_State *L, int t, const char *key, int dflt, int lo, int hi, int arg)
{
    if (lua_isnoneornil(L, t))
        return dflt;
    luaL_checktype(L, t, LUA_TTABLE);
    int v = dflt;
    if (lua_getfield(L, t, key) != LUA_TNIL) {
        int ok;
        lua_Integer n = lua_tointegerx(L, -1, &ok);
        if (!ok || n < lo || n > hi)
            luaL_argerror(L, arg, lua_pushfstring(L, "%s: must be an integer %d..%d", key, lo, hi));
        v = (int)n;
    }
    lua_pop(L, 1);
    return v;
}

static int check_dim(lua_State *L, int arg, const char *what)
{
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v < 1 || v > 1000000)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s must be 1..1000000", what));
    return (int)v;
}

/* ---- module functions ---- */

static int l_decode(lua_State *L)
{
    size_t n;
    const char *bytes = luaL_checklstring(L, 1, &n);
    lua_Integer maxpx = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "max_pixels") != LUA_TNIL) {
            int ok;
            maxpx = lua_tointegerx(L, -1, &ok);
            if (!ok || maxpx < 1)
                luaL_argerror(L, 2, "max_pixels: must be a positive integer");
        }
        lua_pop(L, 1);
    }
    l_image *u = new_handle(L);
    rcpt_err e;
    if (rcpt_image_decode(bytes, n, (uint64_t)maxpx, &u->img, &e) != RCPT_OK)
        return push_fail(L, &e);
    return 1;
}

static int l_info(lua_State *L)
{
    size_t n;
    const char *bytes = luaL_checklstring(L, 1, &n);
    rcpt_image_info info;
    rcpt_err e;
    if (rcpt_image_info_mem(bytes, n, &info, &e) != RCPT_OK)
        return push_fail(L, &e);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, info.width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, info.height);
    lua_setfield(L, -2, "height");
    lua_pushinteger(L, info.channels);
    lua_setfield(L, -2, "channels");
    lua_pushstring(L, rcpt_image_format_name(info.format));
    lua_setfield(L, -2, "format");
    return 1;
}

static int l_new(lua_State *L)
{
    int w = check_dim(L, 1, "width"), h = check_dim(L, 2, "height");
    lua_Integer ch = luaL_checkinteger(L, 3);
    luaL_argcheck(L, ch == 1 || ch == 3 || ch == 4, 3, "channels must be 1, 3 or 4");
    int byte_fill = 0;
    rcpt_rgba c = {0, 0, 0, 0};
    int use_color = 0;
    if (lua_type(L, 4) == LUA_TNUMBER) {
        lua_Integer f = luaL_checkinteger(L, 4);
        luaL_argcheck(L, f >= 0 && f <= 255, 4, "fill byte must be 0..255");
        byte_fill = (int)f;
    } else if (!lua_isnoneornil(L, 4)) {
        c = check_color(L, 4, c);
        use_color = 1;
    }
    l_image *u = new_handle(L);
    rcpt_err e;
    if (rcpt_image_new(&u->img, w, h, (int)ch, (unsigned char)byte_fill, &e) != RCPT_OK)
        return push_fail(L, &e);
    if (use_color) {
        /* a fill is a paint over black with full opacity: set, not blend */
        rcpt_rgba opaque = c;
        opaque.a = 255;
        rcpt_image_fill_rect(&u->img, 0, 0, w, h, opaque);
        if (ch == 4)
            for (size_t i = 3; i < u->img.stride * (size_t)h; i += 4)
                u->img.px[i] = c.a;
    }
    return 1;
}

/* ---- methods ---- */

static int m_width(lua_State *L) { lua_pushinteger(L, check_image(L, 1)->img.width); return 1; }
static int m_height(lua_State *L) { lua_pushinteger(L, check_image(L, 1)->img.height); return 1; }
static int m_channels(lua_State *L) { lua_pushinteger(L, check_image(L, 1)->img.channels); return 1; }

static int m_size(lua_State *L)
{
    l_image *u = check_image(L, 1);
    lua_pushinteger(L, u->img.width);
    lua_pushinteger(L, u->img.height);
    return 2;
}

/* Encoders write into an rcpt_buf held by a userdata on the stack, so that
 * the buffer is collected even if pushing the result raises (out of memory). */
#define RCPT_IMAGE_BUF_MT "rcpt.image.buf"

static int buf_gc(lua_State *L)
{
    rcpt_buf_free(luaL_checkudata(L, 1, RCPT_IMAGE_BUF_MT));
    return 0;
}

static rcpt_buf *new_buf(lua_State *L)
{
    rcpt_buf *b = lua_newuserdatauv(L, sizeof *b, 0);
    rcpt_buf_init(b);
    if (luaL_newmetatable(L, RCPT_IMAGE_BUF_MT)) {
        lua_pushcfunction(L, buf_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

static int push_buf(lua_State *L, rcpt_buf *b, int rc, const rcpt_err *e)
{
    if (rc != RCPT_OK) {
        rcpt_buf_free(b);
        return push_fail(L, e);
    }
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    rcpt_buf_free(b);
    return 1;
}

static int m_encode_png(lua_State *L)
{
    l_image *u = check_image(L, 1);
    lua_Integer level = luaL_optinteger(L, 2, -1);
    luaL_argcheck(L, level >= -1 && level <= 9, 2, "level must be -1..9");
    rcpt_buf *b = new_buf(L);
    rcpt_err e;
    int rc = rcpt_image_encode_png(&u->img, (int)level, b, &e);
    return push_buf(L, b, rc, &e);
}

static int m_encode_jpeg(lua_State *L)
{
    l_image *u = check_image(L, 1);
    lua_Integer q = luaL_optinteger(L, 2, 85);
    luaL_argcheck(L, q >= 1 && q <= 100, 2, "quality must be 1..100");
    rcpt_buf *b = new_buf(L);
    rcpt_err e;
    int rc = rcpt_image_encode_jpeg(&u->img, (int)q, b, &e);
    return push_buf(L, b, rc, &e);
}

static int m_sha256(lua_State *L)
{
    l_image *u = check_image(L, 1);
    char hex[65];
    rcpt_err e;
    if (rcpt_image_sha256(&u->img, hex, &e) != RCPT_OK)
        return push_fail(L, &e);
    lua_pushstring(L, hex);
    return 1;
}

static int m_resize(lua_State *L)
{
    l_image *u = check_image(L, 1);
    int w = check_dim(L, 2, "width"), h = check_dim(L, 3, "height");
    l_image *o = new_handle(L);
    rcpt_err e;
    if (rcpt_image_resize(&u->img, w, h, &o->img, &e) != RCPT_OK)
        return push_fail(L, &e);
    return 1;
}

/* The §8 CDN table: an array in upload order, each {name=, max=, width=,
 * height=, resize=bool}; "full" has no max. */
static int m_cdn_sizes(lua_State *L)
{
    l_image *u = check_image(L, 1);
    static const struct { const char *name; int max; } sizes[] = {
        {"thumbnail", 300}, {"small", 600}, {"medium", 1200}, {"full", 0}};
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++) {
        int w = u->img.width, h = u->img.height, rs = 0;
        if (sizes[i].max)
            rs = rcpt_image_cdn_size(u->img.width, u->img.height, sizes[i].max, &w, &h);
        lua_createtable(L, 0, 5);
        lua_pushstring(L, sizes[i].name);
        lua_setfield(L, -2, "name");
        if (sizes[i].max) {
            lua_pushinteger(L, sizes[i].max);
            lua_setfield(L, -2, "max");
        }
        lua_pushinteger(L, w);
        lua_setfield(L, -2, "width");
        lua_pushinteger(L, h);
        lua_setfield(L, -2, "height");
        lua_pushboolean(L, rs);
        lua_setfield(L, -2, "resize");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static void check_coeffs(lua_State *L, int arg, double *c, int n)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    luaL_argcheck(L, lua_rawlen(L, arg) == (lua_Unsigned)n, arg,
                  n == 8 ? "coeffs must hold 8 numbers (a..h)" : "coeffs must hold 6 numbers (a..f)");
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, arg, i + 1);
        int ok;
        c[i] = lua_tonumberx(L, -1, &ok);
        if (!ok)
            luaL_argerror(L, arg, lua_pushfstring(L, "coeffs[%d] must be a number", i + 1));
        lua_pop(L, 1);
    }
}

static int do_warp(lua_State *L, int n)
{
    l_image *u = check_image(L, 1);
    int w = check_dim(L, 2, "width"), h = check_dim(L, 3, "height");
    double c[8];
    check_coeffs(L, 4, c, n);
    int threads = opt_int_field(L, 5, "threads", 0, 0, 64, 5);
    l_image *o = new_handle(L);
    rcpt_err e;
    int rc = n == 8 ? rcpt_image_warp_perspective(&u->img, w, h, c, threads, &o->img, &e)
                    : rcpt_image_warp_affine(&u->img, w, h, c, threads, &o->img, &e);
    if (rc != RCPT_OK)
        return push_fail(L, &e);
    return 1;
}

static int m_warp_perspective(lua_State *L) { return do_warp(L, 8); }
static int m_warp_affine(lua_State *L) { return do_warp(L, 6); }

static int m_crop(lua_State *L)
{
    l_image *u = check_image(L, 1);
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    luaL_argcheck(L, x > -1000000000 && x < 1000000000, 2, "x out of range");
    luaL_argcheck(L, y > -1000000000 && y < 1000000000, 3, "y out of range");
    int w = check_dim(L, 4, "width"), h = check_dim(L, 5, "height");
    l_image *o = new_handle(L);
    rcpt_err e;
    if (rcpt_image_crop(&u->img, (int)x, (int)y, w, h, &o->img, &e) != RCPT_OK)
        return push_fail(L, &e);
    return 1;
}

static int m_convert(lua_State *L)
{
    l_image *u = check_image(L, 1);
    lua_Integer ch = luaL_checkinteger(L, 2);
    luaL_argcheck(L, ch == 1 || ch == 3 || ch == 4, 2, "channels must be 1, 3 or 4");
    l_image *o = new_handle(L);
    rcpt_err e;
    if (rcpt_image_convert(&u->img, (int)ch, &o->img, &e) != RCPT_OK)
        return push_fail(L, &e);
    return 1;
}

static const rcpt_rgba default_color = {255, 0, 0, 255};

/* opts at arg: {color=, width=} -> colour and width (width >= 0 when allow0) */
static double opt_width(lua_State *L, int arg, double dflt, double lo)
{
    if (lua_isnoneornil(L, arg))
        return dflt;
    double w = dflt;
    if (lua_getfield(L, arg, "width") != LUA_TNIL) {
        int ok;
        w = lua_tonumberx(L, -1, &ok);
        if (!ok || !(w >= lo) || w > 10000)
            luaL_argerror(L, arg, lo > 0 ? "width must be a number 1..10000"
                                         : "width must be a number 0..10000");
    }
    lua_pop(L, 1);
    return w;
}

static rcpt_rgba opt_color_field(lua_State *L, int arg, const char *key, rcpt_rgba dflt,
                                 int *present)
{
    if (present)
        *present = 0;
    if (lua_isnoneornil(L, arg))
        return dflt;
    luaL_checktype(L, arg, LUA_TTABLE);
    rcpt_rgba c = dflt;
    if (lua_getfield(L, arg, key) != LUA_TNIL) {
        c = check_color(L, lua_gettop(L), dflt);
        if (present)
            *present = 1;
    }
    lua_pop(L, 1);
    return c;
}

static int m_draw_line(lua_State *L)
{
    l_image *u = check_image(L, 1);
    double x0 = luaL_checknumber(L, 2), y0 = luaL_checknumber(L, 3);
    double x1 = luaL_checknumber(L, 4), y1 = luaL_checknumber(L, 5);
    rcpt_rgba c = opt_color_field(L, 6, "color", default_color, NULL);
    double w = opt_width(L, 6, 1, 1);
    rcpt_image_draw_line(&u->img, x0, y0, x1, y1, w, c);
    lua_settop(L, 1);
    return 1;
}

/* points: {x0, y0, x1, y1, ...} or {{x, y}, ...} or {{x=, y=}, ...};
 * returns a malloc'd array of 2n doubles (after all checks). */
static double *check_points(lua_State *L, int arg, int *n_out)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Unsigned len = lua_rawlen(L, arg);
    int pairs = len > 0 && lua_rawgeti(L, arg, 1) == LUA_TTABLE;
    lua_pop(L, len > 0 ? 1 : 0);
    lua_Unsigned n = pairs ? len : len / 2;
    luaL_argcheck(L, pairs || len % 2 == 0, arg, "flat point list must have an even length");
    luaL_argcheck(L, n <= 100000, arg, "too many points");
    /* check everything first, allocate after (no leak on a raise) */
    for (lua_Unsigned i = 0; i < (pairs ? n : 2 * n); i++) {
        lua_rawgeti(L, arg, (lua_Integer)i + 1);
        if (pairs) {
            if (!lua_istable(L, -1))
                luaL_argerror(L, arg, lua_pushfstring(L, "points[%d] must be a point", (int)i + 1));
            for (int k = 0; k < 2; k++) {
                if (lua_rawgeti(L, -1, k + 1) == LUA_TNIL) {
                    lua_pop(L, 1);
                    lua_getfield(L, -1, k ? "y" : "x");
                }
                if (!lua_isnumber(L, -1))
                    luaL_argerror(L, arg, lua_pushfstring(L, "points[%d].%s must be a number",
                                                          (int)i + 1, k ? "y" : "x"));
                lua_pop(L, 1);
            }
        } else if (!lua_isnumber(L, -1)) {
            luaL_argerror(L, arg, lua_pushfstring(L, "points[%d] must be a number", (int)i + 1));
        }
        lua_pop(L, 1);
    }
    double *xy = malloc((n ? n : 1) * 2 * sizeof *xy);
    if (!xy)
        luaL_error(L, "out of memory");
    for (lua_Unsigned i = 0; i < n; i++) {
        if (pairs) {
            lua_rawgeti(L, arg, (lua_Integer)i + 1);
            for (int k = 0; k < 2; k++) {
                if (lua_rawgeti(L, -1, k + 1) == LUA_TNIL) {
                    lua_pop(L, 1);
                    lua_getfield(L, -1, k ? "y" : "x");
                }
                xy[2 * i + k] = lua_tonumber(L, -1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        } else {
            lua_rawgeti(L, arg, (lua_Integer)(2 * i + 1));
            lua_rawgeti(L, arg, (lua_Integer)(2 * i + 2));
            xy[2 * i] = lua_tonumber(L, -2);
            xy[2 * i + 1] = lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
    }
    *n_out = (int)n;
    return xy;
}

/* draw_polygon(points, {color=, width=, fill=}): fill (a colour) first, then
 * the outline in color when width > 0 (width = 0: fill only). */
static int m_draw_polygon(lua_State *L)
{
    l_image *u = check_image(L, 1);
    int has_fill;
    rcpt_rgba fill = opt_color_field(L, 3, "fill", default_color, &has_fill);
    rcpt_rgba c = opt_color_field(L, 3, "color", default_color, NULL);
    double w = opt_width(L, 3, 1, 0);
    int n;
    double *xy = check_points(L, 2, &n); /* last: it allocates */
    if (has_fill)
        rcpt_image_fill_polygon(&u->img, xy, n, fill);
    if (w > 0)
        rcpt_image_draw_polygon(&u->img, xy, n, w < 1 ? 1 : w, c);
    free(xy);
    lua_settop(L, 1);
    return 1;
}

static int m_fill_rect(lua_State *L)
{
    l_image *u = check_image(L, 1);
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    lua_Integer w = luaL_checkinteger(L, 4), h = luaL_checkinteger(L, 5);
    rcpt_rgba c = check_color(L, 6, default_color);
    if (x < -2000000000 || x > 2000000000 || y < -2000000000 || y > 2000000000 ||
        w > 2000000000 || h > 2000000000)
        return luaL_error(L, "fill_rect: coordinates out of range");
    rcpt_image_fill_rect(&u->img, (int)x, (int)y, (int)w, (int)h, c);
    lua_settop(L, 1);
    return 1;
}

static int m_draw_text(lua_State *L)
{
    l_image *u = check_image(L, 1);
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    const char *text = luaL_checkstring(L, 4);
    rcpt_rgba c = check_color(L, 5, default_color);
    lua_Integer scale = luaL_optinteger(L, 6, 1);
    luaL_argcheck(L, scale >= 1 && scale <= 100, 6, "scale must be 1..100");
    luaL_argcheck(L, x > -1000000000 && x < 1000000000, 2, "x out of range");
    luaL_argcheck(L, y > -1000000000 && y < 1000000000, 3, "y out of range");
    lua_pushinteger(L, rcpt_image_draw_text(&u->img, (int)x, (int)y, text, (int)scale, c));
    return 1;
}

static unsigned char *pixel_at(lua_State *L, l_image *u)
{
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    luaL_argcheck(L, x >= 0 && x < u->img.width, 2, "x outside the image");
    luaL_argcheck(L, y >= 0 && y < u->img.height, 3, "y outside the image");
    return u->img.px + (size_t)y * u->img.stride + (size_t)x * u->img.channels;
}

static int m_get_pixel(lua_State *L)
{
    l_image *u = check_image(L, 1);
    unsigned char *p = pixel_at(L, u);
    for (int i = 0; i < u->img.channels; i++)
        lua_pushinteger(L, p[i]);
    return u->img.channels;
}

static int m_set_pixel(lua_State *L)
{
    l_image *u = check_image(L, 1);
    unsigned char *p = pixel_at(L, u);
    unsigned char v[4];
    for (int i = 0; i < u->img.channels; i++) {
        lua_Integer b = luaL_checkinteger(L, 4 + i);
        luaL_argcheck(L, b >= 0 && b <= 255, 4 + i, "sample must be 0..255");
        v[i] = (unsigned char)b;
    }
    memcpy(p, v, (size_t)u->img.channels);
    lua_settop(L, 1);
    return 1;
}

static int m_close(lua_State *L)
{
    l_image *u = luaL_checkudata(L, 1, RCPT_IMAGE_MT);
    rcpt_image_free(&u->img);
    return 0;
}

static int m_tostring(lua_State *L)
{
    l_image *u = luaL_checkudata(L, 1, RCPT_IMAGE_MT);
    if (!u->img.px)
        lua_pushliteral(L, "image (closed)");
    else
        lua_pushfstring(L, "image (%dx%dx%d)", u->img.width, u->img.height, u->img.channels);
    return 1;
}

static const luaL_Reg methods[] = {
    {"width", m_width},
    {"height", m_height},
    {"channels", m_channels},
    {"size", m_size},
    {"encode_png", m_encode_png},
    {"encode_jpeg", m_encode_jpeg},
    {"sha256", m_sha256},
    {"resize", m_resize},
    {"cdn_sizes", m_cdn_sizes},
    {"warp_perspective", m_warp_perspective},
    {"warp_affine", m_warp_affine},
    {"crop", m_crop},
    {"convert", m_convert},
    {"draw_line", m_draw_line},
    {"draw_polygon", m_draw_polygon},
    {"fill_rect", m_fill_rect},
    {"draw_text", m_draw_text},
    {"get_pixel", m_get_pixel},
    {"set_pixel", m_set_pixel},
    {"close", m_close},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__index", NULL}, /* set to the method table below */
    {"__gc", m_close},
    {"__close", m_close},
    {"__tostring", m_tostring},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"decode", l_decode},
    {"info", l_info},
    {"new", l_new},
    {NULL, NULL},
};

int luaopen_rcpt_image(lua_State *L)
{
    luaL_newmetatable(L, RCPT_IMAGE_MT);
    luaL_setfuncs(L, metamethods, 0);
    luaL_newlibtable(L, methods);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_pushinteger(L, (lua_Integer)RCPT_IMAGE_MAX_PIXELS);
    lua_setfield(L, -2, "MAX_PIXELS");
    return 1;
}
