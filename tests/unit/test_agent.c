/* Agent pure functions: options/config parsing and errors, interval deltas, JSON records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/cgroupfs.h"
#include "agent/options.h"
#include "agent/output/output.h"
#include "agent/pipeline/agg.h"

static int parse(struct agent_config *cfg, char *errbuf, size_t len, int argc, char **argv)
{
	FILE *err = fmemopen(errbuf, len, "w");
	FILE *out = fopen("/dev/null", "w");
	int r;

	memset(errbuf, 0, len);
	r = options__parse(cfg, argc, argv, out, err);
	fclose(err);
	fclose(out);
	return r;
}

static void options__defaults(void **state)
{
	struct agent_config cfg;
	char e[256];
	char *argv[] = { "agent" };

	unsetenv("PODLENS_INTERVAL");
	assert_int_equal(parse(&cfg, e, sizeof(e), 1, argv), 0);
	assert_int_equal(cfg.interval_s, 10);
	assert_int_equal(cfg.output, OUTPUT_AUTO);
	assert_true(cfg.l7_enabled);
	assert_string_equal(cfg.cri_socket, "auto");
	assert_int_equal(cfg.ns_exclude.n, 1);
	assert_string_equal(cfg.ns_exclude.v[0], "kube-system");
	assert_int_equal(cfg.spool_max_bytes, 64 << 20);
	assert_string_equal(cfg.traffic_attach, "auto");
	assert_int_equal(cfg.host_cgroups.n, 1);
	assert_string_equal(cfg.host_cgroups.v[0], "*");
	options__free(&cfg);
}

static void options__traffic_attach_and_host_cgroups(void **state)
{
	struct agent_config cfg;
	char e[256], e2[256];
	char *ok1[] = { "agent", "--traffic-attach", "workloads", "--host-cgroups", "/system.slice/a.service, /b-*" };
	char *ok2[] = { "agent", "--traffic-attach=/kubepods.slice" };
	char *bad1[] = { "agent", "--traffic-attach", "pods" };
	char *bad2[] = { "agent", "--traffic-attach", "/a/../b" };
	const char **view;

	assert_int_equal(parse(&cfg, e, sizeof(e), 5, ok1), 0);
	assert_string_equal(cfg.traffic_attach, "workloads");
	assert_int_equal(cfg.host_cgroups.n, 2);
	assert_string_equal(cfg.host_cgroups.v[1], "/b-*");
	view = strlist__view(&cfg.host_cgroups);
	assert_non_null(view);
	assert_string_equal(view[0], "/system.slice/a.service");
	assert_null(view[2]);
	free(view);
	assert_int_equal(options__apply_json(&cfg, "{\"host\": {\"cgroups\": [\"/x\"], \"monitor\": false}}", e2,
						  sizeof(e2)), 0);
	assert_int_equal(cfg.host_cgroups.n, 1);
	assert_false(cfg.host_monitor);
	options__free(&cfg);
	assert_int_equal(parse(&cfg, e, sizeof(e), 2, ok2), 0);
	assert_string_equal(cfg.traffic_attach, "/kubepods.slice");
	options__free(&cfg);
	assert_int_equal(parse(&cfg, e, sizeof(e), 3, bad1), -EINVAL);
	assert_non_null(strstr(e, "--traffic-attach: invalid value 'pods'"));
	options__free(&cfg);
	assert_int_equal(parse(&cfg, e, sizeof(e), 3, bad2), -EINVAL);
	assert_non_null(strstr(e, "--traffic-attach"));
	options__free(&cfg);
}

static void options__flags_override_env(void **state)
{
	struct agent_config cfg;
	char e[256];
	char *argv[] = { "agent", "--interval=3", "--no-l7", "--output", "json", "--namespaces-exclude", "a, b" };

	setenv("PODLENS_INTERVAL", "7", 1);
	setenv("PODLENS_COLLECTOR", "http://127.0.0.1:4317", 1);
	assert_int_equal(parse(&cfg, e, sizeof(e), 7, argv), 0);
	assert_int_equal(cfg.interval_s, 3);
	assert_false(cfg.l7_enabled);
	assert_int_equal(cfg.output, OUTPUT_JSON);
	assert_string_equal(cfg.collector_url, "http://127.0.0.1:4317");
	assert_int_equal(cfg.ns_exclude.n, 2);
	assert_string_equal(cfg.ns_exclude.v[1], "b");
	unsetenv("PODLENS_INTERVAL");
	unsetenv("PODLENS_COLLECTOR");
	options__free(&cfg);
}

static void options__bad_flags_name_the_problem(void **state)
{
	struct agent_config cfg;
	char e[256];
	char *a1[] = { "agent", "--bogus" };
	char *a2[] = { "agent", "--interval", "0" };
	char *a3[] = { "agent", "--output", "xml" };
	char *a4[] = { "agent", "--interval" };
	char *a5[] = { "agent", "--log-level", "loud" };

	assert_int_equal(parse(&cfg, e, sizeof(e), 2, a1), -EINVAL);
	assert_non_null(strstr(e, "unknown option '--bogus'"));
	options__free(&cfg);
	assert_int_equal(parse(&cfg, e, sizeof(e), 3, a2), -EINVAL);
	assert_non_null(strstr(e, "--interval: invalid value '0'"));
	options__free(&cfg);
	assert_int_equal(parse(&cfg, e, sizeof(e), 3, a3), -EINVAL);
	assert_non_null(strstr(e, "invalid value 'xml'"));
	options__free(&cfg);
	assert_int_equal(parse(&cfg, e, sizeof(e), 2, a4), -EINVAL);
	assert_non_null(strstr(e, "needs a value"));
	options__free(&cfg);
	assert_int_equal(parse(&cfg, e, sizeof(e), 3, a5), -EINVAL);
	assert_non_null(strstr(e, "--log-level"));
	options__free(&cfg);
}

static void options__json_config_applies_and_validates(void **state)
{
	struct agent_config cfg;
	char e[256], e2[256];
	char *argv[] = { "agent" };

	assert_int_equal(parse(&cfg, e, sizeof(e), 1, argv), 0);
	assert_int_equal(options__apply_json(&cfg, "{\"interval\": 2, \"l7\": {\"enabled\": false}, "
						  "\"namespaces\": {\"include\": [\"shop\", \"pay*\"]}, "
						  "\"collector\": {\"url\": \"https://c:443\"}}", e2, sizeof(e2)), 0);
	assert_int_equal(cfg.interval_s, 2);
	assert_false(cfg.l7_enabled);
	assert_int_equal(cfg.ns_include.n, 2);
	assert_string_equal(cfg.ns_include.v[1], "pay*");
	assert_string_equal(cfg.collector_url, "https://c:443");

	assert_int_equal(options__apply_json(&cfg, "{\"intervall\": 2}", e2, sizeof(e2)), -EINVAL);
	assert_string_equal(e2, "unknown key 'intervall'");
	assert_int_equal(options__apply_json(&cfg, "{\"interval\": \"2\"}", e2, sizeof(e2)), -EINVAL);
	assert_string_equal(e2, "key 'interval': expected an integer");
	assert_int_equal(options__apply_json(&cfg, "{\"interval\": 99999}", e2, sizeof(e2)), -EINVAL);
	assert_non_null(strstr(e2, "key 'interval': invalid value '99999'"));
	assert_int_equal(options__apply_json(&cfg, "{\"namespaces\": {\"exclude\": [1]}}", e2, sizeof(e2)), -EINVAL);
	assert_non_null(strstr(e2, "namespaces.exclude"));
	assert_int_equal(options__apply_json(&cfg, "{\"output\": ", e2, sizeof(e2)), -EINVAL);
	assert_non_null(strstr(e2, "line 1"));
	assert_int_equal(options__apply_json(&cfg, "[1]", e2, sizeof(e2)), -EINVAL);
	options__free(&cfg);
}

static void options__urls_checked_before_anything_loads(void **state)
{
	static const char *good[] = { "http://127.0.0.1:4317", "https://collector.obs.svc:443/x",
				      "http://[::1]:8080", "https://c", "http://my_host-1.example:65535" };
	static const char *bad[] = { "not a url", "127.0.0.1:4317", "http://", "http://:80", "http://h:0",
				     "http://h:65536", "http://h:80x", "https://h :1", "ftp://h:21", "http://[]:1",
				     "http://h:123456" };
	struct agent_config cfg;
	char e[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *a[] = { "agent", "--collector", (char *)good[i] };

		assert_int_equal(parse(&cfg, e, sizeof(e), 3, a), 0);
		assert_string_equal(cfg.collector_url, good[i]);
		options__free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *a[] = { "agent", "--otlp", (char *)bad[i] };

		assert_int_equal(parse(&cfg, e, sizeof(e), 3, a), -EINVAL);
		assert_non_null(strstr(e, "--otlp: invalid value"));
		assert_non_null(strstr(e, "expected http://HOST:PORT"));
		options__free(&cfg);
	}
}

static void options__collector_endpoint_list_checked_before_anything_loads(void **state)
{
	static const char *good[] = { "http://c1:4317,c2:4317", "https://a.obs.svc:443,https://b.obs.svc:443,[fd00::1]:443",
				      "http://127.0.0.1:1,127.0.0.2:1/prefix" };
	static const char *bad[] = { "http://a:1,https://b:1", "https://a:1,http://b:1", "http://a:1,,b:1",
				     "http://a:1,", "http://a:1,b:0", "http://a:1,b :1", "http://a:1,ftp://b:1",
				     "a:1,http://b:1", "http://a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1,j:1,k:1,l:1,m:1,n:1,o:1,p:1,q:1" };
	struct agent_config cfg;
	char e[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *a[] = { "agent", "--collector", (char *)good[i] };

		assert_int_equal(parse(&cfg, e, sizeof(e), 3, a), 0);
		assert_string_equal(cfg.collector_url, good[i]);
		options__free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *a[] = { "agent", "--collector", (char *)bad[i] };

		assert_int_equal(parse(&cfg, e, sizeof(e), 3, a), -EINVAL);
		assert_non_null(strstr(e, "--collector: invalid value"));
		options__free(&cfg);
	}
	/* the config file takes a list as an array, or as the same comma-separated string */
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(options__apply_json(&cfg, "{\"collector\": {\"url\": [\"http://a:1\", \"b:2\"]}}", e,
					     sizeof(e)), 0);
	assert_string_equal(cfg.collector_url, "http://a:1,b:2");
	assert_int_equal(options__apply_json(&cfg, "{\"collector\": {\"url\": [\"http://a:1\", 3]}}", e,
					     sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "key 'collector.url': element 1 is not a URL string"));
	assert_int_equal(options__apply_json(&cfg, "{\"collector\": {\"url\": [\"http://a:1\", \"https://b:2\"]}}",
					     e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "key 'collector.url': invalid value"));
	assert_int_equal(options__apply_json(&cfg, "{\"collector\": {\"url\": []}}", e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "empty list"));
	options__free(&cfg);
}

