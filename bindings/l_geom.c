/* rcpt.geom: the geometry of core/geom (spec/ocr-geometry.md §5-§8) for Lua.
 *
 * Plain tables in, plain tables out.  A point is {x=, y=} or {x, y} (both are
 * accepted; results are always {x=, y=}).  A line (or word) is a table with
 * top_left, top_right, bottom_left, bottom_right (points, VN, y up) and an
 * optional angle_degrees (default 0) -- exactly the entity tables.  Indices
 * are 1-based.  Wrong argument types raise (naming the argument and field,
 * e.g. "lines[3].top_left.x: must be a number"); an expected failure (a
 * degenerate perspective, a skipped cluster) returns nil, message, name.
 *
 *   round(v) -> integer                 Python round(): half to even
 *   line_centroid(line) -> point        (TR+TL+BR+BL)/4
 *   photo_eps(lines) -> number          2 x mean Line diagonal
 *   convex_hull(points) -> {points}     CCW from the smallest (x, y)
 *   hull_centroid(points) -> point
 *   min_area_rect(points) -> center, {w, h}, angle_deg
 *   box_points(center, {w, h}, angle_deg) -> {4 points}
 *   reorder_box_points({4 points}) -> {tl, tr, br, bl}
 *   perspective_coeffs(src4, dst4) -> {a..h} | nil, msg, "EINVAL"
 *   perspective_apply(coeffs, point) -> point        dst -> src
 *   invert_affine({a..f} | a, b, c, d, e, f) -> {6} | nil, msg, "EINVAL"
 *   theil_sen(points) -> slope, intercept          x = slope*y + intercept
 *   boundary_from_points(p1, p2) -> boundary       {kind="line"|"vertical"|
 *   boundary_from_theil_sen(slope, intercept)       "inverted", slope=,
 *   boundary_fit_horizontal(points) -> boundary     intercept=, x=}
 *   box_from_boundaries(top, bottom, left, right[, fallback]) -> {4 points}
 *   classify(lines, width, height) -> "NATIVE"|"PHOTO"|"SCAN", details
 *       details = {left=, right=, top=, bottom=, scan_distance=, photo_distance=}
 *   dimension_distance(w, h, rw, rh) -> number
 *   dbscan(lines, eps, min_samples) -> { {label=, lines={indices}}, ... }, labels
 *   dbscan_points(points, eps, min_samples) -> the same over raw points
 *       clusters in the original dict's key order (first index carrying the
 *       label; -1 = noise may come first); labels[i] = label of item i
 *   cluster_x(lines[, eps=0.08[, min_samples=2]]) -> clusters, labels
 *   cluster_x_values(xs, eps, min_samples) -> clusters, labels
 *       noise groups are left out of clusters and are -1 in labels
 *   polygon_area(points) -> number; polygon_iou(a, b) -> number
 *   cluster_box(lines, width, height) -> {tl, tr, br, bl} (PX) | nil
 *   join_overlapping(lines, clusters, width, height[, thr=0.01]) -> clusters
 *       clusters as dbscan/cluster_x return them; the lines are needed to
 *       resolve the indices; labels (= root ids) are not renumbered
 *   photo_receipt(words, lines, width, height)
 *       -> {corners={tl, tr, br, bl} (PX, y down; also top_left=... fields),
 *           width=, height=, coeffs={8}, fallback=bool, hull={points},
 *           centroid=point, avg_angle=, final_angle=}
 *        | nil, reason, "SKIP"
 *   scan_receipt(lines, width, height)
 *       -> {box={tl, tr, br, bl} (PX), width=, height=, affine={a..f},
 *           center=point, size={w, h}, angle=} | nil, reason, "SKIP"
 *
 * Memory: inputs are copied into Lua userdata (collected by Lua); results a
 * core function allocates are held by a scratch userdata created before the
 * call, whose __gc/__close frees them, so a Lua error never leaks them. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom/geom.h"

#define RCPT_GEOM_SCRATCH_MT "rcpt.geom.scratch"

typedef struct geom_scratch {
    rcpt_point *hull;
    rcpt_geom_clusters cs, cs2;
    rcpt_geom_photo photo;
} geom_scratch;

static geom_scratch *check_scratch(lua_State *L, int i)
{
    return luaL_checkudata(L, i, RCPT_GEOM_SCRATCH_MT);
}

static int scratch_release(lua_State *L)
{
    geom_scratch *s = check_scratch(L, 1);
    free(s->hull);
    s->hull = NULL;
    rcpt_geom_clusters_free(&s->cs);
    rcpt_geom_clusters_free(&s->cs2);
    rcpt_geom_photo_free(&s->photo);
    return 0;
}

static const luaL_Reg scratch_meta[] = {
    {"__gc", scratch_release},
    {"__close", scratch_release},
    {NULL, NULL},
};

/* A scratch holder, empty ("closed") until a core call fills it. */
static geom_scratch *new_scratch(lua_State *L)
{
    geom_scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, RCPT_GEOM_SCRATCH_MT);
    return s;
}

