/* The DNS view (collector/query_dns.h): the store's DNS groups turned into per-side totals,
 * rcodes, top domains and per-pod summaries. No storage format here. */
#include "collector/query_dns.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hist.h"

const char *const query_dns_class_name[DNS_C__N] = {
	[DNS_C_NOERROR] = "NOERROR", [DNS_C_NXDOMAIN] = "NXDOMAIN", [DNS_C_SERVFAIL] = "SERVFAIL",
	[DNS_C_REFUSED] = "REFUSED", [DNS_C_TIMEOUT] = "TIMEOUT", [DNS_C_OTHER] = "other",
};

static const char *const side_name[] = { [STORE_SERVER] = "server", [STORE_CLIENT] = "client" };

static enum query_dns_class dns_class(const char *rcode)
{
	for (int c = 0; c < DNS_C_OTHER; c++)
		if (!strcmp(rcode, query_dns_class_name[c]))
			return (enum query_dns_class)c;
	return DNS_C_OTHER;
}

static double rate(uint64_t n, int64_t t0, int64_t t1)
{
	return t1 > t0 ? (double)n * 1000.0 / (double)(t1 - t0) : 0.0;
}

/* Quantiles (us) of merged buckets, -1 each when they hold no answered query. */
static void quantiles(const uint64_t *buckets, int64_t out[QUANTILES])
{
	struct hist h;

	hist__reset(&h);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (buckets[i])
			hist__record_n(&h, i, buckets[i]);
	for (int k = 0; k < QUANTILES; k++)
		out[k] = h.count ? (int64_t)hist__quantile(&h, query_quantiles[k].q) : -1;
}

static void json_quantiles(struct sbuf *out, const int64_t q[QUANTILES])
{
	for (int k = 0; k < QUANTILES; k++) {
		if (q[k] < 0)
			sbuf__printf(out, ",\"%s\":null", query_quantiles[k].json);
		else
			sbuf__printf(out, ",\"%s\":%lld", query_quantiles[k].json, (long long)q[k]);
	}
}

static void side_add(struct dns_pod_side *d, const struct store_dns_row *r)
{
	d->first_ms = d->queries && d->first_ms < r->first_ms ? d->first_ms : r->first_ms;
	d->end_ms = d->queries && d->end_ms > r->end_ms ? d->end_ms : r->end_ms;
	d->queries += r->count;
	d->timeouts += r->timeouts;
	d->errors += r->errors;
	d->nxdomain += r->nxdomain;
	d->sum_us += r->sum_us;
	d->by_class[dns_class(r->key)] += r->count;
}

static void side_finish(struct dns_pod_side *d, const uint64_t *hist)
{
	d->queries_per_s = rate(d->queries, d->first_ms, d->end_ms);
	d->error_pct = d->queries ? 100.0 * (double)d->errors / (double)d->queries : 0;
	quantiles(hist, d->latency_us);
	query__le_counts(hist, d->lat_le);
}

/* ------------------------------------------------------------------ reading */

struct rcode_count {
	char name[20];
	uint64_t count;
};

/* What the BY_RCODE read builds: per pod and side (rows come grouped by pod then side, so one
 * histogram at a time is merged for the pods), and the totals of the whole answer. */
struct dns_ctx {
	struct dns_pod_row *rows;
	int n, cap, sorted;             /* rows[0..sorted) are in the store's (ns, pod) order */
	int cur_row, cur_side;          /* the group whose histogram is being merged, -1 none */
	uint64_t cur_hist[HIST_BUCKETS];
	unsigned long groups;           /* rows read, bounded by QUERY_DNS_MAX_ROWS */
	/* totals */
	struct dns_pod_side total[2];
	uint64_t total_hist[2][HIST_BUCKETS];
	struct rcode_count rc[2][QUERY_DNS_RCODES];
	unsigned n_rc[2];
	uint64_t rc_other[2];
	uint64_t search_queries, search_nxdomain;
};

static void group_finish(struct dns_ctx *c)
{
	if (c->cur_row >= 0)
		side_finish(&c->rows[c->cur_row].side[c->cur_side], c->cur_hist);
	c->cur_row = -1;
	memset(c->cur_hist, 0, sizeof(c->cur_hist));
}

static struct dns_pod_row *row_append(struct dns_ctx *c, const char *ns, const char *pod)
{
	struct dns_pod_row *r;

	if (c->n == c->cap) {
		int cap = c->cap ? c->cap * 2 : 16;
		struct dns_pod_row *nr = realloc(c->rows, sizeof(*nr) * (size_t)cap);

		if (!nr)
			return NULL;
		c->rows = nr;
		c->cap = cap;
	}
	r = &c->rows[c->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->ns, sizeof(r->ns), "%s", ns);
	snprintf(r->pod, sizeof(r->pod), "%s", pod);
	for (int s = 0; s < 2; s++)
		for (int k = 0; k < QUANTILES; k++)
			r->side[s].latency_us[k] = -1;
	return r;
}

