/* Unit tests for cri/cgroup_path.c: one table row per runtime x cgroup driver x QoS, plus
 * non-pod workloads and the CRI cgroupsPath -> cgroup2 path conversion. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cri/cgroup_path.h"

#define UID "5b0c2a9e-6f1d-4c55-9a0e-5d2f1b7e0a11"
#define UIDU "5b0c2a9e_6f1d_4c55_9a0e_5d2f1b7e0a11"
#define ID "63192c620109b963fec580c4b3e67d22bf70b1d433b91950795ba43151ce9b2a"

static const struct row {
	const char *path;
	enum cg_kind kind;
	enum cg_runtime rt;
	enum cg_qos qos;
	const char *uid, *id, *name;
} rows[] = {
	/* cgroupfs driver (containerd, docker via cri-dockerd: plain id; CRI-O: crio-<id>) */
	{ "/kubepods/besteffort/pod" UID "/" ID, CG_KIND_CONTAINER, CG_RT_UNKNOWN, CG_QOS_BESTEFFORT, UID, ID, "" },
	{ "/kubepods/burstable/pod" UID "/" ID, CG_KIND_CONTAINER, CG_RT_UNKNOWN, CG_QOS_BURSTABLE, UID, ID, "" },
	{ "/kubepods/pod" UID "/" ID, CG_KIND_CONTAINER, CG_RT_UNKNOWN, CG_QOS_GUARANTEED, UID, ID, "" },
	{ "/kubepods/besteffort/pod" UID "/crio-" ID, CG_KIND_CONTAINER, CG_RT_CRIO, CG_QOS_BESTEFFORT, UID, ID, "" },
	{ "/kubepods/besteffort/pod" UID, CG_KIND_POD, CG_RT_NONE, CG_QOS_BESTEFFORT, UID, "", "" },
	{ "/kubepods/pod" UID, CG_KIND_POD, CG_RT_NONE, CG_QOS_GUARANTEED, UID, "", "" },
	/* systemd driver */
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice/cri-containerd-" ID ".scope",
	  CG_KIND_CONTAINER, CG_RT_CONTAINERD, CG_QOS_BESTEFFORT, UID, ID, "" },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice/crio-" ID ".scope",
	  CG_KIND_CONTAINER, CG_RT_CRIO, CG_QOS_BURSTABLE, UID, ID, "" },
	{ "/kubepods.slice/kubepods-pod" UIDU ".slice/docker-" ID ".scope",
	  CG_KIND_CONTAINER, CG_RT_DOCKER, CG_QOS_GUARANTEED, UID, ID, "" },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice",
	  CG_KIND_POD, CG_RT_NONE, CG_QOS_BURSTABLE, UID, "", "" },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice/crio-conmon-" ID ".scope",
	  CG_KIND_POD, CG_RT_NONE, CG_QOS_BURSTABLE, UID, "", "" },
	/* a cgroup inside a container (systemd in a pod) belongs to the container */
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice/cri-containerd-" ID ".scope/init.scope",
	  CG_KIND_CONTAINER, CG_RT_CONTAINERD, CG_QOS_BESTEFFORT, UID, ID, "" },
	/* nested (kind, k3s in docker) */
	{ "/kubelet/kubepods/besteffort/pod" UID "/" ID, CG_KIND_CONTAINER, CG_RT_UNKNOWN, CG_QOS_BESTEFFORT, UID, ID, "" },
	/* static pods have a 32-hex uid */
	{ "/kubepods/burstable/pod0123456789abcdef0123456789abcdef/" ID, CG_KIND_CONTAINER, CG_RT_UNKNOWN,
	  CG_QOS_BURSTABLE, "0123456789abcdef0123456789abcdef", ID, "" },
	/* kubepods levels themselves are no workload */
	{ "/kubepods", CG_KIND_OTHER, CG_RT_NONE, CG_QOS_NONE, "", "", "kubepods" },
	{ "/kubepods.slice/kubepods-besteffort.slice", CG_KIND_OTHER, CG_RT_NONE, CG_QOS_NONE, "", "", "kubepods-besteffort.slice" },
	/* containers without Kubernetes */
	{ "/system.slice/docker-" ID ".scope", CG_KIND_CONTAINER, CG_RT_DOCKER, CG_QOS_NONE, "", ID, "" },
	{ "/docker/" ID, CG_KIND_CONTAINER, CG_RT_DOCKER, CG_QOS_NONE, "", ID, "" },
	/* plain host workloads */
	{ "/system.slice/nginx.service", CG_KIND_SYSTEMD_UNIT, CG_RT_NONE, CG_QOS_NONE, "", "", "nginx.service" },
	{ "/system.slice/containerd.service/sub", CG_KIND_SYSTEMD_UNIT, CG_RT_NONE, CG_QOS_NONE, "", "", "containerd.service" },
	{ "/user.slice/user-1000.slice/session-3.scope", CG_KIND_USER, CG_RT_NONE, CG_QOS_NONE, "", "", "user-1000.slice" },
	{ "/user.slice/user-0.slice/user@0.service/app.slice/x.service", CG_KIND_USER, CG_RT_NONE, CG_QOS_NONE, "", "", "user-0.slice" },
	{ "/init.scope", CG_KIND_SYSTEMD_UNIT, CG_RT_NONE, CG_QOS_NONE, "", "", "init.scope" },
	{ "/", CG_KIND_ROOT, CG_RT_NONE, CG_QOS_NONE, "", "", "root" },
	{ "/machine.slice/libvirt-qemu-1.scope", CG_KIND_OTHER, CG_RT_NONE, CG_QOS_NONE, "", "", "libvirt-qemu-1.scope" },
	/* near misses: not containers */
	{ "/kubepods/besteffort/pod" UID "/not-hex-xyz", CG_KIND_POD, CG_RT_NONE, CG_QOS_BESTEFFORT, UID, "", "" },
	{ "/kubepods/besteffort/podXYZ/" ID, CG_KIND_OTHER, CG_RT_NONE, CG_QOS_NONE, "", "", ID },
	{ "/system.slice/docker-abc.scope", CG_KIND_SYSTEMD_UNIT, CG_RT_NONE, CG_QOS_NONE, "", "", "docker-abc.scope" },
};

