/* The agent's side of pod metadata: the cgroup ID -> container -> pod cache (cri/meta_cache.h),
 * fed by resyncs, cgroup_mkdir/rmdir and on-miss lookups, and the runtime's health for /healthz.
 * Nothing here blocks: the CRI and kubelet calls run on a worker thread (cri/meta_worker.h) whose
 * answers the loop hands back with metadata__on_worker() when metadata__fd() is readable.
 *
 * This is the only place where the cache learns anything; its decisions leave it as changes
 * (metadata__drain), which the loop hands to the attach policy (agent/probes/attach.h). Naming a
 * record (agent/naming.h) only reads the cache. */
#ifndef PODLENS_AGENT_METADATA_H
#define PODLENS_AGENT_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_config;
struct meta_cache;
struct meta_change;

struct metadata;

/* Start the cache and resync it once (a missing runtime is logged, not an error). NULL + errno
 * when the cache cannot start (logged): workloads are then named by cgroup path. */
struct metadata *metadata__new(const struct agent_config *cfg, const char *node, const char **host_cgroups);
void metadata__free(struct metadata *md);

struct meta_cache *metadata__cache(struct metadata *md);   /* for pure reads (peek) */

/* Asks the worker for a resync (its answer comes through metadata__fd). */
void metadata__resync(struct metadata *md);
void metadata__cgroup(struct metadata *md, uint64_t id, const char *path, bool mkdir);
/* Resolve a cgroup ID seen in this interval (a no-op when known; on a miss, asks the runtime
 * through the worker). path: below the cgroup2 mount, NULL = find it from the ID. */
void metadata__resolve(struct metadata *md, uint64_t id, const char *path);
/* The worker's eventfd (-1 without metadata) and its handler: answers in, cache updated, pending
 * cgroups resolved again; then drain the changes. */
int metadata__fd(struct metadata *md);
void metadata__on_worker(struct metadata *md);

struct metadata_stats {
	size_t pending;                  /* cgroups waiting for the worker's answers */
	uint64_t pending_dropped;        /* beyond the bound (named by path unless a resync names them) */
	uint64_t pending_expired;        /* unresolved after 120 s (named by path) */
	size_t in_flight;                /* worker jobs not answered */
	uint64_t calls, failed_fast, max_call_ms;
};
void metadata__stats(struct metadata *md, struct metadata_stats *s);
/* Decisions that changed since the last drain (meta_cache__drain_changes). */
size_t metadata__drain(struct metadata *md, struct meta_change *out, size_t max);

/* NULL when healthy, else why /healthz must fail (the runtime unreachable for too long). */
const char *metadata__unhealthy(struct metadata *md, char *buf, size_t len);

#endif
