/* Requests per peer (agent/pipeline/peers.c): per (cgroup, direction, peer) counts, errors and a
 * latency histogram; the server side's peer is the client address whatever its port; the cap per
 * cgroup sends later new peers into "other"; the entry bound drops and counts; JSON output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <cmocka.h>

#include "agent/pipeline/peers.h"

static struct hist one(uint64_t us)
{
	struct hist h;

	hist__reset(&h);
	hist__record(&h, us);
	return h;
}

static void v4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(AF_INET, s, a), 1);
}

struct collect {
	struct peer_entry e[16];
	size_t n;
};

static int grab(const struct peer_entry *e, void *ctx)
{
	struct collect *c = ctx;

	if (c->n < 16)
		c->e[c->n++] = *e;
	return 0;
}

static void record__two_clients_of_one_server__split_per_client(void **state)
{
	struct peers *p = peers__new(NULL);
	uint8_t a[16], b[16];
	struct collect c = { 0 };
	struct hist h;

	(void)state;
	assert_non_null(p);
	v4(a, "10.88.0.5");
	v4(b, "10.88.0.6");
	for (int i = 0; i < 7; i++) {
		h = one(100);
		/* a different ephemeral port each time: still one peer on the server side */
		assert_int_equal(peers__record(p, 42, PEERS_DIR_SERVER, AF_INET, a, (uint16_t)(40000 + i),
					       i < 2 ? 500 : i < 3 ? 404 : 200, &h), 0);
	}
	for (int i = 0; i < 3; i++) {
		h = one(1000);
		assert_int_equal(peers__record(p, 42, PEERS_DIR_SERVER, AF_INET, b, 50000, 200, &h), 0);
	}
	assert_int_equal(peers__size(p), 2);
	assert_int_equal(peers__foreach(p, 42, grab, &c), 0);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.e[0].addr, a, 16);
	assert_int_equal(c.e[0].hist.count, 7);
	assert_int_equal(c.e[0].errors, 2);
	assert_int_equal(c.e[0].client_errors, 1);
	assert_int_equal(c.e[0].port, 0);
	assert_int_equal(c.e[0].hist.sum, 700);
	assert_memory_equal(c.e[1].addr, b, 16);
	assert_int_equal(c.e[1].hist.count, 3);
	assert_int_equal(c.e[1].errors, 0);
	/* within the bucket of 1000 us (12.5% wide) */
	assert_in_range(hist__quantile(&c.e[1].hist, 0.5), 875, 1125);
	peers__free(p);
}

