/* Kubelet /pods client and PodList parser (see kubelet.h). Shapes: Kubernetes API reference,
 * core/v1 Pod (metadata.ownerReferences, status.podIPs, status.containerStatuses[].containerID). */
#include "cri/kubelet.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static void copy(char *dst, size_t cap, const char *src, size_t n)
{
	if (!cap)
		return;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool all_digits(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "<cronjob>-<minutes since epoch>": the CronJob controller names its Jobs so (8 digits from
 * 1990 to 2160). Returns the length of the CronJob name, 0 when the name has no such suffix. */
static size_t cronjob_prefix(const char *job)
{
	const char *dash = strrchr(job, '-');
	size_t n;

	if (!dash || dash == job)
		return 0;
	n = strlen(dash + 1);
	if (n != 8 || !all_digits(dash + 1, n) || dash[1] == '0')
		return 0;
	return (size_t)(dash - job);
}

void k8s__resolve_owner(const char *kind, const char *name, const struct cri_kvs *labels, char *okind,
			size_t kl, char *oname, size_t nl)
{
	size_t n = name ? strlen(name) : 0;

	copy(okind, kl, kind ? kind : "", kind ? strlen(kind) : 0);
	copy(oname, nl, name ? name : "", n);
	if (!kind || !name)
		return;
	if (!strcmp(kind, "ReplicaSet")) {
		const char *hash = cri_kvs__get(labels, "pod-template-hash");
		size_t hl = hash ? strlen(hash) : 0;

		if (hl && n > hl + 1 && name[n - hl - 1] == '-' && !strcmp(name + n - hl, hash)) {
			copy(okind, kl, "Deployment", 10);
			copy(oname, nl, name, n - hl - 1);
		}
	} else if (!strcmp(kind, "Job")) {
		size_t p = cronjob_prefix(name);

		if (p) {
			copy(okind, kl, "CronJob", 7);
			copy(oname, nl, name, p);
		}
	}
}

int k8s__guess_owner(const char *pod, const struct cri_kvs *labels, char *kind, size_t kl, char *name,
		     size_t nl)
{
	const char *hash = cri_kvs__get(labels, "pod-template-hash");
	const char *job = cri_kvs__get(labels, "batch.kubernetes.io/job-name");
	const char *sts = cri_kvs__get(labels, "statefulset.kubernetes.io/pod-name");
	const char *rev = cri_kvs__get(labels, "controller-revision-hash");
	const char *dash;
	char rs[256];

	copy(kind, kl, "", 0);
	copy(name, nl, "", 0);
	if (!pod)
		return 0;
	if (!job)
		job = cri_kvs__get(labels, "job-name");
	if (hash && *hash) {
		/* pod "<deploy>-<hash>-<5 chars>": the ReplicaSet is "<deploy>-<hash>" */
		dash = strrchr(pod, '-');
		if (dash && (size_t)(dash - pod) < sizeof(rs)) {
			copy(rs, sizeof(rs), pod, (size_t)(dash - pod));
			k8s__resolve_owner("ReplicaSet", rs, labels, kind, kl, name, nl);
			if (!strcmp(kind, "Deployment"))
				return 1;
		}
		copy(kind, kl, "", 0);
		copy(name, nl, "", 0);
		return 0;
	}
	if (job && *job) {
		k8s__resolve_owner("Job", job, labels, kind, kl, name, nl);
		return 1;
	}
	if (sts && !strcmp(sts, pod) && (dash = strrchr(pod, '-')) && all_digits(dash + 1, strlen(dash + 1))) {
		copy(kind, kl, "StatefulSet", 11);
		copy(name, nl, pod, (size_t)(dash - pod));
		return 1;
	}
	if (rev && cri_kvs__get(labels, "pod-template-generation") && (dash = strrchr(pod, '-'))) {
		copy(kind, kl, "DaemonSet", 9);
		copy(name, nl, pod, (size_t)(dash - pod));
		return 1;
	}
	return 0;
}

static void ctr_free(struct k8s_container *c)
{
	free(c->name);
	free(c->id);
	free(c->runtime);
	free(c->image);
}

static void pod_free(struct k8s_pod *p)
{
	free(p->namespace);
	free(p->name);
	free(p->uid);
	free(p->node);
	cri_kvs__free(&p->labels);
	cri_kvs__free(&p->annotations);
	for (size_t i = 0; i < p->n_ips; i++)
		free(p->ips[i]);
	free(p->ips);
	free(p->owner_kind);
	free(p->owner_name);
	for (size_t i = 0; i < p->n_ctrs; i++)
		ctr_free(&p->ctrs[i]);
	free(p->ctrs);
}

void k8s_pods__free(struct k8s_pod *pods, size_t n)
{
	for (size_t i = 0; pods && i < n; i++)
		pod_free(&pods[i]);
	free(pods);
}

static char *sdup(json_t *v, int *err)
{
	char *r = strdup(json_is_string(v) ? json_string_value(v) : "");

	if (!r)
		*err = -ENOMEM;
	return r;
}

/* {"k":"v",...} -> kvs; non-string values are skipped */
static int kvs_from_object(struct cri_kvs *out, json_t *obj)
{
	const char *k;
	json_t *v;
	size_t n = json_is_object(obj) ? json_object_size(obj) : 0;

	out->v = NULL;
	out->n = 0;
	if (!n)
		return 0;
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v))
			continue;
		out->v[out->n].key = strdup(k);
		out->v[out->n].value = strdup(json_string_value(v));
		out->n++;
		if (!out->v[out->n - 1].key || !out->v[out->n - 1].value)
			return -ENOMEM;
	}
	return 0;
}

