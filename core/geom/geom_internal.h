/* Helpers shared by the core/geom sources; not part of the public API. */
#ifndef RCPT_GEOM_INTERNAL_H
#define RCPT_GEOM_INTERNAL_H

#include <math.h>
#include <stddef.h>

#include "geom.h"

/* CPython folds the constant first: radians(x) = x * (pi / 180.0) and
 * degrees(x) = x * (180.0 / pi); x * pi / 180 would differ in the last bit. */
#define GEOM_PI 3.14159265358979323846
static const double geom_deg_to_rad = GEOM_PI / 180.0;
static const double geom_rad_to_deg = 180.0 / GEOM_PI;

static inline double geom_radians(double d) { return d * geom_deg_to_rad; }
static inline double geom_degrees(double r) { return r * geom_rad_to_deg; }

static inline int geom_finite_pt(rcpt_point p) { return isfinite(p.x) && isfinite(p.y); }

/* Stable sort of idx[0..n) by key[idx[i]] (ascending, or descending with the
 * order of equal keys kept, as Python's sort(reverse=True)).  scratch holds n
 * entries. */
void geom_stable_sort_idx(size_t *idx, size_t n, const double *key, int descending,
                          size_t *scratch);

/* rcpt_geom_clusters construction: labels of n items, key order = first
 * index carrying the label; skip_label (if use_skip) is left out. */
int geom_clusters_from_labels(const int *labels, size_t n, int use_skip, int skip_label,
                              rcpt_geom_clusters *out, rcpt_err *err);

#endif
