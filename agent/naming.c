/* Naming: see agent/naming.h. Every call here reads; none writes anything but its out argument. */
#include "agent/naming.h"

#include <arpa/inet.h>
#include <stdbool.h>
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

static void fill_ips(struct wl_meta *out, const struct workload_meta *m)
{
	out->n_ips = 0;
	for (unsigned i = 0; i < m->n_ips && i < WL_MAX_IPS && out->n_ips < WL_META_MAX_IPS; i++)
		if (m->ips[i][0])
			out->ips[out->n_ips++] = m->ips[i];
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
	fill_ips(out, m);
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

/* An address in one form: IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4, so that a flow seen by a
 * dual-stack socket matches the pod IP the runtime reports as "a.b.c.d", and text compared as
 * bytes (a runtime may spell an IPv6 address in any of its valid forms). */
struct ip_key {
	int family;
	uint8_t a[16];
};

static bool ip_key(struct ip_key *k, int family, const uint8_t *addr)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(k, 0, sizeof(*k));
	if (family == AF_INET) {
		memcpy(k->a, addr, 4);
	} else if (family == AF_INET6 && !memcmp(addr, mapped, 12)) {
		family = AF_INET;
		memcpy(k->a, addr + 12, 4);
	} else if (family == AF_INET6) {
		memcpy(k->a, addr, 16);
	} else {
		return false;
	}
	k->family = family;
	return true;
}

static bool ip_key_text(struct ip_key *k, const char *text)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, text, a) == 1)
		return ip_key(k, AF_INET, a);
	if (inet_pton(AF_INET6, text, a) == 1)
		return ip_key(k, AF_INET6, a);
	return false;
}

struct ip_find {
	struct ip_key key;
	char v4text[INET_ADDRSTRLEN];   /* the key as dotted text when IPv4: the only spelling pton takes */
	const struct workload_meta *found;
	bool ambiguous;
};

/* Called for every IP of every workload for every flow record: IPv4 text (no ':') has one valid
 * spelling, so a string compare decides it without parsing. */
static bool ip_matches(const struct ip_find *f, const char *text)
{
	struct ip_key k;

	if (!strchr(text, ':'))
		return f->key.family == AF_INET && !strcmp(text, f->v4text);
	return ip_key_text(&k, text) && k.family == f->key.family && !memcmp(k.a, f->key.a, 16);
}

static void find_ip(const struct workload_meta *m, void *ud)
{
	struct ip_find *f = ud;

	if (f->ambiguous || m->kind == WL_HOST || m->exited)
		return;
	for (unsigned i = 0; i < m->n_ips && i < WL_MAX_IPS; i++) {
		if (!ip_matches(f, m->ips[i]))
			continue;
		/* one pod's containers share its IPs; two pods with one IP are host-network pods
		 * (the node's address), which no single pod owns */
		if (f->found && strcmp(f->found->pod_uid, m->pod_uid))
			f->ambiguous = true;
		else
			f->found = m;
		return;
	}
}

bool naming__by_ip(const struct naming *n, int family, const uint8_t *addr, struct wl_meta *out)
{
	struct ip_find f = { .found = NULL };

	if (!n->meta || !ip_key(&f.key, family, addr))
		return false;
	if (f.key.family == AF_INET && !inet_ntop(AF_INET, f.key.a, f.v4text, sizeof(f.v4text)))
		return false;
	meta_cache__foreach(n->meta, find_ip, &f);
	if (!f.found || f.ambiguous)
		return false;
	memset(out, 0, sizeof(*out));
	out->node = n->node;   /* pod IPs known here are of pods on this node */
	out->namespace_ = nz(f.found->namespace);
	out->pod = nz(f.found->pod);
	out->pod_uid = nz(f.found->pod_uid);
	out->owner_kind = nz(f.found->owner_kind);
	out->owner_name = nz(f.found->owner_name);
	fill_ips(out, f.found);
	return true;
}
