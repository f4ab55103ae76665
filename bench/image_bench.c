/* Pixels benchmark, our side (bench/image.sh runs it beside Pillow and OpenCV).
 *
 *   image_bench --dir DIR [--runs N] [--threads T]
 *
 * Generates a synthetic 12 MP phone photo (3024x4032 JPEG: gradient table,
 * a tilted sheet of paper with dark text strokes, sensor-like noise) into
 * DIR/photo.jpg with the PHOTO and SCAN coefficients in DIR/coeffs.txt, then
 * times JPEG decode, the PHOTO perspective warp (~1500x3000), PNG encode of
 * the crop and a SCAN affine crop (warps and PNG encode on --threads T
 * threads, 0 = the library's default): median of N runs each, printed as
 * "rcpt <what> <ms>" lines.  Peak RSS of one decode + warp + PNG encode is
 * measured in a child process (this program re-executed with --rss, which
 * reports its VmHWM). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/image.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of the whole process (all threads): the work done, which a
 * machine loaded by other jobs disturbs much less than the wall clock */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const rcpt_err *e)
{
    fprintf(stderr, "image_bench: %s: %s\n", what, e ? e->msg : "failed");
    exit(1);
}

/* The receipt quad in the photo (TL, TR, BR, BL) and the crop size. */
static const double quad[8] = {760, 500, 2250, 430, 2320, 3480, 700, 3420};
enum { PHOTO_W = 1530, PHOTO_H = 3000 };

