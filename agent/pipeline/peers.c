/* Requests per peer: see agent/pipeline/peers.h. */
#include "agent/pipeline/peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Chained hash tables with a fixed bucket count; their sizes are bounded by the options. */
#define NBUCKETS 1024

struct peer_node {
	struct peer_node *next;
	struct peer_entry e;
};

struct cg_node {                /* distinct peers per cgroup, for the cap */
	struct cg_node *next;
	uint64_t cgroup_id;
	unsigned npeers;
};

struct peers {
	unsigned max_per_cgroup, max_entries;
	size_t size;
	uint64_t dropped;
	struct peer_node *keys[NBUCKETS];
	struct cg_node *cgs[NBUCKETS];
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x9E3779B97F4A7C15ULL + (h >> 29);
}

struct peers *peers__new(const struct peers_opts *o)
{
	struct peers *p = calloc(1, sizeof(*p));

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->max_per_cgroup = o && o->max_per_cgroup ? o->max_per_cgroup : 64;
	p->max_entries = o && o->max_entries ? o->max_entries : 4096;
	return p;
}

void peers__reset(struct peers *p)
{
	for (unsigned i = 0; i < NBUCKETS; i++) {
		for (struct peer_node *n = p->keys[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
		for (struct cg_node *n = p->cgs[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
		p->keys[i] = NULL;
		p->cgs[i] = NULL;
	}
	p->size = 0;
}

void peers__free(struct peers *p)
{
	if (!p)
		return;
	peers__reset(p);
	free(p);
}

size_t peers__size(const struct peers *p)
{
	return p->size;
}

uint64_t peers__dropped(const struct peers *p)
{
	return p->dropped;
}

static unsigned key_bucket(uint64_t cgid, int dir, uint16_t family, const uint8_t *addr, uint16_t port)
{
	uint64_t a0, a1, h;

	memcpy(&a0, addr, 8);
	memcpy(&a1, addr + 8, 8);
	h = mix(mix(mix(mix(0, cgid), (uint64_t)dir << 32 | (uint64_t)family << 16 | port), a0), a1);
	return (unsigned)(h >> 40) % NBUCKETS;
}

static struct peer_node *find(const struct peers *p, unsigned b, uint64_t cgid, int dir, uint16_t family,
			      const uint8_t *addr, uint16_t port)
{
	for (struct peer_node *n = p->keys[b]; n; n = n->next)
		if (n->e.cgroup_id == cgid && n->e.dir == dir && n->e.family == family && n->e.port == port &&
		    !memcmp(n->e.addr, addr, 16))
			return n;
	return NULL;
}

static struct cg_node *cgroup_of(struct peers *p, uint64_t cgid)
{
	unsigned b = (unsigned)(mix(0, cgid) >> 40) % NBUCKETS;
	struct cg_node *c;

	for (c = p->cgs[b]; c; c = c->next)
		if (c->cgroup_id == cgid)
			return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cgroup_id = cgid;
	c->next = p->cgs[b];
	p->cgs[b] = c;
	return c;
}

int peers__record(struct peers *p, uint64_t cgid, int dir, uint16_t family, const uint8_t *addr,
		  uint16_t port, int status, const struct hist *h)
{
	uint8_t a[16] = { 0 };
	struct cg_node *c = NULL;
	struct peer_node *n;
	unsigned b;

	if ((dir != PEERS_DIR_SERVER && dir != PEERS_DIR_CLIENT) || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (!h->count)
		return 0;
	memcpy(a, addr, family == AF_INET ? 4 : 16);
	if (dir == PEERS_DIR_SERVER)
		port = 0;       /* the client's port is ephemeral: one client, one peer */
	b = key_bucket(cgid, dir, family, a, port);
	n = find(p, b, cgid, dir, family, a, port);
	if (!n) {
		if (!(c = cgroup_of(p, cgid)))
			return -ENOMEM;
		if (c->npeers >= p->max_per_cgroup) {
			/* the overflow peer: no address, counted with every later new peer */
			family = 0;
			port = 0;
			memset(a, 0, sizeof(a));
			b = key_bucket(cgid, dir, family, a, port);
			n = find(p, b, cgid, dir, family, a, port);
		}
	}
	if (!n) {
		if (p->size >= p->max_entries) {
			p->dropped += h->count;
			return -ENOSPC;
		}
		n = calloc(1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		n->e.cgroup_id = cgid;
		n->e.dir = dir;
		n->e.family = family;
		memcpy(n->e.addr, a, 16);
		n->e.port = port;
		n->next = p->keys[b];
		p->keys[b] = n;
		p->size++;
		if (family)
			c->npeers++;
	}
	hist__merge(&n->e.hist, h);
	if (status >= 500)
		n->e.errors += h->count;
	else if (status >= 400)
		n->e.client_errors += h->count;
	return 0;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct peer_entry *a = *(const struct peer_entry *const *)x;
	const struct peer_entry *b = *(const struct peer_entry *const *)y;
	int c;

	if (a->cgroup_id != b->cgroup_id)
		return a->cgroup_id < b->cgroup_id ? -1 : 1;
	if (a->dir != b->dir)
		return a->dir - b->dir;
	if (a->family != b->family)
		return a->family - b->family;
	c = memcmp(a->addr, b->addr, 16);
	if (c)
		return c;
	return (int)a->port - (int)b->port;
}

int peers__foreach(const struct peers *p, uint64_t cgroup_id, peers_fn fn, void *ctx)
{
	const struct peer_entry **v;
	size_t n = 0;
	int rc = 0;

	if (!p->size)
		return 0;
	v = malloc(p->size * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < NBUCKETS; i++)
		for (const struct peer_node *k = p->keys[i]; k; k = k->next)
			if (!cgroup_id || k->e.cgroup_id == cgroup_id)
				v[n++] = &k->e;
	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 0; i < n && !rc; i++)
		rc = fn(v[i], ctx);
	free(v);
	return rc;
}

static int add_json(const struct peer_entry *e, void *ctx)
{
	char addr[INET6_ADDRSTRLEN];
	json_t *o;

	if (e->family && !inet_ntop(e->family, e->addr, addr, sizeof(addr)))
		addr[0] = '\0';
	o = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "direction", e->dir == PEERS_DIR_CLIENT ? "client" : "server",
		      "addr", e->family ? addr : "other",
		      "port", (int)e->port,
		      "count", (json_int_t)e->hist.count,
		      "errors", (json_int_t)e->errors,
		      "client_errors", (json_int_t)e->client_errors,
		      "p50_us", (json_int_t)hist__quantile(&e->hist, 0.50),
		      "p99_us", (json_int_t)hist__quantile(&e->hist, 0.99),
		      "sum_us", (json_int_t)e->hist.sum);
	if (!o || json_array_append_new(ctx, o))
		return -ENOMEM;
	return 0;
}

json_t *peers__json(const struct peers *p, uint64_t cgroup_id)
{
	json_t *list = json_array();

	if (!list)
		return NULL;
	if (peers__foreach(p, cgroup_id, add_json, list) || !json_array_size(list)) {
		json_decref(list);
		return NULL;
	}
	return list;
}
