/* agent/l7/h2_batch.c: the kernel's HTTP/2 batch (struct l7_h2_batch, bpf/l7.h: packets' headers
 * and their entries) split back into struct l7_h2_event records, and those put back in timestamp
 * order across CPUs (agent/probes/dns_order.c). Batches are built by hand in the kernel's layout
 * and handed over in a heap copy of exactly the record's size, so ASan catches any read past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/h2_batch.h"
#include "agent/probes/dns_order.h"

#define HDR offsetof(struct l7_h2_batch, buf)
#define MAXEV 256   /* more than a full batch of empty entries (L7_H2_BBUF / 20) */

struct sink {
	size_t n;
	struct l7_h2_event ev[MAXEV];
};

static void collect(void *ctx, const struct l7_h2_event *e)
{
	struct sink *s = ctx;

	assert_true(s->n < MAXEV);
	s->ev[s->n++] = *e;
}

static void batch_init(struct l7_h2_batch *b)
{
	memset(b, 0xee, sizeof(*b));   /* the kernel's buffer is not cleared between batches */
	b->len = 0;
	b->hoff = 0;
	b->busy = 0;
	b->cpu = L7_H2_CPU_NONE;
	b->proto = L7_PROTO_H2_BATCH;
}

/* starts a packet as the kernel does: its header at the next multiple of 8, len counted by put() */
static void pkt(struct l7_h2_batch *b, uint64_t cgid, uint64_t ts, uint64_t sock, uint8_t egress,
		uint8_t mid)
{
	struct l7_h2_pkt p = { .cgroup_id = cgid, .ts_ns = ts, .sock = sock, .egress = egress, .mid = mid };

	b->hoff = (b->len + 7) & ~7u;
	assert_true(b->hoff + sizeof(p) <= sizeof(b->buf));
	memcpy(b->buf + b->hoff, &p, sizeof(p));
	b->len = b->hoff + sizeof(p);
}

static void pkt_default(struct l7_h2_batch *b)
{
	pkt(b, 4242, 123456789, 0xc00c1e, 1, 1);
}

/* appends an entry to the current packet: struct l7_h2_ent, len data bytes (fill, fill+1, ...),
 * padded to 4 unless pad is 0 */
static void put(struct l7_h2_batch *b, uint8_t kind, uint8_t type, uint8_t flags, uint32_t stream,
		uint32_t flen, uint32_t foff, uint16_t len, uint8_t fill, int pad)
{
	struct l7_h2_ent x = { .stream = stream, .flen = flen, .foff = foff, .len = len, .kind = kind,
			       .type = type, .flags = flags };
	struct l7_h2_pkt p;

	assert_true(b->len + sizeof(x) + len <= sizeof(b->buf));
	memcpy(b->buf + b->len, &x, sizeof(x));
	b->len += sizeof(x);
	for (uint16_t i = 0; i < len; i++)
		b->buf[b->len + i] = (uint8_t)(fill + i);
	b->len += pad ? (len + 3u) & ~3u : len;
	memcpy(&p, b->buf + b->hoff, sizeof(p));
	p.len = (uint16_t)(b->len - b->hoff - sizeof(p));
	memcpy(b->buf + b->hoff, &p, sizeof(p));
}

/* unpacks the first size bytes of b from an allocation of exactly that size */
static int unpack(const struct l7_h2_batch *b, size_t size, struct sink *s, size_t *n)
{
	void *copy = malloc(size ? size : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, b, size);
	s->n = 0;
	rc = h2_batch__unpack(copy, size, collect, s, n);
	free(copy);
	assert_int_equal(*n, s->n);
	return rc;
}

static void check_pkt(const struct l7_h2_event *e, uint64_t cgid, uint64_t ts, uint64_t sock,
		      uint8_t egress, uint8_t mid)
{
	assert_int_equal(e->cgroup_id, cgid);
	assert_int_equal(e->ts_ns, ts);
	assert_int_equal(e->sock, sock);
	assert_int_equal(e->egress, egress);
	assert_int_equal(e->mid, mid);
}

static void check_ev(const struct l7_h2_event *e, uint8_t kind, uint8_t type, uint8_t flags,
		     uint32_t stream, uint32_t flen, uint32_t foff, uint16_t len, uint8_t fill)
{
	assert_int_equal(e->proto, L7_PROTO_HTTP2);
	assert_int_equal(e->kind, kind);
	assert_int_equal(e->type, type);
	assert_int_equal(e->flags, flags);
	assert_int_equal(e->stream, stream);
	assert_int_equal(e->flen, flen);
	assert_int_equal(e->foff, foff);
	assert_int_equal(e->len, len);
	assert_int_equal(e->pad, 0);
	for (uint16_t i = 0; i < len; i++)
		assert_int_equal(e->data[i], (uint8_t)(fill + i));
}

