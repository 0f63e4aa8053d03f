/* Pod metadata for the agent: see agent/metadata.h.
 *
 * The cache (cri/meta_cache.h) lives on the loop thread; every remote call it makes goes to a
 * worker thread (cri/meta_worker.h) and is answered later, so nothing here blocks the loop. A
 * cgroup whose resolution had to wait for an answer is kept pending (bounded) and resolved again
 * when answers arrive, and after each resync.
 *
 * Decisions reach the kernel as soon as the cache makes them (the loop drains them after every
 * call below): at start (before the first interval), at every resync, on cgroup_mkdir, when the
 * worker's answers arrive, and at the interval tick for cgroup IDs seen for the first time. A
 * cgroup the cache has not decided is counted (pl_default_mode = monitored); a pod's container
 * not decided yet has its packet programs attached at once (agent/probes/attach.h). */
#include "agent/metadata.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/options.h"
#include "cri/meta_cache.h"
#include "cri/meta_worker.h"
#include "lib/clock.h"
#include "lib/log.h"

#define PENDING_MAX 4096
#define PENDING_TTL_MS 120000   /* a cgroup still unresolved after this is left to its path */
#define START_WAIT_MS 3000      /* start: how long the first resync's answers are waited for */

struct pending {
	uint64_t id;
	uint64_t since;
	char path[256];
};

struct metadata {
	struct meta_cache *cache;
	struct meta_worker *w;
	struct pending *pend;                    /* cgroups waiting for the worker's answers */
	size_t n_pend;
	uint64_t pend_dropped, pend_expired;
	bool first_resync_logged;
	const char **ns_include, **ns_exclude;   /* NULL-terminated views of the config's lists */
	const char *cri_socket;                  /* borrowed from the config */
	uint64_t resync_s;
	bool runtime_seen;                       /* the CRI answered at least once */
	uint64_t runtime_up_ms;                  /* monotonic ms of the last resync that reached it */
};

static void start_wait(struct metadata *md);

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
	struct meta_worker_opts wo = { 0 };
	const char *k8s = getenv("KUBERNETES_SERVICE_HOST");

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

	wo.cri_socket = cfg->cri_socket;
	wo.kubelet_url = cfg->kubelet_url;
	wo.kubelet_token_file = cfg->kubelet_token_file;
	wo.kubelet_ca_file = cfg->kubelet_ca;
	md->pend = calloc(PENDING_MAX, sizeof(*md->pend));
	md->w = md->pend ? meta_worker__new(&wo) : NULL;
	if (!md->w) {
		int err = errno ? errno : ENOMEM;

		log_warn("metadata: cannot start the CRI worker: %s; workloads are named by cgroup path",
			 strerror(err));
		metadata__free(md);
		errno = err;
		return NULL;
	}
	o.source = meta_worker__source(md->w);

	md->cache = meta_cache__new(&o);
	if (!md->cache) {
		int err = errno;

		log_warn("metadata: %s; workloads are named by cgroup path", strerror(err));
		metadata__free(md);
		errno = err;
		return NULL;
	}
	start_wait(md);
	return md;
}

