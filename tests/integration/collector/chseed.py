#!/usr/bin/python3
"""DNS rows and per-peer requests for the SQLite-vs-ClickHouse comparison (collector_clickhouse.sh).

  chseed.py TARGET --agent A --batches N --end-ms MS   prints "stored=N duplicate=M"

One batch per 10 s interval ending at --end-ms (the same rows however often it is sent):
  team-a/web (10.9.0.1) client: DNS 7 x NOERROR api.team-b.test (1000 us), 2 x NXDOMAIN
      web.team-a.svc.cluster.local (500 us), 1 x TIMEOUT gone.test, 3 x SERVFAIL api.team-b.test
      (2000 us), 5 x NOERROR other (3000 us); search 3 queries, 2 NXDOMAIN.
      Peers: 10.9.0.2:8080 (team-b/api) 30 requests, 2 errors, 3 client errors (1000 us);
      192.0.2.9:443 (no pod) 5 requests (4000 us); "other" (no address) 4 requests (8000 us).
      Flow to 10.9.0.2:8080, remote unnamed (the collector names it from pod IPs).
  team-b/api (10.9.0.2) server: DNS 11 x NOERROR db.team-b.test (200 us);
      peer 10.9.0.1 (team-a/web) 30 requests, 2 errors, 3 client errors (900 us); flow inbound.
  An address that changes hands (with --batches 3): 10.9.0.3 is team-c/old's in batch 1 and
  team-c/new's in batch 3; team-a/web calls it in both (a flow and a peer: 7 requests in batch 1,
  11 in batch 3), so the peer is old in the first and new in the last interval.
  A flow and peer requests to 192.0.2.9:443, no pod's address, every batch.
"""
import argparse
import os
import sys

sys.path.insert(0, os.environ.get("PODLENS_PY", "."))
import grpc  # noqa: E402
from podlens.v1 import podlens_pb2 as pb  # noqa: E402

CLIENT = pb.RequestStats.DIRECTION_CLIENT
SERVER = pb.RequestStats.DIRECTION_SERVER


def bucket(v):
    if v < 8:
        return v
    e = v.bit_length() - 1
    return 8 + (e - 3) * 8 + ((v >> (e - 3)) & 7)


def wl(node, ns, pod, ip):
    return pb.Workload(node=node, namespace=ns, pod=pod, pod_uid="uid-" + pod, container="app",
                       container_id="cid-" + pod, owner_kind="Deployment", owner_name=pod,
                       cgroup_id=9000 + len(pod), pod_ips=[ip])


def dns(direction, rcode, domain, n, lat_us):
    if rcode == "TIMEOUT":
        return pb.DnsStats(direction=direction, qtype="A", rcode=rcode, domain=domain, count=n, timeouts=n)
    return pb.DnsStats(direction=direction, qtype="A", rcode=rcode, domain=domain, count=n, sum_us=n * lat_us,
                       buckets=[pb.RequestStats.Bucket(index=bucket(lat_us), count=n)])


def peer(direction, addr, port, n, errors, client_errors, lat_us):
    return pb.PeerRequests(direction=direction, peer_addr=addr, peer_port=port, count=n, errors=errors,
                           client_errors=client_errors, sum_us=n * lat_us,
                           buckets=[pb.RequestStats.Bucket(index=bucket(lat_us), count=n)])


def rs(direction, status, n, lat_us):
    return pb.RequestStats(direction=direction, protocol=pb.RequestStats.PROTOCOL_HTTP1, method="GET",
                           route="/v1", status_code=status, count=n, sum_us=n * lat_us,
                           buckets=[pb.RequestStats.Bucket(index=bucket(lat_us), count=n)])


A_IP, B_IP, C_IP = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2]), bytes([10, 9, 0, 3])


