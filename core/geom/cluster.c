/* Clustering (spec §7, cluster.py): DBSCAN on line centroids (PHOTO), 1-D
 * chaining on centroid x (SCAN), polygon IoU and union-find merging. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geom_internal.h"

void rcpt_geom_clusters_free(rcpt_geom_clusters *cs)
{
    if (!cs) return;
    free(cs->c);
    free(cs->pool_);
    cs->c = NULL;
    cs->pool_ = NULL;
    cs->n = 0;
}

/* Group n labelled items into clusters: key order = first index carrying
 * the label (Python dict insertion order), members in index order. */
int geom_clusters_from_labels(const int *labels, size_t n, int use_skip, int skip_label,
                              rcpt_geom_clusters *out, rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return RCPT_OK;
    size_t *slot = malloc(n * sizeof *slot);       /* item -> cluster number */
    out->c = calloc(n, sizeof *out->c);
    out->pool_ = malloc(n * sizeof *out->pool_);
    if (!slot || !out->c || !out->pool_) {
        free(slot);
        rcpt_geom_clusters_free(out);
        return rcpt_err_set(err, RCPT_ENOMEM, "clusters: out of memory");
    }
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        slot[i] = (size_t)-1;
        if (use_skip && labels[i] == skip_label) continue;
        size_t k = 0;
        while (k < nc && out->c[k].label != labels[i]) k++;   /* few clusters */
        if (k == nc) out->c[nc++].label = labels[i];
        out->c[k].n++;
        slot[i] = k;
    }
    size_t off = 0;
    for (size_t k = 0; k < nc; k++) {
        out->c[k].idx = out->pool_ + off;
        off += out->c[k].n;
        out->c[k].n = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (slot[i] != (size_t)-1) {
            rcpt_geom_cluster *c = &out->c[slot[i]];
            c->idx[c->n++] = i;
        }
    out->n = nc;
    free(slot);
    return RCPT_OK;
}

/* ---- §7.1 DBSCAN ------------------------------------------------------------- */

static size_t region_query(const rcpt_point *p, size_t n, size_t i, double eps, size_t *nb)
{
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        double dx = p[i].x - p[j].x, dy = p[i].y - p[j].y;
        if (sqrt(dx * dx + dy * dy) <= eps) nb[k++] = j;
    }
    return k;
}

#define UNLABELED 0   /* internal: None in the original; clusters are >= 1 */

int rcpt_geom_dbscan(const rcpt_point *pts, size_t n, double eps, size_t min_samples,
                     rcpt_geom_clusters *out, int *labels_out, rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    if (!(eps >= 0) || isinf(eps)) return rcpt_err_set(err, RCPT_EINVAL, "eps: must be a finite number >= 0");
    for (size_t i = 0; i < n; i++)
        if (!geom_finite_pt(pts[i]))
            return rcpt_err_set(err, RCPT_EINVAL, "points[%zu]: coordinates must be finite", i);
    if (n == 0) return RCPT_OK;
    if (n > ((size_t)-1) / (8 * sizeof(size_t)))
        return rcpt_err_set(err, RCPT_ENOMEM, "dbscan: too many points (%zu)", n);

    int *label = calloc(n, sizeof *label);
    unsigned char *visited = calloc(n, 1), *in_seeds = calloc(n, 1);
    size_t *nb = malloc(n * sizeof *nb), *ring = malloc(n * sizeof *ring);
    if (!label || !visited || !in_seeds || !nb || !ring) {
        free(label); free(visited); free(in_seeds); free(nb); free(ring);
        return rcpt_err_set(err, RCPT_ENOMEM, "dbscan: out of memory");
    }
    int cluster = 1;
    for (size_t i = 0; i < n; i++) {
        if (visited[i]) continue;
        visited[i] = 1;
        size_t k = region_query(pts, n, i, eps, nb);
        if (k < min_samples) {
            label[i] = -1;
            continue;
        }
        label[i] = cluster;
        /* The seed list is a FIFO without duplicates ("if neighbor not in
         * seeds"), so a ring of n slots holds it; a popped point may enter
         * again later, exactly as in the original. */
        size_t head = 0, len = 0;
        for (size_t j = 0; j < k; j++) {
            ring[(head + len++) % n] = nb[j];
            in_seeds[nb[j]] = 1;
        }
        while (len) {
            size_t cur = ring[head];
            head = (head + 1) % n;
            len--;
            in_seeds[cur] = 0;
            if (!visited[cur]) {
                visited[cur] = 1;
                size_t kk = region_query(pts, n, cur, eps, nb);
                if (kk >= min_samples)
                    for (size_t j = 0; j < kk; j++)
                        if (!in_seeds[nb[j]]) {
                            ring[(head + len++) % n] = nb[j];
                            in_seeds[nb[j]] = 1;
                        }
            }
            if (label[cur] == UNLABELED || label[cur] == -1) label[cur] = cluster;
        }
        cluster++;
    }
    int rc = geom_clusters_from_labels(label, n, 0, 0, out, err);
    if (rc == RCPT_OK && labels_out) memcpy(labels_out, label, n * sizeof *label);
    free(label); free(visited); free(in_seeds); free(nb); free(ring);
    return rc;
}

