// SPDX-License-Identifier: GPL-2.0
/* HTTP/2 (and gRPC) module of bpf/l7.bpf.c: walks the frames of every packet of a socket known to
 * speak HTTP/2 and hands the agent, as struct l7_h2_event records (bpf/l7.h), the header block
 * fragments of HEADERS and CONTINUATION frames, DATA frames that end a stream, RST_STREAM and
 * GOAWAY. HPACK decoding, matching responses to requests by stream id and the latency are done in
 * the agent (agent/l7/http2*.c): the dynamic tables are there, the kernel keeps per socket only
 * where the next frame starts in each direction.
 *
 * Recognition. A socket becomes HTTP/2 when a payload starts with the client connection preface
 * ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", sent by the client, so seen on egress of a client socket and
 * on ingress of a server socket), or, for connections opened before the programs were attached
 * (midstream), when a payload of a socket without state starts with a plausible HEADERS or SETTINGS
 * frame header (type, flags, length and stream id within what RFC 9113 allows; TLS records and
 * HTTP/1 never pass). Such a connection is marked `mid`: the agent does not know its HPACK tables.
 *
 * Cost on other traffic. handle() tries this module last, after HTTP/1 and DNS declined the packet:
 * an HTTP/1 request or response segment never gets here. Any other payload of a monitored socket
 * (an HTTP/1 body segment, TLS) pays the inline recognition (three 8-byte compares, the frame
 * header test) and one call of the subprogram with one sk_storage lookup that finds nothing. Short
 * payloads (< 12 bytes, which handle() drops for the other modules) come here too, because a
 * frame's last bytes may be alone in a segment.
 *
 * Frames spanning packets. Per direction (l7_h2_half): the bytes of the current frame still to come
 * (`left`) and a frame header cut by the end of a packet (`npart` bytes in `hb`). DATA payloads are
 * skipped by arithmetic, never read. GSO/GRO super-packets are walked to skb->len with at most
 * L7_H2_STEPS steps (a frame header, or a chunk of a header block); a packet with more loses the
 * frame boundaries: the direction is marked lost (counted, one L7_H2_K_LOST record) and waits for a
 * packet that starts with a plausible frame header. A packet of such a socket that another module
 * took (a DATA chunk that starts with "GET ") is not walked: the agent notices the damage as HPACK
 * errors on that direction and decodes it as midstream from then on. */
#ifndef PODLENS_BPF_L7_HTTP2_BPF_H
#define PODLENS_BPF_L7_HTTP2_BPF_H

/* One direction of a connection, written only by the hook that sees it: ingress and egress of a
 * socket run on different CPUs (loopback, veth), so each half has its own cache line. */
struct l7_h2_half {
	__u32 left;               /* payload bytes of the current frame still to come */
	__u32 foff;               /* payload bytes of the current frame already walked */
	__u32 flen;
	__u32 stream;
	__u8 type;
	__u8 flags;
	__u8 npart;               /* bytes of the next frame header already in hb (0..8) */
	__u8 lost;                /* frame boundaries unknown: wait for a plausible frame start */
	__u8 hb[24];              /* frame header being read (9 bytes; room for the variable load) */
	__u32 pos;                /* walk of the current packet: offset of the next byte (see below) */
	__u8 gap[16];
};

/* Where the lines fall: the kernel keeps a storage element's value 8 bytes into a cache line
 * (struct bpf_local_storage_elem: sdata is cacheline-aligned, its smap pointer comes first, the
 * value after it), and every lookup reads that smap pointer. With the halves first, h[0], written
 * by every ingress run, shared the smap pointer's line, and each egress lookup (the other CPU)
 * missed on it. So the fields both sides only read come first, next to the smap pointer, and each
 * half starts on a line of its own (value offsets 56 and 120). */
struct l7_h2_sk {
	__u64 cookie;             /* written once, when the state is created */
	__u8 mid;
	__u8 pad[47];
	struct l7_h2_half h[2];   /* [1] = egress */
};
_Static_assert(__builtin_offsetof(struct l7_h2_sk, h) == 56 && sizeof(struct l7_h2_half) == 64,
	       "each half on a cache line of its own behind the element's 8-byte smap pointer");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct l7_h2_sk);
} l7_h2_socks SEC(".maps");

