#include "agent/probes/l7.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/l7/h2_batch.h"
#include "agent/l7/l7.h"
#include "agent/probes/dns_order.h"
#include "agent/pipeline/peers.h"
#include "bpf/l7.h"
#include "bpf/l7.skel.h"
#include "lib/clock.h"
#include "lib/log.h"

struct l7_link {
	uint64_t cgroup_id;
	struct bpf_link *in, *out;
};

/* (module, req_hash) -> the module's parsed request key (HTTP/1: method and route), learned from
 * ring buffer records, for the kernel's aggregates. An entry must outlive the aggregates of its
 * hash: the record of a key that claimed a cache slot is consumed at some poll, the slot is read at
 * the next harvest (claimed just after a flip: at the one after), so an entry learned since the
 * previous flip is still needed. A direct-mapped table lost such entries to any other hash of the
 * same slot learned in between (about 20 slot collisions among l7_http's 400 keys: now and then
 * one request per side counted as unparsed). Open addressing over a window of ROUTE_PROBE slots
 * from hash % ROUTE_SLOTS: a key takes its own entry, else the window's first empty slot, else its
 * entry learned longest ago (route_gen counts flips). Only a window holding ROUTE_PROBE keys
 * learned since the previous flip loses an entry still needed (its aggregates are then counted as
 * unparsed). */
#define ROUTE_SLOTS 4096
#define ROUTE_PROBE 8

struct route_slot {
	uint64_t hash;             /* 0 = empty */
	uint64_t gen;              /* route_gen when last learned */
	unsigned proto;            /* L7_PROTO_* */
	_Alignas(8) char req[L7_REQ_KEY_MAX];
	/* the peer the kernel folded into hash (struct l7_event raddr): family 4, 6 or 0 (none) */
	uint8_t raddr[16];
	uint16_t rport;
	uint8_t family;
};

struct l7_probe {
	struct podlens_l7 *skel;
	struct route_slot *routes;
	struct l7_agg_key *keys;   /* scratch for l7_probe__poll */
	void *vals;
	/* the cache in front of l7_agg (bpf/l7.h): one slot's per-CPU values, zeros to reset it, and
	 * the map-in-map whose update is the harvest's barrier (-1: no cache) */
	void *cache_vals, *cache_zero;
	int sync_fd, sync_inner_fd;
	struct bpf_program *prog_in, *prog_out;
	bool pkt;                  /* pl_pkt_* loaded (share_wl) */
	struct ring_buffer *rb;
	struct l7_set *set;
	struct peers *peers;       /* NULL: no per-peer figures */
	uint64_t route_gen;        /* harvests that flipped the cache (route_slot.gen) */
	struct l7_link *links;
	size_t nlinks, cap;
	uint64_t events, unparsed, agg_dropped, aggregated, cached, dns_events, h2_events;
	/* DNS records on their way to the module, in timestamp order (NULL: the kernel does not
	 * batch them) */
	struct dns_order *order;
	int ncpu;
	void *dns_vals, *dns_zero; /* one half's per-CPU batches; zeros to reset them */
	uint64_t dns_batches, dns_flushes, h2_batches, h2_bad;
	/* HTTP/2 records on their way to the module, in timestamp order (NULL: the kernel sends each
	 * packet's batch at once, in order), and one half's kept per-CPU batches (value stride
	 * h2_stride: struct l7_h2_batch first) with zeros to reset them */
	struct dns_order *h2order;
	void *h2_vals, *h2_zero;
	size_t h2_stride;
	uint64_t h2_flushes;
};

static struct route_slot *route_find(struct l7_probe *p, uint64_t hash, unsigned proto)
{
	if (!hash)
		return NULL;
	for (unsigned i = 0; i < ROUTE_PROBE; i++) {
		struct route_slot *r = &p->routes[(hash + i) % ROUTE_SLOTS];

		if (r->hash == hash && r->proto == proto)
			return r;
	}
	return NULL;
}

