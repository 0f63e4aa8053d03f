/* The metadata cache's remote calls (CRI, kubelet) on a worker thread, so that a slow or hung
 * runtime never blocks the agent's loop.
 *
 * The cache (cri/meta_cache.h) stays on the loop thread and keeps all its logic; it is given
 * meta_worker__source() as its meta_source, whose calls never block:
 *   - a status (ContainerStatus, PodSandboxStatus) already fetched is handed over (moved out);
 *     one not fetched yet is asked of the worker and answered -EAGAIN ("asked for"), once per id
 *     while it is in flight; an error answer is kept 1 s (NOT_FOUND: 200 ms, often "not listed yet") so a retry does not
 *     ask again at once;
 *   - list_pods/list_containers/kubelet_pods hand over the result of the last resync job
 *     (meta_worker__request_resync), -EAGAIN when there is none.
 * Answers come back through a queue; meta_worker__fd() (an eventfd) becomes readable when some
 * wait, and meta_worker__collect() moves them into the loop's store. The caller then re-runs what
 * was answered -EAGAIN (agent/metadata.c: meta_cache__resync, __refresh, the pending cgroups).
 *
 * The worker runs one call at a time, each with its deadline (CRI statuses 500 ms by default, the
 * lists 5 s or the status deadline if longer: they grow with the node; kubelet 2 s).
 * When a status call times out or the runtime is unreachable, the status jobs queued behind it
 * are answered with the same error at once instead of waiting a deadline each (they are asked
 * again after the next resync): a hung runtime costs one deadline per resync, not one per pod.
 * Bounds: at most max_ids (4096) ids in flight or answered and not yet taken (beyond: -EBUSY,
 * counted); answers not taken within 30 s are dropped. */
#ifndef PODLENS_CRI_META_WORKER_H
#define PODLENS_CRI_META_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct meta_source;

struct meta_worker_opts {
	const char *cri_socket;          /* path, NULL/"auto" = detect, "none" = no runtime */
	uint32_t cri_deadline_ms;        /* 0 = 500 */
	const char *kubelet_url;         /* NULL = no kubelet */
	const char *kubelet_token_file, *kubelet_ca_file;
	/* tests: the calls the worker makes instead of the CRI (and kubelet_pods of it), a clock */
	const struct meta_source *backend;
	size_t max_ids;                  /* 0 = 4096 */
	uint64_t (*clock_ms)(void);
};

struct meta_worker;

/* Starts the thread. NULL + errno. */
struct meta_worker *meta_worker__new(const struct meta_worker_opts *o);
/* Stops the thread: waits for the call in progress (at most one deadline). */
void meta_worker__free(struct meta_worker *w);

int meta_worker__fd(const struct meta_worker *w);
const struct meta_source *meta_worker__source(struct meta_worker *w);

/* Ask for a resync (lists, kubelet pods). 0, or -EALREADY when one is in flight. */
int meta_worker__request_resync(struct meta_worker *w);

struct meta_worker_news {
	bool resync;           /* a resync result waits: the next list_pods/list_containers take it */
	size_t answers;        /* status answers that arrived */
};
/* Reads the eventfd and moves the answers into the store (loop thread). */
void meta_worker__collect(struct meta_worker *w, struct meta_worker_news *news);

struct meta_worker_stats {
	size_t in_flight;              /* jobs asked and not answered (resync included) */
	uint64_t jobs, calls;          /* jobs done, remote calls made */
	uint64_t failed_fast;          /* status jobs answered without a call (runtime down) */
	uint64_t busy;                 /* asks refused: max_ids reached */
	uint64_t asked;                /* -EAGAIN answers given to the cache */
	uint64_t max_call_ms;          /* longest call */
};
void meta_worker__stats(const struct meta_worker *w, struct meta_worker_stats *s);

#endif
