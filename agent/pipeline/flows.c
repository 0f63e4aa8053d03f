#include "agent/pipeline/flows.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
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

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void flows__decode(const struct pl_tcp_flow_event *e, struct flow_addrs *out)
{
	memset(out, 0, sizeof(*out));
	out->family = e->family;
	if (e->family == AF_INET) {
		memcpy(out->laddr, e->laddr, 4);
		memcpy(out->raddr, e->raddr, 4);
	} else if (e->family == AF_INET6 && !memcmp(e->laddr, v4mapped, 12) && !memcmp(e->raddr, v4mapped, 12)) {
		out->family = AF_INET;
		memcpy(out->laddr, e->laddr + 12, 4);
		memcpy(out->raddr, e->raddr + 12, 4);
	} else {
		memcpy(out->laddr, e->laddr, 16);
		memcpy(out->raddr, e->raddr, 16);
	}
}

const char *flows__addr_text(uint16_t family, const uint8_t *addr, char *out, size_t len)
{
	if ((family != AF_INET && family != AF_INET6) || !inet_ntop(family, addr, out, (socklen_t)len))
		out[0] = '\0';
	return out;
}

static uint64_t mix16(uint64_t h, const uint8_t *a)
{
	uint64_t a0, a1;

	memcpy(&a0, a, 8);
	memcpy(&a1, a + 8, 8);
	return mix(mix(h, a0), a1);
}

void flows__add(struct flows *f, const struct pl_tcp_flow_event *e)
{
	bool passive = e->direction == TCP_DIR_PASSIVE;
	uint16_t port = passive ? e->lport : e->rport, peer_port = passive ? e->rport : e->lport;
	struct flow_addrs a;
	uint64_t h;
	size_t i;

	flows__decode(e, &a);
	h = mix16(mix16(e->cgroup_id, a.laddr), a.raddr);
	h = mix(mix(h, port), (uint64_t)e->direction << 16 | a.family);
	for (i = h % NSLOTS;; i = (i + 1) % NSLOTS) {
		struct flow_agg *s = &f->slots[i];

		if (!s->connections) {
			if (f->n >= FLOWS_MAX) {
				f->overflow++;
				return;
			}
			s->cgroup_id = e->cgroup_id;
			s->direction = e->direction;
			s->family = a.family;
			memcpy(s->laddr, a.laddr, 16);
			memcpy(s->raddr, a.raddr, 16);
			s->port = port;
			s->peer_port = peer_port;
			f->n++;
			break;
		}
		if (s->cgroup_id == e->cgroup_id && s->direction == e->direction && s->family == a.family &&
		    s->port == port && !memcmp(s->raddr, a.raddr, 16) && !memcmp(s->laddr, a.laddr, 16)) {
			if (s->peer_port != peer_port)
				s->peer_port = 0;
			break;
		}
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
