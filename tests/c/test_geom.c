/* core/geom: the unit cases of spec/ocr-geometry.md §10.3 (test_cluster.py,
 * test_geometry*.py, test_boundary_*.py), the §5 reference table, the
 * perspective round trip and its degeneracy errors, min-area rectangles,
 * IoU, union-find merging, and the PHOTO/SCAN paths on synthetic input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "geom/geom.h"

#define PT(a, b) ((rcpt_point){(a), (b)})

static int pt_eq(rcpt_point a, rcpt_point b, double tol)
{
    return fabs(a.x - b.x) <= tol && fabs(a.y - b.y) <= tol;
}

#define CHECK_PT(p, X, Y) do { rcpt_point p_ = (p); check_total++; \
    if (!pt_eq(p_, PT(X, Y), 1e-9)) { check_failed++; fprintf(stderr, \
    "%s:%d: %s == (%.17g, %.17g), expected (%.17g, %.17g)\n", __FILE__, __LINE__, #p, \
    p_.x, p_.y, (double)(X), (double)(Y)); } } while (0)

/* An axis-aligned line quad (VN, y up) from x0..x1, y0..y1. */
static rcpt_geom_line quad(double x0, double y0, double x1, double y1)
{
    rcpt_geom_line l;
    l.top_left = PT(x0, y1);
    l.top_right = PT(x1, y1);
    l.bottom_left = PT(x0, y0);
    l.bottom_right = PT(x1, y0);
    l.angle_degrees = 0;
    return l;
}

static void test_rounding(void)
{
    CHECK(rcpt_geom_round_half_even(2.5) == 2.0);
    CHECK(rcpt_geom_round_half_even(3.5) == 4.0);
    CHECK(rcpt_geom_round_half_even(-2.5) == -2.0);
    CHECK(rcpt_geom_round_half_even(1488.5) == 1488.0);
    CHECK(rcpt_geom_round_half_even(1487.5) == 1488.0);
    CHECK(rcpt_geom_round_half_even(3024.4999) == 3024.0);
}

/* test_cluster.py: DBSCAN */
static void test_dbscan(void)
{
    rcpt_point p[5];
    for (int i = 0; i < 3; i++) p[i] = PT(10 + i, 20 + i);
    for (int i = 0; i < 2; i++) p[3 + i] = PT(100 + i * 50, 200 + i * 50);
    rcpt_geom_clusters cs;
    int labels[5];
    CHECK_INT(rcpt_geom_dbscan(p, 5, 5.0, 2, &cs, labels, NULL), RCPT_OK);
    CHECK_INT(cs.n, 2);
    CHECK_INT(cs.c[0].label, 1);
    CHECK_INT(cs.c[0].n, 3);
    CHECK_INT(cs.c[1].label, -1);
    CHECK_INT(cs.c[1].n, 2);
    CHECK_INT(cs.c[1].idx[0], 3);
    CHECK_INT(cs.c[1].idx[1], 4);
    CHECK_INT(labels[4], -1);
    rcpt_geom_clusters_free(&cs);

    /* min_samples 3 still clusters the three; 4 does not */
    CHECK_INT(rcpt_geom_dbscan(p, 5, 5.0, 3, &cs, NULL, NULL), RCPT_OK);
    CHECK_INT(cs.c[0].label, 1);
    CHECK_INT(cs.c[0].n, 3);
    rcpt_geom_clusters_free(&cs);
    CHECK_INT(rcpt_geom_dbscan(p, 5, 5.0, 4, &cs, NULL, NULL), RCPT_OK);
    CHECK_INT(cs.n, 1);
    CHECK_INT(cs.c[0].label, -1);
    CHECK_INT(cs.c[0].n, 5);
    rcpt_geom_clusters_free(&cs);

    /* empty -> {}; single point -> {-1: [p]} */
    CHECK_INT(rcpt_geom_dbscan(p, 0, 10.0, 2, &cs, NULL, NULL), RCPT_OK);
    CHECK_INT(cs.n, 0);
    rcpt_geom_clusters_free(&cs);
    CHECK_INT(rcpt_geom_dbscan(p, 1, 10.0, 2, &cs, NULL, NULL), RCPT_OK);
    CHECK_INT(cs.n, 1);
    CHECK_INT(cs.c[0].label, -1);
    CHECK_INT(cs.c[0].n, 1);
    rcpt_geom_clusters_free(&cs);

    /* key order: -1 first when the first point is noise; a point first
     * marked noise becomes a border point of a later cluster */
    rcpt_point q[6] = {PT(-50, 0), PT(0, 0), PT(1, 0), PT(2, 0), PT(3, 0), PT(50, 50)};
    int lab[6];
    CHECK_INT(rcpt_geom_dbscan(q, 6, 1.0, 3, &cs, lab, NULL), RCPT_OK);
    CHECK_INT(cs.n, 2);
    CHECK_INT(cs.c[0].label, -1);
    CHECK_INT(cs.c[0].n, 2);
    CHECK_INT(cs.c[0].idx[0], 0);
    CHECK_INT(cs.c[0].idx[1], 5);
    CHECK_INT(cs.c[1].label, 1);
    CHECK_INT(cs.c[1].n, 4);
    CHECK_INT(lab[1], 1);   /* (0,0) has 2 neighbours: noise first, border later */
    CHECK_INT(lab[4], 1);
    rcpt_geom_clusters_free(&cs);

    /* two clusters, numbered in index order of their first core point */
    rcpt_point r[6] = {PT(100, 100), PT(0, 0), PT(101, 100), PT(0, 1), PT(100, 101), PT(1, 0)};
    CHECK_INT(rcpt_geom_dbscan(r, 6, 2.0, 3, &cs, lab, NULL), RCPT_OK);
    CHECK_INT(cs.n, 2);
    CHECK_INT(cs.c[0].label, 1);
    CHECK_INT(cs.c[0].idx[0], 0);
    CHECK_INT(cs.c[1].label, 2);
    CHECK_INT(cs.c[1].idx[0], 1);
    rcpt_geom_clusters_free(&cs);

    /* bad eps is refused, not a crash */
    CHECK_INT(rcpt_geom_dbscan(r, 6, NAN, 3, &cs, NULL, NULL), RCPT_EINVAL);
}

