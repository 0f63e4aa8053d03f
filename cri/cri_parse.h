/* CRI v1 replies (binary protobuf, runtime.v1) -> plain C structs. Pure: no I/O, no gRPC.
 *
 * Every parser returns 0, -EBADMSG when the bytes are not a valid message of that type
 * (truncated, malformed) or the verbose info is not the JSON we expect, -EPROTO when a field
 * we cannot do without is missing (an id), -ENOMEM. On error the output is left zeroed, so a
 * caller's cache is never half-updated from a bad reply. Free with the matching __free(). */
#ifndef PODLENS_CRI_PARSE_H
#define PODLENS_CRI_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct cri_kv {
	char *key;
	char *value;
};

struct cri_kvs {
	struct cri_kv *v;
	size_t n;
};

/* value for key, NULL when absent */
const char *cri_kvs__get(const struct cri_kvs *kvs, const char *key);

struct cri_version {
	char runtime_name[64];
	char runtime_version[64];
	char runtime_api_version[32];
};

enum cri_pod_state { CRI_POD_READY = 0, CRI_POD_NOTREADY = 1 };
enum cri_ctr_state { CRI_CTR_CREATED = 0, CRI_CTR_RUNNING = 1, CRI_CTR_EXITED = 2, CRI_CTR_UNKNOWN = 3 };

struct cri_pod {
	char *id;                 /* sandbox id */
	char *name, *namespace, *uid;
	int state;                /* enum cri_pod_state */
	int64_t created_at;       /* ns since epoch */
	struct cri_kvs labels, annotations;
	/* PodSandboxStatus only */
	char **ips;               /* primary first */
	size_t n_ips;
	/* verbose info (PodSandboxStatus verbose=true, containerd) */
	int pid;                  /* 0 when unknown */
	char *cgroup_parent;      /* config.linux.cgroup_parent: the pod-level cgroup */
};

struct cri_container {
	char *id;
	char *pod_id;             /* sandbox id */
	char *name;
	char *image;              /* image.image as asked for ("nginx:1.25") */
	char *image_ref;
	int state;                /* enum cri_ctr_state */
	int64_t created_at, started_at, finished_at;
	struct cri_kvs labels, annotations;
	/* verbose info (ContainerStatus verbose=true, containerd) */
	int pid;
	char *cgroups_path;       /* runtimeSpec.linux.cgroupsPath: "/kubepods/..." (cgroupfs) or
	                             "kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>" (systemd) */
};

int cri_parse__version(const uint8_t *buf, size_t len, struct cri_version *out);

/* ListPodSandboxResponse -> array of pods (no ips, no verbose fields) */
int cri_parse__pod_list(const uint8_t *buf, size_t len, struct cri_pod **pods, size_t *n);
/* PodSandboxStatusResponse (with verbose info when present) */
int cri_parse__pod_status(const uint8_t *buf, size_t len, struct cri_pod *out);
/* ListContainersResponse -> array (no verbose fields) */
int cri_parse__container_list(const uint8_t *buf, size_t len, struct cri_container **ctrs, size_t *n);
/* ContainerStatusResponse (with verbose info when present) */
int cri_parse__container_status(const uint8_t *buf, size_t len, struct cri_container *out);

/* The verbose "info" JSON string alone (exposed for tests and fuzzing). pid and the cgroup
 * path are set when present; either may be absent (CRI-O puts other keys there). */
int cri_parse__container_info(const char *json, size_t len, int *pid, char **cgroups_path);
int cri_parse__sandbox_info(const char *json, size_t len, int *pid, char **cgroup_parent);

void cri_pod__free(struct cri_pod *p);               /* frees members, zeroes *p */
void cri_container__free(struct cri_container *c);
void cri_pods__free(struct cri_pod *pods, size_t n);  /* members and the array */
void cri_containers__free(struct cri_container *c, size_t n);
/* Deep copies (0 or -ENOMEM). */
int cri_kvs__copy(struct cri_kvs *dst, const struct cri_kvs *src);
void cri_kvs__free(struct cri_kvs *kvs);

#endif
