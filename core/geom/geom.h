/* Geometry of receipts in images (spec/ocr-geometry.md §5, §6, §7, §8.2 e-l,
 * §8.3 a-e): plain double arithmetic that reproduces the original Python code
 * operation for operation, so the same input gives the same corners and sizes.
 *
 * Python semantics carried over on purpose (each is noted where it is used):
 *   - int(round(v)) is round-half-to-even: rcpt_geom_round_half_even();
 *   - int(v) truncates toward zero (PHOTO word corners);
 *   - sorts are stable, comparisons "first strictly smaller/greater wins";
 *   - math.radians(x) = x * (pi/180), math.degrees(x) = x * (180/pi), with the
 *     constant folded first exactly as CPython does;
 *   - sums are accumulated left to right in the original order.
 *
 * Coordinate spaces (§1): VN = Vision normalised, origin bottom-left, y up;
 * PX = pixels, y down.  VN -> PX is X = x*W and, depending on the path,
 * Y = H - y*H (PHOTO, Word.calculate_corners) or Y = (1 - y)*H (SCAN and
 * join_overlapping_clusters); the two differ in the last bit and PHOTO then
 * truncates, so each function below uses the form its original used.
 *
 * No global state.  Functions that allocate say so and report ENOMEM through
 * rcpt_err; pure functions cannot fail. */
#ifndef RCPT_GEOM_H
#define RCPT_GEOM_H

#include <stddef.h>

#include "../ocr/ocr.h"
#include "../util/err.h"

/* A text quadrilateral: the four corners (VN, y up) and the angle of a Line,
 * Word or ReceiptLine.  It is what every line-based function takes, so a
 * caller can pass image-level Lines, parsed OCR lines (rcpt_ocr_geom has the
 * same fields) or Lua tables.  Words use it too; their angle is ignored. */
typedef struct rcpt_geom_line {
    rcpt_point top_left, top_right, bottom_left, bottom_right;
    double angle_degrees;
} rcpt_geom_line;

/* Copy the corners and angle of a parsed OCR record. */
void rcpt_geom_line_from_ocr(const rcpt_ocr_geom *g, rcpt_geom_line *out);
/* Line.calculate_centroid(): (TR + TL + BR + BL) / 4 in that order (VN). */
rcpt_point rcpt_geom_line_centroid(const rcpt_geom_line *l);
/* Line.calculate_diagonal_length(): |TR - BL| (VN). */
double rcpt_geom_line_diagonal(const rcpt_geom_line *l);

/* Python's round() for doubles: nearest, ties to even (nearbyint under
 * FE_TONEAREST, which is the default and is never changed in rcpt). */
double rcpt_geom_round_half_even(double v);

/* ---- §6 primitives ------------------------------------------------------- */

/* Convex hull, Andrew's monotone chain: de-duplicate, sort by (x, y), pop
 * while cross <= 0 (collinear points dropped); counter-clockwise in the math
 * sense from the lexicographically smallest point.  <= 1 unique point is
 * returned as is.  *hull is malloc'd (free() it; NULL when n == 0).
 * Non-finite coordinates -> EINVAL. */
int rcpt_geom_convex_hull(const rcpt_point *pts, size_t n, rcpt_point **hull,
                          size_t *n_hull, rcpt_err *err);

/* compute_hull_centroid: 0 -> (0,0), 1 -> the point, 2 -> midpoint, else
 * the shoelace centroid, or the vertex mean when |area| < 1e-14. */
rcpt_point rcpt_geom_hull_centroid(const rcpt_point *hull, size_t n);

typedef struct rcpt_geom_rect {
    rcpt_point center;
    double width, height;   /* width runs along the chosen hull edge */
    double angle_deg;
} rcpt_geom_rect;

/* min_area_rect over the hull of pts (rotating calipers over hull edges,
 * first strictly smaller area kept).  Empty -> zeros; one point -> (p,(0,0),0);
 * a two-point hull -> (midpoint, (distance, 0), 0). */
