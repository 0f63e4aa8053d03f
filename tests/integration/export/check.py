#!/usr/bin/python3
"""Compare what a receiver got (receiver.py --out) with what the driver submitted.

The expected content of batch k is computed here from the formula documented in driver.c (this
file is the ground truth, written independently of the exporter). Prints one JSON summary.

  check.py podlens OUT --k-first 1 --k-last N --workloads W [--flows F --events E --node NODE]
  check.py otlp OUT --k-last N --workloads W [--node NODE]
"""
import argparse
import base64
import json
import sys

BASE_MS = 1700000000000

ap = argparse.ArgumentParser()
ap.add_argument("kind", choices=["podlens", "otlp"])
ap.add_argument("out")
ap.add_argument("--k-first", type=int, default=1)
ap.add_argument("--k-last", type=int, required=True)
ap.add_argument("--workloads", type=int, default=3)
ap.add_argument("--flows", type=int, default=0)
ap.add_argument("--events", type=int, default=0)
ap.add_argument("--node", default="test-node")
ap.add_argument("--mixed", action="store_true", help="the driver ran with --mixed-requests")
args = ap.parse_args()


def bucket(v):
    """lib/hist.h bucket index, from the formula in proto/podlens/v1/podlens.proto."""
    if v < 8:
        return v
    e = v.bit_length() - 1
    i = 8 + (e - 3) * 8 + ((v >> (e - 3)) & 7)
    return min(i, 287)


def upper(i):
    """Exclusive upper bound of bucket i, in us (podlens.proto formula for lower(i + 1))."""
    j = i + 1
    if j < 8:
        return j
    e = (j - 8) // 8 + 3
    s = (j - 8) % 8
    return 2 ** e + s * 2 ** (e - 3)


def workload(i):
    return {"node": args.node, "namespace": "ns-%d" % (i % 3), "pod": "pod-%d" % i,
            "pod_uid": "uid-%d" % i, "container": "c-%d" % i, "container_id": "cid%d" % i,
            "image": "img:%d" % i, "owner_kind": "Deployment", "owner_name": "dep-%d" % i,
            "cgroup_id": str(1000 + i), "cgroup_path": "/kubepods/poduid-%d/cid%d" % (i, i)}


def latencies(k, i):
    return [5, 100 * (i + 1), 1000 * k]


def expected_workload_stats(k, i):
    buckets = {}
    for v in latencies(k, i):
        buckets[bucket(v)] = buckets.get(bucket(v), 0) + 1
    tcp = {"active_opens": k, "passive_opens": i, "closes": 1, "retransmits": (k + i) % 5,
           "resets_sent": k % 2, "resets_received": i % 2, "srtt_us": 100 + i,
           "connect_latency_us": 50 + k, "connects": 1}
    return {
        "workload": workload(i),
        "traffic": {"rx_bytes": 1000 * k + i, "tx_bytes": 2000 * k + i, "rx_packets": k + i,
                    "tx_packets": 2 * k + i},
        "tcp": tcp,
        "requests": [{"direction": "DIRECTION_SERVER", "protocol": "PROTOCOL_HTTP1", "method": "GET",
                      "route": "/r/%d" % (i % 4), "status_code": 200, "count": 3,
                      "sum_us": sum(latencies(k, i)), "buckets": buckets}],
    }