/* test_cluster.py: x-axis chaining */
static void test_cluster_x(void)
{
    double xs[6];
    for (int i = 0; i < 3; i++) {
        xs[i] = 10 + i * 0.01;
        xs[3 + i] = 20 + i * 0.01;
    }
    rcpt_geom_clusters cs;
    int labels[6];
    CHECK_INT(rcpt_geom_cluster_x(xs, 6, 0.05, 2, &cs, labels, NULL), RCPT_OK);
    CHECK_INT(cs.n, 2);
    CHECK_INT(cs.c[0].label, 1);
    CHECK_INT(cs.c[0].n, 3);
    CHECK_INT(cs.c[1].label, 2);
    CHECK_INT(cs.c[1].n, 3);
    rcpt_geom_clusters_free(&cs);

    /* a singleton is noise: not in the result, labelled -1 (the original
     * sets line.cluster_id = -1 and leaves it out of the dict) */
    double ys[3] = {10, 50, 50.01};
    CHECK_INT(rcpt_geom_cluster_x(ys, 3, 0.05, 2, &cs, labels, NULL), RCPT_OK);
    CHECK_INT(cs.n, 1);
    CHECK_INT(cs.c[0].label, 1);
    CHECK_INT(cs.c[0].n, 2);
    CHECK_INT(labels[0], -1);
    CHECK_INT(labels[1], 1);
    rcpt_geom_clusters_free(&cs);

    /* unsorted input, large eps: one cluster, members in x order */
    double zs[5] = {50, 10, 30, 20, 40};
    CHECK_INT(rcpt_geom_cluster_x(zs, 5, 15, 2, &cs, labels, NULL), RCPT_OK);
    CHECK_INT(cs.n, 1);
    CHECK_INT(cs.c[0].n, 5);
    size_t want[5] = {1, 3, 2, 4, 0};
    for (int i = 0; i < 5; i++) CHECK_INT(cs.c[0].idx[i], want[i]);
    rcpt_geom_clusters_free(&cs);

    /* equal x keep input order (stable sort); a gap exactly eps joins */
    double ws[4] = {0.75, 0.5, 0.75, 0.25};
    CHECK_INT(rcpt_geom_cluster_x(ws, 4, 0.25, 2, &cs, labels, NULL), RCPT_OK);
    CHECK_INT(cs.n, 1);
    size_t want2[4] = {3, 1, 0, 2};
    for (int i = 0; i < 4; i++) CHECK_INT(cs.c[0].idx[i], want2[i]);
    rcpt_geom_clusters_free(&cs);

    CHECK_INT(rcpt_geom_cluster_x(ws, 0, 0.08, 2, &cs, labels, NULL), RCPT_OK);
    CHECK_INT(cs.n, 0);
}

/* test_cluster.py: reorder_box_points */
static void test_reorder(void)
{
    rcpt_point out[4];
    rcpt_point sq[4] = {PT(10, 10), PT(0, 0), PT(10, 0), PT(0, 10)};
    rcpt_geom_reorder_box_points(sq, out);
    CHECK_PT(out[0], 0, 0);
    CHECK_PT(out[1], 10, 0);
    CHECK_PT(out[2], 10, 10);
    CHECK_PT(out[3], 0, 10);
    rcpt_point sq2[4] = {PT(0, 10), PT(10, 10), PT(10, 0), PT(0, 0)};
    rcpt_geom_reorder_box_points(sq2, sq2);   /* in place */
    CHECK_PT(sq2[0], 0, 0);
    CHECK_PT(sq2[2], 10, 10);

    rcpt_point dia[4] = {PT(5, 0), PT(10, 5), PT(5, 10), PT(0, 5)};
    rcpt_geom_reorder_box_points(dia, out);
    CHECK_PT(out[0], 0, 5);
    CHECK_PT(out[1], 5, 0);
    CHECK_PT(out[2], 10, 5);
    CHECK_PT(out[3], 5, 10);

    rcpt_point neg[4] = {PT(5, 5), PT(-5, -5), PT(-5, 5), PT(5, -5)};
    rcpt_geom_reorder_box_points(neg, out);
    CHECK_PT(out[0], -5, -5);
    CHECK_PT(out[1], 5, -5);
    CHECK_PT(out[2], 5, 5);
    CHECK_PT(out[3], -5, 5);

    /* equal x inside a pair: the second element of the pair is left */
    rcpt_point tie[4] = {PT(0, 1), PT(0, 0), PT(3, 7), PT(3, 9)};
    rcpt_geom_reorder_box_points(tie, out);
    CHECK_PT(out[0], 0, 1);   /* TL = second of the sorted top pair */
    CHECK_PT(out[1], 0, 0);
    CHECK_PT(out[2], 3, 7);   /* BR = first of the bottom pair */
    CHECK_PT(out[3], 3, 9);
}