int rcpt_geom_min_area_rect(const rcpt_point *pts, size_t n, rcpt_geom_rect *out,
                            rcpt_err *err);

/* The four corners of a rotated rectangle, local order (-w/2,-h/2),
 * (w/2,-h/2), (w/2,h/2), (-w/2,h/2) rotated by +angle and translated. */
void rcpt_geom_box_points(const rcpt_geom_rect *r, rcpt_point out[4]);

/* reorder_box_points: stable sort by (y, x); the first two are the top pair,
 * the last two the bottom pair; in each pair the element with strictly
 * smaller x is left, on equal x the second element is left.
 * out = [TL, TR, BR, BL] (y-down meaning).  in and out may alias. */
void rcpt_geom_reorder_box_points(const rcpt_point in[4], rcpt_point out[4]);

/* find_perspective_coeffs: [a..h] with x_src = (a x + b y + c)/(g x + h y + 1),
 * y_src = (d x + e y + f)/(g x + h y + 1), i.e. destination -> source (the
 * PIL convention).  EINVAL, with the reason, when any three src (or dst)
 * points are collinear (|cross| < 1e-10), two points coincide (within 1e-10
 * in both coordinates) or a pivot is below 1e-12. */
int rcpt_geom_perspective_coeffs(const rcpt_point src[4], const rcpt_point dst[4],
                                 double out[8], rcpt_err *err);
/* Apply [a..h] to (x, y) (the dst -> src direction). */
rcpt_point rcpt_geom_perspective_apply(const double c[8], rcpt_point p);

/* invert_affine(a..f): EINVAL when |a e - b d| < 1e-14. in and out may alias. */
int rcpt_geom_invert_affine(const double in[6], double out[6], rcpt_err *err);

/* ---- boundary lines (geometry/utils.py, edge_detection.py) ---------------- */

/* Theil-Sen fit of x as a function of y (x = slope*y + intercept): slope is
 * the upper median (index n/2 of the sorted list) of dx/dy over all pairs
 * i < j with different y, intercept the upper median of x - slope*y.  With
 * fewer than 2 points, or no pair of different y, the original returns
 * slope 0 and intercept = the first point's *y* (sic; 0 for no point); kept. */
int rcpt_geom_theil_sen(const rcpt_point *pts, size_t n, double *slope,
                        double *intercept, rcpt_err *err);

enum {
    RCPT_GEOM_BOUNDARY_Y_OF_X = 0,  /* y = slope*x + intercept */
    RCPT_GEOM_BOUNDARY_VERTICAL,    /* x = x */
    RCPT_GEOM_BOUNDARY_X_OF_Y       /* x = slope*y + intercept ("isInverted") */
};

typedef struct rcpt_geom_boundary {
    int kind;
    double slope, intercept, x;
} rcpt_geom_boundary;

/* Line through two points; |dx| < 1e-9 -> vertical at p1.x ("vertical line
 * detection"). */
rcpt_geom_boundary rcpt_geom_boundary_from_points(rcpt_point p1, rcpt_point p2);
/* create_boundary_line_from_theil_sen: |slope| < 1e-9 -> vertical at
 * x = intercept (the original's misreading of a horizontal fit, kept so the
 * helper is testable; the PHOTO path does not use it), else X_OF_Y. */
rcpt_geom_boundary rcpt_geom_boundary_from_theil_sen(double slope, double intercept);
/* create_horizontal_boundary_line_from_points: least-squares y = m x + b;
 * < 2 points -> horizontal at mean y (0 for none); y-range < 1e-6 ->
 * y = first y; x-range < 1e-6 or |n Σx² - (Σx)²| < 1e-9 -> horizontal at
 * mean y. */
rcpt_geom_boundary rcpt_geom_boundary_fit_horizontal(const rcpt_point *pts, size_t n);
/* Intersection of two boundaries with the original's fallbacks: parallel,
 * coincident-vertical or non-finite results give *fallback when it is not
 * NULL, otherwise the original's fixed defaults (documented in boundary.c). */
