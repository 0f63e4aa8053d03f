#!/bin/bash
# L7 probe on a real kernel: two cgroup2 cgroups, a python HTTP server that sleeps a known time per
# request in one, a client sending an exact mix of requests in the other (new connections,
# keep-alive, 404/500, HEAD, 200 KB POSTs with Expect: 100-continue, IPv6, a request line split
# over two segments), and build/test-bin/l7-probe-test
# attached to both. Checks: per (direction, method, route, status) counts exact on both sides, the
# query string gone, p50 within 15% of the latency the client measured itself, nothing dropped.
# Needs root. Cleans up (processes by PID, cgroups) on any exit.
. "$(dirname "$0")/../lib.sh"
cd "$TOP"
[ "$(id -u)" = 0 ] || { tap_fail "l7_http needs root (cgroup_skb, cgroups)"; exit 1; }
DRIVER=$BUILD/test-bin/l7-probe-test
[ -x "$DRIVER" ] || { tap_fail "$DRIVER not built (make all)"; exit 1; }
command -v jq >/dev/null || { tap_fail "jq missing (deps/l7.pkgs)"; exit 1; }

if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then CG2=/sys/fs/cgroup/unified
elif [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then CG2=/sys/fs/cgroup
else tap_fail "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified"; exit 1; fi

SLEEP_MS=100
TMP=$(mktemp -d /tmp/podlens-test-l7.XXXXXX)
SRV_CG=$CG2/podlens-test-l7-$$-srv
CLI_CG=$CG2/podlens-test-l7-$$-cli
defer "rm -rf '$TMP'"
mkdir "$SRV_CG" "$CLI_CG"
defer "rmcg '$SRV_CG' '$CLI_CG'"

cat > "$TMP/server.py" <<'PY'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
SLEEP = float(sys.argv[2]) / 1000
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, body):
        if not self.path.startswith("/fast/"): time.sleep(SLEEP)
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def do_GET(self):
        code = 404 if self.path.startswith("/missing") else 500 if self.path.startswith("/fail") else 200
        self.reply(code, b"x" * 3000)            # a response spanning more than one write
    do_HEAD = do_GET
    def do_POST(self):                            # Expect: 100-continue is answered by the base class
        n, got = int(self.headers["Content-Length"]), 0
        while got < n:
            d = self.rfile.read(min(65536, n - got))
            if not d: break
            got += len(d)
        self.reply(200, b"got %d\n" % got)
import socket
class Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6
srv = Server6(("::1", 0), H) if sys.argv[3] == "6" else ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(srv.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
PY

cat > "$TMP/client.py" <<'PY'
import fcntl, http.client, json, socket, statistics, struct, sys, termios, time
port, out, port6 = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lat, seen = [], {}
def note(method, path, status):
    k = f"{method} {path} {status}"; seen[k] = seen.get(k, 0) + 1
def one(c, method, path, route, headers={}):
    t0 = time.perf_counter(); c.request(method, path, headers=headers); r = c.getresponse()
    t1 = time.perf_counter(); r.read(); note(method, route, r.status); return t1 - t0
for i in range(10):                               # a new connection per request
    c = http.client.HTTPConnection("127.0.0.1", port)
    lat.append(one(c, "GET", f"/items/{i}?token=secret{i}", "/items/{id}", {"Connection": "close"})); c.close()
c = http.client.HTTPConnection("127.0.0.1", port)   # keep-alive: one connection
for i in range(10):
    lat.append(one(c, "GET", f"/items/{1000 + i}", "/items/{id}"))
for i in range(4):
    one(c, "GET", "/missing", "/missing")
for i in range(3):
    one(c, "HEAD", "/items/1", "/items/{id}")
c.close()
for i in range(5):
    c = http.client.HTTPConnection("127.0.0.1", port); one(c, "GET", "/fail", "/fail"); c.close()
body = b"b" * 200000                              # large body: only the request line is captured
for i in range(2):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /upload?name=secret HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
              b"Expect: 100-continue\r\n\r\n" % len(body))
    buf = b""
    while b"\r\n\r\n" not in buf: buf += s.recv(4096)
    assert buf.startswith(b"HTTP/1.1 100"), buf
    s.sendall(body); buf = buf[buf.index(b"\r\n\r\n") + 4:]
    while b"\r\n\r\n" not in buf: buf += s.recv(4096)
    note("POST", "/upload", int(buf[9:12])); s.close()
