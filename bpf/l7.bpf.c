// SPDX-License-Identifier: GPL-2.0
/* l7: request latency of L7 protocol modules from packet payload, cgroup_skb ingress + egress.
 * This file is the plumbing the modules share (where the programs run, the payload read, clocks,
 * the in-kernel aggregation and the ring buffer); what is particular to a protocol (recognising it,
 * per-socket matching of responses to requests, its aggregation key) is in its bpf/l7_<proto>.bpf.h,
 * included below (HTTP/1: bpf/l7_http1.bpf.h). docs/l7.md: how to add a protocol.
 *
 * Where it runs. The agent attaches these programs to each monitored cgroup itself (a bpf_link per
 * cgroup and hook), not to the root: cgroup_skb runs the effective programs of the cgroup the
 * *socket* was created in, so only sockets of monitored workloads pay, and there is no allow-map
 * lookup on the path at all. Accepted sockets inherit the listener's cgroup. Two pairs:
 *   pl_l7_in/out   L7 only; events carry the socket's cgroup (bpf_skb_cgroup_id)
 *   pl_pkt_in/out  L7 and the workload's traffic counters in one program (traffic attach mode
 *                  "workloads": one program run per packet instead of two); the cgroup comes from
 *                  the attachment's storage (traffic.bpf.h), written by the agent
 * Loopback ingress runs in the sender's softirq, so bpf_get_current_cgroup_id() would name the
 * wrong task. Programs must return 1 (0 drops the packet).
 *
 * What it sees. skb->data points at the IP header on both hooks; the IP and TCP headers are in the
 * linear part (TCP pulls them before the ingress filter; locally built skbs have them linear), the
 * payload usually is not (loopback: page frags), so headers are read by direct packet access and
 * the payload with one bpf_skb_load_bytes of up to L7_REQ_CAP bytes into the stack (one helper
 * call: on this kind of machine every call and return is costly). skb->len, not tot_len: an egress
 * skb can be a GSO super-packet. The modules then look at these first bytes only, so body segments,
 * continuation segments and TLS cost one payload read and nothing else.
 *
 * Clocks. Ingress uses bpf_ktime_get_ns(). On egress TCP has already stamped the segment with its
 * departure time (skb->tstamp = tcp_wstamp_ns, CLOCK_MONOTONIC like ktime, at most a few us before
 * this hook), which saves a clock read (~65 ns here); a zero or non-monotonic stamp (larger than
 * 2^60 ns: realtime) falls back to ktime. So latency runs from the first request byte to the first
 * response byte, both as the monitored socket sees them.
 *
 * Output. Repeated requests are aggregated in the kernel (per-CPU histograms keyed by cgroup,
 * request hash, status, direction, module): in a per-CPU direct-mapped cache (an array slot, no hash
 * lookup; harvested without loss, see l7.h), or in a per-CPU hash when the key's slot is taken.
 * The first of a key per agent harvest (per slot and CPU, or per hash key) goes through the ring
 * buffer with the request bytes. Ring buffer wake-ups are batched: the consumer is woken only when
 * l7_wakeup_bytes are waiting (then every 64 KiB); the agent drains the rest at every interval. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l7.h"
#include "traffic.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD

/* Set by the agent before load. */
const volatile __u64 l7_wakeup_bytes = 64 * 1024;
/* Cost study only (bench/run.sh COST=1, l7-probe-test -S): stop the path early. 0 = full program;
 * 1 = after the header parse; 2 = + payload load and classification; 3 = + sk_storage_get and the
 * pending check (no state written, nothing emitted); 4 = full, but the ring buffer record is not
 * submitted (discarded; HTTP/2: the batch filled, not sent). Dead branches are removed
 * by the verifier: stage 0 costs nothing. */
const volatile __u32 l7_stage = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);          /* resized by the agent before load */
} l7_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_counters);
} l7_stats SEC(".maps");