rcpt_point rcpt_geom_boundary_intersect(const rcpt_geom_boundary *a,
                                        const rcpt_geom_boundary *b,
                                        const rcpt_point *fallback);
/* compute_receipt_box_from_boundaries: [top∩left, top∩right, bottom∩right,
 * bottom∩left]. */
void rcpt_geom_box_from_boundaries(const rcpt_geom_boundary *top,
                                   const rcpt_geom_boundary *bottom,
                                   const rcpt_geom_boundary *left,
                                   const rcpt_geom_boundary *right,
                                   const rcpt_point *fallback, rcpt_point out[4]);

/* ---- §5 classification ----------------------------------------------------- */

enum { RCPT_LAYOUT_NATIVE = 0, RCPT_LAYOUT_PHOTO, RCPT_LAYOUT_SCAN };

typedef struct rcpt_geom_layout {
    int layout;                        /* RCPT_LAYOUT_* */
    double left, right, top, bottom;   /* find_margins (VN) */
    double scan_distance, photo_distance;
} rcpt_geom_layout;

/* classify_image_layout(lines, H, W).  Always succeeds. */
int rcpt_geom_classify(const rcpt_geom_line *lines, size_t n, int width, int height,
                       rcpt_geom_layout *out);
const char *rcpt_geom_layout_name(int layout);   /* "NATIVE" / "PHOTO" / "SCAN" */
/* _dimension_distance(W, H, rw, rh). */
double rcpt_geom_dimension_distance(double w, double h, double rw, double rh);

/* ---- §7 clustering ---------------------------------------------------------- */

/* A clustering: clusters in the original dict's key order, each with its
 * label and the member indices (0-based, into the caller's array) in the
 * order the original lists them. */
typedef struct rcpt_geom_cluster {
    int label;
    size_t *idx;
    size_t n;
} rcpt_geom_cluster;

typedef struct rcpt_geom_clusters {
    rcpt_geom_cluster *c;
    size_t n;
    size_t *pool_;       /* private: backing store of every idx */
} rcpt_geom_clusters;

void rcpt_geom_clusters_free(rcpt_geom_clusters *cs);

/* dbscan_lines on points (§7.1): neighbours within eps (sqrt of the squared
 * distance <= eps, the point itself included), classic DBSCAN in index order
 * with a FIFO seed list.  Labels: -1 noise, clusters 1, 2, ...  Output key
 * order = first index carrying the label (so -1 may come first); members in
 * index order.  labels (optional, n entries) receives each point's label. */
int rcpt_geom_dbscan(const rcpt_point *pts, size_t n, double eps, size_t min_samples,
                     rcpt_geom_clusters *out, int *labels, rcpt_err *err);
/* The same on line centroids (VN). */
int rcpt_geom_dbscan_lines(const rcpt_geom_line *lines, size_t n, double eps,
                           size_t min_samples, rcpt_geom_clusters *out, int *labels,
                           rcpt_err *err);
/* PHOTO's parameters: eps = 2 * mean diagonal (0 lines -> 0). */
double rcpt_geom_photo_eps(const rcpt_geom_line *lines, size_t n);

/* dbscan_lines_x_axis on x values (§7.2): stable sort by x, a new group
 * whenever x_i - x_{i-1} > eps; groups with fewer than min_samples members
 * are noise: they are left out of the result (as the original's dict) and
 * get label -1 in labels (optional), which is where the original marked
 * them (line.cluster_id = -1).  Kept groups are 1, 2, ... left to right,
 * members in x order. */
int rcpt_geom_cluster_x(const double *xs, size_t n, double eps, size_t min_samples,
                        rcpt_geom_clusters *out, int *labels, rcpt_err *err);
/* The same on line centroid x. */
int rcpt_geom_cluster_x_lines(const rcpt_geom_line *lines, size_t n, double eps,
                              size_t min_samples, rcpt_geom_clusters *out, int *labels,
                              rcpt_err *err);

/* Polygon area (shoelace, absolute) and IoU with Sutherland-Hodgman clipping
 * of a by b (inside: cross(cp2-cp1, p-cp1) >= 0; parallel edges skipped);
 * 0 when the union is 0. */
