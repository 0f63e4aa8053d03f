/* traffic unit: cgroup_skb ingress/egress, either once on the configured cgroup (the cgroup2 root by
 * default) or per workload (mode "workloads", workloads.c). */
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/probes/internal.h"
#include "bpf/traffic.skel.h"

int traffic_unit__start(struct probes *p)
{
	struct podlens_traffic *s;
	char path[512];
	int cgfd, err;

	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = p->o.btf_path);

	s = podlens_traffic__open_opts(&oo);
	if (!s) {
		err = -errno;
		probes__fail(p, PROBE_TRAFFIC, "open", err);
		return err;
	}
	s->rodata->pl_default_mode = p->o.default_monitored ? PL_CG_MONITORED : PL_CG_IGNORED;
	p->wl_mode = p->o.traffic_attach && !strcmp(p->o.traffic_attach, "workloads");
	bpf_program__set_autoload(s->progs.pl_traffic_in, !p->wl_mode);
	bpf_program__set_autoload(s->progs.pl_traffic_out, !p->wl_mode);
	bpf_program__set_autoload(s->progs.pl_traffic_wl_in, p->wl_mode);
	bpf_program__set_autoload(s->progs.pl_traffic_wl_out, p->wl_mode);
	/* creates the maps shared by the units' workload programs (agent/probes/wl_shared.h) */
	if (p->wl_mode)
		err = bpf_map__set_max_entries(s->maps.pl_tcp_events, p->o.ringbuf_bytes);
	else
		err = wl_shared__reuse(NULL, s->obj);
	if (!err)
		err = bpf_map__reuse_fd(s->maps.pl_cg_mode, p->mode_fd);
	if (!err)
		err = podlens_traffic__load(s);
	if (err) {
		probes__fail(p, PROBE_TRAFFIC, "load cgroup_skb programs", err);
		goto fail;
	}
	if (p->wl_mode) {
		/* attached per workload as their decisions arrive (probes__wl_attach) */
		p->traffic = s;
		p->obj[PROBE_TRAFFIC] = s->obj;
		p->counters_fd[PROBE_TRAFFIC] = bpf_map__fd(s->maps.pl_traffic);
		p->st[PROBE_TRAFFIC].up = true;
		return 0;
	}
	snprintf(path, sizeof(path), "%s%s", p->o.cgroup2_mount,
		 p->o.traffic_attach && strcmp(p->o.traffic_attach, "/") ? p->o.traffic_attach : "");
	cgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		err = -errno;
		probes__fail(p, PROBE_TRAFFIC, path, err);
		goto fail;
	}
	s->links.pl_traffic_in = bpf_program__attach_cgroup(s->progs.pl_traffic_in, cgfd);
	err = s->links.pl_traffic_in ? 0 : -errno;
	if (!err) {
		s->links.pl_traffic_out = bpf_program__attach_cgroup(s->progs.pl_traffic_out, cgfd);
		err = s->links.pl_traffic_out ? 0 : -errno;
	}
	close(cgfd);
	if (err) {
		probes__fail(p, PROBE_TRAFFIC, "attach cgroup_skb", err);
		goto fail;
	}
	p->traffic = s;
	p->obj[PROBE_TRAFFIC] = s->obj;
	p->counters_fd[PROBE_TRAFFIC] = bpf_map__fd(s->maps.pl_traffic);
	p->st[PROBE_TRAFFIC].up = true;
	return 0;
fail:
	podlens_traffic__destroy(s);
	return err;
}

void traffic_unit__stop(struct probes *p)
{
	wl__free(p);                             /* per-workload links */
	podlens_traffic__destroy(p->traffic);   /* NULL-safe; detaches the links */
	p->traffic = NULL;
	p->obj[PROBE_TRAFFIC] = NULL;
	p->counters_fd[PROBE_TRAFFIC] = -1;
}

struct read_ctx {
	traffic_fn fn;
	void *ctx;
	struct probes *p;
};

static void one(void *ctx, uint64_t key, const uint64_t *sum)
{
	struct read_ctx *r = ctx;
	struct pl_traffic_counters c = { sum[0], sum[1], sum[2], sum[3] };

	r->fn(r->ctx, key, &c);
}

int probes__read_traffic(struct probes *p, traffic_fn fn, void *ctx)
{
	struct read_ctx r = { fn, ctx, p };

	if (!p->traffic)
		return 0;
	if (p->wl_mode)
		return wl__read(p, fn, ctx);
	return probes__read_percpu_u64s(p, bpf_map__fd(p->traffic->maps.pl_traffic),
					sizeof(struct pl_traffic_counters) / sizeof(uint64_t), one, &r);
}
