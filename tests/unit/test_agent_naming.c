/* Naming (agent/naming.c): the identity of a record from a metadata cache filled the way the agent
 * fills it, by a stand-in runtime serving the replies captured from containerd
 * (tests/fixtures/cri/), over a cgroup2 tree made in /tmp (cgroup IDs = inodes made here). And
 * naming changes nothing: no lookup, no runtime call, no decision drained. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/cgroupfs.h"
#include "agent/naming.h"
#include "cri/cri_parse.h"
#include "cri/meta_cache.h"
#include "cri/v1/api.pb-c.h"
#include "lib/log.h"

#define WEB_UID "5b0c2a9e-6f1d-4c55-9a0e-5d2f1b7e0a11"
#define CLI_UID "8d4e7f10-3a2b-4c6d-8e9f-0a1b2c3d4e5f"
#define BATCH_UID "1f2e3d4c-0000-4aaa-8bbb-0123456789ab"
#define BATCH_ID "e8937e522b17637f0087ac716c380c8973174c8891979081ca7d357966ad3212"
#define WEB_ID "97a919c0a229c9a91f28cb81fd860fd61417d42bf6f222047bdd96583b393012"
#define HTTPD_ID "63192c620109b963fec580c4b3e67d22bf70b1d433b91950795ba43151ce9b2a"
#define FETCH_ID "6a526c027076dd2376bec9f15f72005093eb71135a6fb6c8909b0598677f5a8d"
#define HTTPD_PATH "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID
#define FETCH_PATH "/kubepods/besteffort/pod" CLI_UID "/" FETCH_ID
#define NGINX_PATH "/system.slice/nginx.service"
#define BATCH_SANDBOX_PATH "/kubepods/besteffort/pod" BATCH_UID "/" BATCH_ID

/* ------------------------------------------------------------------ stand-in runtime */

static unsigned calls;   /* runtime calls */

static uint8_t *load(const char *name, size_t *len)
{
	const char *dir = getenv("CRI_FIXTURES");
	char path[1024];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fixtures/cri", name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("fixture %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? n : 1);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int f_list_pods(void *ctx, struct cri_pod **p, size_t *n)
{
	size_t len;
	uint8_t *b = load("ListPodSandbox.pb", &len);
	int err = cri_parse__pod_list(b, len, p, n);

	calls++;
	free(b);
	return err;
}

static int f_list_ctrs(void *ctx, struct cri_container **c, size_t *n)
{
	size_t len;
	uint8_t *b = load("ListContainers.pb", &len);
	int err = cri_parse__container_list(b, len, c, n);

	calls++;
	free(b);
	return err;
}

/* The captured reply with its network status changed the way a runtime reports it: a dual-stack
 * sandbox lists its other addresses in additional_ips (containerd, CRI-O). NULL = as captured. */
struct net_override {
	const char *ip;
	const char *extra[3];
	size_t n_extra;
};
static const struct net_override *web_net, *client_net;

static uint8_t *with_network(uint8_t *b, size_t *len, const struct net_override *o)
{
	Runtime__V1__PodSandboxStatusResponse *m = runtime__v1__pod_sandbox_status_response__unpack(NULL, *len, b);
	Runtime__V1__PodIP ips[3], *pips[3];
	char *old_ip;
	uint8_t *out;

	assert_non_null(m);
	assert_non_null(m->status->network);
	old_ip = m->status->network->ip;
	if (o->ip)
		m->status->network->ip = (char *)o->ip;
	for (size_t i = 0; i < o->n_extra; i++) {
		runtime__v1__pod_ip__init(&ips[i]);
		ips[i].ip = (char *)o->extra[i];
		pips[i] = &ips[i];
	}
	m->status->network->n_additional_ips = o->n_extra;
	m->status->network->additional_ips = pips;
	*len = runtime__v1__pod_sandbox_status_response__get_packed_size(m);
	out = malloc(*len);
	assert_non_null(out);
	runtime__v1__pod_sandbox_status_response__pack(m, out);
	m->status->network->ip = old_ip;   /* free what unpack allocated, not ours */
	m->status->network->n_additional_ips = 0;
	m->status->network->additional_ips = NULL;
	runtime__v1__pod_sandbox_status_response__free_unpacked(m, NULL);
	free(b);
	return out;
}

