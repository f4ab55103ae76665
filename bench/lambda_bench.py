#!/usr/bin/env python3
"""Figures of `rcpt lambda` against the loopback Runtime API stand-in
(tests/support/runtime_api.py, imported here, served in this process).

  cold start: process spawn -> first GET /invocation/next received by the
              stand-in (median of RUNS), for
                rcpt lambda with the embedded handler (lua/main.lua and what it loads),
                rcpt lambda with an empty handler (--lua override),
                the trivial C client (bench/lambda_client.c): the floor, a process
                that only starts libcurl
  warm:       N invocations of an empty handler through the stand-in; time per
              invocation = (arrival of the last /next - arrival of the first) / (N - 1),
              for rcpt lambda and for the trivial C client; the difference is the
              overhead rcpt adds per invocation (the stand-in's own cost is in both).

usage: lambda_bench.py RCPT_BIN CLIENT_BIN [--runs 15] [--n 2000] [--repeat 5]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "support"))
import runtime_api  # noqa: E402


def cold_start(cmd, env, runs):
    """Median ms from Popen to the first /next, over runs spawns."""
    times = []
    for _ in range(runs):
        arrived = threading.Event()
        t_next = []

        def on_next(t):
            if not t_next:
                t_next.append(t)
                arrived.set()

        api = runtime_api.RuntimeAPI([], on_next=on_next)
        port = api.start()
        e = dict(env, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % port)
        argv = [a.replace("{api}", "127.0.0.1:%d" % port) for a in cmd]
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = arrived.wait(10)
        p.kill()
        _, err = p.communicate()
        api.stop()
        if not ok:
            sys.exit("no /next from %s: %s" % (argv, err.decode(errors="replace")[-2000:]))
        times.append((t_next[0] - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def warm(cmd, env, n):
    """ms per invocation over n invocations of an empty event."""
    arrivals = []
    api = runtime_api.RuntimeAPI([{"event": {}} for _ in range(n)],
                                 on_next=arrivals.append)
    port = api.start()
    e = dict(env, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % port)
    argv = [a.replace("{api}", "127.0.0.1:%d" % port) for a in cmd]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(argv, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    api.stop()
    cpu = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1e3 / n
    if p.returncode != 0 or len(arrivals) != n or len(api.posts) != n:
        sys.exit("warm run failed (rc %d, %d nexts, %d posts): %s" % (
            p.returncode, len(arrivals), len(api.posts), p.stderr.decode(errors="replace")[-2000:]))
    return (arrivals[-1] - arrivals[0]) * 1e3 / (n - 1), cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rcpt")
    ap.add_argument("client")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="rcpt-bench-")
    with open(os.path.join(tmp, "main.lua"), "w") as f:
        f.write("return { handler = function() end }\n")
    env = dict(os.environ)
    env.pop("RCPT_LUA_PATH", None)
    env["_HANDLER"] = "main.handler"
    rcpt_default = [a.rcpt, "lambda"]
    rcpt_empty = [a.rcpt, "--lua", tmp, "lambda"]
    client = [a.client, "{api}", "1000000"]

    print("cold start: spawn -> first GET /next (median of %d runs, min..max)" % a.runs)
    rows = [("rcpt lambda, embedded lua/main.lua", rcpt_default),
            ("rcpt lambda, empty handler", rcpt_empty),
            ("trivial C client (libcurl only)", client)]
    cold = {}
    for name, cmd in rows:
        med, lo, hi = cold_start(cmd, env, a.runs)
        cold[name] = med
        print("  %-36s %7.2f ms   (%.2f..%.2f)" % (name, med, lo, hi))
    floor = cold["trivial C client (libcurl only)"]
    print("  rcpt (embedded handler) minus the client: %.2f ms; ratio %.1fx" % (
        cold["rcpt lambda, embedded lua/main.lua"] - floor,
        cold["rcpt lambda, embedded lua/main.lua"] / floor))

    print("\nwarm: per invocation over N=%d empty invocations (median of %d runs)" % (a.n, a.repeat))
    r_rcpt = [warm(rcpt_empty + ["--max-invocations", str(a.n)], env, a.n) for _ in range(a.repeat)]
    r_client = [warm([a.client, "{api}", str(a.n)], env, a.n) for _ in range(a.repeat)]
    m_rcpt = statistics.median(x[0] for x in r_rcpt)
    m_client = statistics.median(x[0] for x in r_client)
    c_rcpt = statistics.median(x[1] for x in r_rcpt)
    c_client = statistics.median(x[1] for x in r_client)
    print("  %-36s %9s %14s" % ("", "wall ms/inv", "own CPU ms/inv"))
    print("  %-36s %9.3f %14.3f  (wall runs: %s)" % (
        "rcpt lambda, empty handler", m_rcpt, c_rcpt, ", ".join("%.3f" % x[0] for x in r_rcpt)))
    print("  %-36s %9.3f %14.3f  (wall runs: %s)" % (
        "trivial C client (stand-in's cost)", m_client, c_client,
        ", ".join("%.3f" % x[0] for x in r_client)))
    print("  rcpt overhead per invocation: wall %.3f ms (ratio %.2fx), CPU %.3f ms (ratio %.2fx)" % (
        m_rcpt - m_client, m_rcpt / m_client, c_rcpt - c_client, c_rcpt / c_client))
    print("  (wall time is the stand-in's round trips for both; the CPU column is what the process itself spends)")
    os.remove(os.path.join(tmp, "main.lua"))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