void metadata__free(struct metadata *md)
{
	if (!md)
		return;
	meta_cache__free(md->cache);
	meta_worker__free(md->w);
	free(md->pend);
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

/* ------------------------------------------------------------------ pending cgroups */

static void pending_add(struct metadata *md, uint64_t id, const char *path)
{
	struct pending *p;

	for (size_t i = 0; i < md->n_pend; i++)
		if (md->pend[i].id == id)
			return;
	if (md->n_pend == PENDING_MAX) {
		/* the oldest goes: it stays named by its path unless a resync names it */
		md->pend_dropped++;
		memmove(md->pend, md->pend + 1, (PENDING_MAX - 1) * sizeof(*md->pend));
		md->n_pend--;
	}
	p = &md->pend[md->n_pend++];
	p->id = id;
	p->since = clock__mono_ms();
	snprintf(p->path, sizeof(p->path), "%s", path);
}

/* a cgroup's resolution: through the path when known (no lookup of the ID) */
static void resolve_one(struct metadata *md, uint64_t id, const char *path)
{
	if (path)
		meta_cache__on_cgroup_mkdir(md->cache, id, path);
	else
		meta_cache__lookup(md->cache, id);
	if (meta_cache__peek(md->cache, id) || !path)
		return;
	/* the worker was asked (or failed, or its pod is not listed yet): again when answers come */
	pending_add(md, id, path);
}

static void pending_retry(struct metadata *md)
{
	uint64_t now = clock__mono_ms();
	size_t keep = 0;

	for (size_t i = 0; i < md->n_pend; i++) {
		struct pending *p = &md->pend[i];

		if (!meta_cache__peek(md->cache, p->id))
			meta_cache__on_cgroup_mkdir(md->cache, p->id, p->path);
		if (meta_cache__peek(md->cache, p->id))
			continue;
		if (now - p->since >= PENDING_TTL_MS) {
			log_info("metadata: cgroup %s still unresolved after %u s; named by its path",
				 p->path, PENDING_TTL_MS / 1000);
			md->pend_expired++;
			continue;
		}
		md->pend[keep++] = *p;
	}
	md->n_pend = keep;
}

/* ------------------------------------------------------------------ the worker's answers */

static void resync_done(struct metadata *md)
{
	int r = meta_cache__resync(md->cache);

	note_runtime(md, r);
	if (!md->first_resync_logged) {
		md->first_resync_logged = true;
		if (r == -ENOENT)
			log_info("metadata: no container runtime (cri socket %s); workloads are named by cgroup path",
				 md->cri_socket);
		else if (r)
			log_warn("metadata: first CRI resync failed: %s (retrying every %llus)", strerror(-r),
				 (unsigned long long)md->resync_s);
	} else if (r && r != -ENOENT) {
		log_debug("metadata: resync: %s", strerror(-r));
	}
}

void metadata__on_worker(struct metadata *md)
{
	struct meta_worker_news news;

	if (!md)
		return;
	meta_worker__collect(md->w, &news);
	if (news.resync)
		resync_done(md);
	if (news.resync || news.answers) {
		meta_cache__refresh(md->cache);
		pending_retry(md);
	}
}

int metadata__fd(struct metadata *md)
{
	return md ? meta_worker__fd(md->w) : -1;
}

/* Start: the first resync and the statuses it asked for, waited for (bounded) so that the
 * decisions of every pod already running are made before the first attach, as with a runtime
 * that answers at once. A runtime that hangs costs START_WAIT_MS at most. */
static void start_wait(struct metadata *md)
{
	uint64_t t0 = clock__mono_ms(), now;
	struct meta_worker_stats st;

	meta_worker__request_resync(md->w);
	while ((now = clock__mono_ms()) - t0 < START_WAIT_MS) {
		struct pollfd p = { .fd = meta_worker__fd(md->w), .events = POLLIN };

		meta_worker__stats(md->w, &st);
		if (md->first_resync_logged && !st.in_flight)
			break;
		if (poll(&p, 1, (int)(START_WAIT_MS - (now - t0))) > 0)
			metadata__on_worker(md);
	}
	if (!md->first_resync_logged)
		log_warn("metadata: the container runtime did not answer within %u ms at start; "
			 "workloads are named when it does", START_WAIT_MS);
}

void metadata__resync(struct metadata *md)
{
	if (!md)
		return;
	meta_worker__request_resync(md->w);   /* -EALREADY: the last one is still running */
	pending_retry(md);
}

void metadata__cgroup(struct metadata *md, uint64_t id, const char *path, bool mkdir)
{
	if (!md)
		return;
	if (mkdir)
		resolve_one(md, id, path);
	else
		meta_cache__on_cgroup_rmdir(md->cache, id);
}

void metadata__resolve(struct metadata *md, uint64_t id, const char *path)
{
	if (md && !meta_cache__peek(md->cache, id))
		resolve_one(md, id, path);
}

size_t metadata__drain(struct metadata *md, struct meta_change *out, size_t max)
{
	return md ? meta_cache__drain_changes(md->cache, out, max) : 0;
}

void metadata__stats(struct metadata *md, struct metadata_stats *s)
{
	struct meta_worker_stats ws;

	memset(s, 0, sizeof(*s));
	if (!md)
		return;
	meta_worker__stats(md->w, &ws);
	s->pending = md->n_pend;
	s->pending_dropped = md->pend_dropped;
	s->pending_expired = md->pend_expired;
	s->in_flight = ws.in_flight;
	s->calls = ws.calls;
	s->failed_fast = ws.failed_fast;
	s->max_call_ms = ws.max_call_ms;
}
