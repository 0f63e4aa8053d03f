#!/usr/bin/python3
"""HTTP/1.1 keep-alive server for the service-map scenario (ground truth is the client's).

  mapsrv.py PORT      listens on 0.0.0.0:PORT (inside a pod's network namespace), answers every
                      GET with 200 and a 5-byte body, keeps connections open (HTTP/1.1)
"""
import http.server
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        self.wfile.flush()

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
