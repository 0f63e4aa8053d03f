#!/usr/bin/python3
"""gRPC server and client on python3-grpcio (generic handlers, raw bytes: no generated stubs), for
tests/integration/agent_grpc.sh and the HTTP/2 fixtures.

  grpcpeer.py server PORT DELAY_MS READY_FILE
      service podlens.test.Echo on 127.0.0.1:PORT:
        Unary   payload b"ok" -> OK, b"notfound" -> NOT_FOUND, b"internal" -> INTERNAL
        Slow    sleeps DELAY_MS, then OK
        Stream  server-streaming: payload "K" or "K,GAP_MS": K messages, each sent GAP_MS after
                the previous one (the first GAP_MS after the request), then OK: the response
                ends K x GAP_MS after the request
  grpcpeer.py client PORT PLAN_JSON OUT_JSON [CONNECTED_FILE GO_FILE]
      one channel (one HTTP/2 connection); with CONNECTED_FILE: one warm-up Unary call, write the
      file, wait (at most 60 s) for GO_FILE, then run the plan:
      {"ok": N, "notfound": N, "internal": N, "slow": N, "concurrent": N, "stream": [K, ...],
       "stream_gap_ms": G}
      "concurrent": N Slow calls in flight at once on the same connection.
      OUT_JSON: {"calls": {"/podlens.test.Echo/Unary": {"OK": n, ...}, ...}, "slow_ms": [...],
                 "stream_ms": [...]} (each call's time to its last message, as the client saw it)
  GRPCPEER_HOST: the address the server binds and the client calls (127.0.0.1 when unset; the lab
  scenario e2e/scenarios/32-collector-grpc.sh uses pod addresses)
"""
import json
import os
import sys
import time
from concurrent import futures

import grpc

SVC = "podlens.test.Echo"
HOST = os.environ.get("GRPCPEER_HOST", "127.0.0.1")


def server(port, delay_ms, ready):
    def unary(req, ctx):
        if req == b"notfound":
            ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        if req == b"internal":
            ctx.abort(grpc.StatusCode.INTERNAL, "broken")
        return b"pong"

    def slow(req, ctx):
        time.sleep(delay_ms / 1000.0)
        return b"slept"

    def stream(req, ctx):
        k, _, gap = (req or b"1").partition(b",")
        for i in range(int(k)):
            if gap:
                time.sleep(int(gap) / 1000.0)
            yield b"item%d" % i

    h = grpc.method_handlers_generic_handler(SVC, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    })
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    s.add_generic_rpc_handlers((h,))
    s.add_insecure_port("%s:%d" % (HOST, port))
    s.start()
    with open(ready + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(ready + ".tmp", ready)
    s.wait_for_termination()


def client(port, plan, out, connected=None, go=None):
    ch = grpc.insecure_channel("%s:%d" % (HOST, port))
    unary = ch.unary_unary("/%s/Unary" % SVC)
    slow = ch.unary_unary("/%s/Slow" % SVC)
    stream = ch.unary_stream("/%s/Stream" % SVC)
    calls = {}
    slow_ms = []
    stream_ms = []

    def count(method, code):
        m = calls.setdefault("/%s/%s" % (SVC, method), {})
        m[code.name] = m.get(code.name, 0) + 1

    def call(fn, method, payload):
        try:
            fn(payload, timeout=30)
            count(method, grpc.StatusCode.OK)
        except grpc.RpcError as e:
            count(method, e.code())

    if connected:
        unary(b"ok", timeout=30)     # opens the connection; not part of the plan
        with open(connected, "w") as f:
            f.write("1")
        deadline = time.monotonic() + 60
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                sys.exit("no go file")
            time.sleep(0.05)
    for what, method in (("ok", "Unary"), ("notfound", "Unary"), ("internal", "Unary")):
        for _ in range(plan.get(what, 0)):
            call(unary, method, what.encode())
    for _ in range(plan.get("slow", 0)):
        t = time.monotonic()
        call(slow, "Slow", b"x")
        slow_ms.append((time.monotonic() - t) * 1000)
    n = plan.get("concurrent", 0)
    if n:
        fs = [slow.future(b"x", timeout=30) for _ in range(n)]
        for f in fs:
            try:
                f.result()
                count("Slow", grpc.StatusCode.OK)
            except grpc.RpcError as e:
                count("Slow", e.code())
    gap = plan.get("stream_gap_ms", 0)
    for k in plan.get("stream", []):
        try:
            t = time.monotonic()
            got = sum(1 for _ in stream(("%d,%d" % (k, gap) if gap else str(k)).encode(), timeout=30))
            stream_ms.append((time.monotonic() - t) * 1000)
            count("Stream", grpc.StatusCode.OK if got == k else grpc.StatusCode.DATA_LOSS)
        except grpc.RpcError as e:
            count("Stream", e.code())
    ch.close()
    with open(out + ".tmp", "w") as f:
        json.dump({"calls": calls, "slow_ms": sorted(slow_ms), "stream_ms": sorted(stream_ms)}, f)
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        client(int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], *sys.argv[5:7])
