#!/usr/bin/python3
"""Independent gRPC receiver for the export suites (python3-grpcio, stubs generated at test time).

--kind podlens : podlens.v1.Collector/Export, one JSON line per call in --out:
                 {"peer", "status", "batch": MessageToDict(Batch)}
--kind otlp    : opentelemetry...MetricsService/Export, {"peer", "status", "request": ...}
Behaviour knobs (the error-class tests):
  --fail CODE:N        answer status CODE to the first N calls (then OK)
  --fail-seq CODE:SEQ  answer CODE to every call carrying sequence SEQ
  --delay-first-ms MS  the first call sleeps MS before answering OK (a deadline test)
  --token T            require "authorization: Bearer T" (else UNAUTHENTICATED)
  --tls-cert/--tls-key serve TLS; --client-ca also requires a client certificate signed by it
The port is written to --port-file once the server listens (0 = pick a free one).
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf.json_format import MessageToDict

ap = argparse.ArgumentParser()
ap.add_argument("--gen", required=True)
ap.add_argument("--kind", choices=["podlens", "otlp"], default="podlens")
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--port-file")
ap.add_argument("--out", required=True)
ap.add_argument("--fail", default="")
ap.add_argument("--fail-seq", default="")
ap.add_argument("--delay-first-ms", type=int, default=0)
ap.add_argument("--token")
ap.add_argument("--tls-cert")
ap.add_argument("--tls-key")
ap.add_argument("--client-ca")
args = ap.parse_args()
sys.path.insert(0, args.gen)

lock = threading.Lock()
calls = 0
out = open(args.out, "a", buffering=1)
fail_code, fail_n = (args.fail.split(":") + [0])[:2] if args.fail else (None, 0)
fail_n = int(fail_n)
fseq_code, fseq = (args.fail_seq.split(":") if args.fail_seq else (None, "0"))
fseq = int(fseq)


def decide(context, seq):
    """Return the grpc.StatusCode to answer (None = OK) and record the call."""
    global calls
    with lock:
        calls += 1
        n = calls
    if args.token is not None:
        md = dict(context.invocation_metadata())
        if md.get("authorization") != "Bearer " + args.token:
            return grpc.StatusCode.UNAUTHENTICATED, "bad token"
    if fail_code and n <= fail_n:
        return getattr(grpc.StatusCode, fail_code), "told to fail"
    if fseq_code and seq == fseq:
        return getattr(grpc.StatusCode, fseq_code), "told to fail this sequence"
    if args.delay_first_ms and n == 1:
        time.sleep(args.delay_first_ms / 1000.0)
    return None, ""


def answer(context, code, msg, record):
    record["status"] = code.name if code else "OK"
    record["peer"] = context.peer()
    with lock:
        out.write(json.dumps(record, sort_keys=True) + "\n")
    if code:
        context.abort(code, msg)


if args.kind == "podlens":
    from podlens.v1 import podlens_pb2, podlens_pb2_grpc

    class Collector(podlens_pb2_grpc.CollectorServicer):
        def Export(self, request, context):
            code, msg = decide(context, request.sequence)
            answer(context, code, msg, {"batch": MessageToDict(request, preserving_proto_field_name=True),
                                        "size": request.ByteSize()})
            return podlens_pb2.ExportResponse(accepted=True)

    def add(server):
        podlens_pb2_grpc.add_CollectorServicer_to_server(Collector(), server)
else:
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            code, msg = decide(context, -1)
            answer(context, code, msg, {"request": MessageToDict(request, preserving_proto_field_name=True),
                                        "size": request.ByteSize()})
            return metrics_service_pb2.ExportMetricsServiceResponse()

    def add(server):
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                     options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 8 << 20)])
add(server)
addr = "127.0.0.1:%d" % args.port
if args.tls_cert:
    with open(args.tls_cert, "rb") as f:
        cert = f.read()
    with open(args.tls_key, "rb") as f:
        key = f.read()
    ca = open(args.client_ca, "rb").read() if args.client_ca else None
    creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                        require_client_auth=bool(ca))
    port = server.add_secure_port(addr, creds)
else:
    port = server.add_insecure_port(addr)
if not port:
    sys.exit("receiver: cannot listen on %s" % addr)
server.start()
if args.port_file:
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
signal.signal(signal.SIGINT, lambda *a: done.set())
done.wait()
server.stop(0)