static struct l7_h2_batch b;
static struct sink s;

static void test_one_entry(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 1, 5, 0, 5, 0x80, 1);
	assert_int_equal(b.len, 32 + 20 + 8);
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), 0);
	assert_int_equal(n, 1);
	check_pkt(&s.ev[0], 4242, 123456789, 0xc00c1e, 1, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 1, 5, 0, 5, 0x80);
}

static void test_empty(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
	assert_int_equal(unpack(&b, HDR, &s, &n), 0);
	assert_int_equal(n, 0);
	/* a packet header with no entries (the kernel gives its place back; a hand-made one is
	 * still read right) */
	pkt_default(&b);
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), 0);
	assert_int_equal(n, 0);
}

/* frame + chunks of one header block, a DATA end of stream, RST, and a last entry whose padding
 * is left out (the kernel sends only the used part) */
static void test_several(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_OPEN, 0, 0, 0, 0, 0, 0, 0, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x0, 3, 600, 0, L7_H2_CAP, 0x10, 1);
	put(&b, L7_H2_K_CHUNK, L7_H2_HEADERS, 0x0, 3, 600, 256, L7_H2_CAP, 0x20, 1);
	put(&b, L7_H2_K_CHUNK, L7_H2_HEADERS, 0x0, 3, 600, 512, 88, 0x30, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_CONTINUATION, 0x4, 3, 7, 0, 7, 0x40, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_DATA, 0x1, 3, 1000, 0, 0, 0, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_RST_STREAM, 0, 5, 4, 0, 0, 0, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 7, 3, 0, 3, 0x50, 0);
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), 0);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++)
		check_pkt(&s.ev[i], 4242, 123456789, 0xc00c1e, 1, 1);
	check_ev(&s.ev[0], L7_H2_K_OPEN, 0, 0, 0, 0, 0, 0, 0);
	check_ev(&s.ev[1], L7_H2_K_FRAME, L7_H2_HEADERS, 0x0, 3, 600, 0, L7_H2_CAP, 0x10);
	check_ev(&s.ev[2], L7_H2_K_CHUNK, L7_H2_HEADERS, 0x0, 3, 600, 256, L7_H2_CAP, 0x20);
	check_ev(&s.ev[3], L7_H2_K_CHUNK, L7_H2_HEADERS, 0x0, 3, 600, 512, 88, 0x30);
	check_ev(&s.ev[4], L7_H2_K_FRAME, L7_H2_CONTINUATION, 0x4, 3, 7, 0, 7, 0x40);
	check_ev(&s.ev[5], L7_H2_K_FRAME, L7_H2_DATA, 0x1, 3, 1000, 0, 0, 0);
	check_ev(&s.ev[6], L7_H2_K_FRAME, L7_H2_RST_STREAM, 0, 5, 4, 0, 0, 0);
	check_ev(&s.ev[7], L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 7, 3, 0, 3, 0x50);
}

/* packets of two sockets and both directions in one batch: each entry carries its packet's
 * fields; a packet whose last entry's data length is not a multiple of 8 puts the next header
 * at the next multiple of 8 */
