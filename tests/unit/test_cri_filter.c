/* Unit tests for cri/filter.c: precedence pod annotation > namespace annotation > config,
 * include/exclude globs, l7 opt-out, host workloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cri/filter.h"

#define KV(k, v) { (char *)(k), (char *)(v) }

static const struct row {
	const char *ns;
	const char *pod_mon, *pod_l7, *ns_mon, *ns_l7;   /* NULL = annotation absent */
	bool ns_known;
	bool monitored, l7;
	enum filter_source why;
} rows[] = {
	/* config defaults: everything but kube-system */
	{ "shop", NULL, NULL, NULL, NULL, false, true, true, FILTER_BY_CONFIG },
	{ "kube-system", NULL, NULL, NULL, NULL, false, false, false, FILTER_BY_CONFIG },
	/* pod annotation wins over everything */
	{ "kube-system", "true", NULL, NULL, NULL, false, true, true, FILTER_BY_POD },
	{ "shop", "false", NULL, "true", NULL, true, false, false, FILTER_BY_POD },
	{ "shop", "TRUE", NULL, "false", NULL, true, true, true, FILTER_BY_POD },
	/* namespace annotation over config */
	{ "kube-system", NULL, NULL, "true", NULL, true, true, true, FILTER_BY_NAMESPACE },
	{ "shop", NULL, NULL, "false", NULL, true, false, false, FILTER_BY_NAMESPACE },
	/* junk values are ignored */
	{ "shop", "yes", NULL, "nope", NULL, true, true, true, FILTER_BY_CONFIG },
	/* l7 opt-out on the pod or the namespace; pod wins */
	{ "shop", NULL, "false", NULL, NULL, true, true, false, FILTER_BY_CONFIG },
	{ "shop", NULL, NULL, NULL, "false", true, true, false, FILTER_BY_CONFIG },
	{ "shop", NULL, "true", NULL, "false", true, true, true, FILTER_BY_CONFIG },
	/* l7 never without monitoring */
	{ "shop", "false", "true", NULL, NULL, false, false, false, FILTER_BY_POD },
};

static void decide_pod__precedence_table(void **state)
{
	struct filter_config cfg;

	filter_config__defaults(&cfg);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct cri_kv pk[2], nk[2];
		struct cri_kvs pa = { pk, 0 }, na = { nk, 0 };
		struct filter_decision d;

		if (r->pod_mon)
			pk[pa.n++] = (struct cri_kv)KV("podlens.io/monitor", r->pod_mon);
		if (r->pod_l7)
			pk[pa.n++] = (struct cri_kv)KV("podlens.io/l7", r->pod_l7);
		if (r->ns_mon)
			nk[na.n++] = (struct cri_kv)KV("podlens.io/monitor", r->ns_mon);
		if (r->ns_l7)
			nk[na.n++] = (struct cri_kv)KV("podlens.io/l7", r->ns_l7);
		filter__decide_pod(&cfg, r->ns, &pa, r->ns_known || na.n ? &na : NULL, &d);
		if (d.monitored != r->monitored || d.l7 != r->l7 || d.why != r->why)
			fail_msg("row %zu: monitored %d l7 %d why %d", i, d.monitored, d.l7, d.why);
	}
}

static void decide_pod__include_exclude_globs(void **state)
{
	static const char *const inc[] = { "shop", "team-*", NULL };
	static const char *const exc[] = { "team-secret", NULL };
	static const char *const none[] = { NULL };
	struct filter_config cfg;
	struct filter_decision d;

	filter_config__defaults(&cfg);
	cfg.include = inc;
	cfg.exclude = exc;
	filter__decide_pod(&cfg, "shop", NULL, NULL, &d);
	assert_true(d.monitored);
	filter__decide_pod(&cfg, "team-a", NULL, NULL, &d);
	assert_true(d.monitored);
	filter__decide_pod(&cfg, "team-secret", NULL, NULL, &d);
	assert_false(d.monitored);
	filter__decide_pod(&cfg, "payments", NULL, NULL, &d);
	assert_false(d.monitored);
	/* an empty exclude list excludes nothing, kube-system included */
	cfg.include = NULL;
	cfg.exclude = none;
	filter__decide_pod(&cfg, "kube-system", NULL, NULL, &d);
	assert_true(d.monitored);
}

static void decide__global_l7_off_and_custom_keys(void **state)
{
	struct filter_config cfg;
	struct filter_decision d;
	struct cri_kv kv[] = { KV("example.com/watch", "false"), KV("podlens.io/monitor", "true") };
	struct cri_kvs a = { kv, 2 };

	filter_config__defaults(&cfg);
	cfg.l7_enabled = false;
	filter__decide_pod(&cfg, "shop", NULL, NULL, &d);
	assert_true(d.monitored);
	assert_false(d.l7);
	cfg.monitor_key = "example.com/watch";
	filter__decide_pod(&cfg, "shop", &a, NULL, &d);
	assert_false(d.monitored);
	assert_int_equal(d.why, FILTER_BY_POD);
}