static void parse__table__each_runtime_driver_and_qos(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct cgroup_info ci;

		assert_int_equal(cgroup_path__parse(r->path, &ci), 0);
		if (ci.kind != r->kind || ci.runtime != r->rt || ci.qos != r->qos || strcmp(ci.pod_uid, r->uid) ||
		    strcmp(ci.container_id, r->id) || strcmp(ci.name, r->name))
			fail_msg("row %zu %s: kind %d rt %d qos %d uid '%s' id '%s' name '%s'", i, r->path, ci.kind,
				 ci.runtime, ci.qos, ci.pod_uid, ci.container_id, ci.name);
	}
}

static void parse__relative_or_null__einval(void **state)
{
	struct cgroup_info ci;

	assert_int_equal(cgroup_path__parse("kubepods/pod1", &ci), -EINVAL);
	assert_int_equal(cgroup_path__parse(NULL, &ci), -EINVAL);
}

static void parse__very_deep_or_long__bounded(void **state)
{
	char p[8192];
	size_t n = 0;
	struct cgroup_info ci;

	while (n + 3 < sizeof(p)) {
		p[n++] = '/';
		p[n++] = 'a';
	}
	p[n] = '\0';
	assert_int_equal(cgroup_path__parse(p, &ci), 0);
	assert_int_equal(ci.kind, CG_KIND_OTHER);
	memset(p, 'x', sizeof(p));
	p[0] = '/';
	p[sizeof(p) - 1] = '\0';
	assert_int_equal(cgroup_path__parse(p, &ci), 0);
	assert_int_equal(strlen(ci.name), sizeof(ci.name) - 1);
}

static void from_cri__cgroupfs_and_systemd_forms(void **state)
{
	char out[512];

	assert_int_equal(cgroup_path__from_cri("/kubepods/besteffort/pod" UID "/" ID, out, sizeof(out)), 0);
	assert_string_equal(out, "/kubepods/besteffort/pod" UID "/" ID);
	assert_int_equal(cgroup_path__from_cri("kubepods-besteffort-pod" UIDU ".slice:cri-containerd:" ID, out,
					       sizeof(out)), 0);
	assert_string_equal(out, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU
				 ".slice/cri-containerd-" ID ".scope");
	assert_int_equal(cgroup_path__from_cri("kubepods-pod" UIDU ".slice:crio:" ID, out, sizeof(out)), 0);
	assert_string_equal(out, "/kubepods.slice/kubepods-pod" UIDU ".slice/crio-" ID ".scope");
	assert_int_equal(cgroup_path__from_cri("system.slice:docker:" ID, out, sizeof(out)), 0);
	assert_string_equal(out, "/system.slice/docker-" ID ".scope");
	/* the result parses back to the same identity */
	{
		struct cgroup_info ci;

		assert_int_equal(cgroup_path__from_cri("kubepods-burstable-pod" UIDU ".slice:crio:" ID, out,
						       sizeof(out)), 0);
		assert_int_equal(cgroup_path__parse(out, &ci), 0);
		assert_int_equal(ci.kind, CG_KIND_CONTAINER);
		assert_int_equal(ci.runtime, CG_RT_CRIO);
		assert_int_equal(ci.qos, CG_QOS_BURSTABLE);
		assert_string_equal(ci.pod_uid, UID);
	}
}

static void from_cri__malformed__einval_or_too_long(void **state)
{
	char out[64];

	assert_int_equal(cgroup_path__from_cri("kubepods:cri-containerd", out, sizeof(out)), -EINVAL);
	assert_int_equal(cgroup_path__from_cri("nothing", out, sizeof(out)), -EINVAL);
	assert_int_equal(cgroup_path__from_cri("a.slice:b:c:d", out, sizeof(out)), -EINVAL);
	assert_int_equal(cgroup_path__from_cri("a.slice:b:", out, sizeof(out)), -EINVAL);
	assert_int_equal(cgroup_path__from_cri("x/y.slice:b:c", out, sizeof(out)), -EINVAL);
	assert_int_equal(cgroup_path__from_cri("kubepods-besteffort-pod" UIDU ".slice:cri-containerd:" ID, out,
					       sizeof(out)), -ENAMETOOLONG);
}

static void names__runtime_and_qos(void **state)
{
	assert_string_equal(cg_runtime__name(CG_RT_CRIO), "cri-o");
	assert_string_equal(cg_qos__name(CG_QOS_BESTEFFORT), "BestEffort");
	assert_string_equal(cg_qos__name(CG_QOS_NONE), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse__table__each_runtime_driver_and_qos),
		cmocka_unit_test(parse__relative_or_null__einval),
		cmocka_unit_test(parse__very_deep_or_long__bounded),
		cmocka_unit_test(from_cri__cgroupfs_and_systemd_forms),
		cmocka_unit_test(from_cri__malformed__einval_or_too_long),
		cmocka_unit_test(names__runtime_and_qos),
	};
	return cmocka_run_group_tests_name("cri_cgroup_path", tests, NULL, NULL);
}
