/* A minimal test harness for the C unit tests: each test file is one ctest
 * test; CHECK* record failures and go on; check_done() prints a summary and
 * gives the exit status. */
#ifndef RCPT_TEST_CHECK_H
#define RCPT_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_total, check_failed;

#define CHECK(cond) do { check_total++; if (!(cond)) { check_failed++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_INT(a, b) do { long long va_ = (long long)(a), vb_ = (long long)(b); check_total++; \
    if (va_ != vb_) { check_failed++; fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
    __FILE__, __LINE__, #a, va_, vb_); } } while (0)

#define CHECK_STR(a, b) do { const char *sa_ = (a), *sb_ = (b); check_total++; \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) { check_failed++; fprintf(stderr, \
    "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, sa_ ? sa_ : "(null)", \
    sb_ ? sb_ : "(null)"); } } while (0)

#define CHECK_NEAR(a, b, tol) do { double da_ = (a), db_ = (b); check_total++; \
    if (!(fabs(da_ - db_) <= (tol))) { check_failed++; fprintf(stderr, \
    "%s:%d: %s == %.17g, expected %.17g (tol %g)\n", __FILE__, __LINE__, #a, da_, db_, \
    (double)(tol)); } } while (0)

static inline int check_done(void)
{
    printf("%d checks, %d failed\n", check_total, check_failed);
    return check_failed ? 1 : 0;
}

#endif
