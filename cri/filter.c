/* Monitoring decisions (see filter.h). */
#include "cri/filter.h"

#include <fnmatch.h>
#include <string.h>
#include <strings.h>

static const char *const default_include[] = { "*", NULL };
static const char *const default_exclude[] = { "kube-system", NULL };

void filter_config__defaults(struct filter_config *c)
{
	*c = (struct filter_config){ .host_monitor = true, .l7_enabled = true };
}

int filter__bool_value(const char *v)
{
	if (!v)
		return -1;
	if (!strcasecmp(v, "true"))
		return 1;
	if (!strcasecmp(v, "false"))
		return 0;
	return -1;
}

static bool any_match(const char *const *globs, const char *ns)
{
	for (; globs && *globs; globs++)
		if (fnmatch(*globs, ns, 0) == 0)
			return true;
	return false;
}

void filter__decide_pod(const struct filter_config *c, const char *ns, const struct cri_kvs *pod_ann,
			const struct cri_kvs *ns_ann, struct filter_decision *out)
{
	const char *mk = c->monitor_key ? c->monitor_key : "podlens.io/monitor";
	const char *lk = c->l7_key ? c->l7_key : "podlens.io/l7";
	const char *dk = c->dns_key ? c->dns_key : "podlens.io/dns";
	int v;

	if (!ns)
		ns = "";
	if ((v = filter__bool_value(cri_kvs__get(pod_ann, mk))) >= 0) {
		out->monitored = v;
		out->why = FILTER_BY_POD;
	} else if ((v = filter__bool_value(cri_kvs__get(ns_ann, mk))) >= 0) {
		out->monitored = v;
		out->why = FILTER_BY_NAMESPACE;
	} else {
		out->monitored = any_match(c->include ? c->include : default_include, ns) &&
				 !any_match(c->exclude ? c->exclude : default_exclude, ns);
		out->why = FILTER_BY_CONFIG;
	}
	out->l7 = out->monitored && c->l7_enabled;
	if (out->l7) {
		if ((v = filter__bool_value(cri_kvs__get(pod_ann, lk))) >= 0)
			out->l7 = v;
		else if ((v = filter__bool_value(cri_kvs__get(ns_ann, lk))) >= 0)
			out->l7 = v;
	}
	out->dns = out->l7;
	if (out->dns) {
		if ((v = filter__bool_value(cri_kvs__get(pod_ann, dk))) >= 0)
			out->dns = v;
		else if ((v = filter__bool_value(cri_kvs__get(ns_ann, dk))) >= 0)
			out->dns = v;
	}
}

static const char *const default_host[] = { "*", NULL };

void filter__decide_host(const struct filter_config *c, const char *path, struct filter_decision *out)
{
	out->monitored = c->host_monitor && any_match(c->host_cgroups ? c->host_cgroups : default_host,
						      path && *path ? path : "/");
	out->l7 = out->monitored && c->l7_enabled;
	out->dns = out->l7;
	out->why = FILTER_BY_HOST;
}

bool filter__all_hosts(const struct filter_config *c)
{
	if (!c->host_monitor)
		return false;
	for (const char *const *g = c->host_cgroups ? c->host_cgroups : default_host; *g; g++)
		if (!strcmp(*g, "*"))
			return true;
	return false;
}

bool filter_decision__equal(const struct filter_decision *a, const struct filter_decision *b)
{
	return a->monitored == b->monitored && a->l7 == b->l7 && a->dns == b->dns;
}
