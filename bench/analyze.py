#!/usr/bin/env python3
# bench/analyze.py RESULTS_DIR [L7_DESCRIPTION]: the tables of `make bench` from runs.tsv,
# paired.tsv and bpf_stats.tsv (written by bench/run.sh).
import collections, csv, os, statistics as st, sys

d = sys.argv[1]
l7desc = sys.argv[2] if len(sys.argv) > 2 else ""
runs = list(csv.DictReader(open(f"{d}/runs.tsv"), delimiter="\t"))
stats = list(csv.DictReader(open(f"{d}/bpf_stats.tsv"), delimiter="\t"))
paired = list(csv.DictReader(open(f"{d}/paired.tsv"), delimiter="\t")) if os.path.exists(f"{d}/paired.tsv") else []
tput = [r for r in runs if r["kind"] == "tput"]
workloads = list(dict.fromkeys(r["workload"] for r in tput))
conds = [c for c in dict.fromkeys(r["cond"] for r in tput) if c != "off"]
names = collections.defaultdict(str, {"off": "agent off", "l4": "L4 only (nginx monitored)", "l7": "L4+L7 (nginx monitored)",
                                      "l4all": "L4, every cgroup (root)",
                                      "l7e": "L7 empty programs", "l7n": "L7, no in-kernel agg", "l7s1": "L7 cut: headers",
                                      "l7s2": "L7 cut: + classify", "l7s3": "L7 cut: + sk_storage",
                                      "l7s4": "L7 cut: full, no submit"})
targets = {"l4": 0.99, "l7": 0.97}
if "probe driver alone" in l7desc:
    names["l7"] = "L7 only (probe driver)"


def fmt_ratio(v):
    return f"{st.median(v):.3f} ({min(v):.3f}..{max(v):.3f})"


print(f"== throughput (wrk rps; ratio = condition / mean 'off' of the same round), l7 = {l7desc}")
print("(medians over rounds; a min..max spread wider than the distance to the target means the run was")
print(" too noisy to decide: rerun on a quiet machine, or with more ROUNDS)")
print("== phase 1, sequential: one server, conditions one after the other")
print(f"{'workload':9s} {'condition':26s} {'rps median':>10s} {'ratio median (min..max)':>25s} {'target':>7s} "
      f"{'agent CPU%':>10s} {'agent RSS':>10s} {'l7 CPU%':>8s} {'l7 RSS':>8s} {'l7 counted/wrk':>14s}")
verdicts = []
for wl in workloads:
    byround = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in tput:
        if r["workload"] == wl:
            byround[r["round"]][r["cond"]].append(r)
    offs = [float(x["rps"]) for rd in byround.values() for x in rd["off"]]
    if not offs:
        continue
    print(f"{wl:9s} {names['off']:26s} {st.median(offs):10.0f} {'1':>25s} {'':>7s}")
    for c in conds:
        names[c] = names[c] or c
        ratios, rows = [], []
        for rd in byround.values():
            if rd["off"] and rd[c]:
                base = st.mean(float(x["rps"]) for x in rd["off"])
                for x in rd[c]:
                    ratios.append(float(x["rps"]) / base)
                    rows.append(x)
        if not ratios:
            continue
        acpu = st.median(float(x["agent_cpu_pct"]) for x in rows)
        arss = max(int(x["agent_rss_kb"]) for x in rows) / 1024
        dcpu = st.median(float(x["driver_cpu_pct"]) for x in rows)
        drss = max(int(x["driver_rss_kb"]) for x in rows) / 1024
        cnt = "-"
        if c == "l7":
            got = [int(x["l7_events"]) / int(x["wrk_requests"]) for x in rows if x["l7_events"] not in ("-", "")]
            cnt = f"{min(got):.4f}" if got else "-"
        t = targets.get(c)
        ok = "" if t is None else (">=%.2f" % t)
        print(f"{'':9s} {names[c]:26s} {st.median(float(x['rps']) for x in rows):10.0f} {fmt_ratio(ratios):>25s} "
              f"{ok:>7s} {acpu:10.2f} {arss:8.1f}Mi {dcpu:8.2f} {drss:6.1f}Mi {cnt:>14s}")
        if t is not None and wl == "ka" and names[c] != "L7 only (probe driver)":
            verdicts.append(f"{names[c]} keep-alive ratio, sequential median {st.median(ratios):.3f} "
                            f"{'meets' if st.median(ratios) >= t else 'MISSES'} >= {t}")

