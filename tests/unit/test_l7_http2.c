/* agent/l7/http2.c (header blocks, HPACK, streams) and agent/l7/http2_module.c, on exchanges
 * captured on loopback (tests/unit/fixtures/h2/capture.py: python3-grpcio client and server, and
 * python3-h2 plain HTTP/2), turned into the kernel's records by a model of its frame walk
 * (test_l7_http2_walk.h), cut into packets of every size; connections joined midstream and with
 * records lost (never a wrong name); bad input: oversized blocks, HPACK bombs, garbage, the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http2.h"
#include "agent/l7/http2_module.h"
#include "agent/l7/l7.h"
#include "agent/l7/module.h"
#include "test_l7_http2_walk.h"

#define FIXTURES "tests/unit/fixtures/h2/"

struct chunk {
	int c2s;
	uint8_t *p;
	uint32_t n;
};

static struct chunk *load(const char *name, size_t *count)
{
	char path[256];
	uint8_t *buf;
	struct chunk *c = NULL;
	size_t n = 0, i = 0;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, f), (size_t)len);
	fclose(f);
	while (i + 5 <= (size_t)len) {
		uint32_t l = (uint32_t)buf[i + 1] << 24 | (uint32_t)buf[i + 2] << 16 | (uint32_t)buf[i + 3] << 8 | buf[i + 4];

		assert_true(i + 5 + l <= (size_t)len);
		c = realloc(c, (n + 1) * sizeof(*c));
		c[n].c2s = buf[i] == 0;
		c[n].p = malloc(l ? l : 1);
		memcpy(c[n].p, buf + i + 5, l);
		c[n].n = l;
		n++;
		i += 5 + l;
	}
	free(buf);
	*count = n;
	return c;
}

static void unload(struct chunk *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].p);
	free(c);
}

#define MAXR 256

struct results {
	struct h2_result r[MAXR];
	unsigned n;
	struct h2_tracker *t;
	long drop_at, seen;        /* records: drop the drop_at-th one (-1: none) */
};

static void on_done(void *ctx, const struct h2_result *r)
{
	struct results *rs = ctx;

	assert_true(rs->n < MAXR);
	rs->r[rs->n++] = *r;
}

static void to_tracker(void *ctx, const struct l7_h2_event *e)
{
	struct results *rs = ctx;

	if (rs->seen++ == rs->drop_at)
		return;
	assert_int_equal(h2_tracker__consume(rs->t, e, sizeof(*e)), 0);
}

/* Replay chunks [start, n) as one socket: server side (client-to-server bytes are ingress) or client
 * side; seg > 0 cuts every chunk but the first into packets of seg bytes. ts = 1 ms per chunk. */
static void replay(struct results *rs, const struct chunk *c, size_t n, size_t start, int server,
		   uint32_t seg, const struct h2_limits *lim)
{
	struct walk_sock s = { .cookie = 42, .cgroup_id = 7 };

	rs->t = h2_tracker__new(lim, on_done, rs);
	assert_non_null(rs->t);
	for (size_t i = start; i < n; i++) {
		int egress = c[i].c2s ? !server : server;
		/* the preface arrives whole (the kernel recognises it in one packet) */
		uint32_t step = seg && i > start ? seg : c[i].n;

		for (uint32_t off = 0; off < c[i].n; off += step) {
			uint32_t k = c[i].n - off < step ? c[i].n - off : step;

			walk_packet(&s, egress, c[i].p + off, k, (i + 1) * 1000000ULL, to_tracker, rs);
		}
	}
}

static unsigned count(const struct results *rs, const char *path, int status, int grpc)
{
	unsigned k = 0;

	for (unsigned i = 0; i < rs->n; i++)
		if (!strcmp(rs->r[i].path, path) && rs->r[i].status == status && rs->r[i].grpc == grpc)
			k++;
	return k;
}

#define ECHO "/podlens.test.Echo/"

