#include "agent/probes/l7.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/l7/http1.h"
#include "agent/l7/http_agg.h"
#include "bpf/l7.h"
#include "bpf/l7.skel.h"
#include "lib/log.h"

struct l7_link {
	uint64_t cgroup_id;
	struct bpf_link *in, *out;
};

/* req_hash -> (method, route) learned from ring buffer records, for the kernel's aggregates.
 * Open addressing, fixed size; a full or colliding slot is overwritten (an aggregate whose route
 * was forgotten is counted as unparsed). */
#define ROUTE_SLOTS 4096

struct route_slot {
	uint64_t hash;             /* 0 = empty */
	int method;
	char route[HTTP_ROUTE_MAX];
};

struct l7_probe {
	struct podlens_l7 *skel;
	struct route_slot *routes;
	struct l7_agg_key *keys;   /* scratch for l7_probe__poll */
	void *vals;
	struct bpf_program *prog_in, *prog_out;
	bool pkt;                  /* pl_pkt_* loaded (share_wl) */
	struct ring_buffer *rb;
	struct http_agg *agg;
	struct l7_link *links;
	size_t nlinks, cap;
	uint64_t events, unparsed, agg_dropped, aggregated;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct l7_probe *p = ctx;
	const struct l7_event *e = data;
	char route[HTTP_ROUTE_MAX];
	int method, rc;

	if (size < sizeof(*e))
		return 0;
	p->events++;
	if (http1__parse_request(e->req, e->req_len <= L7_REQ_CAP ? e->req_len : L7_REQ_CAP, &method,
				 route, sizeof(route))) {
		p->unparsed++;
		return 0;
	}
	if (e->req_hash) {
		struct route_slot *r = &p->routes[e->req_hash % ROUTE_SLOTS];

		r->hash = e->req_hash;
		r->method = method;
		memcpy(r->route, route, sizeof(route));
	}
	rc = http_agg__record(p->agg, e->cgroup_id, e->dir, method, route, e->status,
			      (e->latency_ns + 500) / 1000);
	if (rc == -ENOSPC)
		p->agg_dropped++;
	return 0;
}

static bool is_pow2(size_t v)
{
	return v && !(v & (v - 1));
}

struct l7_probe *l7_probe__new(const struct l7_probe_opts *o)
{
	size_t rb_bytes = o && o->ringbuf_bytes ? o->ringbuf_bytes : 4u << 20;
	struct l7_probe *p = NULL;
	int err;