int rcpt_geom_dbscan_lines(const rcpt_geom_line *lines, size_t n, double eps,
                           size_t min_samples, rcpt_geom_clusters *out, int *labels,
                           rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    rcpt_point *c = malloc((n ? n : 1) * sizeof *c);
    if (!c) return rcpt_err_set(err, RCPT_ENOMEM, "dbscan: out of memory");
    for (size_t i = 0; i < n; i++) c[i] = rcpt_geom_line_centroid(&lines[i]);
    int rc = rcpt_geom_dbscan(c, n, eps, min_samples, out, labels, err);
    free(c);
    return rc;
}

double rcpt_geom_photo_eps(const rcpt_geom_line *lines, size_t n)
{
    if (n == 0) return 0.0;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += rcpt_geom_line_diagonal(&lines[i]);
    return s / (double)n * 2;   /* (sum / len) * 2, the original's order */
}

/* ---- §7.2 x-axis chaining ------------------------------------------------------ */

int rcpt_geom_cluster_x(const double *xs, size_t n, double eps, size_t min_samples,
                        rcpt_geom_clusters *out, int *labels_out, rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    if (isnan(eps)) return rcpt_err_set(err, RCPT_EINVAL, "eps: must be a number");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(xs[i]))
            return rcpt_err_set(err, RCPT_EINVAL, "x[%zu]: must be finite", i);
    if (n == 0) return RCPT_OK;
    size_t *ord = malloc(n * sizeof *ord), *tmp = malloc(n * sizeof *tmp);
    int *group = malloc(n * sizeof *group), *label = malloc(n * sizeof *label);
    if (!ord || !tmp || !group || !label) {
        free(ord); free(tmp); free(group); free(label);
        return rcpt_err_set(err, RCPT_ENOMEM, "cluster_x: out of memory");
    }
    for (size_t i = 0; i < n; i++) ord[i] = i;
    geom_stable_sort_idx(ord, n, xs, 0, tmp);
    /* group[k] for sorted position k; a new group when the gap exceeds eps
     * (the original joins when abs(x_i - x_{i-1}) <= eps). */
    int g = 0;
    group[0] = 0;
    for (size_t k = 1; k < n; k++) {
        if (!(fabs(xs[ord[k]] - xs[ord[k - 1]]) <= eps)) g++;
        group[k] = g;
    }
    /* number kept groups 1, 2, ... left to right; small groups are noise */
    int next = 1;
    for (size_t k = 0; k < n;) {
        size_t e = k;
        while (e < n && group[e] == group[k]) e++;
        int lab = (e - k) < min_samples ? -1 : next++;
        for (size_t j = k; j < e; j++) label[ord[j]] = lab;
        k = e;
    }
    /* the result lists lines in x order: build it over sorted positions */
    int *sorted_label = group;   /* reuse */
    for (size_t k = 0; k < n; k++) sorted_label[k] = label[ord[k]];
    int rc = geom_clusters_from_labels(sorted_label, n, 1, -1, out, err);
    if (rc == RCPT_OK) {
        for (size_t c = 0; c < out->n; c++)
            for (size_t j = 0; j < out->c[c].n; j++) out->c[c].idx[j] = ord[out->c[c].idx[j]];
        if (labels_out) memcpy(labels_out, label, n * sizeof *label);
    }
    free(ord); free(tmp); free(group); free(label);
    return rc;
}

int rcpt_geom_cluster_x_lines(const rcpt_geom_line *lines, size_t n, double eps,
                              size_t min_samples, rcpt_geom_clusters *out, int *labels,
                              rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    double *xs = malloc((n ? n : 1) * sizeof *xs);
    if (!xs) return rcpt_err_set(err, RCPT_ENOMEM, "cluster_x: out of memory");
    for (size_t i = 0; i < n; i++) xs[i] = rcpt_geom_line_centroid(&lines[i]).x;
    int rc = rcpt_geom_cluster_x(xs, n, eps, min_samples, out, labels, err);
    free(xs);
    return rc;
}