static void test_packets(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
	pkt(&b, 11, 1000, 0xa, 0, 0);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 1, 3, 0, 3, 0x01, 1);     /* 32 + 24: 56 */
	pkt(&b, 22, 2000, 0xb, 1, 1);
	assert_int_equal(b.hoff, 56);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 1, 5, 0, 5, 0x02, 1);     /* 88 + 28: 116 */
	put(&b, L7_H2_K_FRAME, L7_H2_DATA, 0x1, 1, 1024, 0, 0, 0, 1);         /* 136 */
	pkt(&b, 11, 3000, 0xa, 1, 0);
	assert_int_equal(b.hoff, 136);
	put(&b, L7_H2_K_FRAME, L7_H2_RST_STREAM, 0, 3, 4, 0, 0, 0, 1);     /* 188 */
	pkt(&b, 33, 4000, 0xc, 0, 0);
	assert_int_equal(b.hoff, 192);
	put(&b, L7_H2_K_FRAME, L7_H2_GOAWAY, 0, 0, 8, 0, 0, 0, 1);
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), 0);
	assert_int_equal(n, 5);
	check_pkt(&s.ev[0], 11, 1000, 0xa, 0, 0);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 1, 3, 0, 3, 0x01);
	check_pkt(&s.ev[1], 22, 2000, 0xb, 1, 1);
	check_ev(&s.ev[1], L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 1, 5, 0, 5, 0x02);
	check_pkt(&s.ev[2], 22, 2000, 0xb, 1, 1);
	check_ev(&s.ev[2], L7_H2_K_FRAME, L7_H2_DATA, 0x1, 1, 1024, 0, 0, 0);
	check_pkt(&s.ev[3], 11, 3000, 0xa, 1, 0);
	check_ev(&s.ev[3], L7_H2_K_FRAME, L7_H2_RST_STREAM, 0, 3, 4, 0, 0, 0);
	check_pkt(&s.ev[4], 33, 4000, 0xc, 0, 0);
	check_ev(&s.ev[4], L7_H2_K_FRAME, L7_H2_GOAWAY, 0, 0, 8, 0, 0, 0);
}

/* a full buffer of entries: L7_H2_BBUF bytes delivered, one byte more refused whole */
static void test_count_past_max(void **state)
{
	size_t n, want = 0;

	(void)state;
	batch_init(&b);
	pkt_default(&b);
	while (b.len + 20 + 48 <= sizeof(b.buf)) {
		put(&b, L7_H2_K_FRAME, L7_H2_DATA, 0, (uint32_t)want * 2 + 1, 0, 0, 0, 0, 1);
		want++;
	}
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 99, 0, 0, (uint16_t)(sizeof(b.buf) - b.len - 20), 1, 0);
	want++;
	assert_true(want < MAXEV);
	assert_int_equal(b.len, L7_H2_BBUF);
	assert_int_equal(unpack(&b, sizeof(b), &s, &n), 0);
	assert_int_equal(n, want);
	assert_int_equal(s.ev[want - 1].stream, 99);

	/* len past the buffer the kernel has, with a record long enough to hold it */
	{
		size_t big = sizeof(b) + 64;
		unsigned char *r = calloc(1, big);

		assert_non_null(r);
		memcpy(r, &b, sizeof(b));
		((struct l7_h2_batch *)r)->len = L7_H2_BBUF + 20;
		s.n = 0;
		assert_int_equal(h2_batch__unpack(r, big, collect, &s, &n), -EINVAL);
		assert_int_equal(n, 0);
		assert_int_equal(s.n, 0);
		free(r);
	}

	/* an entry's length past L7_H2_CAP: the entries before it only */
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 4, 0, 4, 0x60, 1);
	put(&b, L7_H2_K_CHUNK, L7_H2_HEADERS, 0, 1, 600, 0, L7_H2_CAP + 4, 0x70, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_DATA, 0x1, 1, 0, 0, 0, 0, 1);
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 4, 0, 4, 0x60);
}

/* lengths that run past the record, past the batch's own len, or past their packet's len */
static void test_length_past_record(void **state)
{
	struct l7_h2_ent x;
	struct l7_h2_pkt p;
	size_t n;

	(void)state;
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 8, 0, 8, 0x11, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 3, 8, 0, 8, 0x22, 1);
	/* the record is 1 byte shorter than len says: nothing delivered */
	assert_int_equal(unpack(&b, HDR + b.len - 1, &s, &n), -EINVAL);
	assert_int_equal(n, 0);

	/* the second entry's data claims more than is left of len */
	memcpy(&x, b.buf + 32 + 28, sizeof(x));
	x.len = 9;
	memcpy(b.buf + 32 + 28, &x, sizeof(x));
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 8, 0, 8, 0x11);

	/* the same with a record that goes on past len: len bounds the entries, not the record */
	assert_int_equal(unpack(&b, sizeof(b), &s, &n), -EBADMSG);
	assert_int_equal(n, 1);

	/* a packet whose len runs past the batch's: none of its entries */
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 8, 0, 8, 0x11, 1);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 3, 8, 0, 8, 0x22, 1);
	memcpy(&p, b.buf + b.hoff, sizeof(p));
	p.len = (uint16_t)(p.len + 1);
	memcpy(b.buf + b.hoff, &p, sizeof(p));
	assert_int_equal(unpack(&b, sizeof(b), &s, &n), -EBADMSG);
	assert_int_equal(n, 1);

	/* an entry whose data runs past its packet's len (but not past the batch's) */
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 8, 0, 8, 0x11, 1);
	memcpy(&p, b.buf, sizeof(p));
	p.len = 20 + 4;
	memcpy(b.buf, &p, sizeof(p));
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 0);
}

