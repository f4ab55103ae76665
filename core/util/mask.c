#include "mask.h"

#include <stdlib.h>
#include <string.h>

void rcpt_copy_masked(char *dst, size_t cap, const char *src, size_t n, const char *secret)
{
    if (cap == 0)
        return;
    char *tmp = malloc(n + 1);
    if (!tmp) {
        dst[0] = '\0';
        return;
    }
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c >= 0x20 && c != 0x7f)
            tmp[t++] = (char)c;
    }
    size_t kl = secret ? strlen(secret) : 0, o = 0;
    for (size_t i = 0; i < t && o + 1 < cap;) {
        if (kl && i + kl <= t && memcmp(tmp + i, secret, kl) == 0) {
            for (const char *m = "***"; *m && o + 1 < cap; m++)
                dst[o++] = *m;
            i += kl;
            continue;
        }
        dst[o++] = tmp[i++];
    }
    dst[o] = '\0';
    free(tmp);
}
