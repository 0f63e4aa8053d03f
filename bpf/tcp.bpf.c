// SPDX-License-Identifier: GPL-2.0
/* tcp: opens, connect latency, closes, retransmits and resets per socket cgroup.
 *
 * Three ways to the same counters and close events, chosen by the agent at load (agent/probes/tcp.c,
 * --tcp-hooks):
 *   - packets (the default per workload): the packet programs of each monitored workload look at
 *     the TCP flags and count the rare packets that open or close a connection (tcp_pkt.bpf.h);
 *     nothing of this file runs but the retransmit and reset tracepoints.
 *   - sock_ops, attached where the packet programs are (pl_tcp_sockops on each monitored workload,
 *     pl_tcp_tree_ops on the traffic subtree): only sockets of monitored cgroups run it. Open
 *     callbacks (connect, active/passive established) need no flag; each such
 *     socket then asks for its state and retransmit callbacks (bpf_sock_ops_cb_flags_set), so a
 *     socket the agent does not watch never calls us. Sockets that existed before the attachment
 *     get the same flags from the iterator pl_tcp_enrol (bpf_setsockopt TCP_BPF_SOCK_OPS_CB_FLAGS),
 *     so their closes count too.
 *   - node-wide tracepoints (pl_tcp_state, pl_tcp_retrans) where sock_ops or the iterator is
 *     refused: every TCP state change of the node runs them.
 * Resets stay on tracepoints either way: rare, and the socket answering a stray packet is often
 * not a full socket of any cgroup.
 *
 * Everything is attributed to the cgroup of the socket (sock_cgroup_id), never the current task:
 * a server's SYN_RECV -> ESTABLISHED runs in softirq, often in the client's task on loopback or
 * across a veth pair. tp_btf gives typed `struct sock *` arguments, needs no tracefs mount
 * (containers), and costs less than a classic tracepoint. */
#include "common.bpf.h"
#include "core_fixes.bpf.h"
#include "tcp.h"
#include "traffic.bpf.h"   /* and tcp_pkt.bpf.h: the maps, shared with the packet programs */

char LICENSE[] SEC("license") = "GPL";

#define AF_INET  2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOL_TCP 6

/* Set by the agent before load: closed-connection records are only consumed by the export (flows of
 * the podlens.v1 batch), so without a collector neither they nor the passive side's open time are
 * produced. The verifier drops the dead branches. */
const volatile __u8 pl_flow_events = 1;

/* A full socket (not a request or timewait mini-socket), whose sk_cgrp_data is valid. */
static __always_inline bool full_sock(const struct sock *sk)
{
	int state = BPF_CORE_READ(sk, __sk_common.skc_state);

	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
}

static __always_inline void emit_close(const struct sock *sk, u64 cgid, struct pl_tcp_sock_state *st,
				       u32 srtt_us, u64 now)
{
	tcp_emit_close(sk, cgid, st, srtt_us, now, BPF_CORE_READ((const struct tcp_sock *)sk, bytes_acked), 0);
}

static __always_inline void on_active_open(struct sock *sk, struct pl_tcp_counters *c)
{
	struct pl_tcp_sock_state *st;

	c->active_opens++;
	st = bpf_sk_storage_get(&pl_tcp_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st) {
		st->open_ns = bpf_ktime_get_ns();
		st->connect_lat_us = 0;
		st->lport = 0;
		st->direction = TCP_DIR_ACTIVE;
	}
}

static __always_inline void on_active_established(struct sock *sk, struct pl_tcp_counters *c)
{
	struct pl_tcp_sock_state *st = bpf_sk_storage_get(&pl_tcp_socks, sk, 0, 0);
	u64 lat;

	if (!st || !st->open_ns)
		return;   /* connect() started before we watched it: no latency */
	lat = (bpf_ktime_get_ns() - st->open_ns) / 1000;
	st->connect_lat_us = lat;
	st->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->connect_lat_sum_us += lat;
	c->connect_lat_count++;
}

static __always_inline void on_passive_established(struct sock *sk, struct pl_tcp_counters *c)
{
	struct pl_tcp_sock_state *st;

	c->passive_opens++;
	if (!pl_flow_events)
		return;
	st = bpf_sk_storage_get(&pl_tcp_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st) {
		st->open_ns = bpf_ktime_get_ns();
		st->connect_lat_us = 0;
		st->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		st->direction = TCP_DIR_PASSIVE;
	}
}

/* newstate == TCP_CLOSE: count it; true when an established connection closed (a flow record) */
static __always_inline bool count_close(struct pl_tcp_counters *c, int oldstate, u32 srtt_us)
{
	switch (oldstate) {
	case TCP_SYN_SENT:
		c->connect_failures++;
		return false;
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_LAST_ACK:
	case TCP_CLOSING:
		c->closes++;
		c->srtt_sum_us += srtt_us;
		c->srtt_count++;
		return true;
	}
	return false;   /* LISTEN or SYN_RECV -> CLOSE: no connection */
}