if paired:
    print()
    print("== phase 2, paired: two servers at once on the same CPUs, one monitored (alternating);")
    print("   ratio = rps(monitored) / rps(other) of the same run, so the machine's drift cancels out")
    print(f"{'workload':9s} {'condition':26s} {'runs':>5s} {'ratio median (min..max)':>25s} {'target':>7s} {'agent CPU%':>10s}")
    for wl in dict.fromkeys(r["workload"] for r in paired):
        floor = None
        for c in ("none", "l7e", "l4", "l7"):
            rows = [r for r in paired if r["workload"] == wl and r["cond"] == c and r["round"] != "0"
                    and float(r["rps_other"]) > 0]
            if not rows:
                continue
            ratios = [float(r["rps_monitored"]) / float(r["rps_other"]) for r in rows]
            t = targets.get(c)
            label = {"none": "nobody monitored (control)", "l7e": "empty programs (floor)"}.get(c, names[c])
            print(f"{wl:9s} {label:26s} {len(rows):5d} {fmt_ratio(ratios):>25s} {('>=%.2f' % t) if t else '':>7s} "
                  f"{st.median(float(r['agent_cpu_pct']) for r in rows):10.2f}")
            if c == "l7e":
                floor = st.median(ratios)
            if t is not None and wl == "ka":
                # the floor is what empty programs on the same hooks cost in the same run: no
                # cgroup_skb design can do better, so say where the condition sits against it
                rel = f" (empty-program floor {floor:.3f})" if floor is not None else ""
                verdicts.append(f"{names[c]} keep-alive ratio, paired median {st.median(ratios):.3f} "
                                f"{'meets' if st.median(ratios) >= t else 'MISSES'} >= {t}{rel}")

print()
print("== BPF run time per event (kernel.bpf_stats_enabled=1 runs; our programs only, by id)")
print(f"{'workload':9s} {'condition':10s} {'program':22s} {'type':12s} {'runs':>10s} {'runs/request':>12s} {'ns/run':>8s} {'net of empty':>12s}")
# empty cgroup_skb programs on nginx's cgroup (condition l7e): what the kernel's dispatch and the
# bpf_stats clock reads cost any cgroup_skb program; "net" = ns/run minus that, per hook
empty = {}
for s in stats:
    if s["cond"] == "l7e" and int(s["runs"]):
        empty[(s["workload"], s["prog_name"].rsplit("_", 1)[-1])] = int(s["run_ns"]) / int(s["runs"])
reqs = {(r["workload"], r["cond"]): int(r["wrk_requests"]) for r in runs if r["kind"] == "stats"}
dur = None
worst = {}
for s in stats:
    n, t = int(s["runs"]), int(s["run_ns"])
    if n == 0:
        continue
    key = (s["workload"], s["cond"])
    nreq = reqs.get(key, 0)
    ns = t / n
    e = empty.get((s["workload"], s["prog_name"].rsplit("_", 1)[-1])) if s["prog_type"] == "cgroup_skb" else None
    net = f"{ns - e:12.1f}" if e is not None and s["cond"] != "l7e" else f"{'-':>12s}"
    print(f"{s['workload']:9s} {s['cond']:10s} {s['prog_name']:22s} {s['prog_type']:12s} {n:10d} "
          f"{(n / nreq if nreq else 0):12.2f} {ns:8.1f} {net}")
    if s["workload"] == "ka" and s["cond"] in ("l4", "l7"):
        worst[s["prog_name"]] = max(worst.get(s["prog_name"], 0), ns)
# mean BPF time per event = all our programs' run time / all their runs, per condition (keep-alive)
tot = collections.defaultdict(lambda: [0, 0, 0])
for s in stats:
    if s["workload"] == "ka" and s["cond"] in ("l4", "l7"):
        n, t = int(s["runs"]), int(s["run_ns"])
        e = empty.get(("ka", s["prog_name"].rsplit("_", 1)[-1])) if s["prog_type"] == "cgroup_skb" else None
        tot[s["cond"]][0] += n
        tot[s["cond"]][1] += t
        tot[s["cond"]][2] += t - n * e if e is not None else t
for c, (n, t, tn) in sorted(tot.items()):
    if n:
        verdicts.append(f"BPF mean ns per event (all programs, keep-alive, {names[c]}): {t / n:.0f} ns "
                        f"{'meets' if t / n <= 150 else 'MISSES'} <= 150 ({tn / n:.0f} ns net of the empty "
                        f"program's dispatch + bpf_stats cost)")
if worst:
    name, ns = max(worst.items(), key=lambda kv: kv[1])
    verdicts.append(f"(slowest program on keep-alive: {name} {ns:.0f} ns/run)")
print("(runs = program runs in the wrk window; runs/request = runs / wrk requests)")
print()
for v in verdicts:
    print("target:", v)
