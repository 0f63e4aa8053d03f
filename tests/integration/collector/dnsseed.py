#!/usr/bin/python3
"""DNS stats of two tenants exported through the real gRPC path, for collector_dns.sh. Stubs
generated at test time into $PODLENS_PY.

  dnsseed.py TARGET --batches N      prints one JSON line: what it sent and how it was answered

Every 10 s interval ending now, two agents:
  agent-node-a: team-a/web, client side: 7 x NOERROR api.team-a.test (all in the bucket of 1000 us),
    2 x NXDOMAIN x.team-a.svc.cluster.local (bucket of 500 us), 1 timeout gone.team-a.test,
    "other" (the agent's overflow domain): 5 x NOERROR at 3000 us, 1 x "BADVERS9" (an rcode
    outside the fixed metric classes) at 3000 us; search {queries 3, nxdomain 2}.
  agent-node-b: team-b/coredns, server side: 4242 x NOERROR secret.team-b.test, 919 x SERVFAIL
    ledger.team-b.test (all in the bucket of 100 us).
Then two refused batches (a 17-byte rcode; buckets adding up to more than count) and one more valid
team-a batch sent after them (seq N+1, an interval before the first): it must be stored.
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
CLIENT, SERVER = pb.RequestStats.DIRECTION_CLIENT, pb.RequestStats.DIRECTION_SERVER


def bucket(v):
    if v < 8:
        return v
    e = v.bit_length() - 1
    return 8 + (e - 3) * 8 + ((v >> (e - 3)) & 7)


def wl(node, ns, pod):
    return pb.Workload(node=node, namespace=ns, pod=pod, pod_uid="uid-" + pod, container="app",
                       container_id="cid-" + pod, cgroup_id=7000 + len(pod))


def dns(direction, rcode, domain, n, lat_us):
    if rcode == "TIMEOUT":
        return pb.DnsStats(direction=direction, qtype="A", rcode=rcode, domain=domain, count=n, timeouts=n)
    return pb.DnsStats(direction=direction, qtype="A", rcode=rcode, domain=domain, count=n, sum_us=n * lat_us,
                       buckets=[pb.RequestStats.Bucket(index=bucket(lat_us), count=n)])


def batch_a(seq, start, rows=None):
    rows = rows or [dns(CLIENT, "NOERROR", "api.team-a.test", 7, 1000),
                    dns(CLIENT, "NXDOMAIN", "x.team-a.svc.cluster.local", 2, 500),
                    dns(CLIENT, "TIMEOUT", "gone.team-a.test", 1, 0),
                    dns(CLIENT, "NOERROR", "other", 5, 3000),
                    dns(CLIENT, "BADVERS9", "other", 1, 3000)]
    ws = pb.WorkloadStats(workload=wl("node-a", "team-a", "web"), dns=rows,
                          dns_search=pb.DnsSearch(queries=3, nxdomain=2))
    return pb.Batch(agent_id="agent-node-a", node="node-a", sequence=seq, interval_start_unix_ms=start,
                    interval_ms=10000, workloads=[ws])


def batch_b(seq, start):
    ws = pb.WorkloadStats(workload=wl("node-b", "team-b", "coredns"),
                          dns=[dns(SERVER, "NOERROR", "secret.team-b.test", 4242, 100),
                               dns(SERVER, "SERVFAIL", "ledger.team-b.test", 919, 100)])
    return pb.Batch(agent_id="agent-node-b", node="node-b", sequence=seq, interval_start_unix_ms=start,
                    interval_ms=10000, workloads=[ws])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--batches", type=int, default=3)
    a = p.parse_args()
    ch = grpc.insecure_channel(a.target)
    call = ch.unary_unary(METHOD, request_serializer=pb.Batch.SerializeToString,
                          response_deserializer=pb.ExportResponse.FromString)
    end = int(time.time() * 1000)
    stored, refused = 0, []
    for i in range(a.batches):
        start = end - (a.batches - i) * 10000
        for b in (batch_a(i + 1, start), batch_b(i + 1, start)):
            r = call(b, timeout=10)
            stored += bool(r.accepted and not r.duplicate)
    bad_rcode = batch_a(a.batches + 1, end - 10000, [dns(CLIENT, "X" * 17, "api.team-a.test", 1, 1000)])
    bad_hist = batch_a(a.batches + 1, end - 10000, [dns(CLIENT, "NOERROR", "api.team-a.test", 1, 1000)])
    bad_hist.workloads[0].dns[0].buckets[0].count = 2
    for b in (bad_rcode, bad_hist):
        try:
            call(b, timeout=10)
            refused.append("OK")
        except grpc.RpcError as e:
            refused.append(e.code().name)
    # one more valid batch, one interval before the first: inside the window the suite reads
    r = call(batch_a(a.batches + 1, end - (a.batches + 1) * 10000), timeout=10)
    stored += bool(r.accepted and not r.duplicate)
    print(json.dumps({"stored": stored, "refused": refused, "first_ms": end - (a.batches + 1) * 10000,
                      "end_ms": end}))


if __name__ == "__main__":
    main()