static void options__btf_file_named_when_not_btf(void **state)
{
	struct agent_config cfg;
	char e[256];
	char *a1[] = { "agent", "--btf", "/etc/hostname" };
	char *a2[] = { "agent", "--btf", "/nonexistent/vmlinux" };
	char *a3[] = { "agent", "--btf", "/sys/kernel/btf/vmlinux" };

	assert_int_equal(parse(&cfg, e, sizeof(e), 3, a1), -EINVAL);
	assert_non_null(strstr(e, "--btf: /etc/hostname: not a BTF file"));
	options__free(&cfg);
	/* missing: left to the start-up environment check ("no kernel BTF at ...", exit 1) */
	assert_int_equal(parse(&cfg, e, sizeof(e), 3, a2), 0);
	options__free(&cfg);
	if (access(a3[2], R_OK) == 0) {     /* the running kernel's BTF, where it exists */
		assert_int_equal(parse(&cfg, e, sizeof(e), 3, a3), 0);
		options__free(&cfg);
	}
}

static void options__config_type_errors_and_nul_named(void **state)
{
	struct agent_config cfg;
	char e[256], e2[256], path[] = "/tmp/podlens-test-config-XXXXXX";
	char *argv[] = { "agent", "--config", path };
	int fd;

	assert_int_equal(parse(&cfg, e, sizeof(e), 1, argv), 0);
	/* an existing section given a scalar is a type error, not an unknown key */
	assert_int_equal(options__apply_json(&cfg, "{\"cri\": \"containerd\"}", e2, sizeof(e2)), -EINVAL);
	assert_string_equal(e2, "key 'cri': expected an object (e.g. {\"socket\": ...})");
	assert_int_equal(options__apply_json(&cfg, "{\"collector\": {\"url\": \"c:443\"}}", e2, sizeof(e2)),
			 -EINVAL);
	assert_non_null(strstr(e2, "key 'collector.url': invalid value 'c:443'"));
	options__free(&cfg);

	/* a NUL byte would hide what follows it from the JSON parser */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"interval\":5}\0garbage", 22), 22);
	close(fd);
	assert_int_equal(parse(&cfg, e, sizeof(e), 3, argv), -EINVAL);
	assert_non_null(strstr(e, "NUL byte at offset 14"));
	options__free(&cfg);
	unlink(path);
}

