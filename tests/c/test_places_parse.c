/* Google Places answer parsing (rcpt_places_parse) on canned bodies shaped
 * like Google's legacy Web Service answers, including malformed ones, and the
 * PlacesCache keys of spec §5.7.  Also: no message ever holds the key. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net/places.h"

#define KEY "AIzaCannedKey-0123456789"

static int parse(rcpt_places_endpoint ep, const char *body, rcpt_places_result *r, rcpt_err *e)
{
    rcpt_err_clear(e);
    int rc = rcpt_places_parse(ep, body, strlen(body), KEY, r, e);
    CHECK(strstr(e->msg, KEY) == NULL);
    return rc;
}

static void ok_bodies(void)
{
    rcpt_places_result r;
    rcpt_places_result_init(&r);
    rcpt_err e = {0};

    /* find place, two candidates, only some fields */
    CHECK_INT(parse(RCPT_PLACES_FIND,
                    "{\"candidates\":[{\"place_id\":\"A1\",\"name\":\"Sprouts Farmers Market\","
                    "\"formatted_address\":\"5 W Thousand Oaks Blvd, Westlake Village, CA 91362, USA\","
                    "\"types\":[\"grocery_or_supermarket\",\"establishment\"],\"business_status\":\"OPERATIONAL\"},"
                    "{\"place_id\":\"B2\"}],\"status\":\"OK\"}",
                    &r, &e), RCPT_OK);
    CHECK_STR(r.status, "OK");
    CHECK_INT(r.found, 1);
    CHECK_INT(r.n, 2);
    CHECK_STR(r.places[0].place_id, "A1");
    CHECK_STR(r.places[0].name, "Sprouts Farmers Market");
    CHECK_INT(r.places[0].n_types, 2);
    CHECK_STR(r.places[0].types[1], "establishment");
    CHECK(r.places[0].formatted_phone_number == NULL);
    CHECK_INT(r.places[0].has_location, 0);
    CHECK_STR(r.places[1].place_id, "B2");
    CHECK(r.places[1].name == NULL);
    CHECK_INT(r.places[1].user_ratings_total, -1);
    CHECK_INT(r.places[1].price_level, -1);

    /* details: an object, numbers, geometry, escapes, null fields */
    CHECK_INT(parse(RCPT_PLACES_DETAILS,
                    "{\n   \"html_attributions\" : [],\n   \"result\" : {\"place_id\":\"ChIJx\","
                    "\"name\":\"Caf\\u00e9 \\\"Luna\\\"\",\"formatted_phone_number\":\"(805) 917-4200\","
                    "\"international_phone_number\":\"+1 805-917-4200\",\"website\":null,"
                    "\"geometry\":{\"location\":{\"lat\":34.1761,\"lng\":-118.8487},\"viewport\":{}},"
                    "\"rating\":4.5,\"user_ratings_total\":1234,\"price_level\":2,"
                    "\"opening_hours\":{\"open_now\":true},\"vicinity\":\"5 W Thousand Oaks Blvd\"},\n"
                    "   \"status\" : \"OK\"\n}\n",
                    &r, &e), RCPT_OK);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.places[0].name, "Caf\xc3\xa9 \"Luna\"");
    CHECK_STR(r.places[0].formatted_phone_number, "(805) 917-4200");
    CHECK(r.places[0].website == NULL);
    CHECK_INT(r.places[0].has_location, 1);
    CHECK_NEAR(r.places[0].lat, 34.1761, 0);
    CHECK_NEAR(r.places[0].lng, -118.8487, 0);
    CHECK_INT(r.places[0].has_rating, 1);
    CHECK_NEAR(r.places[0].rating, 4.5, 0);
    CHECK_INT(r.places[0].user_ratings_total, 1234);
    CHECK_INT(r.places[0].price_level, 2);
    CHECK_INT(r.places[0].n_types, 0);

    /* text search results and autocomplete predictions */
    CHECK_INT(parse(RCPT_PLACES_TEXTSEARCH,
                    "{\"html_attributions\":[],\"results\":[{\"place_id\":\"T\",\"name\":\"Vons\"}],"
                    "\"status\":\"OK\",\"next_page_token\":\"zzz\"}", &r, &e), RCPT_OK);
    CHECK_STR(r.places[0].name, "Vons");
    CHECK_INT(parse(RCPT_PLACES_AUTOCOMPLETE,
                    "{\"predictions\":[{\"description\":\"2725 Agoura Rd, Westlake Village, CA\","
                    "\"place_id\":\"P\",\"types\":[\"premise\",\"geocode\"],\"terms\":[]}],\"status\":\"OK\"}",
                    &r, &e), RCPT_OK);
    CHECK_STR(r.places[0].description, "2725 Agoura Rd, Westlake Village, CA");

    /* not found is not an error */
    CHECK_INT(parse(RCPT_PLACES_FIND, "{\"candidates\":[],\"status\":\"ZERO_RESULTS\"}", &r, &e), RCPT_OK);
    CHECK_INT(r.found, 0);
    CHECK_INT(r.n, 0);
    CHECK_STR(r.status, "ZERO_RESULTS");
    CHECK_INT(parse(RCPT_PLACES_DETAILS, "{\"html_attributions\":[],\"status\":\"NOT_FOUND\"}", &r, &e), RCPT_OK);
    CHECK_INT(r.found, 0);
    CHECK_STR(r.status, "NOT_FOUND");
    /* OK with an empty list: nothing found either */
    CHECK_INT(parse(RCPT_PLACES_TEXTSEARCH, "{\"results\":[],\"status\":\"OK\"}", &r, &e), RCPT_OK);
    CHECK_INT(r.found, 0);
    /* a byte order mark is fine */
    CHECK_INT(parse(RCPT_PLACES_FIND, "\xef\xbb\xbf{\"candidates\":[{\"place_id\":\"Z\"}],\"status\":\"OK\"}", &r, &e),
              RCPT_OK);
    CHECK_INT(r.found, 1);
    rcpt_places_result_free(&r);
}

