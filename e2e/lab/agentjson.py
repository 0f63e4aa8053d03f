#!/usr/bin/python3
"""agentjson.py - query podlens-agent JSON lines (one record per workload per interval).

  agentjson.py FILE [--eq PATH=VALUE]... [--ne PATH=VALUE]... [--has PATH=SUBSTR]... MODE
  MODE: --count                    number of matching records
        --sum PATH [PATH...]       sums, space-separated, in order (missing fields count 0)
        --distinct PATH            distinct values, one per line (missing: "<none>")
        --first PATH / --last PATH value in the first / last matching record
        --dump                     the matching records
PATH is dotted: workload.namespace, traffic.rx_bytes, ts. Values compare as strings, so
--eq workload.cgroup_id=1234 works whether the agent writes numbers or strings. Lines that are not
JSON objects are counted on stderr and skipped (so a torn last line cannot hide records).
"""
import argparse
import json
import sys


def get(rec, path):
    cur = rec
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def s(v):
    if v is None:
        return "<none>"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--eq", action="append", default=[])
    ap.add_argument("--ne", action="append", default=[])
    ap.add_argument("--has", action="append", default=[])
    m = ap.add_mutually_exclusive_group(required=True)
    m.add_argument("--count", action="store_true")
    m.add_argument("--sum", nargs="+")
    m.add_argument("--distinct")
    m.add_argument("--first")
    m.add_argument("--last")
    m.add_argument("--dump", action="store_true")
    a = ap.parse_args()

    def split(items):
        out = []
        for it in items:
            k, sep, v = it.partition("=")
            if not sep:
                sys.exit(f"agentjson: want PATH=VALUE, got {it!r}")
            out.append((k, v))
        return out
    eq, ne, has = split(a.eq), split(a.ne), split(a.has)

    recs, bad = [], 0
    with open(a.file, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(r, dict):
                bad += 1
                continue
            if all(s(get(r, k)) == v for k, v in eq) and all(s(get(r, k)) != v for k, v in ne) \
                    and all(v in s(get(r, k)) for k, v in has):
                recs.append(r)
    if bad:
        print(f"agentjson: {bad} lines of {a.file} are not JSON objects", file=sys.stderr)

    if a.count:
        print(len(recs))
    elif a.sum:
        tot = []
        for p in a.sum:
            t = 0
            for r in recs:
                v = get(r, p)
                t += int(v) if isinstance(v, (int, float, str)) and str(v).lstrip("-").isdigit() else 0
            tot.append(str(t))
        print(" ".join(tot))
    elif a.distinct:
        for v in sorted({s(get(r, a.distinct)) for r in recs}):
            print(v)
    elif a.first or a.last:
        if not recs:
            sys.exit(1)
        print(s(get(recs[0] if a.first else recs[-1], a.first or a.last)))
    else:
        for r in recs:
            print(json.dumps(r, sort_keys=True))


if __name__ == "__main__":
    main()
