/* classify_image_layout (spec §5, route_images.py). */
#include <math.h>

#include "geom_internal.h"

double rcpt_geom_dimension_distance(double w, double h, double rw, double rh)
{
    double dx1 = (w - rw) / rw, dy1 = (h - rh) / rh;
    double normal = sqrt(dx1 * dx1 + dy1 * dy1);
    double dx2 = (w - rh) / rh, dy2 = (h - rw) / rw;
    double rotated = sqrt(dx2 * dx2 + dy2 * dy2);
    return rotated < normal ? rotated : normal;   /* Python min(): first on ties */
}

static double pymin(double a, double b) { return b < a ? b : a; }

int rcpt_geom_classify(const rcpt_geom_line *lines, size_t n, int width, int height,
                       rcpt_geom_layout *out)
{
    /* find_margins: only TL.x, TR.x, BL.y and TL.y are consulted. */
    out->left = out->right = out->top = out->bottom = 1.0;
    for (size_t i = 0; i < n; i++) {
        out->left = pymin(out->left, lines[i].top_left.x);
        out->right = pymin(out->right, 1.0 - lines[i].top_right.x);
        out->bottom = pymin(out->bottom, lines[i].bottom_left.y);
        out->top = pymin(out->top, 1.0 - lines[i].top_left.y);
    }
    /* (3508, 2480) scanner and (4032, 3024) phone reference formats */
    out->scan_distance = rcpt_geom_dimension_distance(width, height, 3508, 2480);
    out->photo_distance = rcpt_geom_dimension_distance(width, height, 4032, 3024);
    if (out->left < 0.01 && out->right < 0.01 && out->top < 0.01 && out->bottom < 0.01)
        out->layout = RCPT_LAYOUT_NATIVE;
    else
        out->layout = out->scan_distance < out->photo_distance ? RCPT_LAYOUT_SCAN
                                                               : RCPT_LAYOUT_PHOTO;
    return out->layout;
}

const char *rcpt_geom_layout_name(int layout)
{
    switch (layout) {
    case RCPT_LAYOUT_NATIVE: return "NATIVE";
    case RCPT_LAYOUT_PHOTO: return "PHOTO";
    case RCPT_LAYOUT_SCAN: return "SCAN";
    default: return "UNKNOWN";
    }
}