def batch(agent, seq, start):
    web = wl("node-a", "team-a", "web", "10.9.0.1")
    api = wl("node-b", "team-b", "api", "10.9.0.2")
    ws_web = pb.WorkloadStats(
        workload=web,
        requests=[rs(CLIENT, 200, 25, 1000), rs(CLIENT, 404, 3, 1000), rs(CLIENT, 503, 2, 1000),
                  rs(CLIENT, 200, 9, 6000)],
        dns=[dns(CLIENT, "NOERROR", "api.team-b.test", 7, 1000),
             dns(CLIENT, "NXDOMAIN", "web.team-a.svc.cluster.local", 2, 500),
             dns(CLIENT, "TIMEOUT", "gone.test", 1, 0),
             dns(CLIENT, "SERVFAIL", "api.team-b.test", 3, 2000),
             dns(CLIENT, "NOERROR", "other", 5, 3000)],
        dns_search=pb.DnsSearch(queries=3, nxdomain=2),
        peer_requests=[peer(CLIENT, B_IP, 8080, 30, 2, 3, 1000), peer(CLIENT, bytes([192, 0, 2, 9]), 443, 5, 0, 0, 4000),
                       peer(CLIENT, b"", 0, 4, 0, 0, 8000)])
    ws_api = pb.WorkloadStats(
        workload=api,
        requests=[rs(SERVER, 200, 25, 900), rs(SERVER, 404, 3, 900), rs(SERVER, 503, 2, 900)],
        dns=[dns(SERVER, "NOERROR", "db.team-b.test", 11, 200)],
        peer_requests=[peer(SERVER, A_IP, 0, 30, 2, 3, 900)])
    stats = [ws_web, ws_api]
    flows = [pb.Flow(local=web, local_addr=A_IP, local_port=41001, remote_addr=bytes([192, 0, 2, 9]), remote_port=443,
                     direction=pb.Flow.DIRECTION_OUTBOUND, rx_bytes=700, tx_bytes=300, duration_us=5000,
                     connections=1)]
    if seq in (1, 3):
        owner = wl("node-c", "team-c", "old" if seq == 1 else "new", "10.9.0.3")
        stats.append(pb.WorkloadStats(workload=owner, traffic=pb.PodTraffic(rx_bytes=1, tx_bytes=1)))
        flows.append(pb.Flow(local=web, local_addr=A_IP, local_port=41002, remote_addr=C_IP, remote_port=9000,
                             direction=pb.Flow.DIRECTION_OUTBOUND, rx_bytes=100, tx_bytes=100, duration_us=5000,
                             connections=1))
        ws_web.peer_requests.append(peer(CLIENT, C_IP, 9000, 7 if seq == 1 else 11, 0, 0, 1500))
    flows += [pb.Flow(local=web, local_addr=A_IP, local_port=41000, remote_addr=B_IP, remote_port=8080,
                     direction=pb.Flow.DIRECTION_OUTBOUND, rx_bytes=3000, tx_bytes=1000, duration_us=5000,
                     connections=1),
             pb.Flow(local=api, local_addr=B_IP, local_port=8080, remote_addr=A_IP, remote_port=41000,
                     direction=pb.Flow.DIRECTION_INBOUND, rx_bytes=1000, tx_bytes=3000, duration_us=5000,
                     connections=1)]
    return pb.Batch(agent_id=agent, node="node-a", sequence=seq, interval_start_unix_ms=start,
                    interval_ms=10000, workloads=stats, flows=flows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--agent", required=True)
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--end-ms", type=int, required=True)
    a = p.parse_args()
    call = grpc.insecure_channel(a.target).unary_unary("/podlens.v1.Collector/Export",
                                                       request_serializer=pb.Batch.SerializeToString,
                                                       response_deserializer=pb.ExportResponse.FromString)
    stored = dup = 0
    for i in range(a.batches):
        r = call(batch(a.agent, i + 1, a.end_ms - (a.batches - i) * 10000), timeout=10)
        stored += r.accepted and not r.duplicate
        dup += r.duplicate
    print("stored=%d duplicate=%d" % (stored, dup))


if __name__ == "__main__":
    main()