static void rcode_add(struct dns_ctx *c, int side, const char *name, uint64_t n)
{
	for (unsigned i = 0; i < c->n_rc[side]; i++)
		if (!strcmp(c->rc[side][i].name, name)) {
			c->rc[side][i].count += n;
			return;
		}
	if (c->n_rc[side] == QUERY_DNS_RCODES || strlen(name) >= sizeof(c->rc[side][0].name)) {
		c->rc_other[side] += n;
		return;
	}
	snprintf(c->rc[side][c->n_rc[side]].name, sizeof(c->rc[side][0].name), "%s", name);
	c->rc[side][c->n_rc[side]++].count = n;
}

static int rcode_row(void *ctx, const struct store_dns_row *r)
{
	struct dns_ctx *c = ctx;
	struct dns_pod_row *p = c->n ? &c->rows[c->n - 1] : NULL;
	int side = r->side == STORE_CLIENT ? STORE_CLIENT : STORE_SERVER;

	if (++c->groups > QUERY_DNS_MAX_ROWS)
		return -ERANGE;
	if (!p || strcmp(p->pod, r->pod) || strcmp(p->ns, r->ns)) {
		group_finish(c);
		if (!(p = row_append(c, r->ns, r->pod)))
			return -ENOMEM;
		c->sorted = c->n;
	}
	if (c->cur_row != p - c->rows || c->cur_side != side) {
		group_finish(c);
		c->cur_row = (int)(p - c->rows);
		c->cur_side = side;
	}
	side_add(&p->side[side], r);
	side_add(&c->total[side], r);
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		c->cur_hist[i] += r->hist[i];
		c->total_hist[side][i] += r->hist[i];
	}
	rcode_add(c, side, r->key, r->count);
	return 0;
}

static int pod_cmp(const void *a, const void *b)
{
	const struct dns_pod_row *x = a, *y = b;
	int d = strcmp(x->ns, y->ns);

	return d ? d : strcmp(x->pod, y->pod);
}

static int search_row(void *ctx, const struct store_dns_search_sum *r)
{
	struct dns_ctx *c = ctx;
	struct dns_pod_row k, *p;

	snprintf(k.ns, sizeof(k.ns), "%s", r->ns);
	snprintf(k.pod, sizeof(k.pod), "%s", r->pod);
	p = c->sorted ? bsearch(&k, c->rows, (size_t)c->sorted, sizeof(k), pod_cmp) : NULL;
	/* a pod with searches but no DNS row in the window (an interval edge): listed after the rest */
	if (!p && !(p = row_append(c, r->ns, r->pod)))
		return -ENOMEM;
	p->search_queries += r->queries;
	p->search_nxdomain += r->nxdomain;
	c->search_queries += r->queries;
	c->search_nxdomain += r->nxdomain;
	return 0;
}

static int dns_read(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		    struct dns_ctx *c)
{
	struct store_dns_query q = {
		.ns = ns, .pod = pod, .group = STORE_DNS_BY_RCODE, .from_ms = from_ms, .to_ms = to_ms,
		.limit = QUERY_DNS_MAX_ROWS + 1,
	};
	int err;

	memset(c, 0, sizeof(*c));
	c->cur_row = -1;
	err = store__dns(s, &q, rcode_row, c);
	group_finish(c);
	if (!err)
		err = store__dns_search(s, ns, pod, from_ms, to_ms, search_row, c);
	for (int i = 0; i < c->n; i++)
		c->rows[i].search_nxdomain_per_s =
			rate(c->rows[i].search_nxdomain, c->rows[i].side[STORE_CLIENT].first_ms,
			     c->rows[i].side[STORE_CLIENT].end_ms);
	for (int side = 0; side < 2; side++)
		side_finish(&c->total[side], c->total_hist[side]);
	return err;
}

int query__dns_pods(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
		    struct dns_pod_row **rows)
{
	struct dns_ctx c;
	int err = dns_read(s, ns, NULL, from_ms, to_ms, &c);

	*rows = NULL;
	if (err) {
		free(c.rows);
		return err;
	}
	*rows = c.rows;
	return c.n;
}

/* ------------------------------------------------------------------ JSON */

struct domains_ctx {
	struct sbuf list[2];
	uint64_t listed[2];
	unsigned n[2];
};

static int domain_row(void *ctx, const struct store_dns_row *r)
{
	struct domains_ctx *c = ctx;
	int side = r->side == STORE_CLIENT ? STORE_CLIENT : STORE_SERVER;
	struct sbuf *b = &c->list[side];
	int64_t q[QUANTILES];

	sbuf__puts(b, c->n[side] ? ",{\"domain\":" : "{\"domain\":");
	sbuf__json_str(b, r->key);
	sbuf__printf(b, ",\"count\":%llu,\"timeouts\":%llu,\"errors\":%llu,\"nxdomain\":%llu",
		     (unsigned long long)r->count, (unsigned long long)r->timeouts,
		     (unsigned long long)r->errors, (unsigned long long)r->nxdomain);
	quantiles(r->hist, q);
	json_quantiles(b, q);
	sbuf__puts(b, "}");
	c->listed[side] += r->count;
	c->n[side]++;
	return 0;
}