static void check_grpc(const struct results *rs, int dir)
{
	assert_int_equal(rs->n, 13);
	assert_int_equal(count(rs, ECHO "Unary", 0, 1), 3);
	assert_int_equal(count(rs, ECHO "Unary", 5, 1), 2);
	assert_int_equal(count(rs, ECHO "Unary", 13, 1), 1);
	assert_int_equal(count(rs, ECHO "Slow", 0, 1), 6);
	assert_int_equal(count(rs, ECHO "Stream", 0, 1), 1);
	for (unsigned i = 0; i < rs->n; i++) {
		assert_int_equal(rs->r[i].dir, dir);
		assert_int_equal(rs->r[i].cgroup_id, 7);
		assert_true(rs->r[i].known);
		assert_string_equal(rs->r[i].method, "POST");
		assert_true(rs->r[i].total_ns >= rs->r[i].latency_ns);
	}
}

static void grpc_capture__both_sides_every_cut__exact_counts(void **state)
{
	static const uint32_t segs[] = { 0, 1, 2, 5, 8, 9, 10, 13, 100, 1448 };
	struct chunk *c;
	size_t n;

	(void)state;
	c = load("grpc.bin", &n);
	for (int server = 0; server <= 1; server++) {
		for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++) {
			struct results *rs = calloc(1, sizeof(*rs));
			struct h2_stats st;

			rs->drop_at = -1;
			replay(rs, c, n, 0, server, segs[k], NULL);
			check_grpc(rs, server ? L7_DIR_SERVER : L7_DIR_CLIENT);
			h2_tracker__stats(rs->t, &st);
			assert_int_equal(st.hpack_errors, 0);
			assert_int_equal(st.malformed, 0);
			assert_int_equal(st.unmatched, 0);
			assert_int_equal(st.conns, 1);
			h2_tracker__free(rs->t);
			free(rs);
		}
	}
	unload(c, n);
}

static void grpc_capture__slow_latency__from_request_to_first_response(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct chunk *c;
	size_t n;

	(void)state;
	c = load("grpc.bin", &n);
	rs->drop_at = -1;
	replay(rs, c, n, 0, 1, 0, NULL);
	/* 1 ms per chunk: every latency is a whole number of chunks, the concurrent Slow calls
	 * were all sent before the first answer */
	for (unsigned i = 0; i < rs->n; i++) {
		assert_true(rs->r[i].latency_ns >= 1000000ULL);
		assert_int_equal(rs->r[i].latency_ns % 1000000ULL, 0);
	}
	h2_tracker__free(rs->t);
	free(rs);
	unload(c, n);
}

/* The Stream call's 3 messages were sent 20 ms apart: each arrives in a chunk of its own, so its
 * END_STREAM comes at least 2 chunks after its first response HEADERS and is reported apart (on
 * both sides, at every cut); a stream ended by its first response HEADERS never is. */
static void grpc_capture__stream__end_reported_apart(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct chunk *c;
	size_t n;

	(void)state;
	c = load("grpc.bin", &n);
	for (int server = 0; server <= 1; server++) {
		for (uint32_t seg = 0; seg <= 5; seg += 5) {
			unsigned streamed = 0;

			memset(rs, 0, sizeof(*rs));
			rs->drop_at = -1;
			replay(rs, c, n, 0, server, seg, NULL);
			for (unsigned i = 0; i < rs->n; i++) {
				const struct h2_result *r = &rs->r[i];

				if (strcmp(r->path, ECHO "Stream"))
					continue;
				assert_true(r->streamed);
				assert_true(r->total_ns >= r->latency_ns + 2000000ULL);
				streamed++;
			}
			assert_int_equal(streamed, 1);
			for (unsigned i = 0; i < rs->n; i++)
				if (rs->r[i].streamed)
					assert_true(rs->r[i].total_ns > rs->r[i].latency_ns);
				else
					assert_int_equal(rs->r[i].total_ns, rs->r[i].latency_ns);
			h2_tracker__free(rs->t);
		}
	}
	free(rs);
	unload(c, n);
}

static void h2_capture__routes_statuses_and_reset(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct h2_stats st;
	struct chunk *c;
	size_t n;

	(void)state;
	c = load("h2.bin", &n);
	for (uint32_t seg = 0; seg <= 7; seg += 7) {
		memset(rs, 0, sizeof(*rs));
		rs->drop_at = -1;
		replay(rs, c, n, 0, 1, seg, NULL);
		assert_int_equal(rs->n, 3);
		assert_int_equal(count(rs, "/items/17?x=1", 200, 0), 1);
		assert_int_equal(count(rs, "/missing", 404, 0), 1);
		assert_int_equal(count(rs, "/upload", 201, 0), 1);
		h2_tracker__stats(rs->t, &st);
		assert_int_equal(st.resets, 1);        /* /slow: reset before any answer, not reported */
		assert_int_equal(st.hpack_errors, 0);
		h2_tracker__free(rs->t);
	}
	free(rs);
	unload(c, n);
}

