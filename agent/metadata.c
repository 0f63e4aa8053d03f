/* Pod metadata for the agent: see agent/metadata.h.
 *
 * Decisions reach the kernel as soon as the cache makes them (the loop drains them after every
 * call below): at start (before the first interval), at every resync, at once on cgroup_mkdir
 * before any process of a new container runs, and at the interval tick for cgroup IDs seen for
 * the first time. A cgroup the cache has not decided is counted (pl_default_mode = monitored). */
#include "agent/metadata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/options.h"
#include "cri/meta_cache.h"
#include "lib/clock.h"
#include "lib/log.h"

struct metadata {
	struct meta_cache *cache;
	const char **ns_include, **ns_exclude;   /* NULL-terminated views of the config's lists */
	const char *cri_socket;                  /* borrowed from the config */
	uint64_t resync_s;
	bool runtime_seen;                       /* the CRI answered at least once */
	uint64_t runtime_up_ms;                  /* monotonic ms of the last resync that reached it */
};

static void note_runtime(struct metadata *md, int r)
{
	if (r == 0) {
		md->runtime_seen = true;
		md->runtime_up_ms = clock__mono_ms();
	}
}

struct metadata *metadata__new(const struct agent_config *cfg, const char *node, const char **host_cgroups)
{
	struct metadata *md = calloc(1, sizeof(*md));
	struct meta_opts o = { 0 };
	const char *k8s = getenv("KUBERNETES_SERVICE_HOST");
	int r;

	if (!md)
		return NULL;
	filter_config__defaults(&o.filter);
	md->cri_socket = cfg->cri_socket;
	md->resync_s = cfg->resync_s;
	md->ns_include = strlist__view(&cfg->ns_include);
	md->ns_exclude = strlist__view(&cfg->ns_exclude);
	if (!md->ns_include || !md->ns_exclude) {
		metadata__free(md);
		errno = ENOMEM;
		return NULL;
	}
	o.filter.include = md->ns_include;
	o.filter.exclude = md->ns_exclude;
	o.filter.monitor_key = cfg->ann_monitor;
	o.filter.l7_key = cfg->ann_l7;
	o.filter.dns_key = cfg->ann_dns;
	o.filter.host_monitor = cfg->host_monitor;
	o.filter.host_cgroups = host_cgroups;
	o.filter.l7_enabled = cfg->l7_enabled;
	o.cri_socket = cfg->cri_socket;
	o.cgroup_root = cfg->cgroup_root;
	o.node_name = node;
	o.ttl_s = (unsigned)cfg->meta_ttl_s;
	o.kubelet_url = cfg->kubelet_url;
	o.kubelet_token_file = cfg->kubelet_token_file;
	o.kubelet_ca_file = cfg->kubelet_ca;
	o.k8s_api = !strcmp(cfg->k8s_api, "auto") && k8s && *k8s;

	md->cache = meta_cache__new(&o);
	if (!md->cache) {
		int err = errno;

		log_warn("metadata: %s; workloads are named by cgroup path", strerror(err));
		metadata__free(md);
		errno = err;
		return NULL;
	}
	r = meta_cache__resync(md->cache);
	note_runtime(md, r);
	if (r == -ENOENT)
		log_info("metadata: no container runtime (cri socket %s); workloads are named by cgroup path",
			 cfg->cri_socket);
	else if (r)
		log_warn("metadata: first CRI resync failed: %s (retrying every %llus)", strerror(-r),
			 (unsigned long long)cfg->resync_s);
	return md;
}

void metadata__free(struct metadata *md)
{
	if (!md)
		return;
	meta_cache__free(md->cache);
	free(md->ns_include);
	free(md->ns_exclude);
	free(md);
}

struct meta_cache *metadata__cache(struct metadata *md)
{
	return md ? md->cache : NULL;
}

/* A runtime that answered once and then stays unreachable for 6 resync periods (60 s by default) fails
 * /healthz: in a pod that mounts only the CRI socket file, a restarted runtime's new socket is
 * invisible until the pod restarts, which is what the liveness probe then does. */
const char *metadata__unhealthy(struct metadata *md, char *buf, size_t len)
{
	uint64_t limit, down;

	if (!md || !md->runtime_seen)
		return NULL;
	limit = md->resync_s * 6000;
	down = clock__mono_ms() - md->runtime_up_ms;
	if (down <= limit)
		return NULL;
	snprintf(buf, len, "container runtime unreachable for %llu s (cri socket %s)\n",
		 (unsigned long long)(down / 1000), md->cri_socket);
	return buf;
}

void metadata__resync(struct metadata *md)
{
	int r;

	if (!md)
		return;
	r = meta_cache__resync(md->cache);
	note_runtime(md, r);
	if (r && r != -ENOENT)
		log_debug("metadata: resync: %s", strerror(-r));
}

void metadata__cgroup(struct metadata *md, uint64_t id, const char *path, bool mkdir)
{
	if (!md)
		return;
	if (mkdir)
		meta_cache__on_cgroup_mkdir(md->cache, id, path);
	else
		meta_cache__on_cgroup_rmdir(md->cache, id);
}

void metadata__resolve(struct metadata *md, uint64_t id)
{
	if (md)
		meta_cache__lookup(md->cache, id);
}

size_t metadata__drain(struct metadata *md, struct meta_change *out, size_t max)
{
	return md ? meta_cache__drain_changes(md->cache, out, max) : 0;
}
