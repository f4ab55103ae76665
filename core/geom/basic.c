/* Small shared pieces: Python rounding, line centroid/diagonal, stable sort. */
#include <fenv.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geom_internal.h"

double rcpt_geom_round_half_even(double v)
{
    /* nearbyint follows the current rounding mode; rcpt never changes it
     * from FE_TONEAREST, which is round-half-to-even like Python's round(). */
    return nearbyint(v);
}

void rcpt_geom_line_from_ocr(const rcpt_ocr_geom *g, rcpt_geom_line *out)
{
    out->top_left = g->top_left;
    out->top_right = g->top_right;
    out->bottom_left = g->bottom_left;
    out->bottom_right = g->bottom_right;
    out->angle_degrees = g->angle_degrees;
}

rcpt_point rcpt_geom_line_centroid(const rcpt_geom_line *l)
{
    /* The original sums TR + TL + BR + BL, in that order, then / 4. */
    rcpt_point c;
    c.x = (l->top_right.x + l->top_left.x + l->bottom_right.x + l->bottom_left.x) / 4;
    c.y = (l->top_right.y + l->top_left.y + l->bottom_right.y + l->bottom_left.y) / 4;
    return c;
}

double rcpt_geom_line_diagonal(const rcpt_geom_line *l)
{
    double dx = l->top_right.x - l->bottom_left.x, dy = l->top_right.y - l->bottom_left.y;
    return sqrt(dx * dx + dy * dy);
}

static void merge_pass(size_t *idx, size_t n, const double *key, int desc, size_t *tmp)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                double a = key[idx[i]], b = key[idx[j]];
                /* take from the right run only when strictly before: stable */
                int right_first = desc ? (b > a) : (b < a);
                tmp[k++] = right_first ? idx[j++] : idx[i++];
            }
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

void geom_stable_sort_idx(size_t *idx, size_t n, const double *key, int descending,
                          size_t *scratch)
{
    if (n > 1) merge_pass(idx, n, key, descending, scratch);
}
