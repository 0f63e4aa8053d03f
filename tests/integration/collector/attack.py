#!/usr/bin/python3
"""Hostile clients for podlens-collector admission tests (issue 18). Raw sockets and python3-h2;
every loop is bounded in count and time; loopback only (source addresses in 127.0.0.0/8).

  attack.py pin TARGET [--conns 4 --streams 64 --bytes 4194304] [--token T] [--src IP]
                        [--ready FILE --release FILE --hold S]
      open --conns HTTP/2 connections, on each send --streams request HEADERS at once (before
      the server's SETTINGS, as a hostile client would, ignoring its stream limit) then DATA up to
      --bytes per stream without ever ending them. Prints what the server did with the streams, writes
      --ready, holds the connections until --release exists (at most --hold seconds), then closes.
  attack.py idle TARGET --conns N [--src IP] [--ready FILE --release FILE --hold S]
      open N TCP connections and send nothing; prints how many the server had closed at release.
  attack.py slowloris HOST:PORT [--every S --max S] [--src IP]
      an HTTP/1.1 request head one byte per --every seconds, never finished; prints when and how
      the server ended it.
  attack.py grpc-big-header TARGET [--size N] [--token T]   one call with an N-byte header
  attack.py grpc-big-msg TARGET [--declared N] [--token T]  a message prefix declaring N bytes, then
      only 64 KiB of it, stream left open: prints the status answered before the body was sent.
  attack.py http-big-head HOST:PORT [--size N]              a request head of N bytes
  attack.py healthz HOST:PORT --count N                     N probes, each on a fresh connection
"""
import argparse
import json
import os
import resource
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

METHOD = "/podlens.v1.Collector/Export"


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def split(target):
    host, port = target.rsplit(":", 1)
    return host, int(port)