double rcpt_geom_polygon_area(const rcpt_point *p, size_t n);
int rcpt_geom_polygon_iou(const rcpt_point *a, size_t na, const rcpt_point *b, size_t nb,
                          double *iou, rcpt_err *err);

/* The rotated box join_overlapping_clusters uses for one cluster: all four
 * corners (TL, TR, BL, BR) of each line in PX with Y = (1 - y)*H ->
 * min_area_rect -> box_points -> reorder.  Returns 0 (box untouched) when
 * the cluster has no line. */
int rcpt_geom_cluster_box(const rcpt_geom_line *lines, const size_t *idx, size_t n,
                          int width, int height, rcpt_point box[4], int *has_box,
                          rcpt_err *err);

/* join_overlapping_clusters (§7.3): clusters with label -1 are ignored; for
 * each pair i < j (input order) with IoU > threshold, union(i, j) with path
 * compression and union by rank (equal rank: the first argument's root
 * wins).  Output: one cluster per root, labelled with the root's label, in
 * the order its first member appears in the input, members = concatenation
 * of the member clusters' indices in input order.  Ids are not renumbered. */
int rcpt_geom_join_overlapping(const rcpt_geom_line *lines, const rcpt_geom_clusters *in,
                               int width, int height, double iou_threshold,
                               rcpt_geom_clusters *out, rcpt_err *err);

/* ---- §8.2 PHOTO corners and §8.3 SCAN crop -------------------------------- */

#define RCPT_GEOM_REASON_MAX 160

typedef struct rcpt_geom_photo {
    int skipped;                       /* 1: the cluster is skipped, see reason */
    char reason[RCPT_GEOM_REASON_MAX];
    rcpt_point corners[4];             /* PX, y down: TL, TR, BR, BL (visual) */
    int width, height;                 /* W', H' of the warped crop */
    double coeffs[8];                  /* dst -> src perspective, PIL order */
    int fallback;                      /* 1: corners are the padded hull bbox */
    /* intermediate values, for debugging pictures and tests */
    rcpt_point *hull;                  /* malloc'd; rcpt_geom_photo_free() */
    size_t n_hull;
    rcpt_point centroid;
    double avg_angle, final_angle;
} rcpt_geom_photo;

/* The PHOTO corner method of one cluster (§8.2 a-l): words = the cluster's
 * words (four corners each, VN), lines = the cluster's lines.  Returns RCPT_OK
 * with either the result or out->skipped = 1 and a reason (fewer than 3 lines,
 * fewer than 4 words, hull < 4 vertices, corners too close, box < 10 px,
 * implausible size, both perspective solves failed).  Errors (EINVAL: width or
 * height not positive, a non-finite coordinate; ENOMEM) go through err. */
int rcpt_geom_photo_receipt(const rcpt_geom_line *words, size_t n_words,
                            const rcpt_geom_line *lines, size_t n_lines,
                            int width, int height, rcpt_geom_photo *out, rcpt_err *err);
void rcpt_geom_photo_free(rcpt_geom_photo *p);

typedef struct rcpt_geom_scan {
    int skipped;
    char reason[RCPT_GEOM_REASON_MAX];
    rcpt_geom_rect rect;               /* after portrait forcing */
    rcpt_point box[4];                 /* PX, y down: TL, TR, BR, BL */
    int width, height;                 /* crop size */
    double affine[6];                  /* dst -> src (a, b, c, d, e, f), PIL order */
} rcpt_geom_scan;

/* The SCAN rotated-rectangle crop of one merged cluster (§8.3 a-e).  The
 * original raised ValueError (aborting the whole image) on no points, a
 * degenerate box or a singular affine; here the cluster is skipped with the
 * reason, as DESIGN.md asks. */
int rcpt_geom_scan_receipt(const rcpt_geom_line *lines, size_t n_lines, int width,
                           int height, rcpt_geom_scan *out, rcpt_err *err);

#endif
