/* agent/export/endpoints.c: the collector endpoint list (parsing, bad input named) and the
 * failover policy between endpoints. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent/export/endpoints.h"

static void parse__list__scheme_inherited_port_defaulted(void **state)
{
	struct endpoint_list l;
	char err[256] = "";

	(void)state;
	assert_int_equal(endpoints__parse("https://c1.obs.svc:4317,c2.obs.svc:4318,[fd00::2]:4319,10.0.0.7,"
					  "https://proxy:443/podlens", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.v[0].url, "https://c1.obs.svc:4317");
	assert_string_equal(l.v[0].host, "c1.obs.svc");
	assert_int_equal(l.v[0].port, 4317);
	assert_int_equal(l.v[0].tls, 1);
	assert_int_equal(l.v[0].literal, 0);
	assert_string_equal(l.v[1].url, "https://c2.obs.svc:4318");
	assert_string_equal(l.v[2].url, "https://[fd00::2]:4319");
	assert_string_equal(l.v[2].host, "fd00::2");
	assert_int_equal(l.v[2].literal, 1);
	assert_string_equal(l.v[3].url, "https://10.0.0.7:443");
	assert_int_equal(l.v[3].literal, 1);
	assert_string_equal(l.v[4].url, "https://proxy:443/podlens");

	assert_int_equal(endpoints__parse("http://127.0.0.1:9", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].url, "http://127.0.0.1:9");
	assert_int_equal(l.v[0].tls, 0);
}

static void parse__bad_input__names_item_and_reason(void **state)
{
	static const struct {
		const char *spec, *want;
	} bad[] = {
		{ "", "no collector endpoint" },
		{ "a:1", "endpoint 1 'a:1': the first endpoint needs http:// or https://" },
		{ "ftp://a:1", "endpoint 1 'ftp://a:1': scheme must be http:// or https://" },
		{ "http://a:1,https://b:1", "endpoint 2 'https://b:1': every endpoint must use the same scheme" },
		{ "https://a:1,http://b:1", "endpoint 2 'http://b:1': every endpoint must use the same scheme" },
		{ "http://a:1,,b:2", "endpoint 2 of 'http://a:1,,b:2' is empty" },
		{ "http://a:1,", "endpoint 2 of 'http://a:1,' is empty" },
		{ "http://a:1, b:2", "white space" },
		{ "http://a:0", "endpoint 1 'http://a:0': port must be 1..65535" },
		{ "http://a:65536", "endpoint 1 'http://a:65536': port must be 1..65535" },
		{ "http://a:123456", "endpoint 1 'http://a:123456': bad port" },
		{ "http://a:8x", "endpoint 1 'http://a:8x': bad port" },
		{ "http://a:", "endpoint 1 'http://a:': bad port" },
		{ "http://:80", "endpoint 1 'http://:80': empty host" },
		{ "http://[]:80", "bad [IPv6] address" },
		{ "http://[zz::1]:80", "bad character in host" },
		{ "http://[1.2.3.4]:80", "bad [IPv6] address" },
		{ "http://a%b:80", "bad character in host" },
		{ "http://u@a:80", "no query or user" },
		{ "http://a:80?x=1", "no query or user" },
		{ "http://a:1,b:1,http://a:1", "endpoint 3 'http://a:1' is listed twice" },
		{ "http://a:1,a:1", "endpoint 2 'http://a:1' is listed twice" },
	};
	struct endpoint_list l;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(endpoints__parse(bad[i].spec, &l, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].want))
			fail_msg("'%s': error '%s' does not say '%s'", bad[i].spec, err, bad[i].want);
	}
}

static void parse__too_many__refused(void **state)
{
	char spec[1024], err[256];
	struct endpoint_list l;
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(spec, sizeof(spec), "http://h0:1");
	for (int i = 1; i < ENDPOINTS_MAX; i++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, ",h%d:1", i);
	assert_int_equal(endpoints__parse(spec, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, ENDPOINTS_MAX);
	snprintf(spec + n, sizeof(spec) - n, ",h99:1");
	assert_int_equal(endpoints__parse(spec, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 16 endpoints"));
}

/* A resolver of the test: "multi" has three addresses (one twice), "gone" none. */
static int fake_resolve(void *ctx, const char *host, uint16_t port, char (*addrs)[48], size_t max)
{
	int *calls = ctx;

	(*calls)++;
	(void)port;
	assert_true(max >= 4);
	if (!strcmp(host, "multi")) {
		strcpy(addrs[0], "10.0.0.1");
		strcpy(addrs[1], "10.0.0.2");
		strcpy(addrs[2], "10.0.0.1");
		strcpy(addrs[3], "fd00::3");
		return 4;
	}
	if (!strcmp(host, "one")) {
		strcpy(addrs[0], "10.0.0.9");
		return 1;
	}
	return -ENOENT;
}

