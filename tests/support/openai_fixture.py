#!/usr/bin/env python3
"""Loopback stand-in for an OpenAI-compatible embeddings API (POST /v1/embeddings).

    python3 tests/support/openai_fixture.py --scenario S.json [--record R.ndjson] [--parent-pid P]

Bearer auth against the scenario's "key" (401 in OpenAI's error shape otherwise).  Embeddings are
deterministic and independent of rcpt's own embedder: a signed feature-hashing of the text's
character 3-grams and words (md5 of each feature picks a coordinate and a sign), L2-normalised, so
texts that share n-grams are near.  "dimensions" is honoured, "model" echoed, "input" is a string
or an array of strings (at most 2,048), "encoding_format" float or base64, "usage" filled.
Failure modes per call number or input pattern (rules): http_429 (Retry-After), http_500, slow,
malformed, truncated, wrong_count, wrong_dimension.  Format: tests/support/README.md.
"""
import base64
import hashlib
import json
import math
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_common as fc  # noqa: E402

MAX_INPUTS = 2048
MODEL_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
              "text-embedding-ada-002": 1536}
MODES = ("http_429", "http_500", "slow", "malformed", "truncated", "wrong_count",
         "wrong_dimension")


def features(text):
    t = " " + " ".join(text.lower().split()) + " "
    for i in range(len(t) - 2):
        yield "c:" + t[i:i + 3]
    for w in t.split():
        yield "w:" + w


def embed(text, dim):
    v = [0.0] * dim
    for f in features(text):
        h = hashlib.md5(f.encode("utf-8")).digest()
        idx = int.from_bytes(h[:8], "little") % dim
        v[idx] += 1.0 if h[8] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in v))
    if norm == 0:
        v[0], norm = 1.0, 1.0
    return [x / norm for x in v]


def tokens(text):
    # a rough stand-in for tiktoken: about one token per 4 characters, at least one per word
    return max(len(text.split()), (len(text) + 3) // 4, 1)


def error(status, message, etype="invalid_request_error", code=None, param=None):
    return status, {"error": {"message": message, "type": etype, "param": param, "code": code}}


class OpenAI(fc.Handler):
    def do_POST(self):
        path, raw_query, params, body = self.parsed()
        endpoint = "embeddings" if path.rstrip("/") == "/v1/embeddings" else "unknown"
        n, en = self.server.calls.next(endpoint)
        sc = self.server.scenario
        req = None
        try:
            req = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            pass
        inputs = req.get("input") if isinstance(req, dict) else None
        text = inputs if isinstance(inputs, str) else " ".join(
            x for x in (inputs or []) if isinstance(x, str)) if isinstance(inputs, list) else ""
        ctx = {"call": n, "endpoint": endpoint, "endpoint_call": en,
               "params": {"input": text, "model": str((req or {}).get("model", ""))
                          if isinstance(req, dict) else ""}}
        rule = {}
        if endpoint == "embeddings" and self.command == "POST":
            rule = fc.match_rule(sc.get("rules", []), self.server.calls, ctx) or {}
        self.record(endpoint, n, en, path, raw_query, params, body, rule.get("mode") or "normal")
        if endpoint != "embeddings" or self.command != "POST":
            self.send_json(*error(404, "Invalid URL (%s %s)" % (self.command, path)))
            return
        auth = self.headers.get("Authorization", "")
        if not auth:
            self.send_json(*error(401, "You didn't provide an API key. You need to provide your "
                                  "API key in an Authorization header using Bearer auth (i.e. "
                                  "Authorization: Bearer YOUR_KEY)."))
            return
        if auth != "Bearer " + str(sc.get("key", "")):
            # the real message echoes part of the key; this one never shows any of it
            self.send_json(*error(401, "Incorrect API key provided. You can find your API key at "
                                  "https://platform.openai.com/account/api-keys.",
                                  code="invalid_api_key"))
            return
        rule = self.after_delay(rule)
        mode = rule.get("mode", "")
        if mode == "http_429":
            self.send_json(*error(429, rule.get("error_message",
                                                "Rate limit reached for requests. Please try "
                                                "again in 1s."),
                                  etype="requests", code="rate_limit_exceeded"),
                           headers={"Retry-After": rule.get("retry_after", 1)})
            return
        if mode == "http_500":
            self.send_json(*error(500, "The server had an error while processing your request. "
                                  "Sorry about that!", etype="server_error"))
            return
        status, obj = self.answer(req, body, rule)
        data = (json.dumps(obj) + "\n").encode("utf-8")
        if status == 200 and self.transport_mode(rule, lambda: data):
            return
        self.send_bytes(status, data)

    do_GET = do_POST

    def answer(self, req, body, rule):
        sc = self.server.scenario
        if not isinstance(req, dict):
            return error(400, "We could not parse the JSON body of your request. (HINT: This "
                         "likely means you aren't using your HTTP library correctly. The OpenAI "
                         "API expects a JSON payload, but what was sent was not valid JSON.")
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return error(400, "you must provide a model parameter", param="model")
        inputs = req.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(
                isinstance(x, str) for x in inputs):
            return error(400, "'$.input' is invalid. Please check the API reference: "
                         "https://platform.openai.com/docs/api-reference.", param="input")
        max_inputs = int(sc.get("max_inputs", MAX_INPUTS))
        if len(inputs) > max_inputs:
            return error(400, "'$.input' is invalid: at most %d inputs per request, got %d."
                         % (max_inputs, len(inputs)), param="input")
        if any(x == "" for x in inputs):
            return error(400, "'$.input' is invalid: input cannot be an empty string.",
                         param="input")
        native = MODEL_DIMS.get(model, int(sc.get("default_dimensions", 1536)))
        dim = req.get("dimensions", native)
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1 or dim > native:
            return error(400, "This model does not support specifying dimensions of %r "
                         "(1..%d)." % (dim, native), param="dimensions")
        fmt = req.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return error(400, "'%s' is not one of ['float', 'base64'] - 'encoding_format'"
                         % fmt, param="encoding_format")
        mode = rule.get("mode", "")
        out_dim = dim
        if mode == "wrong_dimension":
            out_dim = int(rule.get("dimension", max(1, dim - 1)))
        data = []
        for i, text in enumerate(inputs):
            vec = embed(text, dim)
            if out_dim < dim:
                vec = vec[:out_dim]
            elif out_dim > dim:
                vec = vec + [0.0] * (out_dim - dim)
            if fmt == "base64":
                vec = base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": vec})
        if mode == "wrong_count":
            count = int(rule.get("count", max(0, len(data) - 1)))
            data = data[:count] if count <= len(data) else data + [
                dict(data[-1], index=j) for j in range(len(data), count)]
        used = sum(tokens(x) for x in inputs)
        return 200, {"object": "list", "data": data, "model": model,
                     "usage": {"prompt_tokens": used, "total_tokens": used}}


def main():
    args = fc.parse_args("OpenAI-compatible /v1/embeddings stand-in")
    scenario = fc.load_scenario(args.scenario)
    for i, r in enumerate(scenario.get("rules", [])):
        m = r.get("mode", "")
        if m and m not in MODES:
            raise SystemExit("%s: rules[%d].mode: unknown mode '%s'" % (args.scenario, i, m))

    def setup(httpd):
        httpd.scenario = scenario
    fc.serve(OpenAI, args, setup)


if __name__ == "__main__":
    main()
