#!/usr/bin/python3
"""Seed a collector with DNS stats over gRPC, for timing the DNS view (docs/collector.md, "DNS view").

  PODLENS_PY=DIR dns_seed.py HOST:GRPC_PORT BATCHES PODS ROWS
      BATCHES batches of 1 s intervals ending now, each with PODS workloads (pod0.. in namespaces
      ns0..ns2) of ROWS DnsStats each (domains d0..d199.example.com, rcodes NOERROR x3, NXDOMAIN,
      SERVFAIL at 5 queries a row, one TIMEOUT row of 1 in 6) and a DnsSearch. DIR holds stubs from
      `python3 -m grpc_tools.protoc -Iproto --python_out=DIR proto/podlens/v1/podlens.proto`.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

C = pb.RequestStats.DIRECTION_CLIENT
RCODES = ["NOERROR", "NOERROR", "NOERROR", "NXDOMAIN", "SERVFAIL", "TIMEOUT"]


def row(i, r):
    rc, dom = RCODES[r % len(RCODES)], "d%d.example.com" % ((r * 7 + i) % 200)
    if rc == "TIMEOUT":
        return pb.DnsStats(direction=C, qtype="A", rcode=rc, domain=dom, count=1, timeouts=1)
    return pb.DnsStats(direction=C, qtype="A", rcode=rc, domain=dom, count=5, sum_us=5000,
                       buckets=[pb.RequestStats.Bucket(index=80 + r % 20, count=5)])


def main():
    target, nb, npods, nrows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    call = grpc.insecure_channel(target).unary_unary(
        "/podlens.v1.Collector/Export", request_serializer=pb.Batch.SerializeToString,
        response_deserializer=pb.ExportResponse.FromString)
    end = int(time.time() * 1000)
    for i in range(nb):
        ws = [pb.WorkloadStats(workload=pb.Workload(namespace="ns%d" % (p % 3), pod="pod%d" % p, container="c",
                                                    node="n1"),
                               dns=[row(i, r) for r in range(nrows)], dns_search=pb.DnsSearch(queries=4, nxdomain=3))
              for p in range(npods)]
        call(pb.Batch(agent_id="bench", node="n1", sequence=i + 1, interval_start_unix_ms=end - (nb - i) * 1000,
                      interval_ms=1000, workloads=ws), timeout=30)
    print(json.dumps({"rows": nb * npods * nrows}))


if __name__ == "__main__":
    main()
