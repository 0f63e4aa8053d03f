/* TCP health from the packet programs of a monitored workload (--tcp-hooks packets, the default of
 * the per-workload attachment), and the TCP unit's maps, which the traffic, l7 and tcp objects
 * share (kernel side only; included through traffic.bpf.h; the agent creates the maps once in
 * the traffic unit and reuses their fds in the others before load).
 *
 * Why packets: the cgroup_skb programs already run for every packet of a monitored socket and for
 * no other. A sock_ops program on the same cgroup adds at least 8 runs per connection (4 of them
 * forced by the kernel for every socket of the cgroup) plus its flag setting, which on a
 * connection-per-request server costs more than the rest of L4 together. Here TCP health costs one
 * load and a branch per packet (the attachment storage says whether to look) plus the flags byte
 * of the TCP header read by direct packet access; only packets with SYN, FIN or RST (and ingress
 * ACKs that reach a listener) do more, about 4 per connection. Their counters are the workload's
 * slot of pl_wl_traffic (struct pl_wl_counters), which the packet's traffic count has just
 * touched: no hash lookup (two per connection when they were in pl_tcp cost ~64 ns per ingress
 * run on Connection: close, docs/bench.md).
 *
 * What each event is (the socket is skb->sk, the monitored one; the program runs before TCP
 * processes an ingress packet and after it built an egress one):
 *   active open      egress SYN, first transmission (its sequence number is snd_nxt: TCP advances
 *                    snd_nxt after sending; a retransmitted SYN has snd_nxt = ISN + 1)
 *   connect latency  ingress SYN-ACK on a SYN_SENT socket: now - tcp_wstamp_ns (the departure time
 *                    of the last SYN: after a SYN retransmission the latency is from that one)
 *   connect failure  ingress RST on a SYN_SENT socket (refused); a SYN that times out sends
 *                    nothing more and is not counted
 *   passive open     ingress ACK without SYN/RST reaching a LISTEN socket: the packet that
 *                    completes a handshake (tcp_check_req makes the child right after). Differs
 *                    from "accepted" only when the accept queue overflows (the ACK is dropped and
 *                    retransmitted: counted again) or with TCP_DEFER_ACCEPT
 *   close            once per socket, when both directions are done: the peer's FIN arriving
 *                    after ours (FIN_WAIT1/2), or ours leaving after the peer's (LAST_ACK, first
 *                    transmission), or an RST received (ESTABLISHED, CLOSE_WAIT, FIN_WAIT1/2) or
 *                    sent (abortive close). srtt and the flow record's figures are those of that
 *                    moment; the record's bytes_acked counts what is still in flight behind our
 *                    FIN, its bytes_received the peer FIN's own payload. Not counted: a
 *                    connection that dies of a timeout sending nothing, a half-closed socket
 *                    whose peer never sends its FIN (FIN_WAIT2 timeout); counted twice: a peer
 *                    FIN that arrived out of order and was retransmitted
 *   retransmits      still tcp:tcp_retransmit_skb (node-wide, but it runs only on retransmits)
 *   resets           tcp:tcp_send_reset / tcp:tcp_receive_reset, as in every mode
 * Flow records (only with a collector) need the open time and direction per socket: the active
 * side creates its socket storage at the SYN, the passive side's comes from the listener's
 * (pl_tcp_socks is BPF_F_CLONE: the kernel copies it into each child the listener makes, and the
 * listener's open_ns is set by the handshake's last ACK just before). Without a collector nothing
 * is kept per socket. A socket that predates the agent closes like any other (its FIN passes
 * here), with no open time or direction. */
#ifndef PODLENS_TCP_PKT_BPF_H
#define PODLENS_TCP_PKT_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tcp.h"
#include "traffic.h"

/* Per cgroup: the counters of the other hooks (sock_ops, tracepoints: retransmits, resets) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PL_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct pl_tcp_counters);
} pl_tcp SEC(".maps");

/* Per-socket open time, in the socket's own storage (freed with the socket: nothing to delete,
 * nothing to evict, and no lock on the way as an LRU hash would take). */
struct pl_tcp_sock_state {
	__u64 open_ns;
	__u32 connect_lat_us;
	__u16 lport;        /* at ESTABLISHED: by the time of CLOSE the port is released (0) */
	__u8 direction;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct pl_tcp_sock_state);
} pl_tcp_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);   /* resized by the agent before load */
} pl_tcp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pl_tcp_drops SEC(".maps");

#define PL_TCP_WAKE_BYTES (64 * 1024)
#define PL_TH_FIN 0x01
#define PL_TH_SYN 0x02
#define PL_TH_RST 0x04
#define PL_TH_ACK 0x10

static __always_inline struct pl_tcp_counters *tcp_counters(__u64 cgid)
{
	struct pl_tcp_counters *c, zero = {};

	c = bpf_map_lookup_elem(&pl_tcp, &cgid);
	if (c)
		return c;
	bpf_map_update_elem(&pl_tcp, &cgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&pl_tcp, &cgid);
}

