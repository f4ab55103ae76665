/* Number and time formats of spec/ocr-geometry.md §4.1.
 *
 * The original serialises a float as Decimal(str(v)).quantize(d places,
 * ROUND_HALF_UP).  str(v) is Python's shortest round-trip repr, so we first
 * find the shortest digit string that reads back as the same double (the
 * nearest such string when several have the same length, like Python), then
 * round that decimal string.  Rounding the binary value directly would differ
 * on ties such as 0.995 -> "1.00" (the double is 0.99499999...).
 *
 * The image write formats ~15 numbers per letter, so the common range
 * (1e-11 <= |v| < 1e16) uses exact 128-bit integer arithmetic instead of
 * printf/strtod loops; anything else falls back to the loop. */
#include "store.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned __int128 u128;

static const uint64_t POW10[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};

/* Digits of a positive finite double: *ndig digits in dig (no leading or
 * trailing zeros), value = 0.DIGITS x 10^*point. */
static void shortest_slow(double x, char *dig, int *ndig, int *point)
{
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x || p == 17)
            break;
    }
    /* tmp = "D.DDDDe[+-]XX" */
    int n = 0;
    char *e = strchr(tmp, 'e');
    for (char *c = tmp; c < e; c++)
        if (*c >= '0' && *c <= '9')
            dig[n++] = *c;
    int ex = atoi(e + 1);
    while (n > 1 && dig[n - 1] == '0')
        n--;
    *ndig = n;
    *point = ex + 1;
}

static const uint64_t POW5[28] = {
    1ull, 5ull, 25ull, 125ull, 625ull, 3125ull, 15625ull, 78125ull, 390625ull, 1953125ull,
    9765625ull, 48828125ull, 244140625ull, 1220703125ull, 6103515625ull, 30517578125ull,
    152587890625ull, 762939453125ull, 3814697265625ull, 19073486328125ull, 95367431640625ull,
    476837158203125ull, 2384185791015625ull, 11920928955078125ull, 59604644775390625ull,
    298023223876953125ull, 1490116119384765625ull, 7450580596923828125ull};