/* The walk's working state: the batch (struct l7_h2_batch, bpf/l7.h; first: the agent reads the
 * kept batches at offset 0 of the value) and the direction's half, copied in from the socket's
 * state and back (the step function can then find everything from its slot number: a global
 * function takes only the context and scalars before kernel 5.12). Slots (L7_H2_SLOTS, bpf/l7.h):
 * the kept batch of each half, and two for runs nested in the one filling it (a softirq can
 * interrupt an egress run in process context and walk a packet of its own). */
struct h2_walk {
	struct l7_h2_batch b;
	struct l7_h2_half h;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L7_H2_SLOTS);
	__type(key, __u32);
	__type(value, struct h2_walk);
} l7_h2_batch SEC(".maps");

/* 1: the batch of slot l7_h2_gen & 1 is kept across packets and sent when nearly full; the agent
 * flips l7_h2_gen at every harvest (with the cache's barrier) and reads the other half's partial
 * batches. 0 (no barrier): every packet's batch is sent at the end of its walk. */
const volatile __u32 l7_h2_keep = 1;
volatile __u32 l7_h2_gen = 0;

/* room one entry may need: its header and a full chunk */
#define H2_ENT_MAX (sizeof(struct l7_h2_ent) + L7_H2_CAP)
/* a packet header (at a multiple of 8) has room for at least one entry after it below this */
#define H2_OPEN_MAX (L7_H2_BBUF - sizeof(struct l7_h2_pkt) - H2_ENT_MAX)
#define READ_HOFF(b) (*(volatile __u32 *)&(b)->hoff)

#define H2F_EGRESS  1
#define H2F_PREFACE 2             /* payload starts with the client connection preface */
#define H2F_FRAME   4             /* payload starts with a plausible frame header */

#define H2_FL_END_STREAM 0x01

#define READ_POS(h) (*(volatile __u32 *)&(h)->pos)
#define WRITE_POS(h, v) (*(volatile __u32 *)&(h)->pos = (v))
#define READ_LEN(b) (*(volatile __u32 *)&(b)->len)
#define WRITE_LEN(b, v) (*(volatile __u32 *)&(b)->len = (v))

/* The first 9 payload bytes as the start of a connection we did not see open: a HEADERS frame
 * (flags END_STREAM, END_HEADERS, PADDED, PRIORITY only; 1..16384 bytes, the default
 * SETTINGS_MAX_FRAME_SIZE; an odd, client-initiated stream) or a SETTINGS frame (stream 0, ACK
 * only, a multiple of 6 bytes, at most 10 settings). */
static __always_inline bool h2_plausible(const __u8 *b)
{
	__u32 len = (__u32)b[0] << 16 | (__u32)b[1] << 8 | b[2];

	if (b[3] == L7_H2_HEADERS)
		return len && len <= 16384 && !(b[4] & ~0x2d) && !(b[5] & 0x80) && (b[8] & 1);
	if (b[3] == 4)
		return !(b[4] & ~1) && len <= 60 && len % 6 == 0 && !(b[5] | b[6] | b[7] | b[8]);
	return false;
}

/* The rare records (connection opened, frame boundaries lost): a subprogram of its own. */
static __noinline void h2_note(struct __sk_buff *skb, __u64 cookie, __u32 kind_egress, __u64 cgid)
{
	bool egress = kind_egress & 1;
	struct l7_h2_event *e;
	struct l7_counters *c;

	e = bpf_ringbuf_reserve(&l7_events, sizeof(*e), 0);
	if (!e) {
		c = counters();
		if (c)
			c->h2_drops++;
		return;
	}
	__builtin_memset(e, 0, offsetof(struct l7_h2_event, data));
	e->cgroup_id = cgid ? cgid : bpf_skb_cgroup_id(skb);
	e->ts_ns = pkt_ns(skb, egress);
	e->sock = cookie;
	e->kind = kind_egress >> 1;
	e->egress = egress;
	e->proto = L7_PROTO_HTTP2;
	l7_event_submit((struct l7_event *)e);
}

/* Slot k of this CPU's walk states when free (then marked busy), else NULL. */
static __always_inline struct h2_walk *h2_walk_try(__u32 k)
{
	struct h2_walk *wk = bpf_map_lookup_elem(&l7_h2_batch, &k);

	if (!wk || wk->b.busy)
		return NULL;
	wk->b.busy = 1;
	asm volatile("" ::: "memory");
	return wk;
}

