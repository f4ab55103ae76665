/* Google Places legacy Web Service: primitive calls and answer parsing
 * (contract in places.h).  Nothing here decides what to search or cache. */
#include "../util/mask.h"
#include "net/places.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

struct rcpt_places_client {
    rcpt_http_client *http;
    char *base;
    char *key;
    long timeout_ms;
    rcpt_http_retry retry;
    unsigned long long requests;
};

static const char *ep_name(rcpt_places_endpoint ep)
{
    switch (ep) {
    case RCPT_PLACES_FIND: return "findplacefromtext";
    case RCPT_PLACES_DETAILS: return "details";
    case RCPT_PLACES_TEXTSEARCH: return "textsearch";
    case RCPT_PLACES_AUTOCOMPLETE: return "autocomplete";
    }
    return "?";
}

static const char *ep_list(rcpt_places_endpoint ep)
{
    switch (ep) {
    case RCPT_PLACES_FIND: return "candidates";
    case RCPT_PLACES_DETAILS: return "result";
    case RCPT_PLACES_TEXTSEARCH: return "results";
    case RCPT_PLACES_AUTOCOMPLETE: return "predictions";
    }
    return "?";
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ---- results ----------------------------------------------------------------------- */

void rcpt_places_result_init(rcpt_places_result *r) { memset(r, 0, sizeof *r); }

static void place_free(rcpt_place *p)
{
    free(p->place_id);
    free(p->name);
    free(p->formatted_address);
    free(p->formatted_phone_number);
    free(p->international_phone_number);
    free(p->website);
    free(p->business_status);
    free(p->vicinity);
    free(p->description);
    for (size_t i = 0; i < p->n_types; i++) free(p->types[i]);
    free(p->types);
}

void rcpt_places_result_free(rcpt_places_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) place_free(&r->places[i]);
    free(r->places);
    memset(r, 0, sizeof *r);
}

/* ---- parsing ------------------------------------------------------------------------ */

/* Copy the string member k of obj into *dst (NULL when absent or null). */
static int get_str(const rcpt_json *obj, const char *k, char **dst, const char *path, rcpt_err *err)
{
    const rcpt_json *v = rcpt_json_get(obj, k);
    if (!v || v->type == RCPT_JSON_NULL) return RCPT_OK;
    if (v->type != RCPT_JSON_STRING)
        return rcpt_err_set(err, RCPT_EHTTP, "%s.%s: must be a string, got %s", path, k,
                            rcpt_json_type_name(v->type));
    if (!(*dst = dupn(v->u.str.s, v->u.str.len)))
        return rcpt_err_set(err, RCPT_ENOMEM, "%s.%s: out of memory", path, k);
    return RCPT_OK;
}

static int get_num(const rcpt_json *obj, const char *k, double *dst, int *have, const char *path,
                   rcpt_err *err)
{
    const rcpt_json *v = rcpt_json_get(obj, k);
    if (!v || v->type == RCPT_JSON_NULL) return RCPT_OK;
    if (v->type != RCPT_JSON_NUMBER)
        return rcpt_err_set(err, RCPT_EHTTP, "%s.%s: must be a number, got %s", path, k,
                            rcpt_json_type_name(v->type));
    *dst = v->u.num.d;
    if (have) *have = 1;
    return RCPT_OK;
}