/* records cut short: inside the header, inside a packet's header, inside an entry's own header */
static void test_truncated(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 2, 0, 2, 0x33, 1);
	assert_int_equal(unpack(&b, 0, &s, &n), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(unpack(&b, HDR - 1, &s, &n), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(unpack(&b, HDR + 10, &s, &n), -EINVAL);
	assert_int_equal(n, 0);

	/* len (the batch's and the packet's) ends 12 bytes into the second entry's header */
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 3, 2, 0, 2, 0x44, 1);
	b.len -= 12;
	{
		struct l7_h2_pkt p;

		memcpy(&p, b.buf, sizeof(p));
		p.len = (uint16_t)(p.len - 12);
		memcpy(b.buf, &p, sizeof(p));
	}
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 2, 0, 2, 0x33);

	/* len ends inside the second packet's header */
	batch_init(&b);
	pkt_default(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 2, 0, 2, 0x33, 1);
	pkt_default(&b);
	b.len = b.hoff + 16;
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
}

/* What the hold fed, in order: one sink and one feed for both holds (whole records and sized
 * ones); data_ok: the record's data bytes are the pattern ts, ts+1, ... that sized_add wrote. */
#define FED_MAX 64
struct fed {
	size_t n;
	uint32_t stream[FED_MAX];
	uint64_t ts[FED_MAX];
	uint8_t egress[FED_MAX];
	uint16_t len[FED_MAX];
	int data_ok[FED_MAX];
};

static void fed_record(void *ctx, const void *rec)
{
	const size_t head = offsetof(struct l7_h2_event, data);
	struct fed *o = ctx;
	struct l7_h2_event e;
	int ok = 1;

	assert_true(o->n < FED_MAX);
	memcpy(&e, rec, head);
	for (uint16_t i = 0; i < e.len; i++)
		ok &= ((const uint8_t *)rec)[head + i] == (uint8_t)(e.ts_ns + i);
	o->stream[o->n] = e.stream;
	o->ts[o->n] = e.ts_ns;
	o->egress[o->n] = e.egress;
	o->len[o->n] = e.len;
	o->data_ok[o->n++] = ok;
}

static void hold_batch(void *ctx, const struct l7_h2_event *e)
{
	struct dns_order *o = ((void **)ctx)[0];
	int cpu = *(int *)((void **)ctx)[1];

	dns_order__add_records(o, e, 1, cpu);
}

/* Per-CPU delivery: a response's HEADERS recorded on CPU 1 comes in a full batch, its request's
 * on CPU 0 stays in a kept batch until the harvest reads it (cpu -1); the hold feeds the request
 * first, each direction's blocks in order, and nothing stamped after the release point. */
static void test_order_across_cpus(void **state)
{
	/* request before response of each stream, streams in order */
	static const struct { uint32_t stream; uint8_t egress; } want[] = {
		{ 1, 0 }, { 1, 1 }, { 3, 0 }, { 3, 1 },
	};
	struct fed got = { 0 };
	struct dns_order *o;
	void *ctx[2];
	int cpu;
	size_t n;

	(void)state;
	o = dns_order__new_records(64, sizeof(struct l7_h2_event), 8, 2, fed_record, &got);
	assert_non_null(o);
	ctx[0] = o;
	ctx[1] = &cpu;
	/* CPU 1's full batch: responses to streams 1 and 3 (egress), at 2000 and 4000 */
	batch_init(&b);
	pkt(&b, 7, 2000, 0xa, 1, 0);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 1, 3, 0, 3, 0x10, 1);
	pkt(&b, 7, 4000, 0xa, 1, 0);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 3, 3, 0, 3, 0x10, 1);
	b.cpu = 1;
	cpu = 1;
	assert_int_equal(h2_batch__unpack(&b, HDR + b.len, hold_batch, ctx, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(got.n, 0);
	/* CPU 0's kept batch at the harvest: the requests, at 1000 and 3000, and one after the
	 * release point (5000) */
	batch_init(&b);
	pkt(&b, 7, 1000, 0xa, 0, 0);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 1, 3, 0, 3, 0x20, 1);
	pkt(&b, 7, 3000, 0xa, 0, 0);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 3, 3, 0, 3, 0x20, 1);
	pkt(&b, 7, 5000, 0xa, 0, 0);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 5, 3, 0, 3, 0x20, 1);
	cpu = -1;
	assert_int_equal(h2_batch__unpack(&b, HDR + b.len, hold_batch, ctx, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(got.n, 0);
	dns_order__release(o, 4500);
	assert_int_equal(got.n, 4);
	assert_int_equal(dns_order__held(o), 1);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(got.stream[i], want[i].stream);
		assert_int_equal(got.egress[i], want[i].egress);
	}
	for (size_t i = 1; i < got.n; i++)
		assert_true(got.ts[i - 1] < got.ts[i]);
	dns_order__release(o, 6000);
	assert_int_equal(got.n, 5);
	assert_int_equal(got.stream[4], 5);
	assert_int_equal(dns_order__forced(o), 0);
	dns_order__free(o);
}