static void test_hull(void)
{
    rcpt_point *h;
    size_t n;
    rcpt_point tri[3] = {PT(5, 10), PT(0, 0), PT(10, 0)};
    CHECK_INT(rcpt_geom_convex_hull(tri, 3, &h, &n, NULL), RCPT_OK);
    CHECK_INT(n, 3);
    CHECK_PT(h[0], 0, 0);   /* CCW from the smallest (x, y) */
    CHECK_PT(h[1], 10, 0);
    CHECK_PT(h[2], 5, 10);
    free(h);

    rcpt_point sq[8] = {PT(0, 0), PT(10, 0), PT(10, 10), PT(0, 10), PT(5, 5), PT(3, 3),
                        PT(7, 7), PT(10, 10)};
    CHECK_INT(rcpt_geom_convex_hull(sq, 8, &h, &n, NULL), RCPT_OK);
    CHECK_INT(n, 4);
    CHECK_PT(h[0], 0, 0);
    CHECK_PT(h[1], 10, 0);
    CHECK_PT(h[2], 10, 10);
    CHECK_PT(h[3], 0, 10);
    free(h);

    rcpt_point col[5] = {PT(2, 2), PT(0, 0), PT(4, 4), PT(1, 1), PT(3, 3)};
    CHECK_INT(rcpt_geom_convex_hull(col, 5, &h, &n, NULL), RCPT_OK);
    CHECK_INT(n, 2);
    CHECK_PT(h[0], 0, 0);
    CHECK_PT(h[1], 4, 4);
    free(h);

    rcpt_point one[2] = {PT(5, 5), PT(5, 5)};
    CHECK_INT(rcpt_geom_convex_hull(one, 2, &h, &n, NULL), RCPT_OK);
    CHECK_INT(n, 1);
    CHECK_PT(h[0], 5, 5);
    free(h);

    CHECK_INT(rcpt_geom_convex_hull(one, 0, &h, &n, NULL), RCPT_OK);
    CHECK_INT(n, 0);
    CHECK(h == NULL);

    rcpt_point bad[2] = {PT(0, 0), PT(NAN, 1)};
    rcpt_err e = {0, ""};
    CHECK_INT(rcpt_geom_convex_hull(bad, 2, &h, &n, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "points[1]") != NULL);
}

static void test_centroid(void)
{
    rcpt_point sq[4] = {PT(0, 0), PT(10, 0), PT(10, 10), PT(0, 10)};
    CHECK_PT(rcpt_geom_hull_centroid(sq, 4), 5, 5);
    rcpt_point tri[3] = {PT(0, 0), PT(6, 0), PT(3, 6)};
    CHECK_PT(rcpt_geom_hull_centroid(tri, 3), 3, 2);
    CHECK_PT(rcpt_geom_hull_centroid(tri, 0), 0, 0);
    CHECK_PT(rcpt_geom_hull_centroid(tri + 2, 1), 3, 6);
    CHECK_PT(rcpt_geom_hull_centroid(tri, 2), 3, 0);
    /* |A| < 1e-14: vertex mean */
    rcpt_point flat[3] = {PT(0, 0), PT(1, 1), PT(5, 5)};
    CHECK_PT(rcpt_geom_hull_centroid(flat, 3), 2, 2);
    /* a non-symmetric polygon: area-weighted, not the vertex mean */
    rcpt_point l[4] = {PT(0, 0), PT(4, 0), PT(4, 1), PT(0, 4)};
    rcpt_point c = rcpt_geom_hull_centroid(l, 4);
    CHECK_NEAR(c.x, (4 * 2 + 6 * (4.0 / 3)) / 10, 1e-12);   /* rect 4x1 + triangle */
}

