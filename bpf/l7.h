/* l7 unit: request latency of L7 protocol modules from packet payload (cgroup_skb). Structs shared
 * by bpf/l7.bpf.c (+ the modules' bpf/l7_<proto>.bpf.h) and agent/probes/l7.c. Nothing here knows
 * pods: events carry the socket's cgroup id. docs/l7.md says how a protocol module plugs in. */
#ifndef PODLENS_BPF_L7_H
#define PODLENS_BPF_L7_H

/* The protocol module an event or an aggregate belongs to: the agent hands it to that module's
 * parser (agent/l7/module.h, l7_modules[]). HTTP/1 is 0 so that its records are what they were
 * before the field existed (it was padding, always zero), and its code path sets nothing new. */
#define L7_PROTO_HTTP1 0
#define L7_PROTO_DNS   1          /* records of their own: struct l7_dns_event */
#define L7_PROTO_HTTP2 2          /* records of their own: struct l7_h2_event (HTTP/2 and gRPC) */
#define L7_PROTO_COUNT 3          /* one more than the largest L7_PROTO_* */

/* Bytes of a request captured from the first payload byte of the segment that starts with a
 * method: enough for "METHOD /path... HTTP/1.1". A longer path arrives truncated (L7_F_TRUNC is
 * implied by req_len == L7_REQ_CAP and no " HTTP/" in the prefix; userspace decides). */
#define L7_REQ_CAP 80

/* Which side of the connection the monitored socket is on. */
#define L7_DIR_SERVER 0   /* request received (ingress), response sent (egress): the pod serves */
#define L7_DIR_CLIENT 1   /* request sent (egress), response received (ingress): the pod calls */

/* One completed request/response pair, emitted when the first byte of the final response is seen
 * (1xx interim responses other than 101 are skipped). latency_ns = first byte of the response
 * minus first byte of the request, both as seen at the monitored socket (bpf_ktime_get_ns). */
struct l7_event {
	__u64 cgroup_id;          /* cgroup2 id of the socket (bpf_skb_cgroup_id) */
	__u64 latency_ns;
	__u64 req_hash;           /* l7_req_hash() of req[0..req_len): names the l7_agg key */
	__u16 status;             /* 100..999 */
	__u8 dir;                 /* L7_DIR_* */
	__u8 req_len;             /* valid bytes in req (<= L7_REQ_CAP) */
	__u32 proto;              /* L7_PROTO_*: whose parser reads req */
	char req[L7_REQ_CAP];     /* raw request prefix; parsed and reduced in the agent, never exported */
	/* The peer of the request (agent/pipeline/peers.h): the client's address on the server side
	 * (rport 0: its port is ephemeral), the server's address and port on the client side, as the
	 * response packet carries them. req_hash has the peer folded in (l7_peer_hash), so the kernel's
	 * aggregates are per (request, peer) and this first record of a key names both. */
	__u8 raddr[16];           /* IPv4: first 4 bytes */
	__u16 rport;              /* host order */
	__u8 family;              /* 4 or 6; 0: unknown (no peer) */
	__u8 pad2[5];
};

/* In-kernel aggregation of repeated requests (map l7_agg, BPF_MAP_TYPE_PERCPU_HASH). The first
 * completed request of a key in an interval goes through the ring buffer (so the agent learns the
 * route of req_hash); later ones only update the per-CPU histogram of the key. The agent drains
 * the ring buffer, then reads and deletes every key (l7_probe__poll). */
#define L7_HIST_BUCKETS 200       /* lib/hist buckets 0..199 (latencies up to 2^27 us = 134 s) */

struct l7_agg_key {
	__u64 cgroup_id;
	__u64 req_hash;
	__u16 status;
	__u8 dir;
	__u8 proto;               /* L7_PROTO_* */
	/* pad1 + pad[3] rather than pad[4]: with this split the key's zero-initialisation compiles to
	 * the very stores it did before proto existed (pad[4] lets clang merge them into one, which
	 * changes the programs' instruction stream; bench results are compared across that) */
	__u8 pad1;
	__u8 pad[3];
};

