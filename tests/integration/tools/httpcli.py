#!/usr/bin/python3
"""HTTP client with ground truth for the agent's L7 tests.

  httpcli.py PORT N PATH [PATH...]   N requests per PATH on ONE keep-alive connection, then N more
                                     per PATH on a new connection each. Prints JSON: per-path
                                     status and count, and the client-measured median latency (us).
"""
import http.client
import json
import sys
import time

port, n, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
lat, out = [], {}


def one(conn, path):
    t = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    lat.append((time.perf_counter() - t) * 1e6)
    key = "%s %d" % (path, r.status)
    out[key] = out.get(key, 0) + 1


keep = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
for p in paths:
    for _ in range(n):
        one(keep, p)
keep.close()
for p in paths:
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        one(c, p)
        c.close()
lat.sort()
print(json.dumps({"requests": out, "total": len(lat), "p50_us": lat[len(lat) // 2]}))