static void options__help_returns_1(void **state)
{
	struct agent_config cfg;
	char e[256];
	char *argv[] = { "agent", "--help" };

	assert_int_equal(parse(&cfg, e, sizeof(e), 2, argv), 1);
	options__free(&cfg);
}

static void agg__deltas_between_intervals(void **state)
{
	struct agg a;
	struct pl_traffic_counters t = { .rx_bytes = 100, .tx_bytes = 10, .rx_packets = 2, .tx_packets = 1 };
	struct pl_tcp_counters c = { .active_opens = 3, .connect_lat_sum_us = 300, .connect_lat_count = 3 };
	struct workload *w;

	agg__init(&a);
	agg__traffic(&a, 42, &t);
	agg__tcp(&a, 42, &c);
	w = idmap__get(&a.wl, 42);
	assert_int_equal(w->cur.rx_bytes, 100);
	assert_int_equal(wl_counters__connect_latency_us(&w->cur), 100);
	assert_int_equal(wl_counters__srtt_us(&w->cur), -1);
	assert_int_equal(agg__end_interval(&a, NULL, NULL), 1);
	assert_false(wl_counters__active(&w->cur));

	t.rx_bytes = 150;
	agg__traffic(&a, 42, &t);
	assert_int_equal(w->cur.rx_bytes, 50);
	assert_int_equal(w->cur.tx_bytes, 0);
	agg__end_interval(&a, NULL, NULL);

	/* counters went backwards (LRU eviction): restart from zero, count what is there */
	t.rx_bytes = 30;
	agg__traffic(&a, 42, &t);
	assert_int_equal(w->cur.rx_bytes, 30);
	agg__free(&a);
}

