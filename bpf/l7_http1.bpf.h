/* HTTP/1 module of the l7 unit (kernel side): included by bpf/l7.bpf.c after the shared plumbing
 * (payload read, clocks, aggregation, ring buffer), whose handle() calls l7_http1_packet() for every
 * packet with payload of a monitored socket.
 *
 * Recognition. Only the segment that *starts* a message is recognised:
 *   request  = payload starts with "METHOD " (GET HEAD POST PUT DELETE PATCH OPTIONS CONNECT TRACE)
 *   response = payload starts with "HTTP/1.x NNN"
 * so body segments, continuation segments and TLS cost one payload read and nothing else.
 *
 * Matching. The request side records the newest request in the connection's slot of l7_h1_slots
 * (below) and the response side measures when exactly one request is pending, counting the rest as
 * `pipelined` (not measured: the slot holds only the newest). A response with nothing pending is
 * ignored; 1xx other than 101 are interim and skipped.
 *
 * Why a slot array and not sk_storage: with one connection per request, bpf_sk_storage_get(F_CREATE)
 * allocated the state on every connection's first request and the socket's destruction freed it
 * (two allocations, two spin locks, an RCU free: the largest L7 item on Connection: close). The slot
 * is preallocated and direct-mapped by the socket cookie (bpf_get_socket_cookie: unique per boot,
 * handed out in per-CPU runs of consecutive numbers, so sockets that are alive together rarely share
 * a slot). A slot names its owner (tag = cookie), so a slot taken by another socket is never read as
 * ours: its response finds no state, as a response with nothing pending does. Either side claims the
 * slot with one compare-and-swap to L7_H1_BUSY before it writes or reads the request, so a request
 * and a response of two sockets sharing a slot never mix; nothing waits: a side that finds the slot
 * busy does without it. Counted in no_storage (the request is not measured): a request that finds
 * its slot busy, and a request that takes a slot holding another socket's unanswered request (that
 * socket's, which is lost; it may be a request left unanswered by a socket since closed). A response
 * that finds the slot busy is not measured and not counted (a window of a few instructions).
 *
 * Aggregation key: (cgroup, hash of the captured request bytes and the peer, status, direction,
 * L7_PROTO_HTTP1); the agent names the hash from the bytes and the peer of the key's first record
 * (agent/l7/http1_module.c for the route, agent/pipeline/peers.c for the peer). */
#ifndef PODLENS_BPF_L7_HTTP1_BPF_H
#define PODLENS_BPF_L7_HTTP1_BPF_H

#define C4(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

/* 2 MiB: 16384 slots of 128 bytes. A request pending while 16384 newer sockets of this node took
 * cookies from the same CPU run can lose its slot (counted, see above). */
#define L7_H1_SLOTS 16384
#define L7_H1_BUSY (~0ULL)

struct l7_h1_slot {
	__u64 tag;                /* cookie of the socket whose request this is; 0 free; L7_H1_BUSY claimed */
	__u64 req_ns;
	__u64 req_hash;
	__u8 dir;
	__u8 req_len;
	__u8 pending;             /* requests since the last response (saturates) */
	__u8 pad[5];
	char req[L7_REQ_CAP];
	__u8 pad2[16];            /* 128 bytes: two cache lines */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L7_H1_SLOTS);
	__type(key, __u32);
	__type(value, struct l7_h1_slot);
} l7_h1_slots SEC(".maps");

/* The connection's slot and its cookie, or NULL (no full socket: cookie 0). */
static __always_inline struct l7_h1_slot *http1_slot(struct __sk_buff *skb, __u64 *cookie)
{
	__u32 idx;

	*cookie = bpf_get_socket_cookie(skb);
	if (!*cookie)
		return 0;
	idx = *cookie & (L7_H1_SLOTS - 1);
	return bpf_map_lookup_elem(&l7_h1_slots, &idx);
}

/* Claim s when its tag is still `seen`: 1 when this run now holds it (tag L7_H1_BUSY). */
static __always_inline int http1_claim(struct l7_h1_slot *s, __u64 seen)
{
	return seen != L7_H1_BUSY && __sync_val_compare_and_swap(&s->tag, seen, L7_H1_BUSY) == seen;
}