static __always_inline void on_close(struct sock *sk, u64 cgid, struct pl_tcp_counters *c, int oldstate)
{
	u32 srtt = 0;

	if (oldstate != TCP_SYN_SENT)   /* read only where it is counted, as before */
		srtt = BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us) >> 3;
	if (count_close(c, oldstate, srtt) && pl_flow_events)
		emit_close(sk, cgid, bpf_sk_storage_get(&pl_tcp_socks, sk, 0, 0), srtt, bpf_ktime_get_ns());
}

/* Fallback only. Runs for every TCP state change on the node, monitored or not: the transitions
 * that count nothing (FIN_WAIT*, CLOSE_WAIT, LAST_ACK, LISTEN -> SYN_RECV, ...; half of a
 * connection's ten) leave before any lookup, and the clock is read only where a time is kept. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(pl_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct sock *s = (struct sock *)sk;
	struct pl_tcp_counters *c;
	u64 cgid;

	if (newstate == TCP_ESTABLISHED) {
		if (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV)
			return 0;
	} else if (newstate != TCP_SYN_SENT && newstate != TCP_CLOSE) {
		return 0;
	}
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	cgid = sock_cgroup_id(sk);
	if (!cgid || !cg_monitored(cgid))
		return 0;
	c = tcp_counters(cgid);
	if (!c)
		return 0;

	if (newstate == TCP_SYN_SENT)
		on_active_open(s, c);
	else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT)
		on_active_established(s, c);
	else if (newstate == TCP_ESTABLISHED)
		on_passive_established(s, c);
	else
		on_close(s, cgid, c, oldstate);
	return 0;
}

/* Callbacks a watched socket asks for: state changes (closes) and retransmits. RTT_CB is not
 * needed: the smoothed RTT is read once, at close. Other programs' flags are kept. */
#define PL_SOCK_CB_FLAGS (BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_RETRANS_CB_FLAG)

/* Sockets that already have the callbacks (per-CPU counter, read by the agent for its log). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} pl_tcp_enrolled SEC(".maps");

/* The callbacks a sock_ops program answers; the rest (timeouts, window, ECN, header options, and
 * the state changes other than to CLOSE) leave here, before anything is looked up. A watched
 * server connection runs the program 8 times: TIMEOUT_INIT, RWND_INIT and NEEDS_ECN for its request
 * socket and PASSIVE_ESTABLISHED (no flag asks for these: every socket of the cgroup runs them), then
 * STATE_CB for SYN_RECV -> ESTABLISHED (tcp_init_transfer() runs the established callback, which
 * sets the flag, just before that state change), -> FIN_WAIT1, -> FIN_WAIT2 and -> CLOSE. Two count. */
static __always_inline bool sockops_wanted(struct bpf_sock_ops *skops, u32 op)
{
	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_RETRANS_CB:
		return true;
	case BPF_SOCK_OPS_STATE_CB:
		return skops->args[1] == TCP_CLOSE;
	}
	return false;
}

/* cgid: the workload the program is attached to (pl_tcp_sockops), or 0: the socket's own
 * cgroup, if monitored. The socket itself (a helper call, and the cgroup read through three
 * pointers) is only looked at where the counters need more than the context has. */
static __always_inline void sockops(struct bpf_sock_ops *skops, u32 op, u64 cgid)
{
	struct pl_tcp_counters *c;
	struct tcp_sock *tp = NULL;
	struct bpf_sock *bsk;
	struct sock *sk;

	if (!cgid || op == BPF_SOCK_OPS_TCP_CONNECT_CB || op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	    pl_flow_events) {
		bsk = skops->sk;
		if (!bsk)
			return;
		tp = bpf_skc_to_tcp_sock(bsk);
		if (!tp)
			return;
	}
	sk = (struct sock *)tp;
	if (!cgid) {
		cgid = sock_cgroup_id(sk);
		if (!cgid || !cg_monitored(cgid))
			return;
	}
	c = tcp_counters(cgid);
	if (!c)
		return;
	/* sk is set for the active side's callbacks; the tests on it are for the verifier, which
	 * does not follow that through the condition above */
	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | PL_SOCK_CB_FLAGS);
		if (sk)
			on_active_open(sk, c);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		if (sk)
			on_active_established(sk, c);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | PL_SOCK_CB_FLAGS);
		if (sk)
			on_passive_established(sk, c);
		else
			c->passive_opens++;   /* no flow records: nothing to keep per socket */
		break;
	case BPF_SOCK_OPS_RETRANS_CB:
		/* one per retransmitted skb that left, as the tracepoint counts (args[2]: result) */
		if (!skops->args[2])
			c->retransmits++;
		break;
	case BPF_SOCK_OPS_STATE_CB:
		/* called before tcp_set_state() changes anything: the port is still bound. The
		 * smoothed RTT comes from the context (a load, no helper). */
		if (count_close(c, skops->args[0], skops->srtt_us >> 3) && pl_flow_events && sk)
			emit_close(sk, cgid, bpf_sk_storage_get(&pl_tcp_socks, sk, 0, 0), skops->srtt_us >> 3,
				   bpf_ktime_get_ns());
		break;
	}
}