static uint64_t forgotten;
static void on_forget(void *ctx, uint64_t id)
{
	forgotten = id;
}

static void agg__removed_cgroup_reported_then_forgotten(void **state)
{
	struct agg a;
	struct pl_traffic_counters t = { .rx_bytes = 1 };

	agg__init(&a);
	agg__traffic(&a, 7, &t);
	assert_false(agg__cgroup_removed(&a, 8));   /* never seen: nothing to report */
	assert_true(agg__cgroup_removed(&a, 7));
	assert_non_null(idmap__get(&a.wl, 7));
	assert_int_equal(agg__end_interval(&a, on_forget, NULL), 0);
	assert_int_equal(forgotten, 7);
	assert_null(idmap__get(&a.wl, 7));
	agg__free(&a);
}

static void output__json_record_has_contract_fields(void **state)
{
	struct wl_meta m = { .cgid = 99, .cgroup_path = "/system.slice/nginx.service", .node = "n1" };
	struct wl_counters c = { .rx_bytes = 5, .closes = 2, .srtt_sum_us = 300, .srtt_count = 2 };
	struct out_record r = { .m = &m, .c = &c };
	json_t *o = output__record_json(1764067800123ULL, 1000, &r);

	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "ts")), "2025-11-25T10:50:00.123Z");
	assert_int_equal(json_integer_value(json_object_get(o, "interval_ms")), 1000);
	json_t *w = json_object_get(o, "workload");
	assert_int_equal(json_integer_value(json_object_get(w, "cgroup_id")), 99);
	assert_string_equal(json_string_value(json_object_get(w, "cgroup_path")), "/system.slice/nginx.service");
	assert_true(json_is_null(json_object_get(w, "namespace")));
	assert_true(json_is_null(json_object_get(w, "pod")));
	assert_true(json_is_null(json_object_get(w, "container_id")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "traffic"), "rx_bytes")), 5);
	json_t *t = json_object_get(o, "tcp");
	assert_int_equal(json_integer_value(json_object_get(t, "closes")), 2);
	assert_int_equal(json_integer_value(json_object_get(t, "srtt_us")), 150);
	assert_true(json_is_null(json_object_get(t, "connect_latency_us")));
	assert_null(json_object_get(o, "http"));
	json_decref(o);
}