static int f_pod_status(void *ctx, const char *id, struct cri_pod *o)
{
	const char *name = !strcmp(id, WEB_ID) ? "PodSandboxStatus.shop_web.pb" :
			   !strcmp(id, BATCH_ID) ? "PodSandboxStatus.jobs_batch.pb" :
			   !strncmp(id, "5d969192", 8) ? "PodSandboxStatus.payments_client.pb" : NULL;
	size_t len;
	uint8_t *b;
	int err;

	calls++;
	memset(o, 0, sizeof(*o));
	if (!name)
		return -ENOENT;
	b = load(name, &len);
	if (web_net && !strcmp(id, WEB_ID))
		b = with_network(b, &len, web_net);
	if (client_net && !strncmp(id, "5d969192", 8))
		b = with_network(b, &len, client_net);
	err = cri_parse__pod_status(b, len, o);
	free(b);
	return err;
}

static int f_ctr_status(void *ctx, const char *id, struct cri_container *o)
{
	const char *name = !strcmp(id, HTTPD_ID) ? "ContainerStatus.shop_web_httpd.pb" :
			   !strcmp(id, FETCH_ID) ? "ContainerStatus.payments_client_fetcher.pb" : NULL;
	size_t len;
	uint8_t *b;
	int err;

	calls++;
	memset(o, 0, sizeof(*o));
	if (!name)
		return -ENOENT;
	b = load(name, &len);
	err = cri_parse__container_status(b, len, o);
	free(b);
	return err;
}

static const struct meta_source src = { NULL, f_list_pods, f_list_ctrs, f_pod_status, f_ctr_status, NULL, NULL };

static uint64_t clock_now = 1000000;

static uint64_t fake_clock(void)
{
	return clock_now;
}

/* ------------------------------------------------------------------ a cgroup2 tree in /tmp */

struct fixture {
	char root[256];
	uint64_t httpd, fetcher, nginx, batch_sandbox;
	struct cgpaths paths;
	struct meta_cache *cache;
	struct naming naming;
};