/* nghttp2's own client and server (nghttp -m 2, nghttpd --no-tls pushing /style.css with
 * /index.html): 8 concurrent requests on one connection, exact per path and status on both sides at
 * every cut, and the 2 pushed streams counted as pushed, never reported as a request; their
 * PUSH_PROMISE blocks are decoded (they add to the server's HPACK table), so every later block
 * names its fields right. */
static void nghttp_capture__concurrent_and_pushed__exact_counts(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct h2_stats st;
	struct chunk *c;
	size_t n;

	(void)state;
	c = load("nghttp.bin", &n);
	for (int server = 0; server <= 1; server++) {
		for (uint32_t seg = 0; seg <= 13; seg += seg < 5 ? 1 : 4) {
			memset(rs, 0, sizeof(*rs));
			rs->drop_at = -1;
			replay(rs, c, n, 0, server, seg, NULL);
			assert_int_equal(rs->n, 8);
			assert_int_equal(count(rs, "/index.html", 200, 0), 2);
			assert_int_equal(count(rs, "/items/1", 200, 0), 2);
			assert_int_equal(count(rs, "/items/2", 200, 0), 2);
			assert_int_equal(count(rs, "/missing", 404, 0), 2);
			for (unsigned i = 0; i < rs->n; i++) {
				assert_int_equal(rs->r[i].dir, server ? L7_DIR_SERVER : L7_DIR_CLIENT);
				assert_string_equal(rs->r[i].method, "GET");
			}
			h2_tracker__stats(rs->t, &st);
			assert_int_equal(st.pushed, 2);
			assert_int_equal(st.hpack_errors, 0);
			assert_int_equal(st.malformed, 0);
			h2_tracker__free(rs->t);
		}
	}
	free(rs);
	unload(c, n);
}

/* The name of each stream id in the full replay: the ground truth for the midstream runs. */
static void never_wrong(const struct results *full, const struct results *part)
{
	for (unsigned i = 0; i < part->n; i++) {
		const struct h2_result *r = &part->r[i];

		if (!r->known) {
			assert_string_equal(r->path, "unknown");
			continue;
		}
		/* a known name is one of the capture's, with a status it had for that name */
		int found = 0;

		for (unsigned j = 0; j < full->n; j++)
			if (!strcmp(full->r[j].path, r->path) &&
			    (r->status == H2_STATUS_UNKNOWN || r->status == full->r[j].status))
				found = 1;
		assert_true(found);
	}
}

static void grpc_capture__joined_midstream__unknown_or_right(void **state)
{
	struct results *full = calloc(1, sizeof(*full)), *part = calloc(1, sizeof(*part));
	unsigned known = 0;
	struct chunk *c;
	size_t n;

	(void)state;
	c = load("grpc.bin", &n);
	full->drop_at = -1;
	replay(full, c, n, 0, 1, 0, NULL);
	for (size_t start = 1; start < n; start++) {
		memset(part, 0, sizeof(*part));
		part->drop_at = -1;
		replay(part, c, n, start, 1, 0, NULL);
		assert_true(part->n <= full->n);
		never_wrong(full, part);
		for (unsigned i = 0; i < part->n; i++)
			known += part->r[i].known;
		h2_tracker__free(part->t);
	}
	assert_true(known > 0);                /* some streams resynchronise */
	h2_tracker__free(full->t);
	free(full);
	free(part);
	unload(c, n);
}

static void grpc_capture__record_lost__unknown_or_right(void **state)
{
	struct results *full = calloc(1, sizeof(*full)), *part = calloc(1, sizeof(*part));
	struct chunk *c;
	size_t n;

	(void)state;
	c = load("grpc.bin", &n);
	full->drop_at = -1;
	replay(full, c, n, 0, 1, 7, NULL);
	for (long drop = 0; drop < full->seen; drop++) {
		memset(part, 0, sizeof(*part));
		part->drop_at = drop;
		replay(part, c, n, 0, 1, 7, NULL);
		never_wrong(full, part);
		h2_tracker__free(part->t);
	}
	h2_tracker__free(full->t);
	free(full);
	free(part);
	unload(c, n);
}