static void json_summary(struct sbuf *out, const struct dns_pod_side *d)
{
	sbuf__printf(out, "{\"queries\":%llu,\"queries_per_s\":", (unsigned long long)d->queries);
	sbuf__json_num(out, d->queries_per_s);
	sbuf__printf(out, ",\"timeouts\":%llu,\"errors\":%llu,\"error_pct\":", (unsigned long long)d->timeouts,
		     (unsigned long long)d->errors);
	sbuf__json_num(out, d->error_pct);
	sbuf__printf(out, ",\"nxdomain\":%llu,\"mean_us\":", (unsigned long long)d->nxdomain);
	/* mean over the answered queries: timeouts carry no latency */
	sbuf__json_num(out, d->queries > d->timeouts ? (double)d->sum_us / (double)(d->queries - d->timeouts) : 0);
	json_quantiles(out, d->latency_us);
}

static void json_side(struct sbuf *out, const struct dns_ctx *c, struct domains_ctx *dc, int side)
{
	const struct dns_pod_side *d = &c->total[side];
	char *list;

	sbuf__printf(out, ",\"%s\":", side_name[side]);
	json_summary(out, d);
	sbuf__puts(out, ",\"rcodes\":{");
	for (unsigned i = 0; i < c->n_rc[side]; i++) {
		sbuf__puts(out, i ? "," : "");
		sbuf__json_str(out, c->rc[side][i].name);
		sbuf__printf(out, ":%llu", (unsigned long long)c->rc[side][i].count);
	}
	if (c->rc_other[side])
		sbuf__printf(out, "%s\"other\":%llu", c->n_rc[side] ? "," : "",
			     (unsigned long long)c->rc_other[side]);
	sbuf__puts(out, "},\"domains\":[");
	list = sbuf__take(&dc->list[side], NULL);
	sbuf__puts(out, list ? list : "");
	free(list);
	sbuf__printf(out, "],\"queries_not_listed\":%llu}",
		     (unsigned long long)(d->queries > dc->listed[side] ? d->queries - dc->listed[side] : 0));
}

int query__dns_json(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		    unsigned top, struct sbuf *out)
{
	struct store_dns_query q = {
		.ns = ns, .pod = pod, .group = STORE_DNS_BY_DOMAIN, .from_ms = from_ms, .to_ms = to_ms,
		.limit = top < 1 ? 1 : top > QUERY_DNS_MAX_TOP ? QUERY_DNS_MAX_TOP : top,
	};
	struct domains_ctx dc = { 0 };
	struct dns_ctx c;
	int err;

	if (pod && store__pod_exists(s, ns, pod) <= 0)
		return -ENOENT;
	err = dns_read(s, ns, pod, from_ms, to_ms, &c);
	if (!err)
		err = store__dns(s, &q, domain_row, &dc);
	if (err)
		goto out;
	sbuf__puts(out, "{\"namespace\":");
	sbuf__json_str(out, ns);
	sbuf__puts(out, ",\"pod\":");
	if (pod)
		sbuf__json_str(out, pod);
	else
		sbuf__puts(out, "null");
	sbuf__printf(out, ",\"from_ms\":%lld,\"to_ms\":%lld", (long long)from_ms, (long long)to_ms);
	json_side(out, &c, &dc, STORE_CLIENT);
	json_side(out, &c, &dc, STORE_SERVER);
	sbuf__printf(out, ",\"search\":{\"queries\":%llu,\"nxdomain\":%llu}", (unsigned long long)c.search_queries,
		     (unsigned long long)c.search_nxdomain);
	if (!pod) {
		sbuf__puts(out, ",\"pods\":[");
		for (int i = 0; i < c.n; i++) {
			const struct dns_pod_row *r = &c.rows[i];

			sbuf__puts(out, i ? ",{\"pod\":" : "{\"pod\":");
			sbuf__json_str(out, r->pod);
			for (int side = STORE_CLIENT; side >= STORE_SERVER; side--) {
				sbuf__printf(out, ",\"%s\":", side_name[side]);
				json_summary(out, &r->side[side]);
				sbuf__puts(out, "}");
			}
			sbuf__printf(out, ",\"search\":{\"queries\":%llu,\"nxdomain\":%llu}}",
				     (unsigned long long)r->search_queries, (unsigned long long)r->search_nxdomain);
		}
		sbuf__puts(out, "]");
	}
	sbuf__puts(out, "}");
out:
	sbuf__free(&dc.list[0]);
	sbuf__free(&dc.list[1]);
	free(c.rows);
	return err;
}