static const char D2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* decimal digits of v (no leading zero), two at a time from a table */
static int u32_digits(uint32_t v, char *out)
{
    char buf[12], *p = buf + sizeof buf;
    while (v >= 100) {
        uint32_t r = v % 100;
        v /= 100;
        p -= 2;
        memcpy(p, D2 + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, D2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    int n = (int)(buf + sizeof buf - p);
    memcpy(out, p, (size_t)n);
    return n;
}

/* exactly 8 digits of v < 10^8: two independent 4-digit halves */
static void u32_8digits(uint32_t v, char *out)
{
    uint32_t hi = v / 10000, lo = v % 10000;
    memcpy(out, D2 + 2 * (hi / 100), 2);
    memcpy(out + 2, D2 + 2 * (hi % 100), 2);
    memcpy(out + 4, D2 + 2 * (lo / 100), 2);
    memcpy(out + 6, D2 + 2 * (lo % 100), 2);
}

/* decimal digits of t > 0; 17-digit values are split at 10^8 so the digit
 * work runs on 32-bit halves instead of one long chain of 64-bit divisions */
static int u64_digits(uint64_t t, char *out)
{
    if (t < 100000000ull)
        return u32_digits((uint32_t)t, out);
    uint64_t hi = t / 100000000ull;
    uint32_t lo = (uint32_t)(t % 100000000ull);
    int n = hi < 100000000ull ? u32_digits((uint32_t)hi, out) : u64_digits(hi, out);
    u32_8digits(lo, out + n);
    return n + 8;
}

/* v / 10^j and v % 10^j with constant divisors, so the compiler turns them
 * into multiplications (a variable 64-bit division costs ~30 cycles) */
static inline uint64_t divmod10(uint64_t v, int j, uint64_t *r)
{
    switch (j) {
    case 0: *r = v % 1ull; return v / 1ull;
    case 1: *r = v % 10ull; return v / 10ull;
    case 2: *r = v % 100ull; return v / 100ull;
    case 3: *r = v % 1000ull; return v / 1000ull;
    case 4: *r = v % 10000ull; return v / 10000ull;
    case 5: *r = v % 100000ull; return v / 100000ull;
    case 6: *r = v % 1000000ull; return v / 1000000ull;
    case 7: *r = v % 10000000ull; return v / 10000000ull;
    case 8: *r = v % 100000000ull; return v / 100000000ull;
    case 9: *r = v % 1000000000ull; return v / 1000000000ull;
    case 10: *r = v % 10000000000ull; return v / 10000000000ull;
    case 11: *r = v % 100000000000ull; return v / 100000000000ull;
    case 12: *r = v % 1000000000000ull; return v / 1000000000000ull;
    case 13: *r = v % 10000000000000ull; return v / 10000000000000ull;
    case 14: *r = v % 100000000000000ull; return v / 100000000000000ull;
    case 15: *r = v % 1000000000000000ull; return v / 1000000000000000ull;
    case 16: *r = v % 10000000000000000ull; return v / 10000000000000000ull;
    case 17: *r = v % 100000000000000000ull; return v / 100000000000000000ull;
    default: *r = 0; return 0;
    }
}

/* Exact scaled arithmetic: x*10^k = m*5^k / 2^s with x*10^k in [1e16, 1e17),
 * so the rounding interval of x, scaled, is an interval of reals around a
 * 17-digit integer.  Its integer bounds [a, b] come from shifts (the
 * denominator is a power of two); the shortest output is the largest j such
 * that a multiple of 10^j lies in [a, b], and among those the one nearest
 * to x.  Returns 0 when x is outside the range this handles. */
static int shortest_fast(double x, char *dig, int *ndig, int *point)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int bexp = (int)((bits >> 52) & 0x7ff);
    uint64_t frac = bits & ((1ull << 52) - 1);
    if (bexp == 0)
        return 0; /* subnormal: slow path */
    uint64_t m = frac | (1ull << 52);
    int e = bexp - 1075;
    int closer_below = (frac == 0 && bexp > 1);
    /* floor(log10(x)) from the binary exponent, off by at most one; the
     * range check below corrects it */
    int k = 16 - (int)floor((bexp - 1023) * 0.30102999566398120);
    for (int tries = 0; tries < 3; tries++) {
        if (k < 0 || k > 27)
            return 0;
        int s = -(e + k);
        if (s < 1 || s > 60)
            return 0;
        /* numerators over D = 2^(s+2) */
        u128 p5 = POW5[k];
        u128 X = (u128)(4 * m) * p5;
        u128 H = (u128)(4 * m + 2) * p5;
        u128 L = closer_below ? (u128)(4 * m - 1) * p5 : (u128)(4 * m - 2) * p5;
        int sh = s + 2;
        u128 mask = ((u128)1 << sh) - 1;
        uint64_t xi = (uint64_t)(X >> sh);
        if (xi < POW10[16]) { k++; continue; }
        if (xi >= POW10[17]) { k--; continue; }
        int inclusive = (m % 2) == 0;
        uint64_t a = (uint64_t)(L >> sh), b = (uint64_t)(H >> sh);
        if ((L & mask) != 0 || !inclusive)
            a++;
        if ((H & mask) == 0 && !inclusive)
            b--;
        u128 xf = X & mask;            /* fraction of x*10^k, over 2^sh */
        u128 half = (u128)1 << (sh - 1);
        /* the set of j with a multiple of 10^j in [a, b] is downward closed */
        int j = 0;
        uint64_t ra, rb;
        while (j < 17) {
            uint64_t lo = divmod10(a, j + 1, &ra), hi = divmod10(b, j + 1, &rb);
            lo += ra != 0;
            if (lo > hi)
                break;
            j++;
        }
        uint64_t p = POW10[j];
        uint64_t tlo = divmod10(a, j, &ra), thi = divmod10(b, j, &rb);
        tlo += ra != 0;
        if (tlo > thi)
            return 0; /* cannot happen: the interval is wider than 1 */
        uint64_t r, q = divmod10(xi, j, &r), tn = q;
        if (j == 0) {
            if (xf > half || (xf == half && (q & 1)))
                tn++;
        } else if (2 * r > p || (2 * r == p && (xf != 0 || (q & 1)))) {
            tn++;
        }
        if (tn < tlo) tn = tlo;
        if (tn > thi) tn = thi;
        int n = u64_digits(tn, dig);
        *point = n + j - k;
        while (n > 1 && dig[n - 1] == '0')
            n--;
        *ndig = n;
        return 1;
    }
    return 0;
}

int rcpt_fmt_shortest_digits(double x, char *dig, int *ndig, int *point)
{
    if (!(x > 0) || isinf(x))
        return RCPT_EINVAL;
    if (!shortest_fast(x, dig, ndig, point))
        shortest_slow(x, dig, ndig, point);
    return RCPT_OK;
}

int rcpt_fmt_repr(double v, char *out, size_t cap)
{
    char dig[24];
    int n, pt;
    if (!isfinite(v))
        return -1;
    if (v == 0)
        return snprintf(out, cap, signbit(v) ? "-0.0" : "0.0");
    rcpt_fmt_shortest_digits(fabs(v), dig, &n, &pt);
    char tmp[64];
    size_t o = 0;
    if (v < 0)
        tmp[o++] = '-';
    /* Python repr: fixed notation when -4 <= exponent < 16 */
    int ex = pt - 1;
    if (ex >= -4 && ex < 16) {
        if (pt <= 0) {
            tmp[o++] = '0'; tmp[o++] = '.';
            for (int i = 0; i < -pt; i++) tmp[o++] = '0';
            for (int i = 0; i < n; i++) tmp[o++] = dig[i];
        } else {
            for (int i = 0; i < pt; i++) tmp[o++] = i < n ? dig[i] : '0';
            tmp[o++] = '.';
            if (n > pt)
                for (int i = pt; i < n; i++) tmp[o++] = dig[i];
            else
                tmp[o++] = '0';
        }
    } else {
        tmp[o++] = dig[0];
        if (n > 1) {
            tmp[o++] = '.';
            for (int i = 1; i < n; i++) tmp[o++] = dig[i];
        }
        o += (size_t)snprintf(tmp + o, sizeof tmp - o, "e%c%02d", ex < 0 ? '-' : '+', abs(ex));
    }
    tmp[o] = '\0';
    return snprintf(out, cap, "%s", tmp);
}

int rcpt_fmt_decimal(double v, int d, char *out, size_t cap)
{
    if (!isfinite(v) || d < 0 || d > 40)
        return -1;
    char dig[24];
    int n = 1, pt = 1;
    if (v == 0) {
        dig[0] = '0';
    } else {
        rcpt_fmt_shortest_digits(fabs(v), dig, &n, &pt);
    }
    /* common case: every significant digit lies within d decimals, so no
     * rounding; copy the pieces */
    if (pt + d >= n && pt <= 40) {
        size_t o = 0;
        int ipn = pt > 0 ? pt : 1;
        if ((size_t)(ipn + d) + 4 > cap)
            return -1;
        if (signbit(v))
            out[o++] = '-';
        if (pt <= 0) {
            out[o++] = '0';
        } else {
            int k = pt < n ? pt : n;
            memcpy(out + o, dig, (size_t)k);
            o += (size_t)k;
            for (int i = k; i < pt; i++)
                out[o++] = '0';
        }
        if (d > 0) {
            out[o++] = '.';
            int f = 0;
            for (; f < -pt && f < d; f++)
                out[o++] = '0';
            int from = pt > 0 ? pt : 0;
            if (from < n) {
                memcpy(out + o, dig + from, (size_t)(n - from));
                o += (size_t)(n - from);
                f += n - from;
            }
            for (; f < d; f++)
                out[o++] = '0';
        }
        out[o] = '\0';
        return (int)o;
    }
    /* fixed digits: integer part has max(pt,1) places, then d decimals */
    int ip = pt > 0 ? pt : 1;
    int total = ip + d;
    if ((size_t)total + 4 > cap || total > 400)
        return -1;
    char fx[448];
    /* digit at fixed position f (0 = most significant integer place) has
     * place value 10^(ip-1-f); significant digit i has 10^(pt-1-i) */
    for (int f = 0; f <= total; f++) { /* one extra: the rounding digit */
        int i = f - (ip - pt);
        fx[f] = (i >= 0 && i < n) ? dig[i] : '0';
    }
    int carry = fx[total] >= '5';
    for (int f = total - 1; f >= 0 && carry; f--) {
        if (fx[f] == '9') {
            fx[f] = '0';
        } else {
            fx[f]++;
            carry = 0;
        }
    }
    size_t o = 0;
    if (signbit(v))
        out[o++] = '-';
    if (carry)
        out[o++] = '1';
    memcpy(out + o, fx, (size_t)ip);
    o += (size_t)ip;
    if (d > 0) {
        out[o++] = '.';
        memcpy(out + o, fx + ip, (size_t)d);
        o += (size_t)d;
    }
    out[o] = '\0';
    return (int)o;
}

int rcpt_isoformat(int64_t epoch_s, int usec, int aware, char out[40])
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    if (usec < 0 || usec > 999999 || !gmtime_r(&t, &tm))
        return -1;
    int n = snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (usec)
        n += snprintf(out + n, (size_t)(40 - n), ".%06d", usec);
    if (aware)
        n += snprintf(out + n, (size_t)(40 - n), "+00:00");
    return n;
}

int rcpt_now_iso(int aware, char out[40])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return rcpt_isoformat((int64_t)ts.tv_sec, (int)(ts.tv_nsec / 1000), aware, out);
}

static int digits_at(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int rcpt_iso_valid(const char *s)
{
    size_t len = strlen(s);
    if (len < 19 || !digits_at(s, 4) || s[4] != '-' || !digits_at(s + 5, 2) || s[7] != '-' ||
        !digits_at(s + 8, 2) || (s[10] != 'T' && s[10] != ' ') || !digits_at(s + 11, 2) ||
        s[13] != ':' || !digits_at(s + 14, 2) || s[16] != ':' || !digits_at(s + 17, 2))
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        p++;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n < 1 || n > 9)
            return 0;
        p += n;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p == '+' || *p == '-')
        return digits_at(p + 1, 2) && p[3] == ':' && digits_at(p + 4, 2) && p[6] == '\0';
    return *p == '\0';
}
