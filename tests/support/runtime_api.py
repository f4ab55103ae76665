#!/usr/bin/env python3
"""A loopback stand-in of the AWS Lambda Runtime API (Python 3 stdlib only).

Serves the four endpoints on 127.0.0.1:
  GET  /2018-06-01/runtime/invocation/next         one event per call, long-polls when none is left
  POST /2018-06-01/runtime/invocation/{id}/response
  POST /2018-06-01/runtime/invocation/{id}/error
  POST /2018-06-01/runtime/init/error

Command line (what the specs use):
  runtime_api.py --events EVENTS.json --record RECORD.json [--port 0] [--idle-exit 120]
prints the port on stdout once it accepts connections, and rewrites RECORD.json
after every request (write to a temporary file, then rename).

EVENTS.json: {"function_arn": "...",            (default for every event)
              "events": [ {
                 "event": <any JSON>  or  "body": "<raw text, sent as is>",
                 "request_id": "...",            (default req-<n>)
                 "deadline_offset_ms": 30000,    (deadline = time of the /next answer + this)
                 "trace_id": "...", "function_arn": "...",
                 "client_context": "<json text>", "identity": "<json text>",
                 "fail_posts": [500]             (answer the first posts for this id with these
                                                  statuses and do not count them as answers)
              }, ...]}
RECORD.json: {"nexts": [{"request_id", "t_ms", "deadline_ms", "peer_port"}],
              "posts": [{"kind": "response"|"error"|"init_error", "request_id", "status",
                         "body", "headers", "t_ms", "deadline_ms", "peer_port"}],
              "rejected": [same shape: the posts answered with a fail_posts status]}
t_ms are wall-clock milliseconds since the epoch, like Lambda-Runtime-Deadline-Ms;
peer_port is the client's TCP port (one port for all = one kept-alive connection).

The module is importable too (bench/lambda_bench.py): RuntimeAPI(events, record=None).
"""
import argparse
import json
import os
import queue
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
_POST_RE = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")


def now_ms():
    return int(time.time() * 1000)


class RuntimeAPI:
    def __init__(self, events, function_arn="arn:aws:lambda:us-east-1:123456789012:function:rcpt",
                 record=None, on_next=None):
        self.function_arn = function_arn
        self.record_path = record
        self.on_next = on_next          # called with the monotonic time of each /next arrival
        self.lock = threading.Lock()
        self.queue = queue.Queue()
        self.pending = {}               # request id -> event spec
        self.fail_left = {}             # request id -> statuses still to answer with
        self.nexts, self.posts, self.rejected = [], [], []
        self.stopping = threading.Event()
        self.last_activity = time.monotonic()
        for n, ev in enumerate(events):
            self.add(ev, n)
        self.server = None

    def add(self, ev, n=None):
        ev = dict(ev)
        ev.setdefault("request_id", "req-%d" % (n if n is not None else id(ev)))
        self.queue.put(ev)

    # ---- records ----------------------------------------------------------
    def _write_record(self):
        if not self.record_path:
            return
        tmp = self.record_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"nexts": self.nexts, "posts": self.posts, "rejected": self.rejected}, f)
        os.replace(tmp, self.record_path)

    # ---- server -----------------------------------------------------------
    def start(self, port=0):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"      # keep-alive, like the real agent
            disable_nagle_algorithm = True     # answers go out at once

            def log_message(self, *a):
                pass

            def _answer(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                api.last_activity = time.monotonic()
                if self.path != PREFIX + "/invocation/next":
                    return self._answer(404, b'{"errorMessage":"not found"}')
                if api.on_next:
                    api.on_next(time.monotonic())
                while True:  # long-poll: block until an event comes or we stop
                    try:
                        ev = api.queue.get(timeout=0.2)
                        break
                    except queue.Empty:
                        if api.stopping.is_set():
                            self.close_connection = True
                            return
                rid = ev["request_id"]
                deadline = now_ms() + int(ev.get("deadline_offset_ms", 30000))
                if "body" in ev:
                    body = ev["body"].encode()
                else:
                    body = json.dumps(ev.get("event")).encode()
                headers = [("Lambda-Runtime-Aws-Request-Id", rid),
                           ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                           ("Lambda-Runtime-Invoked-Function-Arn",
                            ev.get("function_arn", api.function_arn))]
                for key, name in (("trace_id", "Lambda-Runtime-Trace-Id"),
                                  ("client_context", "Lambda-Runtime-Client-Context"),
                                  ("identity", "Lambda-Runtime-Cognito-Identity")):
                    if key in ev:
                        headers.append((name, ev[key]))
                with api.lock:
                    ev["deadline_ms"] = deadline
                    api.pending[rid] = ev
                    api.fail_left[rid] = list(ev.get("fail_posts", []))
                    if api.record_path is not None:
                        api.nexts.append({"request_id": rid, "t_ms": now_ms(), "deadline_ms": deadline,
                                          "peer_port": self.client_address[1]})
                        api._write_record()
                self._answer(200, body, headers)

            def do_POST(self):
                api.last_activity = time.monotonic()
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                t = now_ms()
                if self.path == PREFIX + "/init/error":
                    kind, rid = "init_error", None
                else:
                    m = _POST_RE.match(self.path)
                    if not m:
                        return self._answer(404, b'{"errorMessage":"not found"}')
                    rid, kind = m.group(1), m.group(2)
                with api.lock:
                    ev = api.pending.get(rid) if rid else None
                    if rid is not None and ev is None:
                        status = 400   # the real agent: InvalidRequestID
                    else:
                        left = api.fail_left.get(rid) if rid else None
                        status = left.pop(0) if left else 202
                    try:
                        body = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        body = raw.decode("latin-1")
                    rec = {"kind": kind, "request_id": rid, "status": status, "body": body,
                           "headers": {k: v for k, v in self.headers.items()}, "t_ms": t,
                           "deadline_ms": ev["deadline_ms"] if ev else None,
                           "peer_port": self.client_address[1]}
                    if api.record_path is not None:
                        (api.posts if status == 202 else api.rejected).append(rec)
                        api._write_record()
                    else:
                        api.posts.append(None)      # the bench only counts
                    if status == 202 and rid:
                        api.pending.pop(rid, None)
                self._answer(status, b'{"status":"OK"}' if status == 202
                             else b'{"errorMessage":"refused by the stand-in"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self.server.server_address[1]

    def stop(self):
        self.stopping.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--idle-exit", type=float, default=120,
                    help="exit after this many seconds without a request (a safety net)")
    a = ap.parse_args()
    with open(a.events) as f:
        cfg = json.load(f)
    kw = {"record": a.record}
    if "function_arn" in cfg:
        kw["function_arn"] = cfg["function_arn"]
    api = RuntimeAPI(cfg.get("events", []), **kw)
    api._write_record()
    port = api.start(a.port)
    print(port, flush=True)
    try:
        while time.monotonic() - api.last_activity < a.idle_exit:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
