/* proc unit: tp_btf on sched:sched_process_exec and sched:sched_process_exit. */
#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

#include "agent/probes/internal.h"
#include "bpf/proc.skel.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct probes *p = ctx;

	if (len < sizeof(struct pl_proc_event))
		return 0;
	p->st[PROBE_PROC].events++;
	if (p->o.h.on_proc)
		p->o.h.on_proc(p->o.h.ctx, data);
	return 0;
}

int proc_unit__start(struct probes *p)
{
	struct podlens_proc *s;
	int err;

	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = p->o.btf_path);

	s = podlens_proc__open_opts(&oo);
	if (!s) {
		err = -errno;
		probes__fail(p, PROBE_PROC, "open", err);
		return err;
	}
	s->rodata->pl_default_mode = p->o.default_monitored ? PL_CG_MONITORED : PL_CG_IGNORED;
	s->rodata->pl_wakeup_bytes = p->o.ringbuf_bytes / 16;
	err = bpf_map__reuse_fd(s->maps.pl_cg_mode, p->mode_fd);
	if (!err)
		err = bpf_map__set_max_entries(s->maps.pl_proc_events, p->o.ringbuf_bytes);
	if (!err)
		err = podlens_proc__load(s);
	if (err) {
		probes__fail(p, PROBE_PROC, "load tp_btf programs", err);
		goto fail;
	}
	err = podlens_proc__attach(s);
	if (err) {
		probes__fail(p, PROBE_PROC, "attach tp_btf sched tracepoints", err);
		goto fail;
	}
	err = probes__add_ringbuf(p, s->maps.pl_proc_events, on_event);
	if (err) {
		probes__fail(p, PROBE_PROC, "ring buffer", err);
		goto fail;
	}
	p->proc = s;
	p->obj[PROBE_PROC] = s->obj;
	p->counters_fd[PROBE_PROC] = bpf_map__fd(s->maps.pl_proc);
	p->drops_fd[PROBE_PROC] = bpf_map__fd(s->maps.pl_proc_drops);
	p->st[PROBE_PROC].up = true;
	return 0;
fail:
	podlens_proc__destroy(s);
	return err;
}

void proc_unit__stop(struct probes *p)
{
	podlens_proc__destroy(p->proc);
	p->proc = NULL;
	p->obj[PROBE_PROC] = NULL;
	p->counters_fd[PROBE_PROC] = -1;
	p->drops_fd[PROBE_PROC] = -1;
}

struct read_ctx {
	proc_fn fn;
	void *ctx;
};

static void one(void *ctx, uint64_t key, const uint64_t *sum)
{
	struct read_ctx *r = ctx;
	struct pl_proc_counters c = { sum[0], sum[1] };

	r->fn(r->ctx, key, &c);
}

int probes__read_proc(struct probes *p, proc_fn fn, void *ctx)
{
	struct read_ctx r = { fn, ctx };

	if (!p->proc)
		return 0;
	return probes__read_percpu_u64s(p, bpf_map__fd(p->proc->maps.pl_proc),
					sizeof(struct pl_proc_counters) / sizeof(uint64_t), one, &r);
}
