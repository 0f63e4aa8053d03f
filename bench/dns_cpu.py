#!/usr/bin/env python3
"""bench/dns_cpu.py DNSCPU_TSV: the DNS CPU-per-query table of bench/run.sh's dnscpu phase.

Each row of dnscpu.tsv is one run of the two dnsmasq/dnsperf twins at the same fixed rate, one twin
monitored. Per twin: CPU per query = (its dnsmasq's + its dnsperf's cgroup usage) / queries
completed; loopback softirq (both packet programs) is charged to the twin's own tasks here (no
IRQ_TIME_ACCOUNTING), and ksoftirqd's share is shown apart (not attributable to a twin).

Per condition, medians over rounds of:
  twin      CPU per query of the monitored twin / of the other one, same run (1.0 = no cost)
  +ns/q     added CPU per query (monitored - other), ns
  srv       the other twin's dnsmasq alone, ns per query (what a DNS server spends)
  implied   srv / (srv + added): the queries/s ratio of a server that is CPU-bound on its own CPU
            and pays every added nanosecond of both packet directions itself (the conservative
            reading: on loopback half of it is paid by the load tool)
  +agent    the same with the agent's own CPU per query added to the cost
"""
import csv
import statistics
import sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
rows = [r for r in rows if r["round"] != "0"]
names = {"none": "nobody monitored (control)", "l7e": "empty programs (floor)", "l7": "L4+L7 (dnsmasq monitored)"}


def med(xs):
    xs = sorted(xs)
    return xs and (statistics.median(xs), xs[0], xs[-1])


print()
print("DNS CPU per query (dnscpu: dnsperf -Q %s per twin, CPU from cgroup cpu.stat)" % (rows[0]["qps"] if rows else "?"))
print("%-28s %4s %22s %8s %8s %8s %22s %8s %8s" %
      ("condition", "runs", "twin cpu/q ratio", "+ns/q", "srv ns/q", "us/q", "implied q/s ratio", "+agent", "ksirq ns/q"))
for cond in ("none", "l7e", "l7"):
    rs = [r for r in rows if r["cond"] == cond]
    if not rs:
        continue
    ratio, added, srv, twin, implied, withagent, ksi = [], [], [], [], [], [], []
    for r in rs:
        qm, qo = int(r["q_mon"]), int(r["q_other"])
        if qm <= 0 or qo <= 0:
            continue
        cm = (int(r["srv_us_mon"]) + int(r["load_us_mon"])) * 1000 / qm
        co = (int(r["srv_us_other"]) + int(r["load_us_other"])) * 1000 / qo
        so = int(r["srv_us_other"]) * 1000 / qo
        ag = int(r["tool_us"]) * 1000 / qm
        ratio.append(cm / co)
        added.append(cm - co)
        srv.append(so)
        twin.append(cm / 1000)
        implied.append(so / (so + (cm - co)))
        withagent.append(so / (so + (cm - co) + ag))
        ksi.append(int(r["ksoftirqd_us"]) * 1000 / (qm + qo))
    if not ratio:
        continue
    m = med(ratio)
    im = med(implied)
    print("%-28s %4d %8.3f (%.3f..%.3f) %8.0f %8.0f %8.2f %8.3f (%.3f..%.3f) %8.3f %8.0f" %
          (names[cond], len(ratio), m[0], m[1], m[2], med(added)[0], med(srv)[0], med(twin)[0],
           im[0], im[1], im[2], med(withagent)[0], med(ksi)[0]))
