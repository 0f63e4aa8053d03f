#!/usr/bin/python3
"""dspod.py - run the pod of a DaemonSet rendered by `helm template` through the CRI, the way the
kubelet would: same command, args, env (downward API resolved, $(VAR) expanded), volumes (hostPath
with its type check, ConfigMap/Secret files materialised, emptyDir), security context (capabilities,
privileged, read-only root, no_new_privs, run-as user, seccomp, kubelet's default masked and
read-only /proc paths) and resource limits. Used by the agent-as-a-pod e2e scenario so that what
runs is what the chart renders, not a hand-written approximation.

  dspod.py run MANIFESTS.yaml --state DIR --node-name NAME --node-ip IP [--daemonset NAME]
            [--pod-id-file FILE]
      creates the sandbox and the container, prints "<sandbox id> <pod ip> <container id>"; the
      sandbox id goes to FILE as soon as it exists, so a caller can remove the pod on any failure
  dspod.py describe MANIFESTS.yaml --state DIR --node-name NAME --node-ip IP
      prints the CRI ContainerConfig (JSON) that `run` would send, without calling the CRI

Not translated (the e2e lab has no API server): the projected service-account token (the agent's
k8s_api is "auto", which is off without KUBERNETES_SERVICE_HOST), probes (the scenario polls
/healthz on the pod IP itself, as the kubelet's prober does), ports (informational in the CRI).
Anything else the chart might render that this tool does not understand is an error, never
silently dropped. Uses e2e/lab/podctl.py's generated CRI stubs and sandbox conventions, so
`podctl.py rm-pod` removes what it created.
"""
import argparse
import json
import os
import re
import stat
import sys
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "e2e", "lab"))
import podctl  # noqa: E402  (the lab's CRI client: stubs, sandbox config, rm-pod)

# kubelet's defaults for non-privileged containers (k8s.io/kubernetes pkg/securitycontext)
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def die(msg):
    sys.exit("dspod: " + msg)


