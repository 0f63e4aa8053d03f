#!/usr/bin/python3
"""HTTP client with ground truth for the agent's L7 tests.

  httpcli.py [--host IP] [--new-only] PORT N PATH [PATH...]
      N requests per PATH on ONE keep-alive connection, then N more per PATH on a new connection
      each (--new-only: only the new-connection round, for HTTP/1.0 servers such as busybox httpd).
      Prints JSON: per-path status and count, and the client-measured median latency (us).
"""
import http.client
import json
import sys
import time

argv = sys.argv[1:]
host, new_only = "127.0.0.1", False
while argv and argv[0].startswith("--"):
    if argv[0] == "--host":
        host = argv[1]
        argv = argv[2:]
    elif argv[0] == "--new-only":
        new_only = True
        argv = argv[1:]
    else:
        sys.exit("unknown option " + argv[0])
port, n, paths = int(argv[0]), int(argv[1]), argv[2:]
lat, out = [], {}


def one(conn, path):
    t = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    lat.append((time.perf_counter() - t) * 1e6)
    key = "%s %d" % (path.split("?")[0], r.status)
    out[key] = out.get(key, 0) + 1


if not new_only:
    keep = http.client.HTTPConnection(host, port, timeout=20)
    for p in paths:
        for _ in range(n):
            one(keep, p)
    keep.close()
for p in paths:
    for _ in range(n):
        c = http.client.HTTPConnection(host, port, timeout=20)
        one(c, p)
        c.close()
lat.sort()
print(json.dumps({"requests": out, "total": len(lat), "p50_us": lat[len(lat) // 2]}))