/* ---- reading arguments --------------------------------------------------- */

/* Read the number at the top of the stack, pop it. */
static double pop_number(lua_State *L, const char *what, const char *field)
{
    int isnum;
    double v = lua_tonumberx(L, -1, &isnum);
    if (!isnum) luaL_error(L, "%s%s: must be a number", what, field);
    lua_pop(L, 1);
    return v;
}

/* A point at stack index idx: {x=, y=} or {x, y}. */
static rcpt_point read_point(lua_State *L, int idx, const char *what)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) luaL_error(L, "%s: must be a point table {x=, y=} or {x, y}", what);
    rcpt_point p;
    if (lua_getfield(L, idx, "x") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_rawgeti(L, idx, 1);
        p.x = pop_number(L, what, "[1]");
        lua_rawgeti(L, idx, 2);
        p.y = pop_number(L, what, "[2]");
    } else {
        p.x = pop_number(L, what, ".x");
        lua_getfield(L, idx, "y");
        p.y = pop_number(L, what, ".y");
    }
    return p;
}

static size_t array_len(lua_State *L, int arg, const char *name)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Unsigned n = lua_rawlen(L, arg);
    if (n > (1u << 24)) luaL_argerror(L, arg, lua_pushfstring(L, "%s: too many entries", name));
    return (size_t)n;
}

/* Copy an array of points into a userdata left on the stack. */
static rcpt_point *read_points(lua_State *L, int arg, const char *name, size_t *n)
{
    arg = lua_absindex(L, arg);
    *n = array_len(L, arg, name);
    rcpt_point *p = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *p, 0);
    char what[64];
    for (size_t i = 0; i < *n; i++) {
        snprintf(what, sizeof what, "%s[%zu]", name, i + 1);
        lua_rawgeti(L, arg, (lua_Integer)i + 1);
        p[i] = read_point(L, -1, what);
        lua_pop(L, 1);
    }
    return p;
}

static void read_fixed_points(lua_State *L, int arg, const char *name, rcpt_point *out, size_t k)
{
    size_t n = array_len(L, arg, name);
    if (n != k) luaL_argerror(L, arg, lua_pushfstring(L, "%s: expected %d points", name, (int)k));
    char what[64];
    for (size_t i = 0; i < k; i++) {
        snprintf(what, sizeof what, "%s[%zu]", name, i + 1);
        lua_rawgeti(L, arg, (lua_Integer)i + 1);
        out[i] = read_point(L, -1, what);
        lua_pop(L, 1);
    }
}

static void read_line(lua_State *L, int idx, const char *what, rcpt_geom_line *l)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) luaL_error(L, "%s: must be a line table", what);
    static const char *const names[4] = {"top_left", "top_right", "bottom_left", "bottom_right"};
    rcpt_point *dst[4] = {&l->top_left, &l->top_right, &l->bottom_left, &l->bottom_right};
    char sub[96];
    for (int k = 0; k < 4; k++) {
        snprintf(sub, sizeof sub, "%s.%s", what, names[k]);
        lua_getfield(L, idx, names[k]);
        *dst[k] = read_point(L, -1, sub);
        lua_pop(L, 1);
    }
    l->angle_degrees = 0.0;
    if (lua_getfield(L, idx, "angle_degrees") != LUA_TNIL)
        l->angle_degrees = pop_number(L, what, ".angle_degrees");
    else
        lua_pop(L, 1);
}

