#!/usr/bin/python3
"""Plain HTTP/2 (h2c, prior knowledge) server and client on python3-h2, for agent_grpc.sh.

  h2peer.py server PORT DELAY_MS READY_FILE
      127.0.0.1:PORT, one connection at a time: GET /items/N -> 200, /missing -> 404,
      /slow -> 200 after DELAY_MS (other streams are served meanwhile)
  h2peer.py client PORT ITEMS MISSING SLOW OUT_JSON
      one connection: ITEMS GETs of /items/<i>?q=<i>, MISSING of /missing, SLOW of /slow, one after
      the other; OUT_JSON {"200": n, "404": n, "slow_ms": [...]}
"""
import json
import os
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def server(port, delay_ms, ready):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    with open(ready + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(ready + ".tmp", ready)
    while True:
        c, _ = ls.accept()
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        c.sendall(conn.data_to_send())
        due = []          # (time, stream id)
        paths = {}
        while True:
            timeout = max(0.0, min(t for t, _ in due) - time.monotonic()) if due else None
            r, _, _ = select.select([c], [], [], timeout)
            if r:
                data = c.recv(65536)
                if not data:
                    break
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        paths[ev.stream_id] = dict(ev.headers)[b":path"]
                    elif isinstance(ev, h2.events.StreamEnded):
                        p = paths.pop(ev.stream_id, b"")
                        if p.startswith(b"/slow"):
                            due.append((time.monotonic() + delay_ms / 1000.0, ev.stream_id))
                            continue
                        st = b"404" if p == b"/missing" else b"200"
                        conn.send_headers(ev.stream_id, [(b":status", st), (b"content-type", b"text/plain")])
                        conn.send_data(ev.stream_id, b"hello", end_stream=True)
            now = time.monotonic()
            for t, sid in [d for d in due if d[0] <= now]:
                due.remove((t, sid))
                conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/plain")])
                conn.send_data(sid, b"slept", end_stream=True)
            out = conn.data_to_send()
            if out:
                c.sendall(out)
        c.close()


def client(port, items, missing, slow, out):
    s = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    counts = {}
    slow_ms = []
    todo = ["/items/%d?q=%d" % (i, i) for i in range(items)] + ["/missing"] * missing + ["/slow"] * slow
    for path in todo:
        sid = conn.get_next_available_stream_id()
        t = time.monotonic()
        conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                (":authority", "localhost")], end_stream=True)
        s.sendall(conn.data_to_send())
        status, done = None, False
        while not done:
            data = s.recv(65536)
            if not data:
                sys.exit("connection closed")
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = dict(ev.headers)[b":status"].decode()
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    done = True
            s.sendall(conn.data_to_send())
        counts[status] = counts.get(status, 0) + 1
        if path == "/slow":
            slow_ms.append((time.monotonic() - t) * 1000)
    conn.close_connection()
    s.sendall(conn.data_to_send())
    s.close()
    counts["slow_ms"] = slow_ms
    with open(out + ".tmp", "w") as f:
        json.dump(counts, f)
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
