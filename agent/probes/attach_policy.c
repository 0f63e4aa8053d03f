/* The attach policy's decision (agent/probes/attach.h): pure, it reads the world only through the
 * attach_view it is given and links against nothing but cgroup path parsing. */
#include "agent/probes/attach.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "cri/cgroup_path.h"

/* path or one of its ancestors matches --l7-cgroups (ancestors only when subtree is set) */
static bool l7_wanted(const struct attach_policy *p, const char *path, bool subtree)
{
	char anc[1024];

	snprintf(anc, sizeof(anc), "%s", path);
	for (;;) {
		for (size_t i = 0; i < p->n_l7_globs; i++)
			if (!fnmatch(p->l7_globs[i], anc, 0))
				return true;
		char *slash = strrchr(anc, '/');
		if (!subtree || !slash || slash == anc)
			return false;
		*slash = '\0';
	}
}

/* true when an ancestor of path (not path itself) has programs: the HTTP ones (l7) or a
 * workload's packet programs */
static bool ancestor_has(const struct attach_view *v, const char *path, bool l7)
{
	char anc[1024];

	snprintf(anc, sizeof(anc), "%s", path);
	for (;;) {
		char *slash = strrchr(anc, '/');

		if (!slash || slash == anc)
			return false;
		*slash = '\0';
		uint64_t id = v->id_at(v->ctx, anc);

		if (id && (l7 ? v->l7_attached(v->ctx, id) : v->wl_attached(v->ctx, id, NULL)))
			return true;
	}
}

static bool pod_container_path(const char *path)
{
	struct cgroup_info ci;

	return !cgroup_path__parse(path, &ci) && ci.kind == CG_KIND_CONTAINER && ci.pod_uid[0];
}

/* ------------------------------------------------------------------ subtree mode: HTTP only */

static size_t l7_attach(const struct attach_policy *p, const struct attach_view *v, uint64_t cgid,
			const char *path, struct attach_action *out)
{
	if (!p->l7_loaded || !path || v->l7_attached(v->ctx, cgid) || ancestor_has(v, path, true))
		return 0;
	*out = (struct attach_action){ .op = ATTACH_L7, .cgid = cgid, .path = path };
	return 1;
}

static size_t l7_detach(const struct attach_policy *p, const struct attach_view *v, uint64_t cgid,
			struct attach_action *out)
{
	if (!p->l7_loaded || !v->l7_attached(v->ctx, cgid))
		return 0;
	*out = (struct attach_action){ .op = ATTACH_L7_DETACH, .cgid = cgid };
	return 1;
}

static size_t subtree_sync(const struct attach_policy *p, const struct attach_view *v, uint64_t cgid,
			   struct attach_action *out)
{
	const char *path = v->path(v->ctx, cgid);
	struct attach_meta m;

	if (!p->l7_loaded || !path)
		return 0;
	v->meta(v->ctx, cgid, &m);
	if (m.kind == ATTACH_CONTAINER) {
		if (m.monitored && m.l7)
			return l7_attach(p, v, cgid, path, out);
		return l7_detach(p, v, cgid, out);
	}
	if ((m.kind == ATTACH_UNKNOWN || (m.kind == ATTACH_HOST && m.monitored)) && l7_wanted(p, path, false))
		return l7_attach(p, v, cgid, path, out);
	return 0;
}

/* ------------------------------------------------------------------ workloads mode */

static size_t wl_sync(const struct attach_policy *p, const struct attach_view *v, uint64_t cgid,
		      struct attach_action *out)
{
	const char *path = v->path(v->ctx, cgid);
	bool was_l7 = false, attached, want, l7 = false;
	struct attach_meta m;

	if (!path)
		return 0;
	v->meta(v->ctx, cgid, &m);
	attached = v->wl_attached(v->ctx, cgid, &was_l7);
	switch (m.kind) {
	case ATTACH_UNKNOWN:
		/* undecided: only a pod's container is attached ahead of its decision */
		if (attached || !pod_container_path(path))
			return 0;
		want = true;
		break;
	case ATTACH_CONTAINER:
		want = m.monitored;
		l7 = want && m.l7;
		break;
	case ATTACH_HOST:
		want = m.monitored && (attached || (strcmp(path, "/") && !ancestor_has(v, path, false) &&
						    v->is_leaf(v->ctx, path)));
		l7 = want && p->l7_enabled && l7_wanted(p, path, true);
		break;
	default:
		want = false;            /* pod-level cgroup (sandbox, pod slice) */
		break;
	}
	if (!want) {
		if (!attached)
			return 0;
		*out = (struct attach_action){ .op = ATTACH_WL_DETACH, .cgid = cgid, .path = path };
		return 1;
	}
	if (l7 && !p->l7_pkt)
		l7 = false;
	if (attached && was_l7 == l7)
		return 0;
	*out = (struct attach_action){ .op = ATTACH_WL, .cgid = cgid, .path = path, .l7 = l7, .again = attached };
	return 1;
}

size_t attach_policy__decide(const struct attach_policy *p, const struct attach_view *v,
			     const struct cg_event *ev, struct attach_action *out)
{
	size_t n = 0;

	switch (ev->kind) {
	case CG_FORGOTTEN:
		out[n++] = (struct attach_action){ .op = ATTACH_MODE_CLEAR, .cgid = ev->cgid };
		break;
	case CG_GONE:
		if (p->workloads)
			out[n++] = (struct attach_action){ .op = ATTACH_WL_GONE, .cgid = ev->cgid };
		else
			n += l7_detach(p, v, ev->cgid, out + n);
		break;
	case CG_DECIDED:
		out[n++] = (struct attach_action){ .op = ATTACH_MODE_SET, .cgid = ev->cgid, .monitored = ev->monitored };
		/* the decision may move programs */
		__attribute__((fallthrough));
	case CG_SEEN:
		n += p->workloads ? wl_sync(p, v, ev->cgid, out + n) : subtree_sync(p, v, ev->cgid, out + n);
		break;
	}
	return n;
}