/* A free walk state of this CPU, marked busy: its slot, or -1 (more nesting than L7_H2_NEST). The
 * outermost run takes the kept batch of the half being filled; a run nested in it one of its own. */
static __always_inline int h2_walk_get(struct h2_walk **wp)
{
	__u32 k = l7_h2_keep ? l7_h2_gen & 1 : 0;

	if ((*wp = h2_walk_try(k)))
		return k;
	if ((*wp = h2_walk_try(2)))
		return 2;
	if ((*wp = h2_walk_try(3)))
		return 3;
	return -1;
}
_Static_assert(L7_H2_NEST == 3 && L7_H2_SLOTS == 4, "h2_walk_get tries a kept slot and the nested ones");

/* slot holds a batch kept across packets (else it is sent at the end of its packet) */
static __always_inline bool h2_kept(__u32 slot)
{
	return l7_h2_keep && slot < 2;
}

/* Send the used part of the batch as one ring buffer record and empty it. cpu: this CPU for a
 * kept batch (the agent's reorder marks: every record of this CPU stamped before the batch's last
 * one has been sent), else L7_H2_CPU_NONE. */
static __noinline void h2_flush(struct l7_h2_batch *b, __u32 kept)
{
	struct l7_counters *c;
	__u64 size = b->len;

	if (!size || l7_stage == 4)
		goto out;
	size += offsetof(struct l7_h2_batch, buf);
	if (size > sizeof(*b))
		size = sizeof(*b);
	b->cpu = kept ? bpf_get_smp_processor_id() : L7_H2_CPU_NONE;
	if (bpf_ringbuf_output(&l7_events, b, size, l7_wake_flags((size + 8 + 7) & ~7ULL, size))) {
		c = counters();
		if (c)
			c->h2_drops++;
	}
out:
	b->len = 0;
	b->hoff = 0;
}

/* Start the packet's entries: its header's place at the next multiple of 8 (the batch sent first
 * when it could not hold the header and one entry). */
static __always_inline void h2_pkt_open(struct l7_h2_batch *b, __u32 kept)
{
	__u32 w = (READ_LEN(b) + 7) & ~7U;

	if (w > H2_OPEN_MAX) {
		h2_flush(b, kept);
		w = 0;
	}
	b->hoff = w;
	WRITE_LEN(b, w + sizeof(struct l7_h2_pkt));
}

/* End the packet's entries: its header written from the batch's packet fields, or, when the walk
 * recorded nothing, the header's place given back. */
static __always_inline void h2_pkt_close(struct l7_h2_batch *b)
{
	__u32 hoff = READ_HOFF(b), len = READ_LEN(b);
	struct l7_h2_pkt *p;

	/* bounded in the register the access uses */
	asm volatile("if %[w] <= %[m] goto +1; %[w] = 0" : [w] "+r"(hoff) : [m] "i"(H2_OPEN_MAX));
	if (len <= hoff + sizeof(*p) || len > L7_H2_BBUF) {
		WRITE_LEN(b, hoff);
		return;
	}
	p = (struct l7_h2_pkt *)&b->buf[hoff];
	p->cgroup_id = b->cgroup_id;
	p->ts_ns = b->ts_ns;
	p->sock = b->sock;
	p->len = len - hoff - sizeof(*p);
	p->egress = b->egress;
	p->mid = b->mid;
	p->pad = 0;
}

/* Room for the next entry: the batch sent (and the packet's entries go on in the emptied batch)
 * when it could not take a full one; its offset in buf. */
static __always_inline __u32 h2_ent_room(struct l7_h2_batch *b, __u32 kept)
{
	__u32 w = READ_LEN(b);

	if (w > L7_H2_BBUF - H2_ENT_MAX) {
		h2_pkt_close(b);
		h2_flush(b, kept);
		h2_pkt_open(b, 0);
		w = READ_LEN(b);
	}
	/* bounded in the register the access uses */
	asm volatile("if %[w] <= %[m] goto +1; %[w] = 0" : [w] "+r"(w) : [m] "i"(L7_H2_BBUF - H2_ENT_MAX));
	return w;
}

