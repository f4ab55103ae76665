/* The PHOTO corner method of one cluster (spec §8.2 a-l, process_photo and
 * geometry/edge_detection.py at 706a478a2).  Everything is in PX, y down. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom_internal.h"

static int skip(rcpt_geom_photo *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int skip(rcpt_geom_photo *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->skipped = 1;
    return RCPT_OK;
}

/* find_line_edges_at_secondary_extremes: project the hull on the axis at
 * angle + 90 degrees about the centroid, stable sort descending; the first
 * two are the "top" edge, the last two the "bottom" edge.  In PX (y down)
 * the "top" edge is the visual bottom; the caller reorders at the end. */
static void edges(const rcpt_point *h, size_t n, rcpt_point c, double angle_deg,
                  rcpt_point top[2], rcpt_point bottom[2], double *proj, size_t *ord,
                  size_t *tmp)
{
    double sec = geom_radians(angle_deg) + geom_radians(90);
    double cs = cos(sec), sn = sin(sec);
    for (size_t i = 0; i < n; i++) {
        proj[i] = (h[i].x - c.x) * cs + (h[i].y - c.y) * sn;
        ord[i] = i;
    }
    geom_stable_sort_idx(ord, n, proj, 1, tmp);
    top[0] = h[ord[0]];
    top[1] = h[ord[1]];
    bottom[0] = h[ord[n - 2]];
    bottom[1] = h[ord[n - 1]];
}

/* _consistent_angle_from_points for a pair: sort by x (stable), angle of the
 * left->right vector folded into [0, 90] (the sign is lost, as in the
 * original). */
static double pair_angle(const rcpt_point p[2])
{
    rcpt_point l = p[0], r = p[1];
    if (p[1].x < p[0].x) {
        l = p[1];
        r = p[0];
    }
    double a = geom_degrees(atan2(r.y - l.y, r.x - l.x));
    if (a < 0) a += 180;
    if (a >= 180) a -= 180;
    if (a > 90) a = 180 - a;
    return a;
}

/* calc_score of refine_hull_extremes_with_hull_edge_alignment.  The
 * thresholds were tuned for normalised coordinates but are applied to
 * pixels, as in the original. */
static double score(const rcpt_point *h, size_t n, size_t i, rcpt_point q, int is_left,
                    double target_rad)
{
    rcpt_point e = h[i];
    double dx = q.x - e.x, dy = q.y - e.y, dist = sqrt(dx * dx + dy * dy), bs;
    if (is_left) {
        if (dx <= 0) bs = 1.0 + dist * 2.0;
        else if (dx < 0.03) bs = 0.8;
        else bs = 1.0 / (1 + dx * 20);
    } else {
        if (dx >= 0.01) {
            bs = 1.0 + dist;
        } else if (dx >= -0.05) {
            double va = fabs(dy) / (fabs(dx) + 0.01), bonus = va * 0.3;
            bs = 0.7 + (0.5 < bonus ? 0.5 : bonus);   /* Python min(x, 0.5) */
        } else {
            bs = 1.0 / (1 + fabs(dx) * 15);
        }
    }
    rcpt_point prev = h[(i + n - 1) % n], next = h[(i + 1) % n];
    double e1 = atan2(e.y - prev.y, e.x - prev.x);
    double e2 = atan2(next.y - e.y, next.x - e.x);
    double la = atan2(dy, dx);
    double align = (fabs(cos(la - e1)) + fabs(cos(la - e2))) / 2.0;
    double target = fabs(cos(la - target_rad));
    return bs * 0.3 + align * 0.6 + target * 0.1;
}

static rcpt_point neighbour(const rcpt_point *h, size_t n, size_t i, int is_left,
                            double target_rad)
{
    rcpt_point cw = h[(i + 1) % n], ccw = h[(i + n - 1) % n];
    double s_cw = score(h, n, i, cw, is_left, target_rad);
    double s_ccw = score(h, n, i, ccw, is_left, target_rad);
    return s_cw > s_ccw ? cw : ccw;
}

