/* Prometheus text exposition of the agent's own health: probes, events, drops, BPF run time. */
#ifndef PODLENS_AGENT_METRICS_H
#define PODLENS_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/probes/probes.h"

struct exporter;
struct metadata;
struct l7_probe;

/* What /metrics reports, borrowed from the loop. */
struct agent_metrics {
	struct probes *probes;
	struct l7_probe *l7;            /* NULL when L7 is off or unavailable */
	struct exporter *exp;           /* NULL when not exporting */
	bool wl_mode;                   /* traffic attach mode "workloads" */
	const uint64_t *events;         /* [PROBE__COUNT]: events measured per probe */
	size_t tracked;                 /* workloads with state */
	uint64_t intervals;             /* completed */
	uint64_t export_overflow;       /* process events beyond the per-interval bound */
	struct metadata *md;            /* NULL without metadata */
	uint64_t attach_failures;       /* workloads left without packet programs */
};

/* malloc'd text (*len bytes), NULL on allocation failure. */
char *metrics__text(const struct agent_metrics *m, size_t *len);

#endif
