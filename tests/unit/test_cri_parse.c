/* Unit tests for cri/cri_parse.c on replies captured from containerd 1.6.20
 * (tests/fixtures/cri/, ground truth in its README), plus truncated and malformed replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cri/cri_parse.h"
#include "cri/v1/api.pb-c.h"

#define WEB_ID "97a919c0a229c9a91f28cb81fd860fd61417d42bf6f222047bdd96583b393012"
#define WEB_UID "5b0c2a9e-6f1d-4c55-9a0e-5d2f1b7e0a11"
#define CLI_UID "8d4e7f10-3a2b-4c6d-8e9f-0a1b2c3d4e5f"
#define BATCH_ID "e8937e522b17637f0087ac716c380c8973174c8891979081ca7d357966ad3212"
#define HTTPD_ID "63192c620109b963fec580c4b3e67d22bf70b1d433b91950795ba43151ce9b2a"
#define ONCE_ID "5fe6233ebd9ac16aaac2e5c1093367e2c9f707df3f6aa8e88201417e061a855b"

static const char *const fixtures[] = {
	"Version.pb", "ListPodSandbox.pb", "ListContainers.pb", "PodSandboxStatus.shop_web.pb",
	"PodSandboxStatus.payments_client.pb", "PodSandboxStatus.jobs_batch.pb",
	"ContainerStatus.shop_web_httpd.pb", "ContainerStatus.payments_client_fetcher.pb",
	"ContainerStatus.jobs_batch_once.pb",
};

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
		fail_msg("fixture %s: %s (run from the repository top)", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? n : 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void version__containerd_fixture__names_runtime(void **state)
{
	struct cri_version v;
	size_t n;
	uint8_t *b = load("Version.pb", &n);

	assert_int_equal(cri_parse__version(b, n, &v), 0);
	assert_string_equal(v.runtime_name, "containerd");
	assert_string_equal(v.runtime_version, "1.6.20~ds1");
	assert_string_equal(v.runtime_api_version, "v1");
	free(b);
}

static const struct cri_pod *find_pod(const struct cri_pod *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return &p[i];
	fail_msg("pod %s not in list", name);
	return NULL;
}

static void pod_list__fixture__three_pods_with_labels_and_annotations(void **state)
{
	struct cri_pod *pods;
	const struct cri_pod *p;
	size_t n, len;
	uint8_t *b = load("ListPodSandbox.pb", &len);

	assert_int_equal(cri_parse__pod_list(b, len, &pods, &n), 0);
	assert_int_equal(n, 3);
	p = find_pod(pods, n, "web");
	assert_string_equal(p->id, WEB_ID);
	assert_string_equal(p->namespace, "shop");
	assert_string_equal(p->uid, WEB_UID);
	assert_int_equal(p->state, CRI_POD_READY);
	assert_string_equal(cri_kvs__get(&p->annotations, "podlens.io/monitor"), "true");
	assert_string_equal(cri_kvs__get(&p->annotations, "team"), "storefront");
	assert_string_equal(cri_kvs__get(&p->labels, "app"), "web");
	assert_null(cri_kvs__get(&p->annotations, "podlens.io/l7"));
	p = find_pod(pods, n, "batch");
	assert_string_equal(p->namespace, "jobs");
	assert_string_equal(cri_kvs__get(&p->annotations, "podlens.io/monitor"), "false");
	assert_string_equal(cri_kvs__get(&p->annotations, "podlens.io/l7"), "false");
	assert_string_equal(cri_kvs__get(&p->labels, "pod-template-hash"), "abc");
	p = find_pod(pods, n, "client");
	assert_string_equal(p->uid, CLI_UID);
	assert_true(p->created_at > 1700000000000000000LL);
	cri_pods__free(pods, n);
	free(b);
}

static void pod_status__verbose_fixture__ip_pid_and_cgroup_parent(void **state)
{
	struct cri_pod p;
	size_t len;
	uint8_t *b = load("PodSandboxStatus.shop_web.pb", &len);

	assert_int_equal(cri_parse__pod_status(b, len, &p), 0);
	assert_string_equal(p.id, WEB_ID);
	assert_string_equal(p.name, "web");
	assert_string_equal(p.namespace, "shop");
	assert_int_equal(p.n_ips, 1);
	assert_string_equal(p.ips[0], "10.244.91.2");
	assert_string_equal(p.cgroup_parent, "/kubepods/besteffort/pod" WEB_UID);
	assert_int_equal(p.pid, 12671);
	assert_string_equal(cri_kvs__get(&p.annotations, "podlens.io/monitor"), "true");
	cri_pod__free(&p);
	assert_null(p.id);
	free(b);
}

static void container_list__fixture__three_containers_with_pod_ids(void **state)
{
	struct cri_container *c;
	size_t n, len, seen = 0;
	uint8_t *b = load("ListContainers.pb", &len);

	assert_int_equal(cri_parse__container_list(b, len, &c, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(c[i].image, "localhost/busybox:local");
		if (!strcmp(c[i].name, "httpd")) {
			assert_string_equal(c[i].id, HTTPD_ID);
			assert_string_equal(c[i].pod_id, WEB_ID);
			assert_int_equal(c[i].state, CRI_CTR_RUNNING);
			assert_string_equal(cri_kvs__get(&c[i].labels, "io.kubernetes.pod.namespace"), "shop");
			seen++;
		} else if (!strcmp(c[i].name, "once")) {
			assert_string_equal(c[i].id, ONCE_ID);
			assert_string_equal(c[i].pod_id, BATCH_ID);
			assert_int_equal(c[i].state, CRI_CTR_EXITED);
			seen++;
		} else {
			assert_string_equal(c[i].name, "fetcher");
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	cri_containers__free(c, n);
	free(b);
}

static void container_status__verbose_fixture__cgroups_path_pid_and_sandbox(void **state)
{
	struct cri_container c;
	size_t len;
	uint8_t *b = load("ContainerStatus.shop_web_httpd.pb", &len);

	assert_int_equal(cri_parse__container_status(b, len, &c), 0);
	assert_string_equal(c.id, HTTPD_ID);
	assert_string_equal(c.name, "httpd");
	assert_string_equal(c.pod_id, WEB_ID);
	assert_int_equal(c.pid, 12710);
	assert_string_equal(c.cgroups_path, "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID);
	assert_string_equal(cri_kvs__get(&c.labels, "io.kubernetes.pod.uid"), WEB_UID);
	assert_int_equal(c.state, CRI_CTR_RUNNING);
	assert_true(c.started_at >= c.created_at);
	cri_container__free(&c);
	free(b);
}

static void container_status__exited__no_pid_but_cgroups_path(void **state)
{
	struct cri_container c;
	size_t len;
	uint8_t *b = load("ContainerStatus.jobs_batch_once.pb", &len);

	assert_int_equal(cri_parse__container_status(b, len, &c), 0);
	assert_int_equal(c.state, CRI_CTR_EXITED);
	assert_int_equal(c.pid, 0);
	assert_true(c.finished_at >= c.started_at);
	assert_string_equal(c.pod_id, BATCH_ID);
	assert_non_null(strstr(c.cgroups_path, ONCE_ID));
	cri_container__free(&c);
	free(b);
}

/* Run the parser that fits a fixture name; returns its result and frees any output. */
static int parse_any(const char *name, const uint8_t *b, size_t n)
{
	struct cri_version v;
	struct cri_pod p, *pods = (void *)1;
	struct cri_container c, *ctrs = (void *)1;
	size_t cnt = 99;
	int err;

	if (!strncmp(name, "Version", 7))
		return cri_parse__version(b, n, &v);
	if (!strncmp(name, "ListPodSandbox", 14)) {
		err = cri_parse__pod_list(b, n, &pods, &cnt);
		if (err) {
			assert_null(pods);
			assert_int_equal(cnt, 0);
		}
		cri_pods__free(pods, cnt);
		return err;
	}
	if (!strncmp(name, "ListContainers", 14)) {
		err = cri_parse__container_list(b, n, &ctrs, &cnt);
		if (err) {
			assert_null(ctrs);
			assert_int_equal(cnt, 0);
		}
		cri_containers__free(ctrs, cnt);
		return err;
	}
	if (!strncmp(name, "PodSandboxStatus", 16)) {
		err = cri_parse__pod_status(b, n, &p);
		if (err)
			assert_null(p.id);
		cri_pod__free(&p);
		return err;
	}
	err = cri_parse__container_status(b, n, &c);
	if (err)
		assert_null(c.id);
	cri_container__free(&c);
	return err;
}

