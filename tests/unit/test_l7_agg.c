/* agent/l7/http_agg: per (cgroup, direction, method, route, status) histograms, route cap,
 * bounds, reset, and the JSON `http` list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/types.h>

#include "agent/l7/http1.h"
#include "agent/l7/http_agg.h"
#include "bpf/l7.h"

static json_t *find(json_t *list, const char *dir, const char *method, const char *route, int status)
{
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "direction")), dir) == 0 &&
		    strcmp(json_string_value(json_object_get(o, "method")), method) == 0 &&
		    strcmp(json_string_value(json_object_get(o, "route")), route) == 0 &&
		    json_integer_value(json_object_get(o, "status")) == status)
			return o;
	}
	return NULL;
}

static long long field(json_t *o, const char *k)
{
	assert_non_null(o);
	assert_true(json_is_integer(json_object_get(o, k)));
	return json_integer_value(json_object_get(o, k));
}

static void record__counts_sum_and_quantiles_per_key(void **state)
{
	struct http_agg *a = http_agg__new(NULL);
	json_t *list, *o;

	assert_non_null(a);
	for (int i = 1; i <= 100; i++)
		assert_int_equal(http_agg__record(a, 7, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/a", 200,
						  1000 * i), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(http_agg__record(a, 7, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/a", 500, 50), 0);
	assert_int_equal(http_agg__record(a, 7, HTTP_AGG_DIR_CLIENT, HTTP_M_GET, "/a", 200, 10), 0);
	assert_int_equal(http_agg__record(a, 8, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/a", 200, 10), 0);
	assert_int_equal(http_agg__size(a), 4);

	list = http_agg__json(a, 7);
	assert_int_equal(json_array_size(list), 3);
	o = find(list, "server", "GET", "/a", 200);
	assert_int_equal(field(o, "count"), 100);
	assert_int_equal(field(o, "sum_us"), 5050 * 1000);
	/* lib/hist: within ~6% of the true quantiles 50 ms, 90 ms, 99 ms */
	assert_in_range(field(o, "p50_us"), 47000, 53000);
	assert_in_range(field(o, "p90_us"), 85000, 95000);
	assert_in_range(field(o, "p99_us"), 93000, 105000);
	assert_int_equal(field(find(list, "server", "GET", "/a", 500), "count"), 3);
	assert_int_equal(field(find(list, "client", "GET", "/a", 200), "count"), 1);
	/* stable order: server before client */
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "direction")),
			    "client");
	json_decref(list);

	list = http_agg__json(a, 9);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	http_agg__free(a);
}

static void record__route_cap__overflow_goes_to_other_per_cgroup(void **state)
{
	struct http_agg *a = http_agg__new(&(struct http_agg_opts){ .max_routes = 3 });
	char route[32];
	json_t *list;

	for (int i = 0; i < 10; i++) {
		snprintf(route, sizeof(route), "/r%d", i);
		assert_int_equal(http_agg__record(a, 1, 0, HTTP_M_GET, route, 200, 5), 0);
		assert_int_equal(http_agg__record(a, 2, 0, HTTP_M_GET, route, 200, 5), 0);
	}
	/* a route already admitted keeps its key even after the cap is reached */
	assert_int_equal(http_agg__record(a, 1, 0, HTTP_M_POST, "/r1", 201, 5), 0);
	list = http_agg__json(a, 1);
	assert_int_equal(json_array_size(list), 5);    /* r0 r1 r2 other + POST r1 */
	assert_int_equal(field(find(list, "server", "GET", "other", 200), "count"), 7);
	assert_int_equal(field(find(list, "server", "POST", "/r1", 201), "count"), 1);
	assert_null(find(list, "server", "GET", "/r3", 200));
	json_decref(list);
	list = http_agg__json(a, 2);                   /* the cap is per cgroup */
	assert_int_equal(field(find(list, "server", "GET", "other", 200), "count"), 7);
	json_decref(list);
	http_agg__free(a);
}

static void record__max_entries__drops_new_keys_and_counts(void **state)
{
	struct http_agg *a = http_agg__new(&(struct http_agg_opts){ .max_entries = 2 });

	assert_int_equal(http_agg__record(a, 1, 0, HTTP_M_GET, "/", 200, 5), 0);
	assert_int_equal(http_agg__record(a, 1, 0, HTTP_M_GET, "/", 404, 5), 0);
	assert_int_equal(http_agg__record(a, 1, 0, HTTP_M_GET, "/", 500, 5), -ENOSPC);
	assert_int_equal(http_agg__record(a, 1, 0, HTTP_M_GET, "/", 200, 5), 0);  /* existing key */
	assert_int_equal(http_agg__size(a), 2);
	assert_int_equal(http_agg__dropped(a), 1);
	http_agg__free(a);
}

struct seen {
	int n;
	uint64_t last_cg;
};

static int count_fn(const struct http_agg_entry *e, void *ctx)
{
	struct seen *s = ctx;

	assert_true(e->cgroup_id >= s->last_cg);       /* ordered by cgroup */
	s->last_cg = e->cgroup_id;
	s->n++;
	return 0;
}