/* A request's peer into p->peers (the kernel's family 4/6 -> AF_INET/AF_INET6). */
static void peer_record(struct l7_probe *p, uint64_t cgid, int dir, int status, unsigned family,
			const uint8_t *raddr, uint16_t rport, const struct hist *h)
{
	if (p->peers && (family == 4 || family == 6))
		peers__record(p->peers, cgid, dir, family == 4 ? AF_INET : AF_INET6, raddr, rport, status, h);
}

static void route_learn(struct l7_probe *p, uint64_t hash, unsigned proto, const void *req,
			size_t size, const struct l7_event *e)
{
	struct route_slot *r = route_find(p, hash, proto), *s;

	for (unsigned i = 0; !r && i < ROUTE_PROBE; i++) {
		s = &p->routes[(hash + i) % ROUTE_SLOTS];
		if (!s->hash)
			r = s;                          /* the first empty slot */
	}
	if (!r) {
		r = &p->routes[hash % ROUTE_SLOTS];     /* else the entry learned longest ago */
		for (unsigned i = 1; i < ROUTE_PROBE; i++) {
			s = &p->routes[(hash + i) % ROUTE_SLOTS];
			if (s->gen < r->gen)
				r = s;
		}
	}
	r->hash = hash;
	r->gen = p->route_gen;
	r->proto = proto;
	memcpy(r->req, req, size);
	memcpy(r->raddr, e->raddr, sizeof(r->raddr));
	r->rport = e->rport;
	r->family = e->family;
}

/* DNS records on their way to the DNS module (agent/l7/module.h: consume). */
static void dns_feed(struct l7_probe *p, const void *rec, size_t size)
{
	const struct l7_module *m;
	void *agg;

	m = l7_set__module(p->set, L7_PROTO_DNS, &agg);
	if (!m || !m->consume)
		return;
	p->dns_events++;
	if (m->consume(agg, rec, size) == -ENOSPC)
		p->agg_dropped++;
}

static void dns_feed_ordered(void *ctx, const struct l7_dns_event *e)
{
	dns_feed(ctx, e, sizeof(*e));
}

/* n records of one CPU's batch (cpu >= 0), or sent alone or read at a harvest (-1): in timestamp
 * order through p->order (agent/probes/dns_order.h) when the kernel batches, else as they come. */
static void dns_hold(struct l7_probe *p, const struct l7_dns_event *e, size_t n, int cpu)
{
	if (!p->order) {
		for (size_t i = 0; i < n; i++)
			dns_feed(p, &e[i], sizeof(*e));
		return;
	}
	dns_order__add(p->order, e, n, cpu);
}

struct h2_feed {
	struct l7_probe *p;
	const struct l7_module *m;
	void *agg;
};

static void h2_feed(void *ctx, const struct l7_h2_event *e)
{
	struct h2_feed *f = ctx;

	if (f->m->consume(f->agg, e, sizeof(*e)) == -ENOSPC)
		f->p->agg_dropped++;
}

/* from the reorder hold, in timestamp order: the head and len data bytes (h2_hold_add) */
static void h2_feed_ordered(void *ctx, const void *rec)
{
	const size_t head = offsetof(struct l7_h2_event, data);
	struct l7_probe *p = ctx;
	struct h2_feed f = { .p = p };
	struct l7_h2_event ev;

	f.m = l7_set__module(p->set, L7_PROTO_HTTP2, &f.agg);
	if (!f.m || !f.m->consume)
		return;
	memcpy(&ev, rec, head);
	memcpy(ev.data, (const unsigned char *)rec + head, ev.len);
	h2_feed(&f, &ev);
}