static int parse_place(const rcpt_json *o, const char *path, rcpt_place *p, rcpt_err *err)
{
    p->user_ratings_total = -1;
    p->price_level = -1;
    if (o->type != RCPT_JSON_OBJECT)
        return rcpt_err_set(err, RCPT_EHTTP, "%s: must be an object, got %s", path, rcpt_json_type_name(o->type));
    int rc;
    if ((rc = get_str(o, "place_id", &p->place_id, path, err)) || (rc = get_str(o, "name", &p->name, path, err)) ||
        (rc = get_str(o, "formatted_address", &p->formatted_address, path, err)) ||
        (rc = get_str(o, "formatted_phone_number", &p->formatted_phone_number, path, err)) ||
        (rc = get_str(o, "international_phone_number", &p->international_phone_number, path, err)) ||
        (rc = get_str(o, "website", &p->website, path, err)) ||
        (rc = get_str(o, "business_status", &p->business_status, path, err)) ||
        (rc = get_str(o, "vicinity", &p->vicinity, path, err)) ||
        (rc = get_str(o, "description", &p->description, path, err)))
        return rc;
    double d = 0;
    int have = 0;
    if ((rc = get_num(o, "rating", &p->rating, &p->has_rating, path, err))) return rc;
    if ((rc = get_num(o, "user_ratings_total", &d, &have, path, err))) return rc;
    /* a count or a level outside what the C types hold would make the
     * conversion undefined (found by tests/fuzz/fuzz_places): refused */
    if (have && !(d >= 0 && d <= 9007199254740992.0 && d == (double)(long long)d))
        return rcpt_err_set(err, RCPT_EHTTP, "%s.user_ratings_total: must be a whole number >= 0, got %g", path, d);
    if (have) p->user_ratings_total = (long long)d;
    have = 0;
    if ((rc = get_num(o, "price_level", &d, &have, path, err))) return rc;
    if (have && !(d >= 0 && d <= 4 && d == (double)(int)d))
        return rcpt_err_set(err, RCPT_EHTTP, "%s.price_level: must be 0, 1, 2, 3 or 4, got %g", path, d);
    if (have) p->price_level = (int)d;
    const rcpt_json *t = rcpt_json_get(o, "types");
    if (t && t->type != RCPT_JSON_NULL) {
        if (t->type != RCPT_JSON_ARRAY)
            return rcpt_err_set(err, RCPT_EHTTP, "%s.types: must be an array", path);
        if (t->u.arr.n) {
            p->types = calloc(t->u.arr.n, sizeof *p->types);
            if (!p->types) return rcpt_err_set(err, RCPT_ENOMEM, "%s.types: out of memory", path);
        }
        for (size_t i = 0; i < t->u.arr.n; i++) {
            const rcpt_json *s = &t->u.arr.items[i];
            if (s->type != RCPT_JSON_STRING)
                return rcpt_err_set(err, RCPT_EHTTP, "%s.types[%zu]: must be a string", path, i);
            if (!(p->types[i] = dupn(s->u.str.s, s->u.str.len)))
                return rcpt_err_set(err, RCPT_ENOMEM, "%s.types: out of memory", path);
            p->n_types = i + 1;
        }
    }
    const rcpt_json *g = rcpt_json_get(o, "geometry");
    if (g && g->type != RCPT_JSON_NULL) {
        const rcpt_json *loc = rcpt_json_get(g, "location");
        if (g->type != RCPT_JSON_OBJECT || (loc && loc->type != RCPT_JSON_OBJECT))
            return rcpt_err_set(err, RCPT_EHTTP, "%s.geometry.location: must be an object", path);
        if (loc) {
            int hl = 0, hg = 0;
            char sub[160];
            snprintf(sub, sizeof sub, "%s.geometry.location", path);
            if ((rc = get_num(loc, "lat", &p->lat, &hl, sub, err)) || (rc = get_num(loc, "lng", &p->lng, &hg, sub, err)))
                return rc;
            p->has_location = hl && hg;
        }
    }
    return RCPT_OK;
}