/* Give s back with tag: the fields written before are seen by whoever reads tag (release). */
static __always_inline void http1_release(struct l7_h1_slot *s, __u64 tag)
{
	__sync_lock_test_and_set(&s->tag, tag);
}

static __always_inline int http1_is_method(const __u8 *b)
{
	switch (C4(b[0], b[1], b[2], b[3])) {
	case C4('G', 'E', 'T', ' '):
	case C4('P', 'U', 'T', ' '):
		return 1;
	case C4('P', 'O', 'S', 'T'):
	case C4('H', 'E', 'A', 'D'):
		return b[4] == ' ';
	case C4('D', 'E', 'L', 'E'):
		return b[4] == 'T' && b[5] == 'E' && b[6] == ' ';
	case C4('P', 'A', 'T', 'C'):
		return b[4] == 'H' && b[5] == ' ';
	case C4('O', 'P', 'T', 'I'):
		return b[4] == 'O' && b[5] == 'N' && b[6] == 'S' && b[7] == ' ';
	case C4('C', 'O', 'N', 'N'):
		return b[4] == 'E' && b[5] == 'C' && b[6] == 'T' && b[7] == ' ';
	case C4('T', 'R', 'A', 'C'):
		return b[4] == 'E' && b[5] == ' ';
	}
	return 0;
}

/* "HTTP/1.x NNN" -> NNN, else 0 */
static __always_inline __u32 http1_status_of(const __u8 *b)
{
	__u32 d0 = b[9] - '0', d1 = b[10] - '0', d2 = b[11] - '0';

	if (C4(b[0], b[1], b[2], b[3]) != C4('H', 'T', 'T', 'P') ||
	    b[4] != '/' || b[5] != '1' || b[6] != '.' || b[8] != ' ')
		return 0;
	if (d0 < 1 || d0 > 9 || d1 > 9 || d2 > 9)
		return 0;
	return d0 * 100 + d1 * 10 + d2;
}

static __always_inline void http1_on_request(struct __sk_buff *skb, const __u64 *buf, __u32 n, bool egress)
{
	struct l7_h1_slot *s;
	struct l7_counters *c;
	__u64 cookie, old;
	__u8 pending;

	s = http1_slot(skb, &cookie);
	old = s ? *(volatile __u64 *)&s->tag : 0;
	if (!s || !http1_claim(s, old)) {
		c = counters();
		if (c)
			c->no_storage++;
		return;
	}
	if (l7_stage == 3) {
		http1_release(s, old);
		return;
	}
	if (old == cookie) {
		pending = s->pending;
		pending += pending < 255;
	} else {
		pending = 1;
		if (old) {
			/* another socket's unanswered request: lost (see the top of this file) */
			c = counters();
			if (c)
				c->no_storage++;
		}
	}
	/* bytes past n are the zeros of buf; hashed from the stack (local), copied for the agent */
	for (int i = 0; i < L7_REQ_CAP / 8; i++)
		((__u64 *)s->req)[i] = buf[i];
	s->req_hash = l7_req_hash(buf, n);
	s->req_ns = pkt_ns(skb, egress);
	s->dir = egress ? L7_DIR_CLIENT : L7_DIR_SERVER;
	s->req_len = n;
	s->pending = pending;
	http1_release(s, cookie);
}

/* The peer of a response packet, for the per-peer figures (struct l7_event raddr): on the server
 * side (egress) the client, the packet's destination, without its ephemeral port; on the client
 * side (ingress) the server, the packet's source, and its port. Read from the IP header, so a
 * dual-stack listener's IPv4 client is an IPv4 peer. w: 16 address bytes (IPv4: the first 4). */
static __always_inline __u8 http1_peer(struct __sk_buff *skb, bool server, __u64 *w, __u32 *port)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *ip = data;

	w[0] = 0;
	w[1] = 0;
	*port = server ? 0 : bpf_ntohs(skb->remote_port >> 16);
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if ((void *)(ip + 20) > end)
			return 0;
		__builtin_memcpy(w, ip + (server ? 16 : 12), 4);
		return 4;
	}
	if ((void *)(ip + 40) > end)
		return 0;
	__builtin_memcpy(w, ip + (server ? 24 : 8), 16);
	return 6;
}