/* test_geometry_extended.py: Theil-Sen, x as a function of y */
static void test_theil_sen(void)
{
    double m, b;
    rcpt_point diag[3] = {PT(0, 0), PT(1, 1), PT(2, 2)};
    CHECK_INT(rcpt_geom_theil_sen(diag, 3, &m, &b, NULL), RCPT_OK);
    CHECK_NEAR(m, 1.0, 1e-12);
    CHECK_NEAR(b, 0.0, 1e-12);
    rcpt_point flat[3] = {PT(0, 5), PT(10, 5), PT(20, 5)};
    rcpt_geom_theil_sen(flat, 3, &m, &b, NULL);
    CHECK(m == 0.0);
    CHECK(b == 5.0);   /* the first point's y, the original's quirk */
    rcpt_point neg[3] = {PT(0, 10), PT(5, 5), PT(10, 0)};
    rcpt_geom_theil_sen(neg, 3, &m, &b, NULL);
    CHECK_NEAR(m, -1.0, 1e-12);
    CHECK_NEAR(b, 10.0, 1e-12);
    rcpt_point vert[3] = {PT(5, 0), PT(5, 10), PT(5, 20)};
    rcpt_geom_theil_sen(vert, 3, &m, &b, NULL);
    CHECK(m == 0.0);
    CHECK(b == 5.0);
    rcpt_point out[5] = {PT(0, 0), PT(1, 1), PT(2, 2), PT(3, 3), PT(4, 10)};
    rcpt_geom_theil_sen(out, 5, &m, &b, NULL);
    CHECK(m == 1.0);   /* upper median of 10 slopes, robust to the outlier */
    rcpt_geom_theil_sen(out, 1, &m, &b, NULL);
    CHECK(m == 0.0 && b == 0.0);
    rcpt_geom_theil_sen(out, 0, &m, &b, NULL);
    CHECK(m == 0.0 && b == 0.0);
}

/* test_boundary_*.py: vertical line detection and intersections */
static void test_boundaries(void)
{
    rcpt_geom_boundary v = rcpt_geom_boundary_from_points(PT(50, 0), PT(50, 100));
    CHECK_INT(v.kind, RCPT_GEOM_BOUNDARY_VERTICAL);
    CHECK(v.x == 50);
    rcpt_geom_boundary d = rcpt_geom_boundary_from_points(PT(0, 0), PT(10, 10));
    CHECK_INT(d.kind, RCPT_GEOM_BOUNDARY_Y_OF_X);
    CHECK_NEAR(d.slope, 1.0, 1e-12);
    CHECK_NEAR(d.intercept, 0.0, 1e-12);
    /* almost vertical (|dx| < 1e-9) still counts as vertical */
    CHECK_INT(rcpt_geom_boundary_from_points(PT(3, 0), PT(3 + 1e-10, 9)).kind,
              RCPT_GEOM_BOUNDARY_VERTICAL);

    rcpt_geom_boundary ts = rcpt_geom_boundary_from_theil_sen(0.0, 0.180233);
    CHECK_INT(ts.kind, RCPT_GEOM_BOUNDARY_VERTICAL);   /* the original's misreading */
    CHECK_NEAR(ts.x, 0.180233, 1e-12);
    CHECK_INT(rcpt_geom_boundary_from_theil_sen(1.0, 0.0).kind, RCPT_GEOM_BOUNDARY_X_OF_Y);

    rcpt_point hz[4] = {PT(0.2, 0.5), PT(0.4, 0.5), PT(0.6, 0.5), PT(0.8, 0.5)};
    rcpt_geom_boundary h = rcpt_geom_boundary_fit_horizontal(hz, 4);
    CHECK_INT(h.kind, RCPT_GEOM_BOUNDARY_Y_OF_X);
    CHECK(h.slope == 0.0);
    CHECK_NEAR(h.intercept, 0.5, 1e-12);
    rcpt_point sl[2] = {PT(0, 1), PT(10, 6)};
    h = rcpt_geom_boundary_fit_horizontal(sl, 2);
    CHECK_NEAR(h.slope, 0.5, 1e-12);
    CHECK_NEAR(h.intercept, 1.0, 1e-12);
    rcpt_point vx[2] = {PT(3, 1), PT(3, 7)};   /* same x: horizontal at mean y */
    h = rcpt_geom_boundary_fit_horizontal(vx, 2);
    CHECK(h.slope == 0.0);
    CHECK_NEAR(h.intercept, 4.0, 1e-12);

    /* an axis-aligned box 10..90 */
    rcpt_geom_boundary top = {RCPT_GEOM_BOUNDARY_Y_OF_X, 0, 10, 0};
    rcpt_geom_boundary bottom = {RCPT_GEOM_BOUNDARY_Y_OF_X, 0, 90, 0};
    rcpt_geom_boundary left = {RCPT_GEOM_BOUNDARY_VERTICAL, 0, 0, 10};
    rcpt_geom_boundary right = {RCPT_GEOM_BOUNDARY_VERTICAL, 0, 0, 90};
    rcpt_point box[4];
    rcpt_geom_box_from_boundaries(&top, &bottom, &left, &right, NULL, box);
    CHECK_PT(box[0], 10, 10);
    CHECK_PT(box[1], 90, 10);
    CHECK_PT(box[2], 90, 90);
    CHECK_PT(box[3], 10, 90);

    /* sloped top, inverted left: x = 0.5*y + 2 meets y = 0.25*x + 1 */
    rcpt_geom_boundary inv = {RCPT_GEOM_BOUNDARY_X_OF_Y, 0.5, 2, 0};
    rcpt_geom_boundary ln = {RCPT_GEOM_BOUNDARY_Y_OF_X, 0.25, 1, 0};
    rcpt_point p = rcpt_geom_boundary_intersect(&inv, &ln, NULL);
    CHECK_NEAR(p.x, 0.5 * p.y + 2, 1e-12);
    CHECK_NEAR(p.y, 0.25 * p.x + 1, 1e-12);
    /* parallel lines and two verticals fall back to the centroid */
    rcpt_point fb = PT(7, 8);
    CHECK_PT(rcpt_geom_boundary_intersect(&top, &bottom, &fb), 7, 8);
    CHECK_PT(rcpt_geom_boundary_intersect(&left, &right, &fb), 7, 8);
    CHECK_PT(rcpt_geom_boundary_intersect(&top, &bottom, NULL), 0.5, 0.5);
}

