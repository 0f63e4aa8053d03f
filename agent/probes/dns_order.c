#include "agent/probes/dns_order.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct key {
	uint64_t ts;
	uint32_t i;
};

struct dns_order {
	unsigned char *rec;        /* max records of rec_size bytes */
	size_t rec_size, chunk;
	struct key *idx;
	size_t n, max;
	uint64_t *mark;            /* per CPU: newest timestamp of its full batches */
	int ncpu;
	uint64_t forced;
	bool stuck;                /* the marks freed too little: the partial batches are needed */
	dns_order_feed_fn feed;    /* DNS (dns_order__new), or */
	rec_order_feed_fn feed_rec; /* any records (dns_order__new_records) */
	void *ctx;
};

/* the records' common head: both kinds start with the cgroup and the timestamp */
_Static_assert(offsetof(struct l7_dns_event, ts_ns) == 8 && offsetof(struct l7_h2_event, ts_ns) == 8,
	       "ts_ns at offset 8");

static struct dns_order *order_new(size_t max, size_t rec_size, size_t chunk, int ncpu)
{
	struct dns_order *o;

	if (max < 4 * chunk || max > UINT32_MAX || ncpu < 1 || rec_size < 16 || !chunk) {
		errno = EINVAL;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		goto nomem;
	o->max = max;
	o->rec_size = rec_size;
	o->chunk = chunk;
	o->ncpu = ncpu;
	o->rec = calloc(max, rec_size);
	o->idx = calloc(max, sizeof(*o->idx));
	o->mark = calloc((size_t)ncpu, sizeof(*o->mark));
	if (!o->rec || !o->idx || !o->mark)
		goto nomem;
	return o;
nomem:
	dns_order__free(o);
	errno = ENOMEM;
	return NULL;
}

struct dns_order *dns_order__new(size_t max, int ncpu, dns_order_feed_fn feed, void *ctx)
{
	struct dns_order *o;