/* ---- §7.3 IoU and merging ------------------------------------------------------- */

double rcpt_geom_polygon_area(const rcpt_point *p, size_t n)
{
    double area = 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t j = (i + 1) % n;
        area += p[i].x * p[j].y - p[j].x * p[i].y;
    }
    return fabs(area) / 2.0;
}

static double cross2(double ax, double ay, double bx, double by) { return ax * by - ay * bx; }

static int inside(rcpt_point p, rcpt_point c1, rcpt_point c2)
{
    return cross2(c2.x - c1.x, c2.y - c1.y, p.x - c1.x, p.y - c1.y) >= 0;
}

/* Intersection of segment s->e with the line c1->c2; 0 when parallel. */
static int seg_line(rcpt_point s, rcpt_point e, rcpt_point c1, rcpt_point c2, rcpt_point *r)
{
    double rx = e.x - s.x, ry = e.y - s.y, dx = c2.x - c1.x, dy = c2.y - c1.y;
    double den = cross2(rx, ry, dx, dy);
    if (den == 0) return 0;
    double t = cross2(c1.x - s.x, c1.y - s.y, dx, dy) / den;
    r->x = s.x + t * rx;
    r->y = s.y + t * ry;
    return 1;
}

int rcpt_geom_polygon_iou(const rcpt_point *a, size_t na, const rcpt_point *b, size_t nb,
                          double *iou, rcpt_err *err)
{
    *iou = 0.0;
    double area_a = rcpt_geom_polygon_area(a, na), area_b = rcpt_geom_polygon_area(b, nb);
    /* Sutherland-Hodgman: each clip edge at most doubles the list. */
    size_t cap = na ? na : 1;
    for (size_t i = 0; i < nb && cap < ((size_t)1 << 20); i++) cap *= 2;
    if (cap >= ((size_t)1 << 20) && nb > 0)
        return rcpt_err_set(err, RCPT_ELIMIT, "polygon_iou: polygons too large");
    rcpt_point *in = malloc(cap * sizeof *in), *outp = malloc(cap * sizeof *outp);
    if (!in || !outp) {
        free(in);
        free(outp);
        return rcpt_err_set(err, RCPT_ENOMEM, "polygon_iou: out of memory");
    }
    size_t n_out = na;
    if (na) memcpy(outp, a, na * sizeof *a);
    if (nb) {
        rcpt_point c1 = b[nb - 1];
        for (size_t ci = 0; ci < nb; ci++) {
            rcpt_point c2 = b[ci];
            rcpt_point *t = in;
            in = outp;
            outp = t;
            size_t n_in = n_out;
            n_out = 0;
            if (n_in == 0) break;
            rcpt_point s = in[n_in - 1], x;
            for (size_t k = 0; k < n_in; k++) {
                rcpt_point e = in[k];
                if (inside(e, c1, c2)) {
                    if (!inside(s, c1, c2) && seg_line(s, e, c1, c2, &x)) outp[n_out++] = x;
                    outp[n_out++] = e;
                } else if (inside(s, c1, c2) && seg_line(s, e, c1, c2, &x)) {
                    outp[n_out++] = x;
                }
                s = e;
            }
            c1 = c2;
        }
    }
    double inter = n_out ? rcpt_geom_polygon_area(outp, n_out) : 0.0;
    free(in);
    free(outp);
    double uni = area_a + area_b - inter;
    *iou = uni == 0 ? 0.0 : inter / uni;
    return RCPT_OK;
}

int rcpt_geom_cluster_box(const rcpt_geom_line *lines, const size_t *idx, size_t n,
                          int width, int height, rcpt_point box[4], int *has_box,
                          rcpt_err *err)
{
    *has_box = 0;
    if (n == 0) return RCPT_OK;
    if (n > ((size_t)-1) / (4 * sizeof(rcpt_point)))
        return rcpt_err_set(err, RCPT_ENOMEM, "cluster_box: too many lines");
    rcpt_point *p = malloc(4 * n * sizeof *p);
    if (!p) return rcpt_err_set(err, RCPT_ENOMEM, "cluster_box: out of memory");
    double W = width, H = height;
    for (size_t i = 0; i < n; i++) {
        const rcpt_geom_line *l = &lines[idx[i]];
        const rcpt_point *c[4] = {&l->top_left, &l->top_right, &l->bottom_left, &l->bottom_right};
        for (int k = 0; k < 4; k++) {
            p[4 * i + k].x = c[k]->x * W;
            p[4 * i + k].y = (1.0 - c[k]->y) * H;
        }
    }
    rcpt_geom_rect r;
    int rc = rcpt_geom_min_area_rect(p, 4 * n, &r, err);
    free(p);
    if (rc) return rc;
    rcpt_point bp[4];
    rcpt_geom_box_points(&r, bp);
    rcpt_geom_reorder_box_points(bp, box);
    *has_box = 1;
    return RCPT_OK;
}