/* §5 reference table */
static void test_classify(void)
{
    static const struct { int w, h; double scan, photo; int layout; } rows[] = {
        {3024, 4032, 0.2654, 0.0, RCPT_LAYOUT_PHOTO},
        {4032, 3024, 0.2654, 0.0, RCPT_LAYOUT_PHOTO},
        {2480, 3508, 0.0, 0.2219, RCPT_LAYOUT_SCAN},
        {2550, 3300, 0.0657, 0.2399, RCPT_LAYOUT_SCAN},
        {3000, 4000, 0.2523, 0.0112, RCPT_LAYOUT_PHOTO},
        {1170, 2532, 0.5970, 0.7171, RCPT_LAYOUT_SCAN},
        {1000, 1000, 0.9313, 1.0067, RCPT_LAYOUT_SCAN},
    };
    rcpt_geom_line mid = quad(0.3, 0.3, 0.7, 0.7);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        rcpt_geom_layout out;
        int lay = rcpt_geom_classify(&mid, 1, rows[i].w, rows[i].h, &out);
        CHECK_INT(lay, rows[i].layout);
        CHECK_NEAR(out.scan_distance, rows[i].scan, 0.00005);
        CHECK_NEAR(out.photo_distance, rows[i].photo, 0.00005);
    }
    /* all four margins < 0.01 -> NATIVE whatever the size */
    rcpt_geom_line full[2] = {quad(0.005, 0.5, 0.995, 0.995), quad(0.2, 0.002, 0.5, 0.1)};
    rcpt_geom_layout out;
    CHECK_INT(rcpt_geom_classify(full, 2, 1170, 2532, &out), RCPT_LAYOUT_NATIVE);
    CHECK_NEAR(out.left, 0.005, 1e-15);
    CHECK_NEAR(out.right, 0.005, 1e-12);
    CHECK_NEAR(out.top, 0.005, 1e-12);
    CHECK_NEAR(out.bottom, 0.002, 1e-15);
    /* one margin at exactly 0.01 is not < 0.01 */
    full[1].bottom_left.y = 0.01;
    CHECK_INT(rcpt_geom_classify(full, 2, 3024, 4032, &out), RCPT_LAYOUT_PHOTO);
    /* no lines: margins 1.0 */
    CHECK_INT(rcpt_geom_classify(NULL, 0, 2480, 3508, &out), RCPT_LAYOUT_SCAN);
    CHECK(out.left == 1.0 && out.top == 1.0);
    CHECK_STR(rcpt_geom_layout_name(RCPT_LAYOUT_PHOTO), "PHOTO");
}

static void test_perspective(void)
{
    const rcpt_point srcs[3][4] = {
        {PT(100, 120), PT(900, 80), PT(950, 1000), PT(60, 900)},
        {PT(709, 726), PT(2197, 726), PT(2197, 3734.1414790996782), PT(709, 3767.6334405144694)},
        {PT(10, 10), PT(20, 10), PT(20, 30), PT(10, 30)},
    };
    const int sizes[3][2] = {{870, 900}, {1488, 3025}, {11, 21}};
    for (int t = 0; t < 3; t++) {
        int w = sizes[t][0], h = sizes[t][1];
        rcpt_point dst[4] = {PT(0, 0), PT(w - 1, 0), PT(w - 1, h - 1), PT(0, h - 1)};
        double c[8];
        rcpt_err e = {0, ""};
        CHECK_INT(rcpt_geom_perspective_coeffs(srcs[t], dst, c, &e), RCPT_OK);
        for (int k = 0; k < 4; k++) {
            rcpt_point s = rcpt_geom_perspective_apply(c, dst[k]);
            CHECK_NEAR(s.x, srcs[t][k].x, 1e-9);
            CHECK_NEAR(s.y, srcs[t][k].y, 1e-9);
        }
    }
    rcpt_point dst[4] = {PT(0, 0), PT(9, 0), PT(9, 9), PT(0, 9)};
    double c[8];
    rcpt_err e = {0, ""};
    rcpt_point col[4] = {PT(0, 0), PT(1, 1), PT(2, 2), PT(0, 5)};
    CHECK_INT(rcpt_geom_perspective_coeffs(col, dst, c, &e), RCPT_EINVAL);
    CHECK_STR(e.msg, "source points 0, 1, 2 are collinear");
    rcpt_point ok[4] = {PT(0, 0), PT(10, 0), PT(10, 10), PT(0, 10)};
    rcpt_point dcol[4] = {PT(0, 0), PT(9, 0), PT(9, 9), PT(18, 18)};
    CHECK_INT(rcpt_geom_perspective_coeffs(ok, dcol, c, &e), RCPT_EINVAL);
    CHECK_STR(e.msg, "destination points 0, 2, 3 are collinear");
    /* two identical points are collinear with any third: caught first */
    rcpt_point dup[4] = {PT(0, 0), PT(0, 0), PT(10, 10), PT(0, 10)};
    CHECK_INT(rcpt_geom_perspective_coeffs(dup, dst, c, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "collinear") != NULL);
    rcpt_point nan4[4] = {PT(0, 0), PT(10, 0), PT(10, NAN), PT(0, 10)};
    CHECK_INT(rcpt_geom_perspective_coeffs(nan4, dst, c, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "src[2]") != NULL);

    /* affine inverse: round trip and singularity */
    double a[6] = {2, 0.5, 10, -0.25, 3, 20}, inv[6], back[6];
    CHECK_INT(rcpt_geom_invert_affine(a, inv, NULL), RCPT_OK);
    CHECK_INT(rcpt_geom_invert_affine(inv, back, NULL), RCPT_OK);
    for (int i = 0; i < 6; i++) CHECK_NEAR(back[i], a[i], 1e-12);
    double sing[6] = {1, 2, 3, 2, 4, 6};
    CHECK_INT(rcpt_geom_invert_affine(sing, inv, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "singular") != NULL);
}

