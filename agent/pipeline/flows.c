#include "agent/pipeline/flows.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS (FLOWS_MAX * 2)

int flows__init(struct flows *f)
{
	memset(f, 0, sizeof(*f));
	f->slots = calloc(NSLOTS, sizeof(*f->slots));
	return f->slots ? 0 : -ENOMEM;
}

void flows__free(struct flows *f)
{
	free(f->slots);
	f->slots = NULL;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h;
}

void flows__add(struct flows *f, const struct pl_tcp_flow_event *e)
{
	uint16_t port = e->direction == TCP_DIR_PASSIVE ? e->lport : e->rport;
	uint64_t a0, a1, h;
	size_t i;

	memcpy(&a0, e->raddr, 8);
	memcpy(&a1, e->raddr + 8, 8);
	h = mix(mix(mix(mix(e->cgroup_id, a0), a1), port), (uint64_t)e->direction << 16 | e->family);
	for (i = h % NSLOTS;; i = (i + 1) % NSLOTS) {
		struct flow_agg *s = &f->slots[i];

		if (!s->connections) {
			if (f->n >= FLOWS_MAX) {
				f->overflow++;
				return;
			}
			s->cgroup_id = e->cgroup_id;
			s->direction = e->direction;
			s->family = e->family;
			memcpy(s->raddr, e->raddr, 16);
			s->port = port;
			f->n++;
			break;
		}
		if (s->cgroup_id == e->cgroup_id && s->direction == e->direction && s->family == e->family &&
		    s->port == port && !memcmp(s->raddr, e->raddr, 16))
			break;
	}
	f->slots[i].connections++;
	f->slots[i].tx_bytes += e->bytes_acked;
	f->slots[i].rx_bytes += e->bytes_received;
	f->slots[i].retransmits += e->total_retrans;
	f->slots[i].srtt_sum_us += e->srtt_us;
	f->slots[i].duration_sum_us += e->duration_us;
	f->slots[i].connect_lat_sum_us += e->connect_lat_us;
}

const struct flow_agg *flows__next(const struct flows *f, size_t *pos)
{
	for (; *pos < NSLOTS; (*pos)++)
		if (f->slots[*pos].connections)
			return &f->slots[(*pos)++];
	return NULL;
}

void flows__reset(struct flows *f)
{
	if (f->n)
		memset(f->slots, 0, NSLOTS * sizeof(*f->slots));
	f->n = 0;
}