/* A response of a connection whose slot this run holds: measured when exactly one request is
 * pending. The caller releases the slot. */
static __always_inline void http1_measure(struct __sk_buff *skb, struct l7_h1_slot *s, __u32 status,
					  bool egress, __u64 cgid)
{
	__u8 dir = egress ? L7_DIR_SERVER : L7_DIR_CLIENT;
	struct l7_counters *c;
	struct l7_event *e;
	__u64 now, lat, req_ns, req_hash, peer[2];
	__u32 port, pending = s->pending;
	__u8 family;

	if (pending != 1) {
		/* several requests since the last response (pipelined, or unanswered): the slot holds
		 * only the newest, so none of them is measured */
		c = counters();
		if (c)
			c->pipelined += pending;
		return;
	}
	req_ns = s->req_ns;
	req_hash = s->req_hash;
	now = pkt_ns(skb, egress);
	lat = now > req_ns ? now - req_ns : 0;
	if (!cgid)
		cgid = bpf_skb_cgroup_id(skb);
	family = http1_peer(skb, dir == L7_DIR_SERVER, peer, &port);
	req_hash = l7_peer_hash(req_hash, peer[0], peer[1], port);
	if (l7_aggregate(cgid, req_hash, status, dir, L7_PROTO_HTTP1, lat))
		return;
	e = l7_event_reserve();
	if (!e)
		return;
	e->cgroup_id = cgid;
	e->latency_ns = lat;
	e->req_hash = req_hash;
	e->status = status;
	e->dir = dir;
	e->req_len = s->req_len;
	e->proto = L7_PROTO_HTTP1;
	__builtin_memcpy(e->req, s->req, L7_REQ_CAP);
	__builtin_memcpy(e->raddr, peer, 16);
	e->rport = port;
	e->family = family;
	l7_event_submit(e);
}

static __always_inline void http1_on_response(struct __sk_buff *skb, __u32 status, bool egress, __u64 cgid)
{
	__u8 dir = egress ? L7_DIR_SERVER : L7_DIR_CLIENT;
	struct l7_h1_slot *s;
	struct l7_counters *c;
	__u64 cookie;

	s = http1_slot(skb, &cookie);
	if (!s || *(volatile __u64 *)&s->tag != cookie || s->dir != dir)
		return;                                 /* nothing pending on this side */
	if (l7_stage == 3)
		return;
	if (status < 200 && status != 101) {
		c = counters();
		if (c)
			c->interim++;
		return;                                 /* 100 Continue, 103 Early Hints: keep waiting */
	}
	if (!http1_claim(s, cookie))
		return;                                 /* taken since: not ours any more, or busy */
	http1_measure(skb, s, status, egress, cgid);
	http1_release(s, 0);
}

/* The module's entry: buf holds the first n (1..L7_REQ_CAP) payload bytes, zero-padded; cgid is the
 * attachment's cgroup (pl_pkt_*) or 0 (then the socket's). 1 when the payload was HTTP/1's. Cost
 * study stage 2 (l7_stage): recognise only, and return 0 so that every module's recognition runs. */
static __always_inline int l7_http1_packet(struct __sk_buff *skb, struct bpf_sock *sk,
					   const __u64 *buf, __u32 n, bool egress, __u64 cgid)
{
	__u32 status;

	if (l7_stage == 2) {
		if (http1_is_method((const __u8 *)buf) || http1_status_of((const __u8 *)buf))
			asm volatile("" ::: "memory");
		return 0;
	}
	if (http1_is_method((const __u8 *)buf)) {
		http1_on_request(skb, buf, n, egress);
		return 1;
	}
	status = http1_status_of((const __u8 *)buf);
	if (status) {
		http1_on_response(skb, status, egress, cgid);
		return 1;
	}
	return 0;
}

#endif