/* Repeated requests: per-CPU histograms, emptied (keys deleted) by the agent at every poll. Not
 * preallocated: only keys in use take memory; when full, requests go through the ring buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct l7_agg_key);
	__type(value, struct l7_agg_val);
} l7_agg SEC(".maps");

/* zeroed source value for inserting a new l7_agg key (too large for the BPF stack) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_agg_val);
} l7_agg_zero SEC(".maps");

/* 0 = aggregate repeated requests in the kernel; 1 = every request through the ring buffer */
const volatile __u32 l7_no_agg = 0;

/* The cache in front of l7_agg (bpf/l7.h): two halves, the agent flips l7_cache_gen (.bss, written
 * through the skeleton's mmap) at every harvest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * L7_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct l7_cache_ent);
} l7_cache SEC(".maps");

volatile __u32 l7_cache_gen = 0;
/* 0 = no cache (the agent could not set up its harvest barrier): l7_agg only */
const volatile __u32 l7_use_cache = 1;

/* Per-CPU "a cache update is in progress": a softirq can interrupt an egress program of this CPU
 * (process context) and run one of ours (ingress, or egress from TCP's own transmit paths); the
 * interrupting run then leaves the cache alone and uses the hash (whose updates are per key). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} l7_cache_busy SEC(".maps");

/* bytes a record takes in the ring: 8-byte header + the event, rounded up to 8 */
#define L7_REC_BYTES ((sizeof(struct l7_event) + 8 + 7) / 8 * 8)

static __always_inline struct l7_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&l7_stats, &zero);
}

static __noinline void l7_dns_udp(struct __sk_buff *skb, __u32 l3, bool egress, __u64 cgid);

/* Offset of the TCP payload from skb->data (the network header), or 0 when there is none. A UDP
 * packet goes to the DNS module from here, on the branch that has already left the TCP path. */
static __always_inline __u32 payload_off(struct __sk_buff *skb, bool egress, __u64 cgid)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *th;
	__u32 l3;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		__u8 *ip = data;

		if ((void *)(ip + 20) > end)
			return 0;
		if (ip[9] != IPPROTO_TCP) {
			if (ip[9] == IPPROTO_UDP)
				l7_dns_udp(skb, (ip[0] & 0xf) << 2, egress, cgid);
			return 0;
		}
		l3 = (ip[0] & 0xf) << 2;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		__u8 *ip6 = data;

		/* extension headers are not followed: such packets are skipped */
		if ((void *)(ip6 + 40) > end)
			return 0;
		if (ip6[6] != IPPROTO_TCP) {
			if (ip6[6] == IPPROTO_UDP)
				l7_dns_udp(skb, 40, egress, cgid);
			return 0;
		}
		l3 = 40;
	} else {
		return 0;
	}
	th = data + l3;
	if ((void *)(th + 20) > end)
		return 0;
	l3 += (th[12] >> 4) << 2;
	return skb->len > l3 ? l3 : 0;
}

/* CLOCK_MONOTONIC ns of this packet: TCP's departure stamp on egress, else a clock read. */
static __always_inline __u64 pkt_ns(struct __sk_buff *skb, bool egress)
{
	__u64 t;

	if (egress) {
		t = skb->tstamp;
		if (t && t < (1ULL << 60))
			return t;
	}
	return bpf_ktime_get_ns();
}

static __always_inline void hist_add(struct l7_agg_val *v, __u64 lat)
{
	__u64 b = l7_hist_bucket(l7_ns_to_us(lat));

	/* clamp in the register the access uses (clang would bound a copy) */
	asm volatile("if %[b] < %[n] goto +1; %[b] = %[m]"
		     : [b] "+r"(b) : [n] "i"(L7_HIST_BUCKETS), [m] "i"(L7_HIST_BUCKETS - 1));
	v->count++;
	v->sum_ns += lat;
	v->buckets[b]++;
}

enum { CACHE_MISS, CACHE_COUNTED, CACHE_CLAIMED };

/* Count a completed request in this CPU's cache slot of its key: CACHE_COUNTED; CACHE_CLAIMED when
 * the slot was free and now names the key (this request itself must take the ring buffer, so the
 * agent learns the route); CACHE_MISS when the slot holds another key or the cache is in use by
 * the run this one interrupted. */
