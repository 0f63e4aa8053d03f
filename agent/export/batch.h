/* One podlens.v1 Batch per interval, built from the same records the JSON output prints, plus
 * closed connections (Flow) and process events. Everything lives in an arena freed by
 * batch__reset(), so building costs a few allocations per interval, not per field. */
#ifndef PODLENS_AGENT_EXPORT_BATCH_H
#define PODLENS_AGENT_EXPORT_BATCH_H

#include <stdint.h>

#include "agent/pipeline/flows.h"
#include "agent/output/output.h"
#include "bpf/proc.h"
#include "bpf/tcp.h"
#include "podlens/v1/podlens.pb-c.h"

struct l7_set;
struct batch;

struct batch *batch__new(void);
void batch__free(struct batch *b);
void batch__reset(struct batch *b);   /* forget the built batch, free the arena */

/* m's strings are copied. l7 (the L7 modules' aggregates: each adds its messages) may be NULL. */
void batch__add_workload(struct batch *b, const struct wl_meta *m, const struct wl_counters *c,
			 const struct l7_set *l7);
/* One aggregated flow; remote may be NULL (remote workload unknown). */
void batch__add_flow(struct batch *b, const struct wl_meta *local, const struct wl_meta *remote,
		     const struct flow_agg *fa);
void batch__add_process(struct batch *b, const struct wl_meta *m, const struct pl_proc_event *e,
			uint64_t time_unix_ms);
/* The per-peer requests of cgroup_id (agent/pipeline/peers.h) into the workload batch__add_workload
 * added last, when it is that cgroup's: 0, -ENOENT (it is not), -ENOMEM. */
struct peers;
int batch__add_peers(struct batch *b, const struct peers *p, uint64_t cgroup_id);
void batch__add_drop(struct batch *b, const char *ringbuf, uint64_t n);   /* ringbuf_drops[name] */

/* The batch as built so far; the drop counters are writable. Valid until batch__reset. */
Podlens__V1__Batch *batch__get(struct batch *b, uint64_t interval_start_unix_ms, uint32_t interval_ms);
size_t batch__records(const struct batch *b);

#endif