static size_t uf_find(size_t *parent, size_t x)
{
    size_t r = x;
    while (parent[r] != r) r = parent[r];
    while (parent[x] != r) {   /* path compression */
        size_t nx = parent[x];
        parent[x] = r;
        x = nx;
    }
    return r;
}

static void uf_union(size_t *parent, int *rank, size_t x, size_t y)
{
    size_t px = uf_find(parent, x), py = uf_find(parent, y);
    if (px == py) return;
    if (rank[px] < rank[py]) {
        size_t t = px;
        px = py;
        py = t;
    }
    parent[py] = px;   /* equal rank: the first argument's root wins */
    if (rank[px] == rank[py]) rank[px]++;
}

int rcpt_geom_join_overlapping(const rcpt_geom_line *lines, const rcpt_geom_clusters *in,
                               int width, int height, double thr, rcpt_geom_clusters *out,
                               rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    size_t nc = in->n, total = 0;
    if (nc == 0) return RCPT_OK;
    for (size_t i = 0; i < nc; i++) total += in->c[i].n;
    size_t *parent = malloc(nc * sizeof *parent);
    int *rank = calloc(nc, sizeof *rank), *has = calloc(nc, sizeof *has);
    rcpt_point(*box)[4] = malloc(nc * sizeof *box);
    size_t *root_slot = malloc(nc * sizeof *root_slot);
    out->c = calloc(nc, sizeof *out->c);
    out->pool_ = malloc((total ? total : 1) * sizeof *out->pool_);
    int rc = RCPT_OK;
    if (!parent || !rank || !has || !box || !root_slot || !out->c || !out->pool_) {
        rc = rcpt_err_set(err, RCPT_ENOMEM, "join_overlapping: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nc; i++) {
        parent[i] = i;
        if (in->c[i].label == -1) continue;
        rc = rcpt_geom_cluster_box(lines, in->c[i].idx, in->c[i].n, width, height, box[i],
                                   &has[i], err);
        if (rc) {
            rcpt_err_prefix(err, "cluster %d", in->c[i].label);
            goto done;
        }
    }
    /* pairs i < j among the clusters that have a box, in input order */
    for (size_t i = 0; i < nc; i++) {
        if (!has[i]) continue;
        for (size_t j = i + 1; j < nc; j++) {
            if (!has[j]) continue;
            double iou;
            rc = rcpt_geom_polygon_iou(box[i], 4, box[j], 4, &iou, err);
            if (rc) goto done;
            if (iou > thr) uf_union(parent, rank, i, j);
        }
    }
    /* one output cluster per root, in the order of its first member */
    size_t no = 0, off = 0;
    for (size_t i = 0; i < nc; i++) root_slot[i] = (size_t)-1;
    for (size_t i = 0; i < nc; i++) {
        if (in->c[i].label == -1) continue;
        size_t r = uf_find(parent, i);
        if (root_slot[r] == (size_t)-1) {
            root_slot[r] = no;
            out->c[no].label = in->c[r].label;
            no++;
        }
        out->c[root_slot[r]].n += in->c[i].n;
    }
    for (size_t k = 0; k < no; k++) {
        out->c[k].idx = out->pool_ + off;
        off += out->c[k].n;
        out->c[k].n = 0;
    }
    for (size_t i = 0; i < nc; i++) {
        if (in->c[i].label == -1) continue;
        rcpt_geom_cluster *o = &out->c[root_slot[uf_find(parent, i)]];
        memcpy(o->idx + o->n, in->c[i].idx, in->c[i].n * sizeof *o->idx);
        o->n += in->c[i].n;
    }
    out->n = no;
done:
    free(parent); free(rank); free(has); free(box); free(root_slot);
    if (rc) rcpt_geom_clusters_free(out);
    return rc;
}