static int same_corner_set(const rcpt_point a[4], const rcpt_point b[4], double tol)
{
    for (int i = 0; i < 4; i++) {
        int found = 0;
        for (int j = 0; j < 4; j++) found |= pt_eq(a[i], b[j], tol);
        if (!found) return 0;
    }
    return 1;
}

static void test_min_area_rect(void)
{
    rcpt_geom_rect in = {PT(50, 40), 30, 10, 30};
    rcpt_point corners[4], pts[9];
    rcpt_geom_box_points(&in, corners);
    memcpy(pts, corners, sizeof corners);
    /* interior points and a point on an edge do not change the answer */
    pts[4] = PT(50, 40);
    pts[5] = PT(52, 41);
    pts[6] = PT((corners[0].x + corners[1].x) / 2, (corners[0].y + corners[1].y) / 2);
    pts[7] = PT(48, 39);
    pts[8] = corners[2];
    rcpt_geom_rect r;
    CHECK_INT(rcpt_geom_min_area_rect(pts, 9, &r, NULL), RCPT_OK);
    CHECK_NEAR(r.width * r.height, 300, 1e-9);
    CHECK_PT(r.center, 50, 40);
    rcpt_point got[4];
    rcpt_geom_box_points(&r, got);
    CHECK(same_corner_set(got, corners, 1e-9));

    /* degenerate inputs */
    CHECK_INT(rcpt_geom_min_area_rect(pts, 0, &r, NULL), RCPT_OK);
    CHECK(r.width == 0 && r.height == 0 && r.center.x == 0);
    CHECK_INT(rcpt_geom_min_area_rect(pts + 4, 1, &r, NULL), RCPT_OK);
    CHECK_PT(r.center, 50, 40);
    rcpt_point seg[3] = {PT(0, 0), PT(3, 4), PT(1.5, 2)};
    CHECK_INT(rcpt_geom_min_area_rect(seg, 3, &r, NULL), RCPT_OK);
    CHECK_PT(r.center, 1.5, 2);
    CHECK_NEAR(r.width, 5, 1e-12);
    CHECK(r.height == 0 && r.angle_deg == 0);
}

static void test_iou(void)
{
    rcpt_point a[4] = {PT(0, 0), PT(10, 0), PT(10, 10), PT(0, 10)};
    rcpt_point b[4] = {PT(5, 0), PT(15, 0), PT(15, 10), PT(5, 10)};
    rcpt_point c[4] = {PT(20, 20), PT(30, 20), PT(30, 30), PT(20, 30)};
    rcpt_point d[4] = {PT(2, 2), PT(7, 2), PT(7, 7), PT(2, 7)};
    double iou;
    CHECK_NEAR(rcpt_geom_polygon_area(a, 4), 100, 1e-12);
    CHECK_INT(rcpt_geom_polygon_iou(a, 4, b, 4, &iou, NULL), RCPT_OK);
    CHECK_NEAR(iou, 50.0 / 150.0, 1e-12);
    rcpt_geom_polygon_iou(a, 4, c, 4, &iou, NULL);
    CHECK(iou == 0.0);
    rcpt_geom_polygon_iou(a, 4, a, 4, &iou, NULL);
    CHECK_NEAR(iou, 1.0, 1e-12);
    rcpt_geom_polygon_iou(a, 4, d, 4, &iou, NULL);
    CHECK_NEAR(iou, 0.25, 1e-12);
    /* a diamond inside-out of the square: octagon overlap */
    rcpt_point dia[4] = {PT(5, -2), PT(12, 5), PT(5, 12), PT(-2, 5)};
    rcpt_geom_polygon_iou(a, 4, dia, 4, &iou, NULL);
    double inter = 100 - 4 * 0.5 * 3 * 3;   /* square minus four corner triangles */
    CHECK_NEAR(iou, inter / (100 + 98 - inter), 1e-12);
    rcpt_point z[4] = {PT(0, 0), PT(0, 0), PT(0, 0), PT(0, 0)};
    rcpt_geom_polygon_iou(z, 4, z, 4, &iou, NULL);
    CHECK(iou == 0.0);
}

