/* rcpt.ocr: Vision OCR JSON -> a document userdata Lua can read.
 *
 *   ocr.parse(json [, {max_size = N}]) -> doc | nil, msg, errname
 *   ocr.is_noise(text) -> boolean
 *   ocr.is_one_grapheme(text) -> boolean     (the letter rule)
 *
 *   doc:counts() -> n_lines, n_words, n_letters
 *   doc:line(i [, depth])          line i (1-based) as a table; depth 0 (default)
 *                                  no children, 1 with words, 2 with words+letters
 *   doc:word(i, j [, depth])       word j of line i; depth 1 adds letters
 *   doc:letter(i, j, k)
 *   doc:lines([depth])             array of every line table (depth as line())
 *   doc:words([depth])             flat array of every word, document order
 *   doc:letters()                  flat array of every letter
 *   doc:close(), __gc, __close, __len (= n_lines), __tostring
 *
 * A record table: text, bounding_box{x,y,width,height}, top_left{x,y},
 * top_right, bottom_left, bottom_right, angle_degrees, angle_radians,
 * confidence, line_id [, word_id [, letter_id]]; words also carry is_noise
 * and extracted_data{type,value} (nil when absent); children under
 * "words" / "letters".  The userdata layout (lua_ocr_doc) is shared with
 * other modules through lua_types.h. */
#include <lauxlib.h>
#include <lua.h>

#include "lua_types.h"

static lua_ocr_doc *check_doc(lua_State *L, int i)
{
    lua_ocr_doc *d = luaL_checkudata(L, i, RCPT_OCR_DOC_MT);
    if (!d->doc) luaL_error(L, "attempt to use a closed OCR document");
    return d;
}

static int l_parse(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    rcpt_ocr_opts opts = {0};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "max_size");
        if (!lua_isnil(L, -1)) {
            lua_Integer m = luaL_checkinteger(L, -1);
            luaL_argcheck(L, m > 0, 2, "max_size must be positive");
            opts.max_size = (size_t)m;
        }
        lua_pop(L, 1);
    }
    /* the handle exists (closed) before the document does */
    lua_ocr_doc *d = lua_newuserdatauv(L, sizeof *d, 0);
    d->doc = NULL;
    luaL_setmetatable(L, RCPT_OCR_DOC_MT);
    rcpt_err err = {0};
    int rc = rcpt_ocr_parse_opts(s, len, &opts, &d->doc, &err);
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushstring(L, rcpt_err_name(rc));
        return 3;
    }
    return 1;
}

static int l_is_noise(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, rcpt_ocr_is_noise(s, len));
    return 1;
}

static int l_is_one_grapheme(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, rcpt_ocr_is_one_grapheme(s, len));
    return 1;
}

/* ---- record tables ---------------------------------------------------- */

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void push_point(lua_State *L, const char *k, rcpt_point p)
{
    lua_createtable(L, 0, 2);
    set_num(L, "x", p.x);
    set_num(L, "y", p.y);
    lua_setfield(L, -2, k);
}

/* fields shared by lines, words and letters, into the table on top */
static void push_geom(lua_State *L, const rcpt_ocr_geom *g)
{
    lua_pushlstring(L, g->text, g->text_len);
    lua_setfield(L, -2, "text");
    lua_createtable(L, 0, 4);
    set_num(L, "x", g->bbox.x);
    set_num(L, "y", g->bbox.y);
    set_num(L, "width", g->bbox.width);
    set_num(L, "height", g->bbox.height);
    lua_setfield(L, -2, "bounding_box");
    push_point(L, "top_left", g->top_left);
    push_point(L, "top_right", g->top_right);
    push_point(L, "bottom_left", g->bottom_left);
    push_point(L, "bottom_right", g->bottom_right);
    set_num(L, "angle_degrees", g->angle_degrees);
    set_num(L, "angle_radians", g->angle_radians);
    set_num(L, "confidence", g->confidence);
}

static void push_letter(lua_State *L, const rcpt_ocr_letter *c)
{
    lua_createtable(L, 0, 13);
    push_geom(L, &c->g);
    lua_pushinteger(L, c->line_id);
    lua_setfield(L, -2, "line_id");
    lua_pushinteger(L, c->word_id);
    lua_setfield(L, -2, "word_id");
    lua_pushinteger(L, c->letter_id);
    lua_setfield(L, -2, "letter_id");
}

static void push_word(lua_State *L, const rcpt_ocr_word *w, int depth)
{
    lua_createtable(L, 0, 15);
    push_geom(L, &w->g);
    lua_pushinteger(L, w->line_id);
    lua_setfield(L, -2, "line_id");
    lua_pushinteger(L, w->word_id);
    lua_setfield(L, -2, "word_id");
    lua_pushboolean(L, w->is_noise);
    lua_setfield(L, -2, "is_noise");
    if (w->ed_type) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, w->ed_type);
        lua_setfield(L, -2, "type");
        lua_pushlstring(L, w->ed_value, w->ed_value_len);
        lua_setfield(L, -2, "value");
        lua_setfield(L, -2, "extracted_data");
    }
    if (depth > 0) {
        lua_createtable(L, (int)w->n_letters, 0);
        for (size_t k = 0; k < w->n_letters; k++) {
            push_letter(L, &w->letters[k]);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        lua_setfield(L, -2, "letters");
    }
}

