/* bench_ocr_parse [-n RUNS] FILE...: parse + validate each Vision OCR JSON
 * file RUNS times (after one warm-up) and print, per file, the median time
 * of rcpt_ocr_parse (+ free) and of the bare JSON DOM parse, in ms and MB/s.
 * Output lines: "<file> <bytes> <ocr_median_ms> <json_median_ms> <lines> <words> <letters>".
 * bench/ocr_parse.sh runs it beside Python's json.loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"
#include "ocr/ocr.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
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

int main(int argc, char **argv)
{
    int runs = 31, i = 1;
    if (argc > 2 && !strcmp(argv[1], "-n")) {
        runs = atoi(argv[2]);
        i = 3;
    }
    if (i >= argc || runs < 1) {
        fprintf(stderr, "usage: bench_ocr_parse [-n RUNS] FILE...\n");
        return 2;
    }
    double *t = malloc(sizeof(double) * (size_t)runs), *tj = malloc(sizeof(double) * (size_t)runs);
    for (; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc((size_t)len);
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) return 1;
        fclose(f);
        rcpt_err err = {0};
        rcpt_ocr_doc *doc = NULL;
        if (rcpt_ocr_parse(buf, (size_t)len, &doc, &err)) {
            fprintf(stderr, "%s: %s\n", argv[i], err.msg);
            return 1;
        }
        size_t nl = doc->n_lines, nw = doc->n_words, nc = doc->n_letters;
        rcpt_ocr_free(doc);
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms();
            rcpt_ocr_parse(buf, (size_t)len, &doc, &err);
            rcpt_ocr_free(doc);
            t[r] = now_ms() - t0;
            rcpt_json_doc *jd = NULL;
            t0 = now_ms();
            rcpt_json_parse(buf, (size_t)len, NULL, &jd, &err, NULL);
            rcpt_json_free(jd);
            tj[r] = now_ms() - t0;
        }
        printf("%s %ld %.4f %.4f %zu %zu %zu\n", argv[i], len, median(t, runs), median(tj, runs), nl, nw, nc);
        free(buf);
    }
    free(t);
    free(tj);
    return 0;
}
