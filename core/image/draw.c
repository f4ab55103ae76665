/* Drawing for debug pictures (`rcpt render`): lines, polygons, translucent
 * fills and a 5x7 bitmap font.  Pixel (i, j) covers [i, i+1) x [j, j+1); a
 * fill paints the pixels whose centre is inside.  Everything is clipped, and
 * coordinates far outside the image (or not finite) cost nothing. */
#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static unsigned char blend(unsigned d, unsigned s, unsigned a)
{
    return (unsigned char)((s * a + d * (255 - a) + 127) / 255);
}

static void put(rcpt_image *img, int x, int y, rcpt_rgba c)
{
    unsigned char *p = img->px + (size_t)y * img->stride + (size_t)x * img->channels;
    if (img->channels == 1) {
        unsigned l = (c.r * 19595u + c.g * 38470u + c.b * 7471u + 0x8000u) >> 16;
        p[0] = blend(p[0], l, c.a);
        return;
    }
    p[0] = blend(p[0], c.r, c.a);
    p[1] = blend(p[1], c.g, c.a);
    p[2] = blend(p[2], c.b, c.a);
    if (img->channels == 4)
        p[3] = (unsigned char)(c.a + (p[3] * (255u - c.a) + 127) / 255);
}

static int usable(const rcpt_image *img)
{
    return img && img->px && img->width > 0 && img->height > 0 &&
           (img->channels == 1 || img->channels == 3 || img->channels == 4);
}

void rcpt_image_fill_rect(rcpt_image *img, int x, int y, int width, int height, rcpt_rgba c)
{
    if (!usable(img) || width <= 0 || height <= 0)
        return;
    long x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    long x1 = (long)x + width, y1 = (long)y + height;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    for (long yy = y0; yy < y1; yy++)
        for (long xx = x0; xx < x1; xx++)
            put(img, (int)xx, (int)yy, c);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void rcpt_image_fill_polygon(rcpt_image *img, const double *xy, int n, rcpt_rgba c)
{
    if (!usable(img) || n < 3)
        return;
    double ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(xy[2 * i]) || !isfinite(xy[2 * i + 1]))
            return;
        if (xy[2 * i + 1] < ymin) ymin = xy[2 * i + 1];
        if (xy[2 * i + 1] > ymax) ymax = xy[2 * i + 1];
    }
    if (ymax < 0 || ymin >= img->height)
        return;
    double *xs = malloc((size_t)n * sizeof *xs);
    if (!xs)
        return;
    int ya = ymin < 0 ? 0 : (int)fmin(ceil(ymin - 0.5), img->height);
    int yb = ymax >= img->height ? img->height - 1 : (int)floor(ymax - 0.5);
    for (int y = ya; y <= yb; y++) {
        double yc = y + 0.5;
        int m = 0;
        for (int i = 0; i < n; i++) {
            double x0 = xy[2 * i], y0 = xy[2 * i + 1];
            double x1 = xy[2 * ((i + 1) % n)], y1 = xy[2 * ((i + 1) % n) + 1];
            if ((y0 <= yc && yc < y1) || (y1 <= yc && yc < y0))
                xs[m++] = x0 + (yc - y0) * (x1 - x0) / (y1 - y0);
        }
        qsort(xs, (size_t)m, sizeof *xs, cmp_double);
        for (int k = 0; k + 1 < m; k += 2) {
            /* pixels whose centre x + 0.5 lies in [xs[k], xs[k+1]) */
            double a = ceil(xs[k] - 0.5), b = ceil(xs[k + 1] - 0.5);
            a = a < 0 ? 0 : a > img->width ? img->width : a;
            b = b < 0 ? 0 : b > img->width ? img->width : b;
            for (int x = (int)a; x < (int)b; x++)
                put(img, x, y, c);
        }
    }
    free(xs);
}

/* Liang-Barsky against a box one pixel larger than the image, so that a
 * Bresenham walk never runs over millions of invisible pixels. */
