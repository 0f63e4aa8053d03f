/* Process events (exec, exit) kept for the interval's export batch. Bounded: events beyond
 * PROCS_MAX in one interval are counted in overflow, not kept. */
#ifndef PODLENS_AGENT_PIPELINE_PROCS_H
#define PODLENS_AGENT_PIPELINE_PROCS_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/proc.h"

#define PROCS_MAX 4096

struct proc_rec {
	struct pl_proc_event e;
	uint64_t ts_ms;             /* wall clock when the agent read it */
};

struct proc_events {
	struct proc_rec *v;         /* PROCS_MAX slots */
	size_t n;
	uint64_t overflow;          /* since start */
};

int proc_events__init(struct proc_events *p);
void proc_events__free(struct proc_events *p);
void proc_events__add(struct proc_events *p, const struct pl_proc_event *e, uint64_t ts_ms);
void proc_events__reset(struct proc_events *p);   /* keeps the overflow count */

#endif
