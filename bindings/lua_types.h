/* Userdata types that cross binding files.  A module that receives another
 * module's object checks it with luaL_checkudata and the name below; the
 * layout is the contract. */
#ifndef RCPT_BINDINGS_LUA_TYPES_H
#define RCPT_BINDINGS_LUA_TYPES_H

#include "ocr/ocr.h"

/* rcpt.ocr.parse() returns this; doc is NULL once closed / collected. */
#define RCPT_OCR_DOC_MT "rcpt.ocr.doc"
typedef struct lua_ocr_doc {
    rcpt_ocr_doc *doc;
} lua_ocr_doc;

/* Vectors cross Lua as strings of little-endian float32 (4 x dim bytes)
 * or as arrays of numbers; every module that takes vectors accepts both. */

#endif
