#!/usr/bin/python3
"""podctl.py - a small CRI v1 client for the podlens e2e lab (what kubelet would do, minus kubelet).

gRPC stubs are generated at run time from the project's proto/cri/v1/api.proto into
$E2E_RUN/pygen (python3-grpc-tools; nothing generated lands in the repository). Run it with Debian's
/usr/bin/python3 (python3-grpcio). Every call has a deadline (--timeout, default 30 s).

  podctl.py version
  podctl.py run-pod NAME NAMESPACE [--uid UID] [--label K=V]... [--annotation K=V]... [--host-network]
                                   [--privileged]                       -> "<sandbox id> <pod ip>"
  podctl.py run-container POD_ID NAME [--image IMG] [--env K=V]... [--label K=V]... [--annotation K=V]...
            [--privileged] [--cap-add CAP]... [--cap-drop CAP]... [--mount HOST:CTR[:ro]]...
            [--workdir DIR] [--args] [--no-start] -- ARGV...           -> "<container id>"
            ARGV replaces the image entrypoint (k8s `command`); with --args it is the k8s `args`.
  podctl.py pods [--json] | ps [--json] | images
  podctl.py inspect CONTAINER_ID | inspect-pod POD_ID    verbose status, info["info"] JSON decoded
  podctl.py pid CONTAINER_ID | cgroup CONTAINER_ID | state CONTAINER_ID | ip POD_ID
  podctl.py logs CONTAINER_ID (the text of its CRI log) | log-path CONTAINER_ID
  podctl.py image-status IMAGE                           exit 1 if the CRI does not know IMAGE
  podctl.py stop CONTAINER_ID [--grace N] | rm CONTAINER_ID
  podctl.py rm-pod POD_ID [--grace N]    stop+remove its containers, the sandbox, its pod-level cgroup
  podctl.py rm-all [--grace N]           the same for every pod (down.sh)

Pods follow kubelet's conventions: labels io.kubernetes.pod.{name,namespace,uid} and
io.kubernetes.container.name, cgroup_parent $E2E_CGROUP_ROOT/kubepods/besteffort/pod<uid> (cgroupfs
driver), logs under $E2E_RUN/pod-logs/<ns>_<name>_<uid>/<container>/0.log. The sandbox config of each
pod is kept in $E2E_RUN/podctl/<id>.pb (CreateContainer needs it again).
"""
import argparse
import fcntl
import glob
import json
import os
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
RUN = os.environ.get("E2E_RUN") or os.path.join(TOP, os.environ.get("BUILD", "build"), "e2e-run")
CG_ROOT = os.environ.get("E2E_CGROUP_ROOT") or "/podlens-e2e-" + os.environ.get("E2E_BRIDGE", "podlens0")
PROTO_DIR = os.path.join(TOP, "proto")
PROTO = "cri/v1/api.proto"


def load_stubs():
    """Generate (once per run dir, or when the .proto is newer) and import the CRI stubs."""
    gen = os.path.join(RUN, "pygen")
    src = os.path.join(PROTO_DIR, PROTO)
    out = os.path.join(gen, "cri", "v1", "api_pb2_grpc.py")
    os.makedirs(gen, exist_ok=True)
    with open(os.path.join(gen, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
            r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PROTO_DIR,
                                "--python_out=" + gen, "--grpc_python_out=" + gen, src],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"podctl: generating stubs from {src} failed: {r.stderr.strip()}")
    sys.path.insert(0, gen)
    global grpc, pb, pbg, json_format
    import grpc
    from cri.v1 import api_pb2 as pb
    from cri.v1 import api_pb2_grpc as pbg
    from google.protobuf import json_format


def kv(items):
    out = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        if not sep:
            sys.exit(f"podctl: want KEY=VALUE, got {it!r}")
        out[k] = v
    return out


class CRI:
    def __init__(self, socket, timeout):
        self.ch = grpc.insecure_channel("unix://" + socket)
        self.rt = pbg.RuntimeServiceStub(self.ch)
        self.img = pbg.ImageServiceStub(self.ch)
        self.timeout = timeout

    def call(self, stub, method, req):
        return getattr(stub, method)(req, timeout=self.timeout)

    def r(self, method, req):
        return self.call(self.rt, method, req)