def quantity(q):
    m = re.fullmatch(r"([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(q))
    if not m:
        die(f"cannot parse quantity {q!r}")
    if m.group(2) == "m":
        return float(m.group(1)) / 1000
    return float(m.group(1)) * UNITS[m.group(2) or ""]


def load(path, ds_name):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    dss = [d for d in docs if d["kind"] == "DaemonSet" and (ds_name is None or d["metadata"]["name"] == ds_name)]
    if len(dss) != 1:
        die(f"{len(dss)} DaemonSets in {path} (name {ds_name})")
    objs = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    return dss[0], objs


def expand(value, env):
    """kubelet's $(VAR) expansion against earlier env entries; $$ escapes."""
    def rep(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", rep, value)


def translate(ds, objs, state, node_name, node_ip, pod_name, pod_ns):
    pb = podctl.pb
    spec = ds["spec"]["template"]["spec"]
    known = {"serviceAccountName", "automountServiceAccountToken", "terminationGracePeriodSeconds", "containers",
             "volumes", "nodeSelector", "tolerations", "affinity", "priorityClassName", "hostNetwork", "hostPID",
             "dnsPolicy", "imagePullSecrets"}
    if set(spec) - known:
        die(f"pod spec fields not understood: {sorted(set(spec) - known)}")
    if len(spec["containers"]) != 1:
        die("want exactly one container")
    c = spec["containers"][0]
    known_c = {"name", "image", "imagePullPolicy", "command", "args", "env", "ports", "livenessProbe",
               "readinessProbe", "resources", "securityContext", "volumeMounts"}
    if set(c) - known_c:
        die(f"container fields not understood: {sorted(set(c) - known_c)}")

    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = expand(e["value"], env)
        elif "fieldRef" in e.get("valueFrom", {}):
            fp = e["valueFrom"]["fieldRef"]["fieldPath"]
            vals = {"spec.nodeName": node_name, "status.hostIP": node_ip, "metadata.name": pod_name,
                    "metadata.namespace": pod_ns}
            if fp not in vals:
                die(f"env {e['name']}: fieldRef {fp} not supported")
            env[e["name"]] = vals[fp]
        else:
            die(f"env {e['name']}: only value and fieldRef are supported")

    vols = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = []
    for m in c.get("volumeMounts", []):
        v = vols.get(m["name"]) or die(f"volumeMount {m['name']} has no volume")
        ro = bool(m.get("readOnly", False))
        if "hostPath" in v:
            hp, typ = v["hostPath"]["path"], v["hostPath"].get("type", "")
            checks = {"Directory": stat.S_ISDIR, "Socket": stat.S_ISSOCK, "File": stat.S_ISREG}
            if typ not in checks:
                die(f"hostPath {hp}: type {typ!r} not supported (the chart only renders Directory/Socket)")
            try:
                st = os.stat(hp)
            except FileNotFoundError:
                die(f"hostPath {hp} ({typ}) does not exist: the kubelet would refuse to start the pod")
            if not checks[typ](st.st_mode):
                die(f"hostPath {hp} is not a {typ}")
            src = hp
        elif "configMap" in v or "secret" in v:
            kind, ref = ("ConfigMap", v["configMap"]["name"]) if "configMap" in v else ("Secret", v["secret"]["secretName"])
            obj = objs.get((kind, ref)) or die(f"volume {v['name']}: {kind} {ref} not in the manifests")
            data = dict(obj.get("data", {}))
            if kind == "Secret":
                import base64
                data = {k: base64.b64decode(x).decode() for k, x in data.items()}
            items = (v.get("configMap") or v.get("secret")).get("items")
            files = {it["path"]: data[it["key"]] for it in items} if items else data
            src = os.path.join(state, "volumes", v["name"])
            os.makedirs(src, exist_ok=True)
            for fn, content in files.items():
                with open(os.path.join(src, fn), "w") as f:
                    f.write(content)
        elif "emptyDir" in v:
            src = os.path.join(state, "volumes", v["name"])
            os.makedirs(src, exist_ok=True)
        else:
            die(f"volume {v['name']}: kind not supported")
        mounts.append(pb.Mount(host_path=src, container_path=m["mountPath"], readonly=ro))

    sc = c.get("securityContext", {})
    priv = bool(sc.get("privileged", False))
    caps = sc.get("capabilities", {})
    lsc = pb.LinuxContainerSecurityContext(
        privileged=priv,
        capabilities=pb.Capability(add_capabilities=caps.get("add", []), drop_capabilities=caps.get("drop", [])),
        readonly_rootfs=bool(sc.get("readOnlyRootFilesystem", False)),
        no_new_privs=sc.get("allowPrivilegeEscalation", True) is False,
        namespace_options=pb.NamespaceOption(network=pb.NODE if spec.get("hostNetwork") else pb.POD,
                                             pid=pb.NODE if spec.get("hostPID") else pb.CONTAINER, ipc=pb.POD))
    if "runAsUser" in sc:
        lsc.run_as_user.value = int(sc["runAsUser"])
    prof = sc.get("seccompProfile", {}).get("type")
    if prof == "RuntimeDefault":
        lsc.seccomp.profile_type = pb.SecurityProfile.RuntimeDefault
    elif prof in (None, "Unconfined"):
        lsc.seccomp.profile_type = pb.SecurityProfile.Unconfined
    else:
        die(f"seccompProfile {prof} not supported")
    if not priv:
        lsc.masked_paths.extend(MASKED_PATHS)
        lsc.readonly_paths.extend(READONLY_PATHS)

    res = pb.LinuxContainerResources()
    lim, req = c.get("resources", {}).get("limits", {}), c.get("resources", {}).get("requests", {})
    if "memory" in lim:
        res.memory_limit_in_bytes = int(quantity(lim["memory"]))
    if "cpu" in req:
        res.cpu_shares = max(2, int(quantity(req["cpu"]) * 1024))
    if "cpu" in lim:
        res.cpu_period = 100000
        res.cpu_quota = int(quantity(lim["cpu"]) * 100000)

    ccfg = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=c["name"], attempt=0),
        image=pb.ImageSpec(image=c["image"]),
        command=c.get("command", []), args=c.get("args", []),
        envs=[pb.KeyValue(key=k, value=v) for k, v in env.items()],
        mounts=mounts,
        labels={"io.kubernetes.container.name": c["name"], "io.kubernetes.pod.name": pod_name,
                "io.kubernetes.pod.namespace": pod_ns},
        annotations={"io.kubernetes.container.restartCount": "0"},
        log_path=f"{c['name']}/0.log",
        linux=pb.LinuxContainerConfig(security_context=lsc, resources=res))
    return ccfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["run", "describe"])
    ap.add_argument("manifests")
    ap.add_argument("--state", required=True, help="directory for ConfigMap/Secret files and emptyDirs")
    ap.add_argument("--node-name", required=True)
    ap.add_argument("--node-ip", required=True)
    ap.add_argument("--daemonset")
    ap.add_argument("--pod-id-file", help="run: write the sandbox id here as soon as it exists (for cleanup)")
    ap.add_argument("--socket", default=os.environ.get("E2E_SOCK") or f"{podctl.RUN}/containerd.sock")
    a = ap.parse_args()

    podctl.load_stubs()
    pb = podctl.pb
    ds, objs = load(a.manifests, a.daemonset)
    ns = ds["metadata"].get("namespace", "default")
    pod_name = ds["metadata"]["name"] + "-" + uuid.uuid4().hex[:5]
    uid = str(uuid.uuid4())
    state = os.path.join(a.state, pod_name)
    ccfg = translate(ds, objs, state, a.node_name, a.node_ip, pod_name, ns)
    if a.cmd == "describe":
        print(json.dumps(podctl.to_dict(ccfg), indent=1, sort_keys=True))
        return
    tmpl = ds["spec"]["template"]
    spec = tmpl["spec"]
    labels = {k: str(v) for k, v in tmpl["metadata"].get("labels", {}).items()}
    ann = {k: str(v) for k, v in tmpl["metadata"].get("annotations", {}).items()}
    scfg = podctl.pod_config(pod_name, ns, uid, labels, ann, bool(spec.get("hostNetwork")), False)
    if spec.get("hostPID"):
        scfg.linux.security_context.namespace_options.pid = pb.NODE
    cri = podctl.CRI(a.socket, 60)
    os.makedirs(f"{podctl.RUN}/podctl", exist_ok=True)
    r = cri.r("RunPodSandbox", pb.RunPodSandboxRequest(config=scfg))
    pod_id = r.pod_sandbox_id
    if a.pod_id_file:
        with open(a.pod_id_file, "w") as f:
            f.write(pod_id + "\n")
    with open(f"{podctl.RUN}/podctl/{pod_id}.pb", "wb") as f:   # podctl rm-pod needs it
        f.write(scfg.SerializeToString())
    try:
        cid = cri.r("CreateContainer", pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=ccfg,
                                                                 sandbox_config=scfg)).container_id
        cri.r("StartContainer", pb.StartContainerRequest(container_id=cid))
    except podctl.grpc.RpcError as e:
        die(f"container: {e.code().name}: {e.details()} (pod {pod_id})")
    print(pod_id, podctl.pod_ip(cri, pod_id) or "-", cid)


if __name__ == "__main__":
    main()