/* A whole frame header at pos (the common case): one read brings the 9 header bytes and up to
 * H2_PEEK bytes after them, straight to where the entry goes, the header into the last 9 bytes
 * of the entry's own place (overwritten by the entry once parsed), what follows into its data.
 * A HEADERS block of h2load's or nginx's (10-60 bytes) then costs one bpf_skb_load_bytes instead
 * of two; a frame that is not recorded leaves the bytes past the batch's len, unused. */
#define H2_PEEK 64
static __always_inline int h2_step_frame(struct __sk_buff *skb, struct h2_walk *wk, __u32 pos, __u32 end,
					 __u32 egress, __u32 kept)
{
	struct l7_h2_batch *b = &wk->b;
	struct l7_h2_half *h = &wk->h;
	__u32 w, n, take, got;
	struct l7_h2_ent *x;
	__u8 *fh;

	w = h2_ent_room(b, kept);
	x = (struct l7_h2_ent *)&b->buf[w];
	fh = (__u8 *)x + sizeof(*x) - 9;
	n = end - pos;
	if (n > 9 + H2_PEEK)
		n = 9 + H2_PEEK;
	/* 9 <= n <= 9 + H2_PEEK, bounded in the register the call takes */
	asm volatile("%[n] += -9; if %[n] < %[m] goto +1; %[n] = %[m]; %[n] += 9"
		     : [n] "+r"(n) : [m] "i"(H2_PEEK));
	if (bpf_skb_load_bytes(skb, pos, fh, n))
		return 1;
	got = n - 9;
	pos += 9;
	WRITE_POS(h, pos);
	h->flen = (__u32)fh[0] << 16 | (__u32)fh[1] << 8 | fh[2];
	h->left = h->flen;
	h->foff = 0;
	h->type = fh[3];
	h->flags = fh[4];
	h->stream = ((__u32)fh[5] & 0x7f) << 24 | (__u32)fh[6] << 16 | (__u32)fh[7] << 8 | fh[8];
	take = 0;
	if (L7_H2_BLOCK(h->type)) {
		take = end - pos;
		if (take > h->left)
			take = h->left;
		if (take > L7_H2_CAP)
			take = L7_H2_CAP;
	} else if (h->type != L7_H2_RST_STREAM && h->type != L7_H2_GOAWAY &&
		   !(h->type == L7_H2_DATA && (h->flags & H2_FL_END_STREAM))) {
		return 0;
	}
	if (!b->ts_ns)
		b->ts_ns = pkt_ns(skb, egress);
	x->stream = h->stream;
	x->flen = h->flen;
	x->foff = 0;
	x->len = take;
	x->kind = L7_H2_K_FRAME;
	x->type = h->type;
	x->flags = h->flags;
	if (take > got) {
		/* a block longer than the peek: read it whole (first frames of a connection) */
		asm volatile("%[n] += -1; if %[n] < %[m] goto +1; %[n] = %[m]; %[n] += 1"
			     : [n] "+r"(take) : [m] "i"(L7_H2_CAP - 1));
		if (bpf_skb_load_bytes(skb, pos, (__u8 *)x + sizeof(*x), take))
			return 1;
	}
	WRITE_LEN(b, w + sizeof(*x) + ((take + 3) & ~3U));
	WRITE_POS(h, pos + take);
	h->left -= take;
	h->foff = take;
	return 0;
}

/* One step of the walk of slot's state (struct h2_walk): a frame header, a chunk of a header
 * block or a DATA payload skipped. A global function: the verifier checks it once, on its own,
 * instead of once per step of the bounded loop with every state the steps before could leave
 * (which exceeded its 1M instructions). 0: go on; 1: the packet is done (or a read failed). */
