#!/usr/bin/env python3
"""Loopback stand-in for the Google Places *legacy* Web Service (JSON output).

    python3 tests/support/places_fixture.py --scenario S.json [--record R.ndjson] [--parent-pid P]

Paths (GET): /maps/api/place/{findplacefromtext,details,textsearch,autocomplete,nearbysearch}/json.
Answers from the scenario's small directory of places; its "rules" force a status (ZERO_RESULTS,
OVER_QUERY_LIMIT, REQUEST_DENIED, INVALID_REQUEST, NOT_FOUND, UNKNOWN_ERROR), a set of places, or a
transport failure (http_429 with Retry-After, http_500, slow, malformed, truncated) per request
pattern or call number.  The scenario format is in tests/support/README.md.
"""
import json
import math
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_common as fc  # noqa: E402

PREFIX = "/maps/api/place/"
ENDPOINTS = ("findplacefromtext", "details", "textsearch", "autocomplete", "nearbysearch")
STATUSES = ("OK", "ZERO_RESULTS", "OVER_QUERY_LIMIT", "REQUEST_DENIED", "INVALID_REQUEST",
            "NOT_FOUND", "UNKNOWN_ERROR")
# Google's wording, so that a client's log of error_message looks like production.
DENIED_NO_KEY = ("You must use an API key to authenticate each request to Google Maps Platform "
                 "APIs. For additional information, please refer to http://g.co/dev/maps-no-account")
DENIED_BAD_KEY = "The provided API key is invalid. "
DEFAULT_MESSAGES = {
    "OVER_QUERY_LIMIT": "You have exceeded your daily request quota for this API.",
    "REQUEST_DENIED": DENIED_BAD_KEY,
    "INVALID_REQUEST": "Invalid request. Missing the 'input' parameter.",
    "UNKNOWN_ERROR": "An unknown error occurred. Please try again.",
}
# Text Search and Nearby Search return a subset of a place: never a phone number.
SEARCH_FIELDS = ("business_status", "formatted_address", "geometry", "icon", "name", "place_id",
                 "plus_code", "rating", "types", "user_ratings_total", "vicinity")
NEARBY_FIELDS = ("business_status", "geometry", "icon", "name", "place_id", "plus_code", "rating",
                 "types", "user_ratings_total", "vicinity")


def digits(s):
    return re.sub(r"\D", "", s or "")


def words(s):
    return [w for w in re.split(r"[^0-9a-z]+", (s or "").lower()) if w]


def phone_matches(a, b):
    """Same number: equal digit strings, or the same last 10 digits (+1 805… vs 805…)."""
    da, db = digits(a), digits(b)
    if not da or not db:
        return False
    return da == db or (len(da) >= 10 and len(db) >= 10 and da[-10:] == db[-10:])


def text_matches(needle, hay):
    n, h = " ".join(words(needle)), " ".join(words(hay))
    return bool(n) and bool(h) and (n in h or h in n)


def only_fields(place, fields):
    """Keep the requested fields ("geometry/location" keeps geometry), like Google does."""
    if fields is None:
        return dict(place)
    keep = {f.strip().split("/")[0] for f in fields.split(",") if f.strip()}
    return {k: v for k, v in place.items() if k in keep}


def distance_m(lat1, lng1, lat2, lng2):
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


