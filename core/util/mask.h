/* Copying text that came from a remote service into an error message. */
#ifndef RCPT_UTIL_MASK_H
#define RCPT_UTIL_MASK_H

#include <stddef.h>

/* Copy src[0..n) into dst (cap bytes, always NUL-terminated) with control
 * characters dropped and every occurrence of secret (may be NULL) replaced by
 * "***".  Control characters go first: masking first let a key split by one
 * ("AIza\u0000Sy...") come out whole once the NUL was dropped (found by
 * tests/fuzz/fuzz_places). */
void rcpt_copy_masked(char *dst, size_t cap, const char *src, size_t n, const char *secret);

#endif
