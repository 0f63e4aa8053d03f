/* agent/probes/dns_order.c: the probe's reordering of the kernel's per-CPU DNS batches
 * (bpf/l7_dns.bpf.h) before the DNS module, which matches a response only to a query it has
 * already seen. The records are built as the kernel fills them; the module is the real one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/dns.h"
#include "agent/l7/dns_module.h"
#include "agent/l7/l7.h"
#include "agent/l7/module.h"
#include "agent/probes/dns_order.h"
#include "l7_dns_rows.h"

#define CG 4242
#define US 1000ULL
#define MS 1000000ULL

/* a query (sent by the client, egress) or its response (received, ingress) for name */
static struct l7_dns_event ev(const char *name, unsigned id, int response, unsigned rcode, uint64_t ts_ns)
{
	struct l7_dns_event e = { 0 };
	size_t n = DNS_HDR_LEN;
	const char *p = name;

	e.cgroup_id = CG;
	e.ts_ns = ts_ns;
	e.lport = 40000;
	e.rport = 53;
	e.egress = !response;
	e.family = 4;
	e.proto = L7_PROTO_DNS;
	e.data[0] = id >> 8;
	e.data[1] = id & 0xff;
	e.data[2] = response ? 0x81 : 0x01;
	e.data[3] = response ? (0x80 | rcode) : 0;
	e.data[5] = 1;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		e.data[n++] = (uint8_t)l;
		memcpy(e.data + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	n += 5;                          /* root label, qtype A, class IN */
	e.data[n - 3] = 1;
	e.data[n - 1] = 1;
	e.cap = (uint8_t)n;
	e.len = (uint16_t)n;
	return e;
}

struct fix {
	struct l7_set *set;
	void *agg;
	uint64_t fed;
	uint64_t last_ts;
	int out_of_order;
};

static void feed(void *ctx, const struct l7_dns_event *e)
{
	struct fix *f = ctx;

	f->out_of_order |= e->ts_ns < f->last_ts;
	f->last_ts = e->ts_ns;
	f->fed++;
	assert_int_equal(l7_dns_module.consume(f->agg, e, sizeof(*e)), 0);
}

static void fix_init(struct fix *f, unsigned timeout_ms)
{
	const struct l7_module *mods[] = { &l7_dns_module, NULL };
	struct dns_config c = { .timeout_ms = timeout_ms };

	memset(f, 0, sizeof(*f));
	dns_module__configure(&c);
	f->set = l7_set__new(mods);
	assert_non_null(f->set);
	assert_ptr_equal(l7_set__module(f->set, L7_PROTO_DNS, &f->agg), &l7_dns_module);
}

static long long rows(json_t *j)
{
	return j ? (long long)json_array_size(json_object_get(j, "dns")) : 0;
}

/* The response's batch (CPU 1, full) reaches the ring before the query's (CPU 0, partial, read
 * at the harvest): fed in arrival order the module misses the match; through the hold it counts
 * the exchange with its latency. */
static void response_before_query__matched_at_harvest(void **state)
{
	struct l7_dns_event q = ev("a.example.com", 7, 0, 0, 1000 * US);
	struct l7_dns_event r = ev("a.example.com", 7, 1, 0, 1250 * US);
	struct dns_module_stats st;
	struct dns_order *o;
	struct fix f;
	json_t *j;

	(void)state;
	/* the control: in arrival order the answer finds no query */
	fix_init(&f, 1000);
	feed(&f, &r);
	feed(&f, &q);
	dns_module__stats(f.agg, &st);
	assert_int_equal(st.unmatched, 1);
	l7_set__free(f.set);

	fix_init(&f, 1000);
	o = dns_order__new(64, 2, feed, &f);
	assert_non_null(o);
	dns_order__add(o, &r, 1, 1);
	assert_int_equal(f.fed, 0);                        /* held: CPU 0 may hold older records */
	dns_order__add(o, &q, 1, -1);                      /* CPU 0's partial batch, at the harvest */
	dns_order__release(o, 2000 * US);
	assert_int_equal(f.fed, 2);
	assert_int_equal(dns_order__held(o), 0);
	dns_module__stats(f.agg, &st);
	assert_int_equal(st.unmatched, 0);
	j = l7_set__json(f.set, CG);
	assert_int_equal(num(row(j, "a.example.com", "NOERROR"), "count"), 1);
	assert_int_equal(num(row(j, "a.example.com", "NOERROR"), "sum_us"), 250);
	assert_int_equal(rows(j), 1);
	json_decref(j);
	dns_order__free(o);
	l7_set__free(f.set);
}

/* Fewer records than a batch, all read at the harvest: all fed at that release, and a record
 * stamped after the release point waits for the next one; timeouts stay exact (the expire runs at
 * the release point, after the records stamped before it). */
static void partial_batch__all_fed_at_release_timeouts_exact(void **state)
{
	struct l7_dns_event e[12];
	struct dns_module_stats st;
	struct dns_order *o;
	struct fix f;
	json_t *j;
	size_t n = 0;

	(void)state;
	fix_init(&f, 1000);
	o = dns_order__new(64, 2, feed, &f);
	assert_non_null(o);
	for (unsigned i = 0; i < 5; i++) {                 /* 5 exchanges: 10 records, < a batch */
		e[n++] = ev("b.example.com", 100 + i, 0, 0, (10 + i) * MS);
		e[n++] = ev("b.example.com", 100 + i, 1, DNS_RCODE_NXDOMAIN, (10 + i) * MS + 40 * US);
	}
	e[n++] = ev("never.example.com", 200, 0, 0, 20 * MS);
	/* stamped after the release point: its answer is late only by the delivery */
	e[n++] = ev("late.example.com", 300, 0, 0, 400 * MS);
	dns_order__add(o, e, n, -1);
	dns_order__release(o, 300 * MS);
	l7_set__expire(f.set, 300 * MS);
	assert_int_equal(f.fed, 11);
	assert_int_equal(dns_order__held(o), 1);
	j = l7_set__json(f.set, CG);
	assert_int_equal(num(row(j, "b.example.com", "NXDOMAIN"), "count"), 5);
	assert_int_equal(num(row(j, "b.example.com", "NXDOMAIN"), "sum_us"), 200);
	assert_int_equal(rows(j), 1);                      /* never.example.com: not yet a timeout */
	json_decref(j);
	e[0] = ev("late.example.com", 300, 1, 0, 900 * MS);  /* answered 500 ms later */
	dns_order__add(o, e, 1, -1);
	dns_order__release(o, 1100 * MS);
	l7_set__expire(f.set, 1100 * MS);
	j = l7_set__json(f.set, CG);
	assert_int_equal(num(row(j, "never.example.com", "TIMEOUT"), "timeouts"), 1);
	assert_int_equal(num(row(j, "late.example.com", "NOERROR"), "sum_us"), 500000);
	json_decref(j);
	dns_module__stats(f.agg, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.unmatched, 0);
	assert_false(f.out_of_order);
	dns_order__free(o);
	l7_set__free(f.set);
}

/* A burst many times the hold, queries on CPU 0 and answers on CPU 1, each answer's batch added
 * before the batch of its query: every exchange counted once, in order, nothing forced. */
static void burst_across_cpus__every_exchange_counted(void **state)
{
	enum { N = 4000, B = L7_DNS_BATCH };
	struct l7_dns_event q[B], r[B];
	struct dns_module_stats st;
	struct dns_order *o;
	struct fix f;
	json_t *j;

	(void)state;
	fix_init(&f, 5000);
	o = dns_order__new(1024, 2, feed, &f);
	assert_non_null(o);
	for (unsigned k = 0; k < N / B; k++) {
		for (unsigned i = 0; i < B; i++) {
			unsigned id = k * B + i;
			uint64_t t = MS + (uint64_t)id * 100 * US;

			q[i] = ev("c.example.com", id & 0xffff, 0, 0, t);
			r[i] = ev("c.example.com", id & 0xffff, 1, 0, t + 30 * US);
		}
		dns_order__add(o, r, B, 1);
		dns_order__add(o, q, B, 0);
		assert_true(dns_order__held(o) <= 1024);
	}
	assert_true(f.fed > 0);                            /* the hold was released while full */
	dns_order__release(o, UINT64_MAX);
	assert_int_equal(f.fed, 2 * N);
	assert_int_equal(dns_order__forced(o), 0);
	assert_false(f.out_of_order);
	dns_module__stats(f.agg, &st);
	assert_int_equal(st.queries, N);
	assert_int_equal(st.responses, N);
	assert_int_equal(st.unmatched, 0);
	j = l7_set__json(f.set, CG);
	assert_int_equal(num(row(j, "c.example.com", "NOERROR"), "count"), N);
	assert_int_equal(num(row(j, "c.example.com", "NOERROR"), "sum_us"), 30 * N);
	json_decref(j);
	dns_order__free(o);
	l7_set__free(f.set);
}

/* A CPU that sends no batch keeps the hold's mark: when it is full the oldest quarter goes
 * anyway, counted; the hold never exceeds its bound and nothing is lost. */
static void quiet_cpu__hold_bounded_forced_counted(void **state)
{
	struct l7_dns_event e[2];
	struct dns_order *o;
	struct fix f;

	(void)state;
	fix_init(&f, 5000);
	o = dns_order__new(64, 2, feed, &f);
	assert_non_null(o);
	assert_null(dns_order__new(8, 2, feed, &f));
	for (unsigned i = 0; i < 500; i++) {
		e[0] = ev("d.example.com", i, 0, 0, MS + i * 100 * US);
		e[1] = ev("d.example.com", i, 1, 0, MS + i * 100 * US + 10 * US);
		dns_order__add(o, e, 2, 1);                /* CPU 0: nothing */
		assert_true(dns_order__held(o) <= 64);
	}
	assert_true(dns_order__forced(o) > 0);
	assert_true(dns_order__stuck(o));                  /* asked for the partial batches */
	assert_int_equal(f.fed + dns_order__held(o), 1000);
	dns_order__release(o, UINT64_MAX);
	assert_int_equal(f.fed, 1000);
	assert_false(f.out_of_order);
	assert_false(dns_order__stuck(o));
	dns_order__free(o);
	l7_set__free(f.set);
}

/* The same quiet CPU, with the probe's answer to dns_order__stuck (agent/probes/l7.c dns_flush):
 * the partial batches read early, the quiet CPU's query among them, and a release at the flip.
 * The query on the quiet CPU 0 is answered on CPU 1 while CPU 1 floods: matched, nothing forced. */
static void quiet_cpu__early_read_when_stuck__nothing_forced(void **state)
{
	struct l7_dns_event e[2], quiet_q = ev("quiet.example.com", 9999, 0, 0, MS / 2);
	struct l7_dns_event quiet_r = ev("quiet.example.com", 9999, 1, 0, MS / 2 + 70 * US);
	struct dns_module_stats st;
	struct dns_order *o;
	unsigned flushes = 0;
	struct fix f;
	json_t *j;

	(void)state;
	fix_init(&f, 5000);
	o = dns_order__new(64, 2, feed, &f);
	assert_non_null(o);
	dns_order__add(o, &quiet_r, 1, 1);                 /* the answer first, in CPU 1's batch */
	for (unsigned i = 0; i < 500; i++) {
		e[0] = ev("d.example.com", i, 0, 0, MS + i * 100 * US);
		e[1] = ev("d.example.com", i, 1, 0, MS + i * 100 * US + 10 * US);
		dns_order__add(o, e, 2, 1);
		if (dns_order__stuck(o)) {
			/* the flip: CPU 0's partial batch holds the query until the first one */
			if (!flushes)
				dns_order__add(o, &quiet_q, 1, -1);
			dns_order__release(o, MS + i * 100 * US + 20 * US);
			flushes++;
		}
	}
	dns_order__release(o, UINT64_MAX);
	assert_true(flushes > 0);
	assert_int_equal(dns_order__forced(o), 0);
	assert_int_equal(f.fed, 1002);
	assert_false(f.out_of_order);
	dns_module__stats(f.agg, &st);
	assert_int_equal(st.unmatched, 0);
	j = l7_set__json(f.set, CG);
	assert_int_equal(num(row(j, "quiet.example.com", "NOERROR"), "sum_us"), 70);
	assert_int_equal(num(row(j, "d.example.com", "NOERROR"), "count"), 500);
	json_decref(j);
	dns_order__free(o);
	l7_set__free(f.set);
}

/* Records packed as bpf/l7_dns.bpf.h packs them: each L7_DNS_REC_SIZE(cap) bytes from b->bytes. */
static void pack(struct l7_dns_batch *b, const struct l7_dns_event *e)
{
	memcpy(b->buf + b->bytes, e, L7_DNS_HEAD + e->cap);
	b->bytes += L7_DNS_REC_SIZE(e->cap);
	b->n++;
}

/* A full batch of names of every length up to the capture: unpacked equal to the records packed,
 * data zeroed past cap; the ring record ends at the last record's bytes (its padding not sent). */
static void batch_unpack__roundtrip_every_length(void **state)
{
	static struct l7_dns_batch b;
	struct l7_dns_event in[L7_DNS_BATCH], out[L7_DNS_BATCH];
	char name[200];
	size_t n, bad, last;

	(void)state;
	memset(&b, 0, sizeof(b));
	b.proto = L7_PROTO_DNS_BATCH;
	for (int i = 0; i < L7_DNS_BATCH; i++) {
		/* labels of 9 characters: names from 8 to 129 characters, caps 26 to 147 (every
		 * padding of L7_DNS_REC_SIZE) */
		size_t l = 0;

		for (int k = 0; k <= i && l + 10 < 130; k++)
			l += (size_t)snprintf(name + l, sizeof(name) - l, "%s%08d", k ? "." : "", k);
		in[i] = ev(name, (unsigned)i, i & 1, 0, (uint64_t)(i + 1) * US);
		in[i].data[L7_DNS_CAP - 1] = 0;
		pack(&b, &in[i]);
	}
	last = L7_DNS_REC_SIZE(in[L7_DNS_BATCH - 1].cap) - (L7_DNS_HEAD + in[L7_DNS_BATCH - 1].cap);
	memset(out, 0xa5, sizeof(out));
	n = dns_batch__unpack(&b, offsetof(struct l7_dns_batch, buf) + b.bytes - last, out, &bad);
	assert_int_equal(n, L7_DNS_BATCH);
	assert_int_equal(bad, 0);
	for (int i = 0; i < L7_DNS_BATCH; i++)
		assert_memory_equal(&out[i], &in[i], sizeof(in[i]));
	/* a per-CPU value read at a harvest: the whole struct */
	n = dns_batch__unpack(&b, sizeof(b), out, &bad);
	assert_int_equal(n, L7_DNS_BATCH);
	assert_int_equal(bad, 0);
}

/* A batch cut short, a record claiming more than it holds, a count past L7_DNS_BATCH: the records
 * before the fault are unpacked, the others reported bad, nothing read past the bytes given. */
static void batch_unpack__bad_batches_counted(void **state)
{
	static struct l7_dns_batch b;
	struct l7_dns_event e = ev("a.example.com", 1, 0, 0, US), out[L7_DNS_BATCH];
	const size_t base = offsetof(struct l7_dns_batch, buf);
	size_t n, bad;
	uint8_t *copy;

	(void)state;
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 3; i++)
		pack(&b, &e);
	/* cut inside the third record: two unpacked, one bad (an exact-size heap copy for ASan) */
	copy = malloc(base + b.bytes - 8);
	assert_non_null(copy);
	memcpy(copy, &b, base + b.bytes - 8);
	n = dns_batch__unpack(copy, base + b.bytes - 8, out, &bad);
	assert_int_equal(n, 2);
	assert_int_equal(bad, 1);
	free(copy);
	/* the second record says cap 200 (> L7_DNS_CAP) */
	b.buf[L7_DNS_REC_SIZE(e.cap) + offsetof(struct l7_dns_event, cap)] = 200;
	n = dns_batch__unpack(&b, sizeof(b), out, &bad);
	assert_int_equal(n, 1);
	assert_int_equal(bad, 2);
	/* n past the batch, bytes past the buffer: bounded by both */
	b.buf[L7_DNS_REC_SIZE(e.cap) + offsetof(struct l7_dns_event, cap)] = e.cap;
	b.n = 1000;
	n = dns_batch__unpack(&b, sizeof(b), out, &bad);
	assert_int_equal(n, 3);
	assert_int_equal(bad, L7_DNS_BATCH - 3);
	b.n = 3;
	b.bytes = 0xffffffff;
	n = dns_batch__unpack(&b, sizeof(b), out, &bad);
	assert_int_equal(n, 3);
	assert_int_equal(bad, 0);
	assert_memory_equal(&out[2], &e, sizeof(e));
	/* shorter than the header */
	n = dns_batch__unpack(&b, base - 1, out, &bad);
	assert_int_equal(n, 0);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(response_before_query__matched_at_harvest),
		cmocka_unit_test(partial_batch__all_fed_at_release_timeouts_exact),
		cmocka_unit_test(burst_across_cpus__every_exchange_counted),
		cmocka_unit_test(quiet_cpu__hold_bounded_forced_counted),
		cmocka_unit_test(quiet_cpu__early_read_when_stuck__nothing_forced),
		cmocka_unit_test(batch_unpack__roundtrip_every_length),
		cmocka_unit_test(batch_unpack__bad_batches_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