static void push_line(lua_State *L, const rcpt_ocr_line *l, int depth)
{
    lua_createtable(L, 0, 12);
    push_geom(L, &l->g);
    lua_pushinteger(L, l->line_id);
    lua_setfield(L, -2, "line_id");
    if (depth > 0) {
        lua_createtable(L, (int)l->n_words, 0);
        for (size_t j = 0; j < l->n_words; j++) {
            push_word(L, &l->words[j], depth - 1);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
        lua_setfield(L, -2, "words");
    }
}

static int opt_depth(lua_State *L, int i, int max)
{
    lua_Integer d = luaL_optinteger(L, i, 0);
    luaL_argcheck(L, d >= 0 && d <= max, i, "depth out of range");
    return (int)d;
}

static size_t check_index(lua_State *L, int i, size_t n, const char *what)
{
    lua_Integer k = luaL_checkinteger(L, i);
    if (k < 1 || (lua_Unsigned)k > n)
        luaL_argerror(L, i, lua_pushfstring(L, "%s index out of range (1..%d)", what, (int)n));
    return (size_t)k - 1;
}

static int doc_counts(lua_State *L)
{
    rcpt_ocr_doc *d = check_doc(L, 1)->doc;
    lua_pushinteger(L, (lua_Integer)d->n_lines);
    lua_pushinteger(L, (lua_Integer)d->n_words);
    lua_pushinteger(L, (lua_Integer)d->n_letters);
    return 3;
}

static int doc_line(lua_State *L)
{
    rcpt_ocr_doc *d = check_doc(L, 1)->doc;
    size_t i = check_index(L, 2, d->n_lines, "line");
    push_line(L, &d->lines[i], opt_depth(L, 3, 2));
    return 1;
}

static int doc_word(lua_State *L)
{
    rcpt_ocr_doc *d = check_doc(L, 1)->doc;
    size_t i = check_index(L, 2, d->n_lines, "line");
    size_t j = check_index(L, 3, d->lines[i].n_words, "word");
    push_word(L, &d->lines[i].words[j], opt_depth(L, 4, 1));
    return 1;
}

static int doc_letter(lua_State *L)
{
    rcpt_ocr_doc *d = check_doc(L, 1)->doc;
    size_t i = check_index(L, 2, d->n_lines, "line");
    size_t j = check_index(L, 3, d->lines[i].n_words, "word");
    const rcpt_ocr_word *w = &d->lines[i].words[j];
    size_t k = check_index(L, 4, w->n_letters, "letter");
    push_letter(L, &w->letters[k]);
    return 1;
}

static int doc_lines(lua_State *L)
{
    rcpt_ocr_doc *d = check_doc(L, 1)->doc;
    int depth = opt_depth(L, 2, 2);
    lua_createtable(L, (int)d->n_lines, 0);
    for (size_t i = 0; i < d->n_lines; i++) {
        push_line(L, &d->lines[i], depth);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int doc_words(lua_State *L)
{
    rcpt_ocr_doc *d = check_doc(L, 1)->doc;
    int depth = opt_depth(L, 2, 1);
    lua_createtable(L, (int)d->n_words, 0);
    for (size_t i = 0; i < d->n_words; i++) {
        push_word(L, &d->words[i], depth);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int doc_letters(lua_State *L)
{
    rcpt_ocr_doc *d = check_doc(L, 1)->doc;
    lua_createtable(L, (int)d->n_letters, 0);
    for (size_t i = 0; i < d->n_letters; i++) {
        push_letter(L, &d->letters[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int doc_close(lua_State *L)
{
    lua_ocr_doc *d = luaL_checkudata(L, 1, RCPT_OCR_DOC_MT);
    rcpt_ocr_free(d->doc);
    d->doc = NULL;
    return 0;
}

static int doc_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_doc(L, 1)->doc->n_lines);
    return 1;
}

static int doc_tostring(lua_State *L)
{
    lua_ocr_doc *d = luaL_checkudata(L, 1, RCPT_OCR_DOC_MT);
    if (!d->doc)
        lua_pushliteral(L, "rcpt.ocr.doc (closed)");
    else
        lua_pushfstring(L, "rcpt.ocr.doc (%d lines, %d words, %d letters)", (int)d->doc->n_lines,
                        (int)d->doc->n_words, (int)d->doc->n_letters);
    return 1;
}

static const luaL_Reg doc_methods[] = {
    {"counts", doc_counts}, {"line", doc_line},   {"word", doc_word},       {"letter", doc_letter},
    {"lines", doc_lines},   {"words", doc_words}, {"letters", doc_letters}, {"close", doc_close},
    {NULL, NULL},
};

static const luaL_Reg doc_meta[] = {
    {"__index", NULL}, /* set to the methods table below */
    {"__gc", doc_close},
    {"__close", doc_close},
    {"__len", doc_len},
    {"__tostring", doc_tostring},
    {NULL, NULL},
};

static const luaL_Reg ocr_funcs[] = {
    {"parse", l_parse},
    {"is_noise", l_is_noise},
    {"is_one_grapheme", l_is_one_grapheme},
    {NULL, NULL},
};

int luaopen_rcpt_ocr(lua_State *L)
{
    if (luaL_newmetatable(L, RCPT_OCR_DOC_MT)) {
        luaL_setfuncs(L, doc_meta, 0);
        luaL_newlibtable(L, doc_methods);
        luaL_setfuncs(L, doc_methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, ocr_funcs);
    lua_pushinteger(L, (lua_Integer)RCPT_OCR_MAX_SIZE_DEFAULT);
    lua_setfield(L, -2, "MAX_SIZE_DEFAULT");
    return 1;
}
