/* Perspective coefficients (8x8 solve) and the affine inverse (spec §6,
 * geometry/transformations.py). */
#include <math.h>
#include <string.h>

#include "geom_internal.h"

static int collinear(rcpt_point p1, rcpt_point p2, rcpt_point p3)
{
    return fabs((p2.x - p1.x) * (p3.y - p1.y) - (p3.x - p1.x) * (p2.y - p1.y)) < 1e-10;
}

static int same_point(rcpt_point a, rcpt_point b)
{
    return fabs(a.x - b.x) < 1e-10 && fabs(a.y - b.y) < 1e-10;
}

/* Gaussian elimination with partial pivoting, as the original: the pivot
 * row is scaled by 1/pivot (a multiplication, not a division), rows below
 * are eliminated over all 8 columns, then back-substitution. */
static int solve8(double A[8][8], double b[8], rcpt_err *err)
{
    for (int i = 0; i < 8; i++) {
        int piv = i;
        for (int r = i + 1; r < 8; r++)
            if (fabs(A[r][i]) > fabs(A[piv][i])) piv = r;
        if (piv != i) {
            double t[8];
            memcpy(t, A[i], sizeof t);
            memcpy(A[i], A[piv], sizeof t);
            memcpy(A[piv], t, sizeof t);
            double tb = b[i];
            b[i] = b[piv];
            b[piv] = tb;
        }
        double pv = A[i][i];
        if (!(fabs(pv) >= 1e-12))
            return rcpt_err_set(err, RCPT_EINVAL,
                                "perspective transform: matrix is singular or poorly "
                                "conditioned (pivot %d)", i);
        double inv = 1.0 / pv;
        for (int c = 0; c < 8; c++) A[i][c] *= inv;
        b[i] *= inv;
        for (int r = i + 1; r < 8; r++) {
            double f = A[r][i];
            for (int c = 0; c < 8; c++) A[r][c] = A[r][c] - f * A[i][c];
            b[r] = b[r] - f * b[i];
        }
    }
    for (int i = 7; i >= 0; i--)
        for (int j = i + 1; j < 8; j++) b[i] -= A[i][j] * b[j];
    return RCPT_OK;
}

int rcpt_geom_perspective_coeffs(const rcpt_point src[4], const rcpt_point dst[4],
                                 double out[8], rcpt_err *err)
{
    for (int i = 0; i < 4; i++) {
        if (!geom_finite_pt(src[i]))
            return rcpt_err_set(err, RCPT_EINVAL, "src[%d]: coordinates must be finite", i);
        if (!geom_finite_pt(dst[i]))
            return rcpt_err_set(err, RCPT_EINVAL, "dst[%d]: coordinates must be finite", i);
    }
    /* The original's checks, in its order. */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            for (int k = j + 1; k < 4; k++)
                if (collinear(src[i], src[j], src[k]))
                    return rcpt_err_set(err, RCPT_EINVAL,
                                        "source points %d, %d, %d are collinear", i, j, k);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            for (int k = j + 1; k < 4; k++)
                if (collinear(dst[i], dst[j], dst[k]))
                    return rcpt_err_set(err, RCPT_EINVAL,
                                        "destination points %d, %d, %d are collinear", i, j, k);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) {
            if (same_point(src[i], src[j]))
                return rcpt_err_set(err, RCPT_EINVAL, "source points %d and %d are identical",
                                    i, j);
            if (same_point(dst[i], dst[j]))
                return rcpt_err_set(err, RCPT_EINVAL,
                                    "destination points %d and %d are identical", i, j);
        }
    double A[8][8], b[8];
    for (int i = 0; i < 4; i++) {
        double sx = src[i].x, sy = src[i].y, dx = dst[i].x, dy = dst[i].y;
        double r0[8] = {dx, dy, 1, 0, 0, 0, -sx * dx, -sx * dy};
        double r1[8] = {0, 0, 0, dx, dy, 1, -sy * dx, -sy * dy};
        memcpy(A[2 * i], r0, sizeof r0);
        memcpy(A[2 * i + 1], r1, sizeof r1);
        b[2 * i] = sx;
        b[2 * i + 1] = sy;
    }
    int rc = solve8(A, b, err);
    if (rc) return rc;
    memcpy(out, b, sizeof b);
    return RCPT_OK;
}

rcpt_point rcpt_geom_perspective_apply(const double c[8], rcpt_point p)
{
    double den = c[6] * p.x + c[7] * p.y + 1.0;
    rcpt_point r;
    r.x = (c[0] * p.x + c[1] * p.y + c[2]) / den;
    r.y = (c[3] * p.x + c[4] * p.y + c[5]) / den;
    return r;
}

int rcpt_geom_invert_affine(const double in[6], double out[6], rcpt_err *err)
{
    double a = in[0], b = in[1], c = in[2], d = in[3], e = in[4], f = in[5];
    double det = a * e - b * d;
    if (!(fabs(det) >= 1e-14))
        return rcpt_err_set(err, RCPT_EINVAL,
                            "affine transform is singular (|det| = %g < 1e-14)", fabs(det));
    out[0] = e / det;
    out[1] = -b / det;
    out[2] = (b * f - c * e) / det;
    out[3] = -d / det;
    out[4] = a / det;
    out[5] = (c * d - a * f) / det;
    return RCPT_OK;
}
