#!/usr/bin/env python3
# bench/side.py LOG KIND WORKLOAD COND CGPATH LOAD_DONE AGENT_CPU AGENT_RSS BT_CPU BT_RSS AGENT_IDS BT_IDS
#               SIDE_TSV BPF_STATS_TSV
# One side-by-side run of bench/run.sh (run_side): what podlens and bpftrace each saw of the same
# load, appended as rows of side.tsv, and their programs' bpf_stats deltas appended to bpf_stats.tsv.
#   podlens: the agent's JSON (--interval 3600: one record, flushed at exit) in LOG.agent, the
#            record of the server's cgroup CGPATH: request-stat entries of direction server (KIND dns:
#            the `dns` list; http, h2: every other list, `http` today); count, p50 of the largest entry, mean = sum_us / count.
#   bpftrace: LOG.bt (-f json) from bench/syscall_latency.bt: @requests, @sum_us, @lat_us (log2:
#            p50 is a power-of-two bucket, shown as its bounds).
#   bpf_stats: LOG.pre.json / LOG.post.json (bpftool prog show -j) deltas of the programs whose ids
#            each tool holds; runs per request = runs / what the load tool completed; BPF CPU% = their
#            run time / the load's duration (BENCH_DUR), in % of one core (bpf_stats' own clock reads
#            included, which inflate short programs).
import json, os, sys

(log, kind, wl, cond, cgpath, done, acpu, arss, bcpu, brss, aids, bids, side_tsv, stats_tsv) = sys.argv[1:15]
done = int(done or 0)
aids = {int(x) for x in aids.split()}
bids = {int(x) for x in bids.split()}
rows = []


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path, errors="replace") as f:
        return [ln for ln in f if ln.startswith("{")]


def bpf_deltas(ids):
    """[(prog, runs, run_ns)] of the programs in ids between the two bpftool snapshots"""
    try:
        pre = {p["id"]: p for p in json.load(open(log + ".pre.json"))}
        post = json.load(open(log + ".post.json"))
    except (OSError, ValueError):
        return []
    out = []
    for p in post:
        q = pre.get(p["id"])
        if p["id"] in ids and q:
            out.append((p, p.get("run_cnt", 0) - q.get("run_cnt", 0), p.get("run_time_ns", 0) - q.get("run_time_ns", 0)))
    return out


NODEWIDE = ("tracing", "tracepoint", "raw_tracepoint", "kprobe", "perf_event")


def bpf_cols(ids, server_runs=None):
    """runs, node-wide runs (programs not attached to a cgroup), runs for the server, runs per
    request, ns per run. podlens: the server's = its cgroup_skb runs (attached to that cgroup only);
    bpftrace: 2 per syscall of the server's cgroup (sys_enter + sys_exit), the rest ran for others."""
    d = bpf_deltas(ids)
    runs = sum(r for _, r, _ in d)
    ns = sum(t for _, _, t in d)
    nodewide = sum(r for p, r, _ in d if p.get("type") in NODEWIDE)
    if server_runs is None:
        server_runs = sum(r for p, r, _ in d if p.get("type") == "cgroup_skb")
    dur = float(os.environ.get("BENCH_DUR", "0"))
    return [runs, nodewide, server_runs, f"{runs / done:.2f}" if done else "-", f"{ns / runs:.1f}" if runs else "-",
            f"{ns / 1e9 / dur * 100:.2f}" if dur else "-"]


def client_mean_us():
    """the load tool's own mean latency per request (query), in us: wrk's Latency avg, dnsperf's
    Average Latency, h2load's time for request mean; the client's view, a ground truth for both"""
    unit = {"us": 1, "ms": 1e3, "s": 1e6}
    try:
        text = open(log + ".load", errors="replace").read().splitlines()
    except OSError:
        return "-"
    for ln in text:
        f = ln.split()
        try:
            if kind == "http" and f[:1] == ["Latency"]:
                v = f[1].rstrip("usm")
                return f"{float(v) * unit[f[1][len(v):]]:.1f}"
            if kind == "dns" and ln.strip().startswith("Average Latency (s):"):
                return f"{float(f[3]) * 1e6:.1f}"
            if kind == "h2" and ln.startswith("time for request:"):
                v = f[5].rstrip("usm")
                return f"{float(v) * unit[f[5][len(v):]]:.1f}"
        except (IndexError, KeyError, ValueError):
            return "-"
    return "-"


client = client_mean_us()
if "l7" in cond.split("+"):
    counted, p50, total, best = 0, "-", 0, None
    for ln in lines(log + ".agent"):
        try:
            rec = json.loads(ln)
        except ValueError:
            continue
        if rec.get("workload", {}).get("cgroup_path") != cgpath:
            continue
        # dns: the `dns` list; http and h2: every other list of request stats (`http` today; an
        # HTTP/2 or gRPC module's entries are counted whether they join `http` or get a list of
        # their own), so a new protocol module needs no change here
        fields = ["dns"] if kind == "dns" else [k for k, v in rec.items() if isinstance(v, list) and k != "dns"]
        for e in (e for f in fields for e in rec.get(f) or []):
            if not isinstance(e, dict) or "count" not in e or e.get("direction") != "server":
                continue
            counted += e.get("count", 0)
            total += e.get("sum_us", 0)
            if best is None or e.get("count", 0) > best.get("count", 0):
                best = e
    if best is not None:
        p50 = str(best.get("p50_us"))
    mean = f"{total / counted:.1f}" if counted else "-"
    rows.append([wl, cond, "podlens", done, counted, p50, mean, client, acpu, arss] + bpf_cols(aids))

if "bt" in cond.split("+"):
    req, tot, hist, cgs = 0, 0, [], 0
    for ln in lines(log + ".bt"):
        try:
            m = json.loads(ln)
        except ValueError:
            continue
        data = m.get("data")
        if m.get("type") == "map" and isinstance(data, dict):
            req = data.get("@requests", req)
            tot = data.get("@sum_us", tot)
            cgs = data.get("@cgroup_syscalls", cgs)
        elif m.get("type") == "hist" and isinstance(data, dict):
            hist = data.get("@lat_us", [])
    p50, seen = "-", 0
    for b in hist:
        seen += b.get("count", 0)
        if req and seen * 2 >= req:
            p50 = f"{b.get('min', 0)}..{b.get('max', 0)}"
            break
    mean = f"{tot / req:.1f}" if req else "-"
    rows.append([wl, cond, "bpftrace", done, req, p50, mean, client, bcpu, brss] + bpf_cols(bids, 2 * cgs))

with open(side_tsv, "a") as f:
    for r in rows:
        f.write("\t".join(map(str, r)) + "\n")
with open(stats_tsv, "a") as f:
    for owner, ids in (("agent", aids), ("bpftrace", bids)):
        for p, runs, ns in bpf_deltas(ids):
            o = "l7" if owner == "agent" and p.get("name", "").startswith("pl_l7") else owner
            f.write("\t".join(map(str, ["1", wl, cond, o, p["id"], p.get("name"), p.get("type"), runs, ns])) + "\n")
