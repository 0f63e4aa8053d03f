/* CO-RE compatibility: kernel layout differences, one entry per kernel change. No version #ifs. */
#ifndef PODLENS_CORE_FIXES_BPF_H
#define PODLENS_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/* Before 5.15 (commit 8520e224f547 "bpf, cgroups: Fix cgroup v2 fallback on v1/v2 mixed mode"),
 * sock_cgroup_data was a union whose u64 `val` held the cgroup pointer when bit 0 (is_data) was 0.
 * Since then it holds `struct cgroup *cgroup` directly. */
struct sock_cgroup_data___pre515 {
	union {
		struct {
			u8 is_data : 1;
			u8 no_refcnt : 1;
			u8 unused : 6;
			u8 padding;
			u16 prioidx;
			u32 classid;
		};
		u64 val;
	};
};

/* cgroup2 ID of the cgroup a socket was created in (accepted sockets inherit the listener's).
 * This, not bpf_get_current_cgroup_id(), names the owner: TCP state changes and packets are often
 * processed in softirq on behalf of another task (the peer's, across loopback or a veth pair). */
static __always_inline u64 sock_cgroup_id(const struct sock *sk)
{
	struct cgroup *cgrp;

	if (bpf_core_field_exists(sk->sk_cgrp_data.cgroup)) {
		cgrp = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	} else {
		const struct sock_cgroup_data___pre515 *d = (const void *)&sk->sk_cgrp_data;
		u64 v = BPF_CORE_READ(d, val);

		if (v & 1)
			return 0;   /* v1 net_cls/net_prio data in use: no cgroup2 pointer */
		cgrp = (struct cgroup *)(unsigned long)v;
	}
	if (!cgrp)
		return 0;
	return BPF_CORE_READ(cgrp, kn, id);
}

#endif
