// SPDX-License-Identifier: GPL-2.0
/* proc: exec and exit per cgroup. Both run in the task's own context, so the current task's
 * cgroup is the right owner here (unlike the socket units). */
#include "common.bpf.h"
#include "proc.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PL_MAX_CGROUPS);
	__type(key, u64);
	__type(value, struct pl_proc_counters);
} pl_proc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} pl_proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} pl_proc_drops SEC(".maps");

static __always_inline struct pl_proc_counters *counters(u64 cgid)
{
	struct pl_proc_counters *c, zero = {};

	c = bpf_map_lookup_elem(&pl_proc, &cgid);
	if (c)
		return c;
	bpf_map_update_elem(&pl_proc, &cgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&pl_proc, &cgid);
}

static __always_inline struct pl_proc_event *reserve(void)
{
	struct pl_proc_event *e = bpf_ringbuf_reserve(&pl_proc_events, sizeof(*e), 0);

	if (!e) {
		u32 zero = 0;
		u64 *d = bpf_map_lookup_elem(&pl_proc_drops, &zero);

		if (d)
			(*d)++;
	}
	return e;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pl_proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	u64 cgid = bpf_get_current_cgroup_id();
	struct pl_proc_counters *c;
	struct pl_proc_event *e;

	if (!cg_monitored(cgid) || !(c = counters(cgid)))
		return 0;
	c->execs++;
	e = reserve();
	if (!e)
		return 0;
	e->cgroup_id = cgid;
	e->type = PROC_EXEC;
	e->pid = BPF_CORE_READ(p, tgid);
	e->exit_code = 0;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename)) < 0)
		e->filename[0] = '\0';
	bpf_ringbuf_submit(e, rb_submit_flags(&pl_proc_events));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pl_proc_exit, struct task_struct *p)
{
	u64 cgid = bpf_get_current_cgroup_id();
	struct pl_proc_counters *c;
	struct pl_proc_event *e;

	/* one event per process: when its thread group leader exits */
	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;
	if (!cg_monitored(cgid) || !(c = counters(cgid)))
		return 0;
	c->exits++;
	e = reserve();
	if (!e)
		return 0;
	e->cgroup_id = cgid;
	e->type = PROC_EXIT;
	e->pid = BPF_CORE_READ(p, tgid);
	e->exit_code = BPF_CORE_READ(p, exit_code);
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->filename[0] = '\0';
	bpf_ringbuf_submit(e, rb_submit_flags(&pl_proc_events));
	return 0;
}
