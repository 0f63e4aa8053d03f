/* Per-workload traffic counting, shared by the traffic and l7 units (kernel side only). The maps
 * (these and the TCP unit's, tcp_pkt.bpf.h) are declared in each object under the same names; the
 * agent creates them once (traffic unit) and reuses their fds in the l7 and tcp units before
 * load, so a workload's counters are the same whichever unit's programs are attached to it. */
#ifndef PODLENS_TRAFFIC_BPF_H
#define PODLENS_TRAFFIC_BPF_H

#include "traffic.h"
#include "tcp_pkt.bpf.h"

/* The attachment's own storage: bpf_get_local_storage() returns it straight from the run context
 * (no lookup). Keyed by cgroup only (u64 key), so ingress and egress share one value. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, __u64);
	__type(value, struct pl_wl);
} pl_wl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PL_WL_SLOTS);
	__type(key, __u32);
	__type(value, struct pl_wl_counters);
} pl_wl_traffic SEC(".maps");

/* per-CPU value: plain adds are safe (no other CPU writes this copy; preemption is off) */
static __always_inline void add_packet(struct pl_traffic_counters *c, struct __sk_buff *skb, bool egress)
{
	if (egress) {
		c->tx_bytes += skb->len;
		c->tx_packets++;
	} else {
		c->rx_bytes += skb->len;
		c->rx_packets++;
	}
}

/* Count one packet for the workload the program is attached to; returns its storage (for the
 * cgroup id). Two loads and an inlined array lookup: no hash, no cgroup walk. Then TCP health
 * where the agent asked for it (bpf/tcp_pkt.bpf.h), in the same slot. */
static __always_inline const struct pl_wl *wl_count(struct __sk_buff *skb, bool egress)
{
	struct pl_wl *w = bpf_get_local_storage(&pl_wl, 0);
	__u32 slot = w->slot;
	struct pl_wl_counters *c = bpf_map_lookup_elem(&pl_wl_traffic, &slot);

	if (!c)
		return w;
	add_packet(&c->traffic, skb, egress);
	if (w->flags & PL_WL_TCP)
		tcp_pkt(skb, egress, w, &c->tcp);
	return w;
}

#endif