static void status_errors(void)
{
    rcpt_places_result r;
    rcpt_places_result_init(&r);
    rcpt_err e = {0};
    static const struct { const char *status; int code; } cases[] = {
        {"OVER_QUERY_LIMIT", RCPT_EHTTP}, {"REQUEST_DENIED", RCPT_EAUTH}, {"INVALID_REQUEST", RCPT_EHTTP},
        {"UNKNOWN_ERROR", RCPT_EHTTP}, {"OVER_DAILY_LIMIT", RCPT_EHTTP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"candidates\":[{\"place_id\":\"ignored\"}],\"error_message\":\"Problem with key " KEY
                 " here\",\"status\":\"%s\"}", cases[i].status);
        CHECK_INT(parse(RCPT_PLACES_FIND, body, &r, &e), cases[i].code);
        CHECK_INT(e.code, cases[i].code);
        CHECK_STR(r.status, cases[i].status);
        CHECK_INT(r.n, 0);
        CHECK_INT(r.found, 0);
        CHECK(strstr(e.msg, cases[i].status) != NULL);
        CHECK(strstr(e.msg, "Problem with key *** here") != NULL);
    }
    /* a status without a message; and a hostile, long status is cut and sanitised */
    CHECK_INT(parse(RCPT_PLACES_DETAILS, "{\"status\":\"OVER_QUERY_LIMIT\"}", &r, &e), RCPT_EHTTP);
    CHECK_STR(e.msg, "status OVER_QUERY_LIMIT");
    CHECK_INT(parse(RCPT_PLACES_DETAILS, "{\"status\":\"A\\nB<script>CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC\"}", &r, &e),
              RCPT_EHTTP);
    CHECK_INT(strlen(r.status), 31);
    CHECK(strchr(r.status, '\n') == NULL && strchr(r.status, '<') == NULL);
    rcpt_places_result_free(&r);
}

static void malformed(void)
{
    static const struct { rcpt_places_endpoint ep; const char *body; const char *want; } cases[] = {
        {RCPT_PLACES_FIND, "", "not JSON"},
        {RCPT_PLACES_FIND, "{", "not JSON"},
        {RCPT_PLACES_FIND, "{\"candidates\":[{\"place_id\":\"A\"}],\"status\":\"OK\"", "not JSON"},
        {RCPT_PLACES_FIND, "<html><body>502 Bad Gateway</body></html>", "not JSON"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\"} trailing", "not JSON"},
        {RCPT_PLACES_FIND, "[]", "must be an object"},
        {RCPT_PLACES_FIND, "null", "must be an object"},
        {RCPT_PLACES_FIND, "{\"candidates\":[]}", "response.status"},
        {RCPT_PLACES_FIND, "{\"status\":200}", "response.status"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\"}", "response.candidates: missing"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\",\"candidates\":{}}", "response.candidates: missing or not an array"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\",\"candidates\":[\"A\"]}", "response.candidates[0]: must be an object"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\",\"candidates\":[{\"place_id\":\"A\"},{\"place_id\":7}]}",
         "response.candidates[1].place_id: must be a string, got number"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\",\"candidates\":[{\"types\":[\"a\",1]}]}",
         "response.candidates[0].types[1]: must be a string"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\",\"candidates\":[{\"types\":\"establishment\"}]}",
         "response.candidates[0].types: must be an array"},
        {RCPT_PLACES_DETAILS, "{\"status\":\"OK\",\"result\":[]}", "response.result: missing or not an object"},
        {RCPT_PLACES_DETAILS, "{\"status\":\"OK\"}", "response.result: missing"},
        {RCPT_PLACES_DETAILS, "{\"status\":\"OK\",\"result\":{\"geometry\":{\"location\":{\"lat\":\"34\",\"lng\":1}}}}",
         "response.result.geometry.location.lat: must be a number"},
        {RCPT_PLACES_DETAILS, "{\"status\":\"OK\",\"result\":{\"geometry\":{\"location\":[1,2]}}}",
         "response.result.geometry.location: must be an object"},
        {RCPT_PLACES_DETAILS, "{\"status\":\"OK\",\"result\":{\"rating\":\"4.5\"}}", "response.result.rating: must be a number"},
        {RCPT_PLACES_TEXTSEARCH, "{\"status\":\"OK\",\"results\":null}", "response.results: missing"},
        {RCPT_PLACES_AUTOCOMPLETE, "{\"status\":\"OK\",\"predictions\":[{\"description\":[]}]}",
         "response.predictions[0].description: must be a string"},
        {RCPT_PLACES_FIND, "{\"status\":\"OK\",\"candidates\":[{\"name\":\"\\ud800\"}]}", "not JSON"},
    };
    rcpt_places_result r;
    rcpt_places_result_init(&r);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rcpt_err e = {0};
        int rc = parse(cases[i].ep, cases[i].body, &r, &e);
        CHECK_INT(rc, RCPT_EHTTP);
        CHECK_INT(e.code, RCPT_EHTTP);
        CHECK_INT(r.n, 0);
        CHECK(r.places == NULL);
        if (!strstr(e.msg, cases[i].want)) {
            fprintf(stderr, "case %zu: message \"%s\" lacks \"%s\"\n", i, e.msg, cases[i].want);
            CHECK(0);
        }
    }
    rcpt_places_result_free(&r);
    /* every prefix of a valid answer is refused, none crashes or leaks */
    const char *good = "{\"candidates\":[{\"place_id\":\"A\",\"types\":[\"x\"],"
                       "\"geometry\":{\"location\":{\"lat\":1,\"lng\":2}}}],\"status\":\"OK\"}";
    size_t n = strlen(good);
    int refused = 0;
    for (size_t k = 0; k < n; k++) {
        rcpt_err e = {0};
        if (rcpt_places_parse(RCPT_PLACES_FIND, good, k, KEY, &r, &e) == RCPT_EHTTP) refused++;
    }
    CHECK_INT(refused, (int)n);
    rcpt_places_result_free(&r);
}