	if (!o || !o->agg || !is_pow2(rb_bytes) || rb_bytes < (size_t)getpagesize()) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->agg = o->agg;
	p->routes = calloc(ROUTE_SLOTS, sizeof(*p->routes));
	p->keys = calloc(4096, sizeof(*p->keys));
	p->vals = calloc(libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1,
			 sizeof(struct l7_agg_val));
	if (!p->routes || !p->keys || !p->vals) {
		err = -ENOMEM;
		goto cleanup;
	}
	p->skel = podlens_l7__open();
	if (!p->skel) {
		err = -errno;
		log_error("l7: open bpf object: %s", strerror(-err));
		goto cleanup;
	}
	p->skel->rodata->l7_wakeup_bytes = o->wakeup_bytes ? o->wakeup_bytes : rb_bytes / 16;
	p->skel->rodata->l7_stage = o->stage;
	p->skel->rodata->l7_no_agg = o->no_kernel_agg;
	p->prog_in = o->empty ? p->skel->progs.pl_l7_empty_in : p->skel->progs.pl_l7_in;
	p->prog_out = o->empty ? p->skel->progs.pl_l7_empty_out : p->skel->progs.pl_l7_out;
	bpf_program__set_autoload(p->skel->progs.pl_l7_in, !o->empty);
	bpf_program__set_autoload(p->skel->progs.pl_l7_out, !o->empty);
	bpf_program__set_autoload(p->skel->progs.pl_l7_empty_in, o->empty);
	bpf_program__set_autoload(p->skel->progs.pl_l7_empty_out, o->empty);
	p->pkt = o->share_wl && !o->empty;
	bpf_program__set_autoload(p->skel->progs.pl_pkt_in, p->pkt);
	bpf_program__set_autoload(p->skel->progs.pl_pkt_out, p->pkt);
	if (p->pkt) {
		err = bpf_map__reuse_fd(p->skel->maps.pl_wl, o->wl_map_fd);
		if (!err)
			err = bpf_map__reuse_fd(p->skel->maps.pl_wl_traffic, o->wl_traffic_fd);
		if (err) {
			log_error("l7: reuse the traffic unit's maps: %s", strerror(-err));
			goto cleanup;
		}
	} else {
		bpf_map__set_max_entries(p->skel->maps.pl_wl_traffic, 1);   /* unused */
	}
	err = bpf_map__set_max_entries(p->skel->maps.l7_events, rb_bytes);
	if (err)
		goto cleanup;
	err = podlens_l7__load(p->skel);
	if (err) {
		log_error("l7: load cgroup_skb programs: %s", strerror(-err));
		goto cleanup;
	}
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.l7_events), on_event, p, NULL);
	if (!p->rb) {
		err = -errno;
		log_error("l7: ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	return p;
cleanup:
	l7_probe__free(p);
	errno = err < 0 ? -err : EINVAL;
	return NULL;
}

int l7_probe__attach_cgroup(struct l7_probe *p, uint64_t cgroup_id, int cgroup_dir_fd)
{
	struct l7_link l = { .cgroup_id = cgroup_id };
	int err;

	for (size_t i = 0; i < p->nlinks; i++)
		if (p->links[i].cgroup_id == cgroup_id)
			return -EEXIST;
	if (p->nlinks == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct l7_link *v = realloc(p->links, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->links = v;
		p->cap = cap;
	}
	l.in = bpf_program__attach_cgroup(p->prog_in, cgroup_dir_fd);
	if (!l.in) {
		err = -errno;
		goto fail;
	}
	l.out = bpf_program__attach_cgroup(p->prog_out, cgroup_dir_fd);
	if (!l.out) {
		err = -errno;
		bpf_link__destroy(l.in);
		goto fail;
	}
	p->links[p->nlinks++] = l;
	log_debug("l7: attached to cgroup %llu", (unsigned long long)cgroup_id);
	return 0;
fail:
	log_warn("l7: attach to cgroup %llu: %s", (unsigned long long)cgroup_id, strerror(-err));
	return err;
}

int l7_probe__detach_cgroup(struct l7_probe *p, uint64_t cgroup_id)
{
	for (size_t i = 0; i < p->nlinks; i++) {
		if (p->links[i].cgroup_id != cgroup_id)
			continue;
		bpf_link__destroy(p->links[i].in);
		bpf_link__destroy(p->links[i].out);
		p->links[i] = p->links[--p->nlinks];
		return 0;
	}
	return -ENOENT;
}

size_t l7_probe__ncgroups(const struct l7_probe *p)
{
	return p->nlinks;
}

int l7_probe__fd(struct l7_probe *p)
{
	return ring_buffer__epoll_fd(p->rb);
}

/* Move the kernel's per-key aggregates into the http_agg and delete the keys. Requests completing
 * between reading a key and deleting it (microseconds) are lost; the ring buffer is drained first
 * so every key's route is known. */
static int collect(struct l7_probe *p)
{
	int fd = bpf_map__fd(p->skel->maps.l7_agg), ncpu = libbpf_num_possible_cpus();
	struct l7_agg_key *prev = NULL;
	size_t n = 0, max = bpf_map__max_entries(p->skel->maps.l7_agg);
	struct hist h;
	int total = 0;

	if (ncpu <= 0)
		return ncpu;
	while (n < max && bpf_map_get_next_key(fd, prev, &p->keys[n]) == 0) {
		prev = &p->keys[n];
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct l7_agg_key *k = &p->keys[i];
		const struct route_slot *r = &p->routes[k->req_hash % ROUTE_SLOTS];
		uint64_t sum_ns = 0;

		if (bpf_map_lookup_elem(fd, k, p->vals))
			continue;
		bpf_map_delete_elem(fd, k);
		hist__reset(&h);
		for (int c = 0; c < ncpu; c++) {
			const struct l7_agg_val *v = (const struct l7_agg_val *)
				((const char *)p->vals + (size_t)c * sizeof(struct l7_agg_val));

			h.count += v->count;
			sum_ns += v->sum_ns;
			for (unsigned b = 0; b < L7_HIST_BUCKETS; b++)
				h.buckets[b] += v->buckets[b];
		}
		if (!h.count)
			continue;
		h.sum = (sum_ns + 500) / 1000;
		total += (int)h.count;
		p->aggregated += h.count;
		if (r->hash != k->req_hash) {
			p->unparsed += h.count;
			continue;
		}
		if (http_agg__record_hist(p->agg, k->cgroup_id, k->dir, r->method, r->route, k->status,
					  &h) == -ENOSPC)
			p->agg_dropped += h.count;
	}
	return total;
}

int l7_probe__poll(struct l7_probe *p)
{
	int n = ring_buffer__consume(p->rb), m;

	if (n < 0)
		return n;
	m = collect(p);
	return m < 0 ? m : n + m;
}

int l7_probe__stats(struct l7_probe *p, struct l7_probe_stats *s)
{
	int ncpu = libbpf_num_possible_cpus();
	struct l7_counters *v;
	uint32_t zero = 0;
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->events = p->events;
	s->aggregated = p->aggregated;
	s->unparsed = p->unparsed;
	s->agg_dropped = p->agg_dropped;
	if (ncpu <= 0)
		return ncpu;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.l7_stats), &zero, v)) {
		err = -errno;
		goto cleanup;
	}
	for (int c = 0; c < ncpu; c++) {
		s->rb_drops += v[c].rb_drops;
		s->pipelined += v[c].pipelined;
		s->no_storage += v[c].no_storage;
		s->interim += v[c].interim;
	}
cleanup:
	free(v);
	return err;
}

uint64_t l7_probe__drops(struct l7_probe *p)
{
	struct l7_probe_stats s;

	if (l7_probe__stats(p, &s))
		return p->agg_dropped;
	return s.rb_drops + s.agg_dropped;
}

int l7_probe__pkt_programs(struct l7_probe *p, struct bpf_program **in, struct bpf_program **out)
{
	if (!p->pkt)
		return -ENOENT;
	*in = p->skel->progs.pl_pkt_in;
	*out = p->skel->progs.pl_pkt_out;
	return 0;
}

static uint32_t prog_id(struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return 0;
	return info.id;
}

int l7_probe__prog_ids(struct l7_probe *p, uint32_t *ingress_id, uint32_t *egress_id)
{
	*ingress_id = prog_id(p->prog_in);
	*egress_id = prog_id(p->prog_out);
	return *ingress_id && *egress_id ? 0 : -ENOENT;
}

void l7_probe__free(struct l7_probe *p)
{
	if (!p)
		return;
	while (p->nlinks)
		l7_probe__detach_cgroup(p, p->links[0].cgroup_id);
	free(p->links);
	ring_buffer__free(p->rb);
	podlens_l7__destroy(p->skel);
	free(p->routes);
	free(p->keys);
	free(p->vals);
	free(p);
}