static void record__client_side__keyed_by_server_port(void **state)
{
	struct peers *p = peers__new(NULL);
	uint8_t a[16];
	struct collect c = { 0 };
	struct hist h = one(5);

	(void)state;
	v4(a, "10.88.0.7");
	assert_int_equal(peers__record(p, 1, PEERS_DIR_CLIENT, AF_INET, a, 8080, 200, &h), 0);
	assert_int_equal(peers__record(p, 1, PEERS_DIR_CLIENT, AF_INET, a, 9090, 200, &h), 0);
	assert_int_equal(peers__record(p, 1, PEERS_DIR_CLIENT, AF_INET, a, 8080, 503, &h), 0);
	assert_int_equal(peers__foreach(p, 0, grab, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.e[0].port, 8080);
	assert_int_equal(c.e[0].hist.count, 2);
	assert_int_equal(c.e[0].errors, 1);
	assert_int_equal(c.e[1].port, 9090);
	assert_int_equal(c.e[1].dir, PEERS_DIR_CLIENT);
	peers__free(p);
}

static void record__past_the_cap__into_other_and_nothing_lost(void **state)
{
	struct peers *p = peers__new(&(struct peers_opts){ .max_per_cgroup = 3 });
	struct collect c = { 0 };
	uint64_t total = 0;
	uint8_t a[16];
	struct hist h = one(10);

	(void)state;
	for (int i = 0; i < 10; i++) {
		memset(a, 0, sizeof(a));
		a[0] = 10;
		a[3] = (uint8_t)(i + 1);
		assert_int_equal(peers__record(p, 9, PEERS_DIR_SERVER, AF_INET, a, 0, i == 9 ? 500 : 200, &h), 0);
	}
	assert_int_equal(peers__foreach(p, 9, grab, &c), 0);
	assert_int_equal(c.n, 4);                    /* 3 peers + "other" */
	assert_int_equal(c.e[0].family, 0);          /* "other" sorts first */
	assert_int_equal(c.e[0].hist.count, 7);
	assert_int_equal(c.e[0].errors, 1);
	for (size_t i = 0; i < c.n; i++)
		total += c.e[i].hist.count;
	assert_int_equal(total, 10);
	/* the cap is per cgroup: another cgroup still gets its own peers */
	assert_int_equal(peers__record(p, 10, PEERS_DIR_SERVER, AF_INET, a, 0, 200, &h), 0);
	c.n = 0;
	assert_int_equal(peers__foreach(p, 10, grab, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.e[0].family, AF_INET);
	peers__free(p);
}

static void record__entry_bound__dropped_and_counted(void **state)
{
	struct peers *p = peers__new(&(struct peers_opts){ .max_entries = 2 });
	uint8_t a[16] = { 10, 0, 0, 1 };
	struct hist h = one(10);

	(void)state;
	h.count = 1;
	assert_int_equal(peers__record(p, 1, PEERS_DIR_SERVER, AF_INET, a, 0, 200, &h), 0);
	assert_int_equal(peers__record(p, 2, PEERS_DIR_SERVER, AF_INET, a, 0, 200, &h), 0);
	assert_int_equal(peers__record(p, 3, PEERS_DIR_SERVER, AF_INET, a, 0, 200, &h), -ENOSPC);
	assert_int_equal(peers__dropped(p), 1);
	/* an existing key still counts */
	assert_int_equal(peers__record(p, 1, PEERS_DIR_SERVER, AF_INET, a, 0, 200, &h), 0);
	peers__reset(p);
	assert_int_equal(peers__size(p), 0);
	assert_int_equal(peers__dropped(p), 1);
	assert_int_equal(peers__record(p, 3, PEERS_DIR_SERVER, AF_INET, a, 0, 200, &h), 0);
	assert_int_equal(peers__record(p, 3, 7, AF_INET, a, 0, 200, &h), -EINVAL);
	assert_int_equal(peers__record(p, 3, PEERS_DIR_SERVER, 0, a, 0, 200, &h), -EINVAL);
	peers__free(p);
}

static void json__ipv6_and_other__named(void **state)
{
	struct peers *p = peers__new(&(struct peers_opts){ .max_per_cgroup = 1 });
	uint8_t a[16], b[16] = { 10, 0, 0, 9 };
	struct hist h = one(250);
	json_t *j, *x;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "fd00::5", a), 1);
	assert_int_equal(peers__record(p, 5, PEERS_DIR_CLIENT, AF_INET6, a, 443, 404, &h), 0);
	assert_int_equal(peers__record(p, 5, PEERS_DIR_CLIENT, AF_INET, b, 80, 200, &h), 0);
	assert_null(peers__json(p, 6));
	j = peers__json(p, 5);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 2);
	x = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(x, "addr")), "other");
	x = json_array_get(j, 1);
	assert_string_equal(json_string_value(json_object_get(x, "addr")), "fd00::5");
	assert_string_equal(json_string_value(json_object_get(x, "direction")), "client");
	assert_int_equal(json_integer_value(json_object_get(x, "port")), 443);
	assert_int_equal(json_integer_value(json_object_get(x, "count")), 1);
	assert_int_equal(json_integer_value(json_object_get(x, "client_errors")), 1);
	assert_int_equal(json_integer_value(json_object_get(x, "errors")), 0);
	assert_int_equal(json_integer_value(json_object_get(x, "sum_us")), 250);
	json_decref(j);
	peers__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record__two_clients_of_one_server__split_per_client),
		cmocka_unit_test(record__client_side__keyed_by_server_port),
		cmocka_unit_test(record__past_the_cap__into_other_and_nothing_lost),
		cmocka_unit_test(record__entry_bound__dropped_and_counted),
		cmocka_unit_test(json__ipv6_and_other__named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