int rcpt_places_parse(rcpt_places_endpoint ep, const char *body, size_t len, const char *key,
                      rcpt_places_result *out, rcpt_err *err)
{
    rcpt_places_result_free(out);
    rcpt_json_doc *doc = NULL;
    int rc = rcpt_json_parse(body ? body : "", body ? len : 0, NULL, &doc, err, NULL);
    if (rc) {
        if (rc == RCPT_ENOMEM) return rc;
        if (err) err->code = RCPT_EHTTP;
        return rcpt_err_prefix(err, "response: not JSON");
    }
    const rcpt_json *root = rcpt_json_root(doc);
    const rcpt_json *st = rcpt_json_get(root, "status");
    if (root->type != RCPT_JSON_OBJECT) {
        rc = rcpt_err_set(err, RCPT_EHTTP, "response: must be an object, got %s", rcpt_json_type_name(root->type));
        goto done;
    }
    if (!st || st->type != RCPT_JSON_STRING) {
        rc = rcpt_err_set(err, RCPT_EHTTP, "response.status: missing or not a string");
        goto done;
    }
    snprintf(out->status, sizeof out->status, "%.*s", (int)(st->u.str.len < 31 ? st->u.str.len : 31), st->u.str.s);
    for (char *c = out->status; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_') *c = '?';
    if (strcmp(out->status, "OK") != 0) {
        if (strcmp(out->status, "ZERO_RESULTS") == 0 || strcmp(out->status, "NOT_FOUND") == 0) {
            rc = RCPT_OK;
            goto done;
        }
        char msg[256] = "";
        const rcpt_json *em = rcpt_json_get(root, "error_message");
        if (em && em->type == RCPT_JSON_STRING) rcpt_copy_masked(msg, sizeof msg, em->u.str.s, em->u.str.len, key);
        rc = rcpt_err_set(err, strcmp(out->status, "REQUEST_DENIED") == 0 ? RCPT_EAUTH : RCPT_EHTTP,
                          "status %s%s%s", out->status, msg[0] ? ": " : "", msg);
        goto done;
    }
    const char *lk = ep_list(ep);
    const rcpt_json *list = rcpt_json_get(root, lk);
    if (ep == RCPT_PLACES_DETAILS) {
        if (!list || list->type != RCPT_JSON_OBJECT) {
            rc = rcpt_err_set(err, RCPT_EHTTP, "response.result: missing or not an object");
            goto done;
        }
        if (!(out->places = calloc(1, sizeof *out->places))) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "response: out of memory");
            goto done;
        }
        out->n = 1;
        if ((rc = parse_place(list, "response.result", &out->places[0], err))) goto done;
    } else {
        if (!list || list->type != RCPT_JSON_ARRAY) {
            rc = rcpt_err_set(err, RCPT_EHTTP, "response.%s: missing or not an array", lk);
            goto done;
        }
        size_t n = list->u.arr.n;
        if (n && !(out->places = calloc(n, sizeof *out->places))) {
            rc = rcpt_err_set(err, RCPT_ENOMEM, "response: out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            char path[64];
            snprintf(path, sizeof path, "response.%s[%zu]", lk, i);
            out->n = i + 1;
            if ((rc = parse_place(&list->u.arr.items[i], path, &out->places[i], err))) goto done;
        }
    }
    out->found = out->n > 0;
    rc = RCPT_OK;
done:
    rcpt_json_free(doc);
    if (rc) {
        /* keep the status for the caller, drop partial places */
        char keep[32];
        memcpy(keep, out->status, sizeof keep);
        rcpt_places_result_free(out);
        memcpy(out->status, keep, sizeof keep);
    }
    return rc;
}

/* ---- client --------------------------------------------------------------------------- */

int rcpt_places_new(const rcpt_places_opts *o, rcpt_places_client **out, rcpt_err *err)
{
    *out = NULL;
    if (!o || !o->api_key || !*o->api_key)
        return rcpt_err_set(err, RCPT_EINVAL, "places client: api_key: required");
    const char *base = o->base_url && *o->base_url ? o->base_url : RCPT_PLACES_BASE_DEFAULT;
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        return rcpt_err_set(err, RCPT_EINVAL, "places client: base_url: must start with http:// or https://");
    if (strchr(base, '?'))
        return rcpt_err_set(err, RCPT_EINVAL, "places client: base_url: must not have a query");
    if (o->timeout_ms < 0 || o->connect_timeout_ms < 0 || o->max_attempts < 0 || o->base_delay_ms < 0 ||
        o->max_delay_ms < 0)
        return rcpt_err_set(err, RCPT_EINVAL, "places client: timeouts and retry settings must be >= 0");
    rcpt_places_client *c = calloc(1, sizeof *c);
    if (!c) return rcpt_err_set(err, RCPT_ENOMEM, "places client: out of memory");
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') bl--;
    c->base = dupn(base, bl);
    c->key = dupn(o->api_key, strlen(o->api_key));
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : RCPT_PLACES_TIMEOUT_DEFAULT_MS;
    c->retry.max_attempts = o->max_attempts ? o->max_attempts : 3;
    c->retry.base_delay_ms = o->base_delay_ms ? o->base_delay_ms : 250;
    c->retry.max_delay_ms = o->max_delay_ms ? o->max_delay_ms : 10000;
    rcpt_http_client_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.retry = c->retry;
    ho.timeout_ms = c->timeout_ms;
    ho.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 3000;
    if (!c->base || !c->key) {
        rcpt_places_free(c);
        return rcpt_err_set(err, RCPT_ENOMEM, "places client: out of memory");
    }
    if (!(c->http = rcpt_http_client_new(&ho, err))) {
        rcpt_places_free(c);
        return rcpt_err_prefix(err, "places client");
    }
    *out = c;
    return RCPT_OK;
}

