#!/usr/bin/python3
"""One loopback TCP connection held open until told to close, for tests of sockets that exist
before the agent starts.

  holdconn.py READYFILE GOFILE
      listen on 127.0.0.1:0, connect to it and accept: both ends live in this process's cgroup.
      Writes {"client": [addr, port], "server": [addr, port]} to READYFILE, waits (at most 120 s)
      for GOFILE to exist, exchanges one byte each way, closes both ends (client first) and the
      listener, and exits 0. Exits 1 if GOFILE never appears.
"""
import json
import os
import socket
import sys
import time

ready, go = sys.argv[1], sys.argv[2]
lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen(1)
cli = socket.create_connection(lst.getsockname(), timeout=10)
srv, _ = lst.accept()
srv.settimeout(10)
tmp = ready + ".tmp"
with open(tmp, "w") as f:
    json.dump({"client": list(cli.getsockname()), "server": list(srv.getsockname())}, f)
os.rename(tmp, ready)
deadline = time.monotonic() + 120
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.05)   # a wait on a file made by the test, bounded above
cli.sendall(b"x")
assert srv.recv(1) == b"x"
srv.sendall(b"y")
assert cli.recv(1) == b"y"
cli.close()
assert srv.recv(1) == b""   # the client's FIN
srv.close()
lst.close()