def to_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                     including_default_value_fields=False)


def decode_info(d):
    for k, v in list(d.get("info", {}).items()):
        try:
            d["info"][k] = json.loads(v)
        except ValueError:
            pass
    return d


def verbose_info(cri, cid):
    r = cri.r("ContainerStatus", pb.ContainerStatusRequest(container_id=cid, verbose=True))
    return r, json.loads(r.info.get("info", "{}"))


# ---------------------------------------------------------------------------- pods
def pod_config(name, ns, uid, labels, annotations, host_network, privileged):
    logdir = f"{RUN}/pod-logs/{ns}_{name}_{uid}"
    os.makedirs(logdir, exist_ok=True)
    lab = dict(labels)
    lab.update({"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns,
                "io.kubernetes.pod.uid": uid})
    ann = {"kubernetes.io/config.source": "api"}
    ann.update(annotations)
    net = pb.NODE if host_network else pb.POD
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=ns, attempt=0),
        hostname="" if host_network else name,
        log_directory=logdir,
        labels=lab,
        annotations=ann,
        linux=pb.LinuxPodSandboxConfig(
            cgroup_parent=f"{CG_ROOT}/kubepods/besteffort/pod{uid}",
            security_context=pb.LinuxSandboxSecurityContext(
                privileged=privileged,
                namespace_options=pb.NamespaceOption(network=net, pid=pb.CONTAINER, ipc=pb.POD))))


