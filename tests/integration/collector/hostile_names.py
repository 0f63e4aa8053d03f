#!/usr/bin/python3
"""One batch whose names carry SQL and TabSeparated metacharacters (quote, backslash, tab,
newline, a statement after a quote), as a hostile or buggy agent could send them.
  hostile_names.py TARGET --seq S --end-ms MS   prints the gRPC answer"""
import argparse
import os
import sys

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

NS = "o'hara\\"
POD = "a\\b\tc\nd'); DROP TABLE req_stats; --"
ROUTE = "/x'; DROP TABLE workloads; --\t\\N"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--seq", type=int, default=1)
    p.add_argument("--end-ms", type=int, required=True)
    a = p.parse_args()
    w = pb.Workload(node="node-\\N", namespace=NS, pod=POD, pod_uid="uid-'x", container="c\t1",
                    owner_kind="Deployment", owner_name="o'wner")
    ws = pb.WorkloadStats(workload=w, traffic=pb.PodTraffic(rx_bytes=7, tx_bytes=11),
                          requests=[pb.RequestStats(direction=pb.RequestStats.DIRECTION_SERVER,
                                                    protocol=pb.RequestStats.PROTOCOL_HTTP1, method="G'ET",
                                                    route=ROUTE, status_code=200, count=3, sum_us=300,
                                                    buckets=[pb.RequestStats.Bucket(index=40, count=3)])])
    b = pb.Batch(agent_id="hostile'agent", node="node-1", sequence=a.seq, interval_start_unix_ms=a.end_ms - 10000,
                 interval_ms=10000, workloads=[ws])
    call = grpc.insecure_channel(a.target).unary_unary("/podlens.v1.Collector/Export",
                                                        request_serializer=pb.Batch.SerializeToString,
                                                        response_deserializer=pb.ExportResponse.FromString)
    r = call(b, timeout=10)
    print("accepted=%d duplicate=%d" % (r.accepted, r.duplicate))


main()
