/* Where the packet programs go (cgroup_skb: traffic and HTTP), from the workloads' decisions.
 *
 * Mode "workloads" (--traffic-attach workloads, or auto when host cgroups are selected): each
 * monitored workload's own cgroup gets one program pair, traffic only or traffic + HTTP
 * (probes__wl_attach); nothing else on the node runs a packet program. The workloads are
 *   - pod containers whose decision is monitored (WL_CONTAINER), HTTP when the decision says so;
 *     a pod-shaped container cgroup not resolved yet gets traffic only, at once (its first packets
 *     must count; its record is held until the metadata arrives, and it is detached if the
 *     decision says "not monitored"), never HTTP before the decision allows it;
 *   - non-pod cgroups matching host.cgroups, at leaves (a cgroup with child cgroups contains other
 *     workloads); a leaf that later gets children keeps counting them (a child of an attached
 *     cgroup is never attached itself: its packets would count twice). HTTP when the cgroup or an
 *     ancestor matches --l7-cgroups.
 * A missing metadata entry (evicted, expired) never detaches anything: only a decision or rmdir.
 *
 * Mode "subtree" (a path, "/" by default when every host cgroup is monitored): the traffic unit is
 * attached once there; only HTTP is attached per cgroup (l7_probe__attach_cgroup), to monitored
 * pod containers with HTTP on and to cgroups matching --l7-cgroups (the topmost match). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/probes/l7.h"
#include "cri/cgroup_path.h"
#include "cri/meta_cache.h"
#include "lib/log.h"

/* path or one of its ancestors matches --l7-cgroups (ancestors only when subtree is set) */
static bool l7_wanted(const struct agent *a, const char *path, bool subtree)
{
	char anc[1024];

	snprintf(anc, sizeof(anc), "%s", path);
	for (;;) {
		for (size_t i = 0; i < a->cfg.l7_cgroups.n; i++)
			if (!fnmatch(a->cfg.l7_cgroups.v[i], anc, 0))
				return true;
		char *slash = strrchr(anc, '/');
		if (!subtree || !slash || slash == anc)
			return false;
		*slash = '\0';
	}
}

/* true when an ancestor of path (not path itself) satisfies has(id) */
static bool ancestor_has(struct agent *a, const char *path, bool (*has)(struct agent *a, uint64_t id))
{
	char anc[1024];

	snprintf(anc, sizeof(anc), "%s", path);
	for (;;) {
		char *slash = strrchr(anc, '/');

		if (!slash || slash == anc)
			return false;
		*slash = '\0';
		uint64_t id = cgroupfs__id_at(a->cgroup2, anc);

		if (id && has(a, id))
			return true;
	}
}

static bool has_l7(struct agent *a, uint64_t id)
{
	return idmap__get(&a->l7_cgroups, id) != NULL;
}

static bool has_wl(struct agent *a, uint64_t id)
{
	return probes__wl_attached(a->probes, id, NULL);
}

static bool is_leaf(const char *mount, const char *path)
{
	char full[1024];
	struct dirent *d;
	bool leaf = true;
	DIR *dir;

	snprintf(full, sizeof(full), "%s%s", mount, path);
	dir = opendir(full);
	if (!dir)
		return false;
	while (leaf && (d = readdir(dir)))
		if (d->d_type == DT_DIR && strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			leaf = false;
	closedir(dir);
	return leaf;
}

/* ------------------------------------------------------------------ subtree mode: HTTP only */

static void l7_attach(struct agent *a, uint64_t cgid, const char *path)
{
	char full[1024];
	int fd, err;

	if (!a->l7 || !path || has_l7(a, cgid) || ancestor_has(a, path, has_l7))
		return;
	snprintf(full, sizeof(full), "%s%s", a->cgroup2, path);
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("l7: cannot open cgroup %s: %s", full, strerror(errno));
		return;
	}
	err = l7_probe__attach_cgroup(a->l7, cgid, fd);
	close(fd);
	if (!err)
		idmap__put(&a->l7_cgroups, cgid, a);
	if (err && err != -EEXIST)
		log_warn("l7: attach to %s: %s", path, strerror(-err));
	else if (!err)
		log_info("l7: capturing HTTP of %s", path);
}

static void l7_detach(struct agent *a, uint64_t cgid)
{
	if (a->l7 && idmap__del(&a->l7_cgroups, cgid))
		l7_probe__detach_cgroup(a->l7, cgid);
}