/* union-find merging: pairs in input order, union by rank, equal rank ->
 * the first argument's root, output in first-member order, ids kept. */
static void test_join(void)
{
    rcpt_geom_line lines[5] = {
        quad(0.0, 0.0, 0.1, 0.1),     /* cluster 5: alone */
        quad(0.3, 0.3, 0.5, 0.5),     /* cluster 7 */
        quad(0.7, 0.3, 0.9, 0.5),     /* cluster 9: disjoint from 7 */
        quad(0.45, 0.3, 0.75, 0.5),   /* cluster 11: overlaps 7 and 9 */
        quad(0.46, 0.31, 0.74, 0.49), /* noise, ignored */
    };
    size_t i0[1] = {0}, i1[1] = {1}, i2[1] = {2}, i3[1] = {3}, i4[1] = {4};
    rcpt_geom_cluster cl[5] = {{5, i0, 1}, {-1, i4, 1}, {7, i1, 1}, {9, i2, 1}, {11, i3, 1}};
    rcpt_geom_clusters in = {cl, 5, NULL}, out;
    CHECK_INT(rcpt_geom_join_overlapping(lines, &in, 1000, 1000, 0.01, &out, NULL), RCPT_OK);
    /* (7,11): root 7 rank 1; (9,11): root(9)=9 rank 0 < root(11)=7 rank 1
     * -> swapped, 9 joins 7.  Without the swap the root would be 9. */
    CHECK_INT(out.n, 2);
    CHECK_INT(out.c[0].label, 5);
    CHECK_INT(out.c[0].n, 1);
    CHECK_INT(out.c[1].label, 7);
    CHECK_INT(out.c[1].n, 3);
    CHECK_INT(out.c[1].idx[0], 1);
    CHECK_INT(out.c[1].idx[1], 2);
    CHECK_INT(out.c[1].idx[2], 3);
    rcpt_geom_clusters_free(&out);

    /* equal rank: the first argument's root wins */
    rcpt_geom_cluster c2[2] = {{9, i2, 1}, {11, i3, 1}};
    rcpt_geom_clusters in2 = {c2, 2, NULL};
    CHECK_INT(rcpt_geom_join_overlapping(lines, &in2, 1000, 1000, 0.01, &out, NULL), RCPT_OK);
    CHECK_INT(out.n, 1);
    CHECK_INT(out.c[0].label, 9);
    rcpt_geom_clusters_free(&out);

    /* a threshold above the IoU keeps them apart */
    CHECK_INT(rcpt_geom_join_overlapping(lines, &in2, 1000, 1000, 0.9, &out, NULL), RCPT_OK);
    CHECK_INT(out.n, 2);
    rcpt_geom_clusters_free(&out);

    /* cluster_box: PX with y flipped, reordered TL, TR, BR, BL */
    rcpt_point box[4];
    int has;
    CHECK_INT(rcpt_geom_cluster_box(lines, i1, 1, 1000, 2000, box, &has, NULL), RCPT_OK);
    CHECK(has);
    CHECK_PT(box[0], 300, 1000);
    CHECK_PT(box[1], 500, 1000);
    CHECK_PT(box[2], 500, 1400);
    CHECK_PT(box[3], 300, 1400);
}

/* A receipt rectangle of size w x h px rotated by ang degrees about (cx, cy)
 * in a W x H image, as n text lines spanning its width (VN, y up). */
static void make_receipt(rcpt_geom_line *out, int n, double cx, double cy, double w, double h,
                         double ang, double gap, int W, int H)
{
    double a = ang * 3.14159265358979323846 / 180, ca = cos(a), sa = sin(a);
    for (int i = 0; i < n; i++) {
        double y0 = -h / 2 + h * i / n, y1 = -h / 2 + h * (i + 1) / n - gap;
        double lx[4] = {-w / 2, w / 2, -w / 2, w / 2}, ly[4] = {y0, y0, y1, y1};
        rcpt_point *dst[4] = {&out[i].top_left, &out[i].top_right, &out[i].bottom_left,
                              &out[i].bottom_right};
        for (int k = 0; k < 4; k++) {
            double X = cx + ca * lx[k] - sa * ly[k], Y = cy + sa * lx[k] + ca * ly[k];
            dst[k]->x = X / W;
            dst[k]->y = 1 - Y / H;
        }
        out[i].angle_degrees = 0;
    }
}

