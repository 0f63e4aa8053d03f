#!/usr/bin/python3
"""Write an OCI image-layout tarball that `ctr images import` accepts, with no registry.

The image has one uncompressed layer made of:
  --busybox            /bin/busybox (the host's busybox-static) + a symlink per applet, /etc/passwd,
                       /etc/group and the usual empty directories (/tmp, /proc, /sys, /dev, /var/www)
  --add SRC:DEST       a file or a directory tree (recursively) from the host, stored at DEST
  --bin PATH[:DEST]    an executable plus every shared library it needs (from ldd) and the ELF
                       interpreter, each stored at its host path; the executable at DEST (default PATH)
Config: --entrypoint JSON, --cmd JSON, --env K=V (repeatable), --workdir DIR.

Everything is deterministic (fixed mtime, uid/gid 0, sorted entries): the same inputs give the same
digests. The index annotation io.containerd.image.name carries NAME, which ctr uses verbatim.

usage: mkimage.py OUT.tar NAME [--busybox] [--add SRC:DEST]... [--bin PATH[:DEST]]... [config]
  mkimage.py pause.tar localhost/pause:local --busybox --entrypoint '["/bin/sleep","infinity"]'
  mkimage.py agent.tar localhost/podlens-agent:dev --busybox --bin build/bin/podlens-agent:/podlens-agent
"""
import argparse
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import tarfile

MTIME = 1700000000
BUSYBOX = "/bin/busybox"


class Layer:
    """Collects entries by path (later entries replace earlier ones), writes them sorted."""

    def __init__(self):
        self.entries = {}   # path -> (TarInfo, bytes|None)

    def _ti(self, path, kind, mode, linkname=""):
        ti = tarfile.TarInfo(path)
        ti.type, ti.mode, ti.mtime = kind, mode, MTIME
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.linkname = linkname
        return ti

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.entries:
                self.entries[d] = (self._ti(d, tarfile.DIRTYPE, 0o755), None)

    def dir(self, path, mode=0o755):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = (self._ti(path, tarfile.DIRTYPE, mode), None)

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        self._parents(path)
        ti = self._ti(path, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.entries[path] = (ti, data)

    def symlink(self, path, target):
        path = path.strip("/")
        self._parents(path)
        self.entries[path] = (self._ti(path, tarfile.SYMTYPE, 0o777, target), None)

    def host_file(self, src, dest):
        st = os.stat(src)          # follows symlinks: store the content at dest
        with open(src, "rb") as f:
            self.file(dest, f.read(), stat.S_IMODE(st.st_mode))

    def host_tree(self, src, dest):
        if not os.path.isdir(src):
            self.host_file(src, dest)
            return
        self.dir(dest)
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel = os.path.relpath(root, src)
            base = dest if rel == "." else os.path.join(dest, rel)
            for d in dirs:
                p = os.path.join(root, d)
                if os.path.islink(p):
                    self.symlink(os.path.join(base, d), os.readlink(p))
                else:
                    self.dir(os.path.join(base, d), stat.S_IMODE(os.stat(p).st_mode))
            for fn in sorted(files):
                p = os.path.join(root, fn)
                if os.path.islink(p):
                    self.symlink(os.path.join(base, fn), os.readlink(p))
                else:
                    self.host_file(p, os.path.join(base, fn))

    def tar(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for path in sorted(self.entries):
                ti, data = self.entries[path]
                t.addfile(ti, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def add_busybox(layer):
    for d, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555), ("root", 0o700),
                    ("sys", 0o555), ("tmp", 0o1777), ("var", 0o755), ("var/www", 0o755)]:
        layer.dir(d, mode)
    layer.host_file(BUSYBOX, "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in sorted(set(applets) - {"busybox"}):
        layer.symlink("bin/" + a, "busybox")
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                             b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")


def shared_libs(path):
    """Absolute paths of the libraries ldd resolves for path, and the ELF interpreter."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    if r.returncode != 0 and "not a dynamic executable" in (r.stdout + r.stderr):
        return []
    if r.returncode != 0:
        sys.exit(f"mkimage: ldd {path} failed: {r.stderr.strip()}")
    libs = []
    for line in r.stdout.splitlines():
        if "not found" in line:
            sys.exit(f"mkimage: {path}: {line.strip()}")
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("name", help="full image reference, e.g. localhost/busybox:local")
    ap.add_argument("--busybox", action="store_true")
    ap.add_argument("--add", action="append", default=[], metavar="SRC:DEST")
    ap.add_argument("--bin", action="append", default=[], metavar="PATH[:DEST]")
    ap.add_argument("--entrypoint", type=json.loads, default=None)
    ap.add_argument("--cmd", type=json.loads, default=None)
    ap.add_argument("--env", action="append", default=[], metavar="K=V")
    ap.add_argument("--workdir", default="/")
    a = ap.parse_args()

    layer = Layer()
    if a.busybox:
        add_busybox(layer)
    for spec in a.add:
        src, _, dest = spec.partition(":")
        if not dest or not os.path.exists(src):
            sys.exit(f"mkimage: --add {spec}: want an existing SRC and a DEST")
        layer.host_tree(src, dest)
    for spec in a.bin:
        src, _, dest = spec.partition(":")
        if not os.access(src, os.X_OK):
            sys.exit(f"mkimage: --bin {src}: not an executable")
        layer.host_file(src, dest or os.path.abspath(src))
        for lib in shared_libs(src):
            layer.host_file(lib, lib)

    blob = layer.tar()
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env
    cfg = {"Env": env, "WorkingDir": a.workdir}
    if a.entrypoint is not None:
        cfg["Entrypoint"] = a.entrypoint
    if a.cmd is not None:
        cfg["Cmd"] = a.cmd
    elif a.busybox and a.entrypoint is None:
        cfg["Cmd"] = ["/bin/sh"]
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [sha(blob)]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "podlens e2e/lab/mkimage.py"}],
    }
    config_b = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config_b), "size": len(config_b)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(blob), "size": len(blob)}],
    }
    manifest_b = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    last = a.name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha(manifest_b), "size": len(manifest_b),
            "platform": {"architecture": config["architecture"], "os": "linux"},
            "annotations": {"io.containerd.image.name": a.name, "org.opencontainers.image.ref.name": tag},
        }],
    }
    out = Layer()
    out.dir("blobs")
    out.dir("blobs/sha256")
    for b in (blob, config_b, manifest_b):
        out.file("blobs/sha256/" + sha(b)[7:], b)
    out.file("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    out.file("index.json", json.dumps(index, sort_keys=True).encode())
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out.tar())
    os.replace(tmp, a.out)
    print(f"{a.out}: {a.name} manifest={sha(manifest_b)} layer={len(blob)} bytes, {len(layer.entries)} entries")


if __name__ == "__main__":
    main()