/* The hold of sized records (dns_order__new_sized, as the probe keeps HTTP/2 records): each in
 * its head and data bytes; fed in timestamp order with its bytes intact after the ones before it
 * were fed and the rest moved down; past its byte bound the oldest are fed anyway and counted. */
static void sized_add(struct dns_order *o, uint64_t ts, uint16_t len, int cpu)
{
	struct l7_h2_event e;

	memset(&e, 0, sizeof(e));
	e.ts_ns = ts;
	e.len = len;
	e.proto = L7_PROTO_HTTP2;
	for (uint16_t i = 0; i < len; i++)
		e.data[i] = (uint8_t)(ts + i);
	dns_order__add_sized(o, &e, offsetof(struct l7_h2_event, data) + len, cpu);
}

static void test_sized_hold(void **state)
{
	const uint64_t ts[8] = { 50, 10, 70, 30, 20, 80, 60, 40 };
	const uint16_t len[8] = { 0, 7, 256, 1, 33, 8, 100, 13 };
	struct fed got = { 0 };
	struct dns_order *o;

	(void)state;
	/* 64 records, 4096 bytes: a quarter is 1024 bytes */
	o = dns_order__new_sized(64, 4096, sizeof(struct l7_h2_event), 1, 2, fed_record, &got);
	assert_non_null(o);
	for (int i = 0; i < 8; i++)
		sized_add(o, ts[i], len[i], -1);
	assert_int_equal(dns_order__held(o), 8);
	dns_order__release(o, 45);                         /* 10, 20, 30, 40 */
	assert_int_equal(got.n, 4);
	assert_int_equal(dns_order__held(o), 4);
	sized_add(o, 55, 5, -1);
	dns_order__release(o, 1000);                       /* 50, 55, 60, 70, 80: moved, intact */
	assert_int_equal(got.n, 9);
	for (size_t i = 0; i < got.n; i++) {
		assert_true(got.data_ok[i]);
		if (i)
			assert_true(got.ts[i - 1] < got.ts[i]);
	}
	assert_int_equal(got.ts[0], 10);
	assert_int_equal(got.len[0], 7);
	assert_int_equal(got.ts[6], 60);
	assert_int_equal(got.len[6], 100);
	assert_int_equal(got.ts[7], 70);
	assert_int_equal(got.len[7], 256);
	assert_int_equal(dns_order__forced(o), 0);

	/* a record longer than the largest is refused, not stored */
	dns_order__add_sized(o, &(struct l7_h2_event){ .ts_ns = 1 }, sizeof(struct l7_h2_event) + 1, -1);
	assert_int_equal(dns_order__held(o), 0);

	/* 30 records of 304 bytes (9 KiB) through 4 KiB, CPU 1's mark never moves: the oldest are
	 * fed anyway (forced, counted), in order, intact, nothing lost */
	got.n = 0;
	for (int i = 0; i < 30; i++)
		sized_add(o, 2000 + (uint64_t)i, 256, 0);
	assert_true(dns_order__forced(o) > 0);
	assert_true(dns_order__stuck(o));
	dns_order__release(o, 5000);
	assert_int_equal(got.n, 30);
	for (size_t i = 0; i < got.n; i++) {
		assert_true(got.data_ok[i]);
		assert_int_equal(got.ts[i], 2000 + i);
	}
	dns_order__free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_entry),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_several),
		cmocka_unit_test(test_packets),
		cmocka_unit_test(test_count_past_max),
		cmocka_unit_test(test_length_past_record),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_order_across_cpus),
		cmocka_unit_test(test_sized_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
