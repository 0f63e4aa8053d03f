/* tcp unit: TCP health per socket cgroup, and one event per closed connection. */
#ifndef PODLENS_BPF_TCP_H
#define PODLENS_BPF_TCP_H

#include "common.h"

/* Cumulative per cgroup, per-CPU, summed by the agent. */
struct pl_tcp_counters {
	__u64 active_opens;        /* CLOSE -> SYN_SENT (connect() started) */
	__u64 passive_opens;       /* SYN_RECV -> ESTABLISHED (accepted connection) */
	__u64 connect_failures;    /* SYN_SENT -> CLOSE (refused, timed out, reset) */
	__u64 closes;              /* an established connection reached CLOSE */
	__u64 retransmits;         /* sock_ops RETRANS_CB (or tcp:tcp_retransmit_skb) */
	__u64 resets_sent;         /* tcp:tcp_send_reset on a full socket */
	__u64 resets_received;     /* tcp:tcp_receive_reset */
	__u64 connect_lat_sum_us;  /* SYN_SENT -> ESTABLISHED, summed */
	__u64 connect_lat_count;
	__u64 srtt_sum_us;         /* smoothed RTT of closed connections, summed */
	__u64 srtt_count;
};

enum pl_tcp_dir { TCP_DIR_ACTIVE = 1, TCP_DIR_PASSIVE = 2 };

/* One per closed connection that had been established (ring buffer pl_tcp_events). */
struct pl_tcp_flow_event {
	__u64 cgroup_id;
	__u64 duration_us;         /* open (SYN_SENT or accept) to close */
	__u64 bytes_acked;         /* tcp_sock.bytes_acked: sent and acknowledged */
	__u64 bytes_received;      /* tcp_sock.bytes_received */
	__u32 srtt_us;
	__u32 total_retrans;
	__u32 connect_lat_us;      /* active opens only, else 0 */
	__u16 family;              /* AF_INET or AF_INET6 */
	__u16 lport;               /* host byte order */
	__u16 rport;
	__u8 direction;            /* enum pl_tcp_dir */
	__u8 pad;
	__u8 laddr[16];            /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
};

#endif
