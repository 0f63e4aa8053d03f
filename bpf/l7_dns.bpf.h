// SPDX-License-Identifier: GPL-2.0
/* DNS module of bpf/l7.bpf.c: every DNS message (query or response) on a DNS port of a monitored
 * socket goes to the agent as one struct l7_dns_event (bpf/l7.h), with its first L7_DNS_CAP bytes
 * (header + question), the peer and the ports; the agent parses it and matches responses to queries
 * (agent/l7/dns_module.c). Nothing is matched or aggregated here: a query that is never answered
 * becomes a timeout in the agent's bounded table.
 *
 * Batches. The records are written into this CPU's batch of L7_DNS_BATCH (map l7_dns_batch, two
 * halves chosen by l7_dns_gen), packed (each only as long as its captured bytes, bpf/l7.h); a full
 * batch goes to the ring as one record of the bytes used, with the ring's
 * batched wake-up: ~40% less per packet than a ring record each (docs/bench.md). The agent reads the
 * other half's partial batches at every harvest, after the cache's barrier (flip, grace period),
 * and feeds all the records to the module in timestamp order (agent/probes/dns_order.h): a query
 * and its answer are recorded on different CPUs. A run that interrupts one filling the batch on
 * the same CPU (a softirq) sends its record alone.
 *
 * Where it is on the path. UDP: from the IP header parse of payload_off(), on the side that
 * already left the TCP path (no instruction added to a TCP packet). TCP: after the HTTP/1 module
 * declined the payload (HTTP packets never get here), one look at the socket's ports. So an HTTP
 * packet pays nothing, any other TCP payload one bitmap test per port.
 *
 * Ports: up to L7_DNS_PORTS_MAX in rodata (the agent sets dns.ports before load; default 53; 0 ends
 * the list, and the verifier, which knows rodata, turns the tests of unused slots into jumps). Both
 * ports are tested, so the workload is seen as client (peer port 53) and as server (own port 53). */
#ifndef PODLENS_BPF_L7_DNS_BPF_H
#define PODLENS_BPF_L7_DNS_BPF_H

const volatile __u16 l7_dns_ports[L7_DNS_PORTS_MAX] = { 53 };

/* cgroups whose DNS is not recorded (podlens.io/dns: "false"), and how many there are (written by
 * the agent): the hash is looked up only while it holds one */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} l7_dns_off SEC(".maps");

volatile __u32 l7_dns_noff = 0;

/* Per-CPU batches (bpf/l7.h, struct l7_dns_batch): half l7_dns_gen & 1 is filled; a full batch
 * is one ring record; the agent reads the other half's partial batches at every harvest after the
 * cache's barrier (flip, grace period), so none is lost. 0: every record alone (no barrier). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct l7_dns_batch);
} l7_dns_batch SEC(".maps");

const volatile __u32 l7_dns_batching = 1;
/* The half being filled: flipped by the agent with the cache's l7_cache_gen at every harvest, and
 * alone when its reorder hold needs the partial batches early (agent/probes/dns_order.h). */
volatile __u32 l7_dns_gen = 0;

static __always_inline bool dns_port(__u32 p)
{
	return p == l7_dns_ports[0] ||
	       (l7_dns_ports[1] && (p == l7_dns_ports[1] ||
	       (l7_dns_ports[2] && (p == l7_dns_ports[2] ||
	       (l7_dns_ports[3] && p == l7_dns_ports[3])))));
}

#define DNS_F_EGRESS 1
#define DNS_F_TCP    2

/* Fill e (a ring record or a batch slot): the bytes captured (1..L7_DNS_CAP), or -1 when the
 * payload could not be read. */
static __always_inline int dns_fill(struct __sk_buff *skb, struct l7_dns_event *e, __u32 doff,
				    __u32 len, __u32 ports, __u32 flags, __u64 cgid)
{
	bool egress = flags & DNS_F_EGRESS;
	void *data, *end;
	__u32 n = len;

	asm volatile("%[n] += -1; if %[n] < %[m] goto +1; %[n] = %[m]; %[n] += 1"
		     : [n] "+r"(n) : [m] "i"(L7_DNS_CAP - 1));
	if (bpf_skb_load_bytes(skb, doff, e->data, n))
		return -1;
	e->cgroup_id = cgid;
	e->ts_ns = pkt_ns(skb, egress);
	e->lport = ports >> 16;
	e->rport = ports & 0xffff;
	e->len = len > 0xffff ? 0xffff : len;
	e->egress = egress;
	e->tcp = !!(flags & DNS_F_TCP);
	e->cap = n;
	e->pad = 0;
	e->proto = L7_PROTO_DNS;
	__builtin_memset(e->raddr, 0, sizeof(e->raddr));
	/* the peer: source address on ingress, destination on egress */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		__u8 *ip = data;

		e->family = 4;
		if ((void *)(ip + 20) <= end)
			__builtin_memcpy(e->raddr, ip + (egress ? 16 : 12), 4);
	} else {
		__u8 *ip6 = data;

		e->family = 6;
		if ((void *)(ip6 + 40) <= end)
			__builtin_memcpy(e->raddr, ip6 + (egress ? 24 : 8), 16);
	}
	return n;
}

/* bytes a batch takes in the ring at most (8-byte header + the batch) */
#define DNS_BATCH_REC ((sizeof(struct l7_dns_batch) + 8 + 7) / 8 * 8)

