#include "agent/pipeline/procs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int proc_events__init(struct proc_events *p)
{
	memset(p, 0, sizeof(*p));
	p->v = calloc(PROCS_MAX, sizeof(*p->v));
	return p->v ? 0 : -ENOMEM;
}

void proc_events__free(struct proc_events *p)
{
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

void proc_events__add(struct proc_events *p, const struct pl_proc_event *e, uint64_t ts_ms)
{
	if (p->n < PROCS_MAX) {
		p->v[p->n].e = *e;
		p->v[p->n++].ts_ms = ts_ms;
	} else {
		p->overflow++;
	}
}

void proc_events__reset(struct proc_events *p)
{
	p->n = 0;
}
