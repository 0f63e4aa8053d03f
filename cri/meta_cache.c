/* cgroup ID -> container -> pod cache (see meta_cache.h).
 *
 * Three tables:
 *   pods   sorted array of sandboxes (ListPodSandbox), each with the status fetched once
 *          (PodSandboxStatus: IPs) and annotations/labels from the list;
 *   ctrs   sorted array of containers (ListContainers), each with its cgroup ID once resolved
 *          (ContainerStatus verbose -> cgroupsPath -> its inode under the cgroup2 mount, lib/cgroupfs);
 *   ents   hash of cgroup ID -> entry (the workload_meta handed to the agent), entries are
 *          allocated one by one so pointers stay valid until the next resync/rmdir. */
#include "cri/meta_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cri/cgroup_path.h"
#include "cri/cri_client.h"
#include "cri/k8s_namespaces.h"
#include "cri/kubelet.h"
#include "lib/cgroupfs.h"
#include "lib/clock.h"
#include "lib/log.h"

#define NEG_SLOTS 256
#define NEG_TTL_MS 1000
#define WALK_MAX_DIRS 50000     /* bound of the ID -> path walk on a miss without file handles */

struct pod_rec {
	char *id;
	struct cri_pod p;         /* from the list; ips/pid/cgroup_parent once status is fetched */
	bool status_fetched;
	bool seen;                /* in the last list */
	bool moved;               /* merged into a new table: owned there */
};

struct ctr_rec {
	char *id;
	struct cri_container c;   /* from the list (+ pid/cgroups_path after status) */
	uint64_t cgroup_id;       /* 0 = not resolved yet */
	bool status_fetched;
	bool seen;
	bool moved;
};

struct entry {
	struct workload_meta m;
	struct entry *next;
	uint64_t exited_at;       /* ms; 0 = alive */
	bool queued;              /* in the change queue */
	bool touched;             /* seen in this resync */
};

struct meta_cache {
	struct meta_opts o;
	char *cri_socket;
	char *node;
	char cg2[256];
	int cg2_fd;
	struct filter_config filter;
	char **inc, **exc;        /* owned copies of the filter globs */

	struct cri_client *cri;
	struct meta_source src;
	bool have_src;
	bool runtime_up, runtime_logged;
	char runtime[64];

	struct pod_rec *pods;
	size_t n_pods;
	struct ctr_rec *ctrs;
	size_t n_ctrs;

	struct k8s_pod *kpods;    /* sorted by uid */
	size_t n_kpods;
	bool kubelet_up, kubelet_logged;

	struct k8s_ns_watch *nsw;
	uint64_t ns_gen;

	struct entry **buckets;
	size_t n_buckets, n_entries, max_entries;
	bool full_logged;

	struct meta_change *chg;
	size_t n_chg, cap_chg;

	struct { uint64_t id, until; } neg[NEG_SLOTS];
	unsigned neg_next;

	struct meta_stats st;
};

static uint64_t now_ms(const struct meta_cache *c)
{
	return c->o.clock_ms ? c->o.clock_ms() : clock__mono_ms();
}

static void scopy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* ------------------------------------------------------------------ default source: CRI */

static int s_list_pods(void *ctx, struct cri_pod **p, size_t *n)
{
	return cri_client__list_pods(ctx, p, n);
}
static int s_list_ctrs(void *ctx, struct cri_container **p, size_t *n)
{
	return cri_client__list_containers(ctx, p, n);
}
static int s_pod_status(void *ctx, const char *id, struct cri_pod *o)
{
	return cri_client__pod_status(ctx, id, o);
}
static int s_ctr_status(void *ctx, const char *id, struct cri_container *o)
{
	return cri_client__container_status(ctx, id, o);
}

/* Connect lazily; false when no runtime is there (logged once). */
static bool ensure_source(struct meta_cache *c)
{
	const char *sock = c->cri_socket;

	if (c->have_src)
		return true;
	if (sock && !strcmp(sock, "none"))
		return false;
	c->cri = cri_client__new(sock, c->o.cri_deadline_ms ? c->o.cri_deadline_ms : 500);
	if (!c->cri) {
		if (!c->runtime_logged) {
			if (!sock || !strcmp(sock, "auto"))
				log_info("cri: no runtime socket found (tried %s, %s, %s, %s); naming workloads by cgroup path",
					 cri_default_sockets[0], cri_default_sockets[1], cri_default_sockets[2],
					 cri_default_sockets[3]);
			else
				log_warn("cri: socket %s: %s; naming workloads by cgroup path", sock, strerror(errno));
			c->runtime_logged = true;
		}
		return false;
	}
	c->src = (struct meta_source){ c->cri, s_list_pods, s_list_ctrs, s_pod_status, s_ctr_status, NULL, NULL };
	c->have_src = true;
	return true;
}

