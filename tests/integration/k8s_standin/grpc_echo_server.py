#!/usr/bin/python3
"""grpc_echo_server.py - an independent gRPC peer (Debian python3-grpcio) for lib/grpc_client tests.

Methods (raw bytes, no protobuf):
  /test.Echo/Echo    replies with the request bytes; counts calls (ground truth for the test)
  /test.Echo/Fail    request "CODE message": aborts with that status code and message
  /test.Echo/Sleep   request "MS": sleeps MS milliseconds (deadline tests), then replies "slept"
  /test.Echo/Meta    replies "authorization=<value>;timeout=<remaining ms or none>"
  /test.Echo/Count   replies the number of Echo calls served so far
  /test.Echo/Big     request "N": replies N bytes of 'b'

  grpc_echo_server.py --unix PATH [--tcp PORTFILE] [--tls PORTFILE --cert C --key K] --pidfile F
Ports are bound on 127.0.0.1 port 0 and written to the port files once the server is serving.
"""
import argparse
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc

COUNT = 0
LOCK = threading.Lock()


def echo(req, ctx):
    global COUNT
    with LOCK:
        COUNT += 1
    return req


def fail(req, ctx):
    code, _, msg = req.decode("utf-8").partition(" ")
    code = int(code)
    status = next(s for s in grpc.StatusCode if s.value[0] == code)
    ctx.abort(status, msg)


def sleep(req, ctx):
    ms = int(req.decode())
    end = time.monotonic() + ms / 1000.0
    while time.monotonic() < end and ctx.is_active():
        time.sleep(0.01)
    return b"slept"


def meta(req, ctx):
    md = dict(ctx.invocation_metadata())
    rem = ctx.time_remaining()
    tmo = "none" if rem is None or rem > 1e6 else str(int(rem * 1000))
    return ("authorization=%s;timeout=%s" % (md.get("authorization", ""), tmo)).encode()


def count(req, ctx):
    with LOCK:
        return str(COUNT).encode()


def big(req, ctx):
    return b"b" * int(req.decode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unix")
    ap.add_argument("--tcp")
    ap.add_argument("--tls")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--pidfile")
    a = ap.parse_args()

    ident = lambda b: b  # noqa: E731
    h = {n: grpc.unary_unary_rpc_method_handler(f, request_deserializer=ident, response_serializer=ident)
         for n, f in (("Echo", echo), ("Fail", fail), ("Sleep", sleep), ("Meta", meta),
                      ("Count", count), ("Big", big))}
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                      options=[("grpc.max_send_message_length", 64 << 20),
                               ("grpc.max_receive_message_length", 64 << 20)])
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", h),))
    if a.unix:
        srv.add_insecure_port("unix://" + a.unix)
    tcp = srv.add_insecure_port("127.0.0.1:0") if a.tcp else None
    tls = None
    if a.tls:
        with open(a.key, "rb") as f:
            key = f.read()
        with open(a.cert, "rb") as f:
            crt = f.read()
        tls = srv.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, crt)]))
    srv.start()
    for path, port in ((a.tcp, tcp), (a.tls, tls)):
        if path:
            with open(path + ".tmp", "w") as f:
                f.write(str(port))
            os.rename(path + ".tmp", path)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(str(os.getpid()))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    srv.stop(0)
    sys.exit(0)


if __name__ == "__main__":
    main()
