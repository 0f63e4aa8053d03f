#!/usr/bin/python3
"""Independent gRPC peer for podlens-collector tests (python3-grpcio, stubs generated at test time
from proto/podlens/v1/podlens.proto into $PODLENS_PY).

  client.py seed   TARGET --batches N [--agent A] [--end-ms MS]   scenario below, prints what it sent
  client.py stream TARGET --count N --acks FILE                   sequential Exports, acked seqs appended
  client.py bulk   TARGET --count N                               N sequential Exports on one channel
  client.py raw    TARGET --hex HEX | --method M                  one call with raw request bytes
  client.py one    TARGET --seq S [--agent A] [--compress]        one small batch, prints status/duplicate
  client.py big    TARGET                                         one batch of ~100 kB (over a 64 kB limit)

Common: --token T, --tls-ca FILE (TLS with that CA; server name 'localhost').
Scenario of `seed` (one batch per 10 s interval, ending at --end-ms):
  shop/web    server: 95 x GET /api/items 200 + 5 x GET /api/items 500 per batch;
              latencies: 90 in bucket [960,1024) us, 10 in bucket [49152,53248) us;
              traffic rx 10000 B, tx 20000 B per batch; flow web -> shop/db:5432, 3000 B
  shop/db     server: 50 x SELECT 200 per batch, all in bucket [96,104) us; rx 4000, tx 8000
  payments/api server: 20 x POST /pay 200 per batch, all in [1920,2048) us; rx 1000, tx 1000
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

METHOD = "/podlens.v1.Collector/Export"


def bucket(v):
    if v < 8:
        return v
    e = v.bit_length() - 1
    return 8 + (e - 3) * 8 + ((v >> (e - 3)) & 7)


def channel(args):
    if args.tls_ca:
        creds = grpc.ssl_channel_credentials(open(args.tls_ca, "rb").read())
        return grpc.secure_channel(args.target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
    return grpc.insecure_channel(args.target)


def metadata(args):
    return [("authorization", "Bearer " + args.token)] if args.token else []


def workload(ns, pod, container, node="node-1"):
    return pb.Workload(node=node, namespace=ns, pod=pod, pod_uid="uid-" + pod, container=container,
                       container_id="cid-" + pod, image="registry.local/" + pod + ":1",
                       owner_kind="Deployment", owner_name=pod, cgroup_id=1000 + len(pod))


def rs(method, route, status, lat_counts, direction=pb.RequestStats.DIRECTION_SERVER):
    buckets = {}
    total = 0
    sum_us = 0
    for v, n in lat_counts:
        buckets[bucket(v)] = buckets.get(bucket(v), 0) + n
        total += n
        sum_us += v * n
    return pb.RequestStats(direction=direction, protocol=pb.RequestStats.PROTOCOL_HTTP1, method=method,
                           route=route, status_code=status, count=total, sum_us=sum_us,
                           buckets=[pb.RequestStats.Bucket(index=i, count=c) for i, c in sorted(buckets.items())])


def scenario_batch(agent, seq, start_ms, vary=False):
    # vary: a smooth wave over time (for a screenshot that shows something), same shape of data
    k = (1.0 + 0.6 * math.sin(seq / 6.0)) if vary else 1.0
    web = pb.WorkloadStats(workload=workload("shop", "web", "app"),
                           traffic=pb.PodTraffic(rx_bytes=int(10000 * k), tx_bytes=int(20000 * k), rx_packets=10, tx_packets=20),
                           tcp=pb.TcpHealth(passive_opens=3, active_opens=1, closes=4, srtt_us=150),
                           requests=[rs("GET", "/api/items", 200, [(int(1000 * k), 86), (int(50000 * k), 9)]),
                                     rs("GET", "/api/items", 500, [(int(1000 * k), 4), (int(50000 * k), 1)])])
    db = pb.WorkloadStats(workload=workload("shop", "db", "postgres"),
                          traffic=pb.PodTraffic(rx_bytes=4000, tx_bytes=8000, rx_packets=4, tx_packets=8),
                          requests=[rs("SELECT", "/", 200, [(100, 50)])])
    api = pb.WorkloadStats(workload=workload("payments", "api", "app"),
                           traffic=pb.PodTraffic(rx_bytes=1000, tx_bytes=1000, rx_packets=1, tx_packets=1),
                           requests=[rs("POST", "/pay", 200, [(2000, 20)])])
    flow = pb.Flow(local=workload("shop", "web", "app"), local_addr=bytes([10, 0, 0, 1]), local_port=40000,
                   remote_addr=bytes([10, 0, 0, 2]), remote_port=5432, direction=pb.Flow.DIRECTION_OUTBOUND,
                   rx_bytes=1000, tx_bytes=2000, duration_us=5000, connections=1,
                   remote=pb.Workload(namespace="shop", pod="db"))
    return pb.Batch(agent_id=agent, node="node-1", sequence=seq, interval_start_unix_ms=start_ms,
                    interval_ms=10000, workloads=[web, db, api], flows=[flow],
                    drops=pb.DropCounters(spool_overflow_records=0, ringbuf_drops={"tcp": 2}))


def small_batch(agent, seq, start_ms):
    w = pb.WorkloadStats(workload=workload("bulk", "p%d" % (seq % 4), "c"),
                         traffic=pb.PodTraffic(rx_bytes=seq, tx_bytes=1), requests=[rs("GET", "/", 200, [(500, 1)])])
    return pb.Batch(agent_id=agent, node="node-1", sequence=seq, interval_start_unix_ms=start_ms,
                    interval_ms=10000, workloads=[w])


def export(ch, args):
    return ch.unary_unary(METHOD, request_serializer=pb.Batch.SerializeToString,
                          response_deserializer=pb.ExportResponse.FromString)


def cmd_seed(args):
    end = args.end_ms or int(time.time() * 1000)
    call = export(channel(args), args)
    stored = dup = 0
    for i in range(args.batches):
        start = end - (args.batches - i) * 10000
        r = call(scenario_batch(args.agent, args.first_seq + i, start, args.vary), metadata=metadata(args), timeout=10)
        stored += r.accepted and not r.duplicate
        dup += r.duplicate
    print("seeded stored=%d duplicate=%d first_ms=%d end_ms=%d" % (stored, dup, end - args.batches * 10000, end))


def cmd_stream(args):
    call = export(channel(args), args)
    now = int(time.time() * 1000)
    with open(args.acks, "a") as f:
        for seq in range(1, args.count + 1):
            try:
                r = call(scenario_batch(args.agent, seq, now - 3600000 + seq * 10), metadata=metadata(args), timeout=5)
            except grpc.RpcError as e:
                print("stream stopped at seq %d: %s" % (seq, e.code()))
                return
            if r.accepted:
                f.write("%d\n" % seq)
                f.flush()


def cmd_bulk(args):
    call = export(channel(args), args)
    now = int(time.time() * 1000)
    ok = 0
    t0 = time.time()
    for seq in range(1, args.count + 1):
        r = call(small_batch(args.agent, seq, now - 600000), metadata=metadata(args), timeout=10)
        ok += bool(r.accepted and not r.duplicate)
    dt = time.time() - t0
    print("bulk ok=%d calls=%d seconds=%.2f calls_per_s=%.0f" % (ok, args.count, dt, args.count / dt))


def cmd_raw(args):
    ch = channel(args)
    call = ch.unary_unary(args.method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        call(bytes.fromhex(args.hex), metadata=metadata(args), timeout=10)
        print("status=OK")
    except grpc.RpcError as e:
        print("status=%s message=%s" % (e.code().name, e.details()))


def cmd_one(args):
    try:
        kw = {"compression": grpc.Compression.Gzip} if args.compress else {}
        r = export(channel(args), args)(small_batch(args.agent, args.seq, int(time.time() * 1000) - 60000),
                                        metadata=metadata(args), timeout=10, **kw)
        print("status=OK accepted=%s duplicate=%s" % (r.accepted, r.duplicate))
    except grpc.RpcError as e:
        print("status=%s message=%s" % (e.code().name, e.details()))


def cmd_big(args):
    b = small_batch(args.agent, 777, int(time.time() * 1000))
    for i in range(2000):
        b.workloads.append(pb.WorkloadStats(workload=workload("big", "pod-%04d" % i, "c")))
    try:
        export(channel(args), args)(b, metadata=metadata(args), timeout=10)
        print("status=OK size=%d" % b.ByteSize())
    except grpc.RpcError as e:
        print("status=%s message=%s size=%d" % (e.code().name, e.details(), b.ByteSize()))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["seed", "stream", "bulk", "raw", "one", "big"])
    p.add_argument("target")
    p.add_argument("--token", default="")
    p.add_argument("--tls-ca", default="")
    p.add_argument("--agent", default="agent-test")
    p.add_argument("--batches", type=int, default=6)
    p.add_argument("--first-seq", type=int, default=1)
    p.add_argument("--end-ms", type=int, default=0)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--acks", default="/dev/null")
    p.add_argument("--seq", type=int, default=1)
    p.add_argument("--hex", default="")
    p.add_argument("--method", default=METHOD)
    p.add_argument("--compress", action="store_true")
    p.add_argument("--vary", action="store_true")
    args = p.parse_args()
    {"seed": cmd_seed, "stream": cmd_stream, "bulk": cmd_bulk, "raw": cmd_raw, "one": cmd_one,
     "big": cmd_big}[args.cmd](args)


if __name__ == "__main__":
    main()