struct l7_agg_val {
	__u64 count;
	__u64 sum_ns;
	__u32 buckets[L7_HIST_BUCKETS];   /* lib/hist bucket of the latency in microseconds */
};

/* Per-CPU direct-mapped cache in front of l7_agg (map l7_cache, BPF_MAP_TYPE_PERCPU_ARRAY): a
 * repeated request whose key holds its slot updates the histogram there (an inlined array access)
 * instead of looking the key up in the hash. Two halves of L7_CACHE_SLOTS, chosen by the
 * agent-written l7_cache_gen: the agent flips it, waits for a grace period (every program that read
 * the old value has returned), then reads and zeroes the old half while the programs use the
 * other one, so nothing is lost between reading and resetting. A free slot (key.status == 0) is
 * claimed by the first request of a key (which goes through the ring buffer, so the agent learns
 * its route); a key whose slot is taken uses l7_agg. 2 x 128 x 840 bytes = 210 KiB per CPU. */
#define L7_CACHE_BITS 7
#define L7_CACHE_SLOTS (1u << L7_CACHE_BITS)   /* per half: 128 */

struct l7_cache_ent {
	struct l7_agg_key key;    /* status 0 = free */
	struct l7_agg_val val;
};
/* user space reads per-CPU values 8-byte aligned, one after the other (agent/probes/l7.c) */
_Static_assert(sizeof(struct l7_cache_ent) % 8 == 0, "per-CPU value stride");

/* Slot of a key in half gen & 1: the request hash is already mixed; the cgroup and the status
 * are folded in with a multiplicative hash, its top bits pick the slot. */
static inline __attribute__((always_inline)) __u32 l7_cache_idx(__u32 gen, const struct l7_agg_key *k)
{
	__u64 h = (k->req_hash ^ k->cgroup_id ^ ((__u64)k->status << 48 | (__u64)k->dir << 40)) *
		  0x9E3779B97F4A7C15ULL;

	return (gen & 1) * L7_CACHE_SLOTS + (__u32)(h >> (64 - L7_CACHE_BITS));
}

/* lib/hist's bucket of v microseconds (agent/lib/hist.h: 8 linear buckets, then 8 sub-buckets per
 * power of two), clamped to L7_HIST_BUCKETS - 1. Branch-light for the BPF side; unit-tested
 * against hist__bucket(). */
static inline __attribute__((always_inline)) __u32 l7_hist_bucket(__u64 v)
{
	__u64 x = v;
	__u32 e = 0, s, i;

	if (v < 8)
		return (__u32)v;
	s = (x > 0xFFFFFFFFULL) << 5; x >>= s; e |= s;
	s = (x > 0xFFFF) << 4; x >>= s; e |= s;
	s = (x > 0xFF) << 3; x >>= s; e |= s;
	s = (x > 0xF) << 2; x >>= s; e |= s;
	s = (x > 0x3) << 1; x >>= s; e |= s;
	e |= (__u32)(x >> 1);                     /* e = floor(log2 v) >= 3 */
	i = 8 + (e - 3) * 8 + (__u32)((v >> (e - 3)) & 7);
	return i < L7_HIST_BUCKETS ? i : L7_HIST_BUCKETS - 1;
}

/* ns -> us without a division for latencies below 2^32 ns (4.29 s; BPF has no multiply-high, so
 * clang keeps a 64-bit divide for / 1000): m = ceil(2^41 / 1000), m * 1000 - 2^41 = 448, so
 * (ns * m) >> 41 == ns / 1000 for every ns < 2^41 / 448 (4.9e9), and ns * m < 2^64 below 2^32.
 * Unit-tested against the division. */
static inline __attribute__((always_inline)) __u64 l7_ns_to_us(__u64 ns)
{
	return ns < (1ULL << 32) ? (ns * 2199023256ULL) >> 41 : ns / 1000;
}

/* The request hash with the peer folded in (struct l7_event raddr/rport): w = the peer's 16
 * address bytes as two words, port in host order. Never 0 (the agent reads 0 as "no name"). */
