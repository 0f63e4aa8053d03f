/* traffic unit: bytes and packets per socket cgroup (cgroup_skb ingress/egress). */
#ifndef PODLENS_BPF_TRAFFIC_H
#define PODLENS_BPF_TRAFFIC_H

#include "common.h"
#include "tcp.h"

/* Cumulative since the cgroup was first seen; per-CPU, summed by the agent. Packets are what
 * cgroup_skb sees: GSO/GRO super-packets, not wire packets. Bytes are from the IP header on. */
struct pl_traffic_counters {
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 rx_packets;
	__u64 tx_packets;
};

/* Per-workload attachment (the agent's traffic attach mode "workloads"): the programs are attached
 * to each monitored workload's own cgroup, and this is the cgroup-local storage of that attachment
 * (map pl_wl, one value per cgroup for both hooks), written by the agent right after attaching.
 * Counters live in slot `slot` of the per-CPU array pl_wl_traffic, owned by the agent: they
 * outlive the cgroup (the storage goes with it), so its last packets are still read after rmdir.
 * Slot 0 counts packets that ran before the agent wrote the storage (microseconds after attach). */
struct pl_wl {
	__u64 cgroup_id;          /* the cgroup the programs are attached to */
	__u32 slot;               /* index into pl_wl_traffic; 0 = not written yet */
	__u32 flags;              /* PL_WL_*: what else the packet programs do for this workload */
};

/* A workload's slot of pl_wl_traffic: its traffic, and its TCP health when the packet programs
 * count it (PL_WL_TCP). One array slot for both: the TCP counters sit next to the traffic counters
 * the same packet has just touched (no hash lookup, no miss of their own). Per-CPU, summed by the
 * agent; the TCP counters of the other hooks (node-wide tracepoints, sock_ops) stay in pl_tcp,
 * keyed by cgroup, and the agent adds the two. */
struct pl_wl_counters {
	struct pl_traffic_counters traffic;
	struct pl_tcp_counters tcp;
};

/* TCP health from the packets (bpf/tcp_pkt.bpf.h): set when the tcp unit runs in packet mode */
#define PL_WL_TCP   1u
/* and closed-connection records (flows) with it: a collector consumes them */
#define PL_WL_FLOWS 2u

#define PL_WL_SLOTS 4096       /* workloads attached at once, + slot 0 */

#endif
