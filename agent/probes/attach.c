/* The attach policy's executor (agent/probes/attach.h): answers the policy's view from the real
 * state and carries out its actions; the decision itself is in attach_policy.c. */
#include "agent/probes/attach.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cgroupfs.h"
#include "agent/probes/l7.h"
#include "agent/probes/probes.h"
#include "bpf/common.h"
#include "cri/meta_cache.h"
#include "lib/idmap.h"
#include "lib/log.h"

/* ================================================================== the executor */

struct attacher {
	struct attach_policy policy;
	struct probes *probes;
	struct l7_probe *l7;
	struct cgpaths *paths;
	struct meta_cache *meta;
	char cgroup2[256];
	struct idmap l7_cgroups;     /* subtree mode: cgroup IDs with the HTTP programs attached */
	uint64_t failures;           /* workloads left without packet programs */
	struct attach_view view;
};

static void v_meta(void *ctx, uint64_t cgid, struct attach_meta *out)
{
	struct attacher *at = ctx;
	const struct workload_meta *m = at->meta ? meta_cache__peek(at->meta, cgid) : NULL;

	memset(out, 0, sizeof(*out));
	if (!m)
		return;
	out->kind = m->kind == WL_CONTAINER ? ATTACH_CONTAINER : m->kind == WL_POD ? ATTACH_POD : ATTACH_HOST;
	out->monitored = m->decision.monitored;
	out->l7 = m->decision.l7;
}

static const char *v_path(void *ctx, uint64_t cgid)
{
	return cgpaths__lookup(((struct attacher *)ctx)->paths, cgid);
}

static uint64_t v_id_at(void *ctx, const char *path)
{
	return cgroupfs__id_at(((struct attacher *)ctx)->cgroup2, path);
}

static bool v_is_leaf(void *ctx, const char *path)
{
	struct attacher *at = ctx;
	char full[1024];
	struct dirent *d;
	bool leaf = true;
	DIR *dir;

	snprintf(full, sizeof(full), "%s%s", at->cgroup2, path);
	dir = opendir(full);
	if (!dir)
		return false;
	while (leaf && (d = readdir(dir)))
		if (d->d_type == DT_DIR && strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			leaf = false;
	closedir(dir);
	return leaf;
}

static bool v_wl_attached(void *ctx, uint64_t cgid, bool *with_l7)
{
	return probes__wl_attached(((struct attacher *)ctx)->probes, cgid, with_l7);
}

static bool v_l7_attached(void *ctx, uint64_t cgid)
{
	return idmap__get(&((struct attacher *)ctx)->l7_cgroups, cgid) != NULL;
}

struct attacher *attacher__new(const struct attacher_opts *o)
{
	struct attacher *at = calloc(1, sizeof(*at));
	struct bpf_program *in, *out;

	if (!at)
		return NULL;
	at->policy = o->policy;
	at->policy.l7_loaded = o->l7 != NULL;
	at->policy.l7_pkt = o->l7 && !l7_probe__pkt_programs(o->l7, &in, &out);
	at->probes = o->probes;
	at->l7 = o->l7;
	at->paths = o->paths;
	at->meta = o->meta;
	snprintf(at->cgroup2, sizeof(at->cgroup2), "%s", o->cgroup2);
	idmap__init(&at->l7_cgroups);
	at->view = (struct attach_view){ at, v_meta, v_path, v_id_at, v_is_leaf, v_wl_attached, v_l7_attached };
	return at;
}

void attacher__free(struct attacher *at)
{
	if (!at)
		return;
	idmap__free(&at->l7_cgroups);
	free(at);
}

bool attacher__workloads(const struct attacher *at)
{
	return at->policy.workloads;
}

uint64_t attacher__failures(const struct attacher *at)
{
	return at ? at->failures : 0;
}

static void run_wl_attach(struct attacher *at, const struct attach_action *a)
{
	struct bpf_program *in = NULL, *out = NULL;
	bool l7 = a->l7 && at->l7 && !l7_probe__pkt_programs(at->l7, &in, &out);
	int err;

	if (!l7)
		in = out = NULL;
	err = probes__wl_attach(at->probes, a->cgid, a->path, in, out);
	if (err == -ENOENT || err == -ESTALE)
		log_debug("workload %s: gone before attach", a->path);
	else if (err) {
		at->failures++;
		log_warn("workload %s: attach packet programs: %s; its traffic is not counted "
			 "(podlens_traffic_attach_failures_total)", a->path, strerror(-err));
	}
	else if (l7)
		log_info("l7: capturing HTTP of %s (and its traffic)", a->path);
	else
		log_info("workload %s: counting traffic%s", a->path, a->again ? " (HTTP capture off)" : "");
}

static void run_l7_attach(struct attacher *at, const struct attach_action *a)
{
	char full[1024];
	int fd, err;

	snprintf(full, sizeof(full), "%s%s", at->cgroup2, a->path);
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("l7: cannot open cgroup %s: %s", full, strerror(errno));
		return;
	}
	err = l7_probe__attach_cgroup(at->l7, a->cgid, fd);
	close(fd);
	if (!err)
		idmap__put(&at->l7_cgroups, a->cgid, at);
	if (err && err != -EEXIST)
		log_warn("l7: attach to %s: %s", a->path, strerror(-err));
	else if (!err)
		log_info("l7: capturing HTTP of %s", a->path);
}