static void every_fixture__cut_by_one_byte__ebadmsg_and_output_untouched(void **state)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		size_t n;
		uint8_t *b = load(fixtures[i], &n);

		assert_int_equal(parse_any(fixtures[i], b, n), 0);
		assert_int_equal(parse_any(fixtures[i], b, n - 1), -EBADMSG);
		/* every prefix: an error or a (shorter) valid message, never a crash or a leak */
		for (size_t k = 0; k < n; k++) {
			int err = parse_any(fixtures[i], b, k);

			assert_true(err == 0 || err == -EBADMSG || err == -EPROTO);
		}
		free(b);
	}
}

static void garbage__ebadmsg(void **state)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x80 };
	struct cri_pod *pods;
	size_t n;

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		assert_int_equal(parse_any(fixtures[i], junk, sizeof(junk)), -EBADMSG);
	assert_int_equal(cri_parse__pod_list(junk, sizeof(junk), &pods, &n), -EBADMSG);
	assert_null(pods);
}

/* A ContainerStatusResponse packed here with the given info string. */
static uint8_t *pack_status(const char *id, const char *info, size_t *len)
{
	Runtime__V1__ContainerStatus st = RUNTIME__V1__CONTAINER_STATUS__INIT;
	Runtime__V1__ContainerStatusResponse r = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
	Runtime__V1__ContainerStatusResponse__InfoEntry e =
		RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INFO_ENTRY__INIT;
	Runtime__V1__ContainerStatusResponse__InfoEntry *ep = &e;
	uint8_t *b;

	st.id = (char *)id;
	r.status = &st;
	if (info) {
		e.key = "info";
		e.value = (char *)info;
		r.n_info = 1;
		r.info = &ep;
	}
	*len = runtime__v1__container_status_response__get_packed_size(&r);
	b = malloc(*len ? *len : 1);
	runtime__v1__container_status_response__pack(&r, b);
	return b;
}