static void subtree_sync(struct agent *a, uint64_t cgid, const char *path)
{
	const struct workload_meta *m = a->meta ? meta_cache__peek(a->meta, cgid) : NULL;

	if (!a->l7 || !path)
		return;
	if (m && m->kind == WL_CONTAINER) {
		if (m->decision.monitored && m->decision.l7)
			l7_attach(a, cgid, path);
		else
			l7_detach(a, cgid);
	} else if ((!m || m->kind == WL_HOST) && (!m || m->decision.monitored) && l7_wanted(a, path, false)) {
		l7_attach(a, cgid, path);
	}
}

/* ------------------------------------------------------------------ workloads mode */

static bool pod_container_path(const char *path)
{
	struct cgroup_info ci;

	return !cgroup_path__parse(path, &ci) && ci.kind == CG_KIND_CONTAINER && ci.pod_uid[0];
}

static void wl_sync(struct agent *a, uint64_t cgid, const char *path)
{
	const struct workload_meta *m = meta_cache__peek(a->meta, cgid);
	struct bpf_program *in = NULL, *out = NULL;
	bool was_l7 = false, attached = probes__wl_attached(a->probes, cgid, &was_l7);
	bool want, l7 = false;
	int err;

	if (!path)
		return;
	if (!m) {
		/* undecided: only a pod's container is attached ahead of its decision */
		if (attached || !pod_container_path(path))
			return;
		want = true;
	} else if (m->kind == WL_CONTAINER) {
		want = m->decision.monitored;
		l7 = want && m->decision.l7;
	} else if (m->kind == WL_HOST) {
		want = m->decision.monitored &&
		       (attached || (strcmp(path, "/") && !ancestor_has(a, path, has_wl) && is_leaf(a->cgroup2, path)));
		l7 = want && a->cfg.l7_enabled && l7_wanted(a, path, true);
	} else {
		want = false;            /* pod-level cgroup (sandbox, pod slice) */
	}
	if (!want) {
		if (attached) {
			probes__wl_detach(a->probes, cgid, false);
			log_info("workload %s: detached (not monitored)", path);
		}
		return;
	}
	if (l7 && (!a->l7 || l7_probe__pkt_programs(a->l7, &in, &out)))
		l7 = false;
	if (attached && was_l7 == l7)
		return;
	err = probes__wl_attach(a->probes, cgid, path, in, out);
	if (err == -ENOENT || err == -ESTALE)
		log_debug("workload %s: gone before attach", path);
	else if (err)
		log_warn("workload %s: attach packet programs: %s", path, strerror(-err));
	else if (l7)
		log_info("l7: capturing HTTP of %s (and its traffic)", path);
	else
		log_info("workload %s: counting traffic%s", path, attached ? " (HTTP capture off)" : "");
}

/* ------------------------------------------------------------------ entry points */

void agent__attach_cgroup(struct agent *a, uint64_t cgid)
{
	const char *path = cgpaths__lookup(&a->paths, cgid);

	if (a->wl_mode)
		wl_sync(a, cgid, path);
	else
		subtree_sync(a, cgid, path);
}

void agent__attach_gone(struct agent *a, uint64_t cgid)
{
	if (a->wl_mode)
		probes__wl_detach(a->probes, cgid, true);
	else
		l7_detach(a, cgid);
}

struct cg_ref {
	uint64_t id;
	const char *path;
};

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

/* Every cgroup known at start, parents before children (so the topmost of nested matches wins);
 * in mode "workloads" non-pod cgroups get their decision here (the metadata cache learns them
 * lazily otherwise). */
void agent__attach_start(struct agent *a)
{
	size_t pos = 0, n = 0, cap = a->paths.byid.len + 1;
	struct cg_ref *v = calloc(cap, sizeof(*v));
	uint64_t id;
	void *path;

	if (!v)
		return;
	while (n < cap && idmap__next(&a->paths.byid, &pos, &id, &path))
		v[n++] = (struct cg_ref){ id, path };
	qsort(v, n, sizeof(*v), by_depth);
	for (size_t i = 0; i < n; i++) {
		if (a->wl_mode && a->meta) {
			meta_cache__on_cgroup_mkdir(a->meta, v[i].id, v[i].path);
			agent_meta__apply(a);
		}
		agent__attach_cgroup(a, v[i].id);
	}
	free(v);
}