void rcpt_places_free(rcpt_places_client *c)
{
    if (!c) return;
    rcpt_http_client_free(c->http);
    free(c->base);
    if (c->key) {
        memset(c->key, 0, strlen(c->key));
        free(c->key);
    }
    free(c);
}

rcpt_http_client *rcpt_places_http(rcpt_places_client *c) { return c->http; }
unsigned long long rcpt_places_requests(const rcpt_places_client *c) { return c->requests; }

/* GET {base}/{endpoint}/json?{q + key}, parse.  Every message is prefixed
 * "Places <endpoint>" and never holds the URL. */
static int call(rcpt_places_client *c, rcpt_places_endpoint ep, rcpt_http_query *q,
                rcpt_places_result *out, rcpt_err *err)
{
    rcpt_places_result_free(out);
    const char *name = ep_name(ep);
    rcpt_buf url = RCPT_BUF_INIT;
    rcpt_http_query_add(q, "key", c->key);
    rcpt_buf_printf(&url, "%s/%s/json?", c->base, name);
    rcpt_http_query_build(q, &url);
    if (q->oom || url.oom) {
        rcpt_buf_free(&url);
        return rcpt_err_set(err, RCPT_ENOMEM, "Places %s: out of memory", name);
    }
    const char *hdrs[] = {"Accept: application/json"};
    rcpt_http_request rq = {
        .method = "GET", .url = url.data, .headers = hdrs, .n_headers = 1,
        .timeout_ms = c->timeout_ms, .retry = &c->retry,
    };
    rcpt_http_response rs;
    rcpt_http_response_init(&rs);
    int rc = rcpt_http_do(c->http, &rq, &rs, err);
    /* the URL holds the key: wipe it before it is freed */
    memset(url.data, 0, url.len);
    rcpt_buf_free(&url);
    c->requests += (unsigned long long)(rs.attempts > 0 ? rs.attempts : 1);
    out->attempts = rs.attempts;
    if (rc == RCPT_OK && rs.status != 200)
        rc = rcpt_err_set(err, RCPT_EHTTP, "unexpected HTTP %ld", rs.status);
    if (rc == RCPT_OK) {
        int attempts = rs.attempts;
        rc = rcpt_places_parse(ep, rs.body.data, rs.body.len, c->key, out, err);
        out->attempts = attempts;
    }
    rcpt_http_response_free(&rs);
    if (rc) rcpt_err_prefix(err, "Places %s", name);
    return rc;
}

static int need(const char *s, const char *what, const char *ep, rcpt_err *err)
{
    if (!s || !*s) return rcpt_err_set(err, RCPT_EINVAL, "Places %s: %s: required", ep, what);
    return RCPT_OK;
}

int rcpt_places_find_place(rcpt_places_client *c, const char *input, const char *inputtype,
                           const char *fields, rcpt_places_result *out, rcpt_err *err)
{
    int rc;
    if ((rc = need(input, "input", "findplacefromtext", err))) return rc;
    if (!inputtype || (strcmp(inputtype, "phonenumber") && strcmp(inputtype, "textquery")))
        return rcpt_err_set(err, RCPT_EINVAL, "Places findplacefromtext: inputtype: must be phonenumber or textquery");
    rcpt_http_query q;
    rcpt_http_query_init(&q);
    rcpt_http_query_add(&q, "input", input);
    rcpt_http_query_add(&q, "inputtype", inputtype);
    if (fields && *fields) rcpt_http_query_add(&q, "fields", fields);
    rc = call(c, RCPT_PLACES_FIND, &q, out, err);
    rcpt_http_query_free(&q);
    return rc;
}