static void container_status__bad_verbose_json__ebadmsg(void **state)
{
	static const char *const bad[] = {
		"{not json", "[1,2]", "{\"pid\":\"12\"}", "{\"pid\":-1}",
		"{\"pid\":1,\"runtimeSpec\":{\"linux\":{\"cgroupsPath\":7}}}",
	};
	struct cri_container c;
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *b = pack_status("abc", bad[i], &len);

		assert_int_equal(cri_parse__container_status(b, len, &c), -EBADMSG);
		assert_null(c.id);
		assert_null(c.cgroups_path);
		free(b);
	}
}

static void container_status__no_info_or_partial_info__ok(void **state)
{
	struct cri_container c;
	size_t len;
	uint8_t *b = pack_status("abc", NULL, &len);

	assert_int_equal(cri_parse__container_status(b, len, &c), 0);
	assert_int_equal(c.pid, 0);
	assert_null(c.cgroups_path);
	cri_container__free(&c);
	free(b);
	/* systemd driver form, no pid */
	b = pack_status("abc", "{\"runtimeSpec\":{\"linux\":{\"cgroupsPath\":\"kubepods-pod1.slice:cri-containerd:abc\"}}}", &len);
	assert_int_equal(cri_parse__container_status(b, len, &c), 0);
	assert_string_equal(c.cgroups_path, "kubepods-pod1.slice:cri-containerd:abc");
	cri_container__free(&c);
	free(b);
}

static void container_status__missing_id__eproto(void **state)
{
	struct cri_container c;
	size_t len;
	uint8_t *b = pack_status("", "{\"pid\":5}", &len);

	assert_int_equal(cri_parse__container_status(b, len, &c), -EPROTO);
	assert_null(c.id);
	free(b);
}

static void kvs__last_duplicate_wins_and_copy(void **state)
{
	struct cri_kv v[] = { { "a", "1" }, { "b", "2" }, { "a", "3" } };
	struct cri_kvs k = { v, 3 }, d;

	assert_string_equal(cri_kvs__get(&k, "a"), "3");
	assert_null(cri_kvs__get(&k, "c"));
	assert_int_equal(cri_kvs__copy(&d, &k), 0);
	assert_int_equal(d.n, 3);
	assert_string_equal(cri_kvs__get(&d, "b"), "2");
	cri_kvs__free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version__containerd_fixture__names_runtime),
		cmocka_unit_test(pod_list__fixture__three_pods_with_labels_and_annotations),
		cmocka_unit_test(pod_status__verbose_fixture__ip_pid_and_cgroup_parent),
		cmocka_unit_test(container_list__fixture__three_containers_with_pod_ids),
		cmocka_unit_test(container_status__verbose_fixture__cgroups_path_pid_and_sandbox),
		cmocka_unit_test(container_status__exited__no_pid_but_cgroups_path),
		cmocka_unit_test(every_fixture__cut_by_one_byte__ebadmsg_and_output_untouched),
		cmocka_unit_test(garbage__ebadmsg),
		cmocka_unit_test(container_status__bad_verbose_json__ebadmsg),
		cmocka_unit_test(container_status__no_info_or_partial_info__ok),
		cmocka_unit_test(container_status__missing_id__eproto),
		cmocka_unit_test(kvs__last_duplicate_wins_and_copy),
	};
	return cmocka_run_group_tests_name("cri_parse", tests, NULL, NULL);
}
