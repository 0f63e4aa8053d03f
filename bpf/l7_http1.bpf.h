/* HTTP/1 module of the l7 unit (kernel side): included by bpf/l7.bpf.c after the shared plumbing
 * (payload read, clocks, aggregation, ring buffer), whose handle() calls l7_http1_packet() for every
 * packet with payload of a monitored socket.
 *
 * Recognition. Only the segment that *starts* a message is recognised:
 *   request  = payload starts with "METHOD " (GET HEAD POST PUT DELETE PATCH OPTIONS CONNECT TRACE)
 *   response = payload starts with "HTTP/1.x NNN"
 * so body segments, continuation segments and TLS cost one payload read and nothing else.
 *
 * Matching. The request side records the newest request in the socket state (sk_storage) and never
 * looks at the response side; the response side measures when exactly one request is pending and
 * counts the rest as `pipelined` (not measured: the state holds only the newest). A response with
 * nothing pending is ignored; 1xx other than 101 are interim and skipped.
 *
 * Aggregation key: (cgroup, hash of the captured request bytes and the peer, status, direction,
 * L7_PROTO_HTTP1); the agent names the hash from the bytes and the peer of the key's first record
 * (agent/l7/http1_module.c for the route, agent/pipeline/peers.c for the peer). */
#ifndef PODLENS_BPF_L7_HTTP1_BPF_H
#define PODLENS_BPF_L7_HTTP1_BPF_H

#define C4(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct l7_sk_state);
} l7_socks SEC(".maps");

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

static __always_inline void http1_on_request(struct __sk_buff *skb, struct bpf_sock *sk,
					     const __u64 *buf, __u32 n, bool egress)
{
	struct l7_sk_state *st;
	struct l7_counters *c;

	st = bpf_sk_storage_get(&l7_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		c = counters();
		if (c)
			c->no_storage++;
		return;
	}
	if (l7_stage == 3)
		return;
	/* bytes past n are the zeros of buf; hashed from the stack (local), copied for the agent */
	for (int i = 0; i < L7_REQ_CAP / 8; i++)
		((__u64 *)st->req)[i] = buf[i];
	st->req_hash = l7_req_hash(buf, n);
	st->req_ns = pkt_ns(skb, egress);
	st->dir = egress ? L7_DIR_CLIENT : L7_DIR_SERVER;
	st->req_len = n;
	/* publish last: the response side reads req_* only after it sees the new sequence number */
	asm volatile("" ::: "memory");
	st->req_seq = st->req_seq + 1;
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

static __always_inline void http1_on_response(struct __sk_buff *skb, struct bpf_sock *sk,
					      __u32 status, bool egress, __u64 cgid)
{
	__u8 dir = egress ? L7_DIR_SERVER : L7_DIR_CLIENT;
	struct l7_sk_state *st;
	struct l7_counters *c;
	struct l7_event *e;
	__u64 now, lat, req_ns, req_hash, peer[2];
	__u32 seq, done, port;
	__u8 family;

	st = bpf_sk_storage_get(&l7_socks, sk, 0, 0);
	if (!st)
		return;
	seq = st->req_seq;
	done = st->resp_seq;
	if (seq == done || st->dir != dir)
		return;                                 /* nothing pending on this side */
	if (l7_stage == 3)
		return;
	if (status < 200 && status != 101) {
		c = counters();
		if (c)
			c->interim++;
		return;                                 /* 100 Continue, 103 Early Hints: keep waiting */
	}
	req_ns = st->req_ns;
	req_hash = st->req_hash;
	asm volatile("" ::: "memory");
	if (seq != done + 1 || st->req_seq != seq) {
		/* several requests since the last response (pipelined, or unanswered): the state holds
		 * only the newest, so none of them is measured */
		st->resp_seq = st->req_seq;
		c = counters();
		if (c)
			c->pipelined += st->req_seq - done;
		return;
	}
	st->resp_seq = seq;
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
	e->req_len = st->req_len;
	e->proto = L7_PROTO_HTTP1;
	__builtin_memcpy(e->req, st->req, L7_REQ_CAP);
	__builtin_memcpy(e->raddr, peer, 16);
	e->rport = port;
	e->family = family;
	l7_event_submit(e);
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
		http1_on_request(skb, sk, buf, n, egress);
		return 1;
	}
	status = http1_status_of((const __u8 *)buf);
	if (status) {
		http1_on_response(skb, sk, status, egress, cgid);
		return 1;
	}
	return 0;
}

#endif