int rcpt_places_details(rcpt_places_client *c, const char *place_id, const char *fields,
                        rcpt_places_result *out, rcpt_err *err)
{
    int rc;
    if ((rc = need(place_id, "place_id", "details", err))) return rc;
    rcpt_http_query q;
    rcpt_http_query_init(&q);
    rcpt_http_query_add(&q, "place_id", place_id);
    rcpt_http_query_add(&q, "fields", fields && *fields ? fields : RCPT_PLACES_DETAILS_FIELDS);
    rc = call(c, RCPT_PLACES_DETAILS, &q, out, err);
    rcpt_http_query_free(&q);
    return rc;
}

int rcpt_places_text_search(rcpt_places_client *c, const char *query, int with_location, double lat,
                            double lng, long radius_m, rcpt_places_result *out, rcpt_err *err)
{
    int rc;
    if ((rc = need(query, "query", "textsearch", err))) return rc;
    rcpt_http_query q;
    rcpt_http_query_init(&q);
    rcpt_http_query_add(&q, "query", query);
    if (with_location) {
        char loc[64], rad[32];
        snprintf(loc, sizeof loc, "%.7f,%.7f", lat, lng);
        snprintf(rad, sizeof rad, "%ld", radius_m > 0 ? radius_m : 1000);
        rcpt_http_query_add(&q, "location", loc);
        rcpt_http_query_add(&q, "radius", rad);
    }
    rc = call(c, RCPT_PLACES_TEXTSEARCH, &q, out, err);
    rcpt_http_query_free(&q);
    return rc;
}

int rcpt_places_autocomplete(rcpt_places_client *c, const char *input, const char *types,
                             rcpt_places_result *out, rcpt_err *err)
{
    int rc;
    if ((rc = need(input, "input", "autocomplete", err))) return rc;
    rcpt_http_query q;
    rcpt_http_query_init(&q);
    rcpt_http_query_add(&q, "input", input);
    rcpt_http_query_add(&q, "types", types && *types ? types : "address");
    rc = call(c, RCPT_PLACES_AUTOCOMPLETE, &q, out, err);
    rcpt_http_query_free(&q);
    return rc;
}

/* ---- cache keys (§5.7) ----------------------------------------------------------------- */

static void pad_left(rcpt_buf *out, const char *s, size_t n, size_t width)
{
    for (size_t i = n; i < width; i++) rcpt_buf_putc(out, '_');
    rcpt_buf_append(out, s, n);
}

int rcpt_places_cache_key(const char *search_type, const char *value, size_t len, rcpt_buf *out,
                          rcpt_err *err)
{
    while (len && isspace((unsigned char)value[0])) {
        value++;
        len--;
    }
    while (len && isspace((unsigned char)value[len - 1])) len--;
    if (!len) return rcpt_err_set(err, RCPT_EINVAL, "places cache key: value: empty");
    rcpt_buf_puts(out, "VALUE#");
    if (strcmp(search_type, "PHONE") == 0) {
        rcpt_buf tmp = RCPT_BUF_INIT;
        for (size_t i = 0; i < len; i++)
            if (isdigit((unsigned char)value[i]) || (value[i] && strchr("()+-", value[i])))
                rcpt_buf_putc(&tmp, value[i]);
        pad_left(out, tmp.data ? tmp.data : "", tmp.len, 30);
        rcpt_buf_free(&tmp);
    } else if (strcmp(search_type, "ADDRESS") == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int ml = 0;
        if (!EVP_Digest(value, len, md, &ml, EVP_md5(), NULL) || ml < 4)
            return rcpt_err_set(err, RCPT_EIO, "places cache key: MD5 unavailable");
        rcpt_buf_printf(out, "%02x%02x%02x%02x_", md[0], md[1], md[2], md[3]);
        pad_left(out, value, len, 400);
    } else if (strcmp(search_type, "URL") == 0) {
        rcpt_buf tmp = RCPT_BUF_INIT;
        for (size_t i = 0; i < len; i++) {
            char ch = value[i];
            rcpt_buf_putc(&tmp, ch == ' ' ? '_' : (char)tolower((unsigned char)ch));
        }
        pad_left(out, tmp.data ? tmp.data : "", tmp.len, 100);
        rcpt_buf_free(&tmp);
    } else {
        return rcpt_err_set(err, RCPT_EINVAL, "places cache key: search_type: must be PHONE, ADDRESS or URL");
    }
    return out->oom ? rcpt_err_set(err, RCPT_ENOMEM, "places cache key: out of memory") : RCPT_OK;
}