static uint64_t mk(const struct fixture *t, const char *rel)
{
	char p[1024], *s;
	struct stat sb;

	snprintf(p, sizeof(p), "%s%s", t->root, rel);
	for (s = p + strlen(t->root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
	assert_int_equal(stat(p, &sb), 0);
	return (uint64_t)sb.st_ino;
}

static void start(struct fixture *t, bool host_monitor)
{
	struct meta_opts o = { .source = &src, .cgroup2_dir = t->root, .node_name = "node-a", .ttl_s = 60,
			       .clock_ms = fake_clock };

	filter_config__defaults(&o.filter);
	o.filter.host_monitor = host_monitor;
	t->cache = meta_cache__new(&o);
	assert_non_null(t->cache);
	t->naming = (struct naming){ .meta = t->cache, .paths = &t->paths, .node = "node-a" };
}

static int setup(void **state)
{
	struct fixture *t = calloc(1, sizeof(*t));

	snprintf(t->root, sizeof(t->root), "/tmp/podlens-namingtest.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	t->httpd = mk(t, HTTPD_PATH);
	t->fetcher = mk(t, FETCH_PATH);
	t->nginx = mk(t, NGINX_PATH);
	t->batch_sandbox = mk(t, BATCH_SANDBOX_PATH);
	cgpaths__init(&t->paths, t->root);
	assert_int_equal(cgpaths__add(&t->paths, t->httpd, HTTPD_PATH), 0);
	assert_int_equal(cgpaths__add(&t->paths, t->fetcher, FETCH_PATH), 0);
	assert_int_equal(cgpaths__add(&t->paths, t->nginx, NGINX_PATH), 0);
	assert_int_equal(cgpaths__add(&t->paths, t->batch_sandbox, BATCH_SANDBOX_PATH), 0);
	calls = 0;
	web_net = client_net = NULL;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *t = *state;
	char cmd[512];

	meta_cache__free(t->cache);
	cgpaths__free(&t->paths);
	/* only the directory this test created */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (strncmp(t->root, "/tmp/podlens-namingtest.", 24) == 0 && system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", t->root);
	free(t);
	return 0;
}

static size_t drain(struct meta_cache *c)
{
	struct meta_change ch[16];
	size_t n = 0, k;

	while ((k = meta_cache__drain_changes(c, ch, 16)) > 0)
		n += k;
	return n;
}

/* ------------------------------------------------------------------ tests */

static void workload__pod_container__named_with_its_pod(void **state)
{
	struct fixture *t = *state;
	struct workload w = { .cgid = t->httpd };
	struct wl_meta m;

	start(t, true);
	assert_int_equal(meta_cache__resync(t->cache), 0);
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_EMIT);
	assert_int_equal(m.cgid, t->httpd);
	assert_string_equal(m.node, "node-a");
	assert_string_equal(m.cgroup_path, HTTPD_PATH);
	assert_string_equal(m.namespace_, "shop");
	assert_string_equal(m.pod, "web");
	assert_string_equal(m.pod_uid, WEB_UID);
	assert_string_equal(m.container, "httpd");
	assert_string_equal(m.container_id, HTTPD_ID);
	assert_string_equal(m.image, "localhost/busybox:local");
	/* the same identity for its flows and process events */
	assert_true(naming__cgroup(&t->naming, t->fetcher, &m));
	assert_string_equal(m.namespace_, "payments");
	assert_string_equal(m.container, "fetcher");
	assert_string_equal(m.cgroup_path, FETCH_PATH);
}

static void workload__host_cgroup__named_by_its_path(void **state)
{
	struct fixture *t = *state;
	struct workload w = { .cgid = t->nginx };
	struct wl_meta m;

	start(t, true);
	meta_cache__on_cgroup_mkdir(t->cache, t->nginx, NGINX_PATH);
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_EMIT);
	assert_string_equal(m.cgroup_path, NGINX_PATH);
	assert_string_equal(m.node, "node-a");
	assert_null(m.namespace_);
	assert_null(m.pod);
	assert_null(m.container);
	assert_true(naming__cgroup(&t->naming, t->nginx, &m));
	assert_null(m.pod);
	assert_string_equal(m.cgroup_path, NGINX_PATH);
}

static void workload__not_monitored__skipped(void **state)
{
	struct fixture *t = *state;
	struct workload w = { .cgid = t->batch_sandbox };
	struct wl_meta m;

	/* the batch pod says podlens.io/monitor: "false" */
	start(t, false);
	assert_int_equal(meta_cache__resync(t->cache), 0);
	meta_cache__on_cgroup_mkdir(t->cache, t->batch_sandbox, BATCH_SANDBOX_PATH);
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_SKIP);
	assert_false(naming__cgroup(&t->naming, t->batch_sandbox, &m));
	/* host cgroups not selected (host.monitor false) */
	meta_cache__on_cgroup_mkdir(t->cache, t->nginx, NGINX_PATH);
	w.cgid = t->nginx;
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_SKIP);
	assert_false(naming__cgroup(&t->naming, t->nginx, &m));
	/* the monitored pods are still named */
	w.cgid = t->fetcher;
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_EMIT);
	assert_string_equal(m.pod, "client");
}

static void workload__unresolved_pod_cgroup__held_then_named_by_path(void **state)
{
	struct fixture *t = *state;
	struct workload w = { .cgid = t->fetcher };
	struct wl_meta m;

	start(t, true);   /* no resync: the cache knows nothing yet */
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_HOLD);
	w.held = NAMING_HOLD_INTERVALS - 1;
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_HOLD);
	/* bounded: after NAMING_HOLD_INTERVALS intervals it goes out under its path */
	w.held = NAMING_HOLD_INTERVALS;
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_EMIT);
	assert_string_equal(m.cgroup_path, FETCH_PATH);
	assert_null(m.pod);
	/* an unresolved cgroup that is not a pod's is never held */
	w = (struct workload){ .cgid = t->nginx };
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_EMIT);
	/* flows and process events of an unresolved cgroup keep their path */
	assert_true(naming__cgroup(&t->naming, t->fetcher, &m));
	assert_string_equal(m.cgroup_path, FETCH_PATH);
	assert_null(m.pod);
}

