/* cgroup ID -> container -> pod cache, and the monitoring decision per cgroup.
 *
 * Built for the agent's single-threaded epoll loop: nothing here blocks longer than one CRI
 * deadline per remote call (default 500 ms), there are no threads except the optional
 * Namespace watch (cri/k8s_namespaces.h), and all state changes happen inside the calls below.
 *
 * Filled three ways:
 *  - meta_cache__resync() (every resync period, default 10 s): ListPodSandbox + ListContainers,
 *    plus PodSandboxStatus / ContainerStatus(verbose) only for pods and containers not seen
 *    before, plus kubelet /pods when configured. A dead runtime is logged once (and once more when
 *    it is back); later resyncs retry, and new pods are enriched again at the first resync after
 *    it returns.
 *  - meta_cache__on_cgroup_mkdir(id, path): a container cgroup under kubepods is resolved at once
 *    (ContainerStatus + PodSandboxStatus of that id); other cgroups are named by their path.
 *  - meta_cache__lookup() on a miss: finds the cgroup's path from its ID (open_by_handle_at on
 *    the cgroup2 mount, else a bounded directory walk) and proceeds as on mkdir. Misses are
 *    negatively cached for 1 s.
 * cgroup ID = inode of the cgroup2 directory (bpf_get_current_cgroup_id()): the cgroupsPath from
 * the verbose ContainerStatus, under the cgroup2 mount (hybrid: <root>/unified, pure v2: <root>).
 * Exited containers (gone from ListContainers, state EXITED, or rmdir'd) stay for ttl_s (default
 * 60 s) so late events resolve; the cache holds at most max_entries (default 4096, ~1.9 KB each) cgroups. */
#ifndef PODLENS_CRI_META_CACHE_H
#define PODLENS_CRI_META_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cri/cri_parse.h"
#include "cri/filter.h"

struct k8s_pod;

enum workload_kind {
	WL_CONTAINER = 0,         /* a pod's container: every pod field set */
	WL_POD,                   /* a pod-level cgroup (sandbox/pause, pod slice): pod fields set */
	WL_HOST,                  /* not a pod: host_name from the cgroup path ("nginx.service") */
};

#define WL_MAX_IPS 4

struct workload_meta {
	uint64_t cgroup_id;
	enum workload_kind kind;
	char namespace[64];
	char pod[254];
	char pod_uid[64];
	char container[64];
	char container_id[72];
	char image[256];
	char owner_kind[32];      /* "Deployment", "StatefulSet", ... or "" */
	char owner_name[254];
	char node[254];
	char runtime[16];         /* "containerd", "cri-o", "docker" */
	char qos[16];
	char host_name[256];      /* WL_HOST: systemd unit, user slice, or last path component */
	char host_path[512];      /* WL_HOST: cgroup path below the cgroup2 mount (host.cgroups globs) */
	char ips[WL_MAX_IPS][46];
	unsigned n_ips;
	struct cri_kvs labels;         /* pod labels (owned by the cache) */
	struct cri_kvs annotations;    /* pod annotations (owned by the cache) */
	struct filter_decision decision;
	bool exited;              /* container gone; kept until the TTL passes */
};

struct meta_opts {
	const char *cri_socket;   /* path, NULL/"auto" = detect, "none" = no runtime */
	uint32_t cri_deadline_ms; /* per call; 0 = 500 */
	const char *cgroup_root;  /* host cgroup mount; NULL = /sys/fs/cgroup (cgroup2 at root or
	                             root/unified) */
	const char *node_name;    /* NULL = "" */
	unsigned ttl_s;           /* 0 = 60 */
	size_t max_entries;       /* 0 = 4096 */
	/* kubelet (optional) */
	const char *kubelet_url;  /* NULL = off */
	const char *kubelet_token_file, *kubelet_ca_file;
	/* Namespace annotations via the Kubernetes API (optional, own thread) */
	bool k8s_api;
	const char *k8s_api_url, *k8s_token_file, *k8s_ca_file;   /* NULL = in-cluster defaults */
	struct filter_config filter;
	/* tests: a runtime stand-in instead of the CRI socket (see struct meta_source), a directory
	 * used as the cgroup2 hierarchy without checking its filesystem type, a clock */
	const struct meta_source *source;
	const char *cgroup2_dir;
	uint64_t (*clock_ms)(void);
};

