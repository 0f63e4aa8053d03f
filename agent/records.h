/* Records: each interval's workloads, closed connections and process events, named (agent/naming.h)
 * and handed to the outputs (JSON lines, the table: agent/output/) and to the export batch
 * (agent/export/batch.h). A workload whose pod metadata has not arrived is held back here: its
 * counts are carried into the next interval (agg__hold). Nothing here resolves metadata or
 * touches the probes. */
#ifndef PODLENS_AGENT_RECORDS_H
#define PODLENS_AGENT_RECORDS_H

#include <stdint.h>

struct agg;
struct batch;
struct flows;
struct l7_set;
struct naming;
struct peers;
struct proc_events;
struct table;

struct records {
	const struct naming *naming;
	struct agg *agg;
	const struct l7_set *l7;    /* the interval's L7 requests (every module); NULL when L7 is off */
	const struct peers *peers;  /* the same requests per peer; NULL when L7 is off */
	int output;                 /* enum output_mode: OUTPUT_JSON prints to stdout */
	struct table *table;        /* OUTPUT_TABLE */
	struct batch *batch;        /* NULL when not exporting */
};

/* The interval's active workloads (ts_ms: wall clock of the interval's end). */
void records__workloads(const struct records *r, uint64_t ts_ms, uint64_t interval_ms);
/* Closed connections (aggregated) and process events of monitored workloads, into the batch. */
void records__flows(const struct records *r, const struct flows *f);
void records__procs(const struct records *r, const struct proc_events *p);

#endif
