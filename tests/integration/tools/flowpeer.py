#!/usr/bin/python3
"""Connections with known 4-tuples for the agent's flow test; prints the ground truth as each end's
own socket names it (getsockname/getpeername), which the agent's flow records must repeat.

  flowpeer.py server BIND_ADDR V6ONLY PORTFILE CONNS REPLY_BYTES
      listen on BIND_ADDR:0 (an IPv6 address: AF_INET6 with IPV6_V6ONLY = V6ONLY), port written
      to PORTFILE; accept CONNS connections: read to EOF, send REPLY_BYTES, close.
      Prints {"port": P, "conns": [{"local": [addr, port], "remote": [addr, port]}, ...]}.
  flowpeer.py client SRC_ADDR DST_ADDR PORT CONNS BYTES
      CONNS connections from SRC_ADDR (bound explicitly, port 0: the kernel picks it) to
      DST_ADDR:PORT, sending BYTES each then reading the reply to EOF.
      Prints {"conns": [{"local": [addr, port], "remote": [addr, port]}, ...]}.
Addresses are printed as the socket gives them (an IPv4 peer of a dual-stack socket is
"::ffff:a.b.c.d"). Every socket operation has a timeout: the tool never hangs a test.
"""
import json
import os
import socket
import sys

TIMEOUT = 20


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def names(s):
    return {"local": list(s.getsockname()[:2]), "remote": list(s.getpeername()[:2])}


def server(bind, v6only, portfile, conns, reply):
    ls = socket.socket(family(bind), socket.SOCK_STREAM)
    if family(bind) == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    ls.bind((bind, 0))
    ls.listen(64)
    ls.settimeout(TIMEOUT)
    port = ls.getsockname()[1]
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(portfile + ".tmp", portfile)
    out = {"port": port, "conns": []}
    for _ in range(conns):
        c, _ = ls.accept()
        c.settimeout(TIMEOUT)
        out["conns"].append(names(c))
        while c.recv(65536):
            pass
        c.sendall(b"r" * reply)
        c.close()
    ls.close()
    print(json.dumps(out), flush=True)


def client(src, dst, port, conns, nbytes):
    out = {"conns": []}
    for _ in range(conns):
        s = socket.socket(family(dst), socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.bind((src, 0))
        s.connect((dst, port))
        out["conns"].append(names(s))
        s.sendall(b"x" * nbytes)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        s.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    a = sys.argv
    if len(a) == 7 and a[1] == "server":
        server(a[2], int(a[3]), a[4], int(a[5]), int(a[6]))
    elif len(a) == 7 and a[1] == "client":
        client(a[2], a[3], int(a[4]), int(a[5]), int(a[6]))
    else:
        sys.exit(__doc__)
