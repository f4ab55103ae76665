/* Storing the large receipt (200 lines, 1,000 words, 5,000 letters, built
 * by hand) with rcpt_store_put_ocr into a fresh SQLite file: median ms of
 * several runs, for image rows only and for image + receipt rows, with the
 * serialisation alone (rcpt_ocr_rows) beside it.
 *   build/bench/bench_store_bench [runs]            (default 15) */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Vision-like values: 17 significant digits, as the real OCR JSON has */
static double jitter(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (double)(*s >> 8) / 16777216.0 * 1e-3;
}

static rcpt_ocr_geom geom(const char *t, double x, double y, double w, double h, unsigned *s)
{
    rcpt_ocr_geom g;
    g.text = t;
    g.text_len = strlen(t);
    x += jitter(s);
    y += jitter(s);
    g.bbox = (rcpt_bbox){x, y, w + jitter(s), h + jitter(s)};
    g.top_left = (rcpt_point){x + jitter(s), y + h};
    g.top_right = (rcpt_point){x + w, y + h + jitter(s)};
    g.bottom_left = (rcpt_point){x, y + jitter(s)};
    g.bottom_right = (rcpt_point){x + w + jitter(s), y};
    g.angle_degrees = 0.2 + jitter(s) * 100;
    g.angle_radians = g.angle_degrees * 0.017453292519943295;
    g.confidence = 0.3 + jitter(s) * 500;
    return g;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 15;
    if (runs < 1)
        runs = 1;
    enum { NL = 200, WPL = 5, LPW = 5 };
    rcpt_ocr_doc d;
    memset(&d, 0, sizeof d);
    d.n_lines = NL;
    d.n_words = NL * WPL;
    d.n_letters = NL * WPL * LPW;
    d.lines = calloc(d.n_lines, sizeof *d.lines);
    d.words = calloc(d.n_words, sizeof *d.words);
    d.letters = calloc(d.n_letters, sizeof *d.letters);
    static const char *const WORDS[] = {"TOTAL", "12.99", "SUBTO", "CASH!", "-----"};
    static char letters[26][2];
    for (int i = 0; i < 26; i++)
        letters[i][0] = (char)('A' + i);
    unsigned seed = 42;
    size_t w = 0, c = 0;
    for (int i = 0; i < NL; i++) {
        double y = 0.95 - i * 0.0045;
        d.lines[i].g = geom("TOTAL 12.99 SUBTO CASH! -----", 0.05, y, 0.9, 0.004, &seed);
        d.lines[i].line_id = i + 1;
        d.lines[i].words = &d.words[w];
        d.lines[i].n_words = WPL;
        for (int j = 0; j < WPL; j++, w++) {
            rcpt_ocr_word *W = &d.words[w];
            W->g = geom(WORDS[j], 0.05 + j * 0.18, y, 0.16, 0.004, &seed);
            W->line_id = i + 1;
            W->word_id = j + 1;
            W->is_noise = j == 4;
            if (j == 1) {
                W->ed_type = "currency";
                W->ed_value = "12.99";
                W->ed_value_len = 5;
            }
            W->letters = &d.letters[c];
            W->n_letters = LPW;
            for (int k = 0; k < LPW; k++, c++) {
                d.letters[c].g = geom(letters[(j * 5 + k) % 26], 0.05 + j * 0.18 + k * 0.03, y, 0.03,
                                      0.004, &seed);
                d.letters[c].line_id = i + 1;
                d.letters[c].word_id = j + 1;
                d.letters[c].letter_id = k + 1;
            }
        }
    }
    char dir[] = "/tmp/rcpt-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char url[400], path[300];
    snprintf(path, sizeof path, "%s/bench.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    rcpt_store *st;
    rcpt_err e;
    if (rcpt_store_open(url, &st, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const char *ids[2] = {"3f52804b-2fad-4e00-92c8-b593da3a8ed3", "4f52804b-2fad-4e00-92c8-b593da3a8ed3"};
    double *ser = calloc((size_t)runs, sizeof *ser), *img = calloc((size_t)runs, sizeof *img),
           *both = calloc((size_t)runs, sizeof *both), *again = calloc((size_t)runs, sizeof *again),
           *imgcpu = calloc((size_t)runs, sizeof *imgcpu);
    size_t bytes = 0;
    for (int r = 0; r < runs; r++) {
        rcpt_buf arena = RCPT_BUF_INIT;
        rcpt_row *rows;
        size_t n;
        double t0 = now_ms();
        rcpt_ocr_rows(ids[0], &d, 1, 0, &arena, &rows, &n, &e);
        ser[r] = now_ms() - t0;
        bytes = arena.len;
        free(rows);
        rcpt_buf_free(&arena);
        char id[37];
        rcpt_uuid4(id); /* a new image each run: an insert, not a replace */
        t0 = now_ms();
        double c0 = cpu_ms();
        if (rcpt_store_put_ocr(st, id, &d, 1, 0, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        img[r] = now_ms() - t0;
        imgcpu[r] = cpu_ms() - c0;
        rcpt_uuid4(id);
        t0 = now_ms();
        rcpt_store_put_ocr(st, id, &d, 1, 1, &e);
        both[r] = now_ms() - t0;
        t0 = now_ms();
        rcpt_store_put_ocr(st, id, &d, 1, 1, &e); /* the same image again */
        again[r] = now_ms() - t0;
    }
    printf("store_bench: large receipt %zu lines, %zu words, %zu letters; %d runs; SQLite WAL %s\n",
           d.n_lines, d.n_words, d.n_letters, runs, path);
    printf("  %-44s %8.2f ms  (%.1f MB of DynamoDB JSON, %.0f MB/s)\n", "serialise rows only (rcpt_ocr_rows)",
           median(ser, runs), bytes / 1e6, bytes / 1e6 / (median(ser, runs) / 1e3));
    printf("  %-44s %8.2f ms  (%zu rows)\n", "put_ocr image rows (one transaction)", median(img, runs),
           d.n_lines + d.n_words + d.n_letters);
    printf("  %-44s %8.2f ms  (process CPU time of the same calls)\n", "  cpu time", median(imgcpu, runs));
    printf("  %-44s %8.2f ms  (%zu rows)\n", "put_ocr image + receipt rows", median(both, runs),
           2 * (d.n_lines + d.n_words + d.n_letters));
    printf("  %-44s %8.2f ms  (delete old rows + insert)\n", "put_ocr image + receipt, same image again",
           median(again, runs));
    rcpt_store_close(st);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    free(ser); free(img); free(both); free(again); free(imgcpu);
    free(d.lines); free(d.words); free(d.letters);
    return 0;
}