static void naming__changes_nothing(void **state)
{
	struct fixture *t = *state;
	struct workload w = { .cgid = t->fetcher };
	struct meta_stats before, after;
	struct wl_meta m;
	uint8_t ip[4] = { 10, 244, 91, 2 };

	start(t, true);
	meta_cache__stats(t->cache, &before);
	/* meta_cache__lookup would resolve these (by walking the tree, asking the runtime) */
	naming__workload(&t->naming, &w, &m);
	naming__cgroup(&t->naming, t->fetcher, &m);
	naming__cgroup(&t->naming, 987654321, &m);
	naming__by_ip(&t->naming, AF_INET, ip, &m);
	meta_cache__stats(t->cache, &after);
	assert_int_equal(calls, 0);
	assert_null(meta_cache__peek(t->cache, t->fetcher));
	assert_int_equal(after.lookups, before.lookups);
	assert_int_equal(after.entries, 0);
	assert_int_equal(drain(t->cache), 0);
	/* nor does it rescan the hierarchy for a path it does not know */
	assert_null(m.cgroup_path);
	assert_int_equal(t->paths.last_scan_ns, 0);
}

static void by_ip__pod_on_this_node(void **state)
{
	struct fixture *t = *state;
	uint8_t web[4] = { 10, 244, 91, 2 }, other[4] = { 10, 244, 9, 9 }, v6[16] = { 0xfd };
	struct wl_meta m;

	start(t, true);
	assert_int_equal(meta_cache__resync(t->cache), 0);
	assert_true(naming__by_ip(&t->naming, AF_INET, web, &m));
	assert_string_equal(m.namespace_, "shop");
	assert_string_equal(m.pod, "web");
	assert_string_equal(m.pod_uid, WEB_UID);
	assert_string_equal(m.node, "node-a");
	assert_null(m.container);   /* a remote address names a pod, not one of its containers */
	assert_false(naming__by_ip(&t->naming, AF_INET, other, &m));
	assert_false(naming__by_ip(&t->naming, AF_INET6, v6, &m));
}

static void ip4(uint8_t *a, const char *text)
{
	assert_int_equal(inet_pton(AF_INET, text, a), 1);
}

static void ip6(uint8_t *a, const char *text)
{
	assert_int_equal(inet_pton(AF_INET6, text, a), 1);
}

/* The pod IPs of the captured sandbox status travel with the workload's identity (the batch's
 * Workload.pod_ips); a host cgroup has none. */
static void workload__pod_ips_from_sandbox_status(void **state)
{
	struct fixture *t = *state;
	struct workload w = { .cgid = t->httpd };
	struct wl_meta m;

	start(t, true);
	assert_int_equal(meta_cache__resync(t->cache), 0);
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_EMIT);
	assert_int_equal(m.n_ips, 1);
	assert_string_equal(m.ips[0], "10.244.91.2");   /* tests/fixtures/cri/README.md */
	assert_true(naming__cgroup(&t->naming, t->fetcher, &m));
	assert_int_equal(m.n_ips, 1);
	assert_string_equal(m.ips[0], "10.244.91.3");
	assert_true(naming__cgroup(&t->naming, t->nginx, &m));
	assert_int_equal(m.n_ips, 0);
}

/* A dual-stack sandbox (additional_ips): each of its addresses names it, whatever the spelling of
 * the IPv6 text and whichever socket family saw the IPv4 one. */