def norm_ws(ws):
    """MessageToDict output -> the shape of expected_workload_stats (ints, defaults filled)."""
    w = {key: ws.get("workload", {}).get(key, "") for key in workload(0)}
    t = {key: int(ws.get("traffic", {}).get(key, 0)) for key in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")}
    tcp = {key: int(ws.get("tcp", {}).get(key, 0)) for key in (
        "active_opens", "passive_opens", "closes", "retransmits", "resets_sent", "resets_received",
        "srtt_us", "connect_latency_us", "connects")}
    reqs = []
    for r in ws.get("requests", []):
        reqs.append({"direction": r.get("direction", "DIRECTION_UNSPECIFIED"),
                     "protocol": r.get("protocol", "PROTOCOL_UNSPECIFIED"), "method": r.get("method", ""),
                     "route": r.get("route", ""), "status_code": int(r.get("status_code", 0)),
                     "count": int(r.get("count", 0)), "sum_us": int(r.get("sum_us", 0)),
                     "buckets": {int(b.get("index", 0)): int(b.get("count", 0)) for b in r.get("buckets", [])}})
    return {"workload": w, "traffic": t, "tcp": tcp, "requests": reqs}


def check_podlens(lines):
    calls = len(lines)
    ok = [l for l in lines if l["status"] == "OK"]
    peers = {l["peer"] for l in lines}
    agent_ids = {l["batch"].get("agent_id", "") for l in ok}
    by_seq = {}
    dups = 0
    for l in ok:
        s = int(l["batch"].get("sequence", 0))
        if s in by_seq:
            dups += 1
            if by_seq[s] != l["batch"]:
                dups += 1000000   # the same sequence with different content: never acceptable
        else:
            by_seq[s] = l["batch"]
    seqs = sorted(by_seq)
    ks, records, max_size = [], 0, 0
    merged = {}   # k -> records of every batch of that interval, in sequence order (split batches)
    drops = {"spool_overflow_batches": 0, "spool_overflow_records": 0, "export_rejected_batches": 0,
             "export_rejected_records": 0, "ringbuf_tcp": 0, "l7_parse_errors": 0}
    for s in seqs:
        b = by_seq[s]
        d = b.get("drops", {})
        for key in drops:
            if key == "ringbuf_tcp":
                drops[key] += int(d.get("ringbuf_drops", {}).get("tcp", 0))
            else:
                drops[key] += int(d.get(key, 0))
        wls, fls, evs = b.get("workloads", []), b.get("flows", []), b.get("process_events", [])
        records += len(wls) + len(fls) + len(evs)
        if not wls and not fls and not evs:
            continue   # a drop report batch (exporter__flush)
        k = (int(b.get("interval_start_unix_ms", 0)) - BASE_MS) // 10000
        m = merged.setdefault(k, {"w": [], "f": [], "e": [], "hdr_ok": True})
        m["w"] += wls
        m["f"] += fls
        m["e"] += evs
        m["hdr_ok"] &= b.get("node") == args.node and int(b.get("interval_ms", 0)) == 10000
    for line in ok:
        max_size = max(max_size, line.get("size", 0))
    bad = []
    for k, m in sorted(merged.items()):
        ks.append(k)
        ok_k = (m["hdr_ok"]
                and [norm_ws(w) for w in m["w"]] == [expected_workload_stats(k, i) for i in range(args.workloads)]
                and len(m["f"]) == args.flows and len(m["e"]) == args.events)
        for j, f in enumerate(m["f"]):
            ok_k &= (int(f.get("rx_bytes", 0)) == 10 * k + j and int(f.get("remote_port", 0)) == 30000 + j
                     and base64.b64decode(f.get("remote_addr", "")) == bytes([127, 0, 0, 2 + j % 200]))
        for j, p in enumerate(m["e"]):
            ok_k &= int(p.get("pid", 0)) == 1000 * k + j and p.get("comm") == "proc-%d" % j
        if not ok_k:
            bad.append(k)
    klist = range(args.k_first, args.k_last + 1)
    return {
        "calls": calls, "ok_calls": len(ok), "peers": len(peers), "agent_ids": len(agent_ids),
        "unique_seqs": len(seqs), "min_seq": seqs[0] if seqs else 0, "max_seq": seqs[-1] if seqs else 0,
        "seq_gaps": (seqs[-1] - seqs[0] + 1 - len(seqs)) if seqs else 0,
        "missing_seqs": (seqs[-1] - len(seqs)) if seqs else 0,   # in 1..max_seq
        "duplicates": dups, "content_bad": len(bad), "bad_ks": bad[:10], "max_batch_size": max_size,
        "ks_received": len(set(ks)), "ks_expected": len(klist),
        "ks_missing": len(set(klist) - set(ks)), "ks_unexpected": len(set(ks) - set(klist)),
        "records_received": records, "drops": drops,
        "expected_agent_ringbuf_tcp": sum(k % 3 for k in klist),
        "expected_agent_l7": sum(1 for k in klist if k % 4 == 0),
        "statuses": sorted({l["status"] for l in lines}),
    }


def attrs(kvs):
    out = {}
    for kv in kvs:
        v = kv.get("value", {})
        out[kv["key"]] = v.get("string_value", v.get("int_value"))
    return out


def check_otlp(lines):
    """Cumulative values in the last request for each pod must equal the sum over k of the deltas."""
    ok = [l for l in lines if l["status"] == "OK"]
    last = {}
    for l in ok:
        for rm in l["request"].get("resource_metrics", []):
            a = attrs(rm.get("resource", {}).get("attributes", []))
            last[a.get("k8s.pod.uid")] = (a, rm)
    ks = range(args.k_first, args.k_last + 1)
    bad = []
    for i in range(args.workloads):
        got = last.get("uid-%d" % i)
        if not got:
            bad.append("uid-%d missing" % i)
            continue
        a, rm = got
        want_attrs = {"k8s.node.name": args.node, "k8s.namespace.name": "ns-%d" % (i % 3),
                      "k8s.pod.name": "pod-%d" % i, "k8s.pod.uid": "uid-%d" % i,
                      "k8s.container.name": "c-%d" % i, "container.id": "cid%d" % i,
                      "container.image.name": "img:%d" % i, "k8s.deployment.name": "dep-%d" % i}
        if a != want_attrs:
            bad.append("uid-%d attrs %s" % (i, a))
        metrics = {m["name"]: m for sm in rm.get("scope_metrics", []) for m in sm.get("metrics", [])}

        def sum_points(name):
            m = metrics.get(name, {}).get("sum", {})
            if m.get("aggregation_temporality") != "AGGREGATION_TEMPORALITY_CUMULATIVE" or not m.get("is_monotonic"):
                bad.append("uid-%d %s not a cumulative monotonic sum" % (i, name))
            return {tuple(sorted(attrs(p.get("attributes", [])).items())): int(p.get("as_int", 0))
                    for p in m.get("data_points", [])}

        io = sum_points("podlens.pod.network.io")
        want_io = {(("network.io.direction", "receive"),): sum(1000 * k + i for k in ks),
                   (("network.io.direction", "transmit"),): sum(2000 * k + i for k in ks)}
        if io != want_io:
            bad.append("uid-%d network.io %s != %s" % (i, io, want_io))
        opens = sum_points("podlens.tcp.opens")
        want_opens = {(("podlens.tcp.open", "active"),): sum(ks), (("podlens.tcp.open", "passive"),): i * len(ks)}
        if opens != want_opens:
            bad.append("uid-%d tcp.opens %s != %s" % (i, opens, want_opens))
        retr = sum_points("podlens.tcp.retransmits")
        if retr != {(): sum((k + i) % 5 for k in ks)}:
            bad.append("uid-%d retransmits %s" % (i, retr))
        # semantic conventions (docs/export.md): one histogram named by protocol and direction;
        # with --mixed the driver's workload i % 4 is HTTP server, HTTP client 404, gRPC server OK,
        # gRPC client NOT_FOUND (5), otherwise every workload is an HTTP server
        kind = i % 4 if args.mixed else 0
        name, unit, scale = [("http.server.request.duration", "s", 1e6), ("http.client.request.duration", "s", 1e6),
                             ("rpc.server.duration", "ms", 1e3), ("rpc.client.duration", "ms", 1e3)][kind]
        durs = sorted(n for n in metrics if n.endswith("duration") and not n.startswith("podlens.tcp"))
        if durs != [name] or metrics[name].get("unit") != unit:
            bad.append("uid-%d request metrics %s, want only %s in %s" % (i, durs, name, unit))
        h = metrics.get(name, {}).get("histogram", {})
        pts = h.get("data_points", [])
        if h.get("aggregation_temporality") != "AGGREGATION_TEMPORALITY_CUMULATIVE" or len(pts) != 1:
            bad.append("uid-%d histogram shape" % i)
            continue
        p = pts[0]
        want_counts = [0] * 288
        for k in ks:
            for v in latencies(k, i):
                want_counts[bucket(v)] += 1
        bounds = [float(x) for x in p.get("explicit_bounds", [])]
        want_bounds = [upper(j) / scale for j in range(287)]
        pa = attrs(p.get("attributes", []))
        if kind < 2:
            want_attrs = {"http.request.method": "GET", "http.route": "/r/%d" % (i % 4),
                          "http.response.status_code": "200" if kind == 0 else "404",
                          "network.protocol.version": "1.1" if kind == 0 else "2"}
            want_attrs.update({"url.scheme": "http"} if kind == 0 else {"error.type": "404"})
        else:
            want_attrs = {"rpc.system": "grpc", "rpc.service": "t.v1.Echo", "rpc.method": "Say",
                          "rpc.grpc.status_code": "0" if kind == 2 else "5"}
        want_attrs.update({"podlens.request.direction": "client" if kind % 2 else "server",
                           "podlens.request.protocol": ["http1", "http2", "grpc", "grpc"][kind]})
        if {k: str(v) for k, v in pa.items()} != want_attrs:
            bad.append("uid-%d attributes %s != %s" % (i, pa, want_attrs))
        if ([int(c) for c in p.get("bucket_counts", [])] != want_counts or bounds != want_bounds
                or int(p.get("count", 0)) != 3 * len(ks)
                or abs(float(p.get("sum", 0)) - sum(sum(latencies(k, i)) for k in ks) / scale) > 1e-9):
            bad.append("uid-%d histogram values" % i)
    return {"calls": len(lines), "ok_calls": len(ok), "pods": len(last), "bad": bad}


lines = []
with open(args.out) as f:
    for line in f:
        line = line.strip()
        if line:
            lines.append(json.loads(line))
print(json.dumps(check_podlens(lines) if args.kind == "podlens" else check_otlp(lines), sort_keys=True))
