#!/usr/bin/python3
"""DNS client with ground truth for the agent's DNS test (raw UDP, no library).

  dnscli.py [--tcp] [--wait SECONDS] [--qtype A|AAAA|SRV|TXT] SERVER_IP NAME [NAME...]
      one query per NAME to SERVER_IP:53, one at a time, each on a new UDP socket (new local port),
      waiting up to --wait seconds (default 2) for the answer. Prints JSON:
      {"rcodes": {"NOERROR": n, "NXDOMAIN": m, ...}, "timeouts": k, "median_us": ...,
       "ids": [...]} where median_us is over the answered queries.
"""
import json
import random
import socket
import struct
import sys
import time

QTYPES = {"A": 1, "AAAA": 28, "SRV": 33, "TXT": 16}
RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]


def query(name, qtype, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def main():
    argv = sys.argv[1:]
    tcp, wait, qtype = False, 2.0, "A"
    while argv and argv[0].startswith("--"):
        if argv[0] == "--tcp":
            tcp, argv = True, argv[1:]
        elif argv[0] == "--wait":
            wait, argv = float(argv[1]), argv[2:]
        elif argv[0] == "--qtype":
            qtype, argv = argv[1], argv[2:]
        else:
            sys.exit("unknown option " + argv[0])
    server, names = argv[0], argv[1:]
    rcodes, timeouts, lat, ids = {}, 0, [], []
    for name in names:
        qid = random.randrange(1, 65536)
        ids.append(qid)
        msg = query(name, QTYPES[qtype], qid)
        t = time.perf_counter()
        try:
            if tcp:
                s = socket.create_connection((server, 53), timeout=wait)
                s.sendall(struct.pack(">H", len(msg)) + msg)
                hdr = b""
                while len(hdr) < 2:
                    chunk = s.recv(2 - len(hdr))
                    if not chunk:
                        raise socket.timeout()
                    hdr += chunk
                (n,) = struct.unpack(">H", hdr)
                r = b""
                while len(r) < n:
                    chunk = s.recv(n - len(r))
                    if not chunk:
                        raise socket.timeout()
                    r += chunk
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(wait)
                s.sendto(msg, (server, 53))
                while True:
                    r, _ = s.recvfrom(4096)
                    if len(r) >= 12 and struct.unpack(">H", r[:2])[0] == qid:
                        break
            lat.append((time.perf_counter() - t) * 1e6)
            rc = r[3] & 0xF
            key = RCODES[rc] if rc < len(RCODES) else "RCODE%d" % rc
            rcodes[key] = rcodes.get(key, 0) + 1
        except (socket.timeout, TimeoutError):
            timeouts += 1
        finally:
            s.close()
    lat.sort()
    print(json.dumps({"rcodes": rcodes, "timeouts": timeouts, "ids": ids,
                      "median_us": lat[len(lat) // 2] if lat else 0}))


main()
