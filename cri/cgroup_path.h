/* cgroup path -> workload identity. Pure and table-driven (one table row per runtime and
 * cgroup driver), no I/O.
 *
 * Paths are relative to the cgroup2 mount, starting with '/':
 *   cgroupfs driver  /kubepods[/burstable|/besteffort]/pod<uid>/<container id>       (containerd,
 *                    docker via cri-dockerd), .../pod<uid>/crio-<id>                  (CRI-O)
 *   systemd driver   /kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_with_underscores>.slice/
 *                    cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
 *   plain hosts      /system.slice/nginx.service -> unit "nginx.service",
 *                    /user.slice/user-1000.slice/... -> "user-1000.slice",
 *                    /system.slice/docker-<id>.scope, /docker/<id> -> a container without pod.
 * A prefix before "kubepods" (kind, k3s in docker: /kubelet/kubepods/...) is allowed; deeper
 * cgroups inside a container (systemd in a pod) resolve to that container. */
#ifndef PODLENS_CRI_CGROUP_PATH_H
#define PODLENS_CRI_CGROUP_PATH_H

#include <stddef.h>

enum cg_kind {
	CG_KIND_OTHER = 0,       /* named by its path (name) */
	CG_KIND_ROOT,            /* "/" */
	CG_KIND_POD,             /* a pod-level cgroup (pod_uid set, no container) */
	CG_KIND_CONTAINER,       /* container_id set; pod_uid set when it belongs to a pod */
	CG_KIND_SYSTEMD_UNIT,    /* name = "nginx.service" */
	CG_KIND_USER,            /* name = "user-1000.slice" */
};

enum cg_runtime {
	CG_RT_NONE = 0,
	CG_RT_UNKNOWN,           /* cgroupfs driver, plain id: containerd or docker, cannot tell */
	CG_RT_CONTAINERD,
	CG_RT_CRIO,
	CG_RT_DOCKER,
};

enum cg_qos { CG_QOS_NONE = 0, CG_QOS_GUARANTEED, CG_QOS_BURSTABLE, CG_QOS_BESTEFFORT };

#define CG_UID_MAX 64
#define CG_ID_MAX 64

struct cgroup_info {
	enum cg_kind kind;
	enum cg_runtime runtime;
	enum cg_qos qos;
	char pod_uid[CG_UID_MAX + 1];        /* with dashes, as in the API ("5b0c2a9e-6f1d-...") */
	char container_id[CG_ID_MAX + 1];    /* hex */
	char name[256];                       /* non-pod workload name; "" for pods/containers */
};

/* Always fills *out (CG_KIND_OTHER with the last path component as name when nothing
 * matches). Returns 0, or -EINVAL for a path not starting with '/'. */
int cgroup_path__parse(const char *path, struct cgroup_info *out);

/* A CRI cgroupsPath to a path under the cgroup2 mount: "/kubepods/..." is returned as is;
 * the systemd form "kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>" becomes
 * "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope".
 * Returns 0, -EINVAL (unknown form), -ENAMETOOLONG. */
int cgroup_path__from_cri(const char *cgroups_path, char *out, size_t out_len);

const char *cg_runtime__name(enum cg_runtime rt);   /* "containerd", "cri-o", "docker", ... */
const char *cg_qos__name(enum cg_qos q);            /* "Guaranteed", "Burstable", "BestEffort", "" */

#endif
