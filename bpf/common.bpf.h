/* Helpers shared by the BPF units (kernel side only). */
#ifndef PODLENS_COMMON_BPF_H
#define PODLENS_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "common.h"

/* The agent's per-cgroup decision. A cgroup absent from the map gets pl_default_mode: the agent
 * sets it to PL_CG_MONITORED on a plain host (everything is a workload) and decides each pod's cgroup
 * as soon as it appears (cgroup_mkdir), before any process runs in it. Each unit declares its own
 * map of this name; the agent creates one map and reuses its fd in every unit before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PL_MAX_CGROUPS);
	__type(key, u64);
	__type(value, u8);
} pl_cg_mode SEC(".maps");

const volatile __u8 pl_default_mode = PL_CG_MONITORED;

/* Ring buffer wake-ups: waking the agent on every event costs microseconds per event (an irq_work
 * and a task wake-up); events are only needed at the interval. So the consumer is woken only once
 * pl_wakeup_bytes are waiting (the agent also drains every buffer at each interval tick). */
const volatile __u32 pl_wakeup_bytes = 64 * 1024;

static __always_inline u64 rb_submit_flags(void *rb)
{
	return bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= pl_wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									 : BPF_RB_NO_WAKEUP;
}

static __always_inline bool cg_monitored(u64 cgid)
{
	u8 *mode = bpf_map_lookup_elem(&pl_cg_mode, &cgid);

	return (mode ? *mode : pl_default_mode) == PL_CG_MONITORED;
}

#endif
