#!/usr/bin/python3
"""Client with ground truth for the service-map scenario.

  mapcli.py new HOST PORT N PATH    N HTTP/1.0 GETs, one new connection each, every byte read until
                                    the server closes counted
  mapcli.py keep HOST PORT M PATH   M HTTP/1.1 GETs on ONE keep-alive connection
Prints JSON: requests (answered 200), connections, bytes_sent, bytes_received (whole responses,
headers included: what crosses the connection besides TCP's own SYN/FIN), and in keep mode
answered (responses of any status) and statuses ({"200": n, "500": n, ...}).
"""
import http.client
import json
import socket
import sys

mode, host, port, n, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
out = {"requests": 0, "connections": 0, "bytes_sent": 0, "bytes_received": 0}
if mode == "new":
    req = ("GET %s HTTP/1.0\r\n\r\n" % path).encode()
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=20)
        out["connections"] += 1
        s.sendall(req)
        out["bytes_sent"] += len(req)
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        s.close()
        out["bytes_received"] += len(got)
        if got.startswith(b"HTTP/1.") and got.split(b" ", 2)[1] == b"200":
            out["requests"] += 1
elif mode == "keep":
    c = http.client.HTTPConnection(host, port, timeout=20)
    out["connections"] = 1
    out["answered"] = 0
    out["statuses"] = {}
    for _ in range(n):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        out["answered"] += 1
        out["statuses"][str(r.status)] = out["statuses"].get(str(r.status), 0) + 1
        if r.status == 200:
            out["requests"] += 1
    c.close()
else:
    sys.exit("mode: new or keep")
print(json.dumps(out))
