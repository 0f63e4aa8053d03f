#!/usr/bin/python3
"""HTTP/1.1 keep-alive server for the service-map scenario (ground truth is the client's).

  mapsrv.py PORT      listens on 0.0.0.0:PORT (inside a pod's network namespace), answers every
                      GET with 200 and a 5-byte body, keeps connections open (HTTP/1.1); a GET of
                      /status/NNN is answered with status NNN instead (errors with known counts);
                      a GET of /delay/MS is answered with 200 after sleeping MS ms (a known latency)
"""
import http.server
import socketserver
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        code = 200
        if self.path.startswith("/status/") and self.path[8:].isdigit():
            code = int(self.path[8:])
        elif self.path.startswith("/delay/") and self.path[7:].isdigit():
            time.sleep(int(self.path[7:]) / 1000)
        self.wfile.write(b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\nhello" % code)
        self.wfile.flush()

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
