#!/usr/bin/python3
"""k8s_api.py - HTTPS stand-in for the kubelet (/pods) and the Kubernetes API (Namespaces only),
serving replies shaped as the Kubernetes API reference documents them:

  GET /pods                                  PodList (kubelet), body from --pods FILE (re-read)
  GET /api/v1/namespaces                     NamespaceList with metadata.resourceVersion
  GET /api/v1/namespaces?watch=1&resourceVersion=RV[&timeoutSeconds=N]
      chunked stream, one JSON event per line: {"type":"ADDED|MODIFIED|DELETED","object":<Namespace>};
      RV older than the compaction point -> {"type":"ERROR","object":<Status code 410 Expired>}
Every request needs "Authorization: Bearer <token>" (token read from --token-file each time),
else 401 with a Status object.

Control: the test drops JSON commands as files into --control DIR (write, then rename to *.json);
they are applied in name order:
  {"op":"set","name":NS,"annotations":{...}}   add or modify a namespace (event ADDED/MODIFIED)
  {"op":"delete","name":NS}                      event DELETED
  {"op":"compact"}                               old resourceVersions expire; open watches get
                                                 ERROR 410 and are closed
  {"op":"disconnect"}                            open watches are closed without a word
  {"op":"fail","path":"/pods","count":N,"code":500}   next N requests on that path fail
Every request is logged to --log as "METHOD PATH?QUERY CODE" (the test's ground truth).
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Condition()
STATE = {"ns": {}, "rv": 1000, "events": [], "compacted": 0, "epoch": 0, "fail": {}}
ARGS = None


def ns_object(name, ann, rv):
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": "ns-uid-" + name, "resourceVersion": str(rv),
                         "creationTimestamp": "2026-11-25T09:00:00Z",
                         "labels": {"kubernetes.io/metadata.name": name}, "annotations": ann},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def apply(cmd):
    op = cmd["op"]
    with LOCK:
        if op in ("set", "delete"):
            STATE["rv"] += 1
            rv = STATE["rv"]
            name = cmd["name"]
            if op == "set":
                typ = "MODIFIED" if name in STATE["ns"] else "ADDED"
                STATE["ns"][name] = cmd.get("annotations", {})
                obj = ns_object(name, STATE["ns"][name], rv)
            else:
                typ = "DELETED"
                obj = ns_object(name, STATE["ns"].pop(name, {}), rv)
            STATE["events"].append((rv, {"type": typ, "object": obj}))
        elif op == "compact":
            # every resourceVersion handed out so far expires
            STATE["rv"] += 1
            STATE["compacted"] = STATE["rv"]
            STATE["epoch"] += 1
        elif op == "disconnect":
            STATE["epoch"] += 1
        elif op == "fail":
            STATE["fail"][cmd["path"]] = (cmd.get("count", 1), cmd.get("code", 500))
        LOCK.notify_all()


def control_loop():
    seen = set()
    while True:
        for f in sorted(os.listdir(ARGS.control)):
            if f.endswith(".json") and f not in seen:
                seen.add(f)
                with open(os.path.join(ARGS.control, f)) as fh:
                    apply(json.load(fh))
        time.sleep(0.02)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def log_req(self, code):
        with open(ARGS.log, "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, code))

    def send_json(self, code, obj):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.log_req(code)

    def chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        with open(ARGS.token_file) as f:
            token = f.read().strip()
        if self.headers.get("Authorization") != "Bearer " + token:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        u = urlparse(self.path)
        q = parse_qs(u.query)
        with LOCK:
            n, code = STATE["fail"].get(u.path, (0, 0))
            if n > 0:
                STATE["fail"][u.path] = (n - 1, code)
        if n > 0:
            return self.send_json(code, status(code, "InternalError", "injected failure"))
        if u.path == "/pods":
            with open(ARGS.pods) as f:
                return self.send_json(200, json.load(f))
        if u.path != "/api/v1/namespaces":
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        if q.get("watch", ["0"])[0] not in ("1", "true"):
            with LOCK:
                items = [ns_object(n, a, STATE["rv"]) for n, a in sorted(STATE["ns"].items())]
                doc = {"kind": "NamespaceList", "apiVersion": "v1",
                       "metadata": {"resourceVersion": str(STATE["rv"])}, "items": items}
            return self.send_json(200, doc)
        return self.watch(int(q.get("resourceVersion", ["0"])[0] or 0),
                          int(q.get("timeoutSeconds", ["300"])[0]))

    def watch(self, rv, timeout):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.log_req(200)
        end = time.monotonic() + timeout
        with LOCK:
            epoch = STATE["epoch"]
        try:
            with LOCK:
                if rv < STATE["compacted"]:
                    self.chunk({"type": "ERROR", "object": status(
                        410, "Expired", "too old resource version: %d (%d)" % (rv, STATE["compacted"]))})
                    return self.finish_chunks()
            while time.monotonic() < end:
                with LOCK:
                    if STATE["epoch"] != epoch:
                        if rv < STATE["compacted"]:
                            self.chunk({"type": "ERROR", "object": status(
                                410, "Expired", "too old resource version: %d (%d)" % (rv, STATE["compacted"]))})
                            return self.finish_chunks()
                        self.close_connection = True
                        return     # disconnect: no terminating chunk
                    new = [e for r, e in STATE["events"] if r > rv]
                    if not new:
                        LOCK.wait(0.2)
                        continue
                    rv = STATE["rv"]
                for e in new:
                    self.chunk(e)
            self.finish_chunks()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def finish_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--pods", required=True)
    ap.add_argument("--namespaces", required=True, help="initial NamespaceList JSON")
    ap.add_argument("--control", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--plain", action="store_true", help="plain http (a kubelet read-only port)")
    ARGS = ap.parse_args()
    with open(ARGS.namespaces) as f:
        for item in json.load(f)["items"]:
            STATE["ns"][item["metadata"]["name"]] = item["metadata"].get("annotations", {})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    if not ARGS.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=control_loop, daemon=True).start()
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