static void runtime_result(struct meta_cache *c, int err, const char *what)
{
	if (!err) {
		if (!c->runtime_up) {
			struct cri_version v;

			c->runtime[0] = '\0';
			if (c->src.runtime_name && c->src.runtime_name(c->src.ctx))
				scopy(c->runtime, sizeof(c->runtime), c->src.runtime_name(c->src.ctx));
			else if (c->cri && cri_client__version(c->cri, &v) == 0)
				snprintf(c->runtime, sizeof(c->runtime), "%.31s %.31s", v.runtime_name, v.runtime_version);
			if (c->runtime_logged)
				log_info("cri: runtime %s on %s is back", c->runtime,
					 c->cri ? cri_client__socket(c->cri) : c->cri_socket ? c->cri_socket : "stand-in");
			else
				log_info("cri: runtime %s on %s", c->runtime[0] ? c->runtime : "(stand-in)",
					 c->cri ? cri_client__socket(c->cri) : c->cri_socket ? c->cri_socket : "stand-in");
			c->runtime_up = true;
			c->runtime_logged = true;
		}
		return;
	}
	if (c->runtime_up || !c->runtime_logged) {
		log_warn("cri: %s failed: %s; keeping %zu cached cgroups, retrying at each resync", what,
			 c->cri ? cri_client__last_error(c->cri) : strerror(-err), c->n_entries);
		c->runtime_logged = true;
	}
	c->runtime_up = false;
}

/* ------------------------------------------------------------------ entries */

static size_t bucket(const struct meta_cache *c, uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)(id & (c->n_buckets - 1));
}

static struct entry *ent_get(const struct meta_cache *c, uint64_t id)
{
	for (struct entry *e = c->buckets[bucket(c, id)]; e; e = e->next)
		if (e->m.cgroup_id == id)
			return e;
	return NULL;
}

static void queue_change(struct meta_cache *c, uint64_t id, bool *queued)
{
	if (queued && *queued)
		return;
	if (c->n_chg == c->cap_chg) {
		size_t cap = c->cap_chg ? c->cap_chg * 2 : 64;
		struct meta_change *n = realloc(c->chg, cap * sizeof(*n));

		if (!n)
			return;   /* the agent misses one update; the next resync re-queues changes */
		c->chg = n;
		c->cap_chg = cap;
	}
	c->chg[c->n_chg++] = (struct meta_change){ .cgroup_id = id };
	if (queued)
		*queued = true;
}

static void ent_free(struct entry *e)
{
	cri_kvs__free(&e->m.labels);
	cri_kvs__free(&e->m.annotations);
	free(e);
}

static void ent_del(struct meta_cache *c, uint64_t id)
{
	struct entry **pp = &c->buckets[bucket(c, id)];

	for (; *pp; pp = &(*pp)->next) {
		struct entry *e = *pp;

		if (e->m.cgroup_id != id)
			continue;
		*pp = e->next;
		if (!e->queued)
			queue_change(c, id, NULL);
		ent_free(e);
		c->n_entries--;
		return;
	}
}

/* Make room: drop the exited entry that exited first. */
static bool evict_one(struct meta_cache *c)
{
	struct entry *victim = NULL;

	for (size_t b = 0; b < c->n_buckets; b++)
		for (struct entry *e = c->buckets[b]; e; e = e->next)
			if (e->exited_at && (!victim || e->exited_at < victim->exited_at))
				victim = e;
	if (!victim)
		return false;
	ent_del(c, victim->m.cgroup_id);
	c->st.evicted++;
	return true;
}

/* Insert or replace the entry for m->cgroup_id (m's kvs are moved into the cache). Queues a
 * change when the decision is new or different. */
static struct entry *ent_put(struct meta_cache *c, struct workload_meta *m)
{
	struct entry *e = ent_get(c, m->cgroup_id);

	if (e) {
		bool changed = !filter_decision__equal(&e->m.decision, &m->decision);

		cri_kvs__free(&e->m.labels);
		cri_kvs__free(&e->m.annotations);
		e->m = *m;
		e->exited_at = 0;
		if (changed)
			queue_change(c, m->cgroup_id, &e->queued);
	} else {
		if (c->n_entries >= c->max_entries && !evict_one(c)) {
			if (!c->full_logged)
				log_warn("cri: metadata cache full (%zu cgroups); cgroup %llu left unnamed",
					 c->max_entries, (unsigned long long)m->cgroup_id);
			c->full_logged = true;
			cri_kvs__free(&m->labels);
			cri_kvs__free(&m->annotations);
			return NULL;
		}
		e = calloc(1, sizeof(*e));
		if (!e) {
			cri_kvs__free(&m->labels);
			cri_kvs__free(&m->annotations);
			return NULL;
		}
		e->m = *m;
		e->next = c->buckets[bucket(c, m->cgroup_id)];
		c->buckets[bucket(c, m->cgroup_id)] = e;
		c->n_entries++;
		queue_change(c, m->cgroup_id, &e->queued);
	}
	memset(m, 0, sizeof(*m));
	e->touched = true;
	return e;
}

/* ------------------------------------------------------------------ pods and containers */

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct pod_rec *)a)->id, ((const struct pod_rec *)b)->id);
}
static int cmp_ctr(const void *a, const void *b)
{
	return strcmp(((const struct ctr_rec *)a)->id, ((const struct ctr_rec *)b)->id);
}
static int cmp_kpod(const void *a, const void *b)
{
	return strcmp(((const struct k8s_pod *)a)->uid, ((const struct k8s_pod *)b)->uid);
}

static struct pod_rec *pod_find(struct meta_cache *c, const char *id)
{
	struct pod_rec key = { .id = (char *)id };

