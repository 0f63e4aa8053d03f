/* Per-workload (cgroup) aggregation per interval. The kernel keeps cumulative per-CPU counters;
 * at each interval the agent reads them and the aggregator turns them into deltas. A counter that
 * went backwards (LRU eviction, cgroup forgotten and seen again) restarts from zero. */
#ifndef PODLENS_AGENT_AGG_H
#define PODLENS_AGENT_AGG_H

#include <stdbool.h>
#include <stdint.h>

#include "bpf/proc.h"
#include "bpf/tcp.h"
#include "bpf/traffic.h"
#include "lib/idmap.h"

/* One interval's activity of one workload. */
struct wl_counters {
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	uint64_t active_opens, passive_opens, connect_failures, closes;
	uint64_t retransmits, resets_sent, resets_received;
	uint64_t connect_lat_sum_us, connect_lat_count, srtt_sum_us, srtt_count;
	uint64_t execs, exits;
};

struct workload {
	uint64_t cgid;
	struct pl_traffic_counters last_traffic;
	struct pl_tcp_counters last_tcp;
	struct pl_proc_counters last_proc;
	struct wl_counters cur;
	bool removed;              /* cgroup rmdir seen: report once more, then forget */
	unsigned idle;             /* consecutive intervals without activity */
	unsigned held;             /* consecutive intervals its record was held back */
	bool hold;                 /* carry this interval's counts into the next one */
};

struct agg {
	struct idmap wl;           /* cgroup id -> struct workload */
	struct wl_counters total;  /* all workloads, this interval (for /metrics) */
};

void agg__init(struct agg *a);
void agg__free(struct agg *a);

/* Feed cumulative counters (as read from the kernel) for one cgroup. */
void agg__traffic(struct agg *a, uint64_t cgid, const struct pl_traffic_counters *c);
void agg__tcp(struct agg *a, uint64_t cgid, const struct pl_tcp_counters *c);
void agg__proc(struct agg *a, uint64_t cgid, const struct pl_proc_counters *c);
/* Marks a tracked workload removed (reported once more, then forgotten); false if not tracked. */
bool agg__cgroup_removed(struct agg *a, uint64_t cgid);
/* Do not report this interval: carry the counts into the next one (metadata not there yet). */
void agg__hold(struct agg *a, uint64_t cgid);

bool wl_counters__active(const struct wl_counters *c);
/* Mean connect latency / srtt of the interval; -1 when nothing was measured. */
int64_t wl_counters__connect_latency_us(const struct wl_counters *c);
int64_t wl_counters__srtt_us(const struct wl_counters *c);

typedef void (*agg_fn)(void *ctx, const struct workload *w);
/* Workloads active in this interval. */
void agg__foreach_active(struct agg *a, agg_fn fn, void *ctx);
/* End the interval: zero the deltas; drop removed workloads, calling forget for each so the
 * caller can delete them from the kernel maps. Returns the number of workloads tracked. */
size_t agg__end_interval(struct agg *a, void (*forget)(void *ctx, uint64_t cgid), void *ctx);

#endif
