/* Drop counts not yet reported to the collector (podlens.v1.DropCounters as plain C), so they can
 * be accumulated, carried forward from a lost batch, persisted with the disk spool and written into
 * the next batch. Unit-tested in tests/unit/test_export_drops.c. */
#ifndef PODLENS_AGENT_EXPORT_DROPS_H
#define PODLENS_AGENT_EXPORT_DROPS_H

#include <stddef.h>
#include <stdint.h>

#include "podlens/v1/podlens.pb-c.h"

#define DROPS_MAX_RINGBUF 32   /* distinct probe names kept; more are summed under "other" */

struct drops {
	uint64_t spool_overflow_batches;
	uint64_t spool_overflow_records;
	uint64_t export_rejected_batches;
	uint64_t export_rejected_records;
	uint64_t unattributed_events;
	uint64_t l7_parse_errors;
	uint64_t aggregation_overflow;
	size_t n_ringbuf;
	struct {
		char name[32];
		uint64_t count;
	} ringbuf[DROPS_MAX_RINGBUF];
};

void drops__add(struct drops *d, const struct drops *add);
void drops__add_ringbuf(struct drops *d, const char *name, uint64_t count);
void drops__add_proto(struct drops *d, const Podlens__V1__DropCounters *p);   /* p may be NULL */
int drops__is_zero(const struct drops *d);

/* Fill a DropCounters whose ringbuf entries point into d and into ents[DROPS_MAX_RINGBUF] and
 * ptrs[DROPS_MAX_RINGBUF] (caller storage): nothing to free; valid while d is. */
void drops__to_proto(const struct drops *d, Podlens__V1__DropCounters *p,
		     Podlens__V1__DropCounters__RingbufDropsEntry *ents,
		     Podlens__V1__DropCounters__RingbufDropsEntry **ptrs);

/* Text form for the disk spool's state file: "key value" lines, "ringbuf NAME value".
 * drops__parse_line returns 1 when the line was a drop counter, 0 otherwise. */
int drops__format(const struct drops *d, char *buf, size_t len);
int drops__parse_line(struct drops *d, const char *line);

#endif