/* A full batch as one ring record of its used bytes (bytes: of buf). Wake-ups as l7_event_submit()
 * does them (past l7_wakeup_bytes, then every 64 KiB), never one per batch: that costs more than a
 * record per packet. */
static __always_inline void dns_batch_send(struct l7_dns_batch *b, __u32 bytes)
{
	__u64 avail, over, flags = BPF_RB_NO_WAKEUP;
	struct l7_counters *c;
	__u32 size = bytes + __builtin_offsetof(struct l7_dns_batch, buf);

	b->n = L7_DNS_BATCH;
	b->bytes = bytes;
	b->cpu = bpf_get_smp_processor_id();
	b->proto = L7_PROTO_DNS_BATCH;
	avail = bpf_ringbuf_query(&l7_events, BPF_RB_AVAIL_DATA);
	if (avail >= l7_wakeup_bytes) {
		over = avail - l7_wakeup_bytes;
		if (over < 2 * DNS_BATCH_REC || (over & (64 * 1024 - 1)) < DNS_BATCH_REC)
			flags = BPF_RB_FORCE_WAKEUP;
	}
	/* the verifier needs the size itself bounded (clang would test a copy) */
	asm volatile("if %[n] <= %[m] goto +1; %[n] = %[m]" : [n] "+r"(size) : [m] "i"(sizeof(*b)));
	if (bpf_ringbuf_output(&l7_events, b, size, flags)) {
		c = counters();
		if (c)
			c->dns_drops += L7_DNS_BATCH;
	}
}

/* doff: offset of the DNS message from skb->data (the IP header); ports: the socket's << 16 | the
 * peer's; flags: DNS_F_*. A subprogram (five arguments at most). */
static __noinline void dns_emit(struct __sk_buff *skb, __u32 doff, __u32 ports, __u32 flags,
				__u64 cgid)
{
	struct l7_dns_event *e;
	struct l7_dns_batch *b;
	struct l7_counters *c;
	__u32 len, gen, i, off;
	int cap;

	if (l7_stage == 1 || l7_stage == 2 || skb->len < doff + 12)
		return;
	len = skb->len - doff;
	if (!cgid)
		cgid = bpf_skb_cgroup_id(skb);
	if (l7_dns_noff && bpf_map_lookup_elem(&l7_dns_off, &cgid))
		return;
	if (l7_dns_batching) {
		gen = l7_dns_gen & 1;
		b = bpf_map_lookup_elem(&l7_dns_batch, &gen);
		/* cost study (l7-probe-test -S): 8 = stop here; 9 = fill the slot, keep nothing */
		if (l7_stage == 8)
			return;
		if (b && !b->busy) {
			b->busy = 1;
			asm volatile("" ::: "memory");
			i = b->n;
			off = b->bytes & ~7u;
			if (i < L7_DNS_BATCH && off <= L7_DNS_BATCH_BYTES - sizeof(*e) &&
			    (cap = dns_fill(skb, (void *)(b->buf + off), doff, len, ports, flags, cgid)) > 0 &&
			    l7_stage != 9) {
				off += L7_DNS_REC_SIZE((__u32)cap);
				if (++i == L7_DNS_BATCH) {
					dns_batch_send(b, off);
					i = off = 0;
				}
				b->n = i;
				b->bytes = off;
			}
			asm volatile("" ::: "memory");
			b->busy = 0;
			return;
		}
	}
	/* no batching, or this run interrupted one filling this CPU's batch: a record alone */
	e = bpf_ringbuf_reserve(&l7_events, sizeof(*e), 0);
	if (!e) {
		c = counters();
		if (c)
			c->dns_drops++;
		return;
	}
	if (dns_fill(skb, e, doff, len, ports, flags, cgid) < 0) {
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return;
	}
	l7_event_submit((struct l7_event *)e);
}

/* A UDP packet of a monitored socket; l3 = the IP header's length (from payload_off()). A BPF
 * subprogram, not inlined: the TCP path around its call site keeps its registers and layout. */
static __noinline void l7_dns_udp(struct __sk_buff *skb, __u32 l3, bool egress, __u64 cgid)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *uh;
	__u16 sport, dport;

	l3 &= 0x3c;
	uh = data + l3;
	if ((void *)(uh + 8) > end)
		return;
	sport = (__u16)uh[0] << 8 | uh[1];
	dport = (__u16)uh[2] << 8 | uh[3];
	if (!dns_port(sport) && !dns_port(dport))
		return;
	if (egress)
		dns_emit(skb, l3 + 8, (__u32)sport << 16 | dport, DNS_F_EGRESS, cgid);
	else
		dns_emit(skb, l3 + 8, (__u32)dport << 16 | sport, 0, cgid);
}

/* A TCP payload the modules before declined: DNS when either port of the socket is a DNS port
 * (TCP sockets are connected, so the socket's ports are the segment's). off = the payload's
 * offset; the DNS message follows its 2-byte length. A message split over segments is seen from
 * its first segment (it must hold the header); one message per segment. */
static __always_inline int l7_dns_tcp(struct __sk_buff *skb, __u32 off, bool egress, __u64 cgid)
{
	__u32 lport = skb->local_port;
	__u32 rport = bpf_ntohs(skb->remote_port >> 16);

	if (!dns_port(lport) && !dns_port(rport))
		return 0;
	dns_emit(skb, off + 2, (lport & 0xffff) << 16 | (rport & 0xffff),
		 (egress ? DNS_F_EGRESS : 0) | DNS_F_TCP, cgid);
	return 1;
}

#endif