static void expand__names_become_one_target_per_address(void **state)
{
	struct endpoint_target t[32];
	struct endpoint_list l;
	char err[256];
	int calls = 0;
	size_t n;

	(void)state;
	assert_int_equal(endpoints__parse("http://multi:7,gone:7,127.0.0.1:7,one:8", &l, err, sizeof(err)), 0);
	n = endpoints__expand(&l, fake_resolve, &calls, t, 32);
	assert_int_equal(calls, 3);                      /* the literal is not resolved */
	assert_int_equal(n, 6);
	assert_ptr_equal(t[0].ep, &l.v[0]);
	assert_string_equal(t[0].addr, "10.0.0.1");
	assert_string_equal(t[1].addr, "10.0.0.2");
	assert_string_equal(t[2].addr, "fd00::3");       /* the duplicate address dropped */
	assert_ptr_equal(t[3].ep, &l.v[1]);              /* did not resolve: libcurl resolves at connect */
	assert_string_equal(t[3].addr, "");
	assert_ptr_equal(t[4].ep, &l.v[2]);
	assert_string_equal(t[4].addr, "");
	assert_ptr_equal(t[5].ep, &l.v[3]);
	assert_string_equal(t[5].addr, "10.0.0.9");

	/* bounded by the caller's array */
	assert_int_equal(endpoints__expand(&l, fake_resolve, &calls, t, 2), 2);
}

static void failover__one_endpoint__backoff_every_failure(void **state)
{
	struct failover f;

	(void)state;
	failover__init(&f, 1, 7);
	assert_int_equal(f.cur, 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT_AFTER_BACKOFF);
		assert_int_equal(f.cur, 0);
	}
	assert_int_equal(f.switches, 0);
	assert_int_equal(failover__on_result(&f, EXPORT_DONE), FAILOVER_STAY);
	assert_int_equal(f.failed, 0);
}

static void failover__three_endpoints__next_at_once_then_backoff_after_a_round(void **state)
{
	struct failover f;

	(void)state;
	failover__init(&f, 3, 1);
	assert_int_equal(f.cur, 1);
	/* sticky while it works, also when the receiver rejects a batch (it answered) */
	assert_int_equal(failover__on_result(&f, EXPORT_DONE), FAILOVER_STAY);
	assert_int_equal(failover__on_result(&f, EXPORT_DROP), FAILOVER_STAY);
	assert_int_equal(f.cur, 1);
	/* endpoint 1 dies: the same batch goes to 2 at once, then 0, then a full round is over */
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT);
	assert_int_equal(f.cur, 2);
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT);
	assert_int_equal(f.cur, 0);
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT_AFTER_BACKOFF);
	assert_int_equal(f.cur, 1);
	/* the next rounds likewise: one backoff per round, never more than one call per target */
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT);
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT);
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT_AFTER_BACKOFF);
	/* 0 answers: stay there, no return to the first one picked */
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT);
	assert_int_equal(f.cur, 2);
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT);
	assert_int_equal(f.cur, 0);
	assert_int_equal(failover__on_result(&f, EXPORT_DONE), FAILOVER_STAY);
	assert_int_equal(f.cur, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(failover__on_result(&f, EXPORT_DONE), FAILOVER_STAY);
	assert_int_equal(f.cur, 0);
	assert_int_equal(f.switches, 8);
	/* a failure after the success starts a new round: next at once */
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT);
	assert_int_equal(f.cur, 1);
}

static void failover__resize__keeps_index_in_range(void **state)
{
	struct failover f;

	(void)state;
	failover__init(&f, 4, 3);
	failover__resize(&f, 4);
	assert_int_equal(f.cur, 3);
	failover__resize(&f, 2);
	assert_int_equal(f.cur, 0);
	failover__resize(&f, 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(failover__on_result(&f, EXPORT_RETRY), FAILOVER_NEXT_AFTER_BACKOFF);
}

static void failover__start__spreads_agents_and_is_stable(void **state)
{
	size_t hits[3] = { 0 };
	char id[64];

	(void)state;
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "node-%d-0123456789abcdef", i);
		hits[failover__start(id, 3)]++;
		assert_int_equal(failover__start(id, 3), failover__start(id, 3));
	}
	for (int k = 0; k < 3; k++)
		if (hits[k] < 60)
			fail_msg("endpoint %d picked by %zu of 300 agents", k, hits[k]);
	assert_int_equal(failover__start("x", 0), 0);
	assert_int_equal(failover__start(NULL, 5) < 5, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse__list__scheme_inherited_port_defaulted),
		cmocka_unit_test(parse__bad_input__names_item_and_reason),
		cmocka_unit_test(parse__too_many__refused),
		cmocka_unit_test(expand__names_become_one_target_per_address),
		cmocka_unit_test(failover__one_endpoint__backoff_every_failure),
		cmocka_unit_test(failover__three_endpoints__next_at_once_then_backoff_after_a_round),
		cmocka_unit_test(failover__resize__keeps_index_in_range),
		cmocka_unit_test(failover__start__spreads_agents_and_is_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
