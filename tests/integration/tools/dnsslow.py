#!/usr/bin/python3
"""A tiny UDP DNS server for the agent's DNS test: what dnsmasq cannot do.

  dnsslow.py IP[:PORT] DELAY_MS READY_FILE
      listens on IP:PORT (UDP; default port 53). A query for a name starting with "slow" is answered NOERROR with one
      A record 10.9.9.9 after DELAY_MS; a name starting with "never" is never answered; anything
      else gets SERVFAIL at once. Writes READY_FILE when listening. Runs until killed.
"""
import heapq
import select
import socket
import struct
import sys
import time

ip, delay, ready = sys.argv[1], int(sys.argv[2]) / 1000.0, sys.argv[3]
port = 53
if ":" in ip:
    ip, port = ip.split(":")[0], int(ip.split(":")[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, port))
open(ready, "w").write("ok\n")
pending = []   # (due, seq, reply, addr)
seq = 0


def qname(msg):
    i, labels = 12, []
    while i < len(msg) and msg[i] != 0 and len(labels) < 64:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels), i + 5   # end of the question (name, 0, type, class)


while True:
    timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
    r, _, _ = select.select([s], [], [], timeout)
    now = time.monotonic()
    while pending and pending[0][0] <= now:
        _, _, reply, addr = heapq.heappop(pending)
        s.sendto(reply, addr)
    if not r:
        continue
    msg, addr = s.recvfrom(4096)
    if len(msg) < 12:
        continue
    name, qend = qname(msg)
    if name.startswith("never"):
        continue
    question = msg[12:qend]
    if name.startswith("slow"):
        hdr = msg[:2] + struct.pack(">HHHHH", 0x8580, 1, 1, 0, 0)
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([10, 9, 9, 9])
        seq += 1
        heapq.heappush(pending, (now + delay, seq, hdr + question + ans, addr))
    else:
        s.sendto(msg[:2] + struct.pack(">HHHHH", 0x8182, 1, 0, 0, 0) + question, addr)