static void by_ip__sandbox_with_several_ips(void **state)
{
	static const struct net_override dual = {
		.extra = { "FD00:10:244:91:0:0:0:2", "10.245.0.2" }, .n_extra = 2,
	};
	struct fixture *t = *state;
	struct workload w = { .cgid = t->httpd };
	uint8_t a[16];
	struct wl_meta m;

	web_net = &dual;
	start(t, true);
	assert_int_equal(meta_cache__resync(t->cache), 0);
	assert_int_equal(naming__workload(&t->naming, &w, &m), NAMING_EMIT);
	assert_int_equal(m.n_ips, 3);
	assert_string_equal(m.ips[0], "10.244.91.2");   /* primary first */
	ip4(a, "10.244.91.2");
	assert_true(naming__by_ip(&t->naming, AF_INET, a, &m));
	assert_string_equal(m.pod, "web");
	assert_int_equal(m.n_ips, 3);
	ip6(a, "fd00:10:244:91::2");
	assert_true(naming__by_ip(&t->naming, AF_INET6, a, &m));
	assert_string_equal(m.pod, "web");
	ip4(a, "10.245.0.2");
	assert_true(naming__by_ip(&t->naming, AF_INET, a, &m));
	assert_string_equal(m.pod, "web");
	ip6(a, "::ffff:10.245.0.2");   /* a dual-stack socket's view of the same peer */
	assert_true(naming__by_ip(&t->naming, AF_INET6, a, &m));
	assert_string_equal(m.pod, "web");
	ip6(a, "::ffff:10.244.91.3");
	assert_true(naming__by_ip(&t->naming, AF_INET6, a, &m));
	assert_string_equal(m.namespace_, "payments");
	assert_string_equal(m.pod, "client");
	ip6(a, "fd00:10:244:91::3");
	assert_false(naming__by_ip(&t->naming, AF_INET6, a, &m));
	ip6(a, "::10.244.91.2");   /* IPv4-compatible, not mapped: another address */
	assert_false(naming__by_ip(&t->naming, AF_INET6, a, &m));
	assert_false(naming__by_ip(&t->naming, 0, a, &m));
}

/* Two pods reporting one address (host-network pods report the node's): no pod owns it. */
static void by_ip__address_of_two_pods__unnamed(void **state)
{
	static const struct net_override shared = { .ip = "10.244.91.2" };
	struct fixture *t = *state;
	uint8_t a[4];
	struct wl_meta m;

	client_net = &shared;
	start(t, true);
	assert_int_equal(meta_cache__resync(t->cache), 0);
	ip4(a, "10.244.91.2");
	assert_false(naming__by_ip(&t->naming, AF_INET, a, &m));
}

static void no_metadata__named_by_path(void **state)
{
	struct fixture *t = *state;
	struct naming n = { .meta = NULL, .paths = &t->paths, .node = "host-1" };
	struct workload w = { .cgid = t->fetcher };
	uint8_t ip[4] = { 10, 244, 91, 2 };
	struct wl_meta m;

	assert_int_equal(naming__workload(&n, &w, &m), NAMING_EMIT);   /* never held without a runtime */
	assert_string_equal(m.cgroup_path, FETCH_PATH);
	assert_string_equal(m.node, "host-1");
	assert_true(naming__cgroup(&n, t->nginx, &m));
	assert_string_equal(m.cgroup_path, NGINX_PATH);
	assert_false(naming__by_ip(&n, AF_INET, ip, &m));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(workload__pod_container__named_with_its_pod, setup, teardown),
		cmocka_unit_test_setup_teardown(workload__host_cgroup__named_by_its_path, setup, teardown),
		cmocka_unit_test_setup_teardown(workload__not_monitored__skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(workload__unresolved_pod_cgroup__held_then_named_by_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(naming__changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(by_ip__pod_on_this_node, setup, teardown),
		cmocka_unit_test_setup_teardown(workload__pod_ips_from_sandbox_status, setup, teardown),
		cmocka_unit_test_setup_teardown(by_ip__sandbox_with_several_ips, setup, teardown),
		cmocka_unit_test_setup_teardown(by_ip__address_of_two_pods__unnamed, setup, teardown),
		cmocka_unit_test_setup_teardown(no_metadata__named_by_path, setup, teardown),
	};

	log__init("test_agent_naming", LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