/* Attached to a subtree (the traffic attach point): runs for its sockets, counted per socket cgroup
 * when monitored. */
SEC("sockops")
int pl_tcp_tree_ops(struct bpf_sock_ops *skops)
{
	u32 op = skops->op;

	if (sockops_wanted(skops, op))
		sockops(skops, op, 0);
	return 1;
}

/* Attached to each monitored workload's cgroup (traffic attach mode "workloads"), next to the
 * packet programs: the workload comes from the attachment's storage (pl_wl, created by the traffic
 * unit and shared), as the packets' counters do, so the counted callbacks (an open, a close) make
 * no helper call but the flag setting, read nothing through the socket and look up no monitored-
 * cgroup map. Until the agent has written the storage (microseconds after attaching), the socket's
 * cgroup is used, as in pl_tcp_tree_ops. */
SEC("sockops")
int pl_tcp_sockops(struct bpf_sock_ops *skops)
{
	u32 op = skops->op;
	struct pl_wl *w;

	if (!sockops_wanted(skops, op))
		return 1;
	w = bpf_get_local_storage(&pl_wl, 0);
	sockops(skops, op, w->cgroup_id);
	return 1;
}

/* Sockets of monitored cgroups that existed before the sock_ops program was attached: no open
 * callback will ever set their flags, so this iterator (run by the agent after attaching) does.
 * Listeners are skipped (their connections get flags when established), as are sockets that have
 * the flags already. Only the flags are set: such a socket's close reports no open time or
 * direction, as a socket opened before the agent always did. */
/* Feature probe, set by the agent: the port of a listener of its own. The iterator sets that
 * socket's flags to what they are and stores the result: loading succeeds on kernels whose
 * bpf_setsockopt does not know TCP_BPF_SOCK_OPS_CB_FLAGS (older ones), only the call fails. */
__u16 pl_enrol_probe_port = 0;
int pl_enrol_probe_rc = 0;

SEC("iter/tcp")
int pl_tcp_enrol(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	int state, flags = 0;
	u64 cgid;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;   /* timewait or request socket */
	if (pl_enrol_probe_port && BPF_CORE_READ(skc, skc_num) == pl_enrol_probe_port) {
		pl_enrol_probe_rc = bpf_getsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
		if (!pl_enrol_probe_rc)
			pl_enrol_probe_rc = bpf_setsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags,
							   sizeof(flags));
		return 0;
	}
	state = BPF_CORE_READ(skc, skc_state);
	if (state == TCP_LISTEN || state == TCP_CLOSE)
		return 0;
	cgid = sock_cgroup_id((struct sock *)tp);
	if (!cgid || !cg_monitored(cgid))
		return 0;
	if (bpf_getsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags)))
		return 0;
	if ((flags & PL_SOCK_CB_FLAGS) == PL_SOCK_CB_FLAGS)
		return 0;
	flags |= PL_SOCK_CB_FLAGS;
	if (!bpf_setsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags))) {
		u32 zero = 0;
		u64 *n = bpf_map_lookup_elem(&pl_tcp_enrolled, &zero);

		if (n)
			(*n)++;
	}
	return 0;
}

/* Counters of a full socket's cgroup when it is monitored, else NULL. sk is NULL for a reset
 * answering a packet no socket owns, and may be a request or timewait mini-socket. */
static __always_inline struct pl_tcp_counters *sock_counters(const struct sock *sk)
{
	u64 cgid;

	if (!sk || !full_sock(sk))
		return NULL;
	cgid = sock_cgroup_id(sk);
	if (!cgid || !cg_monitored(cgid))
		return NULL;
	return tcp_counters(cgid);
}

/* Fallback only (sock_ops counts retransmits of the sockets it watches). */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(pl_tcp_retrans, const struct sock *sk, const struct sk_buff *skb)
{
	struct pl_tcp_counters *c = sock_counters(sk);

	if (c)
		c->retransmits++;
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(pl_tcp_rst_out, const struct sock *sk, const struct sk_buff *skb)
{
	struct pl_tcp_counters *c = sock_counters(sk);

	if (c)
		c->resets_sent++;
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(pl_tcp_rst_in, struct sock *sk)
{
	struct pl_tcp_counters *c = sock_counters(sk);

	if (c)
		c->resets_received++;
	return 0;
}