class Places(fc.Handler):
    def do_GET(self):
        path, raw_query, params, body = self.parsed()
        endpoint = None
        if path.startswith(PREFIX) and path.endswith("/json"):
            endpoint = path[len(PREFIX):-len("/json")]
        n, en = self.server.calls.next(endpoint or "unknown")
        if endpoint not in ENDPOINTS:
            self.record(endpoint or "unknown", n, en, path, raw_query, params, body, "not_found")
            self.send_bytes(404, b"<html><body>404. That's an error.</body></html>\n",
                            ctype="text/html; charset=UTF-8")
            return
        sc = self.server.scenario
        ctx = {"call": n, "endpoint": endpoint, "endpoint_call": en, "params": params}
        rule = fc.match_rule(sc.get("rules", []), self.server.calls, ctx, self.extra_match) or {}
        self.record(endpoint, n, en, path, raw_query, params, body, rule.get("mode") or "normal")
        rule = self.after_delay(rule)
        mode = rule.get("mode", "")

        def normal():
            status, obj = self.answer(endpoint, params, rule)
            return self.encode(obj), status

        if mode == "http_429":
            self.send_json(429, {"error": {
                "code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": rule.get("error_message", "Quota exceeded: too many requests.")}},
                headers={"Retry-After": rule.get("retry_after", 1)})
            return
        if mode == "http_500":
            self.send_json(500, {"error": {"code": 500, "status": "INTERNAL",
                                           "message": "Internal error encountered."}})
            return
        if self.transport_mode(rule, lambda: normal()[0]):
            return
        data, _ = normal()
        self.send_bytes(200, data)

    do_POST = do_GET

    def encode(self, obj):
        return (json.dumps(obj, indent=3) + "\n").encode("utf-8")

    def extra_match(self, rule, ctx):
        p = ctx["params"]
        q = p.get("input") or p.get("query") or p.get("keyword") or ""
        if "phone" in rule and not (p.get("inputtype") == "phonenumber"
                                    and phone_matches(rule["phone"], p.get("input"))):
            return False
        if "address" in rule and not text_matches(rule["address"], q):
            return False
        if "query" in rule and not text_matches(rule["query"], q):
            return False
        if "place_id" in rule and p.get("place_id") != rule["place_id"]:
            return False
        return True

    # -- content ---------------------------------------------------------------
    def answer(self, endpoint, p, rule):
        """(HTTP status, body object) of a request, honouring a status-forcing rule."""
        sc = self.server.scenario
        key = p.get("key")
        if not key:
            return 200, self.status_body(endpoint, "REQUEST_DENIED", DENIED_NO_KEY)
        if key != sc.get("key"):
            return 200, self.status_body(endpoint, "REQUEST_DENIED", DENIED_BAD_KEY)
        mode = rule.get("mode", "")
        if mode and mode != "OK" and mode in STATUSES:
            return 200, self.status_body(endpoint, mode,
                                         rule.get("error_message", DEFAULT_MESSAGES.get(mode)))
        missing = self.missing_param(endpoint, p)
        if missing:
            return 200, self.status_body(endpoint, "INVALID_REQUEST",
                                         "Invalid request. Missing the '%s' parameter." % missing)
        if "places" in rule:
            found = [self.server.by_id[i] for i in rule["places"] if i in self.server.by_id]
        else:
            found = self.lookup(endpoint, p)
        return 200, self.ok_body(endpoint, p, found)

    @staticmethod
    def missing_param(endpoint, p):
        need = {"findplacefromtext": ("input", "inputtype"), "details": ("place_id",),
                "textsearch": ("query",), "autocomplete": ("input",),
                "nearbysearch": ("location",)}[endpoint]
        for k in need:
            if not p.get(k):
                return k
        if endpoint == "findplacefromtext" and p["inputtype"] not in ("textquery", "phonenumber"):
            return "inputtype"
        if endpoint == "nearbysearch" and not p.get("radius") and p.get("rankby") != "distance":
            return "radius"
        return None

    def lookup(self, endpoint, p):
        places = self.server.scenario.get("places", [])
        if endpoint == "details":
            pl = self.server.by_id.get(p["place_id"])
            return [pl] if pl else []
        if endpoint == "findplacefromtext":
            if p["inputtype"] == "phonenumber":
                return [x for x in places
                        if phone_matches(p["input"], x.get("international_phone_number"))
                        or phone_matches(p["input"], x.get("formatted_phone_number"))]
            return [x for x in places if text_matches(p["input"], x.get("formatted_address"))
                    or text_matches(p["input"], x.get("name"))]
        if endpoint == "textsearch":
            q = set(words(p["query"]))
            scored = []
            for x in places:
                w = set(words(x.get("name", "") + " " + x.get("formatted_address", "")))
                hit = len(q & w) / len(q) if q else 0
                if hit >= 0.5:
                    scored.append((-hit, x.get("name", ""), x))
            return [x for _, _, x in sorted(scored, key=lambda t: (t[0], t[1]))]
        if endpoint == "autocomplete":
            return [x for x in places if x.get("formatted_address", "").lower().startswith(
                p["input"].strip().lower()) or text_matches(p["input"], x.get("formatted_address"))]
        if endpoint == "nearbysearch":
            try:
                lat, lng = (float(v) for v in p["location"].split(","))
            except ValueError:
                return []
            radius = float(p.get("radius") or 50000)
            out = []
            for x in places:
                loc = x.get("geometry", {}).get("location")
                if not loc:
                    continue
                d = distance_m(lat, lng, loc["lat"], loc["lng"])
                if d > radius:
                    continue
                if p.get("type") and p["type"] not in x.get("types", []):
                    continue
                if p.get("keyword") and not (set(words(p["keyword"]))
                                             & set(words(x.get("name")))):
                    continue
                out.append((d, x))
            return [x for _, x in sorted(out, key=lambda t: t[0])]
        return []

    @staticmethod
    def status_body(endpoint, status, message=None):
        body = {"status": status}
        if message and status not in ("OK", "ZERO_RESULTS", "NOT_FOUND"):
            body["error_message"] = message
        if endpoint == "findplacefromtext":
            body["candidates"] = []
        elif endpoint == "autocomplete":
            body["predictions"] = []
        else:
            body["html_attributions"] = []
            if endpoint in ("textsearch", "nearbysearch"):
                body["results"] = []
        return body

    def ok_body(self, endpoint, p, found):
        if endpoint == "details":
            if not found:
                return self.status_body(endpoint, "NOT_FOUND")
            return {"html_attributions": [], "result": only_fields(found[0], p.get("fields")),
                    "status": "OK"}
        if not found:
            return self.status_body(endpoint, "ZERO_RESULTS")
        if endpoint == "findplacefromtext":
            # without fields, Google returns the place_id alone
            cands = [only_fields(x, p.get("fields", "place_id")) for x in found]
            return {"candidates": cands, "status": "OK"}
        if endpoint == "textsearch":
            return {"html_attributions": [], "results": [
                {k: v for k, v in x.items() if k in SEARCH_FIELDS} for x in found[:20]],
                "status": "OK"}
        if endpoint == "nearbysearch":
            return {"html_attributions": [], "results": [
                {k: v for k, v in x.items() if k in NEARBY_FIELDS} for x in found[:20]],
                "status": "OK"}
        # autocomplete
        preds = []
        for x in found[:5]:
            addr = x.get("formatted_address", "")
            main, _, rest = addr.partition(", ")
            terms, off = [], 0
            for part in addr.split(", "):
                terms.append({"offset": off, "value": part})
                off += len(part) + 2
            preds.append({
                "description": addr,
                "matched_substrings": [{"length": min(len(p["input"]), len(addr)), "offset": 0}],
                "place_id": x["place_id"], "reference": x["place_id"],
                "structured_formatting": {
                    "main_text": main,
                    "main_text_matched_substrings": [
                        {"length": min(len(p["input"]), len(main)), "offset": 0}],
                    "secondary_text": rest},
                "terms": terms,
                "types": ["premise", "geocode"] if p.get("types") == "address"
                else x.get("types", []),
            })
        return {"predictions": preds, "status": "OK"}


def main():
    args = fc.parse_args("Google Places legacy Web Service stand-in")
    scenario = fc.load_scenario(args.scenario)
    for i, pl in enumerate(scenario.get("places", [])):
        if not isinstance(pl, dict) or not isinstance(pl.get("place_id"), str):
            raise SystemExit("%s: places[%d].place_id: must be a string" % (args.scenario, i))
    for i, r in enumerate(scenario.get("rules", [])):
        m = r.get("mode", "")
        if m and m not in STATUSES and m not in ("http_429", "http_500", "slow", "malformed",
                                                 "truncated"):
            raise SystemExit("%s: rules[%d].mode: unknown mode '%s'" % (args.scenario, i, m))

    def setup(httpd):
        httpd.scenario = scenario
        httpd.by_id = {pl["place_id"]: pl for pl in scenario.get("places", [])}
    fc.serve(Places, args, setup)


if __name__ == "__main__":
    main()
