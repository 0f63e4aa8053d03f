#include "agent/l7/http_agg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http1.h"

/* Chained hash tables with a fixed bucket count; both are bounded by the options. */
#define NBUCKETS 4096

struct key_node {
	struct key_node *next;
	struct http_agg_entry e;
	struct hist hist;
	struct hist *end;           /* http_agg__record_end's, allocated with its first record */
	char route[];
};

struct route_node {             /* distinct routes per cgroup, for the cap */
	struct route_node *next;
	uint64_t cgroup_id;
	char route[];
};

struct cg_node {
	struct cg_node *next;
	uint64_t cgroup_id;
	unsigned nroutes;
};

struct http_agg {
	unsigned max_routes, max_entries;
	size_t size;
	uint64_t dropped;
	struct key_node *keys[NBUCKETS];
	struct route_node *routes[NBUCKETS];
	struct cg_node *cgs[NBUCKETS];
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h;
}

static uint64_t str_hash(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

struct http_agg *http_agg__new(const struct http_agg_opts *opts)
{
	struct http_agg *a = calloc(1, sizeof(*a));

	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	a->max_routes = opts && opts->max_routes ? opts->max_routes : 64;
	a->max_entries = opts && opts->max_entries ? opts->max_entries : 16384;
	return a;
}

void http_agg__reset(struct http_agg *a)
{
	for (unsigned i = 0; i < NBUCKETS; i++) {
		for (struct key_node *n = a->keys[i], *next; n; n = next) {
			next = n->next;
			free(n->end);
			free(n);
		}
		for (struct route_node *n = a->routes[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
		for (struct cg_node *n = a->cgs[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
		a->keys[i] = NULL;
		a->routes[i] = NULL;
		a->cgs[i] = NULL;
	}
	a->size = 0;
}

void http_agg__free(struct http_agg *a)
{
	if (!a)
		return;
	http_agg__reset(a);
	free(a);
}

size_t http_agg__size(const struct http_agg *a)
{
	return a->size;
}

uint64_t http_agg__dropped(const struct http_agg *a)
{
	return a->dropped;
}

const char *http_agg__dir_name(int dir)
{
	return dir == HTTP_AGG_DIR_CLIENT ? "client" : "server";
}

/* The route to record under: route itself while the cgroup has room, else "other". */
static const char *capped_route(struct http_agg *a, uint64_t cgid, const char *route, int *err)
{
	unsigned rb = str_hash(mix(0, cgid), route) % NBUCKETS, cb = mix(0, cgid) % NBUCKETS;
	struct route_node *r;
	struct cg_node *c;
	size_t len;

	*err = 0;
	for (r = a->routes[rb]; r; r = r->next)
		if (r->cgroup_id == cgid && strcmp(r->route, route) == 0)
			return route;
	for (c = a->cgs[cb]; c; c = c->next)
		if (c->cgroup_id == cgid)
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			goto nomem;
		c->cgroup_id = cgid;
		c->next = a->cgs[cb];
		a->cgs[cb] = c;
	}
	if (c->nroutes >= a->max_routes)
		return HTTP_AGG_OTHER_ROUTE;
	len = strlen(route);
	r = malloc(sizeof(*r) + len + 1);
	if (!r)
		goto nomem;
	r->cgroup_id = cgid;
	memcpy(r->route, route, len + 1);
	r->next = a->routes[rb];
	a->routes[rb] = r;
	c->nroutes++;
	return route;
nomem:
	*err = -ENOMEM;
	return NULL;
}

static struct key_node *find_or_add(struct http_agg *a, uint64_t cgroup_id, int dir, int method,
				    const char *route, int status, int *err)
{
	struct key_node *n;
	unsigned b;
	size_t len;

	route = capped_route(a, cgroup_id, route, err);
	if (!route)
		return NULL;
	b = str_hash(mix(mix(mix(mix(0, cgroup_id), (uint64_t)dir), (uint64_t)method), (uint64_t)status),
		     route) % NBUCKETS;
	for (n = a->keys[b]; n; n = n->next)
		if (n->e.cgroup_id == cgroup_id && n->e.dir == dir && n->e.method == method &&
		    n->e.status == status && strcmp(n->route, route) == 0)
			return n;
	if (a->size >= a->max_entries) {
		*err = -ENOSPC;
		return NULL;
	}
	len = strlen(route);
	n = calloc(1, sizeof(*n) + len + 1);
	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(n->route, route, len + 1);
	n->e = (struct http_agg_entry){ .cgroup_id = cgroup_id, .dir = dir, .method = method,
					.status = status, .route = n->route, .hist = &n->hist };
	n->next = a->keys[b];
	a->keys[b] = n;
	a->size++;
	return n;
}

/* The key's node with the request counted in its histogram, or NULL (*err set). */
static struct key_node *record(struct http_agg *a, uint64_t cgroup_id, int dir, int method, const char *route,
			       int status, uint64_t latency_us, int *err)
{
	struct key_node *n = find_or_add(a, cgroup_id, dir, method, route, status, err);

	if (!n) {
		if (*err == -ENOSPC)
			a->dropped++;
		return NULL;
	}
	hist__record(&n->hist, latency_us);
	return n;
}

int http_agg__record(struct http_agg *a, uint64_t cgroup_id, int dir, int method, const char *route,
		     int status, uint64_t latency_us)
{
	int err = 0;

	return record(a, cgroup_id, dir, method, route, status, latency_us, &err) ? 0 : err;
}

int http_agg__record_end(struct http_agg *a, uint64_t cgroup_id, int dir, int method, const char *route,
			 int status, uint64_t latency_us, uint64_t end_us)
{
	int err = 0;
	struct key_node *n = record(a, cgroup_id, dir, method, route, status, latency_us, &err);

	if (!n)
		return err;
	if (!n->end) {
		n->end = calloc(1, sizeof(*n->end));
		if (!n->end)
			return -ENOMEM;     /* the request is counted, its end is not */
		n->e.end = n->end;
	}
	hist__record(n->end, end_us);
	return 0;
}

int http_agg__record_hist(struct http_agg *a, uint64_t cgroup_id, int dir, int method,
			  const char *route, int status, const struct hist *h)
{
	int err = 0;
	struct key_node *n;

	if (h->count == 0)
		return 0;
	n = find_or_add(a, cgroup_id, dir, method, route, status, &err);
	if (!n) {
		if (err == -ENOSPC)
			a->dropped += h->count;
		return err;
	}
	hist__merge(&n->hist, h);
	return 0;
}

void http_agg__foreach_cgroup(const struct http_agg *a, void (*fn)(void *ctx, uint64_t cgroup_id), void *ctx)
{
	/* a cgroup node exists for each cgroup that recorded a key (capped_route) */
	for (unsigned i = 0; i < NBUCKETS; i++)
		for (const struct cg_node *c = a->cgs[i]; c; c = c->next)
			fn(ctx, c->cgroup_id);
}

static int entry_cmp(const void *x, const void *y)
{
	const struct http_agg_entry *p = *(const struct http_agg_entry *const *)x;
	const struct http_agg_entry *q = *(const struct http_agg_entry *const *)y;
	int c;

	if (p->cgroup_id != q->cgroup_id)
		return p->cgroup_id < q->cgroup_id ? -1 : 1;
	if (p->dir != q->dir)
		return p->dir - q->dir;
	if (p->method != q->method)
		return p->method - q->method;
	c = strcmp(p->route, q->route);
	if (c)
		return c;
	return p->status - q->status;
}

int http_agg__foreach(const struct http_agg *a, uint64_t cgroup_id, http_agg_fn fn, void *ctx)
{
	const struct http_agg_entry **v;
	size_t n = 0;
	int rc = 0;

	if (a->size == 0)
		return 0;
	v = malloc(a->size * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < NBUCKETS; i++)
		for (const struct key_node *k = a->keys[i]; k; k = k->next)
			if (!cgroup_id || k->e.cgroup_id == cgroup_id)
				v[n++] = &k->e;
	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(v[i], ctx);
	free(v);
	return rc;
}

static int add_json(const struct http_agg_entry *e, void *ctx)
{
	json_t *list = ctx, *o;

	o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I}",
		      "direction", http_agg__dir_name(e->dir),
		      "method", http1__method_name(e->method),
		      "route", e->route,
		      "status", e->status,
		      "count", (json_int_t)e->hist->count,
		      "p50_us", (json_int_t)hist__quantile(e->hist, 0.50),
		      "p90_us", (json_int_t)hist__quantile(e->hist, 0.90),
		      "p99_us", (json_int_t)hist__quantile(e->hist, 0.99),
		      "sum_us", (json_int_t)e->hist->sum);
	if (!o || json_array_append_new(list, o))
		return -ENOMEM;
	return 0;
}

json_t *http_agg__json(const struct http_agg *a, uint64_t cgroup_id)
{
	json_t *list = json_array();

	if (!list)
		return NULL;
	if (http_agg__foreach(a, cgroup_id, add_json, list)) {
		json_decref(list);
		return NULL;
	}
	return list;
}
