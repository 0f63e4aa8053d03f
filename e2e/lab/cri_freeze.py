#!/usr/bin/python3
"""cri_freeze.py - a unix-socket byte relay in front of the lab's CRI socket that can hang on demand:
a container runtime that accepts and never answers, while the real one keeps running pods.

  cri_freeze.py --unix PATH --upstream SOCK --pidfile F
  kill -USR1 <pid>   freeze: bytes are read from both sides and held (new connections too)
  kill -USR2 <pid>   thaw: what was held is delivered, and bytes flow again

Loopback only (unix sockets); every connection is relayed by two threads that end when either side
closes. SIGTERM exits (the socket file is removed).
"""
import argparse
import os
import signal
import socket
import sys
import threading

THAWED = threading.Event()
THAWED.set()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            THAWED.wait()
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(conn, upstream):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(upstream)
    except OSError:
        conn.close()
        return
    threading.Thread(target=pump, args=(conn, up), daemon=True).start()
    threading.Thread(target=pump, args=(up, conn), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unix", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--pidfile", required=True)
    a = ap.parse_args()

    signal.signal(signal.SIGUSR1, lambda *_: THAWED.clear())
    signal.signal(signal.SIGUSR2, lambda *_: THAWED.set())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        os.unlink(a.unix)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(a.unix)
    ls.listen(128)
    with open(a.pidfile, "w") as f:
        f.write(str(os.getpid()))
    try:
        while True:
            conn, _ = ls.accept()
            serve(conn, a.upstream)
    finally:
        os.unlink(a.unix)


if __name__ == "__main__":
    main()