	return c->n_pods ? bsearch(&key, c->pods, c->n_pods, sizeof(key), cmp_pod) : NULL;
}

static struct pod_rec *pod_find_uid(struct meta_cache *c, const char *uid)
{
	for (size_t i = 0; i < c->n_pods; i++)
		if (!strcmp(c->pods[i].p.uid, uid))
			return &c->pods[i];
	return NULL;
}

static struct ctr_rec *ctr_find(struct meta_cache *c, const char *id)
{
	struct ctr_rec key = { .id = (char *)id };

	return c->n_ctrs ? bsearch(&key, c->ctrs, c->n_ctrs, sizeof(key), cmp_ctr) : NULL;
}

static const struct k8s_pod *kpod_find(struct meta_cache *c, const char *uid)
{
	struct k8s_pod key = { .uid = (char *)uid };

	return c->n_kpods ? bsearch(&key, c->kpods, c->n_kpods, sizeof(key), cmp_kpod) : NULL;
}

static void pod_rec_free(struct pod_rec *r)
{
	cri_pod__free(&r->p);
	r->id = NULL;
}

static void ctr_rec_free(struct ctr_rec *r)
{
	cri_container__free(&r->c);
	r->id = NULL;
}

/* Fetch PodSandboxStatus for a pod once (IPs, cgroup parent); keeps list data on failure. */
static void pod_fetch_status(struct meta_cache *c, struct pod_rec *r)
{
	struct cri_pod st;
	int err;

	if (r->status_fetched || !c->have_src)
		return;
	c->st.cri_calls++;
	err = c->src.pod_status(c->src.ctx, r->id, &st);
	if (err) {
		log_debug("cri: PodSandboxStatus %s: %s", r->id, strerror(-err));
		return;
	}
	r->status_fetched = true;
	/* the status carries everything the list had, plus IPs and the verbose info */
	if (!st.labels.n && r->p.labels.n) {
		st.labels = r->p.labels;
		r->p.labels = (struct cri_kvs){ 0 };
	}
	if (!st.annotations.n && r->p.annotations.n) {
		st.annotations = r->p.annotations;
		r->p.annotations = (struct cri_kvs){ 0 };
	}
	cri_pod__free(&r->p);
	r->p = st;
	r->id = r->p.id;
}

/* ContainerStatus once: cgroupsPath -> cgroup ID. */
static void ctr_resolve(struct meta_cache *c, struct ctr_rec *r)
{
	char rel[1024];

	if (!r->status_fetched && c->have_src) {
		struct cri_container st;
		int err;

		c->st.cri_calls++;
		err = c->src.container_status(c->src.ctx, r->id, &st);
		if (err) {
			log_debug("cri: ContainerStatus %s: %s", r->id, strerror(-err));
			return;
		}
		r->status_fetched = true;
		r->c.pid = st.pid;
		free(r->c.cgroups_path);
		r->c.cgroups_path = st.cgroups_path;
		st.cgroups_path = NULL;
		if (st.pod_id && *st.pod_id && (!r->c.pod_id || !*r->c.pod_id)) {
			free(r->c.pod_id);
			r->c.pod_id = st.pod_id;
			st.pod_id = NULL;
		}
		r->c.state = st.state;
		cri_container__free(&st);
	}
	if (!r->cgroup_id && r->c.cgroups_path && cgroup_path__from_cri(r->c.cgroups_path, rel, sizeof(rel)) == 0)
		r->cgroup_id = cgroupfs__id_at(c->cg2, rel);
}

/* ------------------------------------------------------------------ building entries */

/* pod annotations with the kubelet's live values for the two filter keys */
static void decide(struct meta_cache *c, struct workload_meta *m, const struct k8s_pod *kp)
{
	struct cri_kvs ns_ann = { 0 }, merged = { 0 };
	struct cri_kv kv[2];
	const struct cri_kvs *pod_ann = &m->annotations;
	bool have_ns = false;
	const char *keys[2] = { c->filter.monitor_key ? c->filter.monitor_key : "podlens.io/monitor",
				c->filter.l7_key ? c->filter.l7_key : "podlens.io/l7" };

	if (m->kind == WL_HOST) {
		filter__decide_host(&c->filter, m->host_path, &m->decision);
		return;
	}
	if (kp) {
		/* the two filter keys, the kubelet's (live) value over the sandbox's (creation time) */
		size_t n = 0;

		for (int i = 0; i < 2; i++) {
			const char *v = cri_kvs__get(&m->annotations, keys[i]);
			const char *kv2 = cri_kvs__get(&kp->annotations, keys[i]);

			if (kv2)
				v = kv2;
			if (v)
				kv[n++] = (struct cri_kv){ (char *)keys[i], (char *)v };
		}
		merged = (struct cri_kvs){ kv, n };
		pod_ann = &merged;
	}
	if (c->nsw && k8s_ns_watch__annotations(c->nsw, m->namespace, &ns_ann) == 0)
		have_ns = true;
	filter__decide_pod(&c->filter, m->namespace, pod_ann, have_ns ? &ns_ann : NULL, &m->decision);
	cri_kvs__free(&ns_ann);
}