/* into the hold in the bytes it uses (len checked: at most L7_H2_CAP) */
static void h2_hold_add(struct l7_probe *p, const struct l7_h2_event *e, int cpu)
{
	struct l7_h2_event ev;

	if (e->len > L7_H2_CAP) {
		memcpy(&ev, e, sizeof(ev));
		ev.len = L7_H2_CAP;
		e = &ev;
	}
	dns_order__add_sized(p->h2order, e, offsetof(struct l7_h2_event, data) + e->len, cpu);
}

struct h2_hold {
	struct l7_probe *p;
	int cpu;
};

static void h2_hold_one(void *ctx, const struct l7_h2_event *e)
{
	struct h2_hold *h = ctx;

	h2_hold_add(h->p, e, h->cpu);
}

/* A batch of HTTP/2 records (struct l7_h2_batch, bpf/l7.h: a ring record, or a kept batch read at
 * a harvest: cpu -1) into the module's struct l7_h2_event records (agent/l7/h2_batch.h): through
 * the reorder hold when the kernel keeps batches across packets, else at once. A batch whose
 * entries do not add up to its length is counted and dropped from the first bad entry on. */
static void h2_split(struct l7_probe *p, const void *data, size_t size, int cpu)
{
	struct h2_feed f = { .p = p };
	struct h2_hold h = { .p = p, .cpu = cpu };
	size_t n;
	int rc;

	f.m = l7_set__module(p->set, L7_PROTO_HTTP2, &f.agg);
	if (!f.m || !f.m->consume)
		return;
	if (p->h2order)
		rc = h2_batch__unpack(data, size, h2_hold_one, &h, &n);
	else
		rc = h2_batch__unpack(data, size, h2_feed, &f, &n);
	p->h2_batches += rc != -EINVAL;
	p->h2_bad += rc != 0;
	p->h2_events += n;
}

/* A packed batch (a ring record, or a per-CPU value read at a harvest: cpu -1), unpacked into
 * whole records; records it cannot hold go to the module short, which counts them malformed. */
static void dns_batch(struct l7_probe *p, const void *data, size_t size, int cpu)
{
	struct l7_dns_event ev[L7_DNS_BATCH];
	size_t n, bad;

	if (size < offsetof(struct l7_dns_batch, buf))
		return;
	n = dns_batch__unpack(data, size, ev, &bad);
	if (n)
		dns_hold(p, ev, n, cpu);
	while (bad--)
		dns_feed(p, data, 0);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct l7_probe *p = ctx;
	const struct l7_event *e = data;
	_Alignas(8) char req[L7_REQ_KEY_MAX];
	const struct l7_module *m;
	void *agg;
	int rc;

	if (size < offsetof(struct l7_event, proto) + sizeof(e->proto))
		return 0;
	if (e->proto == L7_PROTO_DNS_BATCH) {
		p->dns_batches++;
		dns_batch(p, data, size, (int)((const struct l7_dns_batch *)data)->cpu);
		return 0;
	}
	if (e->proto == L7_PROTO_H2_BATCH) {
		uint32_t cpu = size >= offsetof(struct l7_h2_batch, buf) ?
			       ((const struct l7_h2_batch *)data)->cpu : L7_H2_CPU_NONE;

		h2_split(p, data, size, cpu < (uint32_t)p->ncpu ? (int)cpu : -1);
		return 0;
	}
	if (e->proto == L7_PROTO_HTTP2 && p->h2order && size >= sizeof(struct l7_h2_event)) {
		/* a record sent alone (connection opened, boundaries lost): in order with the
		 * batches */
		p->h2_events++;
		h2_hold_add(p, data, -1);
		return 0;
	}
	if (e->proto == L7_PROTO_DNS) {
		if (size >= sizeof(struct l7_dns_event))
			dns_hold(p, data, 1, -1);
		else
			dns_feed(p, data, size);   /* the module counts it malformed */
		return 0;
	}
	m = l7_set__module(p->set, e->proto, &agg);
	if (m && m->consume) {
		/* a record of the module's own shape (DNS: struct l7_dns_event) */
		p->dns_events += e->proto == L7_PROTO_DNS;
		p->h2_events += e->proto == L7_PROTO_HTTP2;
		if (m->consume(agg, data, size) == -ENOSPC)
			p->agg_dropped++;
		return 0;
	}
	if (size < sizeof(*e))
		return 0;
	p->events++;
	if (!m || m->parse(e, req)) {
		p->unparsed++;
		return 0;
	}
	if (e->req_hash)
		route_learn(p, e->req_hash, e->proto, req, m->req_size, e);
	rc = m->record(agg, e->cgroup_id, e->dir, e->status, req, (e->latency_ns + 500) / 1000);
	if (rc == -ENOSPC)
		p->agg_dropped++;
	if (p->peers && e->family) {
		struct hist h;

		hist__reset(&h);
		hist__record(&h, (e->latency_ns + 500) / 1000);
		peer_record(p, e->cgroup_id, e->dir, e->status, e->family, e->raddr, e->rport, &h);
	}
	return 0;
}

