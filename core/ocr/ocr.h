/* Vision OCR JSON -> lines, words and letters (spec/ocr-geometry.md §2-§4).
 *
 * The parsed document is one allocation owned by rcpt_ocr_doc (the header,
 * the three record arrays and the strings, sized from the input length);
 * every string inside it (text, extracted_data) points into it, is
 * NUL-terminated and also carries its byte length (text may hold NUL bytes
 * written as \u0000 in the JSON).  The input buffer is not kept: the caller
 * may free it as soon as rcpt_ocr_parse returns.  Ids are numbered as the spec says: line_id
 * from 1 in array order, word_id from 1 restarting per line, letter_id from 1
 * restarting per word.
 *
 * The layout below is a contract with core/store (which serialises these
 * records) and bindings/l_ocr.c (which shows them to Lua): change it with both. */
#ifndef RCPT_OCR_H
#define RCPT_OCR_H

#include <stddef.h>

#include "../util/err.h"

typedef struct rcpt_point {
    double x, y;
} rcpt_point;

typedef struct rcpt_bbox {
    double x, y, width, height; /* VN, (x, y) is the lower-left corner */
} rcpt_bbox;

/* The fields every Line, Word and Letter share, kept verbatim from the JSON
 * (no transform, no clamping). */
typedef struct rcpt_ocr_geom {
    const char *text;
    size_t text_len;
    rcpt_bbox bbox;
    rcpt_point top_left, top_right, bottom_left, bottom_right;
    double angle_degrees, angle_radians;
    double confidence;
} rcpt_ocr_geom;

typedef struct rcpt_ocr_letter {
    rcpt_ocr_geom g;
    int line_id, word_id, letter_id;
} rcpt_ocr_letter;

typedef struct rcpt_ocr_word {
    rcpt_ocr_geom g;
    int line_id, word_id;
    /* extracted_data, or both NULL when the key is absent / null */
    const char *ed_type;
    const char *ed_value;
    size_t ed_value_len;
    int is_noise;                /* is_noise_text(text), spec §3.3 */
    rcpt_ocr_letter *letters;    /* points into doc->letters */
    size_t n_letters;
} rcpt_ocr_word;

typedef struct rcpt_ocr_line {
    rcpt_ocr_geom g;
    int line_id;
    rcpt_ocr_word *words;        /* points into doc->words */
    size_t n_words;
} rcpt_ocr_line;

typedef struct rcpt_ocr_doc {
    rcpt_ocr_line *lines;   size_t n_lines;
    rcpt_ocr_word *words;   size_t n_words;    /* all words, document order */
    rcpt_ocr_letter *letters; size_t n_letters; /* all letters, document order */
    void *arena;                                /* private (the string area) */
} rcpt_ocr_doc;

/* Parse and validate a Vision OCR JSON document (rules: docs/ocr-format.md).
 * On failure returns an error code (RCPT_EINVAL for bad input, RCPT_ELIMIT
 * for a document over the size limit, RCPT_ENOMEM) and err->msg names the
 * offending field by path with 0-based array indices (the JSON array
 * position, not the 1-based id), e.g.
 * "lines[3].words[2].letters[0].text: must be exactly one character".
 * A document that is not JSON gets the JSON parser's message with the byte
 * offset ("JSON: byte 17: expected ',' or '}' in object"). */
int rcpt_ocr_parse(const char *json, size_t len, rcpt_ocr_doc **out, rcpt_err *err);

#define RCPT_OCR_MAX_SIZE_DEFAULT ((size_t)64 << 20)

typedef struct rcpt_ocr_opts {
    size_t max_size;   /* refuse larger documents (RCPT_ELIMIT); 0 = 64 MB */
} rcpt_ocr_opts;

/* rcpt_ocr_parse with options (opts may be NULL = defaults). */
int rcpt_ocr_parse_opts(const char *json, size_t len, const rcpt_ocr_opts *opts,
                        rcpt_ocr_doc **out, rcpt_err *err);
void rcpt_ocr_free(rcpt_ocr_doc *doc);

/* is_noise_text of spec §3.3 on a UTF-8 string (Python re semantics with
 * Unicode \\w, \\d, \\s; invalid UTF-8 bytes count as U+FFFD). */
int rcpt_ocr_is_noise(const char *text, size_t len);

/* The letter rule: 1 when s[0..len) is exactly one extended grapheme
 * cluster (approximation documented in ocr.c and docs/ocr-format.md). */
int rcpt_ocr_is_one_grapheme(const char *s, size_t len);

#endif
