/* Convex hull, hull centroid, min-area rectangle, box points and corner
 * reordering (spec §6, geometry/hull_operations.py, cluster.reorder_box_points). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geom_internal.h"

static int cmp_xy(const void *a, const void *b)
{
    const rcpt_point *p = a, *q = b;
    if (p->x < q->x) return -1;
    if (p->x > q->x) return 1;
    if (p->y < q->y) return -1;
    if (p->y > q->y) return 1;
    return 0;
}

/* The original's turn test, operand order kept: (a-o) x (p-o). */
static double cross3(rcpt_point o, rcpt_point a, rcpt_point p)
{
    return (a.x - o.x) * (p.y - o.y) - (a.y - o.y) * (p.x - o.x);
}

int rcpt_geom_convex_hull(const rcpt_point *pts, size_t n, rcpt_point **hull,
                          size_t *n_hull, rcpt_err *err)
{
    *hull = NULL;
    *n_hull = 0;
    if (n == 0) return RCPT_OK;
    for (size_t i = 0; i < n; i++)
        if (!geom_finite_pt(pts[i]))
            return rcpt_err_set(err, RCPT_EINVAL, "points[%zu]: coordinates must be finite", i);
    if (n > ((size_t)-1) / (3 * sizeof(rcpt_point)))
        return rcpt_err_set(err, RCPT_ENOMEM, "convex_hull: too many points (%zu)", n);

    /* s: the sorted unique points; h: the chain, lower then upper sharing
     * the last point of lower (at most 2m entries). */
    rcpt_point *s = malloc(n * sizeof *s);
    rcpt_point *h = malloc((2 * n + 1) * sizeof *h);
    if (!s || !h) {
        free(s);
        free(h);
        return rcpt_err_set(err, RCPT_ENOMEM, "convex_hull: out of memory");
    }
    memcpy(s, pts, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_xy);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)   /* set(): equal (==) points are one */
        if (m == 0 || s[i].x != s[m - 1].x || s[i].y != s[m - 1].y) s[m++] = s[i];

    size_t k = 0;
    if (m <= 1) {
        h[k++] = s[0];
    } else {
        for (size_t i = 0; i < m; i++) {          /* lower chain */
            while (k >= 2 && cross3(h[k - 2], h[k - 1], s[i]) <= 0) k--;
            h[k++] = s[i];
        }
        /* Upper chain over reversed(points): its first point s[m-1] is the
         * last of lower already, so "len(upper) >= 2" is k >= t. */
        size_t t = k + 1;
        for (size_t i = m - 1; i-- > 0;) {
            while (k >= t && cross3(h[k - 2], h[k - 1], s[i]) <= 0) k--;
            h[k++] = s[i];
        }
        k--;   /* lower[:-1] + upper[:-1]: drop the repeated first point */
    }
    free(s);
    rcpt_point *r = realloc(h, k * sizeof *r);
    *hull = r ? r : h;
    *n_hull = k;
    return RCPT_OK;
}

rcpt_point rcpt_geom_hull_centroid(const rcpt_point *h, size_t n)
{
    rcpt_point c = {0.0, 0.0};
    if (n == 0) return c;
    if (n == 1) return h[0];
    if (n == 2) {
        c.x = (h[0].x + h[1].x) / 2.0;
        c.y = (h[0].y + h[1].y) / 2.0;
        return c;
    }
    double area_sum = 0.0, cx = 0.0, cy = 0.0;
    for (size_t i = 0; i < n; i++) {
        rcpt_point p0 = h[i], p1 = h[(i + 1) % n];
        double cross = p0.x * p1.y - p1.x * p0.y;
        area_sum += cross;
        cx += (p0.x + p1.x) * cross;
        cy += (p0.y + p1.y) * cross;
    }
    double area = area_sum / 2.0;
    if (fabs(area) < 1e-14) {
        double sx = 0.0, sy = 0.0;
        for (size_t i = 0; i < n; i++) {
            sx += h[i].x;
            sy += h[i].y;
        }
        c.x = sx / (double)n;
        c.y = sy / (double)n;
        return c;
    }
    c.x = cx / (6.0 * area);
    c.y = cy / (6.0 * area);
    return c;
}