/* The harvest barrier. Updating an ARRAY_OF_MAPS slot from user space returns only after an RCU
 * grace period (kernel/bpf/syscall.c, maybe_wait_bpf_programs: so that user space knows no program
 * still uses the old inner map; the kernel's selftests use it the same way), and cgroup_skb
 * programs run inside rcu_read_lock: after the update, no program still holds the cache half
 * that l7_cache_gen named before. */
static int sync_create(struct l7_probe *p)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);

	p->sync_inner_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "pl_l7_sync_in", 4, 4, 1, NULL);
	if (p->sync_inner_fd < 0)
		return -errno;
	o.inner_map_fd = p->sync_inner_fd;
	p->sync_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "pl_l7_sync", 4, 4, 1, &o);
	return p->sync_fd < 0 ? -errno : 0;
}

static int sync_programs(struct l7_probe *p)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(p->sync_fd, &zero, &p->sync_inner_fd, BPF_ANY) ? -errno : 0;
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

	if (!o || !o->set || !is_pow2(rb_bytes) || rb_bytes < (size_t)getpagesize()) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->set = o->set;
	p->peers = o->peers;
	p->sync_fd = p->sync_inner_fd = -1;
	p->routes = calloc(ROUTE_SLOTS, sizeof(*p->routes));
	p->keys = calloc(4096, sizeof(*p->keys));
	p->vals = calloc(libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1,
			 sizeof(struct l7_agg_val));
	p->cache_vals = calloc(libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1,
			       sizeof(struct l7_cache_ent));
	p->cache_zero = calloc(libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1,
			       sizeof(struct l7_cache_ent));
	if (!p->routes || !p->keys || !p->vals || !p->cache_vals || !p->cache_zero) {
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
	if (o->dns_ports_set) {
		/* dns.ports: the list as given (an empty list turns DNS capture off: port 0 never
		 * matches a real socket) */
		for (int i = 0; i < L7_DNS_PORTS_MAX; i++)
			p->skel->rodata->l7_dns_ports[i] = o->dns_ports[i];
	}
	if (!o->no_kernel_agg && (err = sync_create(p))) {
		log_warn("l7: no harvest barrier (map-in-map: %s): repeated requests use the hash only",
			 strerror(-err));
		p->skel->rodata->l7_use_cache = 0;
	}
	if (o->no_kernel_agg)
		p->skel->rodata->l7_use_cache = 0;
	/* the DNS batches are harvested behind the cache's barrier: without it, every record alone */
	p->skel->rodata->l7_dns_batching = p->skel->rodata->l7_use_cache;
	p->ncpu = libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1;
	if (p->skel->rodata->l7_dns_batching) {
		/* 8192 records of 208 bytes (1.7 MiB): two CPUs fill it in ~40 ms at 100k queries/s */
		p->order = dns_order__new(8192, p->ncpu, dns_feed_ordered, p);
		p->dns_vals = calloc(p->ncpu, sizeof(struct l7_dns_batch));
		p->dns_zero = calloc(p->ncpu, sizeof(struct l7_dns_batch));
		if (!p->order || !p->dns_vals || !p->dns_zero) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	/* the kept HTTP/2 batches are harvested behind the same barrier */
	p->skel->rodata->l7_h2_keep = p->skel->rodata->l7_use_cache;
	if (p->skel->rodata->l7_h2_keep) {
		/* 32768 records in 2 MiB (a record: its 48-byte head and its header block bytes,
		 * ~80 bytes under h2load), so that the quarter kept for reading the partial
		 * batches takes a drain of the ring (256 KiB of batches, ~3,000 records) */
		p->h2order = dns_order__new_sized(32768, 2u << 20, sizeof(struct l7_h2_event),
						  L7_H2_BBUF / sizeof(struct l7_h2_ent), p->ncpu,
						  h2_feed_ordered, p);
		p->h2_stride = (bpf_map__value_size(p->skel->maps.l7_h2_batch) + 7) & ~(size_t)7;
		p->h2_vals = calloc(p->ncpu, p->h2_stride);
		p->h2_zero = calloc(p->ncpu, p->h2_stride);
		if (!p->h2order || !p->h2_vals || !p->h2_zero) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	p->prog_in = o->empty ? p->skel->progs.pl_l7_empty_in : p->skel->progs.pl_l7_in;
	p->prog_out = o->empty ? p->skel->progs.pl_l7_empty_out : p->skel->progs.pl_l7_out;
	bpf_program__set_autoload(p->skel->progs.pl_l7_in, !o->empty);
	bpf_program__set_autoload(p->skel->progs.pl_l7_out, !o->empty);
	bpf_program__set_autoload(p->skel->progs.pl_l7_empty_in, o->empty);
	bpf_program__set_autoload(p->skel->progs.pl_l7_empty_out, o->empty);
	p->pkt = o->share_wl && !o->empty;
	bpf_program__set_autoload(p->skel->progs.pl_pkt_in, p->pkt);
	bpf_program__set_autoload(p->skel->progs.pl_pkt_out, p->pkt);
	err = wl_shared__reuse(p->pkt ? &o->wl : NULL, p->skel->obj);
	if (err) {
		log_error("l7: reuse the traffic unit's maps: %s", strerror(-err));
		goto cleanup;
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

/* Record nvals per-CPU histograms of key k (stride bytes apart) as one: the requests counted. */
static int record_vals(struct l7_probe *p, const struct l7_agg_key *k, const void *vals, int nvals,
		       size_t stride)
{
	const struct route_slot *r;
	const struct l7_module *m;
	uint64_t sum_ns = 0;
	struct hist h;
	void *agg;

	hist__reset(&h);
	for (int c = 0; c < nvals; c++) {
		const struct l7_agg_val *v = (const struct l7_agg_val *)((const char *)vals + (size_t)c * stride);

		h.count += v->count;
		sum_ns += v->sum_ns;
		for (unsigned b = 0; b < L7_HIST_BUCKETS; b++)
			h.buckets[b] += v->buckets[b];
	}
	if (!h.count)
		return 0;
	h.sum = (sum_ns + 500) / 1000;
	p->aggregated += h.count;
	r = route_find(p, k->req_hash, k->proto);
	if (!r && ring_buffer__consume(p->rb) > 0)
		/* the program inserts a hash key before it submits the key's record: a key read
		 * just after the poll drained the ring can have been counted (a later request of the
		 * same connection) with its record submitted since */
		r = route_find(p, k->req_hash, k->proto);
	if (!r || !(m = l7_set__module(p->set, k->proto, &agg)))
		p->unparsed += h.count;
	else if (m->record_hist(agg, k->cgroup_id, k->dir, k->status, r->req, &h) == -ENOSPC)
		p->agg_dropped += h.count;
	if (r)
		peer_record(p, k->cgroup_id, k->dir, k->status, r->family, r->raddr, r->rport, &h);
	return (int)h.count;
}

/* Move the kernel's per-key aggregates into the modules' aggregators and delete the keys. Requests
 * completing between reading a key and deleting it (microseconds) are lost; the ring buffer is
 * drained first so every key's route is known. */
static int collect(struct l7_probe *p)
{
	int fd = bpf_map__fd(p->skel->maps.l7_agg), ncpu = libbpf_num_possible_cpus();
	struct l7_agg_key *prev = NULL;
	size_t n = 0, max = bpf_map__max_entries(p->skel->maps.l7_agg);
	int total = 0;

	if (ncpu <= 0)
		return ncpu;
	while (n < max && bpf_map_get_next_key(fd, prev, &p->keys[n]) == 0) {
		prev = &p->keys[n];
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct l7_agg_key *k = &p->keys[i];

		if (bpf_map_lookup_elem(fd, k, p->vals))
			continue;
		bpf_map_delete_elem(fd, k);
		total += record_vals(p, k, p->vals, ncpu, sizeof(struct l7_agg_val));
	}
	return total;
}

static int dns_flush(struct l7_probe *p);
static int h2_flush_early(struct l7_probe *p);

int l7_probe__poll(struct l7_probe *p)
{
	int n = ring_buffer__consume(p->rb), m;

	if (n < 0)
		return n;
	if (p->order && dns_order__stuck(p->order) && (m = dns_flush(p)) < 0)
		log_warn("l7: DNS batches read early: %s", strerror(-m));
	if (p->h2order && dns_order__stuck(p->h2order) && (m = h2_flush_early(p)) < 0)
		log_warn("l7: HTTP/2 batches read early: %s", strerror(-m));
	m = collect(p);
	return m < 0 ? m : n + m;
}

/* The partial DNS batches of half gen (no program uses it any more), into the hold; reset first,
 * so that a batch that could not be reset is read again later rather than counted twice. */
static int dns_read_half(struct l7_probe *p, uint32_t gen)
{
	int fd = bpf_map__fd(p->skel->maps.l7_dns_batch);
	const size_t stride = sizeof(struct l7_dns_batch);
	uint32_t idx = gen & 1;
	bool any = false;

	if (bpf_map_lookup_elem(fd, &idx, p->dns_vals))
		return -errno;
	for (int c = 0; c < p->ncpu && !any; c++)
		any = ((const struct l7_dns_batch *)((const char *)p->dns_vals + c * stride))->n != 0;
	if (!any)
		return 0;
	if (bpf_map_update_elem(fd, &idx, p->dns_zero, BPF_ANY))
		return -errno;
	for (int c = 0; c < p->ncpu; c++) {
		const struct l7_dns_batch *b = (const void *)((const char *)p->dns_vals + c * stride);

		if (b->n)
			dns_batch(p, b, stride, -1);
	}
	return 0;
}

/* The kept HTTP/2 batches of half gen (no program uses it any more), into the hold; reset first,
 * as dns_read_half() does. */
static int h2_read_half(struct l7_probe *p, uint32_t gen)
{
	int fd = bpf_map__fd(p->skel->maps.l7_h2_batch);
	uint32_t idx = gen & 1;
	bool any = false;

	if (bpf_map_lookup_elem(fd, &idx, p->h2_vals))
		return -errno;
	for (int c = 0; c < p->ncpu && !any; c++)
		any = ((const struct l7_h2_batch *)((const char *)p->h2_vals + c * p->h2_stride))->len != 0;
	if (!any)
		return 0;
	if (bpf_map_update_elem(fd, &idx, p->h2_zero, BPF_ANY))
		return -errno;
	for (int c = 0; c < p->ncpu; c++) {
		const struct l7_h2_batch *b = (const void *)((const char *)p->h2_vals + c * p->h2_stride);

		if (b->len)
			h2_split(p, b, sizeof(*b), -1);
	}
	return 0;
}

/* A reorder hold is full and a CPU's batch holds it back (agent/probes/dns_order.h): that
 * protocol's batches alone go through the harvest's steps (flip its generation word, grace period,
 * drain, read the old half) and every record stamped before the flip is fed. Between harvests,
 * outside the ring callback. */
static int flush_early(struct l7_probe *p, uint32_t *genp, uint64_t *flushes,
		       int (*read_half)(struct l7_probe *, uint32_t), struct dns_order *order)
{
	uint32_t gen = *genp;
	uint64_t t = clock__mono_ns();
	int err, n;

	__atomic_store_n(genp, gen ^ 1, __ATOMIC_SEQ_CST);
	err = sync_programs(p);
	if (err) {
		__atomic_store_n(genp, gen, __ATOMIC_SEQ_CST);
		return err;
	}
	(*flushes)++;
	n = ring_buffer__consume(p->rb);
	if (n < 0)
		return n;
	err = read_half(p, gen);
	if (err)
		return err;
	dns_order__release(order, t);
	return 0;
}

static int dns_flush(struct l7_probe *p)
{
	return flush_early(p, &p->skel->bss->l7_dns_gen, &p->dns_flushes, dns_read_half, p->order);
}

static int h2_flush_early(struct l7_probe *p)
{
	return flush_early(p, &p->skel->bss->l7_h2_gen, &p->h2_flushes, h2_read_half, p->h2order);
}

/* Flip the cache halves, wait until no program uses the old one, then move it into the modules'
 * aggregators and zero it. A slot is per CPU: each CPU's entry is its own key (or free). The DNS
 * batches of the old half go the same way; *t: the time before the flip (every DNS record stamped
 * earlier has been fed to the module), 0 when the harvest failed before. */
static int harvest(struct l7_probe *p, uint64_t *t)
{
	int fd = bpf_map__fd(p->skel->maps.l7_cache), ncpu = libbpf_num_possible_cpus(), err;
	uint32_t gen = p->skel->bss->l7_cache_gen, dgen = p->skel->bss->l7_dns_gen;
	uint32_t hgen = p->skel->bss->l7_h2_gen;
	uint64_t t_flip = clock__mono_ns();
	int total = 0, n;

	*t = 0;
	if (ncpu <= 0)
		return ncpu;
	__atomic_store_n(&p->skel->bss->l7_cache_gen, gen ^ 1, __ATOMIC_SEQ_CST);
	if (p->order)
		__atomic_store_n(&p->skel->bss->l7_dns_gen, dgen ^ 1, __ATOMIC_SEQ_CST);
	if (p->h2order)
		__atomic_store_n(&p->skel->bss->l7_h2_gen, hgen ^ 1, __ATOMIC_SEQ_CST);
	err = sync_programs(p);
	if (err) {
		/* the old half may still be written: leave it for the next harvest (the programs then
		 * use it again, and nothing is lost, only late) */
		__atomic_store_n(&p->skel->bss->l7_cache_gen, gen, __ATOMIC_SEQ_CST);
		__atomic_store_n(&p->skel->bss->l7_dns_gen, dgen, __ATOMIC_SEQ_CST);
		__atomic_store_n(&p->skel->bss->l7_h2_gen, hgen, __ATOMIC_SEQ_CST);
		return err;
	}
	p->route_gen++;
	/* the records of keys that claimed a slot just before the flip are committed now: read
	 * them first, so every slot's route is known */
	n = ring_buffer__consume(p->rb);
	if (n < 0)
		return n;
	total += n;
	if (p->order) {
		err = dns_read_half(p, dgen);
		if (err)
			return err;
		dns_order__release(p->order, t_flip);
	}
	if (p->h2order) {
		err = h2_read_half(p, hgen);
		if (err)
			return err;
		dns_order__release(p->h2order, t_flip);
	}
	*t = t_flip;
	for (uint32_t i = 0; i < L7_CACHE_SLOTS; i++) {
		uint32_t idx = (gen & 1) * L7_CACHE_SLOTS + i;
		bool used = false;

		if (bpf_map_lookup_elem(fd, &idx, p->cache_vals))
			return -errno;
		for (int c = 0; c < ncpu && !used; c++)
			used = ((const struct l7_cache_ent *)p->cache_vals)[c].key.status != 0;
		if (!used)
			continue;
		/* reset before recording: a slot that could not be reset keeps its counts for a
		 * later harvest instead of being counted twice */
		if (bpf_map_update_elem(fd, &idx, p->cache_zero, BPF_ANY))
			return -errno;
		for (int c = 0; c < ncpu; c++) {
			const struct l7_cache_ent *e = &((const struct l7_cache_ent *)p->cache_vals)[c];

			if (!e->key.status)
				continue;
			n = record_vals(p, &e->key, &e->val, 1, sizeof(*e));
			p->cached += (uint64_t)n;
			total += n;
		}
	}
	return total;
}

/* The programs look l7_dns_off up only while l7_dns_noff (its entries) is not 0. */
int l7_probe__set_dns(struct l7_probe *p, uint64_t cgroup_id, bool on)
{
	int fd = bpf_map__fd(p->skel->maps.l7_dns_off);
	uint8_t one = 1;

	if (on) {
		if (bpf_map_delete_elem(fd, &cgroup_id))
			return errno != ENOENT ? -errno : 0;
		if (p->skel->bss->l7_dns_noff)
			__atomic_sub_fetch(&p->skel->bss->l7_dns_noff, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (bpf_map_update_elem(fd, &cgroup_id, &one, BPF_NOEXIST))
		return errno != EEXIST ? -errno : 0;
	__atomic_add_fetch(&p->skel->bss->l7_dns_noff, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int l7_probe__harvest(struct l7_probe *p)
{
	int n = l7_probe__poll(p), m;
	uint64_t t;

	if (n < 0)
		return n;
	if (!p->skel->rodata->l7_use_cache) {
		/* after the drain: an answer already in the ring is not taken for a timeout */
		l7_set__expire(p->set, clock__mono_ns());
		return n;
	}
	m = harvest(p, &t);
	/* after the old half's DNS batches: an answer waiting in one is not taken for a timeout.
	 * At the time of the flip: an answer not fed yet is stamped later, so it is late anyway. */
	if (t)
		l7_set__expire(p->set, t);
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
	s->cached = p->cached;
	s->unparsed = p->unparsed;
	s->agg_dropped = p->agg_dropped;
	s->dns_events = p->dns_events;
	s->dns_batches = p->dns_batches;
	s->dns_flushes = p->dns_flushes;
	s->dns_forced = p->order ? dns_order__forced(p->order) : 0;
	s->h2_events = p->h2_events;
	s->h2_batches = p->h2_batches;
	s->h2_bad = p->h2_bad;
	s->h2_flushes = p->h2_flushes;
	s->h2_forced = p->h2order ? dns_order__forced(p->h2order) : 0;
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
		s->dns_drops += v[c].dns_drops;
		s->h2_drops += v[c].h2_drops;
		s->h2_lost += v[c].h2_lost;
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
	return s.rb_drops + s.dns_drops + s.h2_drops + s.agg_dropped;
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
	free(p->cache_vals);
	free(p->cache_zero);
	dns_order__free(p->order);
	dns_order__free(p->h2order);
	free(p->h2_vals);
	free(p->h2_zero);
	free(p->dns_vals);
	free(p->dns_zero);
	if (p->sync_fd >= 0)
		close(p->sync_fd);
	if (p->sync_inner_fd >= 0)
		close(p->sync_inner_fd);
	free(p);
}