static void fill_pod(struct meta_cache *c, struct workload_meta *m, const struct pod_rec *pr,
		     const struct k8s_pod **kpo)
{
	const struct k8s_pod *kp = pr ? kpod_find(c, pr->p.uid) : NULL;

	*kpo = kp;
	scopy(m->node, sizeof(m->node), c->node);
	if (!pr)
		return;
	scopy(m->namespace, sizeof(m->namespace), pr->p.namespace);
	scopy(m->pod, sizeof(m->pod), pr->p.name);
	scopy(m->pod_uid, sizeof(m->pod_uid), pr->p.uid);
	cri_kvs__copy(&m->labels, &pr->p.labels);
	cri_kvs__copy(&m->annotations, &pr->p.annotations);
	m->n_ips = 0;
	if (kp) {
		scopy(m->owner_kind, sizeof(m->owner_kind), kp->owner_kind);
		scopy(m->owner_name, sizeof(m->owner_name), kp->owner_name);
		for (size_t i = 0; i < kp->n_ips && m->n_ips < WL_MAX_IPS; i++)
			scopy(m->ips[m->n_ips++], sizeof(m->ips[0]), kp->ips[i]);
	} else {
		k8s__guess_owner(pr->p.name, &pr->p.labels, m->owner_kind, sizeof(m->owner_kind), m->owner_name,
				 sizeof(m->owner_name));
	}
	if (!m->n_ips)   /* no kubelet: the sandbox status */
		for (size_t i = 0; i < pr->p.n_ips && m->n_ips < WL_MAX_IPS; i++)
			scopy(m->ips[m->n_ips++], sizeof(m->ips[0]), pr->p.ips[i]);
}

static struct entry *put_container(struct meta_cache *c, struct ctr_rec *r, const char *qos)
{
	struct workload_meta m = { .cgroup_id = r->cgroup_id, .kind = WL_CONTAINER };
	const struct k8s_pod *kp;
	struct pod_rec *pr = pod_find(c, r->c.pod_id ? r->c.pod_id : "");
	struct cgroup_info ci;
	char rel[1024];

	if (pr)
		pod_fetch_status(c, pr);
	fill_pod(c, &m, pr, &kp);
	if (!pr) {
		/* labels still name the pod when the sandbox is not listed (yet) */
		scopy(m.namespace, sizeof(m.namespace), cri_kvs__get(&r->c.labels, "io.kubernetes.pod.namespace"));
		scopy(m.pod, sizeof(m.pod), cri_kvs__get(&r->c.labels, "io.kubernetes.pod.name"));
		scopy(m.pod_uid, sizeof(m.pod_uid), cri_kvs__get(&r->c.labels, "io.kubernetes.pod.uid"));
	}
	scopy(m.container, sizeof(m.container), r->c.name);
	scopy(m.container_id, sizeof(m.container_id), r->id);
	scopy(m.image, sizeof(m.image), r->c.image);
	if (r->c.cgroups_path && cgroup_path__from_cri(r->c.cgroups_path, rel, sizeof(rel)) == 0 &&
	    cgroup_path__parse(rel, &ci) == 0) {
		scopy(m.qos, sizeof(m.qos), cg_qos__name(ci.qos));
		if (ci.runtime != CG_RT_UNKNOWN)
			scopy(m.runtime, sizeof(m.runtime), cg_runtime__name(ci.runtime));
	}
	if (qos && !m.qos[0])
		scopy(m.qos, sizeof(m.qos), qos);
	if (!m.runtime[0] && c->runtime[0])
		snprintf(m.runtime, sizeof(m.runtime), "%.*s", (int)strcspn(c->runtime, " "), c->runtime);
	decide(c, &m, kp);
	return ent_put(c, &m);
}

static struct entry *put_pod_level(struct meta_cache *c, uint64_t id, struct pod_rec *pr, const char *qos)
{
	struct workload_meta m = { .cgroup_id = id, .kind = WL_POD };
	const struct k8s_pod *kp;

	pod_fetch_status(c, pr);
	fill_pod(c, &m, pr, &kp);
	scopy(m.qos, sizeof(m.qos), qos);
	decide(c, &m, kp);
	return ent_put(c, &m);
}

static struct entry *put_host(struct meta_cache *c, uint64_t id, const char *path,
			       const struct cgroup_info *ci)
{
	struct workload_meta m = { .cgroup_id = id, .kind = WL_HOST };

	scopy(m.node, sizeof(m.node), c->node);
	scopy(m.host_path, sizeof(m.host_path), path);
	scopy(m.host_name, sizeof(m.host_name), ci->name[0] ? ci->name : ci->container_id);
	if (ci->kind == CG_KIND_CONTAINER) {
		scopy(m.container_id, sizeof(m.container_id), ci->container_id);
		scopy(m.runtime, sizeof(m.runtime), cg_runtime__name(ci->runtime));
	}
	decide(c, &m, NULL);
	return ent_put(c, &m);
}

/* A pod the lists do not know yet: PodSandboxStatus. 0 (added), or the call's error (-EAGAIN:
 * asked of the worker, answered later). */
