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

static __always_inline bool cg_monitored(u64 cgid)
{
	u8 *mode = bpf_map_lookup_elem(&pl_cg_mode, &cgid);

	return (mode ? *mode : pl_default_mode) == PL_CG_MONITORED;
}

#endif