static void reset__forgets_keys_and_route_set(void **state)
{
	struct http_agg *a = http_agg__new(&(struct http_agg_opts){ .max_routes = 1 });
	struct seen s = {};
	json_t *list;

	assert_int_equal(http_agg__record(a, 3, 0, HTTP_M_GET, "/x", 200, 5), 0);
	assert_int_equal(http_agg__record(a, 1, 0, HTTP_M_GET, "/x", 200, 5), 0);
	assert_int_equal(http_agg__foreach(a, 0, count_fn, &s), 0);
	assert_int_equal(s.n, 2);
	http_agg__reset(a);
	assert_int_equal(http_agg__size(a), 0);
	/* a new interval admits a new route again */
	assert_int_equal(http_agg__record(a, 3, 0, HTTP_M_GET, "/y", 200, 5), 0);
	list = http_agg__json(a, 3);
	assert_non_null(find(list, "server", "GET", "/y", 200));
	json_decref(list);
	http_agg__free(a);
}

/* The kernel computes lib/hist buckets itself (bpf/l7.h): they must be the same buckets. */
static void kernel_bucket__equals_lib_hist_up_to_clamp(void **state)
{
	for (uint64_t v = 0; v < 70000; v++)
		assert_int_equal(l7_hist_bucket(v), hist__bucket(v));
	for (uint64_t v = 70000; v < (1ULL << 40); v = v * 9 / 8 + 1) {
		unsigned want = hist__bucket(v);

		assert_int_equal(l7_hist_bucket(v), want < L7_HIST_BUCKETS ? want : L7_HIST_BUCKETS - 1);
		assert_int_equal(l7_hist_bucket(v - 1), hist__bucket(v - 1) < L7_HIST_BUCKETS ?
				 hist__bucket(v - 1) : L7_HIST_BUCKETS - 1);
	}
}

/* The kernel's division-free ns -> us equals the division: the multiply's error grows with ns and
 * is largest just below a multiple of 1000, so every k * 1000 - 1, k * 1000 (and the fallback
 * above 2^32) is checked. */
static void kernel_ns_to_us__equals_division(void **state)
{
	for (uint64_t k = 0; k <= (1ULL << 32) / 1000 + 1; k++) {
		uint64_t n = k * 1000;

		assert_true(l7_ns_to_us(n) == k);
		if (n)
			assert_true(l7_ns_to_us(n - 1) == k - 1);
	}
	for (uint64_t n = (1ULL << 32) - 5; n < (1ULL << 32) + 5; n++)
		assert_true(l7_ns_to_us(n) == n / 1000);
	assert_true(l7_ns_to_us(UINT64_MAX) == UINT64_MAX / 1000);
}

/* The key hash covers exactly the captured bytes: stale bytes after req_len do not matter. */
static void kernel_req_hash__only_the_first_len_bytes(void **state)
{
	__u64 a[L7_REQ_CAP / 8], b[L7_REQ_CAP / 8];

	memset(a, 'x', sizeof(a));
	memset(b, 'y', sizeof(b));
	memcpy(a, "GET /a HTTP/1.1\r\n", 17);
	memcpy(b, "GET /a HTTP/1.1\r\n", 17);
	assert_true(l7_req_hash(a, 17) == l7_req_hash(b, 17));
	assert_true(l7_req_hash(a, 17) != l7_req_hash(a, 18));
	assert_true(l7_req_hash(a, 80) != l7_req_hash(b, 80));
	memcpy(b, "GET /b HTTP/1.1\r\n", 17);
	assert_true(l7_req_hash(a, 17) != l7_req_hash(b, 17));
}

static void record_hist__merges_with_single_records(void **state)
{
	struct http_agg *a = http_agg__new(NULL);
	struct hist h;
	json_t *list, *o;

	hist__reset(&h);
	for (int i = 0; i < 9; i++)
		hist__record(&h, 1000);
	assert_int_equal(http_agg__record(a, 5, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/x", 200, 1000), 0);
	assert_int_equal(http_agg__record_hist(a, 5, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/x", 200, &h), 0);
	list = http_agg__json(a, 5);
	o = find(list, "server", "GET", "/x", 200);
	assert_int_equal(field(o, "count"), 10);
	assert_int_equal(field(o, "sum_us"), 10000);
	assert_in_range(field(o, "p50_us"), 940, 1060);
	json_decref(list);
	http_agg__free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record__counts_sum_and_quantiles_per_key),
		cmocka_unit_test(record__route_cap__overflow_goes_to_other_per_cgroup),
		cmocka_unit_test(record__max_entries__drops_new_keys_and_counts),
		cmocka_unit_test(reset__forgets_keys_and_route_set),
		cmocka_unit_test(kernel_bucket__equals_lib_hist_up_to_clamp),
		cmocka_unit_test(kernel_ns_to_us__equals_division),
		cmocka_unit_test(kernel_req_hash__only_the_first_len_bytes),
		cmocka_unit_test(record_hist__merges_with_single_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