/* ---- bad input */

static void feed_frame(struct results *rs, struct walk_sock *s, int egress, const uint8_t *frame, size_t len)
{
	walk_packet(s, egress, frame, (uint32_t)len, 1, to_tracker, rs);
}

static size_t frame_hdr(uint8_t *b, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream)
{
	b[0] = len >> 16;
	b[1] = len >> 8;
	b[2] = len;
	b[3] = type;
	b[4] = flags;
	b[5] = stream >> 24;
	b[6] = stream >> 16;
	b[7] = stream >> 8;
	b[8] = stream;
	return 9;
}

static void open_conn(struct results *rs, struct walk_sock *s, const struct h2_limits *lim)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	rs->drop_at = -1;
	rs->t = h2_tracker__new(lim, on_done, rs);
	assert_non_null(rs->t);
	s->cookie = 9;
	s->cgroup_id = 7;
	feed_frame(rs, s, 1, (const uint8_t *)preface, 24);
}

static void bad__table_size_bomb__counted_no_result(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct walk_sock s = { 0 };
	struct h2_stats st;
	uint8_t b[64];
	size_t n;

	(void)state;
	open_conn(rs, &s, NULL);
	/* dynamic table size update to 2^28 (far above table_max), then :method GET */
	n = frame_hdr(b, 6, L7_H2_HEADERS, 0x05, 1);
	b[n++] = 0x3f; b[n++] = 0xe1; b[n++] = 0xff; b[n++] = 0xff; b[n++] = 0x7f; b[n++] = 0x82;
	feed_frame(rs, &s, 1, b, n);
	h2_tracker__stats(rs->t, &st);
	assert_int_equal(st.hpack_errors, 1);
	assert_int_equal(st.malformed, 1);
	assert_int_equal(rs->n, 0);
	h2_tracker__free(rs->t);
	free(rs);
}

static void bad__too_many_fields__counted(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct walk_sock s = { 0 };
	struct h2_stats st;
	uint8_t b[2048];
	size_t n;

	(void)state;
	open_conn(rs, &s, NULL);
	/* 1000 times :method GET (static index 2): far more fields than max_fields */
	n = frame_hdr(b, 1000, L7_H2_HEADERS, 0x05, 1);
	memset(b + n, 0x82, 1000);
	feed_frame(rs, &s, 1, b, n + 1000);
	h2_tracker__stats(rs->t, &st);
	assert_int_equal(st.hpack_errors, 1);
	assert_int_equal(st.malformed, 1);
	h2_tracker__free(rs->t);
	free(rs);
}

static void bad__oversized_block__counted_memory_bounded(void **state)
{
	struct h2_limits lim = { .max_block = 4096 };
	struct results *rs = calloc(1, sizeof(*rs));
	struct walk_sock s = { 0 };
	struct h2_stats st;
	uint8_t *b = calloc(1, 9 + 16384 * 2);
	size_t n;

	(void)state;
	open_conn(rs, &s, &lim);
	/* a HEADERS of 3000 bytes without END_HEADERS, then a CONTINUATION of 3000: the block exceeds
	 * 4096 */
	n = frame_hdr(b, 3000, L7_H2_HEADERS, 0x00, 1);
	feed_frame(rs, &s, 1, b, n + 3000);
	n = frame_hdr(b, 3000, L7_H2_CONTINUATION, 0x04, 1);
	feed_frame(rs, &s, 1, b, n + 3000);
	/* a single frame larger than the block bound */
	n = frame_hdr(b, 16384, L7_H2_HEADERS, 0x04, 3);
	feed_frame(rs, &s, 1, b, n + 16384);
	h2_tracker__stats(rs->t, &st);
	assert_int_equal(st.oversized, 2);
	assert_true(st.mem <= 4096 + 1024);
	h2_tracker__free(rs->t);
	free(rs);
	free(b);
}