/* dst -> src perspective coefficients (PIL convention), Gaussian elimination */
static void perspective_coeffs(const double *src, const double *dst, double c[8])
{
    double A[8][9];
    for (int i = 0; i < 4; i++) {
        double sx = src[2 * i], sy = src[2 * i + 1], dx = dst[2 * i], dy = dst[2 * i + 1];
        double r0[9] = {dx, dy, 1, 0, 0, 0, -sx * dx, -sx * dy, sx};
        double r1[9] = {0, 0, 0, dx, dy, 1, -sy * dx, -sy * dy, sy};
        memcpy(A[2 * i], r0, sizeof r0);
        memcpy(A[2 * i + 1], r1, sizeof r1);
    }
    for (int i = 0; i < 8; i++) {
        int p = i;
        for (int r = i + 1; r < 8; r++)
            if (fabs(A[r][i]) > fabs(A[p][i]))
                p = r;
        for (int k = 0; k < 9; k++) {
            double t = A[i][k];
            A[i][k] = A[p][k];
            A[p][k] = t;
        }
        for (int r = 0; r < 8; r++) {
            if (r == i)
                continue;
            double f = A[r][i] / A[i][i];
            for (int k = i; k < 9; k++)
                A[r][k] -= f * A[i][k];
        }
    }
    for (int i = 0; i < 8; i++)
        c[i] = A[i][8] / A[i][i];
}

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static unsigned xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static void make_photo(rcpt_image *img)
{
    rcpt_err e;
    if (rcpt_image_new(img, 3024, 4032, 3, 0, &e))
        die("new", &e);
    for (int y = 0; y < img->height; y++) {
        unsigned char *p = img->px + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++, p += 3) {
            double t = (x + y) / 7056.0;
            p[0] = (unsigned char)(90 + 60 * t);
            p[1] = (unsigned char)(60 + 40 * t);
            p[2] = (unsigned char)(40 + 30 * t);
        }
    }
    rcpt_image_fill_polygon(img, quad, 4, (rcpt_rgba){238, 234, 226, 255});
    static const char *words[] = {"TOTAL", "12.99", "SUBTOTAL", "TAX", "VISA", "THANK YOU",
                                  "BAR", "2X", "BEER", "4.50", "#1234", "CASH"};
    int k = 0;
    for (int y = 640; y < 3300; y += 70)
        for (int x = 900; x < 2000; x += 300) {
            rcpt_rgba ink = {30, 28, 35, 255};
            rcpt_image_draw_text(img, x + (int)(xorshift() % 60), y, words[k++ % 12], 5, ink);
        }
    /* noise, and a soft shadow across the sheet */
    for (int y = 0; y < img->height; y++) {
        unsigned char *p = img->px + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++, p += 3) {
            int n = (int)(xorshift() % 17) - 8;
            int s = (x > 1500 && y > 2000) ? -18 : 0;
            for (int c = 0; c < 3; c++) {
                int v = p[c] + n + s;
                p[c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* SCAN: a rotated rectangle (centre, size, angle) as §8.3 e */
static void scan_coeffs(double c[6], int *w, int *h)
{
    double cx = 1500, cy = 2000, rw = 1200, rh = 2600, ang = 8 * M_PI / 180;
    *w = (int)rw;
    *h = (int)rh;
    double ca = cos(ang), sa = sin(ang);
    double tlx = cx + (-rw / 2) * ca - (-rh / 2) * sa, tly = cy + (-rw / 2) * sa + (-rh / 2) * ca;
    double trx = cx + (rw / 2) * ca - (-rh / 2) * sa, try_ = cy + (rw / 2) * sa + (-rh / 2) * ca;
    double blx = cx + (-rw / 2) * ca - (rh / 2) * sa, bly = cy + (-rw / 2) * sa + (rh / 2) * ca;
    c[0] = (trx - tlx) / (*w - 1);
    c[3] = (try_ - tly) / (*w - 1);
    c[1] = (blx - tlx) / (*h - 1);
    c[4] = (bly - tly) / (*h - 1);
    c[2] = tlx;
    c[5] = tly;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* --rss FILE: one decode + PHOTO warp + PNG encode, nothing else */
static int rss_mode(const char *path, int threads)
{
    size_t n;
    unsigned char *bytes = read_file(path, &n);
    if (!bytes)
        return 1;
    rcpt_image img, warped;
    rcpt_buf png = RCPT_BUF_INIT;
    rcpt_err e;
    double c[8], dst[8] = {0, 0, PHOTO_W - 1, 0, PHOTO_W - 1, PHOTO_H - 1, 0, PHOTO_H - 1};
    perspective_coeffs(quad, dst, c);
    if (rcpt_image_decode(bytes, n, 0, &img, &e))
        die("decode", &e);
    free(bytes);
    if (rcpt_image_warp_perspective(&img, PHOTO_W, PHOTO_H, c, threads, &warped, &e))
        die("warp", &e);
    if (rcpt_image_encode_png_mt(&warped, -1, threads, &png, &e))
        die("png", &e);
    rcpt_buf_free(&png);
    rcpt_image_free(&warped);
    rcpt_image_free(&img);
    /* VmHWM, not getrusage: ru_maxrss survives exec and would report the
     * parent's peak (Linux keeps signal->maxrss across execve) */
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            printf("%ld\n", strtol(line + 6, NULL, 10));
    if (f)
        fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int runs = 5, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rss") && i + 1 < argc)
            return rss_mode(argv[++i], threads);
        else {
            fprintf(stderr, "usage: image_bench --dir DIR [--runs N] [--threads T]\n");
            return 2;
        }
    }
    if (!dir || runs < 1 || runs > 100) {
        fprintf(stderr, "usage: image_bench --dir DIR [--runs N] [--threads T]\n");
        return 2;
    }
    char path[4096];
    rcpt_err e;
    rcpt_image photo;
    make_photo(&photo);
    rcpt_buf jpg = RCPT_BUF_INIT;
    if (rcpt_image_encode_jpeg(&photo, 92, &jpg, &e))
        die("encode jpeg", &e);
    rcpt_image_free(&photo);
    snprintf(path, sizeof path, "%s/photo.jpg", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(jpg.data, 1, jpg.len, f) != jpg.len || fclose(f))
        die(path, NULL);

    double pc[8], dst[8] = {0, 0, PHOTO_W - 1, 0, PHOTO_W - 1, PHOTO_H - 1, 0, PHOTO_H - 1};
    perspective_coeffs(quad, dst, pc);
    double ac[6];
    int sw, sh;
    scan_coeffs(ac, &sw, &sh);
    snprintf(path, sizeof path, "%s/coeffs.txt", dir);
    f = fopen(path, "w");
    if (!f)
        die(path, NULL);
    fprintf(f, "photo %d %d", PHOTO_W, PHOTO_H);
    for (int i = 0; i < 8; i++)
        fprintf(f, " %.17g", pc[i]);
    fprintf(f, "\nscan %d %d", sw, sh);
    for (int i = 0; i < 6; i++)
        fprintf(f, " %.17g", ac[i]);
    fprintf(f, "\n");
    fclose(f);

    double *t = malloc((size_t)runs * sizeof *t), *tc = malloc((size_t)runs * sizeof *tc);
    rcpt_image img, warped, crop;
    /* decode */
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        if (rcpt_image_decode(jpg.data, jpg.len, 0, &img, &e))
            die("decode", &e);
        t[r] = now_ms() - t0;
        if (r + 1 < runs)
            rcpt_image_free(&img);
    }
    printf("rcpt decode_ms %.1f\n", median(t, runs));
    printf("rcpt warp_threads %d\n", threads ? threads : rcpt_image_default_threads());
    printf("rcpt png_threads %d\n", threads ? threads : rcpt_image_default_threads());
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        if (rcpt_image_warp_perspective(&img, PHOTO_W, PHOTO_H, pc, threads, &warped, &e))
            die("warp", &e);
        t[r] = now_ms() - t0;
        tc[r] = cpu_ms() - c0;
        if (r + 1 < runs)
            rcpt_image_free(&warped);
    }
    printf("rcpt photo_warp_ms %.1f\n", median(t, runs));
    printf("rcpt photo_warp_cpu_ms %.1f\n", median(tc, runs));
    size_t png_len = 0;
    for (int r = 0; r < runs; r++) {
        rcpt_buf png = RCPT_BUF_INIT;
        double t0 = now_ms(), c0 = cpu_ms();
        if (rcpt_image_encode_png_mt(&warped, -1, threads, &png, &e))
            die("png", &e);
        t[r] = now_ms() - t0;
        tc[r] = cpu_ms() - c0;
        png_len = png.len;
        if (r == 0) {
            snprintf(path, sizeof path, "%s/rcpt_crop.png", dir);
            f = fopen(path, "wb");
            if (f) {
                fwrite(png.data, 1, png.len, f);
                fclose(f);
            }
        }
        rcpt_buf_free(&png);
    }
    printf("rcpt png_encode_ms %.1f\n", median(t, runs));
    printf("rcpt png_encode_cpu_ms %.1f\n", median(tc, runs));
    printf("rcpt png_bytes %zu\n", png_len);
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        if (rcpt_image_warp_affine(&img, sw, sh, ac, threads, &crop, &e))
            die("affine", &e);
        t[r] = now_ms() - t0;
        tc[r] = cpu_ms() - c0;
        rcpt_image_free(&crop);
    }
    printf("rcpt scan_crop_ms %.1f\n", median(t, runs));
    printf("rcpt scan_crop_cpu_ms %.1f\n", median(tc, runs));
    rcpt_image_free(&warped);
    printf("rcpt decoded_mb %.1f\n", (double)img.stride * img.height / 1048576.0);
    rcpt_image_free(&img);
    rcpt_buf_free(&jpg);
    free(t);
    free(tc);

    /* peak RSS in a fresh process */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' --threads %d --rss '%s/photo.jpg'", argv[0], threads, dir);
    FILE *child = popen(cmd, "r");
    long kb = 0;
    if (!child || fscanf(child, "%ld", &kb) != 1 || pclose(child) != 0)
        die("rss child", NULL);
    printf("rcpt peak_rss_mb %.1f\n", kb / 1024.0);
    return 0;
}