static __always_inline int cache_add(const struct l7_agg_key *k, __u64 lat)
{
	const __u64 *kw = (const __u64 *)k;
	__u32 zero = 0, idx;
	struct l7_cache_ent *e;
	int rc = CACHE_MISS;
	__u32 *busy;
	__u64 *ew;

	busy = bpf_map_lookup_elem(&l7_cache_busy, &zero);
	if (!busy || *busy)
		return CACHE_MISS;
	*busy = 1;
	asm volatile("" ::: "memory");
	idx = l7_cache_idx(l7_cache_gen, k);
	e = bpf_map_lookup_elem(&l7_cache, &idx);
	if (e) {
		ew = (__u64 *)&e->key;
		if (ew[0] == kw[0] && ew[1] == kw[1] && ew[2] == kw[2]) {
			hist_add(&e->val, lat);
			rc = CACHE_COUNTED;
		} else if (!e->key.status) {
			ew[0] = kw[0];
			ew[1] = kw[1];
			ew[2] = kw[2];
			rc = CACHE_CLAIMED;
		}
	}
	asm volatile("" ::: "memory");
	*busy = 0;
	return rc;
}

/* The shared half of a completed request, for the modules (bpf/l7_<proto>.bpf.h). A module that
 * has matched a response to its request calls, in this order:
 *   if (l7_aggregate(cgid, hash, status, dir, L7_PROTO_x, lat)) return;   // counted in the kernel
 *   e = l7_event_reserve(); if (!e) return;                               // first of its key
 *   fill every field of *e (proto included), then l7_event_submit(e);
 * hash names the request bytes the module sends with the first record of a key (the agent learns
 * the key's name from it, e.g. HTTP's method and route). */

/* Count a completed request in this CPU's cache slot of its key or in l7_agg: true when counted,
 * false when this request must take the ring buffer (aggregation off, first of its key, map full). */
static __always_inline bool l7_aggregate(__u64 cgid, __u64 hash, __u32 status, __u8 dir, __u8 proto,
					 __u64 lat)
{
	if (!l7_no_agg) {
		struct l7_agg_key k = { .cgroup_id = cgid, .req_hash = hash, .status = status,
					.dir = dir, .proto = proto };
		struct l7_agg_val *v, *zero;
		__u32 zk = 0;
		int rc = l7_use_cache ? cache_add(&k, lat) : CACHE_MISS;

		if (rc == CACHE_COUNTED)
			return true;
		if (rc == CACHE_MISS) {
			v = bpf_map_lookup_elem(&l7_agg, &k);
			if (v) {
				/* per-CPU value; an interrupting run on this CPU could update the same
				 * key: at worst one lost increment, never another key's */
				hist_add(v, lat);
				return true;
			}
			/* first of its key: insert it empty and send this one with its bytes (the
			 * route); when the map is full the insert fails and every request of the key
			 * takes the ring */
			zero = bpf_map_lookup_elem(&l7_agg_zero, &zk);
			if (zero)
				bpf_map_update_elem(&l7_agg, &k, zero, BPF_NOEXIST);
		}
	}
	return false;
}

/* A ring buffer record, or NULL (counted in rb_drops) when the ring is full. */
static __always_inline struct l7_event *l7_event_reserve(void)
{
	struct l7_event *e = bpf_ringbuf_reserve(&l7_events, sizeof(*e), 0);
	struct l7_counters *c;

	if (!e) {
		c = counters();
		if (c)
			c->rb_drops++;
	}
	return e;
}

/* The wake-up flag of a record of rec bytes about to be committed (see below); extra: its bytes
 * when not yet counted in the ring's data (bpf_ringbuf_output), 0 after a reservation. */
