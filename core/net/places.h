/* rcpt_places: the Google Places *legacy* Web Service (JSON), primitive calls
 * only (spec merchant-embed-compaction.md §5.1–5.3); the search flows and
 * the cache policy are decisions and live in Lua (lua/rcpt/places.lua).
 *
 * Every call is a GET {base_url}/{endpoint}/json?...&key=KEY through
 * rcpt_http, so it has a timeout (default 5 s), retries with full-jitter
 * backoff on 5xx, 429 (honouring Retry-After) and connection errors, and
 * error messages without the query string.  Messages built here name the
 * endpoint, never the URL; a server error_message is copied with any
 * occurrence of the key masked.
 *
 * Google answers HTTP 200 with a "status"; this layer maps it:
 *   OK (with at least one result)         RCPT_OK, result.found = 1
 *   OK with an empty list, ZERO_RESULTS,
 *   NOT_FOUND                             RCPT_OK, result.found = 0 (a real "not found":
 *                                         the caller may cache it)
 *   REQUEST_DENIED                        RCPT_EAUTH  } errors: the caller must NOT
 *   OVER_QUERY_LIMIT, INVALID_REQUEST,    RCPT_EHTTP  } cache them as "no results"
 *   UNKNOWN_ERROR, any other status                    (the original did, for 30 days)
 *   no "status", malformed JSON, a field
 *   of the wrong type                     RCPT_EHTTP naming the field
 *   HTTP errors (after retries)           rcpt_http's code (EHTTP, EAUTH, ...)
 *   timeout / no answer                   RCPT_ETIMEOUT / RCPT_EIO
 * result.status always holds the status string when one was read, so a
 * caller can tell OVER_QUERY_LIMIT from INVALID_REQUEST. */
#ifndef RCPT_NET_PLACES_H
#define RCPT_NET_PLACES_H

#include <stddef.h>

#include "net/http.h"
#include "util/buf.h"
#include "util/err.h"

#define RCPT_PLACES_BASE_DEFAULT "https://maps.googleapis.com/maps/api/place"
#define RCPT_PLACES_TIMEOUT_DEFAULT_MS 5000

/* The field lists of the original client (§5.1, §5.4, §5.5). */
#define RCPT_PLACES_DETAILS_FIELDS                                                                       \
    "name,formatted_address,place_id,formatted_phone_number,international_phone_number,website,"         \
    "geometry,opening_hours,rating,price_level,types,business_status,vicinity,plus_code,"               \
    "user_ratings_total"
#define RCPT_PLACES_PHONE_FIELDS "formatted_address,name,place_id,types,business_status"
#define RCPT_PLACES_ADDRESS_FIELDS "formatted_address,name,place_id,types,geometry"

typedef enum rcpt_places_endpoint {
    RCPT_PLACES_FIND = 1,      /* findplacefromtext: "candidates" */
    RCPT_PLACES_DETAILS,       /* details: "result" */
    RCPT_PLACES_TEXTSEARCH,    /* textsearch: "results" */
    RCPT_PLACES_AUTOCOMPLETE   /* autocomplete: "predictions" */
} rcpt_places_endpoint;

/* One place (a candidate, a details result, a text-search result or an
 * autocomplete prediction).  Absent strings are NULL. */
typedef struct rcpt_place {
    char *place_id, *name, *formatted_address, *formatted_phone_number, *international_phone_number,
        *website, *business_status, *vicinity;
    char *description;          /* autocomplete predictions only */
    char **types;
    size_t n_types;
    int has_location;           /* geometry.location */
    double lat, lng;
    int has_rating;
    double rating;
    long long user_ratings_total; /* -1 when absent */
    int price_level;            /* -1 when absent */
} rcpt_place;

typedef struct rcpt_places_result {
    char status[32];            /* "OK", "ZERO_RESULTS", ... ("" when none was read) */
    int found;
    rcpt_place *places;
    size_t n;
    int attempts;               /* HTTP attempts, retries included */
} rcpt_places_result;

void rcpt_places_result_init(rcpt_places_result *r);
void rcpt_places_result_free(rcpt_places_result *r);

typedef struct rcpt_places_opts {
    const char *base_url;       /* NULL = RCPT_PLACES_BASE_DEFAULT (no trailing '/') */
    const char *api_key;        /* required, non-empty */
    long timeout_ms;            /* per attempt; 0 = 5000 */
    long connect_timeout_ms;    /* 0 = 3000 */
    int max_attempts;           /* 0 = 3 */
    long base_delay_ms;         /* 0 = 250 */
    long max_delay_ms;          /* 0 = 10000 (caps Retry-After too) */
} rcpt_places_opts;

typedef struct rcpt_places_client rcpt_places_client;

int rcpt_places_new(const rcpt_places_opts *o, rcpt_places_client **out, rcpt_err *err);
void rcpt_places_free(rcpt_places_client *c);
/* The underlying HTTP client, to install rcpt_http_hooks in tests. */
rcpt_http_client *rcpt_places_http(rcpt_places_client *c);
/* HTTP requests sent so far (attempts, retries included). */
unsigned long long rcpt_places_requests(const rcpt_places_client *c);

/* findplacefromtext: inputtype "phonenumber" (input in E.164, "+18059174200")
 * or "textquery"; fields NULL = place_id only (Google's default). */
int rcpt_places_find_place(rcpt_places_client *c, const char *input, const char *inputtype,
                           const char *fields, rcpt_places_result *out, rcpt_err *err);
/* details: fields NULL = RCPT_PLACES_DETAILS_FIELDS.  An unknown id is
 * NOT_FOUND (found = 0). */
int rcpt_places_details(rcpt_places_client *c, const char *place_id, const char *fields,
                        rcpt_places_result *out, rcpt_err *err);
/* textsearch; with_location: add location=lat,lng&radius=radius_m.  Google's
 * text search never returns phone numbers: hydrate with details. */
int rcpt_places_text_search(rcpt_places_client *c, const char *query, int with_location, double lat,
                            double lng, long radius_m, rcpt_places_result *out, rcpt_err *err);
/* autocomplete; types NULL = "address".  Predictions have description and place_id. */
int rcpt_places_autocomplete(rcpt_places_client *c, const char *input, const char *types,
                             rcpt_places_result *out, rcpt_err *err);

/* Parse one answer body of endpoint ep into out (status mapped as above).
 * key (may be NULL) is masked in any copied error_message.  Pure: exposed
 * for tests. */
int rcpt_places_parse(rcpt_places_endpoint ep, const char *body, size_t len, const char *key,
                      rcpt_places_result *out, rcpt_err *err);

/* PlacesCache sort key of §5.7 from the trimmed value, appended to out:
 *   PHONE    "VALUE#" + (digits and ()+- kept) left-padded with '_' to 30
 *   ADDRESS  "VALUE#" + md5(value)[:8] + "_" + value left-padded with '_' to 400
 *   URL      "VALUE#" + (lowercase, spaces -> '_') left-padded with '_' to 100
 * (no truncation: longer values stay whole).  EINVAL for another type or
 * an empty value (empty values are never cached). */
int rcpt_places_cache_key(const char *search_type, const char *value, size_t len, rcpt_buf *out,
                          rcpt_err *err);

#endif