/* The CRI operations the cache uses; default = cri_client. Same contracts as cri_client.h. */
struct meta_source {
	void *ctx;
	int (*list_pods)(void *ctx, struct cri_pod **pods, size_t *n);
	int (*list_containers)(void *ctx, struct cri_container **c, size_t *n);
	int (*pod_status)(void *ctx, const char *id, struct cri_pod *out);
	int (*container_status)(void *ctx, const char *id, struct cri_container *out);
	/* Optional. -EAGAIN from any call = "not here yet, asked for": the cache treats it as a
	 * failed call and the caller retries once the answer is in (cri/meta_worker.h). */
	int (*kubelet_pods)(void *ctx, struct k8s_pod **pods, size_t *n);   /* NULL = kubelet__get_pods */
	const char *(*runtime_name)(void *ctx);   /* "containerd 1.6.20" for the logs; NULL = ask Version */
};

struct meta_cache;

/* NULL + errno (ENOMEM; ENOENT when no cgroup2 hierarchy is found under cgroup_root). A missing
 * runtime is not an error: it is logged once and looked for again at each resync. */
struct meta_cache *meta_cache__new(const struct meta_opts *o);
void meta_cache__free(struct meta_cache *c);

/* 0, or the CRI error (-ENOTCONN, -ETIMEDOUT, ...) when the runtime could not be listed (the
 * cache keeps what it had). -ENOENT when no runtime is configured or found. */
int meta_cache__resync(struct meta_cache *c);

/* The entry for a cgroup ID, resolving it on a miss. NULL = unknown cgroup. The pointer is valid
 * until the next meta_cache__resync(), __on_cgroup_rmdir() or __free(). */
const struct workload_meta *meta_cache__lookup(struct meta_cache *c, uint64_t cgroup_id);
/* The same without resolving (no I/O). */
const struct workload_meta *meta_cache__peek(struct meta_cache *c, uint64_t cgroup_id);

/* Resolve what the last resync listed but could not resolve yet (statuses that were not there:
 * a meta_source answering -EAGAIN); no list calls. */
void meta_cache__refresh(struct meta_cache *c);

/* path: relative to the cgroup2 mount ("/kubepods/besteffort/pod.../<id>"), as the BPF cgroup
 * unit reports it; NULL = find it from the ID. */
void meta_cache__on_cgroup_mkdir(struct meta_cache *c, uint64_t cgroup_id, const char *path);
void meta_cache__on_cgroup_rmdir(struct meta_cache *c, uint64_t cgroup_id);

/* 0 and *out, or -ENOENT for an unknown cgroup (after an on-miss lookup). */
int meta_cache__decision(struct meta_cache *c, uint64_t cgroup_id, struct filter_decision *out);

/* Decisions that changed since the last drain (new cgroups included; removed ones have
 * removed = true and monitored = false): the agent mirrors them into its in-kernel allow map.
 * Writes up to max, returns how many; call until it returns 0. */
struct meta_change {
	uint64_t cgroup_id;
	struct filter_decision decision;
	bool removed;
};
size_t meta_cache__drain_changes(struct meta_cache *c, struct meta_change *out, size_t max);

/* Every entry (e.g. to rebuild the allow map from scratch). */
void meta_cache__foreach(struct meta_cache *c, void (*cb)(const struct workload_meta *m, void *ud), void *ud);

struct meta_stats {
	size_t entries, pods, containers;
	uint64_t resyncs, resync_errors, cri_calls, lookups, misses, resolved_on_miss, evicted;
	bool runtime_up;
	char runtime[64];         /* "containerd 1.6.20~ds1" once known */
	char cgroup2_mount[256];
};
void meta_cache__stats(struct meta_cache *c, struct meta_stats *s);

#endif
