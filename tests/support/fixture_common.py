"""Shared plumbing of rcpt's loopback fixture servers (places_fixture.py, openai_fixture.py).

Python 3 standard library only.  A fixture server:
  * binds 127.0.0.1 on port 0 (the kernel picks a free port) and prints that port on stdout,
    one line, once it accepts connections;
  * exits when its stdin reaches EOF (unless --ignore-stdin) or when --parent-pid dies, so that
    a crashed test never leaves it running;
  * appends every request it receives, before answering it, as one JSON line to --record
    (method, path, query, headers, body, call numbers, the mode it answered with);
  * answers from a scenario file (JSON) whose "rules" choose a failure mode per request
    pattern or per call number (see tests/support/README.md).
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--scenario", required=True, help="scenario JSON file")
    p.add_argument("--record", help="append each request as a JSON line to this file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    p.add_argument("--ignore-stdin", action="store_true",
                   help="do not exit when stdin reaches EOF")
    return p.parse_args()


def load_scenario(path):
    with open(path, "r", encoding="utf-8") as f:
        sc = json.load(f)
    if not isinstance(sc, dict):
        raise SystemExit("%s: the scenario must be a JSON object" % path)
    for k in ("rules", "places"):
        if sc.get(k) == {}:  # an empty Lua table encodes as {}
            sc[k] = []
    rules = sc.get("rules", [])
    if not isinstance(rules, list):
        raise SystemExit("%s: rules must be a list" % path)
    for i, r in enumerate(rules):
        if not isinstance(r, dict) or not isinstance(r.get("mode", ""), str):
            raise SystemExit("%s: rules[%d]: must be an object with a string mode" % (path, i))
    return sc


class Calls:
    """Call counters and the request log, shared by the handler threads."""

    def __init__(self, record_path):
        self.lock = threading.Lock()
        self.total = 0
        self.per_endpoint = {}
        self.fired = {}  # rule index -> times it has answered
        self.record_path = record_path

    def next(self, endpoint):
        with self.lock:
            self.total += 1
            n = self.per_endpoint.get(endpoint, 0) + 1
            self.per_endpoint[endpoint] = n
            return self.total, n

    def record(self, entry):
        if not self.record_path:
            return
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.lock:
            with open(self.record_path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()


def _as_list(v):
    return v if isinstance(v, list) else [v]


def match_rule(rules, calls, ctx, extra_match=None):
    """First rule whose every condition holds for this request, or None.

    ctx: {"call": n, "endpoint": name, "endpoint_call": n, "params": {name: value}}.
    Conditions: call (int or list), endpoint, endpoint_call (int or list), params (exact values),
    contains (case-insensitive substrings of parameter values), times (fires at most N times);
    extra_match(rule, ctx) may add fixture-specific ones (phone, address, query...)."""
    for i, r in enumerate(rules):
        if "call" in r and ctx["call"] not in _as_list(r["call"]):
            continue
        if "endpoint" in r and r["endpoint"] not in ("*", ctx["endpoint"]):
            continue
        if "endpoint_call" in r and ctx["endpoint_call"] not in _as_list(r["endpoint_call"]):
            continue
        params = ctx["params"]
        if any(params.get(k) != v for k, v in r.get("params", {}).items()):
            continue
        if any(str(v).lower() not in str(params.get(k, "")).lower()
               for k, v in r.get("contains", {}).items()):
            continue
        if extra_match and not extra_match(r, ctx):
            continue
        with calls.lock:
            if "times" in r and calls.fired.get(i, 0) >= r["times"]:
                continue
            calls.fired[i] = calls.fired.get(i, 0) + 1
        return r
    return None


class Handler(BaseHTTPRequestHandler):
    """Base handler: request parsing, recording and the transport-level failure modes."""

    protocol_version = "HTTP/1.1"
    server_version = "rcpt-fixture/1"

    def log_message(self, fmt, *args):  # quiet: the record file is the log
        pass

    # -- request --------------------------------------------------------------
    def parsed(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        return u.path, u.query, {k: v[0] for k, v in q.items()}, body

    def record(self, endpoint, n, en, path, raw_query, params, body, mode):
        self.server.calls.record({
            "n": n, "endpoint": endpoint, "endpoint_call": en,
            "method": self.command, "path": path, "raw_query": raw_query, "query": params,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"), "mode": mode, "time": time.time(),
        })

    # -- answers --------------------------------------------------------------
    def send_bytes(self, status, data, ctype="application/json; charset=UTF-8", headers=None,
                   declared_length=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data) if declared_length is None
                                                   else declared_length))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            if declared_length is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # the client gave up (its timeout ran out during a slow answer): nothing to do
            self.close_connection = True

    def send_json(self, status, obj, headers=None):
        self.send_bytes(status, (json.dumps(obj, indent=2) + "\n").encode("utf-8"),
                        headers=headers)

    @staticmethod
    def after_delay(rule):
        """A "slow" rule sleeps `delay` seconds, then answers as its `then` mode (default: the
        normal answer).  Returns the rule to answer with."""
        if rule.get("mode") != "slow":
            return rule
        time.sleep(float(rule.get("delay", 1.5)))
        then = dict(rule)
        then["mode"] = rule.get("then", "")
        return then

    def transport_mode(self, rule, normal_body):
        """Apply the modes that are not about the API's content. Returns True when answered.

        normal_body(): bytes of the answer the request would get without the rule."""
        mode = rule.get("mode", "")
        if mode == "malformed":
            self.send_bytes(200, rule.get("body", '{"status": "OK", "results": [{"name": ').encode())
            return True
        if mode == "truncated":
            data = normal_body()
            cut = data[:max(1, len(data) // 2)]
            self.send_bytes(200, cut, declared_length=len(data))
            return True
        return False


def serve(handler_cls, args, setup):
    """Bind, print the port, watch stdin and the parent, serve until told to stop."""
    httpd = ThreadingHTTPServer((args.host, args.port), handler_cls)
    httpd.daemon_threads = True
    setup(httpd)
    httpd.calls = Calls(args.record)

    def bye():
        os._exit(0)

    if not args.ignore_stdin:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            bye()
        threading.Thread(target=watch_stdin, daemon=True).start()

    parent = args.parent_pid
    start_ppid = os.getppid()

    def watch_parent():
        while True:
            time.sleep(0.3)
            if parent:
                try:
                    os.kill(parent, 0)
                except ProcessLookupError:
                    bye()
                except PermissionError:
                    pass
            elif os.getppid() != start_ppid:
                bye()
    threading.Thread(target=watch_parent, daemon=True).start()

    print(httpd.server_address[1], flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