static int pod_fetch_new(struct meta_cache *c, const char *id)
{
	struct pod_rec *np;
	struct cri_pod ps;
	int err;

	if (!c->have_src)
		return -ENOENT;
	c->st.cri_calls++;
	err = c->src.pod_status(c->src.ctx, id, &ps);
	if (err)
		return err;
	np = realloc(c->pods, (c->n_pods + 1) * sizeof(*np));
	if (!np) {
		cri_pod__free(&ps);
		return -ENOMEM;
	}
	c->pods = np;
	c->pods[c->n_pods] = (struct pod_rec){ .p = ps, .status_fetched = true, .seen = true };
	c->pods[c->n_pods].id = c->pods[c->n_pods].p.id;
	c->n_pods++;
	qsort(c->pods, c->n_pods, sizeof(*c->pods), cmp_pod);
	return 0;
}

/* A container or sandbox ID the lists do not know yet: ask the runtime directly. */
static struct ctr_rec *ctr_fetch_new(struct meta_cache *c, const char *id)
{
	struct cri_container st;
	struct ctr_rec *nr, *r;
	int err;

	if (!c->have_src)
		return NULL;
	c->st.cri_calls++;
	err = c->src.container_status(c->src.ctx, id, &st);
	if (err) {
		log_debug("cri: ContainerStatus %s: %s", id, strerror(-err));
		return NULL;
	}
	nr = realloc(c->ctrs, (c->n_ctrs + 1) * sizeof(*nr));
	if (!nr) {
		cri_container__free(&st);
		return NULL;
	}
	c->ctrs = nr;
	r = &c->ctrs[c->n_ctrs++];
	*r = (struct ctr_rec){ .c = st, .status_fetched = true, .seen = true };
	r->id = r->c.id;
	qsort(c->ctrs, c->n_ctrs, sizeof(*c->ctrs), cmp_ctr);
	return ctr_find(c, id);
}

/* Resolve a cgroup from its path. Returns the entry or NULL. */
static struct entry *resolve_path(struct meta_cache *c, uint64_t id, const char *path)
{
	struct cgroup_info ci;
	struct pod_rec *pr;
	struct ctr_rec *r;

	if (cgroup_path__parse(path, &ci))
		return NULL;
	switch (ci.kind) {
	case CG_KIND_CONTAINER:
		if (!ci.pod_uid[0])
			return put_host(c, id, path, &ci);       /* docker outside Kubernetes */
		/* a sandbox (pause) cgroup is named by the pod */
		if ((pr = pod_find(c, ci.container_id)))
			return put_pod_level(c, id, pr, cg_qos__name(ci.qos));
		r = ctr_find(c, ci.container_id);
		if (!r)
			r = ctr_fetch_new(c, ci.container_id);
		/* its pod's annotations decide: a pod not known yet is asked for, and until it is known
		 * the container waits rather than being decided from its own labels. Any failure waits,
		 * not only -EAGAIN: the sandbox's PodSandboxStatus was often asked for before the sandbox
		 * was ready (its pause cgroup comes first) and its NOT_FOUND is answered again for a
		 * while; deciding then made a monitor=false pod's container "monitored". */
		if (r && r->c.pod_id && *r->c.pod_id && !pod_find(c, r->c.pod_id) &&
		    pod_fetch_new(c, r->c.pod_id))
			return NULL;
		if (!r) {
			/* maybe a sandbox not listed yet */
			if (c->have_src) {
				struct cri_pod ps;
				struct pod_rec *np;

				c->st.cri_calls++;
				if (c->src.pod_status(c->src.ctx, ci.container_id, &ps) == 0 &&
				    (np = realloc(c->pods, (c->n_pods + 1) * sizeof(*np)))) {
					c->pods = np;
					c->pods[c->n_pods] = (struct pod_rec){ .p = ps, .status_fetched = true, .seen = true };
					c->pods[c->n_pods].id = c->pods[c->n_pods].p.id;
					c->n_pods++;
					qsort(c->pods, c->n_pods, sizeof(*c->pods), cmp_pod);
					pr = pod_find(c, ci.container_id);
					return pr ? put_pod_level(c, id, pr, cg_qos__name(ci.qos)) : NULL;
				}
			}
			return NULL;
		}
		r->cgroup_id = id;
		return put_container(c, r, cg_qos__name(ci.qos));
	case CG_KIND_POD:
		pr = pod_find_uid(c, ci.pod_uid);
		return pr ? put_pod_level(c, id, pr, cg_qos__name(ci.qos)) : NULL;
	case CG_KIND_OTHER:
		/* kubepods levels and unknown layouts are host-level */
	default:
		return put_host(c, id, path, &ci);
	}
}

/* ------------------------------------------------------------------ path from ID */

static bool neg_hit(struct meta_cache *c, uint64_t id, uint64_t now)
{
	for (unsigned i = 0; i < NEG_SLOTS; i++)
		if (c->neg[i].id == id && c->neg[i].until > now)
			return true;
	return false;
}

static void neg_add(struct meta_cache *c, uint64_t id, uint64_t now)
{
	c->neg[c->neg_next].id = id;
	c->neg[c->neg_next].until = now + NEG_TTL_MS;
	c->neg_next = (c->neg_next + 1) % NEG_SLOTS;
}

/* ------------------------------------------------------------------ public */

static char **dup_globs(const char *const *g)
{
	size_t n = 0;
	char **r;

	if (!g)
		return NULL;
	while (g[n])
		n++;
	r = calloc(n + 1, sizeof(*r));
	for (size_t i = 0; r && i < n; i++)
		r[i] = strdup(g[i]);
	return r;
}