int rcpt_geom_min_area_rect(const rcpt_point *pts, size_t n, rcpt_geom_rect *out,
                            rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return RCPT_OK;
    if (n == 1) {
        out->center = pts[0];
        return RCPT_OK;
    }
    rcpt_point *h;
    size_t m;
    int rc = rcpt_geom_convex_hull(pts, n, &h, &m, err);
    if (rc) return rc;
    if (m == 2) {
        double dx = h[1].x - h[0].x, dy = h[1].y - h[0].y;
        out->center.x = (h[0].x + h[1].x) / 2.0;
        out->center.y = (h[0].y + h[1].y) / 2.0;
        out->width = sqrt(dx * dx + dy * dy);
    } else if (m < 3) {
        /* one unique point among several: the axis-aligned box of the hull */
        out->center = h[0];
    } else {
        double min_area = INFINITY;
        for (size_t i = 0; i < m; i++) {
            rcpt_point p1 = h[i], p2 = h[(i + 1) % m];
            double theta = -atan2(p2.y - p1.y, p2.x - p1.x);
            double ct = cos(theta), st = sin(theta);
            double min_x = INFINITY, max_x = -INFINITY, min_y = INFINITY, max_y = -INFINITY;
            for (size_t j = 0; j < m; j++) {
                double x = ct * h[j].x - st * h[j].y;
                double y = st * h[j].x + ct * h[j].y;
                if (x < min_x) min_x = x;
                if (x > max_x) max_x = x;
                if (y < min_y) min_y = y;
                if (y > max_y) max_y = y;
            }
            double w = max_x - min_x, hh = max_y - min_y, area = w * hh;
            if (area < min_area) {   /* the first strictly smaller wins */
                min_area = area;
                double cxr = min_x + w / 2.0, cyr = min_y + hh / 2.0;
                out->center.x = ct * cxr + st * cyr;
                out->center.y = -st * cxr + ct * cyr;
                out->width = w;
                out->height = hh;
                out->angle_deg = -geom_degrees(theta);
            }
        }
    }
    free(h);
    return RCPT_OK;
}

void rcpt_geom_box_points(const rcpt_geom_rect *r, rcpt_point out[4])
{
    double a = geom_radians(r->angle_deg), ca = cos(a), sa = sin(a);
    double hw = r->width / 2.0, hh = r->height / 2.0;
    const double lx[4] = {-hw, hw, hw, -hw}, ly[4] = {-hh, -hh, hh, hh};
    for (int i = 0; i < 4; i++) {
        double rx = ca * lx[i] - sa * ly[i];
        double ry = sa * lx[i] + ca * ly[i];
        out[i].x = r->center.x + rx;
        out[i].y = r->center.y + ry;
    }
}

static int before_yx(rcpt_point a, rcpt_point b)
{
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

void rcpt_geom_reorder_box_points(const rcpt_point in[4], rcpt_point out[4])
{
    rcpt_point s[4];
    memcpy(s, in, sizeof s);
    for (int i = 1; i < 4; i++) {   /* stable insertion sort by (y, x) */
        rcpt_point v = s[i];
        int j = i;
        while (j > 0 && before_yx(v, s[j - 1])) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = v;
    }
    rcpt_point tl, tr, bl, br;
    if (s[0].x < s[1].x) { tl = s[0]; tr = s[1]; } else { tl = s[1]; tr = s[0]; }
    if (s[2].x < s[3].x) { bl = s[2]; br = s[3]; } else { bl = s[3]; br = s[2]; }
    out[0] = tl;
    out[1] = tr;
    out[2] = br;
    out[3] = bl;
}
