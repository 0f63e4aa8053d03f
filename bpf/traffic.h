/* traffic unit: bytes and packets per socket cgroup (cgroup_skb ingress/egress). */
#ifndef PODLENS_BPF_TRAFFIC_H
#define PODLENS_BPF_TRAFFIC_H

#include "common.h"

/* Cumulative since the cgroup was first seen; per-CPU, summed by the agent. Packets are what
 * cgroup_skb sees: GSO/GRO super-packets, not wire packets. Bytes are from the IP header on. */
struct pl_traffic_counters {
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 rx_packets;
	__u64 tx_packets;
};

#endif