/* One flow record. acked: bytes sent and acknowledged (the caller's figure: at a FIN it includes
 * what is still in flight); rx_extra: received bytes the socket has not processed yet. */
static __always_inline void tcp_emit_close(const struct sock *sk, __u64 cgid, struct pl_tcp_sock_state *st,
					   __u32 srtt_us, __u64 now, __u64 acked, __u32 rx_extra)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	struct pl_tcp_flow_event *e;
	__u16 family;

	e = bpf_ringbuf_reserve(&pl_tcp_events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *d = bpf_map_lookup_elem(&pl_tcp_drops, &zero);

		if (d)
			(*d)++;
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->cgroup_id = cgid;
	e->duration_us = st && st->open_ns && now > st->open_ns ? (now - st->open_ns) / 1000 : 0;
	e->connect_lat_us = st ? st->connect_lat_us : 0;
	e->direction = st ? st->direction : 0;
	e->bytes_acked = acked;
	e->bytes_received = BPF_CORE_READ(tp, bytes_received) + rx_extra;
	e->srtt_us = srtt_us;
	e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->family = family;
	/* the tracepoint fires in inet_sk_state_store(), after tcp_set_state() released the port */
	e->lport = st && st->lport ? st->lport : BPF_CORE_READ(sk, __sk_common.skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Sized reads, not BPF_CORE_READ_INTO(e->laddr, ...): that macro copies sizeof(*dst) bytes,
	 * which for a __u8[16] destination is one byte, and every address arrived as its first octet.
	 * An AF_INET6 socket reached over IPv4 (a dual-stack listener, or connect() to a mapped
	 * address) carries ::ffff:a.b.c.d here; the agent reports that as IPv4 (agent/pipeline/flows.c). */
	if (family == 2) {
		bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == 10) {
		bpf_core_read(e->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&pl_tcp_events, BPF_RB_AVAIL_DATA) >= PL_TCP_WAKE_BYTES ?
				      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* The socket's close: counted, and its flow record. All it sent (acknowledged, or in flight
 * behind its FIN: write_seq counts the FIN, once sent) and all it received, rx_extra being the
 * payload of the ingress packet not yet processed. */
static __always_inline void tcp_pkt_close(struct tcp_sock *tp, const struct pl_wl *w, struct pl_tcp_counters *c,
					  __u32 rx_extra)
{
	__u32 srtt = tp->srtt_us >> 3;
	__u64 acked;

	c->closes++;
	c->srtt_sum_us += srtt;
	c->srtt_count++;
	if (!(w->flags & PL_WL_FLOWS))
		return;
	acked = tp->bytes_acked;
	if (tp->write_seq != tp->snd_una)
		acked += tp->write_seq - tp->snd_una - 1;
	tcp_emit_close((struct sock *)tp, w->cgroup_id, bpf_sk_storage_get(&pl_tcp_socks, tp, 0, 0), srtt,
		       bpf_ktime_get_ns(), acked, rx_extra);
}

/* Egress SYN, FIN or RST of a full socket. seq: the segment's sequence number (host order).
 * tp comes from bpf_skc_to_tcp_sock (a BTF pointer): its fields are plain loads (CO-RE
 * relocated), not bpf_probe_read_kernel calls. */
static __noinline void tcp_pkt_out(struct __sk_buff *skb, __u32 fl, __u32 seq, const struct pl_wl *w,
				   struct pl_tcp_counters *c)
{
	struct bpf_sock *bsk = skb->sk;
	struct pl_tcp_sock_state *st;
	struct tcp_sock *tp;

	if ((fl & PL_TH_SYN) && (fl & PL_TH_ACK))
		return;   /* a listener's SYN-ACK */
	if (!bsk)
		return;
	/* a FIN closes here only when the peer's came first (LAST_ACK); else at the peer's FIN */
	if (!(fl & (PL_TH_SYN | PL_TH_RST)) && bsk->state != BPF_TCP_LAST_ACK)
		return;
	tp = bpf_skc_to_tcp_sock(bsk);
	if (!tp)
		return;   /* a timewait socket's */
	/* a retransmission: TCP advances snd_nxt only after the first transmission left */
	if (!(fl & PL_TH_RST) && tp->snd_nxt != seq)
		return;
	if (!(fl & PL_TH_SYN)) {
		tcp_pkt_close(tp, w, c, 0);
		return;
	}
	c->active_opens++;
	if (w->flags & PL_WL_FLOWS) {
		st = bpf_sk_storage_get(&pl_tcp_socks, tp, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (st) {
			st->open_ns = bpf_ktime_get_ns();
			st->connect_lat_us = 0;
			st->lport = 0;
			st->direction = TCP_DIR_ACTIVE;
		}
	}
}

/* Ingress SYN, FIN or RST of a socket of the workload: the SYN-ACK completing an active open, an
 * RST refusing it, the peer's FIN after ours, an RST. payload: the packet's TCP payload bytes. */
static __noinline void tcp_pkt_in(struct __sk_buff *skb, __u32 fl, const struct pl_wl *w, struct pl_tcp_counters *c,
				  __u32 payload)
{
	struct bpf_sock *bsk = skb->sk;
	struct pl_tcp_sock_state *st;
	struct tcp_sock *tp;
	__u32 state;
	__u64 lat, now, sent;

	if (!bsk)
		return;
	state = bsk->state;
	if (state == BPF_TCP_SYN_SENT) {
		if ((fl & (PL_TH_SYN | PL_TH_ACK)) != (PL_TH_SYN | PL_TH_ACK) && !(fl & PL_TH_RST))
			return;   /* a simultaneous open's SYN */
		if (fl & PL_TH_RST) {
			c->connect_failures++;
			return;
		}
		tp = bpf_skc_to_tcp_sock(bsk);
		if (!tp)
			return;
		now = bpf_ktime_get_ns();
		sent = tp->tcp_wstamp_ns;
		if (!sent || sent > now)
			return;
		lat = (now - sent) / 1000;
		c->connect_lat_sum_us += lat;
		c->connect_lat_count++;
		if (w->flags & PL_WL_FLOWS) {
			st = bpf_sk_storage_get(&pl_tcp_socks, tp, 0, 0);
			if (st) {
				st->connect_lat_us = lat;
				st->lport = tp->inet_conn.icsk_inet.sk.__sk_common.skc_num;
			}
		}
		return;
	}
	/* our FIN went first (FIN_WAIT*): the peer's ends it, or an RST; else only an RST ends an
	 * established connection here (after the peer's FIN, ours closes it: LAST_ACK, egress) */
	if (state == BPF_TCP_FIN_WAIT1 || state == BPF_TCP_FIN_WAIT2) {
		if (!(fl & (PL_TH_FIN | PL_TH_RST)))
			return;
	} else if (!(fl & PL_TH_RST) || (state != BPF_TCP_ESTABLISHED && state != BPF_TCP_CLOSE_WAIT)) {
		return;
	}
	tp = bpf_skc_to_tcp_sock(bsk);
	if (tp)
		tcp_pkt_close(tp, w, c, fl & PL_TH_RST ? 0 : payload);
}

/* An ingress ACK reached a listener: a handshake completes (the child is made right after). */
static __noinline void tcp_pkt_passive(struct __sk_buff *skb, const struct pl_wl *w, struct pl_tcp_counters *c)
{
	struct pl_tcp_sock_state *st;
	struct bpf_sock *bsk;

	c->passive_opens++;
	if (!(w->flags & PL_WL_FLOWS))
		return;
	bsk = skb->sk;
	if (!bsk)
		return;
	/* the listener's storage, copied into the child (BPF_F_CLONE) */
	st = bpf_sk_storage_get(&pl_tcp_socks, bsk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st) {
		st->open_ns = bpf_ktime_get_ns();
		st->connect_lat_us = 0;
		st->lport = 0;
		st->direction = TCP_DIR_PASSIVE;
	}
}

/* Per packet of a workload whose attachment asks for TCP health (wl->flags & PL_WL_TCP): the flags
 * byte, and the rare packets that carry an event. Direct packet access: skb->data is the IP
 * header on both hooks and the TCP header is linear (traffic.bpf.c). */
static __always_inline void tcp_pkt(struct __sk_buff *skb, bool egress, const struct pl_wl *w,
				    struct pl_tcp_counters *c)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *ip = data, *th;
	struct bpf_sock *bsk;
	__u32 fl;

	if (skb->protocol == bpf_htons(0x0800)) {
		if ((void *)(ip + 20) > end || ip[9] != 6)
			return;
		th = data + ((ip[0] & 0xf) << 2);
	} else if (skb->protocol == bpf_htons(0x86DD)) {
		if ((void *)(ip + 40) > end || ip[6] != 6)
			return;
		th = data + 40;
	} else {
		return;
	}
	if ((void *)(th + 20) > end)
		return;
	fl = th[13];
	if (!(fl & (PL_TH_SYN | PL_TH_FIN | PL_TH_RST))) {
		if (egress)
			return;
		/* two context loads per ingress packet: only a listener's ACK is an event */
		bsk = skb->sk;
		if (bsk && bsk->state == BPF_TCP_LISTEN)
			tcp_pkt_passive(skb, w, c);
		return;
	}
	if (egress)
		tcp_pkt_out(skb, fl, bpf_ntohl(*(__u32 *)(th + 4)), w, c);
	else
		tcp_pkt_in(skb, fl, w, c, skb->len - (__u32)((void *)th - data) - ((th[12] >> 4) << 2));
}

#endif