static __always_inline __u64 l7_wake_flags(__u64 extra, __u64 rec)
{
	__u64 avail, over, flags;

	/* Wake the consumer when the waiting data crosses l7_wakeup_bytes, and again every 64 KiB
	 * beyond while it does not drain (a missed window, two CPUs submitting at once, is caught
	 * 64 KiB later). Never on every record: a forced wake-up is an irq_work (a self-IPI, a VM exit
	 * in a guest), which must not be paid per request when the consumer is slow or only drains
	 * at interval ticks. */
	avail = bpf_ringbuf_query(&l7_events, BPF_RB_AVAIL_DATA) + extra;
	flags = BPF_RB_NO_WAKEUP;
	if (avail >= l7_wakeup_bytes) {
		over = avail - l7_wakeup_bytes;
		if (over < 2 * rec || (over & (64 * 1024 - 1)) < rec)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	return flags;
}

static __always_inline void l7_event_submit(struct l7_event *e)
{
	if (l7_stage == 4) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return;
	}
	bpf_ringbuf_submit(e, l7_wake_flags(0, L7_REC_BYTES));
}

/* The protocol modules, a compile-time list: each defines l7_<proto>_packet(), which handles a
 * payload it recognises and returns 1, else 0 (and, at l7_stage 2, only recognises and returns 0).
 * handle() tries them in this order; a module adds nothing to the path of the others' packets but
 * its own recognition of the first payload bytes, so put the cheapest rejection first. No map
 * lookup, helper call or loop decides between modules: the list is resolved at compile time. */
#include "l7_http1.bpf.h"
#include "l7_dns.bpf.h"
#include "l7_http2.bpf.h"

/* wl: also count the packet for the workload the program is attached to (pl_pkt_*) */
static __always_inline void handle(struct __sk_buff *skb, bool egress, bool wl)
{
	__u64 buf[L7_REQ_CAP / 8] = {};
	struct bpf_sock *sk;
	__u32 off, n;
	__u64 cgid = 0;

	if (wl)
		cgid = wl_count(skb, egress)->cgroup_id;
	off = payload_off(skb, egress, cgid);
	if (!off)
		return;                                 /* not TCP, or no payload (ACK, SYN, FIN) */
	if (l7_stage == 1)
		return;
	n = skb->len - off;
	if (n < 12) {
		/* too short to start a request or status line; may be the tail of an HTTP/2 frame */
		l7_http2_short(skb, off, egress, cgid);
		return;
	}
	/* The verifier needs the length register itself bounded to [1, L7_REQ_CAP] (clang would check
	 * a copy): clamp it in place. */
	asm volatile("%[n] += -1; if %[n] < %[m] goto +1; %[n] = %[m]; %[n] += 1"
		     : [n] "+r"(n) : [m] "i"(L7_REQ_CAP - 1));
	if (bpf_skb_load_bytes(skb, off, buf, n))
		return;
	/* sk_storage_get takes the socket as it is (it checks for a full socket itself) */
	sk = skb->sk;
	if (!sk)
		return;
	if (l7_http1_packet(skb, sk, buf, n, egress, cgid))
		return;
	if (l7_dns_tcp(skb, off, egress, cgid))
		return;
	l7_http2_packet(skb, buf, n, off, egress, cgid);
}

SEC("cgroup_skb/ingress")
int pl_l7_in(struct __sk_buff *skb)
{
	handle(skb, false, false);
	return 1;
}

SEC("cgroup_skb/egress")
int pl_l7_out(struct __sk_buff *skb)
{
	handle(skb, true, false);
	return 1;
}

SEC("cgroup_skb/ingress")
int pl_pkt_in(struct __sk_buff *skb)
{
	handle(skb, false, true);
	return 1;
}

SEC("cgroup_skb/egress")
int pl_pkt_out(struct __sk_buff *skb)
{
	handle(skb, true, true);
	return 1;
}

/* Calibration (l7-probe-test -E): the same hooks doing nothing = the kernel's dispatch and the
 * bpf_stats bookkeeping, to be subtracted from the ns/run of the real programs. */
SEC("cgroup_skb/ingress")
int pl_l7_empty_in(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/egress")
int pl_l7_empty_out(struct __sk_buff *skb)
{
	return 1;
}
