/* fuzz_places: rcpt_places_parse (core/net/places.c) on arbitrary bytes for
 * every endpoint kind.  Accepted answers must hold well-formed places
 * (strings valid UTF-8, the key never copied into a message), and a refusal
 * must carry a message without the key. */
#include <math.h>

#include "fuzz_util.h"
#include "net/places.h"

#define KEY "AIzaFuzzKey-0123456789"

static void check_str(const char *s, const char *what)
{
    if (s)
        FUZZ_CHECK(fuzz_utf8_ok(s, strlen(s)), "%s is not UTF-8", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const rcpt_places_endpoint eps[] = {RCPT_PLACES_FIND, RCPT_PLACES_DETAILS,
                                               RCPT_PLACES_TEXTSEARCH, RCPT_PLACES_AUTOCOMPLETE};
    for (size_t k = 0; k < sizeof eps / sizeof eps[0]; k++) {
        rcpt_places_result r;
        rcpt_places_result_init(&r);
        rcpt_err err = {0};
        int rc = rcpt_places_parse(eps[k], (const char *)data, size, KEY, &r, &err);
        FUZZ_CHECK(memchr(r.status, 0, sizeof r.status) != NULL, "status not terminated");
        if (rc == RCPT_OK) {
            FUZZ_CHECK(r.n == 0 || r.places != NULL, "n %zu without places", r.n);
            for (size_t i = 0; i < r.n; i++) {
                const rcpt_place *p = &r.places[i];
                check_str(p->place_id, "place_id");
                check_str(p->name, "name");
                check_str(p->formatted_address, "formatted_address");
                check_str(p->formatted_phone_number, "formatted_phone_number");
                check_str(p->international_phone_number, "international_phone_number");
                check_str(p->website, "website");
                check_str(p->business_status, "business_status");
                check_str(p->vicinity, "vicinity");
                check_str(p->description, "description");
                FUZZ_CHECK(p->n_types == 0 || p->types != NULL, "types");
                for (size_t t = 0; t < p->n_types; t++)
                    check_str(p->types[t], "types[]");
                if (p->has_location)
                    FUZZ_CHECK(isfinite(p->lat) && isfinite(p->lng), "location not finite");
                if (p->has_rating)
                    FUZZ_CHECK(isfinite(p->rating), "rating not finite");
            }
        } else {
            FUZZ_CHECK(err.code == rc && err.msg[0], "error %d without a message", rc);
            FUZZ_CHECK(strstr(err.msg, KEY) == NULL, "the API key leaked into \"%s\"", err.msg);
        }
        rcpt_places_result_free(&r);
    }
    return 0;
}