static int clip_segment(double *x0, double *y0, double *x1, double *y1, double w, double h)
{
    double t0 = 0, t1 = 1, dx = *x1 - *x0, dy = *y1 - *y0;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {*x0 + 1, w + 1 - *x0, *y0 + 1, h + 1 - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0)
                return 0;
        } else {
            double t = q[i] / p[i];
            if (p[i] < 0) {
                if (t > t1) return 0;
                if (t > t0) t0 = t;
            } else {
                if (t < t0) return 0;
                if (t < t1) t1 = t;
            }
        }
    }
    double ax = *x0 + t0 * dx, ay = *y0 + t0 * dy, bx = *x0 + t1 * dx, by = *y0 + t1 * dy;
    *x0 = ax; *y0 = ay; *x1 = bx; *y1 = by;
    return 1;
}

void rcpt_image_draw_line(rcpt_image *img, double x0, double y0, double x1, double y1,
                          double width, rcpt_rgba c)
{
    if (!usable(img) || !isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) ||
        !(width >= 1) || width > 1e6)
        return;
    if (width < 1.5) {
        if (!clip_segment(&x0, &y0, &x1, &y1, img->width, img->height))
            return;
        int xa = (int)floor(x0), ya = (int)floor(y0), xb = (int)floor(x1), yb = (int)floor(y1);
        int dx = abs(xb - xa), dy = -abs(yb - ya), sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1;
        int e = dx + dy;
        for (;;) {
            if (xa >= 0 && ya >= 0 && xa < img->width && ya < img->height)
                put(img, xa, ya, c);
            if (xa == xb && ya == yb)
                break;
            int e2 = 2 * e;
            if (e2 >= dy) { e += dy; xa += sx; }
            if (e2 <= dx) { e += dx; ya += sy; }
        }
        return;
    }
    /* a rectangle around the segment, extended by half the width at both
     * ends (square caps, so that polygon corners close) */
    double h = width / 2, dx = x1 - x0, dy = y1 - y0, len = hypot(dx, dy);
    double ux = len > 0 ? dx / len : 1, uy = len > 0 ? dy / len : 0;
    double nx = -uy * h, ny = ux * h;
    double ex = ux * h, ey = uy * h;
    double q[8] = {x0 - ex + nx, y0 - ey + ny, x1 + ex + nx, y1 + ey + ny,
                   x1 + ex - nx, y1 + ey - ny, x0 - ex - nx, y0 - ey - ny};
    rcpt_image_fill_polygon(img, q, 4, c);
}

void rcpt_image_draw_polygon(rcpt_image *img, const double *xy, int n, double width,
                             rcpt_rgba c)
{
    if (n == 1)
        rcpt_image_draw_line(img, xy[0], xy[1], xy[0], xy[1], width, c);
    for (int i = 0; n > 1 && i < n; i++) {
        if (n == 2 && i == 1)
            break;
        int j = (i + 1) % n;
        rcpt_image_draw_line(img, xy[2 * i], xy[2 * i + 1], xy[2 * j], xy[2 * j + 1], width, c);
    }
}

/* ---- 5x7 font: 7 rows of 5 bits, bit 4 is the leftmost column ---- */
typedef struct glyph {
    char ch;
    unsigned char rows[7];
} glyph;

static const glyph font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {';', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'*', {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}},
    {'\'', {0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}},
    {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}},
};

static const unsigned char box_glyph[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

static const unsigned char *glyph_rows(unsigned char ch)
{
    if (ch >= 'a' && ch <= 'z')
        ch = (unsigned char)(ch - 'a' + 'A');
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if ((unsigned char)font[i].ch == ch)
            return font[i].rows;
    return box_glyph;
}

int rcpt_image_text_width(const char *text, int scale)
{
    if (scale < 1)
        scale = 1;
    size_t n = strlen(text);
    return n ? (int)(n * 6 - 1) * scale : 0;
}

int rcpt_image_draw_text(rcpt_image *img, int x, int y, const char *text, int scale,
                         rcpt_rgba c)
{
    if (scale < 1)
        scale = 1;
    int cx = x;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++, cx += 6 * scale) {
        const unsigned char *rows = glyph_rows(*p);
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++)
                if (rows[r] & (0x10 >> col))
                    rcpt_image_fill_rect(img, cx + col * scale, y + r * scale, scale, scale, c);
    }
    return rcpt_image_text_width(text, scale);
}