static void free_globs(char **g)
{
	for (size_t i = 0; g && g[i]; i++)
		free(g[i]);
	free(g);
}

struct meta_cache *meta_cache__new(const struct meta_opts *o)
{
	struct meta_cache *c = calloc(1, sizeof(*c));
	const char *root = o->cgroup_root ? o->cgroup_root : "/sys/fs/cgroup";
	size_t nb = 64;
	int err = ENOMEM;

	if (!c)
		goto fail;
	c->o = *o;
	c->cg2_fd = -1;
	c->max_entries = o->max_entries ? o->max_entries : 4096;
	while (nb < c->max_entries / 2)
		nb *= 2;
	c->n_buckets = nb;
	c->buckets = calloc(nb, sizeof(*c->buckets));
	c->node = strdup(o->node_name ? o->node_name : "");
	c->cri_socket = o->cri_socket ? strdup(o->cri_socket) : NULL;
	if (!c->buckets || !c->node || (o->cri_socket && !c->cri_socket))
		goto fail;
	c->filter = o->filter;
	c->inc = dup_globs(o->filter.include);
	c->exc = dup_globs(o->filter.exclude);
	c->filter.include = (const char *const *)c->inc;
	c->filter.exclude = (const char *const *)c->exc;
	c->filter.monitor_key = o->filter.monitor_key ? strdup(o->filter.monitor_key) : NULL;
	c->filter.l7_key = o->filter.l7_key ? strdup(o->filter.l7_key) : NULL;
	if (o->cgroup2_dir) {
		snprintf(c->cg2, sizeof(c->cg2), "%s", o->cgroup2_dir);
	} else if (cgroupfs__find_v2(root, c->cg2, sizeof(c->cg2))) {
		err = ENOENT;
		log_error("cri: no cgroup2 hierarchy at %s or %s/unified", root, root);
		goto fail;
	}
	c->cg2_fd = open(c->cg2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->source) {
		c->src = *o->source;
		c->have_src = true;
	}
	if (o->k8s_api) {
		struct k8s_api_opts ko = { .url = o->k8s_api_url, .token_file = o->k8s_token_file,
					   .ca_file = o->k8s_ca_file };

		c->nsw = k8s_ns_watch__start(&ko);
		if (!c->nsw)
			log_warn("cri: namespace watch not started: %s; namespace annotations ignored",
				 errno == ENOENT ? "KUBERNETES_SERVICE_HOST unset" : strerror(errno));
	}
	return c;
fail:
	meta_cache__free(c);
	errno = err;
	return NULL;
}

void meta_cache__free(struct meta_cache *c)
{
	if (!c)
		return;
	k8s_ns_watch__stop(c->nsw);
	for (size_t b = 0; c->buckets && b < c->n_buckets; b++) {
		struct entry *e = c->buckets[b], *n;

		for (; e; e = n) {
			n = e->next;
			ent_free(e);
		}
	}
	free(c->buckets);
	for (size_t i = 0; i < c->n_pods; i++)
		pod_rec_free(&c->pods[i]);
	free(c->pods);
	for (size_t i = 0; i < c->n_ctrs; i++)
		ctr_rec_free(&c->ctrs[i]);
	free(c->ctrs);
	k8s_pods__free(c->kpods, c->n_kpods);
	cri_client__free(c->cri);
	free_globs(c->inc);
	free_globs(c->exc);
	free((char *)c->filter.monitor_key);
	free((char *)c->filter.l7_key);
	free(c->chg);
	free(c->node);
	free(c->cri_socket);
	if (c->cg2_fd >= 0)
		close(c->cg2_fd);
	free(c);
}