def pod_ip(cri, pod_id):
    st = cri.r("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id))
    return st.status.network.ip


def run_pod(cri, a):
    uid = a.uid or str(uuid.uuid4())
    cfg = pod_config(a.name, a.namespace, uid, kv(a.label), kv(a.annotation), a.host_network,
                     a.privileged)
    os.makedirs(f"{RUN}/podctl", exist_ok=True)
    r = cri.r("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg))
    with open(f"{RUN}/podctl/{r.pod_sandbox_id}.pb", "wb") as f:
        f.write(cfg.SerializeToString())
    print(r.pod_sandbox_id, pod_ip(cri, r.pod_sandbox_id) or "-")


def sandbox_config(cri, pod_id):
    p = f"{RUN}/podctl/{pod_id}.pb"
    if os.path.exists(p):
        with open(p, "rb") as f:
            return pb.PodSandboxConfig.FromString(f.read())
    st = cri.r("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=True))
    return json_format.ParseDict(json.loads(st.info["info"])["config"], pb.PodSandboxConfig(),
                                 ignore_unknown_fields=True)


def parse_mount(spec):
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        sys.exit(f"podctl: --mount wants HOST:CONTAINER[:ro], got {spec!r}")
    if not os.path.exists(parts[0]):
        sys.exit(f"podctl: --mount {spec}: {parts[0]} does not exist")
    return pb.Mount(host_path=os.path.abspath(parts[0]), container_path=parts[1],
                    readonly=len(parts) == 3 and parts[2] == "ro")


def run_container(cri, a):
    scfg = sandbox_config(cri, a.pod_id)
    lab = kv(a.label)
    lab.update({"io.kubernetes.container.name": a.name,
                "io.kubernetes.pod.name": scfg.metadata.name,
                "io.kubernetes.pod.namespace": scfg.metadata.namespace,
                "io.kubernetes.pod.uid": scfg.metadata.uid})
    ann = {"io.kubernetes.container.restartCount": "0"}
    ann.update(kv(a.annotation))
    net = scfg.linux.security_context.namespace_options.network
    sc = pb.LinuxContainerSecurityContext(
        privileged=a.privileged,
        capabilities=pb.Capability(add_capabilities=a.cap_add or [],
                                   drop_capabilities=a.cap_drop or []),
        namespace_options=pb.NamespaceOption(network=net, pid=pb.CONTAINER, ipc=pb.POD))
    argv = a.argv
    ccfg = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=a.name, attempt=0),
        image=pb.ImageSpec(image=a.image),
        envs=[pb.KeyValue(key=k, value=v) for k, v in kv(a.env).items()],
        mounts=[parse_mount(m) for m in a.mount or []],
        labels=lab,
        annotations=ann,
        working_dir=a.workdir or "",
        log_path=f"{a.name}/0.log",
        linux=pb.LinuxContainerConfig(security_context=sc))
    if a.args:
        ccfg.args.extend(argv)
    else:
        ccfg.command.extend(argv)
    r = cri.r("CreateContainer", pb.CreateContainerRequest(pod_sandbox_id=a.pod_id, config=ccfg,
                                                           sandbox_config=scfg))
    if not a.no_start:
        cri.r("StartContainer", pb.StartContainerRequest(container_id=r.container_id))
    print(r.container_id)


def rm_pod_cgroup(parent):
    """runc creates the pod-level cgroup (cgroup_parent) but nobody removes it: kubelet's job.
    rmdir it in every hierarchy (only succeeds when empty)."""
    for root in glob.glob("/sys/fs/cgroup/*/") + ["/sys/fs/cgroup/"]:
        d = root.rstrip("/") + parent
        if os.path.isdir(d):
            try:
                os.rmdir(d)
            except OSError as e:
                print(f"podctl: rmdir {d}: {e}", file=sys.stderr)


def rm_pod(cri, pod_id, grace):
    scfg = sandbox_config(cri, pod_id)
    cs = cri.r("ListContainers", pb.ListContainersRequest(
        filter=pb.ContainerFilter(pod_sandbox_id=pod_id))).containers
    for c in cs:
        cri.r("StopContainer", pb.StopContainerRequest(container_id=c.id, timeout=grace))
        cri.r("RemoveContainer", pb.RemoveContainerRequest(container_id=c.id))
    cri.r("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    cri.r("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    if scfg.linux.cgroup_parent:
        rm_pod_cgroup(scfg.linux.cgroup_parent)
    try:
        os.unlink(f"{RUN}/podctl/{pod_id}.pb")
    except FileNotFoundError:
        pass
    print(f"removed pod {pod_id[:13]} {scfg.metadata.namespace}/{scfg.metadata.name} "
          f"({len(cs)} containers)")


# ------------------------------------------------------------------------- listings
def list_pods(cri):
    out = []
    for p in cri.r("ListPodSandbox", pb.ListPodSandboxRequest()).items:
        d = to_dict(p)
        d["state"] = pb.PodSandboxState.Name(p.state)
        d["ip"] = pod_ip(cri, p.id)
        out.append(d)
    return out


def list_containers(cri):
    out = []
    pods = {p.id: p for p in cri.r("ListPodSandbox", pb.ListPodSandboxRequest()).items}
    for c in cri.r("ListContainers", pb.ListContainersRequest()).containers:
        d = to_dict(c)
        d["state"] = pb.ContainerState.Name(c.state)
        p = pods.get(c.pod_sandbox_id)
        d["pod"] = f"{p.metadata.namespace}/{p.metadata.name}" if p else "?"
        out.append(d)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", default=os.environ.get("E2E_SOCK") or f"{RUN}/containerd.sock")
    ap.add_argument("--timeout", type=float, default=30.0, help="deadline of each CRI call, seconds")
    sp = ap.add_subparsers(dest="cmd", required=True)
    for n in ("version", "images"):
        sp.add_parser(n)
    for n in ("pods", "ps"):
        sp.add_parser(n).add_argument("--json", action="store_true")
    p = sp.add_parser("run-pod")
    p.add_argument("name"); p.add_argument("namespace")
    p.add_argument("--uid"); p.add_argument("--label", action="append")
    p.add_argument("--annotation", action="append")
    p.add_argument("--host-network", action="store_true"); p.add_argument("--privileged", action="store_true")
    p = sp.add_parser("run-container")
    p.add_argument("pod_id"); p.add_argument("name")
    p.add_argument("--image", default="localhost/busybox:local")
    p.add_argument("--label", action="append"); p.add_argument("--annotation", action="append")
    p.add_argument("--env", action="append"); p.add_argument("--mount", action="append")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--cap-add", action="append"); p.add_argument("--cap-drop", action="append")
    p.add_argument("--workdir"); p.add_argument("--args", action="store_true")
    p.add_argument("--no-start", action="store_true")
    for n in ("inspect", "inspect-pod", "pid", "cgroup", "state", "ip", "logs", "log-path", "rm",
              "image-status"):
        sp.add_parser(n).add_argument("id")
    for n in ("stop", "rm-pod"):
        p = sp.add_parser(n); p.add_argument("id"); p.add_argument("--grace", type=int, default=0)
    sp.add_parser("rm-all").add_argument("--grace", type=int, default=0)
    argv = sys.argv[1:]
    cmd_argv = []
    if "--" in argv:          # run-container ... -- ARGV: everything after "--" is the command
        i = argv.index("--")
        argv, cmd_argv = argv[:i], argv[i + 1:]
    a = ap.parse_args(argv)
    a.argv = cmd_argv

    load_stubs()
    cri = CRI(a.socket, a.timeout)
    try:
        dispatch(cri, a)
    except grpc.RpcError as e:
        sys.exit(f"podctl {a.cmd}: {e.code().name}: {e.details()}")


def dispatch(cri, a):
    c = a.cmd
    if c == "version":
        print(json.dumps(to_dict(cri.r("Version", pb.VersionRequest(version="v1"))), indent=1))
    elif c == "images":
        for i in cri.call(cri.img, "ListImages", pb.ListImagesRequest()).images:
            print(i.id, ",".join(i.repo_tags), i.size)
    elif c == "image-status":
        r = cri.call(cri.img, "ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=a.id)))
        if not r.image.id:
            sys.exit(1)
        print(r.image.id)
    elif c in ("pods", "ps"):
        rows = list_pods(cri) if c == "pods" else list_containers(cri)
        if a.json:
            print(json.dumps(rows, indent=1))
        elif c == "pods":
            for d in rows:
                m = d["metadata"]
                print(f"{d['id'][:13]} {d['state']:16} {m.get('namespace', ''):12} {m['name']:14} {d['ip']}")
        else:
            for d in rows:
                print(f"{d['id'][:13]} {d['state']:18} {d['metadata']['name']:12} {d['pod']:24} "
                      f"{d['image']['image']}")
    elif c == "run-pod":
        run_pod(cri, a)
    elif c == "run-container":
        run_container(cri, a)
    elif c == "inspect":
        r = cri.r("ContainerStatus", pb.ContainerStatusRequest(container_id=a.id, verbose=True))
        print(json.dumps(decode_info(to_dict(r)), indent=1))
    elif c == "inspect-pod":
        r = cri.r("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=a.id, verbose=True))
        print(json.dumps(decode_info(to_dict(r)), indent=1))
    elif c == "pid":
        print(verbose_info(cri, a.id)[1]["pid"])
    elif c == "cgroup":
        print(verbose_info(cri, a.id)[1]["runtimeSpec"]["linux"]["cgroupsPath"])
    elif c == "state":
        st = cri.r("ContainerStatus", pb.ContainerStatusRequest(container_id=a.id)).status
        print(pb.ContainerState.Name(st.state), st.exit_code)
    elif c == "ip":
        print(pod_ip(cri, a.id))
    elif c == "log-path":
        print(cri.r("ContainerStatus", pb.ContainerStatusRequest(container_id=a.id)).status.log_path)
    elif c == "logs":
        st = cri.r("ContainerStatus", pb.ContainerStatusRequest(container_id=a.id)).status
        # CRI log format: "<RFC3339Nano> <stream> <P|F> <text>"; print the text of full lines
        with open(st.log_path, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 3)
                if len(parts) == 4:
                    sys.stdout.write(parts[3] + ("\n" if parts[2] == "F" else ""))
    elif c == "stop":
        cri.r("StopContainer", pb.StopContainerRequest(container_id=a.id, timeout=a.grace))
    elif c == "rm":
        cri.r("RemoveContainer", pb.RemoveContainerRequest(container_id=a.id))
    elif c == "rm-pod":
        rm_pod(cri, a.id, a.grace)
    elif c == "rm-all":
        for p in cri.r("ListPodSandbox", pb.ListPodSandboxRequest()).items:
            rm_pod(cri, p.id, a.grace)


if __name__ == "__main__":
    main()