static void cache_keys(void)
{
    rcpt_buf b = RCPT_BUF_INIT;
    rcpt_err e = {0};
    CHECK_INT(rcpt_places_cache_key("PHONE", "8059174200", 10, &b, &e), RCPT_OK);
    CHECK_STR(b.data, "VALUE#____________________8059174200"); /* the spec's own example */
    rcpt_buf_reset(&b);
    const char *p = "  +1 (805) 917-4200 ext. ";
    CHECK_INT(rcpt_places_cache_key("PHONE", p, strlen(p), &b, &e), RCPT_OK);
    CHECK_STR(b.data, "VALUE#_______________+1(805)917-4200");
    rcpt_buf_reset(&b);
    /* md5("abc") = 900150983cd24fb0d6963f7d28e17f72 (RFC 1321 test suite) */
    CHECK_INT(rcpt_places_cache_key("ADDRESS", " abc\t", 5, &b, &e), RCPT_OK);
    CHECK_INT(b.len, 6 + 9 + 400);
    CHECK(memcmp(b.data, "VALUE#90015098_", 15) == 0);
    CHECK(strcmp(b.data + b.len - 4, "_abc") == 0);
    CHECK_INT(strspn(b.data + 15, "_"), 397);
    rcpt_buf_reset(&b);
    CHECK_INT(rcpt_places_cache_key("URL", "WWW.Sprouts.COM/Store 42", 24, &b, &e), RCPT_OK);
    CHECK_INT(b.len, 106);
    CHECK(strcmp(b.data + b.len - 24, "www.sprouts.com/store_42") == 0);
    rcpt_buf_reset(&b);
    /* longer than the width: kept whole */
    char longv[501];
    memset(longv, 'x', 500);
    longv[500] = '\0';
    CHECK_INT(rcpt_places_cache_key("ADDRESS", longv, 500, &b, &e), RCPT_OK);
    CHECK_INT(b.len, 6 + 9 + 500);
    rcpt_buf_reset(&b);
    CHECK_INT(rcpt_places_cache_key("PHONE", "   ", 3, &b, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "empty") != NULL);
    CHECK_INT(rcpt_places_cache_key("EMAIL", "a@b", 3, &b, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "search_type") != NULL);
    rcpt_buf_free(&b);
}

static void client_options(void)
{
    rcpt_places_client *c = NULL;
    rcpt_err e = {0};
    rcpt_places_opts o = {0};
    CHECK_INT(rcpt_places_new(&o, &c, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "api_key") != NULL);
    o.api_key = KEY;
    o.base_url = "file:///etc";
    CHECK_INT(rcpt_places_new(&o, &c, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "base_url") != NULL);
    o.base_url = NULL;
    CHECK_INT(rcpt_places_new(&o, &c, &e), RCPT_OK);
    rcpt_places_result r;
    rcpt_places_result_init(&r);
    CHECK_INT(rcpt_places_find_place(c, "x", "email", NULL, &r, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "inputtype") != NULL);
    CHECK_INT(rcpt_places_details(c, "", NULL, &r, &e), RCPT_EINVAL);
    CHECK(strstr(e.msg, "place_id") != NULL);
    CHECK_INT(rcpt_places_requests(c), 0); /* nothing was sent */
    rcpt_places_free(c);
}

int main(void)
{
    ok_bodies();
    status_errors();
    malformed();
    cache_keys();
    client_options();
    return check_done();
}