/* Merge a fresh pod list into c->pods, keeping fetched statuses. Takes ownership of fresh. */
static void merge_pods(struct meta_cache *c, struct cri_pod *fresh, size_t n)
{
	struct pod_rec *np = calloc(n ? n : 1, sizeof(*np));

	if (!np) {
		cri_pods__free(fresh, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct pod_rec *old = pod_find(c, fresh[i].id);

		if (old && old->status_fetched) {
			np[i] = *old;
			np[i].moved = false;
			old->moved = true;
			/* list annotations are authoritative (the status has the same) */
			cri_pod__free(&fresh[i]);
		} else {
			np[i].p = fresh[i];
			np[i].id = np[i].p.id;
		}
		np[i].seen = true;
	}
	free(fresh);
	for (size_t i = 0; i < c->n_pods; i++)
		if (!c->pods[i].moved)
			pod_rec_free(&c->pods[i]);
	free(c->pods);
	c->pods = np;
	c->n_pods = n;
	qsort(c->pods, c->n_pods, sizeof(*c->pods), cmp_pod);
}

static void merge_ctrs(struct meta_cache *c, struct cri_container *fresh, size_t n)
{
	struct ctr_rec *nr = calloc(n ? n : 1, sizeof(*nr));

	if (!nr) {
		cri_containers__free(fresh, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct ctr_rec *old = ctr_find(c, fresh[i].id);

		if (old && old->status_fetched) {
			nr[i] = *old;
			nr[i].moved = false;
			nr[i].c.state = fresh[i].state;
			old->moved = true;
			cri_container__free(&fresh[i]);
		} else {
			nr[i].c = fresh[i];
			nr[i].id = nr[i].c.id;
			if (old)
				nr[i].cgroup_id = old->cgroup_id;
		}
		nr[i].seen = true;
	}
	free(fresh);
	for (size_t i = 0; i < c->n_ctrs; i++)
		if (!c->ctrs[i].moved)
			ctr_rec_free(&c->ctrs[i]);
	free(c->ctrs);
	c->ctrs = nr;
	c->n_ctrs = n;
	qsort(c->ctrs, c->n_ctrs, sizeof(*c->ctrs), cmp_ctr);
}

static void kubelet_refresh(struct meta_cache *c)
{
	struct kubelet_opts ko = { .url = c->o.kubelet_url, .token_file = c->o.kubelet_token_file,
				   .ca_file = c->o.kubelet_ca_file, .timeout_ms = 2000 };
	struct k8s_pod *kp;
	size_t n;
	int err;

	if (!c->o.kubelet_url)
		return;
	err = c->src.kubelet_pods ? c->src.kubelet_pods(c->src.ctx, &kp, &n) : kubelet__get_pods(&ko, &kp, &n);
	if (err == -EAGAIN)
		return;   /* no new list: keep the last one */
	if (err) {
		if (c->kubelet_up || !c->kubelet_logged)
			log_warn("kubelet: GET %s/pods: %s; keeping the last pod list", c->o.kubelet_url,
				 strerror(-err));
		c->kubelet_up = false;
		c->kubelet_logged = true;
		return;
	}
	if (!c->kubelet_up && c->kubelet_logged)
		log_info("kubelet: %s is back (%zu pods)", c->o.kubelet_url, n);
	c->kubelet_up = c->kubelet_logged = true;
	k8s_pods__free(c->kpods, c->n_kpods);
	qsort(kp, n, sizeof(*kp), cmp_kpod);
	c->kpods = kp;
	c->n_kpods = n;
}

static void sweep(struct meta_cache *c, uint64_t now)
{
	unsigned ttl = c->o.ttl_s ? c->o.ttl_s : 60;

	for (size_t b = 0; b < c->n_buckets; b++) {
		struct entry *e = c->buckets[b], *n;

		for (; e; e = n) {
			n = e->next;
			if (e->exited_at && now - e->exited_at >= (uint64_t)ttl * 1000)
				ent_del(c, e->m.cgroup_id);
		}
	}
}

/* No retry loop and no backoff of its own: a failed CRI or kubelet call is simply tried again at
 * the next periodic resync (the agent's fixed interval), which already spaces the attempts. The
 * only reconnecting client under cri/ is the namespace list+watch (k8s_namespaces.c, lib/backoff). */
int meta_cache__resync(struct meta_cache *c)
{
	struct cri_pod *pods;
	struct cri_container *ctrs;
	size_t np, nc;
	uint64_t now = now_ms(c);
	int err;

	c->st.resyncs++;
	sweep(c, now);
	if (!ensure_source(c)) {
		c->st.resync_errors++;
		return -ENOENT;
	}
	c->st.cri_calls++;
	err = c->src.list_pods(c->src.ctx, &pods, &np);
	if (err == -ENOENT) {   /* a source that found no runtime (it said so) */
		c->st.resync_errors++;
		return err;
	}
	if (!err) {
		c->st.cri_calls++;
		err = c->src.list_containers(c->src.ctx, &ctrs, &nc);
		if (err)
			cri_pods__free(pods, np);
	}
	runtime_result(c, err, "list pods and containers");
	if (err) {
		c->st.resync_errors++;
		return err;
	}
	merge_pods(c, pods, np);
	merge_ctrs(c, ctrs, nc);
	kubelet_refresh(c);
	if (c->nsw)
		c->ns_gen = k8s_ns_watch__generation(c->nsw);

	for (size_t b = 0; b < c->n_buckets; b++)
		for (struct entry *e = c->buckets[b]; e; e = e->next)
			e->touched = false;
	/* containers: resolve new ones, refresh all (names, decisions) */
	for (size_t i = 0; i < c->n_ctrs; i++) {
		struct ctr_rec *r = &c->ctrs[i];
		struct entry *e;

		if (r->c.state == CRI_CTR_EXITED) {
			/* never (re)created: only an entry we still hold starts (or keeps) its TTL */
			e = r->cgroup_id ? ent_get(c, r->cgroup_id) : NULL;
			if (e) {
				e->touched = true;
				if (!e->exited_at)
					e->exited_at = now;
				e->m.exited = true;
			}
			continue;
		}
		ctr_resolve(c, r);
		if (r->cgroup_id)
			put_container(c, r, NULL);
	}
	/* pod-level and host entries are refreshed from their pods; containers no longer listed
	 * start their TTL */
	for (size_t b = 0; b < c->n_buckets; b++) {
		for (struct entry *e = c->buckets[b]; e; e = e->next) {
			if (e->touched)
				continue;
			if (e->m.kind == WL_CONTAINER) {
				if (!e->exited_at) {
					e->exited_at = now;
					e->m.exited = true;
				}
			} else if (e->m.kind == WL_POD) {
				struct pod_rec *pr = pod_find_uid(c, e->m.pod_uid);
				struct filter_decision old = e->m.decision;
				const struct k8s_pod *kp = NULL;

				if (!pr) {
					if (!e->exited_at) {
						e->exited_at = now;
						e->m.exited = true;
					}
					continue;
				}
				/* refresh the decision in place (namespace annotations may have changed) */
				kp = kpod_find(c, e->m.pod_uid);
				decide(c, &e->m, kp);
				if (!filter_decision__equal(&old, &e->m.decision))
					queue_change(c, e->m.cgroup_id, &e->queued);
			} else {
				struct filter_decision old = e->m.decision;

				decide(c, &e->m, NULL);
				if (!filter_decision__equal(&old, &e->m.decision))
					queue_change(c, e->m.cgroup_id, &e->queued);
			}
		}
	}
	return 0;
}

void meta_cache__refresh(struct meta_cache *c)
{
	for (size_t i = 0; i < c->n_ctrs; i++) {
		struct ctr_rec *r = &c->ctrs[i];
		struct pod_rec *pr;
		struct entry *e;

		if (r->c.state == CRI_CTR_EXITED)
			continue;
		if (!r->cgroup_id)
			ctr_resolve(c, r);
		if (!r->cgroup_id)
			continue;
		e = ent_get(c, r->cgroup_id);
		pr = pod_find(c, r->c.pod_id ? r->c.pod_id : "");
		/* a pod not known yet decides nothing from the container's labels alone: wait for it
		 * (whatever the failure: see resolve_path) */
		if (!pr && !e && r->c.pod_id && *r->c.pod_id) {
			if (pod_fetch_new(c, r->c.pod_id))
				continue;
			pr = pod_find(c, r->c.pod_id);
		}
		/* new, or made before its pod's status (IPs) was in */
		if (!e || (pr && !pr->status_fetched) || (!pr && !e->m.pod[0]))
			put_container(c, r, NULL);
	}
}

const struct workload_meta *meta_cache__peek(struct meta_cache *c, uint64_t id)
{
	struct entry *e = ent_get(c, id);

	return e ? &e->m : NULL;
}

const struct workload_meta *meta_cache__lookup(struct meta_cache *c, uint64_t id)
{
	struct entry *e = ent_get(c, id);
	char path[4096];
	uint64_t now;

	c->st.lookups++;
	if (e)
		return &e->m;
	c->st.misses++;
	now = now_ms(c);
	if (neg_hit(c, id, now))
		return NULL;
	if (cgroupfs__path_of(c->cg2_fd, c->cg2, id, WALK_MAX_DIRS, path, sizeof(path))) {
		neg_add(c, id, now);
		return NULL;
	}
	ensure_source(c);
	e = resolve_path(c, id, path);
	if (!e) {
		neg_add(c, id, now);
		return NULL;
	}
	c->st.resolved_on_miss++;
	return &e->m;
}

void meta_cache__on_cgroup_mkdir(struct meta_cache *c, uint64_t id, const char *path)
{
	char buf[4096];

	if (ent_get(c, id))
		return;
	if (!path) {
		meta_cache__lookup(c, id);
		return;
	}
	/* the BPF side may report a path relative to a cgroup namespace or with the mount prefix */
	if (!strncmp(path, c->cg2, strlen(c->cg2)) && path[strlen(c->cg2)] == '/')
		path += strlen(c->cg2);
	if (path[0] != '/') {
		snprintf(buf, sizeof(buf), "/%s", path);
		path = buf;
	}
	ensure_source(c);
	if (!resolve_path(c, id, path))
		log_debug("cri: cgroup %llu (%s) not resolved yet", (unsigned long long)id, path);
}

void meta_cache__on_cgroup_rmdir(struct meta_cache *c, uint64_t id)
{
	struct entry *e = ent_get(c, id);

	if (e && !e->exited_at) {
		e->exited_at = now_ms(c);
		e->m.exited = true;
	}
}

int meta_cache__decision(struct meta_cache *c, uint64_t id, struct filter_decision *out)
{
	const struct workload_meta *m = meta_cache__lookup(c, id);

	if (!m)
		return -ENOENT;
	*out = m->decision;
	return 0;
}

size_t meta_cache__drain_changes(struct meta_cache *c, struct meta_change *out, size_t max)
{
	size_t n = 0;

	while (n < max && c->n_chg) {
		struct meta_change ch = c->chg[--c->n_chg];
		struct entry *e = ent_get(c, ch.cgroup_id);

		if (e) {
			ch.decision = e->m.decision;
			ch.removed = false;
			e->queued = false;
		} else {
			ch.decision = (struct filter_decision){ 0 };
			ch.removed = true;
		}
		out[n++] = ch;
	}
	return n;
}

void meta_cache__foreach(struct meta_cache *c, void (*cb)(const struct workload_meta *m, void *ud), void *ud)
{
	for (size_t b = 0; b < c->n_buckets; b++)
		for (struct entry *e = c->buckets[b]; e; e = e->next)
			cb(&e->m, ud);
}

void meta_cache__stats(struct meta_cache *c, struct meta_stats *s)
{
	*s = c->st;
	s->entries = c->n_entries;
	s->pods = c->n_pods;
	s->containers = c->n_ctrs;
	s->runtime_up = c->runtime_up;
	scopy(s->runtime, sizeof(s->runtime), c->runtime);
	scopy(s->cgroup2_mount, sizeof(s->cgroup2_mount), c->cg2);
}
