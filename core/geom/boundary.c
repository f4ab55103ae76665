/* Boundary lines of the PHOTO corner method and the Theil-Sen helper
 * (geometry/utils.py, geometry/edge_detection.py at 706a478a2). */
#include <math.h>
#include <stdlib.h>

#include "geom_internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int rcpt_geom_theil_sen(const rcpt_point *pts, size_t n, double *slope, double *intercept,
                        rcpt_err *err)
{
    *slope = 0.0;
    *intercept = n ? pts[0].y : 0.0;
    if (n < 2) return RCPT_OK;
    if (n > 65536) return rcpt_err_set(err, RCPT_ELIMIT, "theil_sen: too many points (%zu)", n);
    size_t cap = n * (n - 1) / 2;
    double *s = malloc((cap > n ? cap : n) * sizeof *s);
    if (!s) return rcpt_err_set(err, RCPT_ENOMEM, "theil_sen: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (pts[i].y == pts[j].y) continue;
            s[k++] = (pts[j].x - pts[i].x) / (pts[j].y - pts[i].y);
        }
    if (k == 0) {   /* no pair of different y: the original's quirk, first y */
        free(s);
        return RCPT_OK;
    }
    qsort(s, k, sizeof *s, cmp_double);
    double m = s[k / 2];
    for (size_t i = 0; i < n; i++) s[i] = pts[i].x - m * pts[i].y;
    qsort(s, n, sizeof *s, cmp_double);
    *slope = m;
    *intercept = s[n / 2];
    free(s);
    return RCPT_OK;
}

rcpt_geom_boundary rcpt_geom_boundary_from_points(rcpt_point p1, rcpt_point p2)
{
    rcpt_geom_boundary b = {RCPT_GEOM_BOUNDARY_Y_OF_X, 0.0, 0.0, 0.0};
    double dx = p2.x - p1.x, dy = p2.y - p1.y;
    if (fabs(dx) < 1e-9) {
        b.kind = RCPT_GEOM_BOUNDARY_VERTICAL;
        b.x = p1.x;
        return b;
    }
    b.slope = dy / dx;
    b.intercept = p1.y - b.slope * p1.x;
    return b;
}

rcpt_geom_boundary rcpt_geom_boundary_from_theil_sen(double slope, double intercept)
{
    rcpt_geom_boundary b = {RCPT_GEOM_BOUNDARY_X_OF_Y, slope, intercept, 0.0};
    if (fabs(slope) < 1e-9) {
        b.kind = RCPT_GEOM_BOUNDARY_VERTICAL;
        b.x = intercept;
        b.slope = b.intercept = 0.0;
    }
    return b;
}

rcpt_geom_boundary rcpt_geom_boundary_fit_horizontal(const rcpt_point *p, size_t n)
{
    rcpt_geom_boundary b = {RCPT_GEOM_BOUNDARY_Y_OF_X, 0.0, 0.0, 0.0};
    double sum_y = 0.0;
    for (size_t i = 0; i < n; i++) sum_y += p[i].y;
    if (n < 2) {
        b.intercept = n ? sum_y / (double)n : 0.0;
        return b;
    }
    double min_y = p[0].y, max_y = p[0].y, min_x = p[0].x, max_x = p[0].x;
    for (size_t i = 1; i < n; i++) {
        if (p[i].y < min_y) min_y = p[i].y;
        if (p[i].y > max_y) max_y = p[i].y;
        if (p[i].x < min_x) min_x = p[i].x;
        if (p[i].x > max_x) max_x = p[i].x;
    }
    if (max_y - min_y < 1e-6) {
        b.intercept = p[0].y;
        return b;
    }
    if (max_x - min_x < 1e-6) {
        b.intercept = sum_y / (double)n;
        return b;
    }
    double sx = 0.0, sxy = 0.0, sx2 = 0.0, dn = (double)n;
    for (size_t i = 0; i < n; i++) sx += p[i].x;
    for (size_t i = 0; i < n; i++) sxy += p[i].x * p[i].y;
    for (size_t i = 0; i < n; i++) sx2 += p[i].x * p[i].x;
    double denom = dn * sx2 - sx * sx;
    if (fabs(denom) < 1e-9) {
        b.intercept = sum_y / dn;
        return b;
    }
    b.slope = (dn * sxy - sx * sum_y) / denom;
    b.intercept = (sum_y - b.slope * sx) / dn;
    return b;
}

