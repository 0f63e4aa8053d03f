#include "agent/export/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/l7.h"
#include "agent/pipeline/peers.h"
#include "lib/hist.h"

#define AF_INET_ 2

/* ---------------------------------------------------------------- arena */
struct block {
	struct block *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct ptrvec {
	void **v;
	size_t n, cap;
};

struct batch {
	struct block *blocks;
	struct ptrvec workloads, flows, procs, drops;
	Podlens__V1__Batch msg;
	Podlens__V1__DropCounters dropc;
};

static void *arena(struct batch *b, size_t n)
{
	struct block *blk = b->blocks;

	n = (n + 15) & ~(size_t)15;
	if (!blk || blk->used + n > blk->cap) {
		size_t cap = n > 65536 ? n : 65536;

		blk = malloc(sizeof(*blk) + cap);
		if (!blk)
			return NULL;
		blk->next = b->blocks;
		blk->used = 0;
		blk->cap = cap;
		b->blocks = blk;
	}
	blk->used += n;
	return memset(blk->data + blk->used - n, 0, n);
}

static char *astr(struct batch *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *p = arena(b, n + 1);

	if (p && n)
		memcpy(p, s, n);
	return p ? p : (char *)"";
}

static void push(struct ptrvec *v, void *p)
{
	if (!p)
		return;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void **nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = p;
}

struct batch *batch__new(void)
{
	return calloc(1, sizeof(struct batch));
}

void batch__reset(struct batch *b)
{
	while (b->blocks) {
		struct block *n = b->blocks->next;

		free(b->blocks);
		b->blocks = n;
	}
	b->workloads.n = b->flows.n = b->procs.n = b->drops.n = 0;
}

void batch__free(struct batch *b)
{
	if (!b)
		return;
	batch__reset(b);
	free(b->workloads.v);
	free(b->flows.v);
	free(b->procs.v);
	free(b->drops.v);
	free(b);
}

/* ---------------------------------------------------------------- messages */
static Podlens__V1__Workload *workload(struct batch *b, const struct wl_meta *m)
{
	Podlens__V1__Workload *w = arena(b, sizeof(*w));

	if (!w)
		return NULL;
	podlens__v1__workload__init(w);
	w->node = astr(b, m->node);
	w->namespace_ = astr(b, m->namespace_);
	w->pod = astr(b, m->pod);
	w->pod_uid = astr(b, m->pod_uid);
	w->container = astr(b, m->container);
	w->container_id = astr(b, m->container_id);
	w->image = astr(b, m->image);
	w->owner_kind = astr(b, m->owner_kind);
	w->owner_name = astr(b, m->owner_name);
	w->cgroup_id = m->cgid;
	w->cgroup_path = astr(b, m->cgroup_path);
	if (m->n_ips) {
		w->pod_ips = arena(b, m->n_ips * sizeof(*w->pod_ips));
		for (unsigned i = 0; w->pod_ips && i < m->n_ips && i < WL_META_MAX_IPS; i++)
			w->pod_ips[w->n_pod_ips++] = astr(b, m->ips[i]);
	}
	return w;
}

/* the arena, for the L7 modules' messages (agent/l7/module.h) */
static void *l7_alloc(void *ctx, size_t n)
{
	return arena(ctx, n);
}

static char *l7_str(void *ctx, const char *s)
{
	return astr(ctx, s);
}

void batch__add_workload(struct batch *b, const struct wl_meta *m, const struct wl_counters *c,
			 const struct l7_set *l7)
{
	Podlens__V1__WorkloadStats *ws = arena(b, sizeof(*ws));
	Podlens__V1__PodTraffic *t = arena(b, sizeof(*t));
	Podlens__V1__TcpHealth *h = arena(b, sizeof(*h));
	int64_t v;

	if (!ws || !t || !h)
		return;
	podlens__v1__workload_stats__init(ws);
	podlens__v1__pod_traffic__init(t);
	podlens__v1__tcp_health__init(h);
	ws->workload = workload(b, m);
	t->rx_bytes = c->rx_bytes;
	t->tx_bytes = c->tx_bytes;
	t->rx_packets = c->rx_packets;
	t->tx_packets = c->tx_packets;
	h->active_opens = c->active_opens;
	h->passive_opens = c->passive_opens;
	h->closes = c->closes;
	h->retransmits = c->retransmits;
	h->resets_sent = c->resets_sent;
	h->resets_received = c->resets_received;
	h->connects = c->connect_lat_count;
	if ((v = wl_counters__srtt_us(c)) >= 0) {
		h->_srtt_us_case = PODLENS__V1__TCP_HEALTH___SRTT_US_SRTT_US;
		h->srtt_us = (uint32_t)v;
	}
	if ((v = wl_counters__connect_latency_us(c)) >= 0) {
		h->_connect_latency_us_case = PODLENS__V1__TCP_HEALTH___CONNECT_LATENCY_US_CONNECT_LATENCY_US;
		h->connect_latency_us = (uint32_t)v;
	}
	ws->traffic = t;
	ws->tcp = h;
	if (l7)
		l7_set__batch(l7, m->cgid, ws, &(struct l7_arena){ l7_alloc, l7_str, b });
	push(&b->workloads, ws);
}

static ProtobufCBinaryData addr(struct batch *b, uint16_t family, const uint8_t *a)
{
	ProtobufCBinaryData d = { 0, NULL };
	size_t n = family == AF_INET_ ? 4 : 16;

	d.data = arena(b, n);
	if (d.data) {
		memcpy(d.data, a, n);
		d.len = n;
	}
	return d;
}

void batch__add_flow(struct batch *b, const struct wl_meta *local, const struct wl_meta *remote,
		     const struct flow_agg *fa)
{
	Podlens__V1__Flow *f = arena(b, sizeof(*f));

	if (!f)
		return;
	podlens__v1__flow__init(f);
	f->local = workload(b, local);
	f->remote = remote ? workload(b, remote) : NULL;
	f->local_addr = addr(b, fa->family, fa->laddr);
	f->remote_addr = addr(b, fa->family, fa->raddr);
	/* the service port, and the client's port while all connections of the record had one */
	if (fa->direction == TCP_DIR_PASSIVE) {
		f->local_port = fa->port;
		f->remote_port = fa->peer_port;
		f->direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND;
	} else {
		f->remote_port = fa->port;
		f->local_port = fa->peer_port;
		f->direction = fa->direction == TCP_DIR_ACTIVE ? PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND
							       : PODLENS__V1__FLOW__DIRECTION__DIRECTION_UNSPECIFIED;
	}
	f->rx_bytes = fa->rx_bytes;
	f->tx_bytes = fa->tx_bytes;
	f->retransmits = fa->retransmits;
	f->duration_us = fa->duration_sum_us / fa->connections;
	f->connections = (uint32_t)(fa->connections > UINT32_MAX ? UINT32_MAX : fa->connections);
	f->closed = 1;
	f->_srtt_us_case = PODLENS__V1__FLOW___SRTT_US_SRTT_US;
	f->srtt_us = (uint32_t)(fa->srtt_sum_us / fa->connections);
	if (fa->direction == TCP_DIR_ACTIVE) {
		f->_connect_latency_us_case = PODLENS__V1__FLOW___CONNECT_LATENCY_US_CONNECT_LATENCY_US;
		f->connect_latency_us = (uint32_t)(fa->connect_lat_sum_us / fa->connections);
	}
	push(&b->flows, f);
}

void batch__add_process(struct batch *b, const struct wl_meta *m, const struct pl_proc_event *e,
			uint64_t time_unix_ms)
{
	Podlens__V1__ProcessEvent *p = arena(b, sizeof(*p));
	char comm[PROC_COMM_LEN + 1], file[PROC_FILENAME_LEN + 1];

	if (!p)
		return;
	podlens__v1__process_event__init(p);
	memcpy(comm, e->comm, PROC_COMM_LEN);
	comm[PROC_COMM_LEN] = '\0';
	memcpy(file, e->filename, PROC_FILENAME_LEN);
	file[PROC_FILENAME_LEN] = '\0';
	p->kind = e->type == PROC_EXEC ? PODLENS__V1__PROCESS_EVENT__KIND__KIND_EXEC
				       : PODLENS__V1__PROCESS_EVENT__KIND__KIND_EXIT;
	p->time_unix_ms = time_unix_ms;
	p->pid = e->pid;
	p->comm = astr(b, comm);
	p->filename = astr(b, file);
	p->cgroup_id = e->cgroup_id;
	p->workload = workload(b, m);
	if (e->type == PROC_EXIT) {
		p->_exit_code_case = PODLENS__V1__PROCESS_EVENT___EXIT_CODE_EXIT_CODE;
		p->exit_code = (int32_t)e->exit_code;
	}
	push(&b->procs, p);
}

void batch__add_drop(struct batch *b, const char *ringbuf, uint64_t n)
{
	Podlens__V1__DropCounters__RingbufDropsEntry *d = arena(b, sizeof(*d));

	if (!d)
		return;
	podlens__v1__drop_counters__ringbuf_drops_entry__init(d);
	d->key = astr(b, ringbuf);
	d->value = n;
	push(&b->drops, d);
}

Podlens__V1__Batch *batch__get(struct batch *b, uint64_t interval_start_unix_ms, uint32_t interval_ms)
{
	Podlens__V1__Batch *m = &b->msg;

	podlens__v1__batch__init(m);
	podlens__v1__drop_counters__init(&b->dropc);
	m->interval_start_unix_ms = interval_start_unix_ms;
	m->interval_ms = interval_ms;
	m->n_workloads = b->workloads.n;
	m->workloads = (Podlens__V1__WorkloadStats **)b->workloads.v;
	m->n_flows = b->flows.n;
	m->flows = (Podlens__V1__Flow **)b->flows.v;
	m->n_process_events = b->procs.n;
	m->process_events = (Podlens__V1__ProcessEvent **)b->procs.v;
	b->dropc.n_ringbuf_drops = b->drops.n;
	b->dropc.ringbuf_drops = (Podlens__V1__DropCounters__RingbufDropsEntry **)b->drops.v;
	m->drops = &b->dropc;
	return m;
}

size_t batch__records(const struct batch *b)
{
	return b->workloads.n + b->flows.n + b->procs.n;
}

/* ---------------------------------------------------------------- peers */
struct peers_ctx {
	struct batch *b;
	Podlens__V1__WorkloadStats *ws;
};

static int add_peer(const struct peer_entry *e, void *ctx)
{
	struct peers_ctx *c = ctx;
	Podlens__V1__PeerRequests *pr = arena(c->b, sizeof(*pr));

	if (!pr)
		return -ENOMEM;
	podlens__v1__peer_requests__init(pr);
	pr->direction = e->dir == PEERS_DIR_CLIENT ? PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT
						   : PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER;
	if (e->family) {
		pr->peer_addr.len = e->family == AF_INET_ ? 4 : 16;
		pr->peer_addr.data = arena(c->b, 16);
		if (!pr->peer_addr.data)
			return -ENOMEM;
		memcpy(pr->peer_addr.data, e->addr, pr->peer_addr.len);
	}
	pr->peer_port = e->port;
	pr->count = e->hist.count;
	pr->errors = e->errors;
	pr->client_errors = e->client_errors;
	pr->sum_us = e->hist.sum;
	if (l7_arena__buckets(&(struct l7_arena){ l7_alloc, l7_str, c->b }, &e->hist, &pr->buckets, &pr->n_buckets))
		return -ENOMEM;
	c->ws->peer_requests[c->ws->n_peer_requests++] = pr;
	return 0;
}

static int count_peer(const struct peer_entry *e, void *ctx)
{
	(void)e;
	++*(size_t *)ctx;
	return 0;
}

int batch__add_peers(struct batch *b, const struct peers *p, uint64_t cgroup_id)
{
	struct peers_ctx c = { .b = b };
	size_t n = 0;
	int err;

	if (!p || !b->workloads.n || !cgroup_id)
		return 0;
	c.ws = b->workloads.v[b->workloads.n - 1];
	if (!c.ws->workload || c.ws->workload->cgroup_id != cgroup_id)
		return -ENOENT;
	err = peers__foreach(p, cgroup_id, count_peer, &n);
	if (err || !n)
		return err;
	c.ws->peer_requests = arena(b, n * sizeof(*c.ws->peer_requests));
	if (!c.ws->peer_requests)
		return -ENOMEM;
	c.ws->n_peer_requests = 0;
	return peers__foreach(p, cgroup_id, add_peer, &c);
}
