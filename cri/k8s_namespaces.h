/* Optional list+watch of Namespace objects (only those: few and rarely changing) on the
 * Kubernetes API, on its own thread, giving namespace -> annotations for the filter.
 *
 *   GET /api/v1/namespaces                          -> NamespaceList, metadata.resourceVersion
 *   GET /api/v1/namespaces?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N
 *       -> one JSON event per line: {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}
 *   ERROR with a Status of code 410 (Expired/Gone), or HTTP 410 -> relist; a closed stream ->
 *   watch again from the last resourceVersion; other errors -> relist after a backoff (1 s
 *   doubling to 30 s). Shapes: Kubernetes API reference and "API concepts: efficient detection
 *   of changes" (kubernetes.io/docs/reference/using-api/api-concepts/).
 *
 * In-cluster config: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with
 * /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}; every piece overridable. */
#ifndef PODLENS_CRI_K8S_NAMESPACES_H
#define PODLENS_CRI_K8S_NAMESPACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cri/cri_parse.h"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct k8s_api_opts {
	const char *url;          /* NULL = from KUBERNETES_SERVICE_HOST/PORT (IPv6 bracketed) */
	const char *token_file;   /* NULL = K8S_SA_DIR/token */
	const char *ca_file;      /* NULL = K8S_SA_DIR/ca.crt */
	unsigned timeout_ms;      /* list and connect deadline; 0 = 5000 */
	unsigned watch_timeout_s; /* server-side watch timeout; 0 = 300 */
};

/* true when KUBERNETES_SERVICE_HOST is set (the --k8s-api auto rule) */
bool k8s__in_cluster(void);

struct k8s_ns_watch;

/* Starts the thread (the first list happens there). NULL + errno: ENOENT when no url is given
 * and KUBERNETES_SERVICE_HOST is unset, ENOMEM, or pthread_create's error. */
struct k8s_ns_watch *k8s_ns_watch__start(const struct k8s_api_opts *o);
/* Stops the thread (within ~1 s) and frees everything. NULL-safe. */
void k8s_ns_watch__stop(struct k8s_ns_watch *w);

/* Changes on every namespace add/change/delete and relist; 0 until the first list succeeded. */
uint64_t k8s_ns_watch__generation(struct k8s_ns_watch *w);
/* Deep copy of a namespace's annotations into *out (free with cri_kvs__free): 0, or -ENOENT
 * when the namespace is unknown. */
int k8s_ns_watch__annotations(struct k8s_ns_watch *w, const char *ns, struct cri_kvs *out);

struct k8s_ns_stats {
	uint64_t lists, watches, events, relists_gone, errors;
	size_t namespaces;
};
void k8s_ns_watch__stats(struct k8s_ns_watch *w, struct k8s_ns_stats *s);

/* --- pure parsers (exposed for tests and fuzzing) --- */
struct k8s_ns {
	char *name;
	struct cri_kvs annotations;
};

/* NamespaceList -> namespaces + list resourceVersion. 0, -EBADMSG, -ENOMEM. */
int k8s_ns__parse_list(const char *json, size_t len, struct k8s_ns **out, size_t *n, char *rv, size_t rv_len);
void k8s_ns__free(struct k8s_ns *ns, size_t n);

enum k8s_event_type { K8S_EV_ADDED, K8S_EV_MODIFIED, K8S_EV_DELETED, K8S_EV_BOOKMARK, K8S_EV_ERROR };

/* One watch event line. For ADDED/MODIFIED/DELETED *ns is filled (free with k8s_ns__free(ns, 1)
 * semantics: k8s_ns__clear) and rv is the object's resourceVersion; for BOOKMARK only rv; for
 * ERROR *code is the Status code (410 = relist). 0, -EBADMSG, -ENOMEM. */
int k8s_ns__parse_event(const char *line, size_t len, enum k8s_event_type *type, struct k8s_ns *ns,
			char *rv, size_t rv_len, int *code);
void k8s_ns__clear(struct k8s_ns *ns);

#endif
