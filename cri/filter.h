/* Which workloads are monitored, and with or without L7 payload capture. Pure.
 *
 * monitored: pod annotation podlens.io/monitor "true"/"false" > the same annotation on the
 *            pod's Namespace > config (namespaces.include globs, then namespaces.exclude globs;
 *            default include ["*"], exclude ["kube-system"]). Non-pod workloads: host.monitor
 *            and a match of their cgroup path against host.cgroups (globs, default ["*"]).
 * l7:        false when not monitored or l7.enabled is off; else pod annotation podlens.io/l7 >
 *            namespace annotation > true.
 * dns:       false when l7 is; else pod annotation podlens.io/dns > namespace annotation > true.
 * Annotation values are compared case-insensitively; anything but "true"/"false" is ignored. */
#ifndef PODLENS_CRI_FILTER_H
#define PODLENS_CRI_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "cri/cri_parse.h"

enum filter_source { FILTER_BY_CONFIG = 0, FILTER_BY_NAMESPACE, FILTER_BY_POD, FILTER_BY_HOST };

struct filter_decision {
	bool monitored;
	bool l7;
	bool dns;                 /* DNS capture (agent/l7/dns_module.c) */
	enum filter_source why;   /* what decided "monitored" */
};

struct filter_config {
	const char *const *include;   /* fnmatch globs, NULL-terminated; NULL = {"*"} */
	const char *const *exclude;   /* NULL = {"kube-system"}; an empty list {NULL} excludes nothing */
	const char *monitor_key;      /* NULL = "podlens.io/monitor" */
	const char *l7_key;           /* NULL = "podlens.io/l7" */
	const char *dns_key;          /* NULL = "podlens.io/dns" */
	const char *const *host_cgroups;   /* non-pod cgroup path globs, NULL-terminated; NULL = {"*"} */
	bool host_monitor;            /* non-pod workloads (config host.monitor, default true) */
	bool l7_enabled;              /* config l7.enabled / --no-l7 (default true) */
};

/* host_monitor = l7_enabled = true, other fields NULL (= the defaults above). */
void filter_config__defaults(struct filter_config *c);

/* ns_annotations NULL when the namespace is unknown (no Kubernetes API access). */
void filter__decide_pod(const struct filter_config *c, const char *ns, const struct cri_kvs *pod_annotations,
			const struct cri_kvs *ns_annotations, struct filter_decision *out);
/* path: the cgroup's path below the cgroup2 mount ("/system.slice/nginx.service"); NULL = "/" */
void filter__decide_host(const struct filter_config *c, const char *path, struct filter_decision *out);
/* true when every non-pod cgroup is monitored (host.monitor on, host.cgroups matches anything) */
bool filter__all_hosts(const struct filter_config *c);

/* "true" -> 1, "false" -> 0, anything else (or NULL) -> -1 */
int filter__bool_value(const char *v);

bool filter_decision__equal(const struct filter_decision *a, const struct filter_decision *b);

#endif
