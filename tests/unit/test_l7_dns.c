/* agent/l7/dns.c (parser) and agent/l7/dns_module.c (matching, timeouts, aggregation, outputs), on
 * exchanges captured from dnsmasq on loopback (tests/unit/fixtures/dns/capture.py: A, AAAA, SRV,
 * NXDOMAIN, SERVFAIL, a truncated TC answer, a mixed-case name), every cut of them, and bad input
 * (compression-pointer loops, forward pointers, oversized labels and names, non-DNS payload). */
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
#include "l7_dns_rows.h"

#define FIXTURES "tests/unit/fixtures/dns/"

static uint8_t *load(const char *name, size_t *len)
{
	char path[256];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= DNS_HDR_LEN);
	rewind(f);
	buf = malloc(n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static const struct {
	const char *file, *name;
	unsigned qtype, rcode, ancount, tc;
} cases[] = {
	{ "a", "both.podlens.test", 1, 0, 1, 0 },
	{ "aaaa", "both.podlens.test", 28, 0, 1, 0 },
	{ "srv", "_http._tcp.podlens.test", 33, 0, 1, 0 },
	{ "nxdomain", "missing.podlens.test", 1, 3, 0, 0 },
	{ "servfail", "x.broken.test", 1, 2, 0, 0 },
	{ "truncated", "big.podlens.test", 16, 0, 0, 1 },
	{ "upper", "both.podlens.test", 1, 0, 1, 0 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void parse__captured_exchanges__header_and_question(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		char fq[64], fr[64];
		size_t ql, rl;
		uint8_t *q, *r;
		struct dns_msg mq, mr;

		snprintf(fq, sizeof(fq), "%s.query.bin", cases[i].file);
		snprintf(fr, sizeof(fr), "%s.response.bin", cases[i].file);
		q = load(fq, &ql);
		r = load(fr, &rl);
		assert_int_equal(dns__parse(q, ql, &mq), 0);
		assert_int_equal(dns__parse(r, rl, &mr), 0);
		assert_int_equal(mq.qr, 0);
		assert_int_equal(mr.qr, 1);
		assert_int_equal(mq.id, mr.id);
		assert_string_equal(mq.name, cases[i].name);
		assert_string_equal(mr.name, cases[i].name);
		assert_int_equal(mq.qtype, cases[i].qtype);
		assert_int_equal(mr.qtype, cases[i].qtype);
		assert_int_equal(mq.qclass, 1);
		assert_int_equal(mr.rcode, cases[i].rcode);
		assert_int_equal(mr.ancount, cases[i].ancount);
		assert_int_equal(mr.tc, cases[i].tc);
		assert_int_equal(mq.name_cut, 0);
		free(q);
		free(r);
	}
}

/* Every prefix of every captured message: header only -> EINVAL below 12 bytes; inside the name ->
 * a prefix of the name, flagged cut; inside type/class -> EINVAL; complete -> the full question. */
static void parse__every_cut__prefix_or_einval(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		for (int resp = 0; resp < 2; resp++) {
			char f[64];
			size_t len, qend;
			uint8_t *b, *cut;
			struct dns_msg m;

			snprintf(f, sizeof(f), "%s.%s.bin", cases[i].file, resp ? "response" : "query");
			b = load(f, &len);
			qend = DNS_HDR_LEN + strlen(cases[i].name) + 2 + 4;
			for (size_t n = 0; n <= len; n++) {
				int rc;

				/* a heap copy of exactly n bytes: ASan catches any read past it */
				cut = malloc(n ? n : 1);
				assert_non_null(cut);
				memcpy(cut, b, n);
				rc = dns__parse(cut, n, &m);
				if (n < DNS_HDR_LEN) {
					assert_int_equal(rc, -EINVAL);
				} else if (n < qend - 4) {
					assert_int_equal(rc, 0);
					assert_int_equal(m.name_cut, 1);
					assert_int_equal(strncmp(m.name, cases[i].name, strlen(m.name)), 0);
				} else if (n < qend) {
					assert_int_equal(rc, -EINVAL);
				} else {
					assert_int_equal(rc, 0);
					assert_int_equal(m.name_cut, 0);
					assert_string_equal(m.name, cases[i].name);
				}
				free(cut);
			}
			free(b);
		}
	}
}

static size_t hdr(uint8_t *b, unsigned flags, unsigned qd)
{
	memset(b, 0, DNS_HDR_LEN);
	b[0] = 0x12;
	b[1] = 0x34;
	b[2] = flags >> 8;
	b[3] = flags & 0xff;
	b[5] = qd;
	return DNS_HDR_LEN;
}

static void parse__bad_input__einval_never_out_of_bounds(void **state)
{
	uint8_t b[600];
	struct dns_msg m;
	size_t n;

	(void)state;
	/* a pointer to itself */
	n = hdr(b, 0x0100, 1);
	b[n++] = 0xc0;
	b[n++] = 12;
	memset(b + n, 0, 4);
	assert_int_equal(dns__parse(b, n + 4, &m), -EINVAL);
	/* a forward pointer (a loop needs one) */
	n = hdr(b, 0x0100, 1);
	b[n++] = 1;
	b[n++] = 'a';
	b[n++] = 0xc0;
	b[n++] = 20;
	b[n++] = 1;
	b[n++] = 'b';
	b[n++] = 0xc0;
	b[n++] = 12;
	assert_int_equal(dns__parse(b, n, &m), -EINVAL);
	/* a pointer into the header */
	n = hdr(b, 0x0100, 1);
	b[n++] = 0xc0;
	b[n++] = 2;
	assert_int_equal(dns__parse(b, n + 4, &m), -EINVAL);
	/* label type 01 / 10 (a length of 64 or more) */
	n = hdr(b, 0x0100, 1);
	b[n++] = 64;
	memset(b + n, 'a', 64);
	assert_int_equal(dns__parse(b, n + 64 + 5, &m), -EINVAL);
	n = hdr(b, 0x0100, 1);
	b[n++] = 0x80;
	assert_int_equal(dns__parse(b, n + 8, &m), -EINVAL);
	/* 63 is the longest label */
	n = hdr(b, 0x0100, 1);
	b[n++] = 63;
	memset(b + n, 'a', 63);
	n += 63;
	b[n++] = 0;
	memset(b + n, 0, 4);
	b[n + 1] = 1;
	assert_int_equal(dns__parse(b, n + 4, &m), 0);
	assert_int_equal(strlen(m.name), 63);
	/* a name of 5 x 63-byte labels: 320 > 255 */
	n = hdr(b, 0x0100, 1);
	for (int i = 0; i < 5; i++) {
		b[n++] = 63;
		memset(b + n, 'a', 63);
		n += 63;
	}
	b[n++] = 0;
	memset(b + n, 0, 4);
	assert_int_equal(dns__parse(b, n + 4, &m), -EINVAL);
	/* the longest name: 253 characters (wire 255) */
	n = hdr(b, 0x0100, 1);
	for (int i = 0; i < 4; i++) {
		int l = i < 3 ? 63 : 61;

		b[n++] = (uint8_t)l;
		memset(b + n, 'a', l);
		n += l;
	}
	b[n++] = 0;
	memset(b + n, 0, 4);
	assert_int_equal(dns__parse(b, n + 4, &m), 0);
	assert_int_equal(strlen(m.name), 253);
	/* non-DNS payload on port 53 */
	assert_int_equal(dns__parse((const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, &m), -EINVAL);
	assert_int_equal(dns__parse((const uint8_t *)"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03xxxxxx", 20, &m),
			 -EINVAL);
	/* a query with two questions, or none; an UPDATE */
	n = hdr(b, 0x0100, 2);
	assert_int_equal(dns__parse(b, n + 6, &m), -EINVAL);
	n = hdr(b, 0x0100, 0);
	assert_int_equal(dns__parse(b, n, &m), -EINVAL);
	n = hdr(b, 0x2800, 1);
	assert_int_equal(dns__parse(b, n + 6, &m), -EINVAL);
	/* a response without its question (FORMERR): header only, matched by id */
	n = hdr(b, 0x8181, 0);
	assert_int_equal(dns__parse(b, n, &m), 0);
	assert_int_equal(m.rcode, 1);
	assert_int_equal(m.id, 0x1234);
	/* control characters and dots inside a label are not passed on */
	n = hdr(b, 0x0100, 1);
	b[n++] = 3;
	b[n++] = 'a';
	b[n++] = '.';
	b[n++] = '\n';
	b[n++] = 0;
	memset(b + n, 0, 4);
	assert_int_equal(dns__parse(b, n + 4, &m), 0);
	assert_string_equal(m.name, "a??");
	/* the root */
	n = hdr(b, 0x0100, 1);
	b[n++] = 0;
	memset(b + n, 0, 4);
	assert_int_equal(dns__parse(b, n + 4, &m), 0);
	assert_string_equal(m.name, ".");
	assert_int_equal(dns__parse(NULL, 0, &m), -EINVAL);
}

static void names__qtype_rcode_registered_domain(void **state)
{
	char buf[16];

	(void)state;
	assert_string_equal(dns__qtype_name(1, buf, sizeof(buf)), "A");
	assert_string_equal(dns__qtype_name(28, buf, sizeof(buf)), "AAAA");
	assert_string_equal(dns__qtype_name(33, buf, sizeof(buf)), "SRV");
	assert_string_equal(dns__qtype_name(65, buf, sizeof(buf)), "HTTPS");
	assert_string_equal(dns__qtype_name(999, buf, sizeof(buf)), "TYPE999");
	assert_string_equal(dns__rcode_name(0, buf, sizeof(buf)), "NOERROR");
	assert_string_equal(dns__rcode_name(2, buf, sizeof(buf)), "SERVFAIL");
	assert_string_equal(dns__rcode_name(3, buf, sizeof(buf)), "NXDOMAIN");
	assert_string_equal(dns__rcode_name(5, buf, sizeof(buf)), "REFUSED");
	assert_string_equal(dns__rcode_name(15, buf, sizeof(buf)), "RCODE15");
	assert_string_equal(dns__registered_domain("www.example.com"), "example.com");
	assert_string_equal(dns__registered_domain("a.b.example.com"), "example.com");
	assert_string_equal(dns__registered_domain("example.com"), "example.com");
	assert_string_equal(dns__registered_domain("com"), "com");
	assert_string_equal(dns__registered_domain("www.bbc.co.uk"), "bbc.co.uk");
	assert_string_equal(dns__registered_domain("bbc.co.uk"), "bbc.co.uk");
	assert_string_equal(dns__registered_domain("api.default.svc.cluster.local"), "cluster.local");
	assert_string_equal(dns__registered_domain("."), ".");
}

/* ------------------------------------------------------------------ the module */

#define CG 4242
#define MS 1000000ULL

static struct l7_dns_event ev(const char *file, int egress, uint64_t ts_ns, uint16_t lport)
{
	struct l7_dns_event e = { 0 };
	size_t len;
	uint8_t *b = load(file, &len);

	e.cgroup_id = CG;
	e.ts_ns = ts_ns;
	e.lport = lport;
	e.rport = 53;
	e.len = (uint16_t)len;
	e.cap = (uint8_t)(len < L7_DNS_CAP ? len : L7_DNS_CAP);
	e.egress = (uint8_t)egress;
	e.family = 4;
	e.proto = L7_PROTO_DNS;
	e.raddr[0] = 127;
	e.raddr[3] = 1;
	memcpy(e.data, b, e.cap);
	free(b);
	return e;
}

/* a query for name with id, as a client sends it */
static struct l7_dns_event ev_name(const char *name, unsigned id, int response, unsigned rcode, uint64_t ts_ns)
{
	struct l7_dns_event e = { 0 };
	size_t n = DNS_HDR_LEN;
	const char *p = name;

	e.cgroup_id = CG;
	e.ts_ns = ts_ns;
	e.lport = 40000;
	e.rport = 53;
	e.egress = !response;
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
	e.data[n++] = 0;
	e.data[n++] = 0;
	e.data[n++] = 1;
	e.data[n++] = 0;
	e.data[n++] = 1;
	e.cap = (uint8_t)n;
	e.len = (uint16_t)n;
	return e;
}

static struct l7_set *set_with(const struct dns_config *c, void **agg)
{
	const struct l7_module *mods[] = { &l7_dns_module, NULL };
	struct l7_set *s;

	dns_module__configure(c);
	s = l7_set__new(mods);
	assert_non_null(s);
	assert_ptr_equal(l7_set__module(s, L7_PROTO_DNS, agg), &l7_dns_module);
	return s;
}

static void module__captured_exchanges__counted_per_rcode_with_latency(void **state)
{
	struct dns_config c = { 0 };
	struct dns_module_stats st;
	void *agg;
	struct l7_set *s = set_with(&c, &agg);
	uint64_t t = 1000 * MS;
	json_t *f, *r;

	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		char fq[64], fr[64];
		struct l7_dns_event q, a;

		snprintf(fq, sizeof(fq), "%s.query.bin", cases[i].file);
		snprintf(fr, sizeof(fr), "%s.response.bin", cases[i].file);
		q = ev(fq, 1, t, (uint16_t)(30000 + i));
		a = ev(fr, 0, t + (i + 1) * MS, (uint16_t)(30000 + i));
		assert_int_equal(l7_dns_module.consume(agg, &q, sizeof(q)), 0);
		assert_int_equal(l7_dns_module.consume(agg, &a, sizeof(a)), 0);
	}
	f = l7_set__json(s, CG);
	assert_non_null(f);
	r = row(f, "both.podlens.test", "NOERROR");
	assert_non_null(r);
	assert_int_equal(num(r, "count"), 2);           /* A and upper-case A; AAAA is its own row */
	assert_string_equal(json_string_value(json_object_get(r, "direction")), "client");
	assert_string_equal(json_string_value(json_object_get(r, "qtype")), "A");
	assert_int_equal(num(row(f, "missing.podlens.test", "NXDOMAIN"), "count"), 1);
	assert_int_equal(num(row(f, "x.broken.test", "SERVFAIL"), "count"), 1);
	r = row(f, "x.broken.test", "SERVFAIL");
	assert_int_equal(num(r, "sum_us"), 5000);      /* the 5th exchange: 5 ms */
	assert_int_equal(num(r, "timeouts"), 0);
	r = row(f, "_http._tcp.podlens.test", "NOERROR");
	assert_string_equal(json_string_value(json_object_get(r, "qtype")), "SRV");
	assert_int_equal(num(r, "p50_us") > 2500 && num(r, "p50_us") < 3500, 1);
	assert_int_equal(json_array_size(json_object_get(f, "dns")), NCASES - 1);
	json_decref(f);
	dns_module__stats(agg, &st);
	assert_int_equal(st.queries, NCASES);
	assert_int_equal(st.responses, NCASES);
	assert_int_equal(st.malformed + st.unmatched + st.timeouts + st.evicted, 0);
	l7_set__free(s);
}

static void module__unanswered__timeout_at_expire_and_late_answer(void **state)
{
	struct dns_config c = { .timeout_ms = 1000 };
	struct dns_module_stats st;
	void *agg;
	struct l7_set *s = set_with(&c, &agg);
	struct l7_dns_event e;
	json_t *f, *r;

	(void)state;
	e = ev_name("never.example.com", 7, 0, 0, 10 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("late.example.com", 8, 0, 0, 10 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("fine.example.com", 9, 0, 0, 10 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	l7_set__expire(s, 500 * MS);                   /* not yet */
	assert_null(l7_set__json(s, CG));
	e = ev_name("fine.example.com", 9, 1, 0, 600 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("late.example.com", 8, 1, 0, 1100 * MS);   /* after the bound: a timeout */
	l7_dns_module.consume(agg, &e, sizeof(e));
	l7_set__expire(s, 1011 * MS);
	f = l7_set__json(s, CG);
	r = row(f, "never.example.com", "TIMEOUT");
	assert_int_equal(num(r, "count"), 1);
	assert_int_equal(num(r, "timeouts"), 1);
	assert_int_equal(num(r, "p99_us"), 0);
	assert_int_equal(num(row(f, "late.example.com", "TIMEOUT"), "timeouts"), 1);
	assert_int_equal(num(row(f, "fine.example.com", "NOERROR"), "count"), 1);
	json_decref(f);
	/* the pending table survives the interval's reset; nothing is counted twice */
	l7_set__reset(s);
	l7_set__expire(s, 5000 * MS);
	assert_null(l7_set__json(s, CG));
	dns_module__stats(agg, &st);
	assert_int_equal(st.timeouts, 2);
	/* an answer nobody asked for */
	e = ev_name("stray.example.com", 99, 1, 0, 6000 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	dns_module__stats(agg, &st);
	assert_int_equal(st.unmatched, 1);
	assert_null(l7_set__json(s, CG));
	l7_set__free(s);
}

static void module__bounds__domains_capped_pending_bounded(void **state)
{
	struct dns_config c = { .max_domains = 4, .pending_slots = 64 };
	struct dns_module_stats st;
	void *agg;
	struct l7_set *s = set_with(&c, &agg);
	struct l7_dns_event e;
	char name[64];
	json_t *f;

	(void)state;
	for (unsigned i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "d%u.example.com", i);
		e = ev_name(name, 100 + i, 0, 0, MS);
		l7_dns_module.consume(agg, &e, sizeof(e));
		e = ev_name(name, 100 + i, 1, 3, 2 * MS);
		l7_dns_module.consume(agg, &e, sizeof(e));
	}
	f = l7_set__json(s, CG);
	assert_int_equal(num(row(f, "other", "NXDOMAIN"), "count"), 6);
	assert_int_equal(json_array_size(json_object_get(f, "dns")), 5);
	json_decref(f);
	/* 10000 queries never answered: the table holds at most 64, the rest are evicted (counted) */
	for (unsigned i = 0; i < 10000; i++) {
		e = ev_name("flood.example.com", i, 0, 0, 3 * MS + i);
		e.lport = (uint16_t)(1024 + i);
		l7_dns_module.consume(agg, &e, sizeof(e));
	}
	dns_module__stats(agg, &st);
	assert_int_equal(st.queries, 10010);
	assert_true(st.evicted >= 10000 - 64);
	l7_set__expire(s, 60000 * MS);
	dns_module__stats(agg, &st);
	assert_int_equal(st.evicted + st.timeouts, 10000);
	l7_set__free(s);
}

static void module__search_storm_and_domain_modes(void **state)
{
	const char *names[] = { "api.default.svc.cluster.local", "api.svc.cluster.local", "api.cluster.local",
				"api.example.com" };
	struct dns_config c = { 0 };
	void *agg;
	struct l7_set *s = set_with(&c, &agg);
	struct l7_dns_event e;
	json_t *f, *sr;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		e = ev_name(names[i], 10 + i, 0, 0, MS);
		l7_dns_module.consume(agg, &e, sizeof(e));
		e = ev_name(names[i], 10 + i, 1, i < 3 ? 3 : 0, 2 * MS);
		l7_dns_module.consume(agg, &e, sizeof(e));
	}
	f = l7_set__json(s, CG);
	sr = json_object_get(f, "dns_search");
	assert_non_null(sr);
	assert_int_equal(num(sr, "queries"), 3);
	assert_int_equal(num(sr, "nxdomain"), 3);
	json_decref(f);
	l7_set__free(s);

	/* registered-domain: the last two labels only; none: no name at all */
	c.domains = DNS_DOMAINS_REGISTERED;
	s = set_with(&c, &agg);
	e = ev_name("a.b.example.com", 1, 0, 0, MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("a.b.example.com", 1, 1, 0, 2 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	f = l7_set__json(s, CG);
	assert_int_equal(num(row(f, "example.com", "NOERROR"), "count"), 1);
	json_decref(f);
	l7_set__free(s);
	c.domains = DNS_DOMAINS_NONE;
	s = set_with(&c, &agg);
	l7_dns_module.consume(agg, &(struct l7_dns_event){ 0 }, sizeof(struct l7_dns_event));
	e = ev_name("secret.example.com", 1, 0, 0, MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("secret.example.com", 1, 1, 0, 2 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	f = l7_set__json(s, CG);
	assert_int_equal(num(row(f, "", "NOERROR"), "count"), 1);
	{
		char *txt = json_dumps(f, 0);

		assert_null(strstr(txt, "secret"));
		free(txt);
	}
	json_decref(f);
	l7_set__free(s);
}

struct arena_ctx {
	void *p[4096];
	size_t n;
};

static void *a_alloc(void *ctx, size_t size)
{
	struct arena_ctx *a = ctx;

	assert_true(a->n < 4096);
	return a->p[a->n++] = calloc(1, size);
}

static char *a_str(void *ctx, const char *s)
{
	char *d = a_alloc(ctx, strlen(s ? s : "") + 1);

	strcpy(d, s ? s : "");
	return d;
}

static void module__batch_and_table__dnsstats_and_columns(void **state)
{
	struct dns_config c = { .timeout_ms = 100 };
	struct arena_ctx ac = { 0 };
	struct l7_arena a = { a_alloc, a_str, &ac };
	Podlens__V1__WorkloadStats ws = PODLENS__V1__WORKLOAD_STATS__INIT;
	struct http_summary hs = { 0 };
	uint64_t total = 0;
	void *agg;
	struct l7_set *s = set_with(&c, &agg);
	struct l7_dns_event e;

	(void)state;
	for (unsigned i = 0; i < 8; i++) {
		e = ev_name("ok.example.com", i, 0, 0, MS);
		l7_dns_module.consume(agg, &e, sizeof(e));
		e = ev_name("ok.example.com", i, 1, 0, 11 * MS);
		l7_dns_module.consume(agg, &e, sizeof(e));
	}
	e = ev_name("bad.example.com", 50, 0, 0, MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("bad.example.com", 50, 1, 2, 2 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("gone.example.com", 51, 0, 0, MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	l7_set__expire(s, 200 * MS);
	assert_int_equal(l7_set__batch(s, CG, &ws, &a), 0);
	assert_int_equal(ws.n_dns, 3);
	for (size_t i = 0; i < ws.n_dns; i++) {
		const Podlens__V1__DnsStats *d = ws.dns[i];
		uint64_t nb = 0;

		total += d->count;
		assert_int_equal(d->direction, PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT);
		assert_string_equal(d->qtype, "A");
		for (size_t b = 0; b < d->n_buckets; b++)
			nb += d->buckets[b]->count;
		if (!strcmp(d->rcode, "TIMEOUT")) {
			assert_string_equal(d->domain, "gone.example.com");
			assert_int_equal(d->timeouts, 1);
			assert_int_equal(nb, 0);
		} else {
			assert_int_equal(nb, d->count);
		}
		if (!strcmp(d->rcode, "NOERROR"))
			assert_int_equal(d->sum_us, 8 * 10000);
	}
	assert_int_equal(total, 10);
	assert_null(ws.dns_search);
	l7_set__summary(s, CG, &hs);
	assert_int_equal(hs.dns_queries, 10);
	assert_int_equal(hs.dns_errors, 2);             /* SERVFAIL + the timeout */
	assert_true(hs.dns_p99_us >= 9000 && hs.dns_p99_us <= 11000);
	assert_int_equal(hs.requests, 0);               /* DNS is not in the HTTP columns */
	for (size_t i = 0; i < ac.n; i++)
		free(ac.p[i]);
	l7_set__free(s);
}

/* the default registry: HTTP/1 first, DNS second; a DNS record beside nothing of HTTP gives the dns
 * field alone, and the HTTP module never sees it */
static void registry__dns_beside_http1(void **state)
{
	struct dns_config c = { 0 };
	struct l7_set *s;
	struct l7_dns_event e;
	void *agg;
	json_t *f;

	(void)state;
	assert_ptr_equal(l7_modules[0], &l7_http1_module);
	assert_ptr_equal(l7_modules[1], &l7_dns_module);
	dns_module__configure(&c);
	s = l7_set__new(NULL);
	assert_non_null(s);
	assert_ptr_equal(l7_set__module(s, L7_PROTO_DNS, &agg), &l7_dns_module);
	e = ev_name("x.example.com", 1, 0, 0, MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	e = ev_name("x.example.com", 1, 1, 0, 2 * MS);
	l7_dns_module.consume(agg, &e, sizeof(e));
	f = l7_set__json(s, CG);
	assert_non_null(json_object_get(f, "dns"));
	assert_null(json_object_get(f, "http"));
	json_decref(f);
	assert_null(l7_set__json(s, CG + 1));
	l7_set__free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse__captured_exchanges__header_and_question),
		cmocka_unit_test(parse__every_cut__prefix_or_einval),
		cmocka_unit_test(parse__bad_input__einval_never_out_of_bounds),
		cmocka_unit_test(names__qtype_rcode_registered_domain),
		cmocka_unit_test(module__captured_exchanges__counted_per_rcode_with_latency),
		cmocka_unit_test(module__unanswered__timeout_at_expire_and_late_answer),
		cmocka_unit_test(module__bounds__domains_capped_pending_bounded),
		cmocka_unit_test(module__search_storm_and_domain_modes),
		cmocka_unit_test(module__batch_and_table__dnsstats_and_columns),
		cmocka_unit_test(registry__dns_beside_http1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