static void bad__garbage__given_up_no_crash(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct walk_sock s = { 0 };
	struct h2_stats st;
	uint8_t b[64];
	size_t n;

	(void)state;
	open_conn(rs, &s, NULL);
	for (int i = 0; i < 40; i++) {
		/* HEADERS whose block is a reference to dynamic index 200 (unknown) */
		n = frame_hdr(b, 2, L7_H2_HEADERS, 0x05, 2 * i + 1);
		b[n++] = 0xff;
		b[n++] = 0x49;
		feed_frame(rs, &s, 1, b, n);
	}
	h2_tracker__stats(rs->t, &st);
	assert_int_equal(st.given_up, 1);
	assert_true(st.hpack_errors >= 9 && st.hpack_errors <= 10);
	assert_int_equal(st.mem, 0);
	h2_tracker__free(rs->t);
	free(rs);
}

static void bad__continuation_without_headers_and_bad_padding(void **state)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct walk_sock s = { 0 };
	struct h2_stats st;
	uint8_t b[64];
	size_t n;

	(void)state;
	open_conn(rs, &s, NULL);
	n = frame_hdr(b, 1, L7_H2_CONTINUATION, 0x04, 1);
	b[n++] = 0x82;
	feed_frame(rs, &s, 1, b, n);
	n = frame_hdr(b, 2, L7_H2_HEADERS, 0x0c, 3);     /* PADDED, pad length 200 > frame */
	b[n++] = 200;
	b[n++] = 0x82;
	feed_frame(rs, &s, 1, b, n);
	h2_tracker__stats(rs->t, &st);
	assert_int_equal(st.malformed, 2);
	assert_int_equal(rs->n, 0);
	h2_tracker__free(rs->t);
	free(rs);
}

static void bounds__connections_and_budget(void **state)
{
	struct h2_limits lim = { .max_conns = 8, .budget = 64 * 1024 };
	struct results *rs = calloc(1, sizeof(*rs));
	struct chunk *c;
	struct h2_stats st;
	size_t n;

	(void)state;
	c = load("grpc.bin", &n);
	rs->drop_at = -1;
	rs->t = h2_tracker__new(&lim, on_done, rs);
	/* 100 connections (cookies), each the capture's first 10 chunks as the client side */
	for (uint64_t k = 1; k <= 100; k++) {
		struct walk_sock s = { .cookie = k, .cgroup_id = 7 };

		for (size_t i = 0; i < 10 && i < n; i++)
			walk_packet(&s, c[i].c2s, c[i].p, c[i].n, k * 1000 + i, to_tracker, rs);
		h2_tracker__stats(rs->t, &st);
		assert_true(st.mem <= lim.budget);
	}
	h2_tracker__stats(rs->t, &st);
	assert_true(st.evicted >= 92);
	h2_tracker__expire(rs->t, 1000000ULL * 1000000000ULL);
	h2_tracker__stats(rs->t, &st);
	assert_int_equal(st.mem, 0);
	h2_tracker__free(rs->t);
	free(rs);
	unload(c, n);
}

/* ---- the module beside HTTP/1 */

static void *arena_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return calloc(1, size);   /* what the test keeps it frees itself */
}

static char *arena_str(void *ctx, const char *s)
{
	(void)ctx;
	return strdup(s ? s : "");
}

struct mod_ctx {
	void *agg;
	const struct l7_module *m;
};

static void to_module(void *x, const struct l7_h2_event *ev)
{
	struct mod_ctx *c = x;

	assert_int_equal(c->m->consume(c->agg, ev, sizeof(*ev)), 0);
}

