// SPDX-License-Identifier: GPL-2.0
/* traffic: bytes and packets per socket cgroup.
 *
 * Two ways to attach (the agent's --traffic-attach):
 *   pl_traffic_in/out     once at a subtree (the cgroup2 root by default): every socket below pays,
 *                         counters are keyed by the socket's own cgroup and filtered by the mode map
 *   pl_traffic_wl_in/out  to each monitored workload's cgroup: only monitored sockets pay, and the
 *                         attachment's cgroup storage names the counter slot (traffic.bpf.h)
 *
 * cgroup_skb programs run in the socket's own cgroup context (the effective programs of the cgroup
 * the socket was created in, inherited from ancestors), on every packet a socket sends or receives.
 * bpf_skb_cgroup_id() returns the cgroup of skb->sk (request sockets resolve to their listener), so
 * attribution is right even when the packet is processed in softirq for another task. Counting is two
 * map operations per packet; the hash lookup in cg_monitored() is the filter. The programs must
 * return 1: 0 would drop the packet. */
#include "common.bpf.h"
#include "traffic.h"
#include "traffic.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PL_MAX_CGROUPS);
	__type(key, u64);
	__type(value, struct pl_traffic_counters);
} pl_traffic SEC(".maps");

static __always_inline void count(struct __sk_buff *skb, bool egress)
{
	struct pl_traffic_counters *c, zero = {};
	u64 cgid = bpf_skb_cgroup_id(skb);

	if (!cgid || !cg_monitored(cgid))
		return;
	c = bpf_map_lookup_elem(&pl_traffic, &cgid);
	if (!c) {
		bpf_map_update_elem(&pl_traffic, &cgid, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&pl_traffic, &cgid);
		if (!c)
			return;
	}
	add_packet(c, skb, egress);
}

SEC("cgroup_skb/ingress")
int pl_traffic_in(struct __sk_buff *skb)
{
	count(skb, false);
	return 1;
}

SEC("cgroup_skb/egress")
int pl_traffic_out(struct __sk_buff *skb)
{
	count(skb, true);
	return 1;
}

SEC("cgroup_skb/ingress")
int pl_traffic_wl_in(struct __sk_buff *skb)
{
	wl_count(skb, false);
	return 1;
}

SEC("cgroup_skb/egress")
int pl_traffic_wl_out(struct __sk_buff *skb)
{
	wl_count(skb, true);
	return 1;
}