static rcpt_geom_line *read_lines(lua_State *L, int arg, const char *name, size_t *n)
{
    arg = lua_absindex(L, arg);
    *n = array_len(L, arg, name);
    rcpt_geom_line *l = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *l, 0);
    char what[64];
    for (size_t i = 0; i < *n; i++) {
        snprintf(what, sizeof what, "%s[%zu]", name, i + 1);
        lua_rawgeti(L, arg, (lua_Integer)i + 1);
        read_line(L, -1, what, &l[i]);
        lua_pop(L, 1);
    }
    return l;
}

static int check_dim(lua_State *L, int arg)
{
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v <= 0 || v > 1000000) luaL_argerror(L, arg, "image size must be in 1..1000000");
    return (int)v;
}

/* ---- pushing results ---------------------------------------------------- */

static void push_point(lua_State *L, rcpt_point p)
{
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, p.x);
    lua_setfield(L, -2, "x");
    lua_pushnumber(L, p.y);
    lua_setfield(L, -2, "y");
}

static void push_points(lua_State *L, const rcpt_point *p, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_point(L, p[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* {tl, tr, br, bl} plus the named fields */
static void push_quad(lua_State *L, const rcpt_point q[4])
{
    static const char *const names[4] = {"top_left", "top_right", "bottom_right", "bottom_left"};
    push_points(L, q, 4);
    for (int i = 0; i < 4; i++) {
        lua_rawgeti(L, -1, i + 1);
        lua_setfield(L, -2, names[i]);
    }
}

static void push_numbers(lua_State *L, const double *v, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_clusters(lua_State *L, const rcpt_geom_clusters *cs)
{
    lua_createtable(L, (int)cs->n, 0);
    for (size_t k = 0; k < cs->n; k++) {
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, cs->c[k].label);
        lua_setfield(L, -2, "label");
        lua_createtable(L, (int)cs->c[k].n, 0);
        for (size_t j = 0; j < cs->c[k].n; j++) {
            lua_pushinteger(L, (lua_Integer)cs->c[k].idx[j] + 1);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
        lua_setfield(L, -2, "lines");
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
}

static void push_labels(lua_State *L, const int *labels, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, labels[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int push_fail(lua_State *L, const rcpt_err *e)
{
    luaL_pushfail(L);
    lua_pushstring(L, e->msg);
    lua_pushstring(L, rcpt_err_name(e->code));
    return 3;
}

/* Core failures that are not the caller's data (ENOMEM, ELIMIT) raise. */
static void raise_err(lua_State *L, const rcpt_err *e)
{
    luaL_error(L, "rcpt.geom: %s", e->msg);
}

/* ---- functions ------------------------------------------------------------- */

static int g_round(lua_State *L)
{
    double v = rcpt_geom_round_half_even(luaL_checknumber(L, 1));
    lua_Integer i;
    if (lua_numbertointeger(v, &i)) lua_pushinteger(L, i);
    else lua_pushnumber(L, v);
    return 1;
}

static int g_line_centroid(lua_State *L)
{
    rcpt_geom_line l;
    read_line(L, 1, "line", &l);
    push_point(L, rcpt_geom_line_centroid(&l));
    return 1;
}

static int g_photo_eps(lua_State *L)
{
    size_t n;
    rcpt_geom_line *l = read_lines(L, 1, "lines", &n);
    lua_pushnumber(L, rcpt_geom_photo_eps(l, n));
    return 1;
}

static int g_convex_hull(lua_State *L)
{
    size_t n;
    rcpt_point *p = read_points(L, 1, "points", &n);
    geom_scratch *s = new_scratch(L);
    size_t nh;
    rcpt_err e = {0, ""};
    if (rcpt_geom_convex_hull(p, n, &s->hull, &nh, &e)) {
        if (e.code == RCPT_EINVAL) return push_fail(L, &e);
        raise_err(L, &e);
    }
    push_points(L, s->hull, nh);
    return 1;
}

static int g_hull_centroid(lua_State *L)
{
    size_t n;
    rcpt_point *p = read_points(L, 1, "points", &n);
    push_point(L, rcpt_geom_hull_centroid(p, n));
    return 1;
}

static int g_min_area_rect(lua_State *L)
{
    size_t n;
    rcpt_point *p = read_points(L, 1, "points", &n);
    rcpt_geom_rect r;
    rcpt_err e = {0, ""};
    if (rcpt_geom_min_area_rect(p, n, &r, &e)) {
        if (e.code == RCPT_EINVAL) return push_fail(L, &e);
        raise_err(L, &e);
    }
    push_point(L, r.center);
    double wh[2] = {r.width, r.height};
    push_numbers(L, wh, 2);
    lua_pushnumber(L, r.angle_deg);
    return 3;
}

static rcpt_geom_rect read_rect(lua_State *L, int arg)
{
    rcpt_geom_rect r;
    r.center = read_point(L, arg, "center");
    luaL_checktype(L, arg + 1, LUA_TTABLE);
    lua_rawgeti(L, arg + 1, 1);
    r.width = pop_number(L, "size", "[1]");
    lua_rawgeti(L, arg + 1, 2);
    r.height = pop_number(L, "size", "[2]");
    r.angle_deg = luaL_checknumber(L, arg + 2);
    return r;
}

static int g_box_points(lua_State *L)
{
    rcpt_geom_rect r = read_rect(L, 1);
    rcpt_point q[4];
    rcpt_geom_box_points(&r, q);
    push_points(L, q, 4);
    return 1;
}

static int g_reorder_box_points(lua_State *L)
{
    rcpt_point q[4];
    read_fixed_points(L, 1, "points", q, 4);
    rcpt_geom_reorder_box_points(q, q);
    push_quad(L, q);
    return 1;
}

static int g_perspective_coeffs(lua_State *L)
{
    rcpt_point src[4], dst[4];
    double c[8];
    read_fixed_points(L, 1, "src", src, 4);
    read_fixed_points(L, 2, "dst", dst, 4);
    rcpt_err e = {0, ""};
    if (rcpt_geom_perspective_coeffs(src, dst, c, &e)) return push_fail(L, &e);
    push_numbers(L, c, 8);
    return 1;
}

static void read_numbers(lua_State *L, int arg, const char *name, double *v, int n)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    char what[32];
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "[%d]", i + 1);
        lua_rawgeti(L, arg, i + 1);
        v[i] = pop_number(L, name, what);
    }
}

static int g_perspective_apply(lua_State *L)
{
    double c[8];
    read_numbers(L, 1, "coeffs", c, 8);
    push_point(L, rcpt_geom_perspective_apply(c, read_point(L, 2, "point")));
    return 1;
}

static int g_invert_affine(lua_State *L)
{
    double in[6], out[6];
    if (lua_istable(L, 1))
        read_numbers(L, 1, "affine", in, 6);
    else
        for (int i = 0; i < 6; i++) in[i] = luaL_checknumber(L, i + 1);
    rcpt_err e = {0, ""};
    if (rcpt_geom_invert_affine(in, out, &e)) return push_fail(L, &e);
    push_numbers(L, out, 6);
    return 1;
}

static int g_theil_sen(lua_State *L)
{
    size_t n;
    rcpt_point *p = read_points(L, 1, "points", &n);
    double m, b;
    rcpt_err e = {0, ""};
    if (rcpt_geom_theil_sen(p, n, &m, &b, &e)) raise_err(L, &e);
    lua_pushnumber(L, m);
    lua_pushnumber(L, b);
    return 2;
}

static const char *const boundary_kinds[] = {"line", "vertical", "inverted", NULL};

static void push_boundary(lua_State *L, const rcpt_geom_boundary *b)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, boundary_kinds[b->kind]);
    lua_setfield(L, -2, "kind");
    lua_pushnumber(L, b->slope);
    lua_setfield(L, -2, "slope");
    lua_pushnumber(L, b->intercept);
    lua_setfield(L, -2, "intercept");
    lua_pushnumber(L, b->x);
    lua_setfield(L, -2, "x");
}

static rcpt_geom_boundary read_boundary(lua_State *L, int arg, const char *name)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    rcpt_geom_boundary b = {0, 0.0, 0.0, 0.0};
    lua_getfield(L, arg, "kind");
    const char *k = lua_tostring(L, -1);
    int found = -1;
    for (int i = 0; k && boundary_kinds[i]; i++)
        if (strcmp(k, boundary_kinds[i]) == 0) found = i;
    if (found < 0) luaL_error(L, "%s.kind: must be \"line\", \"vertical\" or \"inverted\"", name);
    lua_pop(L, 1);
    b.kind = found;
    if (b.kind == RCPT_GEOM_BOUNDARY_VERTICAL) {
        lua_getfield(L, arg, "x");
        b.x = pop_number(L, name, ".x");
    } else {
        lua_getfield(L, arg, "slope");
        b.slope = pop_number(L, name, ".slope");
        lua_getfield(L, arg, "intercept");
        b.intercept = pop_number(L, name, ".intercept");
    }
    return b;
}

static int g_boundary_from_points(lua_State *L)
{
    rcpt_geom_boundary b =
        rcpt_geom_boundary_from_points(read_point(L, 1, "p1"), read_point(L, 2, "p2"));
    push_boundary(L, &b);
    return 1;
}

static int g_boundary_from_theil_sen(lua_State *L)
{
    rcpt_geom_boundary b =
        rcpt_geom_boundary_from_theil_sen(luaL_checknumber(L, 1), luaL_checknumber(L, 2));
    push_boundary(L, &b);
    return 1;
}

static int g_boundary_fit_horizontal(lua_State *L)
{
    size_t n;
    rcpt_point *p = read_points(L, 1, "points", &n);
    rcpt_geom_boundary b = rcpt_geom_boundary_fit_horizontal(p, n);
    push_boundary(L, &b);
    return 1;
}

static int g_box_from_boundaries(lua_State *L)
{
    lua_settop(L, 5);   /* fixed slots: scratch userdata go above */
    rcpt_geom_boundary t = read_boundary(L, 1, "top"), b = read_boundary(L, 2, "bottom");
    rcpt_geom_boundary l = read_boundary(L, 3, "left"), r = read_boundary(L, 4, "right");
    rcpt_point fb, q[4];
    int has_fb = !lua_isnoneornil(L, 5);
    if (has_fb) fb = read_point(L, 5, "fallback");
    rcpt_geom_box_from_boundaries(&t, &b, &l, &r, has_fb ? &fb : NULL, q);
    push_quad(L, q);
    return 1;
}

static int g_classify(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: scratch userdata go above */
    size_t n;
    rcpt_geom_line *l = read_lines(L, 1, "lines", &n);
    int w = check_dim(L, 2), h = check_dim(L, 3);
    rcpt_geom_layout out;
    rcpt_geom_classify(l, n, w, h, &out);
    lua_pushstring(L, rcpt_geom_layout_name(out.layout));
    lua_createtable(L, 0, 6);
    lua_pushnumber(L, out.left);
    lua_setfield(L, -2, "left");
    lua_pushnumber(L, out.right);
    lua_setfield(L, -2, "right");
    lua_pushnumber(L, out.top);
    lua_setfield(L, -2, "top");
    lua_pushnumber(L, out.bottom);
    lua_setfield(L, -2, "bottom");
    lua_pushnumber(L, out.scan_distance);
    lua_setfield(L, -2, "scan_distance");
    lua_pushnumber(L, out.photo_distance);
    lua_setfield(L, -2, "photo_distance");
    return 2;
}

static int g_dimension_distance(lua_State *L)
{
    lua_pushnumber(L, rcpt_geom_dimension_distance(luaL_checknumber(L, 1), luaL_checknumber(L, 2),
                                                   luaL_checknumber(L, 3), luaL_checknumber(L, 4)));
    return 1;
}

static size_t check_min_samples(lua_State *L, int arg, lua_Integer dflt)
{
    lua_Integer m = luaL_optinteger(L, arg, dflt);
    luaL_argcheck(L, m >= 0, arg, "min_samples must be >= 0");
    return (size_t)m;
}

/* Shared tail of the clustering functions: clusters, labels. */
static int finish_clusters(lua_State *L, int rc, rcpt_err *e, geom_scratch *s, int *labels,
                           size_t n)
{
    if (rc) {
        if (e->code == RCPT_EINVAL) return push_fail(L, e);
        raise_err(L, e);
    }
    push_clusters(L, &s->cs);
    push_labels(L, labels, n);
    return 2;
}

static int g_dbscan(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: scratch userdata go above */
    size_t n;
    rcpt_geom_line *l = read_lines(L, 1, "lines", &n);
    double eps = luaL_checknumber(L, 2);
    size_t ms = check_min_samples(L, 3, 2);
    int *labels = lua_newuserdatauv(L, (n ? n : 1) * sizeof *labels, 0);
    geom_scratch *s = new_scratch(L);
    rcpt_err e = {0, ""};
    int rc = rcpt_geom_dbscan_lines(l, n, eps, ms, &s->cs, labels, &e);
    return finish_clusters(L, rc, &e, s, labels, n);
}

static int g_dbscan_points(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: scratch userdata go above */
    size_t n;
    rcpt_point *p = read_points(L, 1, "points", &n);
    double eps = luaL_checknumber(L, 2);
    size_t ms = check_min_samples(L, 3, 2);
    int *labels = lua_newuserdatauv(L, (n ? n : 1) * sizeof *labels, 0);
    geom_scratch *s = new_scratch(L);
    rcpt_err e = {0, ""};
    int rc = rcpt_geom_dbscan(p, n, eps, ms, &s->cs, labels, &e);
    return finish_clusters(L, rc, &e, s, labels, n);
}

static int g_cluster_x(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: scratch userdata go above */
    size_t n;
    rcpt_geom_line *l = read_lines(L, 1, "lines", &n);
    double eps = luaL_optnumber(L, 2, 0.08);
    size_t ms = check_min_samples(L, 3, 2);
    int *labels = lua_newuserdatauv(L, (n ? n : 1) * sizeof *labels, 0);
    geom_scratch *s = new_scratch(L);
    rcpt_err e = {0, ""};
    int rc = rcpt_geom_cluster_x_lines(l, n, eps, ms, &s->cs, labels, &e);
    return finish_clusters(L, rc, &e, s, labels, n);
}

static int g_cluster_x_values(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: scratch userdata go above */
    size_t n = array_len(L, 1, "xs");
    double eps = luaL_checknumber(L, 2);
    size_t ms = check_min_samples(L, 3, 2);
    double *xs = lua_newuserdatauv(L, (n ? n : 1) * sizeof *xs, 0);
    read_numbers(L, 1, "xs", xs, (int)n);
    int *labels = lua_newuserdatauv(L, (n ? n : 1) * sizeof *labels, 0);
    geom_scratch *s = new_scratch(L);
    rcpt_err e = {0, ""};
    int rc = rcpt_geom_cluster_x(xs, n, eps, ms, &s->cs, labels, &e);
    return finish_clusters(L, rc, &e, s, labels, n);
}

static int g_polygon_area(lua_State *L)
{
    size_t n;
    rcpt_point *p = read_points(L, 1, "points", &n);
    lua_pushnumber(L, rcpt_geom_polygon_area(p, n));
    return 1;
}

static int g_polygon_iou(lua_State *L)
{
    size_t na, nb;
    rcpt_point *a = read_points(L, 1, "a", &na);
    rcpt_point *b = read_points(L, 2, "b", &nb);
    double iou;
    rcpt_err e = {0, ""};
    if (rcpt_geom_polygon_iou(a, na, b, nb, &iou, &e)) raise_err(L, &e);
    lua_pushnumber(L, iou);
    return 1;
}

static int g_cluster_box(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: scratch userdata go above */
    size_t n;
    rcpt_geom_line *l = read_lines(L, 1, "lines", &n);
    int w = check_dim(L, 2), h = check_dim(L, 3);
    size_t *idx = lua_newuserdatauv(L, (n ? n : 1) * sizeof *idx, 0);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    rcpt_point q[4];
    int has;
    rcpt_err e = {0, ""};
    if (rcpt_geom_cluster_box(l, idx, n, w, h, q, &has, &e)) {
        if (e.code == RCPT_EINVAL) return push_fail(L, &e);
        raise_err(L, &e);
    }
    if (!has) {
        lua_pushnil(L);
        return 1;
    }
    push_quad(L, q);
    return 1;
}

/* Read clusters {{label=, lines={indices}}, ...} into s->cs (1-based -> 0-based). */
static void read_clusters(lua_State *L, int arg, size_t n_lines, geom_scratch *s)
{
    size_t nc = array_len(L, arg, "clusters"), total = 0;
    for (size_t k = 0; k < nc; k++) {
        lua_rawgeti(L, arg, (lua_Integer)k + 1);
        if (!lua_istable(L, -1)) luaL_error(L, "clusters[%d]: must be a table", (int)k + 1);
        lua_getfield(L, -1, "lines");
        if (!lua_istable(L, -1)) luaL_error(L, "clusters[%d].lines: must be a table", (int)k + 1);
        total += lua_rawlen(L, -1);
        lua_pop(L, 2);
    }
    s->cs.c = calloc(nc ? nc : 1, sizeof *s->cs.c);
    s->cs.pool_ = malloc((total ? total : 1) * sizeof *s->cs.pool_);
    if (!s->cs.c || !s->cs.pool_) luaL_error(L, "rcpt.geom: out of memory");
    size_t off = 0;
    for (size_t k = 0; k < nc; k++) {
        lua_rawgeti(L, arg, (lua_Integer)k + 1);
        lua_getfield(L, -1, "label");
        int isint;
        lua_Integer lab = lua_tointegerx(L, -1, &isint);
        if (!isint || lab < -1 || lab > 0x7fffffff)
            luaL_error(L, "clusters[%d].label: must be an integer >= -1", (int)k + 1);
        lua_pop(L, 1);
        lua_getfield(L, -1, "lines");
        size_t m = lua_rawlen(L, -1);
        rcpt_geom_cluster *c = &s->cs.c[k];
        c->label = (int)lab;
        c->idx = s->cs.pool_ + off;
        for (size_t j = 0; j < m; j++) {
            lua_rawgeti(L, -1, (lua_Integer)j + 1);
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (!isint || v < 1 || (lua_Unsigned)v > n_lines)
                luaL_error(L, "clusters[%d].lines[%d]: must be a line index in 1..%d", (int)k + 1,
                           (int)j + 1, (int)n_lines);
            lua_pop(L, 1);
            c->idx[c->n++] = (size_t)(v - 1);
        }
        off += m;
        s->cs.n = k + 1;
        lua_pop(L, 2);
    }
}

static int g_join_overlapping(lua_State *L)
{
    lua_settop(L, 5);   /* fixed slots: scratch userdata go above */
    size_t n;
    rcpt_geom_line *l = read_lines(L, 1, "lines", &n);
    int w = check_dim(L, 3), h = check_dim(L, 4);
    double thr = luaL_optnumber(L, 5, 0.01);
    geom_scratch *s = new_scratch(L);
    read_clusters(L, 2, n, s);
    rcpt_err e = {0, ""};
    if (rcpt_geom_join_overlapping(l, &s->cs, w, h, thr, &s->cs2, &e)) {
        if (e.code == RCPT_EINVAL) return push_fail(L, &e);
        raise_err(L, &e);
    }
    push_clusters(L, &s->cs2);
    return 1;
}

static int push_skip(lua_State *L, const char *reason)
{
    luaL_pushfail(L);
    lua_pushstring(L, reason);
    lua_pushliteral(L, "SKIP");
    return 3;
}

static int g_photo_receipt(lua_State *L)
{
    lua_settop(L, 4);   /* fixed slots: scratch userdata go above */
    size_t nw, nl;
    rcpt_geom_line *words = read_lines(L, 1, "words", &nw);
    rcpt_geom_line *lines = read_lines(L, 2, "lines", &nl);
    int w = check_dim(L, 3), h = check_dim(L, 4);
    geom_scratch *s = new_scratch(L);
    rcpt_err e = {0, ""};
    if (rcpt_geom_photo_receipt(words, nw, lines, nl, w, h, &s->photo, &e)) {
        if (e.code == RCPT_EINVAL) return push_fail(L, &e);
        raise_err(L, &e);
    }
    const rcpt_geom_photo *p = &s->photo;
    if (p->skipped) return push_skip(L, p->reason);
    lua_createtable(L, 0, 9);
    push_quad(L, p->corners);
    lua_setfield(L, -2, "corners");
    lua_pushinteger(L, p->width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, p->height);
    lua_setfield(L, -2, "height");
    push_numbers(L, p->coeffs, 8);
    lua_setfield(L, -2, "coeffs");
    lua_pushboolean(L, p->fallback);
    lua_setfield(L, -2, "fallback");
    push_points(L, p->hull, p->n_hull);
    lua_setfield(L, -2, "hull");
    push_point(L, p->centroid);
    lua_setfield(L, -2, "centroid");
    lua_pushnumber(L, p->avg_angle);
    lua_setfield(L, -2, "avg_angle");
    lua_pushnumber(L, p->final_angle);
    lua_setfield(L, -2, "final_angle");
    return 1;
}

static int g_scan_receipt(lua_State *L)
{
    lua_settop(L, 3);   /* fixed slots: scratch userdata go above */
    size_t n;
    rcpt_geom_line *lines = read_lines(L, 1, "lines", &n);
    int w = check_dim(L, 2), h = check_dim(L, 3);
    rcpt_geom_scan r;
    rcpt_err e = {0, ""};
    if (rcpt_geom_scan_receipt(lines, n, w, h, &r, &e)) {
        if (e.code == RCPT_EINVAL) return push_fail(L, &e);
        raise_err(L, &e);
    }
    if (r.skipped) return push_skip(L, r.reason);
    lua_createtable(L, 0, 7);
    push_quad(L, r.box);
    lua_setfield(L, -2, "box");
    lua_pushinteger(L, r.width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, r.height);
    lua_setfield(L, -2, "height");
    push_numbers(L, r.affine, 6);
    lua_setfield(L, -2, "affine");
    push_point(L, r.rect.center);
    lua_setfield(L, -2, "center");
    double wh[2] = {r.rect.width, r.rect.height};
    push_numbers(L, wh, 2);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, r.rect.angle_deg);
    lua_setfield(L, -2, "angle");
    return 1;
}

