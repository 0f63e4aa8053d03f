#!/usr/bin/python3
"""cri_standin.py - a CRI v1 runtime stand-in (Debian python3-grpcio) on a unix socket that
answers /runtime.v1.RuntimeService/{Version,ListPodSandbox,ListContainers,PodSandboxStatus,
ContainerStatus} with replies captured from containerd (tests/fixtures/cri/*.pb), so the C
client and cache can be tested, killed and restarted without a runtime.

  cri_standin.py --unix PATH --fixtures DIR [--hide ID_PREFIX] --pidfile F
--hide drops that container from ListContainers (and its status answers NOT_FOUND): restart the
stand-in without it to make a container "appear". Requests are counted per method in F.calls
(one "Method count" line each, rewritten after every call).
"""
import argparse
import glob
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

CALLS = {}
LOCK = threading.Lock()


def varint(buf, i):
    shift = val = 0
    while True:
        b = buf[i]
        val |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return val, i
        shift += 7


def top_fields(buf):
    """(field number, raw field bytes, payload) of every top-level length-delimited field;
    varint and fixed-width fields are skipped"""
    i, out = 0, []
    while i < len(buf):
        start = i
        key, i = varint(buf, i)
        wt = key & 7
        if wt == 0:
            _, i = varint(buf, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = varint(buf, i)
            i += n
            out.append((key >> 3, buf[start:i], buf[i - n:i]))
        else:
            raise ValueError("unexpected wire type %d" % wt)
    return out


def first_string(payload):
    """field 1 (string) of a message"""
    for num, _, body in top_fields(payload):
        if num == 1:
            return body.decode()
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unix", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--hide", default="")
    ap.add_argument("--pidfile", required=True)
    a = ap.parse_args()

    def rd(name):
        with open(os.path.join(a.fixtures, name), "rb") as f:
            return f.read()

    by_id = {}
    for path in glob.glob(os.path.join(a.fixtures, "*Status.*.pb")):
        data = open(path, "rb").read()
        status = top_fields(data)[0][2]           # field 1: status
        by_id[first_string(status)] = data
    lc = b"".join(raw for _, raw, body in top_fields(rd("ListContainers.pb"))
                  if not (a.hide and first_string(body).startswith(a.hide)))

    def count(name):
        with LOCK:
            CALLS[name] = CALLS.get(name, 0) + 1
            with open(a.pidfile + ".calls.tmp", "w") as f:
                for k, v in sorted(CALLS.items()):
                    f.write("%s %d\n" % (k, v))
            os.rename(a.pidfile + ".calls.tmp", a.pidfile + ".calls")

    def status_of(name):
        def h(req, ctx):
            count(name)
            rid = first_string(req)
            if a.hide and rid.startswith(a.hide) or rid not in by_id:
                ctx.abort(grpc.StatusCode.NOT_FOUND, 'an error occurred when try to find "%s": not found' % rid)
            return by_id[rid]
        return h

    def fixed(name, data):
        def h(req, ctx):
            count(name)
            return data
        return h

    ident = lambda b: b  # noqa: E731
    handlers = {
        "Version": fixed("Version", rd("Version.pb")),
        "ListPodSandbox": fixed("ListPodSandbox", rd("ListPodSandbox.pb")),
        "ListContainers": fixed("ListContainers", lc),
        "PodSandboxStatus": status_of("PodSandboxStatus"),
        "ContainerStatus": status_of("ContainerStatus"),
    }
    h = {k: grpc.unary_unary_rpc_method_handler(v, request_deserializer=ident, response_serializer=ident)
         for k, v in handlers.items()}
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("runtime.v1.RuntimeService", h),))
    srv.add_insecure_port("unix://" + a.unix)
    srv.start()
    with open(a.pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(a.pidfile + ".tmp", a.pidfile)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    srv.stop(0)
    sys.exit(0)


if __name__ == "__main__":
    main()
