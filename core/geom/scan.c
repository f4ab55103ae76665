/* The SCAN rotated-rectangle crop of one merged cluster (spec §8.3 a-e,
 * process_scan). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom_internal.h"

int rcpt_geom_scan_receipt(const rcpt_geom_line *lines, size_t n, int width, int height,
                           rcpt_geom_scan *out, rcpt_err *err)
{
    memset(out, 0, sizeof *out);
    if (width <= 0 || height <= 0)
        return rcpt_err_set(err, RCPT_EINVAL, "image size %dx%d: width and height must be > 0",
                            width, height);
    if (n == 0) {
        out->skipped = 1;
        snprintf(out->reason, sizeof out->reason, "no points found for cluster transformation");
        return RCPT_OK;
    }
    if (n > ((size_t)-1) / (4 * sizeof(rcpt_point)))
        return rcpt_err_set(err, RCPT_ENOMEM, "scan: too many lines");
    /* a: TL, TR, BL, BR of every line, X = x*W, Y = (1 - y)*H, no truncation */
    rcpt_point *p = malloc(4 * n * sizeof *p);
    if (!p) return rcpt_err_set(err, RCPT_ENOMEM, "scan: out of memory");
    double W = width, H = height;
    for (size_t i = 0; i < n; i++) {
        const rcpt_point *c[4] = {&lines[i].top_left, &lines[i].top_right,
                                  &lines[i].bottom_left, &lines[i].bottom_right};
        for (int k = 0; k < 4; k++) {
            p[4 * i + k].x = c[k]->x * W;
            p[4 * i + k].y = (1 - c[k]->y) * H;
        }
    }
    /* b */
    rcpt_geom_rect r;
    int rc = rcpt_geom_min_area_rect(p, 4 * n, &r, err);
    free(p);
    if (rc) return rcpt_err_prefix(err, "lines"), rc;
    double rw = r.width, rh = r.height;
    double wr = rcpt_geom_round_half_even(rw), hr = rcpt_geom_round_half_even(rh);
    if (!(wr >= 1) || !(hr >= 1) || wr > 1e9 || hr > 1e9) {
        out->skipped = 1;
        snprintf(out->reason, sizeof out->reason,
                 "degenerate bounding box for cluster (%gx%g px)", rw, rh);
        return RCPT_OK;
    }
    int w = (int)wr, h = (int)hr;
    /* c: receipts are portrait */
    if (w > h) {
        r.angle_deg -= 90.0;
        int t = w;
        w = h;
        h = t;
        double tr = rw;
        rw = rh;
        rh = tr;
    }
    r.width = rw;
    r.height = rh;
    out->rect = r;
    out->width = w;
    out->height = h;
    /* d */
    rcpt_point bp[4];
    rcpt_geom_box_points(&r, bp);
    rcpt_geom_reorder_box_points(bp, out->box);
    /* e: dst -> src affine from TL, TR, BL */
    const rcpt_point tl = out->box[0], trp = out->box[1], bl = out->box[3];
    double a = 0.0, d = 0.0, b = 0.0, e = 0.0;
    if (w > 1) {
        a = (trp.x - tl.x) / (w - 1);
        d = (trp.y - tl.y) / (w - 1);
    }
    if (h > 1) {
        b = (bl.x - tl.x) / (h - 1);
        e = (bl.y - tl.y) / (h - 1);
    }
    double aff[6] = {a, b, tl.x, d, e, tl.y}, inv[6];
    memcpy(out->affine, aff, sizeof aff);
    rcpt_err ie = {0, ""};
    if (rcpt_geom_invert_affine(aff, inv, &ie)) {
        out->skipped = 1;
        snprintf(out->reason, sizeof out->reason, "%s", ie.msg);
    }
    return RCPT_OK;
}
