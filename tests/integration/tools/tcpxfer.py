#!/usr/bin/python3
"""Known TCP traffic on loopback for the agent's integration tests; the ground truth it prints is
what the agent must report.

  tcpxfer.py server PORTFILE CONNS RST_CONNS REPLY_BYTES
      listen on 127.0.0.1:0 (port written to PORTFILE), then:
      - CONNS connections: read until EOF (counting bytes), send REPLY_BYTES, close;
      - RST_CONNS connections: read 1 byte, close with SO_LINGER {1, 0} (an RST is sent).
      Prints {"rx_payload": ..., "tx_payload": ..., "accepted": ..., "resets_sent": ...}.
  tcpxfer.py client PORT CONNS RST_CONNS BYTES_PER_CONN
      CONNS connections sending BYTES_PER_CONN each, then reading the reply to EOF;
      RST_CONNS connections sending 1 byte and waiting for the reset.
      Prints {"tx_payload": ..., "rx_payload": ..., "connects": ..., "resets_received": ...}.
Every socket operation has a timeout: the tool never hangs a test.
"""
import json
import socket
import struct
import sys

TIMEOUT = 20


def server(portfile, conns, rst_conns, reply):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    ls.settimeout(TIMEOUT)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    out = {"rx_payload": 0, "tx_payload": 0, "accepted": 0, "resets_sent": 0}
    blob = b"r" * 65536
    for _ in range(conns):
        c, _ = ls.accept()
        c.settimeout(TIMEOUT)
        out["accepted"] += 1
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            out["rx_payload"] += len(b)
        left = reply
        while left:
            n = c.send(blob[:min(left, len(blob))])
            left -= n
            out["tx_payload"] += n
        c.close()
    for _ in range(rst_conns):
        c, _ = ls.accept()
        c.settimeout(TIMEOUT)
        out["accepted"] += 1
        out["rx_payload"] += len(c.recv(1))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        out["resets_sent"] += 1
    ls.close()
    print(json.dumps(out), flush=True)


def client(port, conns, rst_conns, nbytes):
    out = {"tx_payload": 0, "rx_payload": 0, "connects": 0, "resets_received": 0}
    blob = b"x" * 65536
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        out["connects"] += 1
        left = nbytes
        while left:
            n = s.send(blob[:min(left, len(blob))])
            left -= n
            out["tx_payload"] += n
        s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            out["rx_payload"] += len(b)
        s.close()
    for _ in range(rst_conns):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        out["connects"] += 1
        s.sendall(b"!")
        out["tx_payload"] += 1
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            out["resets_received"] += 1
        s.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        server(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "client":
        client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit("usage: tcpxfer.py server|client ...")