def connect(target, src=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(split(target))
    return s


def wait_release(args, peers=None):
    """Hold until --release exists, at most --hold s; with peers, also until the server closed
    them all."""
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    end = time.monotonic() + args.hold
    while time.monotonic() < end and not (args.release and os.path.exists(args.release)):
        if peers is not None:
            live = [p for p in peers if not p.closed]
            if not live:
                return
            r, _, _ = select.select([p.sock for p in live], [], [], 0.1)
            for p in live:
                if p.sock in r:
                    p.pump()
        else:
            time.sleep(0.1)


def grpc_headers(args, authority, extra=()):
    h = [(":method", "POST"), (":scheme", "http"), (":path", METHOD), (":authority", authority),
         ("content-type", "application/grpc"), ("te", "trailers")]
    if getattr(args, "token", None):
        h.append(("authorization", "Bearer " + args.token))
    return h + list(extra)


class H2Peer:
    """One HTTP/2 client connection over a raw socket, recording what the server did per stream."""

    def __init__(self, target, src=None):
        self.sock = connect(target, src)
        self.sock.setblocking(False)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                         header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.status = {}      # stream id -> grpc-status / ":status NNN" / "reset:CODE"
        self.closed = False
        self.out = b""

    def flush(self):
        self.out += self.conn.data_to_send()
        while self.out and not self.closed:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            except OSError:
                self.closed = True
                return
            self.out = self.out[n:]

    def pump(self):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.closed = True
            return
        for ev in events:
            if isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                hd = dict(ev.headers)
                if "grpc-status" in hd:
                    self.status[ev.stream_id] = "grpc-status " + hd["grpc-status"]
                elif ev.stream_id not in self.status:
                    self.status[ev.stream_id] = ":status " + hd.get(":status", "?")
            elif isinstance(ev, h2.events.StreamReset):
                self.status.setdefault(ev.stream_id, "reset:%d" % ev.error_code)
            elif isinstance(ev, h2.events.DataReceived):
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.closed = True


def cmd_pin(args):
    raise_fd_limit()
    peers = []
    for _ in range(args.conns):
        p = H2Peer(args.target, args.src)
        sids = []
        for _ in range(args.streams):
            sid = p.conn.get_next_available_stream_id()
            try:
                p.conn.send_headers(sid, grpc_headers(args, args.target))
            except h2.exceptions.TooManyStreamsError:
                break
            sids.append(sid)
        p.sent = {sid: 0 for sid in sids}
        p.flush()
        peers.append(p)
    # The message prefix of each stream declares --bytes - 5 bytes; the body never ends.
    chunk = b"\0" * 16384
    end = time.monotonic() + args.send_for
    while time.monotonic() < end:
        progress = False
        for p in peers:
            if p.closed:
                continue
            p.pump()
            for sid, n in p.sent.items():
                # a hostile client keeps sending after an answer, until the stream is reset
                if n >= args.bytes or p.closed or p.status.get(sid, "").startswith(("reset", "closed")):
                    continue
                try:
                    win = min(p.conn.local_flow_control_window(sid), p.conn.max_outbound_frame_size)
                except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError, KeyError):
                    p.status.setdefault(sid, "closed")
                    continue
                if win <= 0:
                    continue
                if n == 0:
                    data = b"\0" + (args.bytes - 5).to_bytes(4, "big")
                    data += chunk[:max(0, min(win, args.bytes) - 5)]
                else:
                    data = chunk[:min(win, args.bytes - n)]
                try:
                    p.conn.send_data(sid, data)
                except (h2.exceptions.StreamClosedError, h2.exceptions.FlowControlError,
                        h2.exceptions.ProtocolError):
                    p.status.setdefault(sid, "closed")
                    continue
                p.sent[sid] = n + len(data)
                progress = True
            p.flush()
        open_streams = sum(1 for p in peers if not p.closed for sid, n in p.sent.items()
                           if n < args.bytes and not p.status.get(sid, "").startswith(("reset", "closed")))
        if not open_streams:
            break
        if not progress:
            socks = [p.sock for p in peers if not p.closed]
            if not socks:
                break
            select.select(socks, [], [], 0.2)
    for p in peers:                      # collect the last answers
        for _ in range(20):
            if p.closed:
                break
            r, _, _ = select.select([p.sock], [], [], 0.05)
            if not r:
                break
            p.pump()
    summary = {"conns": len(peers), "streams_opened": sum(len(p.sent) for p in peers),
               "bytes_sent": sum(sum(p.sent.values()) for p in peers),
               "conns_closed_by_server": sum(1 for p in peers if p.closed), "answers": {}}
    for p in peers:
        for st in p.status.values():
            summary["answers"][st] = summary["answers"].get(st, 0) + 1
    print(json.dumps(summary, sort_keys=True))
    sys.stdout.flush()
    wait_release(args, peers if args.until_closed else None)
    for p in peers:
        if not p.closed:
            p.pump()
    print(json.dumps({"conns_closed_by_server_at_release": sum(1 for p in peers if p.closed)}))
    for p in peers:
        p.sock.close()


def cmd_idle(args):
    limit = raise_fd_limit()
    socks = []
    refused = 0
    for _ in range(min(args.conns, limit - 32)):
        try:
            socks.append(connect(args.target, args.src, timeout=2.0))
        except OSError:
            refused += 1
    print(json.dumps({"connected": len(socks), "connect_failed": refused, "fd_limit": limit}))
    sys.stdout.flush()
    wait_release(args)
    closed = 0
    for s in socks:
        s.setblocking(False)
        for _ in range(16):              # the gRPC server's SETTINGS may come first
            try:
                d = s.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                d = b""
            if not d:
                closed += 1
                break
        s.close()
    print(json.dumps({"closed_by_server_at_release": closed, "held": len(socks)}))


def cmd_slowloris(args):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000 + b"\r\n\r\n"
    s = connect(args.target, args.src)
    t0 = time.monotonic()
    sent, how = 0, "still open"
    while sent < len(head) and time.monotonic() - t0 < args.max:
        try:
            s.send(head[sent:sent + 1])
            sent += 1
        except OSError:
            how = "send failed"
            break
        r, _, _ = select.select([s], [], [], args.every)
        if r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            how = "closed" if not data else "answered " + data.split(b"\r\n")[0].decode(errors="replace")
            break
    print(json.dumps({"result": how, "bytes_sent": sent, "head_bytes": len(head),
                      "seconds": round(time.monotonic() - t0, 1)}))
    s.close()