static void run(struct attacher *at, const struct attach_action *a)
{
	switch (a->op) {
	case ATTACH_MODE_SET:
		probes__set_mode(at->probes, a->cgid, a->monitored ? PL_CG_MONITORED : PL_CG_IGNORED);
		break;
	case ATTACH_MODE_CLEAR:
		probes__clear_mode(at->probes, a->cgid);
		break;
	case ATTACH_WL:
		run_wl_attach(at, a);
		break;
	case ATTACH_WL_DETACH:
		probes__wl_detach(at->probes, a->cgid, false);
		log_info("workload %s: detached (not monitored)", a->path);
		break;
	case ATTACH_WL_GONE:
		probes__wl_detach(at->probes, a->cgid, true);
		break;
	case ATTACH_L7:
		run_l7_attach(at, a);
		break;
	case ATTACH_L7_DETACH:
		if (idmap__del(&at->l7_cgroups, a->cgid))
			l7_probe__detach_cgroup(at->l7, a->cgid);
		break;
	}
}

void attacher__apply(struct attacher *at, const struct cg_event *ev, size_t n)
{
	struct attach_action act[ATTACH_MAX_ACTIONS];

	for (size_t i = 0; i < n; i++) {
		size_t k = attach_policy__decide(&at->policy, &at->view, &ev[i], act);

		for (size_t j = 0; j < k; j++)
			run(at, &act[j]);
	}
	/* sockets opened before the new attachments get their TCP callbacks: one pass per batch */
	probes__tcp_enrol(at->probes);
}

/* ================================================================== start order */

static int depth(const char *p)
{
	int d = 0;

	for (; *p; p++)
		d += *p == '/';
	return d;
}

static int by_depth(const void *x, const void *y)
{
	const struct cg_ref *p = x, *q = y;
	int dp = depth(p->path), dq = depth(q->path);

	return dp != dq ? dp - dq : strcmp(p->path, q->path);
}

struct cg_ref *attach__start_order(const struct cgpaths *paths, size_t *n)
{
	size_t pos = 0, cap = paths->byid.len + 1;
	struct cg_ref *v = calloc(cap, sizeof(*v));
	uint64_t id;
	void *path;

	*n = 0;
	if (!v)
		return NULL;
	while (*n < cap && idmap__next(&paths->byid, &pos, &id, &path))
		v[(*n)++] = (struct cg_ref){ id, path };
	qsort(v, *n, sizeof(*v), by_depth);
	return v;
}
