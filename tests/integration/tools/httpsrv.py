#!/usr/bin/python3
"""HTTP/1.1 server with known behaviour for the agent's L7 tests (ground truth is the client's).

  httpsrv.py PORTFILE SLEEP_MS
  GET /notfound...   sleeps SLEEP_MS, answers 404 with a 5-byte body
  GET /boom...       sleeps SLEEP_MS, answers 500
  anything else      sleeps SLEEP_MS, answers 200
Each response leaves in one write with TCP_NODELAY, so the client sees it as soon as the server
sends its first byte (no Nagle / delayed-ACK wait between headers and body).
Keep-alive (HTTP/1.1), threaded. Listens on 127.0.0.1:0; the port is written to PORTFILE.
"""
import http.server
import os
import socket
import sys
import time

SLEEP = int(sys.argv[2]) / 1000.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(SLEEP)
        code = 404 if self.path.startswith("/notfound") else 500 if self.path.startswith("/boom") else 200
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[code]
        self.wfile.write(("HTTP/1.1 %d %s\r\nContent-Length: 5\r\n\r\nhello" % (code, reason)).encode())
        self.wfile.flush()

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