static void test_scan(void)
{
    enum { N = 12 };
    rcpt_geom_line l[N];
    make_receipt(l, N, 1200, 1700, 600, 1500, 8, 0, 2480, 3508);
    rcpt_geom_scan s;
    CHECK_INT(rcpt_geom_scan_receipt(l, N, 2480, 3508, &s, NULL), RCPT_OK);
    CHECK(!s.skipped);
    CHECK_INT(s.width, 600);
    CHECK_INT(s.height, 1500);
    /* the affine maps crop corners onto the box */
    double *A = s.affine;
    CHECK_NEAR(A[0] * 0 + A[1] * 0 + A[2], s.box[0].x, 1e-9);
    CHECK_NEAR(A[0] * 599 + A[1] * 1499 + A[2], s.box[2].x, 1e-6);
    CHECK_NEAR(A[3] * 599 + A[4] * 1499 + A[5], s.box[2].y, 1e-6);
    CHECK_NEAR(s.rect.center.x, 1200, 1e-6);

    /* landscape input is forced to portrait */
    make_receipt(l, N, 1200, 1700, 1500, 600, -5, 12.5, 2480, 3508);
    CHECK_INT(rcpt_geom_scan_receipt(l, N, 2480, 3508, &s, NULL), RCPT_OK);
    CHECK(!s.skipped);
    CHECK_INT(s.width, 588);   /* 587.5: the last line stops 12.5 px short; half to even */
    CHECK_INT(s.height, 1500);

    /* degenerate: no lines, collinear corners, one tiny line */
    CHECK_INT(rcpt_geom_scan_receipt(l, 0, 2480, 3508, &s, NULL), RCPT_OK);
    CHECK(s.skipped);
    rcpt_geom_line flat = quad(0.2, 0.5, 0.4, 0.5);
    CHECK_INT(rcpt_geom_scan_receipt(&flat, 1, 2480, 3508, &s, NULL), RCPT_OK);
    CHECK(s.skipped);
    CHECK(strstr(s.reason, "degenerate") != NULL);
    rcpt_err e = {0, ""};
    CHECK_INT(rcpt_geom_scan_receipt(&flat, 1, 0, 3508, &s, &e), RCPT_EINVAL);
}

static void test_photo(void)
{
    enum { N = 10 };
    rcpt_geom_line l[N];
    make_receipt(l, N, 1500, 2000, 1200, 3000, 0, 3000 / (4.0 * N), 3024, 4032);
    rcpt_geom_photo p;
    CHECK_INT(rcpt_geom_photo_receipt(l, N, l, N, 3024, 4032, &p, NULL), RCPT_OK);
    CHECK(!p.skipped);
    CHECK_INT(p.width, 1200);
    CHECK(abs(p.height - 3000) <= 80);   /* the last line stops short of the edge */
    CHECK_NEAR(p.corners[0].x, 900, 1.0);
    CHECK_NEAR(p.corners[0].y, 500, 1.0);
    for (int k = 0; k < 4; k++) {
        rcpt_point dst[4] = {PT(0, 0), PT(p.width - 1, 0), PT(p.width - 1, p.height - 1),
                             PT(0, p.height - 1)};
        rcpt_point s = rcpt_geom_perspective_apply(p.coeffs, dst[k]);
        CHECK_NEAR(s.x, p.corners[k].x, 1e-6);
        CHECK_NEAR(s.y, p.corners[k].y, 1e-6);
    }
    rcpt_geom_photo_free(&p);

    /* skips: too few lines, too few words, a flat hull */
    CHECK_INT(rcpt_geom_photo_receipt(l, N, l, 2, 3024, 4032, &p, NULL), RCPT_OK);
    CHECK(p.skipped);
    CHECK(strstr(p.reason, "insufficient lines") != NULL);
    rcpt_geom_photo_free(&p);
    CHECK_INT(rcpt_geom_photo_receipt(l, 3, l, N, 3024, 4032, &p, NULL), RCPT_OK);
    CHECK(p.skipped);
    CHECK(strstr(p.reason, "insufficient words") != NULL);
    rcpt_geom_photo_free(&p);
    rcpt_geom_line flat[4];
    for (int i = 0; i < 4; i++) flat[i] = quad(0.1 * i, 0.5, 0.1 * i + 0.05, 0.5);
    CHECK_INT(rcpt_geom_photo_receipt(flat, 4, l, N, 3024, 4032, &p, NULL), RCPT_OK);
    CHECK(p.skipped);
    CHECK(strstr(p.reason, "hull") != NULL);
    rcpt_geom_photo_free(&p);
    /* tiny cluster: < 10 px */
    rcpt_geom_line tiny[4];
    for (int i = 0; i < 4; i++) tiny[i] = quad(0.5, 0.5 + i * 0.0005, 0.5015, 0.5004 + i * 0.0005);
    CHECK_INT(rcpt_geom_photo_receipt(tiny, 4, l, N, 3024, 4032, &p, NULL), RCPT_OK);
    CHECK(p.skipped);
    rcpt_geom_photo_free(&p);
    /* corners far outside the image: an answer or a skip, never a crash */
    rcpt_geom_line far[N];
    make_receipt(far, N, 5000, -3000, 1200, 3000, 0, 10, 3024, 4032);
    CHECK_INT(rcpt_geom_photo_receipt(far, N, far, N, 3024, 4032, &p, NULL), RCPT_OK);
    rcpt_geom_photo_free(&p);
    rcpt_err e = {0, ""};
    far[3].top_left.x = INFINITY;
    CHECK_INT(rcpt_geom_photo_receipt(far, N, far, N, 3024, 4032, &p, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "words[3]") != NULL);
}

int main(void)
{
    test_rounding();
    test_dbscan();
    test_cluster_x();
    test_reorder();
    test_hull();
    test_centroid();
    test_theil_sen();
    test_boundaries();
    test_classify();
    test_perspective();
    test_min_area_rect();
    test_iou();
    test_join();
    test_scan();
    test_photo();
    return check_done();
}