	if (!feed) {
		errno = EINVAL;
		return NULL;
	}
	o = order_new(max, sizeof(struct l7_dns_event), L7_DNS_BATCH, ncpu);
	if (o) {
		o->feed = feed;
		o->ctx = ctx;
	}
	return o;
}

struct dns_order *dns_order__new_records(size_t max, size_t rec_size, size_t chunk, int ncpu,
					 rec_order_feed_fn feed, void *ctx)
{
	struct dns_order *o;

	if (!feed) {
		errno = EINVAL;
		return NULL;
	}
	o = order_new(max, rec_size, chunk, ncpu);
	if (o) {
		o->feed_rec = feed;
		o->ctx = ctx;
	}
	return o;
}

static unsigned char *rec_at(const struct dns_order *o, size_t i)
{
	return o->rec + i * o->rec_size;
}

static uint64_t rec_ts(const struct dns_order *o, size_t i)
{
	uint64_t ts;

	memcpy(&ts, rec_at(o, i) + 8, sizeof(ts));
	return ts;
}

static void deliver(struct dns_order *o, size_t i)
{
	if (o->feed)
		o->feed(o->ctx, (const struct l7_dns_event *)rec_at(o, i));
	else
		o->feed_rec(o->ctx, rec_at(o, i));
}

void dns_order__free(struct dns_order *o)
{
	if (!o)
		return;
	free(o->rec);
	free(o->idx);
	free(o->mark);
	free(o);
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;   /* equal stamps: as they arrived */
}

/* Feed the records stamped before upto in timestamp order, and at least the min oldest; keep the
 * rest. */
static void feed_upto(struct dns_order *o, uint64_t upto, size_t min)
{
	size_t n = o->n, fed = 0, kept;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		o->idx[i] = (struct key){ .ts = rec_ts(o, i), .i = (uint32_t)i };
	qsort(o->idx, n, sizeof(*o->idx), key_cmp);
	while (fed < n && (o->idx[fed].ts < upto || fed < min))
		deliver(o, o->idx[fed++].i);
	/* the rest moves down in the order of their positions (a record never moves up) */
	kept = n - fed;
	for (size_t i = 0; i < kept; i++)
		o->idx[i] = (struct key){ .ts = o->idx[fed + i].i, .i = o->idx[fed + i].i };
	qsort(o->idx, kept, sizeof(*o->idx), key_cmp);
	for (size_t i = 0; i < kept; i++)
		if (o->idx[i].i != i)
			memcpy(rec_at(o, i), rec_at(o, o->idx[i].i), o->rec_size);
	o->n = kept;
}

/* Make room for k more records. */
static void make_room(struct dns_order *o, size_t k)
{
	uint64_t mark = UINT64_MAX;
	size_t before = o->n, quarter = o->max / 4;

	/* from three quarters on: the last quarter is the room the caller has to read the partial
	 * batches in when the marks do not free enough */
	if (o->n + k <= o->max - quarter)
		return;
	if (!o->stuck) {
		for (int c = 0; c < o->ncpu; c++)
			if (o->mark[c] < mark)
				mark = o->mark[c];
		feed_upto(o, mark > DNS_ORDER_SLACK_NS ? mark - DNS_ORDER_SLACK_NS : 0, 0);
		/* too little: ask for the partial batches (dns_order__stuck), and until they come
		 * do not sort the whole hold again for every batch */
		o->stuck = before - o->n < quarter;
	}
	if (o->n + k > o->max) {
		size_t n = o->n;

		feed_upto(o, 0, quarter > k ? quarter : k);
		o->forced += n - o->n;
	}
}

void dns_order__add_records(struct dns_order *o, const void *recs, size_t n, int cpu)
{
	const unsigned char *e = recs;
	uint64_t ts;

	while (n) {
		size_t k = n < o->chunk ? n : o->chunk;

		make_room(o, k);
		memcpy(rec_at(o, o->n), e, k * o->rec_size);
		o->n += k;
		ts = rec_ts(o, o->n - 1);
		if (cpu >= 0 && cpu < o->ncpu && ts > o->mark[cpu])
			o->mark[cpu] = ts;
		e += k * o->rec_size;
		n -= k;
	}
}

void dns_order__add(struct dns_order *o, const struct l7_dns_event *e, size_t n, int cpu)
{
	dns_order__add_records(o, e, n, cpu);
}

void dns_order__release(struct dns_order *o, uint64_t upto)
{
	for (int c = 0; c < o->ncpu; c++)
		if (o->mark[c] < upto)
			o->mark[c] = upto;
	feed_upto(o, upto, 0);
	o->stuck = false;
}

bool dns_order__stuck(const struct dns_order *o)
{
	return o->stuck;
}

size_t dns_order__held(const struct dns_order *o)
{
	return o->n;
}

uint64_t dns_order__forced(const struct dns_order *o)
{
	return o->forced;
}

size_t dns_batch__unpack(const void *batch, size_t size, struct l7_dns_event *out, size_t *bad)
{
	const struct l7_dns_batch *b = batch;
	const size_t base = offsetof(struct l7_dns_batch, buf);
	size_t n, used, off = 0, k = 0;

	*bad = 0;
	if (size < base)
		return 0;
	n = b->n < L7_DNS_BATCH ? b->n : L7_DNS_BATCH;
	used = b->bytes;
	/* what the batch says it holds, within what was received */
	if (used > size - base)
		used = size - base;
	if (used > L7_DNS_BATCH_BYTES)
		used = L7_DNS_BATCH_BYTES;
	for (; k < n; k++) {
		const uint8_t *r = b->buf + off;
		uint8_t cap;

		if (used - off < L7_DNS_HEAD)
			break;
		cap = ((const struct l7_dns_event *)r)->cap;
		if (cap > L7_DNS_CAP || used - off < L7_DNS_HEAD + (size_t)cap)
			break;
		memcpy(&out[k], r, L7_DNS_HEAD + (size_t)cap);
		memset(out[k].data + cap, 0, L7_DNS_CAP - cap);
		/* the last record's padding may be past the bytes sent */
		off += L7_DNS_REC_SIZE(cap);
		if (off > used)
			off = used;
	}
	*bad = n - k;   /* a count past L7_DNS_BATCH is not believed: at most a batch is bad */
	return k;
}
