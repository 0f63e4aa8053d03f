// SPDX-License-Identifier: GPL-2.0
/* cgroup: mkdir/rmdir on the cgroup2 (default) hierarchy only. In v1+v2 hybrid mode the same
 * tracepoints fire for every v1 hierarchy, whose IDs collide with cgroup2's: the default
 * hierarchy is the one with hierarchy_id 0 (cgrp_dfl_root is set up first). */
#include "common.bpf.h"
#include "cgroup.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} pl_cgroup_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} pl_cgroup_drops SEC(".maps");

static __always_inline int emit(struct cgroup *cgrp, const char *path, u32 op)
{
	struct pl_cgroup_event *e;

	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	e = bpf_ringbuf_reserve(&pl_cgroup_events, sizeof(*e), 0);
	if (!e) {
		u32 zero = 0;
		u64 *d = bpf_map_lookup_elem(&pl_cgroup_drops, &zero);

		if (d)
			(*d)++;
		return 0;
	}
	e->cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	e->op = op;
	e->level = BPF_CORE_READ(cgrp, level);
	if (bpf_probe_read_kernel_str(e->path, sizeof(e->path), path) < 0)
		e->path[0] = '\0';
	bpf_ringbuf_submit(e, 0);   /* immediate: a new container's decision must beat its first process */
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(pl_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, path, CGROUP_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(pl_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, path, CGROUP_RMDIR);
}
