/* Kubelet /pods client (optional): GET <url>/pods (https :10250 with a bearer token file and CA,
 * or plain http on a read-only port), PodList JSON parsed with jansson into pods with their
 * owner workload, IPs, labels, annotations and container IDs.
 *
 * Owner workload (from metadata.ownerReferences, the controller reference first):
 *   ReplicaSet "web-5d4f8b7c9" with label pod-template-hash=5d4f8b7c9 -> Deployment "web"
 *   (without that label it stays ReplicaSet), StatefulSet, DaemonSet as is, Job "backup-29145600"
 *   -> CronJob "backup" when the suffix is a CronJob schedule time (decimal minutes since the
 *   epoch, 8 digits: the PodList carries nothing else that names the CronJob), otherwise Job;
 *   Node (static pods) and other kinds as is; no owner -> "" (a bare pod). */
#ifndef PODLENS_CRI_KUBELET_H
#define PODLENS_CRI_KUBELET_H

#include <stddef.h>

#include "cri/cri_parse.h"
#include "cri/k8s_http.h"

struct k8s_container {
	char *name;
	char *id;                 /* bare id ("containerd://<id>" -> "<id>"); "" when not started */
	char *runtime;            /* "containerd", "cri-o", "docker", "" */
	char *image;
};

struct k8s_pod {
	char *namespace, *name, *uid, *node;
	struct cri_kvs labels, annotations;
	char **ips;               /* status.podIPs (status.podIP when podIPs is absent) */
	size_t n_ips;
	char *owner_kind, *owner_name;   /* resolved workload, see above */
	struct k8s_container *ctrs;      /* containerStatuses, then initContainerStatuses */
	size_t n_ctrs;
};

/* PodList JSON -> pods. 0, -EBADMSG (not JSON / not a PodList), -ENOMEM. Items without
 * metadata.uid are skipped. */
int kubelet__parse_pods(const char *json, size_t len, struct k8s_pod **pods, size_t *n);
void k8s_pods__free(struct k8s_pod *pods, size_t n);

/* Owner resolution alone (pure): kind/name of the controller reference, the pod's labels.
 * Writes the workload kind and name. */
void k8s__resolve_owner(const char *ref_kind, const char *ref_name, const struct cri_kvs *labels,
			char *kind, size_t kind_len, char *name, size_t name_len);

/* Without kubelet: guess the owner from CRI data only (pod name and labels): a pod-template-hash
 * label and a name "<x>-<hash>-<suffix>" give Deployment <x>; "controller-revision-hash" with
 * "statefulset.kubernetes.io/pod-name" gives StatefulSet; "job-name" gives Job/CronJob as above.
 * Returns 1 when guessed, 0 otherwise (kind/name set to ""). */
int k8s__guess_owner(const char *pod_name, const struct cri_kvs *labels, char *kind, size_t kind_len,
		     char *name, size_t name_len);

struct kubelet_opts {
	const char *url;          /* "https://10.0.0.5:10250" or "http://127.0.0.1:10255" */
	const char *token_file;
	const char *ca_file;      /* NULL with https: system CAs */
	unsigned timeout_ms;      /* 0 = 3000 */
};

/* GET /pods: 0, -EACCES (401/403), -EPROTO (other HTTP status), -EBADMSG, or a transport -errno. */
int kubelet__get_pods(const struct kubelet_opts *o, struct k8s_pod **pods, size_t *n);

#endif
