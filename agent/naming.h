/* Naming: the identity of a record's cgroup (pod, container, owner; or the cgroup path on a plain
 * host), read from the metadata cache and the cgroup path map. A pure lookup: it resolves nothing,
 * asks no runtime, drains no change and attaches nothing (the interval's metadata step did all of
 * that before records are named: agent/agent.c). Pointers in the results are valid until the next
 * metadata or cgroup event. */
#ifndef PODLENS_AGENT_NAMING_H
#define PODLENS_AGENT_NAMING_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/output/output.h"
#include "agent/pipeline/agg.h"

struct cgpaths;
struct meta_cache;

/* A pod-shaped cgroup not resolved yet is held back this many intervals at most, then named by
 * its path. */
#define NAMING_HOLD_INTERVALS 5

struct naming {
	struct meta_cache *meta;        /* read with meta_cache__peek only; NULL = no metadata */
	const struct cgpaths *paths;    /* cgroup ID -> path, read without rescanning */
	const char *node;
	bool final;                     /* the last interval before exit: nothing is held any more */
};

enum naming_verdict {
	NAMING_EMIT,        /* out is filled: emit the record */
	NAMING_SKIP,        /* the workload is not monitored */
	NAMING_HOLD,        /* a pod's cgroup whose metadata has not arrived: carry its counts over */
};

/* A workload's record. out->cgroup_path and out->node are filled in every case. */
enum naming_verdict naming__workload(const struct naming *n, const struct workload *w, struct wl_meta *out);
/* Any cgroup (flows, process events); false when it is not monitored. */
bool naming__cgroup(const struct naming *n, uint64_t cgid, struct wl_meta *out);
/* The pod (on this node) that owns an IPv4/IPv6 address; false when unknown. */
bool naming__by_ip(const struct naming *n, int family, const uint8_t *addr, struct wl_meta *out);

#endif
