/* Shared by the libFuzzer targets of tests/fuzz: a failed invariant is a
 * crash (abort), so libFuzzer keeps the input that broke it. */
#ifndef RCPT_FUZZ_UTIL_H
#define RCPT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* 1 when s[0..n) is valid UTF-8 (the JSON parser's definition). */
static inline int fuzz_utf8_ok(const char *s, size_t n)
{
    return s == NULL || rcpt_json_utf8_check(s, n) == n;
}

/* A heap copy of exactly n bytes (no NUL after it), so that AddressSanitizer
 * catches a parser reading one byte past its input.  libFuzzer's own buffer
 * is already exact; targets that need a NUL-terminated copy use fuzz_cstr. */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = 0;
    return s;
}

#endif
