/* The DNS module (agent/l7/module.h): the kernel sends every DNS message of a monitored socket
 * (struct l7_dns_event, bpf/l7_dns.bpf.h); here they are parsed (dns.c), responses matched to their
 * queries, and the exchanges aggregated.
 *   matching      (cgroup, local port, peer address and port, transaction id, direction) in a fixed
 *                 table of pending queries (open addressing, 8 probes; a full window evicts its
 *                 oldest query, counted); a query unanswered after dns.timeout becomes a timeout,
 *                 at the next harvest (expire) or when its late answer comes
 *   aggregation   (cgroup, direction, qtype, rcode, domain) in an http_agg (method = qtype, route =
 *                 domain, status = rcode or DNS_STATUS_TIMEOUT): domains capped per workload per
 *                 interval (then "other"), keys bounded in total
 *   search storm  per workload: queries for names under a search suffix, and those answered NXDOMAIN
 *   JSON          "dns": [{direction, qtype, rcode, domain, count, timeouts, p50_us, p90_us,
 *                 p99_us, sum_us}], "dns_search": {queries, nxdomain}
 *   podlens.v1    WorkloadStats.dns (DnsStats), WorkloadStats.dns_search
 *   table         DNS/s, DNS err %, DNS p99 */
#include "agent/l7/dns_module.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/dns.h"
#include "agent/l7/http_agg.h"
#include "agent/l7/module.h"

static struct dns_config cfg;

void dns_module__configure(const struct dns_config *c)
{
	cfg = *c;
}

#define PROBES 8
#define SEARCH_BUCKETS 256

struct pend {
	uint64_t cgroup_id;          /* 0 = free */
	uint64_t ts_ns;
	uint8_t raddr[16];
	uint16_t lport, rport, id, qtype;
	uint8_t dir, search;
	char domain[DNS_NAME_MAX + 2];   /* as recorded (dns.domains); + "*" when the capture cut it */
};

struct search_node {
	struct search_node *next;
	uint64_t cgroup_id;
	uint64_t queries, nxdomain;
};

struct dns_agg {
	struct http_agg *agg;
	struct pend *pend;
	unsigned nslots;
	uint64_t timeout_ns;
	struct search_node *search[SEARCH_BUCKETS];
	struct dns_module_stats st;
};

static const char *const default_suffixes[] = { ".svc.cluster.local", ".cluster.local" };

static int under_search_suffix(const char *name)
{
	size_t n = strlen(name);

	if (!cfg.nsuffixes) {
		for (size_t i = 0; i < sizeof(default_suffixes) / sizeof(default_suffixes[0]); i++) {
			size_t l = strlen(default_suffixes[i]);

			if (n > l && !strcmp(name + n - l, default_suffixes[i]))
				return 1;
		}
		return 0;
	}
	for (unsigned i = 0; i < cfg.nsuffixes && i < DNS_SUFFIXES_MAX; i++) {
		const char *s = cfg.suffixes[i];
		size_t l = strnlen(s, DNS_SUFFIX_LEN);

		if (l && n > l && !strncmp(name + n - l, s, l))
			return 1;
	}
	return 0;
}

static void *agg_new(void)
{
	struct dns_agg *d = calloc(1, sizeof(*d));

	if (!d)
		goto nomem;
	d->nslots = cfg.pending_slots ? cfg.pending_slots : 4096;
	d->timeout_ns = (cfg.timeout_ms ? cfg.timeout_ms : 5000) * 1000000ULL;
	d->pend = calloc(d->nslots, sizeof(*d->pend));
	d->agg = http_agg__new(&(struct http_agg_opts){ .max_routes = cfg.max_domains });
	if (!d->pend || !d->agg)
		goto nomem;
	return d;
nomem:
	if (d) {
		http_agg__free(d->agg);
		free(d->pend);
		free(d);
	}
	errno = ENOMEM;
	return NULL;
}