static int add_ctrs(struct k8s_pod *p, json_t *arr)
{
	size_t i;
	json_t *cs;
	int err = 0;

	if (!json_is_array(arr) || !json_array_size(arr))
		return 0;
	{
		struct k8s_container *nc = realloc(p->ctrs, (p->n_ctrs + json_array_size(arr)) * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		p->ctrs = nc;
	}
	json_array_foreach(arr, i, cs) {
		struct k8s_container *c = &p->ctrs[p->n_ctrs];
		json_t *cid = json_object_get(cs, "containerID");
		const char *s = json_is_string(cid) ? json_string_value(cid) : "";
		const char *sep = strstr(s, "://");

		if (!json_is_object(cs))
			continue;
		memset(c, 0, sizeof(*c));
		p->n_ctrs++;
		c->name = sdup(json_object_get(cs, "name"), &err);
		c->image = sdup(json_object_get(cs, "image"), &err);
		if (sep) {
			c->runtime = strndup(s, (size_t)(sep - s));
			c->id = strdup(sep + 3);
		} else {
			c->runtime = strdup("");
			c->id = strdup(s);
		}
		if (!c->runtime || !c->id)
			err = -ENOMEM;
		if (err)
			return err;
	}
	return 0;
}

static int add_ip(struct k8s_pod *p, const char *ip, size_t cap)
{
	for (size_t i = 0; i < p->n_ips; i++)
		if (!strcmp(p->ips[i], ip))
			return 0;
	if (p->n_ips >= cap)
		return 0;
	p->ips[p->n_ips] = strdup(ip);
	if (!p->ips[p->n_ips])
		return -ENOMEM;
	p->n_ips++;
	return 0;
}

static int parse_pod(struct k8s_pod *p, json_t *item)
{
	json_t *md = json_object_get(item, "metadata"), *spec = json_object_get(item, "spec");
	json_t *st = json_object_get(item, "status"), *refs, *ref, *ctl = NULL, *ips, *ip;
	char kind[64], name[256];
	size_t i, cap;
	int err = 0;

	p->namespace = sdup(json_object_get(md, "namespace"), &err);
	p->name = sdup(json_object_get(md, "name"), &err);
	p->uid = sdup(json_object_get(md, "uid"), &err);
	p->node = sdup(json_object_get(spec, "nodeName"), &err);
	if (err)
		return err;
	if ((err = kvs_from_object(&p->labels, json_object_get(md, "labels"))) ||
	    (err = kvs_from_object(&p->annotations, json_object_get(md, "annotations"))))
		return err;

	/* the controller reference, else the first reference */
	refs = json_object_get(md, "ownerReferences");
	json_array_foreach(refs, i, ref) {
		if (!ctl || json_is_true(json_object_get(ref, "controller"))) {
			bool is_ctl = json_is_true(json_object_get(ref, "controller"));

			ctl = ref;
			if (is_ctl)
				break;
		}
	}
	k8s__resolve_owner(ctl ? json_string_value(json_object_get(ctl, "kind")) : NULL,
			   ctl ? json_string_value(json_object_get(ctl, "name")) : NULL, &p->labels, kind,
			   sizeof(kind), name, sizeof(name));
	p->owner_kind = strdup(kind);
	p->owner_name = strdup(name);
	if (!p->owner_kind || !p->owner_name)
		return -ENOMEM;

	ips = json_object_get(st, "podIPs");
	cap = (json_is_array(ips) ? json_array_size(ips) : 0) + 1;
	p->ips = calloc(cap, sizeof(*p->ips));
	if (!p->ips)
		return -ENOMEM;
	ip = json_object_get(st, "podIP");
	if (json_is_string(ip) && json_string_length(ip) && (err = add_ip(p, json_string_value(ip), cap)))
		return err;
	json_array_foreach(ips, i, ref) {
		ip = json_object_get(ref, "ip");
		if (json_is_string(ip) && json_string_length(ip) && (err = add_ip(p, json_string_value(ip), cap)))
			return err;
	}
	if ((err = add_ctrs(p, json_object_get(st, "containerStatuses"))) ||
	    (err = add_ctrs(p, json_object_get(st, "initContainerStatuses"))) ||
	    (err = add_ctrs(p, json_object_get(st, "ephemeralContainerStatuses"))))
		return err;
	return 0;
}

int kubelet__parse_pods(const char *json, size_t len, struct k8s_pod **pods, size_t *n)
{
	json_error_t jerr;
	json_t *root, *items, *item, *kind;
	struct k8s_pod *out = NULL;
	size_t i, cnt = 0;
	int err = 0;

	*pods = NULL;
	*n = 0;
	root = json_loadb(json, len, 0, &jerr);
	if (!root)
		return -EBADMSG;
	items = json_object_get(root, "items");
	kind = json_object_get(root, "kind");
	if (!json_is_object(root) || !(json_is_array(items) || json_is_null(items) || !items) ||
	    (kind && (!json_is_string(kind) || strcmp(json_string_value(kind), "PodList")))) {
		err = -EBADMSG;
		goto cleanup;
	}
	if (json_is_array(items) && json_array_size(items)) {
		out = calloc(json_array_size(items), sizeof(*out));
		if (!out) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	json_array_foreach(items, i, item) {
		json_t *uid = json_object_get(json_object_get(item, "metadata"), "uid");

		if (!json_is_string(uid) || !json_string_length(uid))
			continue;
		err = parse_pod(&out[cnt], item);
		cnt++;
		if (err)
			goto cleanup;
	}
cleanup:
	json_decref(root);
	if (err) {
		k8s_pods__free(out, cnt);
		return err;
	}
	*pods = out;
	*n = cnt;
	return 0;
}

/* One attempt, no retry: meta_cache asks again at its next periodic resync and keeps the last pod
 * list meanwhile, so there is no backoff here. */
int kubelet__get_pods(const struct kubelet_opts *o, struct k8s_pod **pods, size_t *n)
{
	struct k8s_http_opts ho = { .token_file = o->token_file, .ca_file = o->ca_file };
	char *body = NULL, *url = NULL;
	size_t len, ul;
	long code;
	int err;

	*pods = NULL;
	*n = 0;
	ul = strlen(o->url);
	while (ul && o->url[ul - 1] == '/')
		ul--;
	if (asprintf(&url, "%.*s/pods", (int)ul, o->url) < 0)
		return -ENOMEM;
	err = k8s_http__get(&ho, url, o->timeout_ms ? o->timeout_ms : 3000, &body, &len, &code);
	if (!err && code != 200) {
		log_debug("kubelet: GET %s: http %ld", url, code);
		err = (code == 401 || code == 403) ? -EACCES : -EPROTO;
	}
	if (!err)
		err = kubelet__parse_pods(body, len, pods, n);
	free(body);
	free(url);
	return err;
}