static const luaL_Reg geom_funcs[] = {
    {"round", g_round},
    {"line_centroid", g_line_centroid},
    {"photo_eps", g_photo_eps},
    {"convex_hull", g_convex_hull},
    {"hull_centroid", g_hull_centroid},
    {"min_area_rect", g_min_area_rect},
    {"box_points", g_box_points},
    {"reorder_box_points", g_reorder_box_points},
    {"perspective_coeffs", g_perspective_coeffs},
    {"perspective_apply", g_perspective_apply},
    {"invert_affine", g_invert_affine},
    {"theil_sen", g_theil_sen},
    {"boundary_from_points", g_boundary_from_points},
    {"boundary_from_theil_sen", g_boundary_from_theil_sen},
    {"boundary_fit_horizontal", g_boundary_fit_horizontal},
    {"box_from_boundaries", g_box_from_boundaries},
    {"classify", g_classify},
    {"dimension_distance", g_dimension_distance},
    {"dbscan", g_dbscan},
    {"dbscan_points", g_dbscan_points},
    {"cluster_x", g_cluster_x},
    {"cluster_x_values", g_cluster_x_values},
    {"polygon_area", g_polygon_area},
    {"polygon_iou", g_polygon_iou},
    {"cluster_box", g_cluster_box},
    {"join_overlapping", g_join_overlapping},
    {"photo_receipt", g_photo_receipt},
    {"scan_receipt", g_scan_receipt},
    {NULL, NULL},
};

int luaopen_rcpt_geom(lua_State *L)
{
    luaL_newmetatable(L, RCPT_GEOM_SCRATCH_MT);
    luaL_setfuncs(L, scratch_meta, 0);
    lua_pop(L, 1);
    luaL_newlib(L, geom_funcs);
    return 1;
}
