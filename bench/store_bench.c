/* Storing OCR rows with rcpt_store_put_ocr into a fresh SQLite file.
 *   1. the large receipt (200 lines, 1,000 words, 5,000 letters) built by
 *      hand in C: median ms of several runs, image rows only and image +
 *      receipt rows, with the serialisation alone (rcpt_ocr_rows) beside it;
 *   2. each FILE given (Vision OCR JSON): parse + validate + store, median ms.
 *   build/bench/store_bench [-n runs] [FILE.ocr.json ...]   (runs 15)
 * bench/store_bench.sh runs it beside Python's json.loads + sqlite3. */
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

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

/* parse + validate + store of a real file, median of runs */
static int bench_file(rcpt_store *st, const char *path, int runs)
{
    size_t len;
    char *json = slurp(path, &len);
    if (!json) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 1;
    }
    double *all = calloc((size_t)runs, sizeof *all), *store = calloc((size_t)runs, sizeof *store),
           *cpu = calloc((size_t)runs, sizeof *cpu);
    rcpt_err e;
    size_t rows = 0;
    for (int r = 0; r < runs; r++) {
        char id[37];
        rcpt_uuid4(id);
        rcpt_ocr_doc *doc = NULL;
        double t0 = now_ms(), c0 = cpu_ms();
        if (rcpt_ocr_parse(json, len, &doc, &e)) {
            fprintf(stderr, "%s: %s\n", path, e.msg);
            return 1;
        }
        double t1 = now_ms();
        if (rcpt_store_put_ocr(st, id, doc, 1, 0, &e)) {
            fprintf(stderr, "%s: %s\n", path, e.msg);
            return 1;
        }
        double t2 = now_ms();
        cpu[r] = cpu_ms() - c0;
        all[r] = t2 - t0;
        store[r] = t2 - t1;
        rows = doc->n_lines + doc->n_words + doc->n_letters;
        rcpt_ocr_free(doc);
    }
    const char *base = strrchr(path, '/');
    printf("  %-32s %7zu B %5zu rows  parse+validate+store %8.2f ms (cpu %.2f)  store %8.2f ms\n",
           base ? base + 1 : path, len, rows, median(all, runs), median(cpu, runs), median(store, runs));
    free(all);
    free(store);
    free(cpu);
    free(json);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 15, argi = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        runs = atoi(argv[2]);
        argi = 3;
    }
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
    if (argi < argc)
        printf("real files (image rows, a new image id each run):\n");
    for (int i = argi; i < argc; i++)
        if (bench_file(st, argv[i], runs))
            return 1;
    rcpt_store_close(st);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    free(ser); free(img); free(both); free(again); free(imgcpu);
    free(d.lines); free(d.words); free(d.letters);
    return 0;
}
