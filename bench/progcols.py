"""bench/progcols.py: per-program columns of the A/B benches (bench/ab_agent.sh, bench/ab_dns.sh).

prog_cols(w, sides, types): for each (side, "id,id,...", requests) the programs of those ids whose
type is in types, as "SIDE:NAME=<ns per run>ns*<runs per request>", from the bpftool prog show -j
snapshots w/pre.json and w/post.json (kernel.bpf_stats_enabled on between them)."""
import json


def prog_cols(w, sides, types):
    pre = {p["id"]: p for p in json.load(open(f"{w}/pre.json"))}
    post = {p["id"]: p for p in json.load(open(f"{w}/post.json"))}
    cols = []
    for side, ids, n in sides:
        for i in sorted(int(x) for x in ids.split(",") if x):
            p, q = post.get(i), pre.get(i)
            if not p or not q or p.get("type") not in types:
                continue
            runs = p.get("run_cnt", 0) - q.get("run_cnt", 0)
            if runs:
                ns = (p.get("run_time_ns", 0) - q.get("run_time_ns", 0)) / runs
                cols.append(f"{side}:{p['name']}={ns:.0f}ns*{runs / n:.2f}")
    return cols
