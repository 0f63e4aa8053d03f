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

/* Records are kept in arrival order in one buffer (arena), each at a multiple of 8: fixed-size
 * records (dns_order__new, __new_records) take rec_size bytes each, sized ones
 * (dns_order__new_sized) only the bytes given. Feeding moves the rest down, in order. */
struct dns_order {
	unsigned char *arena;
	size_t cap, used;          /* arena bytes */
	uint32_t *off, *len;       /* per record: where in the arena, how many bytes */
	size_t rec_size, chunk;    /* rec_size: fixed size, or (sized) the largest record */
	bool sized;
	struct key *idx;
	size_t n, max;
	uint64_t *mark;            /* per CPU: newest timestamp of its full batches */
	int ncpu;
	uint64_t forced;
	bool stuck;                /* the marks freed too little: the partial batches are needed */
	dns_order_feed_fn feed;    /* DNS (dns_order__new), or */
	rec_order_feed_fn feed_rec; /* any records */
	void *ctx;
};

/* the records' common head: both kinds start with the cgroup and the timestamp */
_Static_assert(offsetof(struct l7_dns_event, ts_ns) == 8 && offsetof(struct l7_h2_event, ts_ns) == 8,
	       "ts_ns at offset 8");

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

static struct dns_order *order_new(size_t max, size_t cap, size_t rec_size, size_t chunk, int ncpu)
{
	struct dns_order *o;

