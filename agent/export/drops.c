#include "agent/export/drops.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* One table for adding, formatting and parsing the scalar counters. */
static const struct {
	const char *name;
	size_t off;
} scalars[] = {
	{ "spool_overflow_batches", offsetof(struct drops, spool_overflow_batches) },
	{ "spool_overflow_records", offsetof(struct drops, spool_overflow_records) },
	{ "export_rejected_batches", offsetof(struct drops, export_rejected_batches) },
	{ "export_rejected_records", offsetof(struct drops, export_rejected_records) },
	{ "unattributed_events", offsetof(struct drops, unattributed_events) },
	{ "l7_parse_errors", offsetof(struct drops, l7_parse_errors) },
	{ "aggregation_overflow", offsetof(struct drops, aggregation_overflow) },
};
#define NSCALARS (sizeof(scalars) / sizeof(scalars[0]))

static uint64_t *field(struct drops *d, size_t i)
{
	return (uint64_t *)((char *)d + scalars[i].off);
}

static uint64_t cfield(const struct drops *d, size_t i)
{
	return *(const uint64_t *)((const char *)d + scalars[i].off);
}

void drops__add_ringbuf(struct drops *d, const char *name, uint64_t count)
{
	size_t i;

	if (!count)
		return;
	for (i = 0; i < d->n_ringbuf; i++)
		if (!strncmp(d->ringbuf[i].name, name, sizeof(d->ringbuf[i].name) - 1))
			break;
	if (i == d->n_ringbuf) {
		if (d->n_ringbuf == DROPS_MAX_RINGBUF) {
			/* table full: account under the last slot, renamed "other" */
			i = DROPS_MAX_RINGBUF - 1;
			snprintf(d->ringbuf[i].name, sizeof(d->ringbuf[i].name), "other");
		} else {
			d->n_ringbuf++;
			snprintf(d->ringbuf[i].name, sizeof(d->ringbuf[i].name), "%s", name);
			d->ringbuf[i].count = 0;
		}
	}
	d->ringbuf[i].count += count;
}

void drops__add(struct drops *d, const struct drops *add)
{
	for (size_t i = 0; i < NSCALARS; i++)
		*field(d, i) += cfield(add, i);
	for (size_t i = 0; i < add->n_ringbuf; i++)
		drops__add_ringbuf(d, add->ringbuf[i].name, add->ringbuf[i].count);
}

void drops__add_proto(struct drops *d, const Podlens__V1__DropCounters *p)
{
	if (!p)
		return;
	d->spool_overflow_batches += p->spool_overflow_batches;
	d->spool_overflow_records += p->spool_overflow_records;
	d->export_rejected_batches += p->export_rejected_batches;
	d->export_rejected_records += p->export_rejected_records;
	d->unattributed_events += p->unattributed_events;
	d->l7_parse_errors += p->l7_parse_errors;
	d->aggregation_overflow += p->aggregation_overflow;
	for (size_t i = 0; i < p->n_ringbuf_drops; i++)
		if (p->ringbuf_drops[i] && p->ringbuf_drops[i]->key)
			drops__add_ringbuf(d, p->ringbuf_drops[i]->key, p->ringbuf_drops[i]->value);
}

int drops__is_zero(const struct drops *d)
{
	for (size_t i = 0; i < NSCALARS; i++)
		if (cfield(d, i))
			return 0;
	for (size_t i = 0; i < d->n_ringbuf; i++)
		if (d->ringbuf[i].count)
			return 0;
	return 1;
}

void drops__to_proto(const struct drops *d, Podlens__V1__DropCounters *p,
		     Podlens__V1__DropCounters__RingbufDropsEntry *ents,
		     Podlens__V1__DropCounters__RingbufDropsEntry **ptrs)
{
	podlens__v1__drop_counters__init(p);
	p->spool_overflow_batches = d->spool_overflow_batches;
	p->spool_overflow_records = d->spool_overflow_records;
	p->export_rejected_batches = d->export_rejected_batches;
	p->export_rejected_records = d->export_rejected_records;
	p->unattributed_events = d->unattributed_events;
	p->l7_parse_errors = d->l7_parse_errors;
	p->aggregation_overflow = d->aggregation_overflow;
	p->n_ringbuf_drops = 0;
	p->ringbuf_drops = ptrs;
	for (size_t i = 0; i < d->n_ringbuf; i++) {
		if (!d->ringbuf[i].count)
			continue;
		podlens__v1__drop_counters__ringbuf_drops_entry__init(&ents[p->n_ringbuf_drops]);
		ents[p->n_ringbuf_drops].key = (char *)d->ringbuf[i].name;
		ents[p->n_ringbuf_drops].value = d->ringbuf[i].count;
		ptrs[p->n_ringbuf_drops] = &ents[p->n_ringbuf_drops];
		p->n_ringbuf_drops++;
	}
}

int drops__format(const struct drops *d, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	for (size_t i = 0; i < NSCALARS; i++) {
		n = snprintf(buf + off, len - off, "%s %" PRIu64 "\n", scalars[i].name, cfield(d, i));
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	for (size_t i = 0; i < d->n_ringbuf; i++) {
		n = snprintf(buf + off, len - off, "ringbuf %s %" PRIu64 "\n", d->ringbuf[i].name,
			     d->ringbuf[i].count);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return (int)off;
}

int drops__parse_line(struct drops *d, const char *line)
{
	char key[64], name[32];
	uint64_t v;

	if (sscanf(line, "ringbuf %31s %" SCNu64, name, &v) == 2) {
		drops__add_ringbuf(d, name, v);
		return 1;
	}
	if (sscanf(line, "%63s %" SCNu64, key, &v) != 2)
		return 0;
	for (size_t i = 0; i < NSCALARS; i++) {
		if (!strcmp(key, scalars[i].name)) {
			*field(d, i) += v;
			return 1;
		}
	}
	return 0;
}
