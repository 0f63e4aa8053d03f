/* agent/l7/h2_batch.c: the kernel's per-packet HTTP/2 batch (struct l7_h2_batch, bpf/l7.h) split
 * back into struct l7_h2_event records. Batches are built by hand in the kernel's layout and
 * handed over in a heap copy of exactly the record's size, so ASan catches any read past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/h2_batch.h"

#define HDR offsetof(struct l7_h2_batch, buf)
#define MAXEV 128   /* more than a full batch of empty entries (L7_H2_BBUF / 20) */

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
	memset(b, 0, sizeof(*b));
	b->cgroup_id = 4242;
	b->ts_ns = 123456789;
	b->sock = 0xc00c1e;
	b->egress = 1;
	b->mid = 1;
	b->proto = L7_PROTO_H2_BATCH;
}

/* appends an entry as the kernel does: struct l7_h2_ent, len data bytes (fill, fill+1, ...),
 * padded to 4 unless pad is 0 */
static void put(struct l7_h2_batch *b, uint8_t kind, uint8_t type, uint8_t flags, uint32_t stream,
		uint32_t flen, uint32_t foff, uint16_t len, uint8_t fill, int pad)
{
	struct l7_h2_ent x = { .stream = stream, .flen = flen, .foff = foff, .len = len, .kind = kind,
			       .type = type, .flags = flags };

	assert_true(b->len + sizeof(x) + len <= sizeof(b->buf));
	memcpy(b->buf + b->len, &x, sizeof(x));
	b->len += sizeof(x);
	for (uint16_t i = 0; i < len; i++)
		b->buf[b->len + i] = (uint8_t)(fill + i);
	b->len += pad ? (len + 3u) & ~3u : len;
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

static void check_ev(const struct l7_h2_event *e, uint8_t kind, uint8_t type, uint8_t flags,
		     uint32_t stream, uint32_t flen, uint32_t foff, uint16_t len, uint8_t fill)
{
	assert_int_equal(e->cgroup_id, 4242);
	assert_int_equal(e->ts_ns, 123456789);
	assert_int_equal(e->sock, 0xc00c1e);
	assert_int_equal(e->egress, 1);
	assert_int_equal(e->mid, 1);
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
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 1, 5, 0, 5, 0x80, 1);
	assert_int_equal(b.len, 20 + 8);
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), 0);
	assert_int_equal(n, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0x4, 1, 5, 0, 5, 0x80);
}

static void test_empty(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
	assert_int_equal(unpack(&b, HDR, &s, &n), 0);
	assert_int_equal(n, 0);
}

/* frame + chunks of one header block, a DATA end of stream, RST, and a last entry whose padding
 * is left out (the kernel sends only the used part) */
static void test_several(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
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
	check_ev(&s.ev[0], L7_H2_K_OPEN, 0, 0, 0, 0, 0, 0, 0);
	check_ev(&s.ev[1], L7_H2_K_FRAME, L7_H2_HEADERS, 0x0, 3, 600, 0, L7_H2_CAP, 0x10);
	check_ev(&s.ev[2], L7_H2_K_CHUNK, L7_H2_HEADERS, 0x0, 3, 600, 256, L7_H2_CAP, 0x20);
	check_ev(&s.ev[3], L7_H2_K_CHUNK, L7_H2_HEADERS, 0x0, 3, 600, 512, 88, 0x30);
	check_ev(&s.ev[4], L7_H2_K_FRAME, L7_H2_CONTINUATION, 0x4, 3, 7, 0, 7, 0x40);
	check_ev(&s.ev[5], L7_H2_K_FRAME, L7_H2_DATA, 0x1, 3, 1000, 0, 0, 0);
	check_ev(&s.ev[6], L7_H2_K_FRAME, L7_H2_RST_STREAM, 0, 5, 4, 0, 0, 0);
	check_ev(&s.ev[7], L7_H2_K_FRAME, L7_H2_HEADERS, 0x5, 7, 3, 0, 3, 0x50);
}

/* a full buffer of entries: L7_H2_BBUF bytes delivered, one byte more refused whole */
static void test_count_past_max(void **state)
{
	size_t n, want = 0;

	(void)state;
	batch_init(&b);
	while (b.len + 20 + 48 <= sizeof(b.buf)) {
		put(&b, L7_H2_K_FRAME, L7_H2_DATA, 0, (uint32_t)want * 2 + 1, 0, 0, 0, 0, 1);
		want++;
	}
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 99, 0, 0, (uint16_t)(sizeof(b.buf) - b.len - 20), 1, 0);
	want++;
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
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 4, 0, 4, 0x60, 1);
	put(&b, L7_H2_K_CHUNK, L7_H2_HEADERS, 0, 1, 600, 0, L7_H2_CAP + 4, 0x70, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_DATA, 0x1, 1, 0, 0, 0, 0, 1);
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 4, 0, 4, 0x60);
}

/* lengths that run past the record or past the batch's own len */
static void test_length_past_record(void **state)
{
	struct l7_h2_ent x;
	size_t n;

	(void)state;
	batch_init(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 8, 0, 8, 0x11, 1);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 3, 8, 0, 8, 0x22, 1);
	/* the record is 1 byte shorter than len says: nothing delivered */
	assert_int_equal(unpack(&b, HDR + b.len - 1, &s, &n), -EINVAL);
	assert_int_equal(n, 0);

	/* the second entry's data claims more than is left of len */
	memcpy(&x, b.buf + 28, sizeof(x));
	x.len = 9;
	memcpy(b.buf + 28, &x, sizeof(x));
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 8, 0, 8, 0x11);

	/* the same with a record that goes on past len: len bounds the entries, not the record */
	assert_int_equal(unpack(&b, sizeof(b), &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
}

/* records cut short: inside the header, or inside an entry's own header */
static void test_truncated(void **state)
{
	size_t n;

	(void)state;
	batch_init(&b);
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 2, 0, 2, 0x33, 1);
	assert_int_equal(unpack(&b, 0, &s, &n), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(unpack(&b, HDR - 1, &s, &n), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(unpack(&b, HDR + 10, &s, &n), -EINVAL);
	assert_int_equal(n, 0);

	/* len ends 12 bytes into the second entry's header */
	put(&b, L7_H2_K_FRAME, L7_H2_HEADERS, 0, 3, 2, 0, 2, 0x44, 1);
	b.len -= 12;
	assert_int_equal(unpack(&b, HDR + b.len, &s, &n), -EBADMSG);
	assert_int_equal(n, 1);
	check_ev(&s.ev[0], L7_H2_K_FRAME, L7_H2_HEADERS, 0, 1, 2, 0, 2, 0x33);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_entry),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_several),
		cmocka_unit_test(test_count_past_max),
		cmocka_unit_test(test_length_past_record),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