__noinline int h2_step(struct __sk_buff *skb, __u32 slot, __u32 end, __u32 egress)
{
	struct l7_h2_batch *b;
	struct l7_h2_half *h;
	struct l7_h2_ent *x;
	struct h2_walk *wk;
	__u32 pos, np, need, have, take, w;
	__u8 kind;

	wk = bpf_map_lookup_elem(&l7_h2_batch, &slot);
	if (!wk)
		return 1;
	h = &wk->h;
	b = &wk->b;
	pos = READ_POS(h);
	if (pos >= end)
		return 1;
	if (!h->left && !h->npart && end - pos >= 9)
		return h2_step_frame(skb, wk, pos, end, egress, h2_kept(slot));
	if (!h->left) {
		/* a frame header, perhaps the rest of one cut by the previous packet */
		np = h->npart;
		if (np > 8)
			np = 0;
		need = 9 - np;
		have = end - pos;
		if (have < need) {
			/* 1 <= have < need <= 9; bounded in the register the call takes */
			asm volatile("%[n] += -1; if %[n] < 7 goto +1; %[n] = 7; %[n] += 1"
				     : [n] "+r"(have));
			if (bpf_skb_load_bytes(skb, pos, &h->hb[np], have))
				return 1;
			h->npart = np + have;
			WRITE_POS(h, end);
			return 1;
		}
		asm volatile("%[n] += -1; if %[n] < 8 goto +1; %[n] = 8; %[n] += 1"
			     : [n] "+r"(need));
		if (bpf_skb_load_bytes(skb, pos, &h->hb[np], need))
			return 1;
		h->npart = 0;
		WRITE_POS(h, pos + need);
		pos += need;
		h->flen = (__u32)h->hb[0] << 16 | (__u32)h->hb[1] << 8 | h->hb[2];
		h->left = h->flen;
		h->foff = 0;
		h->type = h->hb[3];
		h->flags = h->hb[4];
		h->stream = ((__u32)h->hb[5] & 0x7f) << 24 | (__u32)h->hb[6] << 16 |
			    (__u32)h->hb[7] << 8 | h->hb[8];
		kind = L7_H2_K_FRAME;
		if (!L7_H2_BLOCK(h->type) &&
		    h->type != L7_H2_RST_STREAM && h->type != L7_H2_GOAWAY &&
		    !(h->type == L7_H2_DATA && (h->flags & H2_FL_END_STREAM)))
			return 0;
	} else {
		if (!L7_H2_BLOCK(h->type) ||
		    h->foff >= L7_H2_HB_MAX) {
			/* DATA and the rest: skipped by arithmetic */
			take = end - pos;
			if (take > h->left)
				take = h->left;
			WRITE_POS(h, pos + take);
			h->left -= take;
			h->foff += take;
			return 0;
		}
		kind = L7_H2_K_CHUNK;
	}
	/* header block bytes of this frame in this packet (none for the other frames) */
	take = 0;
	if (L7_H2_BLOCK(h->type)) {
		take = end - pos;
		if (take > h->left)
			take = h->left;
		if (take > L7_H2_CAP)
			take = L7_H2_CAP;
		if (h->foff < L7_H2_HB_MAX && take > L7_H2_HB_MAX - h->foff)
			take = L7_H2_HB_MAX - h->foff;
	}
	if (kind == L7_H2_K_CHUNK && !take)
		return 1;
	if (!b->ts_ns)
		b->ts_ns = pkt_ns(skb, egress);
	w = h2_ent_room(b, h2_kept(slot));
	x = (struct l7_h2_ent *)&b->buf[w];
	x->stream = h->stream;
	x->flen = h->flen;
	x->foff = h->foff;
	x->len = take;
	x->kind = kind;
	x->type = h->type;
	x->flags = h->flags;
	if (take) {
		asm volatile("%[n] += -1; if %[n] < %[m] goto +1; %[n] = %[m]; %[n] += 1"
			     : [n] "+r"(take) : [m] "i"(L7_H2_CAP - 1));
		if (bpf_skb_load_bytes(skb, pos, (__u8 *)x + sizeof(*x), take))
			return 1;
	}
	WRITE_LEN(b, w + sizeof(*x) + ((take + 3) & ~3U));
	WRITE_POS(h, pos + take);
	h->left -= take;
	h->foff += take;
	return 0;
}