static void module__json_and_batch(void **state)
{
	struct l7_set *set = l7_set__new(NULL);
	struct chunk *c;
	size_t n;
	void *agg;
	const struct l7_module *m;
	json_t *j, *e;
	size_t i;
	int found = 0, found_end = 0;

	(void)state;
	assert_non_null(set);
	m = l7_set__module(set, L7_PROTO_HTTP2, &agg);
	assert_non_null(m);
	assert_string_equal(m->json_field, "http2");
	c = load("grpc.bin", &n);
	{
		struct walk_sock s = { .cookie = 5, .cgroup_id = 77 };
		struct mod_ctx ctx = { agg, m };

		/* the server side */
		for (size_t k = 0; k < n; k++)
			walk_packet(&s, !c[k].c2s, c[k].p, c[k].n, (k + 1) * 1000000ULL, to_module, &ctx);
	}
	j = l7_set__json(set, 77);
	assert_non_null(j);
	assert_non_null(json_object_get(j, "http2"));
	json_array_foreach(json_object_get(j, "http2"), i, e) {
		assert_string_equal(json_string_value(json_object_get(e, "protocol")), "grpc");
		assert_string_equal(json_string_value(json_object_get(e, "direction")), "server");
		if (!strcmp(json_string_value(json_object_get(e, "method")), ECHO "Stream")) {
			/* END_STREAM at least 2 chunks (2 ms) after the first response */
			assert_int_equal(json_integer_value(json_object_get(e, "end_count")), 1);
			assert_true(json_integer_value(json_object_get(e, "end_p50_us")) >=
				    json_integer_value(json_object_get(e, "p50_us")) + 2000 * 7 / 8);
			found_end = 1;
		}
		if (!strcmp(json_string_value(json_object_get(e, "method")), ECHO "Unary") &&
		    !strcmp(json_string_value(json_object_get(e, "grpc_status")), "NOT_FOUND")) {
			assert_int_equal(json_integer_value(json_object_get(e, "count")), 2);
			assert_int_equal(json_integer_value(json_object_get(e, "status")), 5);
			found = 1;
		}
	}
	assert_true(found);
	assert_true(found_end);
	json_decref(j);

	Podlens__V1__WorkloadStats ws = PODLENS__V1__WORKLOAD_STATS__INIT;
	struct l7_arena a = { arena_alloc, arena_str, NULL };
	uint64_t total = 0, ends;

	assert_int_equal(l7_set__batch(set, 77, &ws, &a), 0);
	assert_int_equal(ws.n_requests, 5);
	for (size_t k = 0; k < ws.n_requests; k++) {
		assert_int_equal(ws.requests[k]->protocol, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC);
		assert_int_equal(ws.requests[k]->direction, PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER);
		assert_string_equal(ws.requests[k]->method, ws.requests[k]->route);
		total += ws.requests[k]->count;
		ends = 0;
		for (size_t b = 0; b < ws.requests[k]->n_end_stream_buckets; b++)
			ends += ws.requests[k]->end_stream_buckets[b]->count;
		if (!strcmp(ws.requests[k]->method, ECHO "Stream")) {
			assert_int_equal(ends, 1);
			assert_true(ws.requests[k]->end_stream_sum_us >= ws.requests[k]->sum_us + 2000);
		}
		assert_true(ends <= ws.requests[k]->count);
		assert_true(ends || ws.requests[k]->end_stream_sum_us == 0);
	}
	assert_int_equal(total, 13);
	for (size_t k = 0; k < ws.n_requests; k++) {
		for (size_t b = 0; b < ws.requests[k]->n_buckets; b++)
			free(ws.requests[k]->buckets[b]);
		free(ws.requests[k]->buckets);
		for (size_t b = 0; b < ws.requests[k]->n_end_stream_buckets; b++)
			free(ws.requests[k]->end_stream_buckets[b]);
		free(ws.requests[k]->end_stream_buckets);
		free(ws.requests[k]->method);
		free(ws.requests[k]->route);
		free(ws.requests[k]);
	}
	free(ws.requests);
	l7_set__free(set);
	unload(c, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grpc_capture__both_sides_every_cut__exact_counts),
		cmocka_unit_test(grpc_capture__slow_latency__from_request_to_first_response),
		cmocka_unit_test(grpc_capture__stream__end_reported_apart),
		cmocka_unit_test(h2_capture__routes_statuses_and_reset),
		cmocka_unit_test(nghttp_capture__concurrent_and_pushed__exact_counts),
		cmocka_unit_test(grpc_capture__joined_midstream__unknown_or_right),
		cmocka_unit_test(grpc_capture__record_lost__unknown_or_right),
		cmocka_unit_test(bad__table_size_bomb__counted_no_result),
		cmocka_unit_test(bad__too_many_fields__counted),
		cmocka_unit_test(bad__oversized_block__counted_memory_bounded),
		cmocka_unit_test(bad__garbage__given_up_no_crash),
		cmocka_unit_test(bad__continuation_without_headers_and_bad_padding),
		cmocka_unit_test(bounds__connections_and_budget),
		cmocka_unit_test(module__json_and_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
