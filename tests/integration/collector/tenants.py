#!/usr/bin/python3
"""Two tenants exported through the real gRPC path, for the read-token scoping suite
(collector_scope.sh). Stubs generated at test time into $PODLENS_PY.

  tenants.py TARGET --batches N [--token T]    prints one JSON line of what it sent

Two agents, one per node, each exporting its own namespace's pods, every 10 s interval ending now:
  agent-node-a (node-a): team-a/web (server, 30 req/batch) and team-a/cache (server, 20 req/batch);
    flow team-a/web -> team-b/secretdb:5432 (client side: 1100 B, 1 connection)
  agent-node-b (node-b): team-b/secretdb (server, 4242 req/batch, rx 7777777 B) and team-b/ledger
    (server, 919191 req/batch); flows team-b/secretdb <- team-a/web (server side: 1100 B),
    team-b/secretdb -> team-a/cache:6379 (600 B), team-b/secretdb -> team-b/ledger:9000 (8080808 B);
    drop report ringbuf 31337 per batch.
The team-b names, numbers and addresses (10.2.x.x) are chosen to appear nowhere in team-a's data,
so a team-a reader that sees any of them has read team-b.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

METHOD = "/podlens.v1.Collector/Export"
IP = {"web": bytes([10, 1, 0, 11]), "cache": bytes([10, 1, 0, 12]),
      "secretdb": bytes([10, 2, 0, 21]), "ledger": bytes([10, 2, 0, 22])}


def wl(node, ns, pod):
    return pb.Workload(node=node, namespace=ns, pod=pod, pod_uid="uid-" + pod, container="app",
                       container_id="cid-" + pod, image="registry.local/" + pod + ":1",
                       owner_kind="Deployment", owner_name=pod + "-owner", cgroup_id=5000 + len(pod))


def rs(count, lat_bucket):
    return pb.RequestStats(direction=pb.RequestStats.DIRECTION_SERVER, protocol=pb.RequestStats.PROTOCOL_HTTP1,
                           method="GET", route="/r", status_code=200, count=count, sum_us=count * 100,
                           buckets=[pb.RequestStats.Bucket(index=lat_bucket, count=count)])


def stats(node, ns, pod, req, rx, tx):
    return pb.WorkloadStats(workload=wl(node, ns, pod),
                            traffic=pb.PodTraffic(rx_bytes=rx, tx_bytes=tx, rx_packets=3, tx_packets=3),
                            requests=[rs(req, 40)])


def flow(node, lns, lpod, rns, rpod, direction, port, nbytes):
    out = direction == pb.Flow.DIRECTION_OUTBOUND
    return pb.Flow(local=wl(node, lns, lpod), local_addr=IP[lpod], local_port=0 if out else port,
                   remote_addr=IP[rpod], remote_port=port if out else 40000, direction=direction,
                   rx_bytes=nbytes // 2, tx_bytes=nbytes - nbytes // 2, duration_us=1000, connections=1,
                   remote=pb.Workload(namespace=rns, pod=rpod))


def batch_a(seq, start):
    return pb.Batch(agent_id="agent-node-a", node="node-a", sequence=seq, interval_start_unix_ms=start,
                    interval_ms=10000,
                    workloads=[stats("node-a", "team-a", "web", 30, 100, 200),
                               stats("node-a", "team-a", "cache", 20, 300, 400)],
                    flows=[flow("node-a", "team-a", "web", "team-b", "secretdb", pb.Flow.DIRECTION_OUTBOUND, 5432, 1100)])


def batch_b(seq, start):
    return pb.Batch(agent_id="agent-node-b", node="node-b", sequence=seq, interval_start_unix_ms=start,
                    interval_ms=10000,
                    workloads=[stats("node-b", "team-b", "secretdb", 4242, 7777777, 5555555),
                               stats("node-b", "team-b", "ledger", 919191, 6666666, 3333333)],
                    flows=[flow("node-b", "team-b", "secretdb", "team-a", "web", pb.Flow.DIRECTION_INBOUND, 5432, 1100),
                           flow("node-b", "team-b", "secretdb", "team-a", "cache", pb.Flow.DIRECTION_OUTBOUND, 6379, 600),
                           flow("node-b", "team-b", "secretdb", "team-b", "ledger", pb.Flow.DIRECTION_OUTBOUND, 9000, 8080808)],
                    drops=pb.DropCounters(ringbuf_drops={"tcp": 31337}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--token", default="")
    a = p.parse_args()
    ch = grpc.insecure_channel(a.target)
    call = ch.unary_unary(METHOD, request_serializer=pb.Batch.SerializeToString,
                          response_deserializer=pb.ExportResponse.FromString)
    md = [("authorization", "Bearer " + a.token)] if a.token else []
    end = int(time.time() * 1000)
    stored = 0
    for i in range(a.batches):
        start = end - (a.batches - i) * 10000
        for b in (batch_a(i + 1, start), batch_b(i + 1, start)):
            r = call(b, metadata=md, timeout=10)
            stored += bool(r.accepted and not r.duplicate)
    print(json.dumps({"stored": stored, "first_ms": end - a.batches * 10000, "end_ms": end}))


if __name__ == "__main__":
    main()