static void decide_host__follows_host_monitor(void **state)
{
	struct filter_config cfg;
	struct filter_decision d;

	filter_config__defaults(&cfg);
	filter__decide_host(&cfg, "/system.slice/nginx.service", &d);
	assert_true(d.monitored);
	assert_true(d.l7);
	assert_int_equal(d.why, FILTER_BY_HOST);
	filter__decide_host(&cfg, NULL, &d);
	assert_true(d.monitored);
	assert_true(filter__all_hosts(&cfg));
	cfg.host_monitor = false;
	filter__decide_host(&cfg, "/system.slice/nginx.service", &d);
	assert_false(d.monitored);
	assert_false(d.l7);
	assert_false(filter__all_hosts(&cfg));
}

static void decide_host__cgroup_globs_select_host_workloads(void **state)
{
	static const char *const globs[] = { "/system.slice/nginx.service", "/bench-*", NULL };
	static const char *const with_star[] = { "/x", "*", NULL };
	struct filter_config cfg;
	struct filter_decision d;

	filter_config__defaults(&cfg);
	cfg.host_cgroups = globs;
	assert_false(filter__all_hosts(&cfg));
	filter__decide_host(&cfg, "/system.slice/nginx.service", &d);
	assert_true(d.monitored);
	filter__decide_host(&cfg, "/system.slice/sshd.service", &d);
	assert_false(d.monitored);
	assert_false(d.l7);
	filter__decide_host(&cfg, "/bench-srv-42", &d);
	assert_true(d.monitored);
	filter__decide_host(&cfg, "/", &d);
	assert_false(d.monitored);
	filter__decide_host(&cfg, NULL, &d);      /* NULL is the root */
	assert_false(d.monitored);
	cfg.host_cgroups = with_star;
	assert_true(filter__all_hosts(&cfg));
	cfg.host_monitor = false;                 /* host.monitor off wins over any glob */
	filter__decide_host(&cfg, "/x", &d);
	assert_false(d.monitored);
}

/* podlens.io/dns: pod > namespace > on; never without L7; equal decisions differ by it */
static void decide_pod__dns_annotation(void **state)
{
	struct cri_kv pk[2], nk[1];
	struct cri_kvs pa = { pk, 0 }, na = { nk, 0 };
	struct filter_config cfg;
	struct filter_decision d, e;

	(void)state;
	filter_config__defaults(&cfg);
	filter__decide_pod(&cfg, "shop", &pa, &na, &d);
	assert_true(d.l7 && d.dns);
	nk[na.n++] = (struct cri_kv)KV("podlens.io/dns", "false");
	filter__decide_pod(&cfg, "shop", &pa, &na, &e);
	assert_true(e.l7);
	assert_false(e.dns);
	assert_false(filter_decision__equal(&d, &e));
	pk[pa.n++] = (struct cri_kv)KV("podlens.io/dns", "TRUE");
	filter__decide_pod(&cfg, "shop", &pa, &na, &d);
	assert_true(d.dns);
	pk[pa.n++] = (struct cri_kv)KV("podlens.io/l7", "false");
	filter__decide_pod(&cfg, "shop", &pa, &na, &d);
	assert_false(d.l7);
	assert_false(d.dns);
	cfg.dns_key = "example.com/dns";
	pa.n = 0;
	filter__decide_pod(&cfg, "shop", &pa, &na, &d);
	assert_true(d.dns);             /* the default key is no longer read */
	filter__decide_host(&cfg, "/system.slice/x.service", &d);
	assert_true(d.dns);
}

static void bool_value__true_false_other(void **state)
{
	assert_int_equal(filter__bool_value("true"), 1);
	assert_int_equal(filter__bool_value("False"), 0);
	assert_int_equal(filter__bool_value("1"), -1);
	assert_int_equal(filter__bool_value(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decide_pod__precedence_table),
		cmocka_unit_test(decide_pod__include_exclude_globs),
		cmocka_unit_test(decide__global_l7_off_and_custom_keys),
		cmocka_unit_test(decide_host__follows_host_monitor),
		cmocka_unit_test(decide_host__cgroup_globs_select_host_workloads),
		cmocka_unit_test(decide_pod__dns_annotation),
		cmocka_unit_test(bool_value__true_false_other),
	};
	return cmocka_run_group_tests_name("cri_filter", tests, NULL, NULL);
}
