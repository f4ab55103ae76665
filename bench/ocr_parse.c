/* bench_ocr_parse [-n RUNS] [--mallopt] [--once] [--cpu] FILE...
 *
 * Parse + validate each Vision OCR JSON file with rcpt_ocr_parse (the
 * streaming parser) and print, per file, the median time in ms of
 *   ocr    rcpt_ocr_parse + rcpt_ocr_free (JSON + validation + records),
 *   dom    the DOM parser alone (rcpt_json_parse + free, no validation),
 *   tokens the pull reader alone (every token, no records).
 * --once: one rcpt_ocr_parse in this process, nothing before it (the cold
 *         figure: the arena's pages are fresh from the kernel); prints
 *         "<file> <bytes> <ms> <page faults during the parse>".
 * --cpu:  CPU time of the process instead of wall time (on a shared machine
 *         the wall time also counts the other processes' turns).
 * --mallopt: the allocator settings of the rcpt host (bindings/host/main.c),
 *         so freed pages stay in the process as in a long-running rcpt.
 * Default output lines: "<file> <bytes> <ocr_ms> <dom_ms> <tokens_ms> <lines> <words> <letters>".
 * bench/ocr_parse.sh runs it beside Python's json.loads. */
#include <malloc.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"
#include "ocr/ocr.h"

static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
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

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int tokens(const char *buf, size_t len)
{
    rcpt_json_reader r;
    rcpt_json_tok t;
    rcpt_json_reader_init(&r, buf, len, 0, NULL);
    int n = 0;
    do {
        if (rcpt_json_next(&r, &t)) break;
        n++;
    } while (t.type != RCPT_JSON_T_EOF);
    rcpt_json_reader_done(&r);
    return n;
}

int main(int argc, char **argv)
{
    int runs = 31, once = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--once")) once = 1;
        else if (!strcmp(argv[i], "--cpu")) bench_clock = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--mallopt")) {
            /* the same values as bindings/host/main.c */
            if (!mallopt(M_MMAP_THRESHOLD, 32 << 20) || !mallopt(M_TRIM_THRESHOLD, 128 << 20)) {
                fprintf(stderr, "mallopt refused\n");
                return 1;
            }
        } else break;
    }
    if (i >= argc || runs < 1) {
        fprintf(stderr, "usage: bench_ocr_parse [-n RUNS] [--mallopt] [--once] [--cpu] FILE...\n");
        return 2;
    }
    if (once) {
        for (; i < argc; i++) {
            size_t len;
            char *buf = slurp(argv[i], &len);
            if (!buf) return 1;
            rcpt_err err = {0};
            rcpt_ocr_doc *doc = NULL;
            struct rusage u0, u1;
            getrusage(RUSAGE_SELF, &u0);
            double t0 = now_ms();
            int rc = rcpt_ocr_parse(buf, len, &doc, &err);
            rcpt_ocr_free(doc);
            double t = now_ms() - t0;
            getrusage(RUSAGE_SELF, &u1);
            if (rc) {
                fprintf(stderr, "%s: %s\n", argv[i], err.msg);
                return 1;
            }
            printf("%s %zu %.4f %ld\n", argv[i], len, t, u1.ru_minflt - u0.ru_minflt);
            free(buf);
        }
        return 0;
    }
    double *t = malloc(sizeof(double) * (size_t)runs * 3), *tj = t + runs, *tt = tj + runs;
    for (; i < argc; i++) {
        size_t len;
        char *buf = slurp(argv[i], &len);
        if (!buf) return 1;
        rcpt_err err = {0};
        rcpt_ocr_doc *doc = NULL;
        if (rcpt_ocr_parse(buf, len, &doc, &err)) {
            fprintf(stderr, "%s: %s\n", argv[i], err.msg);
            return 1;
        }
        size_t nl = doc->n_lines, nw = doc->n_words, nc = doc->n_letters;
        rcpt_ocr_free(doc);
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms();
            rcpt_ocr_parse(buf, len, &doc, &err);
            rcpt_ocr_free(doc);
            t[r] = now_ms() - t0;
            rcpt_json_doc *jd = NULL;
            t0 = now_ms();
            rcpt_json_parse(buf, len, NULL, &jd, &err, NULL);
            rcpt_json_free(jd);
            tj[r] = now_ms() - t0;
            t0 = now_ms();
            tokens(buf, len);
            tt[r] = now_ms() - t0;
        }
        printf("%s %zu %.4f %.4f %.4f %zu %zu %zu\n", argv[i], len, median(t, runs), median(tj, runs),
               median(tt, runs), nl, nw, nc);
        free(buf);
    }
    free(t);
    return 0;
}