static inline __attribute__((always_inline)) __u64 l7_peer_hash(__u64 h, __u64 w0, __u64 w1, __u32 port)
{
	h = (h ^ w0) * 0x9E3779B97F4A7C15ULL;
	h = (h ^ w1 ^ ((__u64)port << 32)) * 0x9E3779B97F4A7C15ULL;
	h ^= h >> 31;
	return h ? h : 1;
}

/* Hash of the captured request bytes (and their count): equal prefixes, equal key. */
static inline __attribute__((always_inline)) __u64 l7_req_hash(const __u64 *w, __u32 len)
{
	__u64 h = 0xcbf29ce484222325ULL ^ len;

	for (__u32 i = 0; i < L7_REQ_CAP / 8; i++) {
		__u64 x = w[i];

		if (len < 8 * i + 8)
			x = len <= 8 * i ? 0 : x & ((1ULL << (8 * (len - 8 * i))) - 1);
		h = (h ^ x) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

/* DNS module (bpf/l7_dns.bpf.h). Every DNS message (query or response, UDP, or the first segment
 * of a TCP message after its 2-byte length) on a DNS port of a monitored socket goes to the agent
 * as one record (in a per-CPU batch, struct l7_dns_batch); the agent parses it and matches responses to queries by (cgroup,
 * local port, peer, transaction id) in a bounded table of its own, where unanswered queries become
 * timeouts (agent/l7/dns_module.c). DNS rates are a small fraction of packet rates, and matching in
 * user space keeps the kernel side stateless (no map grows with the query rate). proto sits where
 * struct l7_event has it, so the probe can tell the two records apart. */
#define L7_DNS_CAP 160            /* DNS message bytes captured: header (12) + question */
#define L7_DNS_PORTS_MAX 4        /* dns.ports: at most this many */

struct l7_dns_event {
	__u64 cgroup_id;
	__u64 ts_ns;              /* CLOCK_MONOTONIC of the packet at the monitored socket */
	__u16 lport;              /* the monitored socket's port, host order */
	__u16 rport;              /* the peer's port, host order */
	__u16 len;                /* DNS message bytes in the packet (may exceed L7_DNS_CAP) */
	__u8 egress;              /* 1: sent by the monitored socket */
	__u8 tcp;                 /* 1: DNS over TCP (data starts after the length prefix) */
	__u8 family;              /* 4 or 6 */
	__u8 cap;                 /* valid bytes in data (<= L7_DNS_CAP) */
	__u16 pad;
	__u32 proto;              /* L7_PROTO_DNS, at offsetof(struct l7_event, proto) */
	__u8 raddr[16];           /* the peer's address (IPv4: first 4 bytes) */
	__u8 data[L7_DNS_CAP];
};
_Static_assert(__builtin_offsetof(struct l7_dns_event, proto) == __builtin_offsetof(struct l7_event, proto),
	       "proto tells the records apart");

/* Per-CPU batches of DNS records (map l7_dns_batch, BPF_MAP_TYPE_PERCPU_ARRAY of two halves chosen
 * by l7_cache_gen, harvested as the cache is, bpf/l7_dns.bpf.h): a full batch goes to the ring as
 * one record, proto L7_PROTO_DNS_BATCH (not a module: the probe unpacks it into the module's
 * struct l7_dns_event records, agent/probes/dns_order.h dns_batch__unpack()).
 *
 * Packed: each record is struct l7_dns_event without the unused tail of data (L7_DNS_REC_SIZE of
 * its cap), 8-byte aligned, and only the bytes used go to the ring. A query or an answer is
 * 30-60 bytes, so a record takes ~100 bytes instead of 208: the ring bytes a CPU writes (cache
 * lines the agent's CPU last held) were the largest item of a batch's cost (docs/bench.md). */
#define L7_DNS_BATCH 16           /* records per batch; a power of two */
#define L7_PROTO_DNS_BATCH 0x101  /* a batch of L7_PROTO_DNS records */
#define L7_DNS_HEAD 48            /* struct l7_dns_event before data */
#define L7_DNS_REC_SIZE(cap) ((L7_DNS_HEAD + (cap) + 7) & ~7u)
#define L7_DNS_BATCH_BYTES (L7_DNS_BATCH * L7_DNS_REC_SIZE(L7_DNS_CAP))

struct l7_dns_batch {
	__u32 busy;               /* a run of this CPU is filling it (a softirq that interrupts it
				     sends its record alone) */
	__u32 n;                  /* records in buf */
	__u32 cpu;                /* the CPU whose batch it is (set when sent) */
	__u32 bytes;              /* bytes of buf used by the n records */
	__u8 pad[12];
	__u32 proto;              /* L7_PROTO_DNS_BATCH, at offsetof(struct l7_event, proto) */
	__u64 pad2;
	__u8 buf[L7_DNS_BATCH_BYTES];   /* n packed records; a ring record ends after bytes */
};
_Static_assert(__builtin_offsetof(struct l7_dns_event, data) == L7_DNS_HEAD, "record head");
_Static_assert(sizeof(struct l7_dns_event) == L7_DNS_REC_SIZE(L7_DNS_CAP), "a full record");
_Static_assert(__builtin_offsetof(struct l7_dns_batch, proto) == __builtin_offsetof(struct l7_event, proto),
	       "proto tells the records apart");
_Static_assert(sizeof(struct l7_dns_batch) % 8 == 0, "per-CPU value stride");

/* HTTP/2 module (bpf/l7_http2.bpf.h). The kernel walks the frames of every packet of a socket it
 * knows as HTTP/2 and hands over what the agent needs to follow the streams: the header block
 * fragments of HEADERS and CONTINUATION frames (in chunks of at most L7_H2_CAP bytes, the first
 * L7_H2_HB_MAX bytes of a frame), the end of a stream on DATA, RST_STREAM and GOAWAY. HPACK
 * decoding, matching responses to requests and the latency are the agent's (agent/l7/http2*.c):
 * the dynamic table of each direction lives there, so nothing grows with the streams here. */
#define L7_H2_CAP 256             /* header block bytes per record */
#define L7_H2_HB_MAX 16384        /* header block bytes of one frame handed over; the rest skipped */
#define L7_H2_STEPS 256           /* frame headers + chunks per packet (GSO/GRO super-packets) */

/* l7_h2_event.kind */
#define L7_H2_K_FRAME 0           /* a frame starts; HEADERS/CONTINUATION: data = its first bytes */
#define L7_H2_K_CHUNK 1           /* more header block bytes of the current frame, at foff */
#define L7_H2_K_LOST  2           /* this direction lost the frame boundaries (step bound, a packet
				     not walked): header blocks may be missing from here on */
#define L7_H2_K_OPEN  3           /* connection preface: a new connection on this socket */

/* l7_h2_event.type: the HTTP/2 frame types the kernel reports */
#define L7_H2_DATA         0
#define L7_H2_HEADERS      1
#define L7_H2_RST_STREAM   3
#define L7_H2_PUSH_PROMISE 5      /* a header block too: decoded to keep the HPACK table in step */
#define L7_H2_GOAWAY       7
#define L7_H2_CONTINUATION 9
/* the frames whose payload is (after padding, priority, promised id) a header block */
#define L7_H2_BLOCK(t) ((t) == L7_H2_HEADERS || (t) == L7_H2_CONTINUATION || (t) == L7_H2_PUSH_PROMISE)

struct l7_h2_event {
	__u64 cgroup_id;
	__u64 ts_ns;              /* CLOCK_MONOTONIC of the packet at the monitored socket */
	__u64 sock;               /* socket cookie: names the connection (this end of it) */
	__u16 len;                /* valid bytes in data */
	__u8 kind;                /* L7_H2_K_* */
	__u8 egress;              /* 1: sent by the monitored socket */
	__u32 proto;              /* L7_PROTO_HTTP2, at offsetof(struct l7_event, proto) */
	__u32 stream;             /* frame's stream id */
	__u32 flen;               /* frame payload length */
	__u32 foff;               /* offset of data[0] in the frame payload */
	__u8 type;                /* frame type */
	__u8 flags;               /* frame flags */
	__u8 mid;                 /* 1: the connection was found midstream (no preface seen) */
	__u8 pad;
	__u8 data[L7_H2_CAP];
};
_Static_assert(__builtin_offsetof(struct l7_h2_event, proto) == __builtin_offsetof(struct l7_event, proto),
	       "proto tells the records apart");

/* The records of the walks of many packets, sent as one ring buffer record (bpf_ringbuf_output of
 * the used part) when nearly full, instead of one record per packet: built in a per-CPU map value
 * (l7_h2_batch), proto L7_PROTO_H2_BATCH (not a module: the probe splits it into struct
 * l7_h2_event records). buf holds `len` bytes: for each packet walked, a struct l7_h2_pkt (at an
 * offset that is a multiple of 8) and its `len` bytes of entries, each a struct l7_h2_ent followed
 * by its `len` data bytes, padded to 4.
 *
 * Slots of l7_h2_batch per CPU: 0 and 1 are the kept batches of the two halves (l7_h2_gen & 1:
 * the one filled; the agent reads the other's partial batches at every harvest, after the
 * barrier that makes sure no program still uses it, as it does DNS's); 2 and 3 serve a run that
 * interrupts one filling the kept batch on the same CPU (a softirq), and are sent at the end of
 * their packet. Per-CPU delivery: a response can reach the agent before its request, so the probe
 * feeds the records to the module in timestamp order (agent/probes/dns_order.h). */
#define L7_PROTO_H2_BATCH 0x102
#define L7_H2_BBUF 4096           /* bytes of buf (a full batch is sent and the walk goes on) */
#define L7_H2_NEST 3              /* walks per CPU at once: process context, softirq, one spare */
#define L7_H2_SLOTS 4             /* l7_h2_batch slots per CPU: 2 kept halves + 2 nested */
#define L7_H2_CPU_NONE 0xffffffffu /* l7_h2_batch.cpu of a batch sent at the end of its packet */

struct l7_h2_ent {
	__u32 stream;
	__u32 flen;
	__u32 foff;
	__u16 len;
	__u8 kind;
	__u8 type;
	__u8 flags;
	__u8 pad[3];
};
_Static_assert(sizeof(struct l7_h2_ent) == 20, "entry layout");

struct l7_h2_pkt {
	__u64 cgroup_id;
	__u64 ts_ns;
	__u64 sock;
	__u16 len;                /* bytes of entries that follow */
	__u8 egress;
	__u8 mid;
	__u32 pad;
};
_Static_assert(sizeof(struct l7_h2_pkt) == 32, "packet header layout");

struct l7_h2_batch {
	/* the packet being walked, written into its struct l7_h2_pkt when its walk ends */
	__u64 cgroup_id;
	__u64 ts_ns;
	__u64 sock;
	__u8 egress;
	__u8 mid;
	__u16 pad;
	__u32 proto;              /* L7_PROTO_H2_BATCH, at offsetof(struct l7_event, proto) */
	__u32 len;                /* bytes used in buf */
	__u32 busy;               /* a run of this CPU is filling it */
	__u32 hoff;               /* offset in buf of the struct l7_h2_pkt of the packet walked */
	__u32 cpu;                /* the CPU of a kept batch sent full, else L7_H2_CPU_NONE */
	__u8 buf[L7_H2_BBUF];
};
_Static_assert(__builtin_offsetof(struct l7_h2_batch, proto) == __builtin_offsetof(struct l7_event, proto),
	       "proto tells the records apart");
_Static_assert(__builtin_offsetof(struct l7_h2_batch, buf) == 48, "header layout");

/* Per-CPU counters of the exceptional paths only (the common path counts nothing: each emitted
 * event is the count). Summed by the agent. */
struct l7_counters {
	__u64 rb_drops;           /* ring buffer full: completed request lost */
	__u64 pipelined;          /* requests not measured: sent while another was pending on the socket */
	__u64 no_storage;         /* no socket state: no full socket, allocation failed; HTTP/1: slot busy or
	                           * taken over from another socket's unanswered request (l7_http1.bpf.h) */
	__u64 interim;            /* 1xx interim responses skipped */
	__u64 dns_drops;          /* DNS ring buffer record lost (ring full) */
	__u64 h2_drops;           /* HTTP/2 ring buffer record lost (ring full) */
	__u64 h2_lost;            /* HTTP/2 directions that lost their frame boundaries */
};

#endif
