/* fuzz_ocr: rcpt_ocr_parse (core/ocr) on arbitrary bytes.  It must accept or
 * refuse with a message, never crash; on success the document must keep the
 * contract of ocr.h: counts consistent, ids sequential, words and letters
 * pointing into the flat arrays in document order, strings valid UTF-8 and
 * NUL-terminated at their length, numbers finite, confidence in (0, 1]. */
#include <math.h>

#include "fuzz_util.h"
#include "ocr/ocr.h"

static void check_geom(const rcpt_ocr_geom *g, const char *what, size_t i)
{
    FUZZ_CHECK(g->text != NULL, "%s[%zu]: NULL text", what, i);
    FUZZ_CHECK(g->text[g->text_len] == 0, "%s[%zu]: text not NUL-terminated at its length", what, i);
    FUZZ_CHECK(fuzz_utf8_ok(g->text, g->text_len), "%s[%zu]: text is not UTF-8", what, i);
    const double v[] = {g->bbox.x, g->bbox.y, g->bbox.width, g->bbox.height, g->top_left.x,
                        g->top_left.y, g->top_right.x, g->top_right.y, g->bottom_left.x,
                        g->bottom_left.y, g->bottom_right.x, g->bottom_right.y,
                        g->angle_degrees, g->angle_radians, g->confidence};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
        FUZZ_CHECK(isfinite(v[k]), "%s[%zu]: number %zu not finite", what, i, k);
    FUZZ_CHECK(g->confidence > 0 && g->confidence <= 1, "%s[%zu]: confidence %g", what, i,
               g->confidence);
}

static void check_doc(const rcpt_ocr_doc *d)
{
    size_t wi = 0, li = 0;
    for (size_t l = 0; l < d->n_lines; l++) {
        const rcpt_ocr_line *line = &d->lines[l];
        check_geom(&line->g, "lines", l);
        FUZZ_CHECK(line->line_id == (int)l + 1, "line %zu has id %d", l, line->line_id);
        FUZZ_CHECK(line->n_words == 0 || line->words == d->words + wi,
                   "lines[%zu].words does not point at the next word", l);
        for (size_t w = 0; w < line->n_words; w++, wi++) {
            FUZZ_CHECK(wi < d->n_words, "more words in lines than n_words %zu", d->n_words);
            const rcpt_ocr_word *word = &line->words[w];
            check_geom(&word->g, "words", wi);
            FUZZ_CHECK(word->line_id == line->line_id && word->word_id == (int)w + 1,
                       "words[%zu] ids %d/%d, expected %d/%zu", wi, word->line_id, word->word_id,
                       line->line_id, w + 1);
            FUZZ_CHECK((word->ed_type == NULL) == (word->ed_value == NULL),
                       "words[%zu]: half an extracted_data", wi);
            if (word->ed_type) {
                FUZZ_CHECK(fuzz_utf8_ok(word->ed_type, strlen(word->ed_type)), "words[%zu] ed_type", wi);
                FUZZ_CHECK(word->ed_value[word->ed_value_len] == 0 &&
                               fuzz_utf8_ok(word->ed_value, word->ed_value_len),
                           "words[%zu] ed_value", wi);
            }
            FUZZ_CHECK(word->is_noise == rcpt_ocr_is_noise(word->g.text, word->g.text_len),
                       "words[%zu]: is_noise disagrees with rcpt_ocr_is_noise", wi);
            FUZZ_CHECK(word->n_letters == 0 || word->letters == d->letters + li,
                       "words[%zu].letters does not point at the next letter", wi);
            for (size_t k = 0; k < word->n_letters; k++, li++) {
                FUZZ_CHECK(li < d->n_letters, "more letters in words than n_letters %zu", d->n_letters);
                const rcpt_ocr_letter *let = &word->letters[k];
                check_geom(&let->g, "letters", li);
                FUZZ_CHECK(let->line_id == line->line_id && let->word_id == word->word_id &&
                               let->letter_id == (int)k + 1,
                           "letters[%zu] ids", li);
                FUZZ_CHECK(rcpt_ocr_is_one_grapheme(let->g.text, let->g.text_len),
                           "letters[%zu]: accepted text is not one grapheme", li);
            }
        }
    }
    FUZZ_CHECK(wi == d->n_words, "%zu words reachable, n_words %zu", wi, d->n_words);
    FUZZ_CHECK(li == d->n_letters, "%zu letters reachable, n_letters %zu", li, d->n_letters);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rcpt_ocr_doc *doc = NULL;
    rcpt_err err = {0};
    int rc = rcpt_ocr_parse((const char *)data, size, &doc, &err);
    if (rc == RCPT_OK) {
        FUZZ_CHECK(doc != NULL, "OK without a document");
        check_doc(doc);
        rcpt_ocr_free(doc);
    } else {
        FUZZ_CHECK(doc == NULL, "error %d with a document", rc);
        FUZZ_CHECK(err.code == rc && err.msg[0] != 0, "error %d without a message", rc);
        FUZZ_CHECK(rc == RCPT_EINVAL || rc == RCPT_ELIMIT || rc == RCPT_ENOMEM, "unexpected code %d", rc);
    }
    /* a size limit under the input's length must refuse it, with ELIMIT */
    if (size > 1) {
        rcpt_ocr_opts o = {size - 1};
        rc = rcpt_ocr_parse_opts((const char *)data, size, &o, &doc, &err);
        FUZZ_CHECK(rc == RCPT_ELIMIT && doc == NULL, "max_size %zu: rc %d", size - 1, rc);
    }
    return 0;
}
