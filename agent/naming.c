/* Naming: see agent/naming.h. Every call here reads; none writes anything but its out argument. */
#include "agent/naming.h"

#include <arpa/inet.h>
#include <string.h>

#include "lib/cgroupfs.h"
#include "cri/cgroup_path.h"
#include "cri/meta_cache.h"
#include "lib/idmap.h"

static const char *nz(const char *s)
{
	return s && *s ? s : NULL;
}

/* the path map as it is: cgpaths__lookup would rescan the hierarchy on a miss */
static const char *path_of(const struct naming *n, uint64_t cgid)
{
	return idmap__get(&n->paths->byid, cgid);
}

static void fill(struct wl_meta *out, const struct workload_meta *m)
{
	out->namespace_ = nz(m->namespace);
	out->pod = nz(m->pod);
	out->pod_uid = nz(m->pod_uid);
	out->container = nz(m->container);
	out->container_id = nz(m->container_id);
	out->image = nz(m->image);
	out->owner_kind = nz(m->owner_kind);
	out->owner_name = nz(m->owner_name);
}

enum naming_verdict naming__workload(const struct naming *n, const struct workload *w, struct wl_meta *out)
{
	const struct workload_meta *m;
	struct cgroup_info ci;

	memset(out, 0, sizeof(*out));
	out->cgid = w->cgid;
	out->node = n->node;
	out->cgroup_path = path_of(n, w->cgid);
	if (!n->meta)
		return NAMING_EMIT;
	m = meta_cache__peek(n->meta, w->cgid);
	if (!m || m->kind == WL_HOST) {
		if (m && !m->decision.monitored)
			return NAMING_SKIP;
		/* unresolved, but shaped like a pod's: wait for its metadata (bounded) */
		if (out->cgroup_path && !cgroup_path__parse(out->cgroup_path, &ci) && ci.pod_uid[0] &&
		    w->held < NAMING_HOLD_INTERVALS && !n->final)
			return NAMING_HOLD;
		return NAMING_EMIT;
	}
	if (!m->decision.monitored)
		return NAMING_SKIP;
	fill(out, m);
	return NAMING_EMIT;
}

bool naming__cgroup(const struct naming *n, uint64_t cgid, struct wl_meta *out)
{
	const struct workload_meta *m;

	memset(out, 0, sizeof(*out));
	out->cgid = cgid;
	out->node = n->node;
	out->cgroup_path = path_of(n, cgid);
	if (!n->meta)
		return true;
	m = meta_cache__peek(n->meta, cgid);
	if (!m)
		return true;
	if (!m->decision.monitored)
		return false;
	if (m->kind != WL_HOST)
		fill(out, m);
	return true;
}

struct ip_find {
	const char *ip;
	const struct workload_meta *found;
};

static void find_ip(const struct workload_meta *m, void *ud)
{
	struct ip_find *f = ud;

	if (f->found || m->kind == WL_HOST || m->exited)
		return;
	for (unsigned i = 0; i < m->n_ips && i < WL_MAX_IPS; i++)
		if (!strcmp(m->ips[i], f->ip))
			f->found = m;
}

bool naming__by_ip(const struct naming *n, int family, const uint8_t *addr, struct wl_meta *out)
{
	char ip[INET6_ADDRSTRLEN];
	struct ip_find f = { ip, NULL };

	if (!n->meta || !inet_ntop(family, addr, ip, sizeof(ip)))
		return false;
	meta_cache__foreach(n->meta, find_ip, &f);
	if (!f.found)
		return false;
	memset(out, 0, sizeof(*out));
	out->node = n->node;   /* pod IPs known here are of pods on this node */
	out->namespace_ = nz(f.found->namespace);
	out->pod = nz(f.found->pod);
	out->pod_uid = nz(f.found->pod_uid);
	out->owner_kind = nz(f.found->owner_kind);
	out->owner_name = nz(f.found->owner_name);
	return true;
}
