#!/usr/bin/python3
"""Export latency of a steady exporter with and without API readers hammering the collector
(tests/integration/collector_readers.sh; stubs generated at test time into $PODLENS_PY).

  readers.py measure GRPC HTTP --from MS --to MS --budget-ms B [--rate 20] [--secs 30] [--readers 20]
      phase "idle":    the exporter alone (agent steady-idle, seq 1..N)
      phase "readers": the same exporter (agent steady-readers) while --readers threads of a
                       separate process (no shared GIL with the exporter) query the heaviest
                       endpoints over [from, to) and /metrics and /healthz between them
      prints one line per phase: key=value (sent, ok, p50_ms, p99_ms, max_ms, and for readers what
      the readers got)
  readers.py read HTTP --from MS --to MS --budget-ms B --threads N --stop FILE --out FILE [--max-secs S]
      the reader process: runs until FILE exists (or --max-secs), writes its tally as JSON to --out

Batch seq of agent A: namespace "steady", pod A, rx_bytes = seq, one request, interval start
1 day ago + 10 s x seq: the test sums rx_bytes per pod to check every batch was stored once.
Readers accept three answers only: 200 with the endpoint's JSON (or /metrics text, /healthz "ok"),
503 with {"error": "...budget...", "budget_ms": B} and nothing else in the body, or 503 with
{"error": "query queue full ...", "queue": Q} and Retry-After (then the reader waits Retry-After
seconds, as a client that honours it would: a hammering client gets the same 503 at once).
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

METHOD = "/podlens.v1.Collector/Export"
DAY_MS = 86400000


def batch(agent, seq, base_ms):
    w = pb.WorkloadStats(
        workload=pb.Workload(node="node-s", namespace="steady", pod=agent, container="c", pod_uid="uid-" + agent),
        traffic=pb.PodTraffic(rx_bytes=seq, tx_bytes=2 * seq, rx_packets=1, tx_packets=1),
        requests=[pb.RequestStats(direction=pb.RequestStats.DIRECTION_SERVER, protocol=pb.RequestStats.PROTOCOL_HTTP1,
                                  method="GET", route="/s", status_code=200, count=1, sum_us=500,
                                  buckets=[pb.RequestStats.Bucket(index=40, count=1)])])
    return pb.Batch(agent_id=agent, node="node-s", sequence=seq, interval_start_unix_ms=base_ms + seq * 10000,
                    interval_ms=10000, workloads=[w])


def pct(sorted_ms, q):
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def steady(grpc_target, agent, rate, secs):
    """Exports at `rate` per second for `secs`, one call at a time, each at its scheduled time
    (or right after the previous one when late). Returns (sent, ok, latencies in ms, errors)."""
    ch = grpc.insecure_channel(grpc_target)
    call = ch.unary_unary(METHOD, request_serializer=pb.Batch.SerializeToString,
                          response_deserializer=pb.ExportResponse.FromString)
    base = int(time.time() * 1000) - DAY_MS
    n = int(rate * secs)
    lat, errors, ok = [], [], 0
    try:
        call(batch("warmup-" + agent, 1, base), timeout=10)      # connect outside the measure
    except grpc.RpcError as e:
        errors.append("warm-up call %s" % e.code())
    t0 = time.monotonic()
    for seq in range(1, n + 1):
        due = t0 + (seq - 1) / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)                                # pacing, not synchronisation
        b = batch(agent, seq, base)
        s = time.perf_counter()
        try:
            r = call(b, timeout=10)
            lat.append((time.perf_counter() - s) * 1000)
            if r.accepted and not r.duplicate:
                ok += 1
            else:
                errors.append("seq %d accepted=%s duplicate=%s" % (seq, r.accepted, r.duplicate))
        except grpc.RpcError as e:
            lat.append((time.perf_counter() - s) * 1000)
            errors.append("seq %d %s" % (seq, e.code()))
    ch.close()
    return n, ok, sorted(lat), errors


def summary(name, sent, ok, lat, errors):
    return ("phase=%s sent=%d ok=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f errors=%d" %
            (name, sent, ok, pct(lat, 0.5), pct(lat, 0.99), lat[-1] if lat else float("nan"), len(errors)))


def cmd_measure(a):
    sent, ok, lat, err = steady(a.grpc, "steady-idle", a.rate, a.secs)
    print(summary("idle", sent, ok, lat, err), flush=True)
    for e in err[:5]:
        print("  error:", e)

    stop = "%s.stop.%d" % (a.tmp, os.getpid())
    out = "%s.readers.%d.json" % (a.tmp, os.getpid())
    rd = subprocess.Popen([sys.executable, os.path.abspath(__file__), "read", a.http, "--from", str(a.from_ms),
                           "--to", str(a.to_ms), "--budget-ms", str(a.budget_ms), "--threads", str(a.readers),
                           "--stop", stop, "--out", out, "--max-secs", str(a.secs * 4 + 60)])
    # wait until every reader has a request in flight, so the exporter runs under the full load
    deadline = time.monotonic() + 60
    while not os.path.exists(out + ".started") and time.monotonic() < deadline and rd.poll() is None:
        time.sleep(0.05)
    try:
        sent, ok, lat, err = steady(a.grpc, "steady-readers", a.rate, a.secs)
    finally:
        open(stop, "w").close()
        try:
            rd.wait(timeout=a.secs + 120)
        except subprocess.TimeoutExpired:
            rd.kill()
            rd.wait()
    try:
        tally = json.load(open(out))
    except (OSError, ValueError):
        tally = {"ok": 0, "over_budget": 0, "bad": ["reader process wrote no tally"], "health_max_ms": -1,
                 "by_path": {}}
    for f in (stop, out, out + ".started"):
        try:
            os.unlink(f)
        except OSError:
            pass
    print(summary("readers", sent, ok, lat, err) +
          " reads_ok=%d reads_503=%d reads_full=%d reads_bad=%d health_n=%d health_p50_ms=%.0f"
          " health_max_ms=%.0f" %
          (tally["ok"], tally["over_budget"], tally.get("queue_full", 0), len(tally["bad"]), tally["health_n"],
           tally["health_p50_ms"], tally["health_max_ms"]), flush=True)
    for e in err[:5]:
        print("  error:", e)
    for e in tally["bad"][:5]:
        print("  bad read:", e)
    for p, v in sorted(tally["by_path"].items()):
        print("  reads %s: %s" % (p, v))


# ---------------------------------------------------------------- readers

def endpoints(f, t):
    rng = "from=%d&to=%d" % (f, t)
    return [
        ("pods", "/api/v1/namespaces/shop/pods?" + rng, "pods"),
        ("edges", "/api/v1/edges?" + rng, "edges"),
        ("series", "/api/v1/namespaces/shop/pods/pod-001/series?" + rng, "points"),
        ("series_raw", "/api/v1/namespaces/shop/pods/pod-005/series?from=%d&to=%d&step=10" % (f, min(t, f + 40000000)),
         "points"),
        ("routes", "/api/v1/namespaces/shop/pods/pod-003/routes?" + rng, "routes"),
        ("ns_edges", "/api/v1/namespaces/payments/edges?" + rng, "edges"),
    ]


def check(kind, key, status, body, budget_ms):
    """None when the answer is one of the three allowed, else why not."""
    if status == 503:
        try:
            j = json.loads(body)
        except ValueError:
            return "503 body is not JSON: %r" % body[:80]
        if set(j) == {"error", "queue"}:
            ok = isinstance(j["queue"], int) and j["error"] == "query queue full (%d waiting)" % j["queue"]
            return None if ok else "503 queue body: %r" % body[:120]
        if set(j) != {"error", "budget_ms"} or j["budget_ms"] != budget_ms or "budget" not in j["error"]:
            return "503 body not the budget error: %r" % body[:120]
        return None
    if status != 200:
        return "status %d: %r" % (status, body[:80])
    if kind == "healthz":
        return None if body == b"ok\n" else "healthz body %r" % body[:40]
    if kind == "metrics":
        return None if b"podlens_collector_batches_total" in body and body.endswith(b"\n") else "metrics text cut"
    try:
        j = json.loads(body)
    except ValueError:
        return "%s: 200 body is not JSON (%d bytes)" % (kind, len(body))
    return None if isinstance(j.get(key), list) else "%s: no %s list" % (kind, key)


def cmd_read(a):
    host, port = a.http.rsplit(":", 1) if ":" in a.http else ("127.0.0.1", a.http)
    eps = endpoints(a.from_ms, a.to_ms)
    lock = threading.Lock()
    tally = {"ok": 0, "over_budget": 0, "queue_full": 0, "bad": [], "health": [], "by_path": {}}
    started = [0]
    t_end = time.monotonic() + a.max_secs

    def sent_first():
        with lock:
            started[0] += 1
            if started[0] == a.threads:
                open(a.out + ".started", "w").close()

    def one(conn, kind, path, key, on_sent):
        s = time.monotonic()
        conn.request("GET", path)
        if on_sent:
            on_sent()
        r = conn.getresponse()
        body = r.read()
        ms = (time.monotonic() - s) * 1000
        why = check(kind, key, r.status, body, a.budget_ms)
        full = r.status == 503 and not why and b'"queue"' in body
        if full and r.getheader("Retry-After") != "1":
            why = "queue-full 503 without Retry-After: 1"
        with lock:
            d = tally["by_path"].setdefault(kind, {"200": 0, "503": 0, "full": 0, "bad": 0, "max_ms": 0})
            if why:
                tally["bad"].append(why)
                d["bad"] += 1
            elif full:
                tally["queue_full"] += 1
                d["full"] += 1
            elif r.status == 503:
                tally["over_budget"] += 1
                d["503"] += 1
            else:
                tally["ok"] += 1
                d["200"] += 1
            d["max_ms"] = max(d["max_ms"], int(ms))
            if kind == "healthz":
                tally["health"].append(ms)
        return full

    def worker(i):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        k = i
        first = True
        while not os.path.exists(a.stop) and time.monotonic() < t_end:
            k += 1
            if k % 8 == 0:
                kind, path, key = ("healthz", "/healthz", None) if (k // 8) % 2 else ("metrics", "/metrics", None)
            else:
                kind, path, key = eps[k % len(eps)]
            try:
                if one(conn, kind, path, key, sent_first if first else None):
                    time.sleep(1)                    # Retry-After: 1 (client behaviour, not a wait)
                first = False
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    tally["bad"].append("%s: %s" % (kind, e))
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    h = sorted(tally.pop("health"))
    tally["health_n"] = len(h)
    tally["health_p50_ms"] = pct(h, 0.5) if h else -1
    tally["health_max_ms"] = h[-1] if h else -1
    json.dump(tally, open(a.out, "w"))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("grpc")
    m.add_argument("http")
    m.add_argument("--rate", type=float, default=20)
    m.add_argument("--secs", type=float, default=30)
    m.add_argument("--readers", type=int, default=20)
    m.add_argument("--tmp", default="/tmp/podlens-readers")
    r = sub.add_parser("read")
    r.add_argument("http")
    r.add_argument("--threads", type=int, default=20)
    r.add_argument("--stop", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--max-secs", type=float, default=120)
    for s in (m, r):
        s.add_argument("--from", dest="from_ms", type=int, required=True)
        s.add_argument("--to", dest="to_ms", type=int, required=True)
        s.add_argument("--budget-ms", type=int, required=True)
    a = p.parse_args()
    {"measure": cmd_measure, "read": cmd_read}[a.cmd](a)


if __name__ == "__main__":
    main()