static void search_reset(struct dns_agg *d)
{
	for (unsigned i = 0; i < SEARCH_BUCKETS; i++) {
		for (struct search_node *n = d->search[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
		d->search[i] = NULL;
	}
}

static void agg_free(void *agg)
{
	struct dns_agg *d = agg;

	if (!d)
		return;
	search_reset(d);
	http_agg__free(d->agg);
	free(d->pend);
	free(d);
}

/* the interval's aggregates go; pending queries stay (their answers come in the next one) */
static void agg_reset(void *agg)
{
	struct dns_agg *d = agg;

	http_agg__reset(d->agg);
	search_reset(d);
}

static uint64_t agg_dropped(const void *agg)
{
	const struct dns_agg *d = agg;

	return http_agg__dropped(d->agg);
}

void dns_module__stats(const void *agg, struct dns_module_stats *s)
{
	*s = ((const struct dns_agg *)agg)->st;
}

/* the kernel never aggregates DNS (no l7_event of proto DNS): these are not reached */
static int parse(const struct l7_event *e, void *req)
{
	(void)e;
	(void)req;
	return -EINVAL;
}

static int record(void *agg, uint64_t cgid, int dir, int status, const void *req, uint64_t latency_us)
{
	(void)agg, (void)cgid, (void)dir, (void)status, (void)req, (void)latency_us;
	return -EINVAL;
}

static int record_hist(void *agg, uint64_t cgid, int dir, int status, const void *req,
		       const struct hist *h)
{
	(void)agg, (void)cgid, (void)dir, (void)status, (void)req, (void)h;
	return -EINVAL;
}

static struct search_node *search_of(struct dns_agg *d, uint64_t cgid)
{
	unsigned b = (unsigned)((cgid * 0x9e3779b97f4a7c15ULL) >> 56) % SEARCH_BUCKETS;
	struct search_node *n;

	for (n = d->search[b]; n; n = n->next)
		if (n->cgroup_id == cgid)
			return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->cgroup_id = cgid;
	n->next = d->search[b];
	d->search[b] = n;
	return n;
}

static uint64_t key_hash(uint64_t cgid, const uint8_t *raddr, unsigned lport, unsigned rport,
			 unsigned id, unsigned dir)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint64_t w[4] = { cgid, (uint64_t)lport << 32 | rport << 16 | id, 0, 0 };

	memcpy(&w[2], raddr, 16);
	w[1] ^= (uint64_t)dir << 63;
	for (int i = 0; i < 4; i++) {
		h = (h ^ w[i]) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

static int same(const struct pend *p, uint64_t cgid, const uint8_t *raddr, unsigned lport,
		unsigned rport, unsigned id, unsigned dir)
{
	return p->cgroup_id == cgid && p->lport == lport && p->rport == rport && p->id == id &&
	       p->dir == dir && !memcmp(p->raddr, raddr, 16);
}

static int record_timeout(struct dns_agg *d, struct pend *p)
{
	int rc = http_agg__record(d->agg, p->cgroup_id, p->dir, p->qtype, p->domain,
				  DNS_STATUS_TIMEOUT, 0);

	d->st.timeouts++;
	p->cgroup_id = 0;
	return rc;
}

static void set_domain(struct pend *p, const struct dns_msg *m)
{
	const char *name = m->name;

	switch (cfg.domains) {
	case DNS_DOMAINS_NONE:
		p->domain[0] = '\0';
		return;
	case DNS_DOMAINS_REGISTERED:
		if (!m->name_cut)
			name = dns__registered_domain(m->name);
		break;
	case DNS_DOMAINS_FULL:
		break;
	}
	snprintf(p->domain, sizeof(p->domain), "%s%s", name, m->name_cut ? "*" : "");
}

static int on_query(struct dns_agg *d, const struct l7_dns_event *e, const struct dns_msg *m)
{
	unsigned dir = e->egress ? L7_DIR_CLIENT : L7_DIR_SERVER;
	uint64_t h = key_hash(e->cgroup_id, e->raddr, e->lport, e->rport, m->id, dir);
	struct pend *p = NULL, *oldest = NULL;
	int rc = 0;

	d->st.queries++;
	for (unsigned i = 0; i < PROBES; i++) {
		struct pend *s = &d->pend[(h + i) % d->nslots];

		/* a retransmission of a pending query (same id and peer) keeps the first send time */
		if (s->cgroup_id && same(s, e->cgroup_id, e->raddr, e->lport, e->rport, m->id, dir))
			return 0;
		if (!s->cgroup_id && !p)
			p = s;
		if (s->cgroup_id && (!oldest || s->ts_ns < oldest->ts_ns))
			oldest = s;
	}
	if (!p) {
		/* the window is full: the oldest query leaves, as a timeout if it is one */
		p = oldest;
		if (e->ts_ns - p->ts_ns >= d->timeout_ns) {
			rc = record_timeout(d, p);
		} else {
			d->st.evicted++;
			p->cgroup_id = 0;
		}
	}
	memset(p, 0, offsetof(struct pend, domain));
	p->cgroup_id = e->cgroup_id;
	p->ts_ns = e->ts_ns;
	memcpy(p->raddr, e->raddr, 16);
	p->lport = e->lport;
	p->rport = e->rport;
	p->id = m->id;
	p->qtype = m->qtype;
	p->dir = (uint8_t)dir;
	p->search = !m->name_cut && under_search_suffix(m->name);
	set_domain(p, m);
	return rc;
}

static int on_response(struct dns_agg *d, const struct l7_dns_event *e, const struct dns_msg *m)
{
	unsigned dir = e->egress ? L7_DIR_SERVER : L7_DIR_CLIENT;
	uint64_t h = key_hash(e->cgroup_id, e->raddr, e->lport, e->rport, m->id, dir);
	struct search_node *sn;
	struct pend *p = NULL;
	uint64_t lat;

	d->st.responses++;
	for (unsigned i = 0; i < PROBES && !p; i++) {
		struct pend *s = &d->pend[(h + i) % d->nslots];

		if (s->cgroup_id && same(s, e->cgroup_id, e->raddr, e->lport, e->rport, m->id, dir))
			p = s;
	}
	if (!p) {
		d->st.unmatched++;
		return 0;
	}
	lat = e->ts_ns > p->ts_ns ? e->ts_ns - p->ts_ns : 0;
	if (lat >= d->timeout_ns)
		return record_timeout(d, p);            /* answered too late: still a timeout */
	if (p->search && (sn = search_of(d, p->cgroup_id))) {
		sn->queries++;
		if (m->rcode == DNS_RCODE_NXDOMAIN)
			sn->nxdomain++;
	}
	p->cgroup_id = 0;
	return http_agg__record(d->agg, e->cgroup_id, (int)dir, p->qtype, p->domain, m->rcode,
				(lat + 500) / 1000);
}

static int consume(void *agg, const void *rec, size_t size)
{
	struct dns_agg *d = agg;
	const struct l7_dns_event *e = rec;
	struct dns_msg m;

	if (size < sizeof(*e) || !e->cgroup_id) {
		d->st.malformed++;
		return 0;
	}
	if (dns__parse(e->data, e->cap <= L7_DNS_CAP ? e->cap : L7_DNS_CAP, &m)) {
		d->st.malformed++;
		return 0;
	}
	return m.qr ? on_response(d, e, &m) : on_query(d, e, &m);
}

static void expire(void *agg, uint64_t now_ns)
{
	struct dns_agg *d = agg;

	for (unsigned i = 0; i < d->nslots; i++) {
		struct pend *p = &d->pend[i];

		if (p->cgroup_id && now_ns > p->ts_ns && now_ns - p->ts_ns >= d->timeout_ns)
			record_timeout(d, p);
	}
}

static int any_entry(const struct http_agg_entry *e, void *ctx)
{
	(void)e;
	(void)ctx;
	return 1;
}

static const char *rcode_name(int status, char *buf, size_t len)
{
	return status == DNS_STATUS_TIMEOUT ? "TIMEOUT" : dns__rcode_name((unsigned)status, buf, len);
}

static int add_json(const struct http_agg_entry *e, void *ctx)
{
	json_t *list = ctx, *o;
	char qb[16], rb[16];
	int to = e->status == DNS_STATUS_TIMEOUT;

	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "direction", http_agg__dir_name(e->dir),
		      "qtype", dns__qtype_name((unsigned)e->method, qb, sizeof(qb)),
		      "rcode", rcode_name(e->status, rb, sizeof(rb)),
		      "domain", e->route,
		      "count", (json_int_t)e->hist->count,
		      "timeouts", (json_int_t)(to ? e->hist->count : 0),
		      "p50_us", (json_int_t)(to ? 0 : hist__quantile(e->hist, 0.50)),
		      "p90_us", (json_int_t)(to ? 0 : hist__quantile(e->hist, 0.90)),
		      "p99_us", (json_int_t)(to ? 0 : hist__quantile(e->hist, 0.99)),
		      "sum_us", (json_int_t)e->hist->sum);
	if (!o || json_array_append_new(list, o))
		return -ENOMEM;
	return 0;
}

static json_t *json(const void *agg, uint64_t cgid)
{
	const struct dns_agg *d = agg;
	json_t *list;

	if (!http_agg__size(d->agg) || !http_agg__foreach(d->agg, cgid, any_entry, NULL))
		return NULL;
	list = json_array();
	if (list && http_agg__foreach(d->agg, cgid, add_json, list)) {
		json_decref(list);
		return NULL;
	}
	return list;
}

static const struct search_node *search_find(const struct dns_agg *d, uint64_t cgid)
{
	unsigned b = (unsigned)((cgid * 0x9e3779b97f4a7c15ULL) >> 56) % SEARCH_BUCKETS;

	for (const struct search_node *n = d->search[b]; n; n = n->next)
		if (n->cgroup_id == cgid)
			return n;
	return NULL;
}

static int json_more(const void *agg, uint64_t cgid, json_t *obj)
{
	const struct search_node *n = search_find(agg, cgid);
	json_t *v;

	if (!n || !n->queries)
		return 0;
	v = json_pack("{s:I, s:I}", "queries", (json_int_t)n->queries, "nxdomain", (json_int_t)n->nxdomain);
	if (!v || json_object_set_new(obj, "dns_search", v))
		return -ENOMEM;
	return 0;
}

static int summarize_entry(const struct http_agg_entry *e, void *ctx)
{
	struct l7_dns_summary *s = ctx;

	s->queries += e->hist->count;
	/* NXDOMAIN is an answer (often the search storm's), not a failure of DNS */
	if (e->status == DNS_STATUS_TIMEOUT || (e->status != DNS_RCODE_NOERROR &&
						e->status != DNS_RCODE_NXDOMAIN))
		s->errors += e->hist->count;
	if (e->status != DNS_STATUS_TIMEOUT)
		hist__merge(&s->h, e->hist);
	return 0;
}

static void summarize_dns(const void *agg, uint64_t cgid, struct l7_dns_summary *s)
{
	http_agg__foreach(((const struct dns_agg *)agg)->agg, cgid, summarize_entry, s);
}

struct batch_ctx {
	const struct l7_arena *a;
	Podlens__V1__DnsStats **v;
	size_t n, cap;
};

static int add_stats(const struct http_agg_entry *e, void *ctx)
{
	struct batch_ctx *c = ctx;
	const struct l7_arena *a = c->a;
	Podlens__V1__DnsStats *ds;
	char qb[16], rb[16];
	int to = e->status == DNS_STATUS_TIMEOUT;

	if (c->n == c->cap)
		return 0;
	ds = a->alloc(a->ctx, sizeof(*ds));
	if (!ds)
		return 0;
	podlens__v1__dns_stats__init(ds);
	ds->direction = e->dir == L7_DIR_SERVER ? PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER
						: PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
	ds->qtype = a->str(a->ctx, dns__qtype_name((unsigned)e->method, qb, sizeof(qb)));
	ds->rcode = a->str(a->ctx, rcode_name(e->status, rb, sizeof(rb)));
	ds->domain = a->str(a->ctx, e->route);
	ds->count = e->hist->count;
	ds->timeouts = to ? e->hist->count : 0;
	ds->sum_us = e->hist->sum;
	if (!to)   /* short of memory: fewer buckets */
		(void)l7_arena__buckets(a, e->hist, &ds->buckets, &ds->n_buckets);
	c->v[c->n++] = ds;
	return 0;
}

static int count_entry(const struct http_agg_entry *e, void *ctx)
{
	(void)e;
	(*(size_t *)ctx)++;
	return 0;
}

static int batch(const void *agg, uint64_t cgid, Podlens__V1__WorkloadStats *ws,
		 const struct l7_arena *a)
{
	const struct dns_agg *d = agg;
	const struct search_node *sn = search_find(d, cgid);
	struct batch_ctx c = { .a = a };

	if (sn && sn->queries) {
		Podlens__V1__DnsSearch *s = a->alloc(a->ctx, sizeof(*s));

		if (!s)
			return -ENOMEM;
		podlens__v1__dns_search__init(s);
		s->queries = sn->queries;
		s->nxdomain = sn->nxdomain;
		ws->dns_search = s;
	}
	if (!http_agg__size(d->agg))
		return 0;
	http_agg__foreach(d->agg, cgid, count_entry, &c.cap);
	if (!c.cap)
		return 0;
	c.v = a->alloc(a->ctx, c.cap * sizeof(*c.v));
	if (!c.v)
		return -ENOMEM;
	http_agg__foreach(d->agg, cgid, add_stats, &c);
	ws->dns = c.v;
	ws->n_dns = c.n;
	return 0;
}

static void foreach_cgroup(const void *agg, void (*fn)(void *ctx, uint64_t cgroup_id), void *ctx)
{
	const struct dns_agg *d = agg;

	/* every cgroup with a search count also has an aggregate key (the same response recorded it) */
	http_agg__foreach_cgroup(d->agg, fn, ctx);
}

const struct l7_module l7_dns_module = {
	.name = "dns",
	.proto = L7_PROTO_DNS,
	.json_field = "dns",
	.req_size = 0,
	.parse = parse,
	.agg_new = agg_new,
	.agg_free = agg_free,
	.agg_reset = agg_reset,
	.agg_dropped = agg_dropped,
	.record = record,
	.record_hist = record_hist,
	.json = json,
	.batch = batch,
	.consume = consume,
	.expire = expire,
	.json_more = json_more,
	.summarize_dns = summarize_dns,
	.foreach_cgroup = foreach_cgroup,
};