def one_call(args, headers, body, end_stream=True, wait=10.0):
    p = H2Peer(args.target, getattr(args, "src", None))
    sid = p.conn.get_next_available_stream_id()
    p.conn.send_headers(sid, headers)
    p.flush()
    sent = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < wait and sid not in p.status and not p.closed:
        if sent < len(body):
            try:
                win = min(p.conn.local_flow_control_window(sid), p.conn.max_outbound_frame_size,
                          len(body) - sent)
                if win > 0:
                    last = sent + win == len(body)
                    p.conn.send_data(sid, body[sent:sent + win], end_stream=end_stream and last)
                    sent += win
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass
            p.flush()
        r, _, _ = select.select([p.sock], [], [], 0.1)
        if r:
            p.pump()
    return p.status.get(sid, "closed" if p.closed else "no answer"), sent, p


def cmd_grpc_big_header(args):
    hdr = grpc_headers(args, args.target, [("x-big", "b" * args.size)])
    st, _, p = one_call(args, hdr, b"\0\0\0\0\0")
    print(json.dumps({"answer": st}))
    p.sock.close()


def cmd_grpc_big_msg(args):
    body = b"\0" + args.declared.to_bytes(4, "big") + b"\0" * 65536
    st, sent, p = one_call(args, grpc_headers(args, args.target), body, end_stream=False)
    print(json.dumps({"answer": st, "bytes_sent": sent, "declared": args.declared}))
    p.sock.close()


def cmd_http_big_head(args):
    s = connect(args.target)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * args.size + b"\r\n\r\n")
    s.settimeout(10)
    data = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
    except OSError:
        pass
    print(json.dumps({"status_line": data.split(b"\r\n")[0].decode(errors="replace"),
                      "closed": True}))
    s.close()


def cmd_healthz(args):
    ok = 0
    fails = []
    for _ in range(args.count):
        try:
            s = connect(args.target, timeout=5.0)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
            s.close()
            if data.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                fails.append(data[:40].decode(errors="replace"))
        except OSError as e:
            fails.append(str(e))
    print(json.dumps({"ok": ok, "count": args.count, "failures": fails[:5]}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, hold=True):
        p.add_argument("target")
        p.add_argument("--src")
        p.add_argument("--token")
        if hold:
            p.add_argument("--ready")
            p.add_argument("--release")
            p.add_argument("--hold", type=float, default=60.0)

    p = sub.add_parser("pin")
    common(p)
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--streams", type=int, default=64)
    p.add_argument("--bytes", type=int, default=4 << 20)
    p.add_argument("--send-for", type=float, default=20.0)
    p.add_argument("--until-closed", action="store_true", help="stop holding once the server closed all")
    p = sub.add_parser("idle")
    common(p)
    p.add_argument("--conns", type=int, default=1000)
    p = sub.add_parser("slowloris")
    common(p, hold=False)
    p.add_argument("--every", type=float, default=1.0)
    p.add_argument("--max", type=float, default=60.0)
    p = sub.add_parser("grpc-big-header")
    common(p, hold=False)
    p.add_argument("--size", type=int, default=20000)
    p = sub.add_parser("grpc-big-msg")
    common(p, hold=False)
    p.add_argument("--declared", type=int, default=64 << 20)
    p = sub.add_parser("http-big-head")
    common(p, hold=False)
    p.add_argument("--size", type=int, default=9000)
    p = sub.add_parser("healthz")
    common(p, hold=False)
    p.add_argument("--count", type=int, default=80)
    args = ap.parse_args()
    {"pin": cmd_pin, "idle": cmd_idle, "slowloris": cmd_slowloris,
     "grpc-big-header": cmd_grpc_big_header, "grpc-big-msg": cmd_grpc_big_msg,
     "http-big-head": cmd_http_big_head, "healthz": cmd_healthz}[args.cmd](args)


if __name__ == "__main__":
    main()
