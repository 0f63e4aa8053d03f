#!/usr/bin/python3
"""Read a /metrics body with python3-prometheus-client's text parser (an independent reader of the
exposition format) and print one JSON object: every histogram family with, per label set, its
buckets {le: count}, sum and count, and the list of shape errors found.

  promhist.py FILE

Shape errors checked per histogram (the rules of the Prometheus exposition format): a +Inf bucket,
le strictly ascending, counts non-decreasing (cumulative), _count equal to the +Inf bucket, a _sum,
every le a number, and the family declared `histogram`.
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1]).read()
    out = {"families": {}, "errors": [], "types": {}}
    for fam in text_string_to_metric_families(text):
        out["types"][fam.name] = fam.type
        if fam.type != "histogram":
            if any(s.name.endswith("_bucket") for s in fam.samples):
                out["errors"].append("%s: _bucket samples in a %s family" % (fam.name, fam.type))
            continue
        series = {}
        for s in fam.samples:
            labels = dict(s.labels)
            le = labels.pop("le", None)
            key = json.dumps(sorted(labels.items()))
            h = series.setdefault(key, {"labels": labels, "buckets": [], "sum": None, "count": None})
            if s.name == fam.name + "_bucket":
                h["buckets"].append((le, s.value))
            elif s.name == fam.name + "_sum":
                h["sum"] = s.value
            elif s.name == fam.name + "_count":
                h["count"] = s.value
            else:
                out["errors"].append("%s: unexpected sample %s" % (fam.name, s.name))
        hs = []
        for h in series.values():
            name = "%s%s" % (fam.name, h["labels"])
            b = h["buckets"]
            try:
                les = [float(le) for le, _ in b]
            except (TypeError, ValueError):
                out["errors"].append("%s: an le that is not a number" % name)
                continue
            if not les or not math.isinf(les[-1]):
                out["errors"].append("%s: no +Inf bucket last" % name)
            if any(les[i] >= les[i + 1] for i in range(len(les) - 1)):
                out["errors"].append("%s: le not strictly ascending" % name)
            if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                out["errors"].append("%s: bucket counts not cumulative" % name)
            if h["count"] is None or not b or h["count"] != b[-1][1]:
                out["errors"].append("%s: _count differs from the +Inf bucket" % name)
            if h["sum"] is None:
                out["errors"].append("%s: no _sum" % name)
            hs.append({"labels": h["labels"], "buckets": {le: int(v) for le, v in b},
                       "sum": h["sum"], "count": int(h["count"] or 0)})
        out["families"][fam.name] = hs
    print(json.dumps(out, sort_keys=True))


main()
