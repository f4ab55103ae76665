/* The trivial Runtime API client the Lambda bench measures the stand-in with:
 * GET /next, POST "null" to /response, N times, on one kept-alive libcurl
 * handle, with no Lua and no JSON.  Its time per invocation is the stand-in's
 * own cost plus the HTTP round trips, which `rcpt lambda` pays too.
 *   lambda_client HOST:PORT N */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    const char *name = "Lambda-Runtime-Aws-Request-Id:";
    size_t len = size * n, k = strlen(name);
    if (len > k && strncasecmp(line, name, k) == 0) {
        char *id = ud;
        const char *v = line + k;
        while (*v == ' ')
            v++;
        size_t m = 0;
        while (v + m < line + len && v[m] != '\r' && v[m] != '\n' && m < 255)
            m++;
        memcpy(id, v, m);
        id[m] = '\0';
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lambda_client HOST:PORT N\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    CURL *c = curl_easy_init();
    if (!c)
        return 1;
    char id[256], url[512];
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, id);
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        id[0] = '\0';
        snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/invocation/next", argv[1]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        if (curl_easy_perform(c) != CURLE_OK || !id[0]) {
            rc = 1;
            break;
        }
        snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/invocation/%s/response", argv[1], id);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "null");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 4L);
        if (curl_easy_perform(c) != CURLE_OK)
            rc = 1;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}
