#include "agent/pipeline/agg.h"

#include <stdlib.h>
#include <string.h>

void agg__init(struct agg *a)
{
	idmap__init(&a->wl);
	memset(&a->total, 0, sizeof(a->total));
}

void agg__free(struct agg *a)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (idmap__next(&a->wl, &pos, &k, &v))
		free(v);
	idmap__free(&a->wl);
}

static struct workload *get(struct agg *a, uint64_t cgid)
{
	struct workload *w = idmap__get(&a->wl, cgid);

	if (w)
		return w;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cgid = cgid;
	if (idmap__put(&a->wl, cgid, w)) {
		free(w);
		return NULL;
	}
	return w;
}

/* delta of cumulative counters; a counter that went backwards restarted from zero */
static uint64_t delta(__u64 now, __u64 *last)
{
	uint64_t d = now >= *last ? now - *last : now;

	*last = now;
	return d;
}

void agg__traffic(struct agg *a, uint64_t cgid, const struct pl_traffic_counters *c)
{
	struct workload *w = get(a, cgid);
	uint64_t d;

	if (!w)
		return;
	d = delta(c->rx_bytes, &w->last_traffic.rx_bytes);
	w->cur.rx_bytes += d;
	a->total.rx_bytes += d;
	d = delta(c->tx_bytes, &w->last_traffic.tx_bytes);
	w->cur.tx_bytes += d;
	a->total.tx_bytes += d;
	d = delta(c->rx_packets, &w->last_traffic.rx_packets);
	w->cur.rx_packets += d;
	a->total.rx_packets += d;
	d = delta(c->tx_packets, &w->last_traffic.tx_packets);
	w->cur.tx_packets += d;
	a->total.tx_packets += d;
}

void agg__tcp(struct agg *a, uint64_t cgid, const struct pl_tcp_counters *c)
{
	struct workload *w = get(a, cgid);
	struct pl_tcp_counters *l;

	if (!w)
		return;
	l = &w->last_tcp;
#define D(f, to) do { uint64_t d_ = delta(c->f, &l->f); w->cur.to += d_; a->total.to += d_; } while (0)
	D(active_opens, active_opens);
	D(passive_opens, passive_opens);
	D(connect_failures, connect_failures);
	D(closes, closes);
	D(retransmits, retransmits);
	D(resets_sent, resets_sent);
	D(resets_received, resets_received);
	D(connect_lat_sum_us, connect_lat_sum_us);
	D(connect_lat_count, connect_lat_count);
	D(srtt_sum_us, srtt_sum_us);
	D(srtt_count, srtt_count);
#undef D
}

void agg__proc(struct agg *a, uint64_t cgid, const struct pl_proc_counters *c)
{
	struct workload *w = get(a, cgid);
	uint64_t d;

	if (!w)
		return;
	d = delta(c->execs, &w->last_proc.execs);
	w->cur.execs += d;
	a->total.execs += d;
	d = delta(c->exits, &w->last_proc.exits);
	w->cur.exits += d;
	a->total.exits += d;
}

bool agg__cgroup_removed(struct agg *a, uint64_t cgid)
{
	struct workload *w = idmap__get(&a->wl, cgid);

	if (w)
		w->removed = true;
	return w != NULL;
}

void agg__hold(struct agg *a, uint64_t cgid)
{
	struct workload *w = idmap__get(&a->wl, cgid);

	if (w)
		w->hold = true;
}

bool wl_counters__active(const struct wl_counters *c)
{
	static const struct wl_counters zero;

	return memcmp(c, &zero, sizeof(zero)) != 0;
}

int64_t wl_counters__connect_latency_us(const struct wl_counters *c)
{
	return c->connect_lat_count ? (int64_t)(c->connect_lat_sum_us / c->connect_lat_count) : -1;
}

int64_t wl_counters__srtt_us(const struct wl_counters *c)
{
	return c->srtt_count ? (int64_t)(c->srtt_sum_us / c->srtt_count) : -1;
}

void agg__foreach_active(struct agg *a, agg_fn fn, void *ctx)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	while (idmap__next(&a->wl, &pos, &k, &v)) {
		struct workload *w = v;

		if (wl_counters__active(&w->cur))
			fn(ctx, w);
	}
}

size_t agg__end_interval(struct agg *a, void (*forget)(void *ctx, uint64_t cgid), void *ctx)
{
	uint64_t gone[256];
	size_t ngone = 0, pos = 0;
	uint64_t k;
	void *v;

	while (idmap__next(&a->wl, &pos, &k, &v)) {
		struct workload *w = v;

		w->idle = wl_counters__active(&w->cur) ? 0 : w->idle + 1;
		if (w->hold) {
			w->hold = false;
			w->held++;
			continue;   /* counts carried into the next interval */
		}
		w->held = 0;
		memset(&w->cur, 0, sizeof(w->cur));
		if (w->removed && ngone < sizeof(gone) / sizeof(gone[0]))
			gone[ngone++] = k;
	}
	for (size_t i = 0; i < ngone; i++) {
		free(idmap__del(&a->wl, gone[i]));
		if (forget)
			forget(ctx, gone[i]);
	}
	memset(&a->total, 0, sizeof(a->total));
	return a->wl.len;
}
