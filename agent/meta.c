/* The agent's side of pod metadata: the cgroup ID -> container -> pod cache (cri/), its decisions
 * mirrored into the in-kernel mode map and into HTTP capture, and the identity of each record.
 *
 * Decisions reach the kernel as soon as the cache makes them: at start (before the first
 * interval), at every resync, and at once on cgroup_mkdir, before any process of a new container
 * runs. A cgroup the cache has not decided is counted (pl_default_mode = monitored), and its record
 * is held back (for up to META_HOLD_INTERVALS) while it looks like a pod's but is not resolved yet,
 * so no bytes of a new pod are ever reported under an unresolved workload. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/probes/l7.h"
#include "cri/cgroup_path.h"
#include "cri/meta_cache.h"
#include "lib/log.h"

#define META_HOLD_INTERVALS 5

static void note_runtime(struct agent *a, int r);

int agent_meta__start(struct agent *a)
{
	struct meta_opts o = { 0 };
	const char *k8s = getenv("KUBERNETES_SERVICE_HOST");
	int r;

	filter_config__defaults(&o.filter);
	a->ns_include = strlist__view(&a->cfg.ns_include);
	a->ns_exclude = strlist__view(&a->cfg.ns_exclude);
	if (!a->ns_include || !a->ns_exclude)
		return -ENOMEM;
	o.filter.include = a->ns_include;
	o.filter.exclude = a->ns_exclude;
	o.filter.monitor_key = a->cfg.ann_monitor;
	o.filter.l7_key = a->cfg.ann_l7;
	o.filter.host_monitor = a->cfg.host_monitor;
	o.filter.host_cgroups = a->host_cgroups;
	o.filter.l7_enabled = a->cfg.l7_enabled;
	o.cri_socket = a->cfg.cri_socket;
	o.cgroup_root = a->cfg.cgroup_root;
	o.node_name = a->node;
	o.ttl_s = (unsigned)a->cfg.meta_ttl_s;
	o.kubelet_url = a->cfg.kubelet_url;
	o.kubelet_token_file = a->cfg.kubelet_token_file;
	o.kubelet_ca_file = a->cfg.kubelet_ca;
	o.k8s_api = !strcmp(a->cfg.k8s_api, "auto") && k8s && *k8s;

	a->meta = meta_cache__new(&o);
	if (!a->meta) {
		log_warn("metadata: %s; workloads are named by cgroup path", strerror(errno));
		return -errno;
	}
	r = meta_cache__resync(a->meta);
	note_runtime(a, r);
	if (r == -ENOENT)
		log_info("metadata: no container runtime (cri socket %s); workloads are named by cgroup path",
			 a->cfg.cri_socket);
	else if (r)
		log_warn("metadata: first CRI resync failed: %s (retrying every %llus)", strerror(-r),
			 (unsigned long long)a->cfg.resync_s);
	agent_meta__apply(a);
	return 0;
}

void agent_meta__free(struct agent *a)
{
	meta_cache__free(a->meta);
	a->meta = NULL;
	free(a->ns_include);
	free(a->ns_exclude);
}

/* Mirror changed decisions into the kernel's mode map and into HTTP capture. */
void agent_meta__apply(struct agent *a)
{
	struct meta_change ch[64];
	size_t n;

	if (!a->meta)
		return;
	while ((n = meta_cache__drain_changes(a->meta, ch, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			uint64_t id = ch[i].cgroup_id;

			if (ch[i].removed) {
				probes__clear_mode(a->probes, id);
				continue;
			}
			probes__set_mode(a->probes, id, ch[i].decision.monitored ? PL_CG_MONITORED : PL_CG_IGNORED);
			agent__attach_cgroup(a, id);
		}
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void note_runtime(struct agent *a, int r)
{
	if (r == 0) {
		a->runtime_seen = true;
		a->runtime_up_ms = mono_ms();
	}
}

/* A runtime that answered once and then stays unreachable for 6 resync periods (60 s by default) fails
 * /healthz: in a pod that mounts only the CRI socket file, a restarted runtime's new socket is
 * invisible until the pod restarts, which is what the liveness probe then does. */
const char *agent_meta__unhealthy(struct agent *a, char *buf, size_t len)
{
	uint64_t limit = a->cfg.resync_s * 6000, down;

	if (!a->meta || !a->runtime_seen)
		return NULL;
	down = mono_ms() - a->runtime_up_ms;
	if (down <= limit)
		return NULL;
	snprintf(buf, len, "container runtime unreachable for %llu s (cri socket %s)\n",
		 (unsigned long long)(down / 1000), a->cfg.cri_socket);
	return buf;
}

void agent_meta__resync(struct agent *a)
{
	int r;

	if (!a->meta)
		return;
	r = meta_cache__resync(a->meta);
	note_runtime(a, r);
	if (r && r != -ENOENT)
		log_debug("metadata: resync: %s", strerror(-r));
	agent_meta__apply(a);
}

void agent_meta__cgroup(struct agent *a, uint64_t id, const char *path, bool mkdir)
{
	if (!a->meta)
		return;
	if (mkdir)
		meta_cache__on_cgroup_mkdir(a->meta, id, path);
	else
		meta_cache__on_cgroup_rmdir(a->meta, id);
	agent_meta__apply(a);
}

static const char *nz(const char *s)
{
	return s && *s ? s : NULL;
}

static void fill(struct wl_meta *out, const struct workload_meta *m);

/* Fill the identity of a record. Returns false when the record must not be emitted now:
 * the workload is not monitored, or it is a pod's cgroup whose metadata has not arrived (held). */
bool agent_meta__identify(struct agent *a, const struct workload *w, struct wl_meta *out)
{
	const struct workload_meta *m;
	struct cgroup_info ci;

	if (!a->meta)
		return true;
	m = meta_cache__lookup(a->meta, w->cgid);
	agent_meta__apply(a);   /* an on-miss lookup may have decided something */
	if (!m || m->kind == WL_HOST) {
		if (m && !m->decision.monitored)
			return false;
		/* unresolved, but shaped like a pod's: wait for its metadata (bounded) */
		if (out->cgroup_path && !cgroup_path__parse(out->cgroup_path, &ci) && ci.pod_uid[0] &&
		    w->held < META_HOLD_INTERVALS) {
			agg__hold(&a->agg, w->cgid);
			return false;
		}
		return true;
	}
	if (!m->decision.monitored)
		return false;
	fill(out, m);
	return true;
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

bool agent_meta__identity(struct agent *a, uint64_t cgid, struct wl_meta *out)
{
	const struct workload_meta *m;

	memset(out, 0, sizeof(*out));
	out->cgid = cgid;
	out->node = a->node;
	out->cgroup_path = cgpaths__lookup(&a->paths, cgid);
	if (!a->meta)
		return true;
	m = meta_cache__lookup(a->meta, cgid);
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

bool agent_meta__by_ip(struct agent *a, int family, const uint8_t *addr, struct wl_meta *out)
{
	char ip[INET6_ADDRSTRLEN];
	struct ip_find f = { ip, NULL };

	if (!a->meta || !inet_ntop(family, addr, ip, sizeof(ip)))
		return false;
	meta_cache__foreach(a->meta, find_ip, &f);
	if (!f.found)
		return false;
	memset(out, 0, sizeof(*out));
	out->node = a->node;   /* pod IPs known here are of pods on this node */
	out->namespace_ = nz(f.found->namespace);
	out->pod = nz(f.found->pod);
	out->pod_uid = nz(f.found->pod_uid);
	out->owner_kind = nz(f.found->owner_kind);
	out->owner_name = nz(f.found->owner_name);
	return true;
}