	if (max < 4 * chunk || max > UINT32_MAX || ncpu < 1 || rec_size < 16 || !chunk ||
	    cap < 4 * chunk * ALIGN8(rec_size) || cap > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		goto nomem;
	o->max = max;
	o->cap = cap;
	o->rec_size = rec_size;
	o->chunk = chunk;
	o->ncpu = ncpu;
	o->arena = malloc(cap);
	o->off = calloc(max, sizeof(*o->off));
	o->len = calloc(max, sizeof(*o->len));
	o->idx = calloc(max, sizeof(*o->idx));
	o->mark = calloc((size_t)ncpu, sizeof(*o->mark));
	if (!o->arena || !o->off || !o->len || !o->idx || !o->mark)
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

	if (!feed || max > UINT32_MAX / sizeof(struct l7_dns_event)) {
		errno = EINVAL;
		return NULL;
	}
	o = order_new(max, max * ALIGN8(sizeof(struct l7_dns_event)), sizeof(struct l7_dns_event),
		      L7_DNS_BATCH, ncpu);
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

	if (!feed || !rec_size || max > UINT32_MAX / ALIGN8(rec_size)) {
		errno = EINVAL;
		return NULL;
	}
	o = order_new(max, max * ALIGN8(rec_size), rec_size, chunk, ncpu);
	if (o) {
		o->feed_rec = feed;
		o->ctx = ctx;
	}
	return o;
}

struct dns_order *dns_order__new_sized(size_t max, size_t bytes, size_t rec_max, size_t chunk, int ncpu,
				       rec_order_feed_fn feed, void *ctx)
{
	struct dns_order *o;

	if (!feed) {
		errno = EINVAL;
		return NULL;
	}
	o = order_new(max, bytes, rec_max, chunk, ncpu);
	if (o) {
		o->sized = true;
		o->feed_rec = feed;
		o->ctx = ctx;
	}
	return o;
}

void dns_order__free(struct dns_order *o)
{
	if (!o)
		return;
	free(o->arena);
	free(o->off);
	free(o->len);
	free(o->idx);
	free(o->mark);
	free(o);
}

static unsigned char *rec_at(const struct dns_order *o, size_t i)
{
	return o->arena + o->off[i];
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

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;   /* equal stamps: as they arrived */
}

/* Feed the records stamped before upto in timestamp order, and at least the min oldest and the
 * oldest holding min_bytes; keep the rest. */
static void feed_upto(struct dns_order *o, uint64_t upto, size_t min, size_t min_bytes)
{
	size_t n = o->n, fed = 0, freed = 0, kept, pos = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		o->idx[i] = (struct key){ .ts = rec_ts(o, i), .i = (uint32_t)i };
	qsort(o->idx, n, sizeof(*o->idx), key_cmp);
	while (fed < n && (o->idx[fed].ts < upto || fed < min || freed < min_bytes)) {
		freed += ALIGN8(o->len[o->idx[fed].i]);
		deliver(o, o->idx[fed++].i);
	}
	/* the rest moves down in the order of their positions (a record never moves up) */
	kept = n - fed;
	for (size_t i = 0; i < kept; i++)
		o->idx[i] = (struct key){ .ts = o->idx[fed + i].i, .i = o->idx[fed + i].i };
	qsort(o->idx, kept, sizeof(*o->idx), key_cmp);
	for (size_t i = 0; i < kept; i++) {
		uint32_t from = o->idx[i].i, size = o->len[from];

		if (o->off[from] != pos)
			memmove(o->arena + pos, o->arena + o->off[from], size);
		o->off[i] = (uint32_t)pos;
		o->len[i] = size;
		pos += ALIGN8(size);
	}
	o->n = kept;
	o->used = pos;
}

/* Make room for k more records of bytes bytes (in the arena). */
static void make_room(struct dns_order *o, size_t k, size_t bytes)
{
	uint64_t mark = UINT64_MAX;
	size_t before = o->n, before_used = o->used, quarter = o->max / 4;
	/* fixed-size records: the byte bounds are the count's, exactly */
	size_t qbytes = o->sized ? o->cap / 4 : quarter * ALIGN8(o->rec_size);

	/* from three quarters on: the last quarter is the room the caller has to read the partial
	 * batches in when the marks do not free enough */
	if (o->n + k <= o->max - quarter && o->used + bytes <= (o->sized ? o->cap - qbytes :
								 (o->max - quarter) * ALIGN8(o->rec_size)))
		return;
	if (!o->stuck) {
		for (int c = 0; c < o->ncpu; c++)
			if (o->mark[c] < mark)
				mark = o->mark[c];
		feed_upto(o, mark > DNS_ORDER_SLACK_NS ? mark - DNS_ORDER_SLACK_NS : 0, 0, 0);
		/* too little: ask for the partial batches (dns_order__stuck), and until they come
		 * do not sort the whole hold again for every batch */
		o->stuck = o->sized ? before_used - o->used < qbytes : before - o->n < quarter;
	}
	if (o->n + k > o->max || o->used + bytes > o->cap) {
		size_t n = o->n;

		feed_upto(o, 0, quarter > k ? quarter : k, o->sized ? (qbytes > bytes ? qbytes : bytes) : 0);
		o->forced += n - o->n;
	}
}

/* n records of size bytes each, one after the other in recs */
static void add(struct dns_order *o, const unsigned char *e, size_t n, size_t size, int cpu)
{
	uint64_t ts;

	while (n) {
		size_t k = n < o->chunk ? n : o->chunk;

		make_room(o, k, k * ALIGN8(size));
		for (size_t j = 0; j < k; j++) {
			o->off[o->n] = (uint32_t)o->used;
			o->len[o->n] = (uint32_t)size;
			memcpy(o->arena + o->used, e + j * size, size);
			o->used += ALIGN8(size);
			o->n++;
		}
		ts = rec_ts(o, o->n - 1);
		if (cpu >= 0 && cpu < o->ncpu && ts > o->mark[cpu])
			o->mark[cpu] = ts;
		e += k * size;
		n -= k;
	}
}

void dns_order__add_records(struct dns_order *o, const void *recs, size_t n, int cpu)
{
	add(o, recs, n, o->rec_size, cpu);
}

void dns_order__add_sized(struct dns_order *o, const void *rec, size_t size, int cpu)
{
	if (size < 16 || size > o->rec_size)
		return;
	add(o, rec, 1, size, cpu);
}

void dns_order__add(struct dns_order *o, const struct l7_dns_event *e, size_t n, int cpu)
{
	add(o, (const unsigned char *)e, n, sizeof(*e), cpu);
}

void dns_order__release(struct dns_order *o, uint64_t upto)
{
	for (int c = 0; c < o->ncpu; c++)
		if (o->mark[c] < upto)
			o->mark[c] = upto;
	feed_upto(o, upto, 0, 0);
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
