#!/usr/bin/python3
"""Query rendered helm manifests: manifest.py FILE EXPR

FILE is `helm template` output (multi-document YAML). EXPR is a Python expression evaluated
with these names, and its value is printed as compact JSON with sorted keys (strings bare), so
shell tests can compare it with check_eq:
  docs                 every non-empty document
  kinds                sorted "Kind/name" list
  obj(kind, name=None) the one object of that kind (and name); fails if not exactly one
  has(kind)            number of objects of that kind
  ds, dep              the agent DaemonSet / collector Deployment pod spec (template.spec)
  c(spec, name=None)   the (named or only) container of a pod spec
  cfg                  the agent's config.json from the agent ConfigMap, parsed
  hostpaths(spec)      sorted [path, type] of every hostPath volume
  mounts(spec, cont)   {volume name: [mountPath, readOnly]} of a container
  env(cont)            {name: value or valueFrom} of a container
  rules(kind, name)    sorted rules of a ClusterRole, each {"groups","resources","verbs"}, sorted
Exit status 1 (with a message) when the expression raises.
"""
import json
import sys

import yaml


def main():
    path, expr = sys.argv[1], sys.argv[2]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]

    def select(kind, name=None):
        return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]

    def obj(kind, name=None):
        found = select(kind, name)
        if len(found) != 1:
            raise LookupError(f"{len(found)} objects of kind {kind} name {name}")
        return found[0]

    def has(kind):
        return len(select(kind))

    def c(spec, name=None):
        conts = spec["containers"]
        if name is None:
            if len(conts) != 1:
                raise LookupError(f"{len(conts)} containers")
            return conts[0]
        return next(x for x in conts if x["name"] == name)

    def hostpaths(spec):
        return sorted([v["hostPath"]["path"], v["hostPath"].get("type", "")]
                      for v in spec.get("volumes", []) if "hostPath" in v)

    def mounts(spec, cont):
        return {m["name"]: [m["mountPath"], bool(m.get("readOnly", False))] for m in cont.get("volumeMounts", [])}

    def env(cont):
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in cont.get("env", [])}

    def rules(kind="ClusterRole", name=None):
        out = []
        for r in obj(kind, name).get("rules", []):
            out.append({"groups": sorted(r.get("apiGroups", [])), "resources": sorted(r.get("resources", [])),
                        "verbs": sorted(r.get("verbs", []))})
        return sorted(out, key=lambda r: json.dumps(r, sort_keys=True))

    ns = dict(docs=docs, obj=obj, has=has, c=c, hostpaths=hostpaths, mounts=mounts, env=env, rules=rules,
              kinds=sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs), sorted=sorted, len=len, str=str, int=int)
    if has("DaemonSet"):
        ns["ds"] = obj("DaemonSet")["spec"]["template"]["spec"]
    if has("Deployment"):
        ns["dep"] = obj("Deployment")["spec"]["template"]["spec"]
    cms = [d for d in select("ConfigMap") if "config.json" in d.get("data", {})]
    if len(cms) == 1:
        ns["cfg"] = json.loads(cms[0]["data"]["config.json"])
    try:
        val = eval(expr, {"__builtins__": {}, **ns})  # test tool: expressions come from our own test
    except Exception as e:  # noqa: BLE001 - report any failure of the query itself
        print(f"manifest.py: {expr}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(val if isinstance(val, str) else json.dumps(val, sort_keys=True, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