for i in range(2):                                  # request line split over two TCP segments
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"GET /split/a")
    t_end = time.monotonic() + 5                    # first segment acknowledged (send queue empty):
    while struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0\0\0\0"))[0] and time.monotonic() < t_end:
        time.sleep(0.001)                           # then the second write is its own segment
    s.sendall(b"bc/%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % i)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d: break
        buf += d
    note("GET", "/split/*", int(buf[9:12])); s.close()
# The agent learns the route of each request hash from the key's first (ring) record and needs it
# until the key's in-kernel aggregate is read. Keys whose hashes share a slot of its route table
# (hash % 4096; l7_req_hash of bpf/l7.h over the bytes http.client sends) go one after the other,
# so that forgetting a route for another hash of the same slot fails every run, not now and then.
def req_hash(b):
    n, M = min(len(b), 80), (1 << 64) - 1
    b = b[:n] + b"\0" * (80 - n); h = 0xcbf29ce484222325 ^ n
    for i in range(10):
        x = int.from_bytes(b[8 * i:8 * i + 8], "little")
        if n < 8 * i + 8: x = 0 if n <= 8 * i else x & ((1 << (8 * (n - 8 * i))) - 1)
        h = ((h ^ x) * 0x100000001b3) & M; h ^= h >> 29
    return h
slots = {}
for i in range(400):
    b = b"GET /fast/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept-Encoding: identity\r\n\r\n" % (i, port)
    slots.setdefault(req_hash(b) % 4096, []).append(i)
c = http.client.HTTPConnection("127.0.0.1", port)   # more distinct request keys than the kernel's
for i in [i for g in sorted(slots.values(), key=len, reverse=True) for i in g]:   # per-CPU cache
    for rep in range(2):                             # has slots (128), each twice in a row: the keys
        one(c, "GET", f"/fast/{i}", "/fast/{id}")    # whose slot is taken use the hash, none is lost
c.close()
c = http.client.HTTPConnection("::1", port6)         # IPv6, keep-alive
for i in range(5):
    one(c, "GET", f"/v6/{i}", "/v6/{id}")
c.close()
json.dump({"seen": seen, "p50_us": statistics.median(lat) * 1e6}, open(out, "w"))
PY

sh -c "echo \$\$ > '$SRV_CG/cgroup.procs' && exec /usr/bin/python3 '$TMP/server.py' '$TMP/port' $SLEEP_MS 4" &
SRV_PID=$!
defer "kill $SRV_PID; wait $SRV_PID"
sh -c "echo \$\$ > '$SRV_CG/cgroup.procs' && exec /usr/bin/python3 '$TMP/server.py' '$TMP/port6' $SLEEP_MS 6" &
SRV6_PID=$!
defer "kill $SRV6_PID; wait $SRV6_PID"
wait_for 10 "server port" test -s "$TMP/port" || exit 1
wait_for 10 "IPv6 server port" test -s "$TMP/port6" || exit 1
PORT=$(cat "$TMP/port")
PORT6=$(cat "$TMP/port6")

"$DRIVER" "$SRV_CG" "$CLI_CG" > "$TMP/driver.out" 2> "$TMP/driver.err" &
DRV_PID=$!
defer "kill $DRV_PID; wait $DRV_PID"
if ! wait_for 20 "driver attached" grep -q '"attached":2' "$TMP/driver.out"; then
	cat "$TMP/driver.err"; tap_fail "l7-probe-test attached to both cgroups"; exit 1
fi
tap_ok "l7-probe-test loaded and attached to both cgroups"

# The client times each request itself; under CPU contention its own wake-up after the response
# would inflate that time (the kernel sees the response earlier), so it runs SCHED_FIFO when allowed.
RT="chrt -f 10"; $RT true 2>/dev/null || RT=
sh -c "echo \$\$ > '$CLI_CG/cgroup.procs' && exec $RT /usr/bin/python3 '$TMP/client.py' $PORT '$TMP/client.json' $PORT6"
check_eq "$?" 0 "client finished its 841 requests"

kill -INT $DRV_PID
wait_for 10 "driver result" grep -q '"cgroups"' "$TMP/driver.out" || { cat "$TMP/driver.err"; exit 1; }
RES=$(grep '"cgroups"' "$TMP/driver.out")
diag "$RES"
SEEN=$(jq -c .seen "$TMP/client.json")
diag "client saw $SEEN"

count() {   # count CGROUP_INDEX DIRECTION METHOD ROUTE STATUS
	jq -r --argjson i "$1" --arg d "$2" --arg m "$3" --arg r "$4" --argjson s "$5" \
		'[.cgroups[$i].http[] | select(.direction==$d and .method==$m and .route==$r and .status==$s) | .count] | add // 0' <<<"$RES"
}
seen() { jq -r --arg k "$1" '.[$k] // 0' <<<"$SEEN"; }

for side in "0 server" "1 client"; do
	set -- $side; i=$1; d=$2
	check_eq "$(count $i $d GET '/items/{id}' 200)" 20 "$d side: GET /items/{id} 200 (10 new connections + 10 keep-alive)"
	check_eq "$(count $i $d HEAD '/items/{id}' 200)" 3 "$d side: HEAD /items/{id} 200"
	check_eq "$(count $i $d GET /missing 404)" 4 "$d side: GET /missing 404 on the keep-alive connection"
	check_eq "$(count $i $d GET /fail 500)" 5 "$d side: GET /fail 500"
	check_eq "$(count $i $d POST /upload 200)" 2 "$d side: POST /upload 200 after 100-continue, 200 KB body"
	check_eq "$(count $i $d GET '/v6/{id}' 200)" 5 "$d side: GET /v6/{id} 200 over IPv6 (::1)"
	check_eq "$(count $i $d GET '/split/*' 200)" 2 "$d side: request line split over two segments, route cut at the first"
	check_eq "$(count $i $d GET '/fast/{id}' 200)" 800 "$d side: 400 distinct requests x 2 on one connection (more keys than cache slots)"
	check_eq "$(jq --argjson i $i '[.cgroups[$i].http[].count] | add' <<<"$RES")" 841 "$d side: nothing else counted"
	check_eq "$(jq --argjson i $i '[.cgroups[$i].http[] | select(.direction != "'$d'")] | length' <<<"$RES")" 0 \
		"$d side: every entry has direction $d"
	P50=$(jq -r --argjson i $i '.cgroups[$i].http[] | select(.route=="/items/{id}" and .method=="GET") | .p50_us' <<<"$RES")
	check_within "$P50" "$(jq .p50_us "$TMP/client.json")" 15 "$d side: p50 of GET /items/{id} vs the client's own median"
	check_ge "$P50" $((SLEEP_MS * 1000 * 85 / 100)) "$d side: p50 at least the server sleep (less the 12.5% bucket width)"
done
# the same requests per peer (agent/pipeline/peers.h): the server's per client address (no port),
# the client's per server address and port; 5xx and 4xx as the client received them
peer() {   # peer CGROUP_INDEX DIRECTION ADDR PORT FIELD
	jq -r --argjson i "$1" --arg d "$2" --arg a "$3" --argjson p "$4" --arg f "$5" \
		'[.cgroups[$i].peers[]? | select(.direction==$d and .addr==$a and .port==$p) | .[$f]] | add // 0' <<<"$RES"
}
check_eq "$(peer 0 server 127.0.0.1 0 count) $(peer 0 server 127.0.0.1 0 errors) $(peer 0 server 127.0.0.1 0 client_errors)" \
	"836 5 4" "server side per peer: the client's IPv4 address, its requests, 5xx and 4xx"
check_eq "$(peer 0 server ::1 0 count)" 5 "server side per peer: the client's IPv6 address (::1)"
check_eq "$(jq '[.cgroups[0].peers[]] | length' <<<"$RES")" 2 "server side: two peers (client ports do not split them)"
check_eq "$(peer 1 client 127.0.0.1 "$PORT" count) $(peer 1 client 127.0.0.1 "$PORT" errors) $(peer 1 client 127.0.0.1 "$PORT" client_errors)" \
	"836 5 4" "client side per peer: the server's address and port, requests, 5xx and 4xx"
check_eq "$(peer 1 client ::1 "$PORT6" count)" 5 "client side per peer: the IPv6 server's address and port"
check_eq "$(jq '[.cgroups[1].peers[]] | length' <<<"$RES")" 2 "client side: two peers"
check_eq "$(seen 'GET /items/{id} 200') $(seen 'GET /missing 404') $(seen 'GET /fail 500') $(seen 'POST /upload 200')" \
	"20 4 5 2" "ground truth: the statuses the client received"
check_eq "$(grep -c secret <<<"$RES")" 0 "no query string in the output"
check_eq "$(jq '.stats.rb_drops + .stats.unparsed + .stats.agg_dropped' <<<"$RES")" 0 "nothing dropped or unparsed"
# repeated identical requests (/missing, HEAD, /fail, POST) are counted in the kernel's per-key
# aggregates after the first of each key went through the ring buffer; together: every request
check_eq "$(jq '.stats.events + .stats.aggregated' <<<"$RES")" 1682 "ring buffer records + in-kernel aggregates = 841 requests x 2 sides"
check_ge "$(jq .stats.aggregated <<<"$RES")" 10 "repeated requests aggregated in the kernel"
# the second /fast/N of each pair: counted in its key's per-CPU cache slot, or, when another of the
# 400 keys holds that slot (400 keys, 128 slots per CPU and harvest), in the hash
check_ge "$(jq .stats.cached <<<"$RES")" 50 "repeated requests counted in the per-CPU cache"
check_ge "$(jq '.stats.aggregated - .stats.cached' <<<"$RES")" 5 "keys whose cache slot was taken counted in the hash"
check_ge "$(jq .stats.interim <<<"$RES")" 4 "100 Continue skipped as interim (2 POSTs x 2 sides)"