static void table__renders_rows(void **state)
{
	char buf[4096] = { 0 };
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	struct table *t = table__new(f, false);
	struct wl_meta m = { .cgid = 5, .cgroup_path = "/user.slice", .pod = "web", .namespace_ = "shop",
			     .container = "httpd" };
	struct wl_counters c = { .rx_bytes = 2000, .tx_bytes = 1000 };
	struct out_record r = { .m = &m, .c = &c, .hs = { .requests = 10, .errors = 1, .p50_us = 1500, .p99_us = 9000 } };

	table__add(t, &r);
	table__flush(t, 0, 1000, 1);
	fclose(f);
	assert_non_null(strstr(buf, "WORKLOAD"));
	assert_non_null(strstr(buf, "shop/web/httpd"));
	assert_non_null(strstr(buf, "2.0K"));
	assert_non_null(strstr(buf, "1.5ms"));
	assert_non_null(strstr(buf, "10.0"));
	table__free(t);
}

static void cgroupfs__missing_mount_is_enoent(void **state)
{
	char out[64];

	assert_int_equal(cgroupfs__find_v2("/nonexistent-podlens", out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroupfs__id("/nonexistent-podlens"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options__defaults),
		cmocka_unit_test(options__traffic_attach_and_host_cgroups),
		cmocka_unit_test(options__flags_override_env),
		cmocka_unit_test(options__bad_flags_name_the_problem),
		cmocka_unit_test(options__urls_checked_before_anything_loads),
		cmocka_unit_test(options__collector_endpoint_list_checked_before_anything_loads),
		cmocka_unit_test(options__btf_file_named_when_not_btf),
		cmocka_unit_test(options__config_type_errors_and_nul_named),
		cmocka_unit_test(options__json_config_applies_and_validates),
		cmocka_unit_test(options__help_returns_1),
		cmocka_unit_test(agg__deltas_between_intervals),
		cmocka_unit_test(agg__removed_cgroup_reported_then_forgotten),
		cmocka_unit_test(output__json_record_has_contract_fields),
		cmocka_unit_test(table__renders_rows),
		cmocka_unit_test(cgroupfs__missing_mount_is_enoent),
	};
	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