static int perspective_to_rect(const rcpt_point c[4], int w, int h, double coeffs[8],
                               rcpt_err *err)
{
    rcpt_point dst[4] = {{0.0, 0.0}, {(double)(w - 1), 0.0}, {(double)(w - 1), (double)(h - 1)},
                         {0.0, (double)(h - 1)}};
    return rcpt_geom_perspective_coeffs(c, dst, coeffs, err);
}

void rcpt_geom_photo_free(rcpt_geom_photo *p)
{
    if (!p) return;
    free(p->hull);
    p->hull = NULL;
    p->n_hull = 0;
}

int rcpt_geom_photo_receipt(const rcpt_geom_line *words, size_t n_words,
                            const rcpt_geom_line *lines, size_t n_lines, int width,
                            int height, rcpt_geom_photo *out, rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    if (width <= 0 || height <= 0)
        return rcpt_err_set(err, RCPT_EINVAL, "image size %dx%d: width and height must be > 0",
                            width, height);
    for (size_t i = 0; i < n_words; i++) {
        const rcpt_geom_line *w = &words[i];
        if (!geom_finite_pt(w->top_left) || !geom_finite_pt(w->top_right) ||
            !geom_finite_pt(w->bottom_left) || !geom_finite_pt(w->bottom_right))
            return rcpt_err_set(err, RCPT_EINVAL, "words[%zu]: corners must be finite", i);
    }
    for (size_t i = 0; i < n_lines; i++)
        if (!isfinite(lines[i].angle_degrees))
            return rcpt_err_set(err, RCPT_EINVAL, "lines[%zu].angle_degrees: must be finite", i);

    /* a */
    if (n_lines < 3) return skip(out, "insufficient lines (%zu)", n_lines);
    if (n_words < 4) return skip(out, "insufficient words (%zu)", n_words);
    if (n_words > ((size_t)-1) / (8 * sizeof(rcpt_point)))
        return rcpt_err_set(err, RCPT_ENOMEM, "photo: too many words");

    /* b: Word.calculate_corners(W, H, flip_y=True) = (x*W, H - y*H), each
     * coordinate truncated toward zero with int().  The truncated values are
     * small integers, so double arithmetic on them is as exact as Python's
     * integer arithmetic (up to 2^53). */
    rcpt_point *pts = malloc(4 * n_words * sizeof *pts);
    if (!pts) return rcpt_err_set(err, RCPT_ENOMEM, "photo: out of memory");
    double W = width, H = height;
    for (size_t i = 0; i < n_words; i++) {
        const rcpt_point *c[4] = {&words[i].top_left, &words[i].top_right,
                                  &words[i].bottom_left, &words[i].bottom_right};
        for (int k = 0; k < 4; k++) {
            pts[4 * i + k].x = trunc(c[k]->x * W);
            pts[4 * i + k].y = trunc(H - c[k]->y * H);
        }
    }

    /* c */
    int rc = rcpt_geom_convex_hull(pts, 4 * n_words, &out->hull, &out->n_hull, err);
    free(pts);
    if (rc) return rc;
    const rcpt_point *h = out->hull;
    size_t n = out->n_hull;
    if (n < 4) return skip(out, "hull has insufficient points (%zu)", n);
    out->centroid = rcpt_geom_hull_centroid(h, n);
    rcpt_point c = out->centroid;

    double *proj = malloc(n * sizeof *proj);
    size_t *ord = malloc(n * sizeof *ord), *tmp = malloc(n * sizeof *tmp);
    if (!proj || !ord || !tmp) {
        free(proj); free(ord); free(tmp);
        return rcpt_err_set(err, RCPT_ENOMEM, "photo: out of memory");
    }

    /* d, e */
    double sum_angle = 0.0;
    for (size_t i = 0; i < n_lines; i++) sum_angle += lines[i].angle_degrees;
    out->avg_angle = sum_angle / (double)n_lines;
    rcpt_point top[2], bottom[2];
    edges(h, n, c, out->avg_angle, top, bottom, proj, ord, tmp);
    out->final_angle = (pair_angle(top) + pair_angle(bottom)) / 2.0;
    double fa = out->final_angle;

    /* f: first vertex with the minimal / maximal projection */
    double rad = geom_radians(fa), ca = cos(rad), sa = sin(rad);
    double min_p = INFINITY, max_p = -INFINITY;
    size_t li = 0, ri = 0;
    for (size_t i = 0; i < n; i++) {
        double p = (h[i].x - c.x) * ca + (h[i].y - c.y) * sa;
        if (p < min_p) { min_p = p; li = i; }
        if (p > max_p) { max_p = p; ri = i; }
    }

    /* g */
    rcpt_point ln = neighbour(h, n, li, 1, rad), rn = neighbour(h, n, ri, 0, rad);

    /* h */
    edges(h, n, c, fa, top, bottom, proj, ord, tmp);
    free(proj); free(ord); free(tmp);
    rcpt_geom_boundary bt = rcpt_geom_boundary_fit_horizontal(top, 2);
    rcpt_geom_boundary bb = rcpt_geom_boundary_fit_horizontal(bottom, 2);
    rcpt_geom_boundary bl = rcpt_geom_boundary_from_points(h[li], ln);
    rcpt_geom_boundary br = rcpt_geom_boundary_from_points(h[ri], rn);

    /* i: the "top" edge is the visual bottom in PX: reorder [c3, c2, c1, c0] */
    rcpt_point box[4];
    rcpt_geom_box_from_boundaries(&bt, &bb, &bl, &br, &c, box);
    for (int k = 0; k < 4; k++) out->corners[k] = box[3 - k];
    const rcpt_point *q = out->corners;

    /* j */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (hypot(q[i].x - q[j].x, q[i].y - q[j].y) < 1.0)
                return skip(out, "corners %d and %d are closer than 1 px", i, j);
    double min_x = q[0].x, max_x = q[0].x, min_y = q[0].y, max_y = q[0].y;
    for (int i = 1; i < 4; i++) {
        if (q[i].x < min_x) min_x = q[i].x;
        if (q[i].x > max_x) max_x = q[i].x;
        if (q[i].y < min_y) min_y = q[i].y;
        if (q[i].y > max_y) max_y = q[i].y;
    }
    if (max_x - min_x < 10 || max_y - min_y < 10)
        return skip(out, "degenerate rectangle (%gx%g px)", max_x - min_x, max_y - min_y);

    /* k */
    double src_w = (hypot(q[0].x - q[1].x, q[0].y - q[1].y) +
                    hypot(q[3].x - q[2].x, q[3].y - q[2].y)) / 2.0;
    double src_h = (hypot(q[0].x - q[3].x, q[0].y - q[3].y) +
                    hypot(q[1].x - q[2].x, q[1].y - q[2].y)) / 2.0;
    if (src_w < 10 || src_h < 10 || src_w > 10000 || src_h > 10000)
        return skip(out, "unreasonable dimensions (%gx%g px)", src_w, src_h);
    out->width = (int)rcpt_geom_round_half_even(src_w);
    out->height = (int)rcpt_geom_round_half_even(src_h);

    /* l: on a failed solve, the hull's axis-aligned box padded by 10 px */
    rcpt_err e1 = {0, ""};
    if (perspective_to_rect(out->corners, out->width, out->height, out->coeffs, &e1)) {
        double hx0 = h[0].x, hx1 = h[0].x, hy0 = h[0].y, hy1 = h[0].y;
        for (size_t i = 1; i < n; i++) {
            if (h[i].x < hx0) hx0 = h[i].x;
            if (h[i].x > hx1) hx1 = h[i].x;
            if (h[i].y < hy0) hy0 = h[i].y;
            if (h[i].y > hy1) hy1 = h[i].y;
        }
        rcpt_point fb[4] = {{hx0 - 10, hy0 - 10}, {hx1 + 10, hy0 - 10}, {hx1 + 10, hy1 + 10},
                            {hx0 - 10, hy1 + 10}};
        rcpt_err e2 = {0, ""};
        if (perspective_to_rect(fb, out->width, out->height, out->coeffs, &e2))
            return skip(out, "perspective transform failed (%s), and with the padded hull "
                        "box (%s)", e1.msg, e2.msg);
        memcpy(out->corners, fb, sizeof fb);
        out->fallback = 1;
    }
    return RCPT_OK;
}