/* The walk: off = offset of the payload from skb->data; flags H2F_*. 1 when the socket is HTTP/2. */
static __noinline int l7_h2_walk(struct __sk_buff *skb, __u32 off, __u32 flags, __u64 cgid)
{
	bool egress = flags & H2F_EGRESS;
	struct bpf_sock *sk = skb->sk;
	struct l7_h2_batch *b;
	struct l7_counters *c;
	struct l7_h2_half *h;
	struct l7_h2_sk *st;
	struct h2_walk *wk;
	__u32 pos = off, end = skb->len, i;
	int slot;

	if (l7_stage == 2 || !sk)
		return 0;
	st = bpf_sk_storage_get(&l7_h2_socks, sk, 0, 0);
	if (!st) {
		if (!(flags & (H2F_PREFACE | H2F_FRAME)))
			return 0;
		st = bpf_sk_storage_get(&l7_h2_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			c = counters();
			if (c)
				c->no_storage++;
			return 0;
		}
		st->cookie = bpf_get_socket_cookie(skb);
		if (!(flags & H2F_PREFACE)) {
			/* midstream: the other direction's next packet may start inside a frame */
			st->mid = 1;
			st->h[0].lost = 1;
			st->h[1].lost = 1;
		}
	}
	if (l7_stage == 3)
		return 1;
	if (!cgid)
		cgid = bpf_skb_cgroup_id(skb);
	h = egress ? &st->h[1] : &st->h[0];
	if (flags & H2F_PREFACE) {
		/* a (new) connection: the frames start after the preface; the peer's direction
		 * starts at its first byte */
		st->mid = 0;
		st->h[0].left = 0;
		st->h[0].npart = 0;
		st->h[0].lost = 0;
		st->h[1].left = 0;
		st->h[1].npart = 0;
		st->h[1].lost = 0;
		h2_note(skb, st->cookie, L7_H2_K_OPEN << 1 | egress, cgid);
		pos += 24;
	} else if (h->lost) {
		if (!(flags & H2F_FRAME))
			return 1;
		h->lost = 0;
		h->left = 0;
		h->npart = 0;
	}

	slot = h2_walk_get(&wk);
	if (slot < 0 || !wk) {
		c = counters();
		if (c)
			c->h2_drops++;
		goto lost;
	}
	__builtin_memcpy(&wk->h, h, sizeof(*h));
	b = &wk->b;
	b->cgroup_id = cgid;
	b->sock = st->cookie;
	b->egress = egress;
	b->mid = st->mid;
	b->pad = 0;
	b->proto = L7_PROTO_H2_BATCH;
	b->ts_ns = 0;             /* read once, by the first step that records something */
	h2_pkt_open(b, h2_kept(slot));

	/* The offset walked lives in the map value, not in a register: the verifier then sees an
	 * unknown offset at the top of every step, and the steps' states prune each other (a
	 * register offset made the bounded loop exceed the verifier's 1M instructions). The batch's
	 * fill level likewise. */
	WRITE_POS(&wk->h, pos);
	for (i = 0; i < L7_H2_STEPS; i++)
		if (h2_step(skb, slot, end, egress))
			break;
	h2_pkt_close(b);
	if (!h2_kept(slot))
		h2_flush(b, 0);
	__builtin_memcpy(h, &wk->h, sizeof(*h));
	asm volatile("" ::: "memory");
	b->busy = 0;
	pos = READ_POS(h);
	if (pos < end) {
lost:
		/* more steps than the bound, a read failed, no batch: where the next frame starts
		 * is unknown */
		h->lost = 1;
		c = counters();
		if (c)
			c->h2_lost++;
		h2_note(skb, st->cookie, L7_H2_K_LOST << 1 | egress, cgid);
	}
	return 1;
}

/* The module's entry for a payload the other modules declined: buf holds its first n (12..80)
 * bytes, zero-padded; off = the payload's offset from skb->data. */
static __always_inline int l7_http2_packet(struct __sk_buff *skb, const __u64 *buf, __u32 n, __u32 off,
					   bool egress, __u64 cgid)
{
	__u32 f = egress ? H2F_EGRESS : 0;

	/* "PRI * HT" "TP/2.0\r\n" "\r\nSM\r\n\r\n", little-endian words */
	if (buf[0] == 0x5448202a20495250ULL && buf[1] == 0x0a0d302e322f5054ULL &&
	    buf[2] == 0x0a0d0a0d4d530a0dULL)
		f |= H2F_PREFACE;
	else if (h2_plausible((const __u8 *)buf))
		f |= H2F_FRAME;
	return l7_h2_walk(skb, off, f, cgid);
}

/* A payload shorter than 12 bytes: only a socket already known as HTTP/2 cares (a frame's tail, a
 * SETTINGS ACK, a frame header cut by the end of a packet). */
static __always_inline void l7_http2_short(struct __sk_buff *skb, __u32 off, bool egress, __u64 cgid)
{
	l7_h2_walk(skb, off, egress ? H2F_EGRESS : 0, cgid);
}

#endif
