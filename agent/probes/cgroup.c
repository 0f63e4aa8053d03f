/* cgroup unit: tp_btf on cgroup:cgroup_mkdir and cgroup:cgroup_rmdir (cgroup2 hierarchy only). */
#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

#include "agent/probes/internal.h"
#include "bpf/cgroup.skel.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct probes *p = ctx;
	struct pl_cgroup_event e;

	if (len < sizeof(e))
		return 0;
	/* the ring buffer is mapped read-only: terminate the path in a copy */
	memcpy(&e, data, sizeof(e));
	e.path[sizeof(e.path) - 1] = '\0';
	p->st[PROBE_CGROUP].events++;
	if (p->o.h.on_cgroup)
		p->o.h.on_cgroup(p->o.h.ctx, &e);
	return 0;
}

int cgroup_unit__start(struct probes *p)
{
	struct podlens_cgroup *s;
	int err;

	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = p->o.btf_path);

	s = podlens_cgroup__open_opts(&oo);
	if (!s) {
		err = -errno;
		probes__fail(p, PROBE_CGROUP, "open", err);
		return err;
	}
	err = bpf_map__reuse_fd(s->maps.pl_cg_mode, p->mode_fd);
	if (!err)
		err = podlens_cgroup__load(s);
	if (err) {
		probes__fail(p, PROBE_CGROUP, "load tp_btf programs", err);
		goto fail;
	}
	err = podlens_cgroup__attach(s);
	if (err) {
		probes__fail(p, PROBE_CGROUP, "attach tp_btf cgroup tracepoints", err);
		goto fail;
	}
	err = probes__add_ringbuf(p, s->maps.pl_cgroup_events, on_event);
	if (err) {
		probes__fail(p, PROBE_CGROUP, "ring buffer", err);
		goto fail;
	}
	p->cgroup = s;
	p->obj[PROBE_CGROUP] = s->obj;
	p->drops_fd[PROBE_CGROUP] = bpf_map__fd(s->maps.pl_cgroup_drops);
	p->st[PROBE_CGROUP].up = true;
	return 0;
fail:
	podlens_cgroup__destroy(s);
	return err;
}

void cgroup_unit__stop(struct probes *p)
{
	podlens_cgroup__destroy(p->cgroup);
	p->cgroup = NULL;
	p->obj[PROBE_CGROUP] = NULL;
	p->drops_fd[PROBE_CGROUP] = -1;
}
