#!/usr/bin/python3
"""Seed a 50-pod service map into a collector (stubs in $PODLENS_PY, like client.py).

  map50.py TARGET      prints one JSON line: pods, edges (client -> server pairs) it sent

Three tiers over two nodes: 10 frontends (namespace web) call 2 of 25 APIs each (namespace shop,
names up to 40 characters), each API calls one of 15 stores (namespace data): 50 pods, 45 edges.
Flows carry only addresses; every pod's IP travels in Workload.pod_ips, so the collector names
every end across nodes. An API answering 500 for a tenth of its requests makes red edges.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

target = sys.argv[1]
pods = [("web", "frontend-%d" % i) for i in range(10)] + \
       [("shop", ("api-%d-" % i) + "x" * (10 + i)) for i in range(25)] + \
       [("data", "store-%d" % i) for i in range(15)]
ip = {p: bytes([10, 1 + i // 200, i % 200, 10]) for i, p in enumerate(pods)}
node = {p: "node-%d" % (i % 2) for i, p in enumerate(pods)}
edges = []
for i in range(10):
    for k in (i * 2, i * 2 + 1):
        edges.append((pods[i], pods[10 + k % 25]))
for k in range(25):
    edges.append((pods[10 + k], pods[35 + k % 15]))


def wl(p):
    return pb.Workload(node=node[p], namespace=p[0], pod=p[1], pod_uid="uid-" + p[1], container="c",
                       owner_kind="Deployment", owner_name=p[1].rsplit("-", 1)[0],
                       pod_ips=[".".join(str(b) for b in ip[p])])


end = int(time.time() * 1000) - 5000
start = end - 10000
batches = {n: pb.Batch(agent_id="map50-" + n, node=n, sequence=1, interval_start_unix_ms=start,
                       interval_ms=10000) for n in ("node-0", "node-1")}
for p in pods:
    reqs = []
    if p[0] == "shop":
        bad = int(p[1].split("-")[1]) % 5 == 0
        reqs.append(pb.RequestStats(direction=pb.RequestStats.DIRECTION_SERVER, protocol=pb.RequestStats.PROTOCOL_HTTP1,
                                    method="GET", route="/", status_code=200, count=90 if bad else 100, sum_us=1000))
        if bad:
            reqs.append(pb.RequestStats(direction=pb.RequestStats.DIRECTION_SERVER,
                                        protocol=pb.RequestStats.PROTOCOL_HTTP1, method="GET", route="/",
                                        status_code=500, count=10, sum_us=100))
    batches[node[p]].workloads.append(pb.WorkloadStats(workload=wl(p), traffic=pb.PodTraffic(rx_bytes=1, tx_bytes=1),
                                                       requests=reqs))
for n, (c, s) in enumerate(edges):
    vol = 1000 * (1 + n % 7) ** 3
    batches[node[c]].flows.append(pb.Flow(local=wl(c), local_addr=ip[c], local_port=40000 + n, remote_addr=ip[s],
                                          remote_port=8080, direction=pb.Flow.DIRECTION_OUTBOUND, rx_bytes=vol,
                                          tx_bytes=vol // 10, connections=1 + n % 3, closed=True))
call = grpc.insecure_channel(target).unary_unary("/podlens.v1.Collector/Export",
                                                 request_serializer=pb.Batch.SerializeToString,
                                                 response_deserializer=pb.ExportResponse.FromString)
for b in batches.values():
    r = call(b, timeout=10)
    if not r.accepted:
        sys.exit("batch refused")
print(json.dumps({"pods": ["%s/%s" % p for p in pods], "edges": [["%s/%s" % c, "%s/%s" % s] for c, s in edges]}))