/* Solve for the vertical line x = xv against the other boundary.  The
 * defaults without a fallback are the original's: (xv, 0.5). */
static rcpt_point with_vertical(double xv, const rcpt_geom_boundary *o, const rcpt_point *fb)
{
    rcpt_point r = {xv, 0.0};
    if (o->kind == RCPT_GEOM_BOUNDARY_X_OF_Y) {
        if (fabs(o->slope) < 1e-9) {   /* x = intercept: another vertical */
            if (fabs(xv - o->intercept) > 1e-6) {
                if (fb) return *fb;
                r.y = 0.5;
                return r;
            }
            r.y = 0.5;
        } else {
            r.y = (xv - o->intercept) / o->slope;
        }
    } else {
        r.y = o->slope * xv + o->intercept;
    }
    return r;   /* the original returns here without the finiteness check */
}

rcpt_point rcpt_geom_boundary_intersect(const rcpt_geom_boundary *l1,
                                        const rcpt_geom_boundary *l2, const rcpt_point *fb)
{
    int v1 = l1->kind == RCPT_GEOM_BOUNDARY_VERTICAL, v2 = l2->kind == RCPT_GEOM_BOUNDARY_VERTICAL;
    if (v1 && v2) {
        if (fb) return *fb;
        rcpt_point r = {(l1->x + l2->x) / 2.0, 0.5};
        return r;
    }
    if (v1) return with_vertical(l1->x, l2, fb);
    if (v2) return with_vertical(l2->x, l1, fb);

    const rcpt_point dflt = {0.5, 0.5};
    int i1 = l1->kind == RCPT_GEOM_BOUNDARY_X_OF_Y, i2 = l2->kind == RCPT_GEOM_BOUNDARY_X_OF_Y;
    double m1 = l1->slope, b1 = l1->intercept, m2 = l2->slope, b2 = l2->intercept, x, y;
    if (i1 && i2) {
        double d = m1 - m2;
        if (fabs(d) < 1e-9) return fb ? *fb : dflt;
        y = (b2 - b1) / d;
        x = m1 * y + b1;
    } else if (i1) {
        if (fabs(m1) < 1e-9) {
            x = b1;
            y = m2 * x + b2;
        } else {
            double d = 1 - m1 * m2;
            if (fabs(d) < 1e-9) return fb ? *fb : dflt;
            x = (m1 * b2 + b1) / d;
            y = m2 * x + b2;
        }
    } else if (i2) {
        if (fabs(m2) < 1e-9) {
            x = b2;
            y = m1 * x + b1;
        } else {
            double d = 1 - m2 * m1;
            if (fabs(d) < 1e-9) return fb ? *fb : dflt;
            x = (m2 * b1 + b2) / d;
            y = m1 * x + b1;
        }
    } else {
        double d = m1 - m2;
        if (fabs(d) < 1e-6) return fb ? *fb : dflt;
        x = (b2 - b1) / d;
        y = m1 * x + b1;
    }
    if (!(isfinite(x) && isfinite(y))) {
        if (fb) return *fb;
        rcpt_point z = {0.0, 0.0};
        return z;
    }
    rcpt_point r = {x, y};
    return r;
}

void rcpt_geom_box_from_boundaries(const rcpt_geom_boundary *top,
                                   const rcpt_geom_boundary *bottom,
                                   const rcpt_geom_boundary *left,
                                   const rcpt_geom_boundary *right, const rcpt_point *fb,
                                   rcpt_point out[4])
{
    out[0] = rcpt_geom_boundary_intersect(top, left, fb);
    out[1] = rcpt_geom_boundary_intersect(top, right, fb);
    out[2] = rcpt_geom_boundary_intersect(bottom, right, fb);
    out[3] = rcpt_geom_boundary_intersect(bottom, left, fb);
}
