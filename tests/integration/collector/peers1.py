#!/usr/bin/python3
"""Request totals joined to an edge by the one-peer rule, across namespaces (collector_clickhouse_peers.sh).

  peers1.py TARGET --end-ms MS     prints one JSON line: stored, first_ms, end_ms

Agents without per-peer figures: a pod's request totals belong to an edge only when that pod has
that one peer in the whole map (docs/collector.md, "Service map"). One 10 s batch ending at
--end-ms from node-1, with flows that carry only addresses (every pod's IP in Workload.pod_ips):
  x/c  calls a/s1 and b/s2; client totals 40 requests        (two servers: its totals join no edge)
  a/d  calls a/s1;          client totals 25 requests        (one server: d -> s1 takes them)
  a/s1 answers c and d;     server totals 70 requests        (two clients: no edge takes them)
  b/s2 answers c only;      server totals 30 requests, 3 x 500 (one client: c -> s2 takes them)
So edges of namespace a: c -> s1 without requests (c's second server is in namespace b, outside
what a's map reads first), d -> s1 with d's 25; edges of b and of x: c -> s2 with s2's 30.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("target")
ap.add_argument("--end-ms", type=int, required=True)
a = ap.parse_args()

PODS = {("x", "c"): "10.7.0.1", ("a", "d"): "10.7.0.2", ("a", "s1"): "10.7.0.3", ("b", "s2"): "10.7.0.4"}
CLIENT = pb.RequestStats.DIRECTION_CLIENT
SERVER = pb.RequestStats.DIRECTION_SERVER


def wl(p):
    return pb.Workload(node="node-1", namespace=p[0], pod=p[1], pod_uid="uid-%s-%s" % p, container="app",
                       pod_ips=[PODS[p]])


def req(direction, status, count):
    return pb.RequestStats(direction=direction, protocol=pb.RequestStats.PROTOCOL_HTTP1, method="GET",
                           route="/", status_code=status, count=count, sum_us=1000 * count)


totals = {("x", "c"): [req(CLIENT, 200, 40)], ("a", "d"): [req(CLIENT, 200, 25)],
          ("a", "s1"): [req(SERVER, 200, 70)], ("b", "s2"): [req(SERVER, 200, 27), req(SERVER, 500, 3)]}
start = a.end_ms - 10000
b = pb.Batch(agent_id="peers1", node="node-1", sequence=1, interval_start_unix_ms=start, interval_ms=10000)
for p in PODS:
    b.workloads.append(pb.WorkloadStats(workload=wl(p), traffic=pb.PodTraffic(rx_bytes=1, tx_bytes=1),
                                        requests=totals[p]))
for n, (c, s) in enumerate([(("x", "c"), ("a", "s1")), (("a", "d"), ("a", "s1")), (("x", "c"), ("b", "s2"))]):
    b.flows.append(pb.Flow(local=wl(c), local_addr=bytes(map(int, PODS[c].split("."))), local_port=40000 + n,
                           remote_addr=bytes(map(int, PODS[s].split("."))), remote_port=8080,
                           direction=pb.Flow.DIRECTION_OUTBOUND, rx_bytes=1000, tx_bytes=100, connections=1,
                           closed=True))
call = grpc.insecure_channel(a.target).unary_unary("/podlens.v1.Collector/Export",
                                                   request_serializer=pb.Batch.SerializeToString,
                                                   response_deserializer=pb.ExportResponse.FromString)
r = call(b, timeout=10)
print(json.dumps({"stored": int(r.accepted), "first_ms": start, "end_ms": a.end_ms}))
