/* Table-driven cgroup path parsing (see cgroup_path.h). */
#include "cri/cgroup_path.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Container cgroup directory names: prefix + <hex id> + suffix. */
static const struct ctr_pattern {
	const char *prefix, *suffix;
	enum cg_runtime rt;
} ctr_patterns[] = {
	{ "cri-containerd-", ".scope", CG_RT_CONTAINERD }, /* containerd, systemd driver */
	{ "crio-", ".scope", CG_RT_CRIO },                 /* CRI-O, systemd driver */
	{ "docker-", ".scope", CG_RT_DOCKER },             /* docker / cri-dockerd, systemd driver */
	{ "crio-", "", CG_RT_CRIO },                       /* CRI-O, cgroupfs driver */
	{ "", "", CG_RT_UNKNOWN },                         /* containerd or docker, cgroupfs driver */
};

/* Pod cgroup directory names: prefix + <uid> + suffix; systemd writes '-' in the uid as '_'. */
static const struct pod_pattern {
	const char *prefix, *suffix;
	enum cg_qos qos;          /* NONE: decided by the parent directory */
} pod_patterns[] = {
	{ "kubepods-besteffort-pod", ".slice", CG_QOS_BESTEFFORT },
	{ "kubepods-burstable-pod", ".slice", CG_QOS_BURSTABLE },
	{ "kubepods-pod", ".slice", CG_QOS_GUARANTEED },
	{ "pod", "", CG_QOS_NONE },
};

/* QoS class directories between kubepods and the pod. */
static const struct qos_dir {
	const char *name;
	enum cg_qos qos;
} qos_dirs[] = {
	{ "besteffort", CG_QOS_BESTEFFORT },
	{ "burstable", CG_QOS_BURSTABLE },
	{ "kubepods-besteffort.slice", CG_QOS_BESTEFFORT },
	{ "kubepods-burstable.slice", CG_QOS_BURSTABLE },
};

struct comp {
	const char *s;
	size_t n;
};

#define MAX_COMPS 64

static size_t split(const char *path, struct comp *c, size_t max)
{
	size_t n = 0;
	const char *p = path;

	while (*p && n < max) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		c[n].s = p;
		while (*p && *p != '/')
			p++;
		c[n].n = (size_t)(p - c[n].s);
		n++;
	}
	return n;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* comp = prefix + middle + suffix: set *mid, *mid_n */
static bool affix(const struct comp *c, const char *prefix, const char *suffix, const char **mid,
		  size_t *mid_n)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);

	if (c->n <= pl + sl || strncmp(c->s, prefix, pl) || strncmp(c->s + c->n - sl, suffix, sl))
		return false;
	*mid = c->s + pl;
	*mid_n = c->n - pl - sl;
	return true;
}

static bool eq(const struct comp *c, const char *s)
{
	return strlen(s) == c->n && !strncmp(c->s, s, c->n);
}

/* container id: 12..64 lowercase hex (docker/containerd/CRI-O ids are 64) */
static bool match_container(const struct comp *c, bool systemd_only, enum cg_runtime *rt, char *id)
{
	for (size_t i = 0; i < sizeof(ctr_patterns) / sizeof(ctr_patterns[0]); i++) {
		const struct ctr_pattern *p = &ctr_patterns[i];
		const char *m;
		size_t n;

		if (systemd_only && !*p->suffix)
			continue;
		if (affix(c, p->prefix, p->suffix, &m, &n) && n >= 12 && n <= CG_ID_MAX && is_hex(m, n)) {
			memcpy(id, m, n);
			id[n] = '\0';
			*rt = p->rt;
			return true;
		}
	}
	return false;
}

static bool match_pod(const struct comp *c, char *uid, enum cg_qos *qos)
{
	for (size_t i = 0; i < sizeof(pod_patterns) / sizeof(pod_patterns[0]); i++) {
		const struct pod_pattern *p = &pod_patterns[i];
		const char *m;
		size_t n, k;

		if (!affix(c, p->prefix, p->suffix, &m, &n) || n > CG_UID_MAX)
			continue;
		for (k = 0; k < n; k++) {
			char ch = m[k];

			if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || ch == '-' || ch == '_'))
				break;
			uid[k] = ch == '_' ? '-' : ch;
		}
		if (k != n)
			continue;
		uid[n] = '\0';
		if (p->qos != CG_QOS_NONE)
			*qos = p->qos;
		return true;
	}
	return false;
}

static void set_name(struct cgroup_info *o, const struct comp *c)
{
	size_t n = c->n < sizeof(o->name) - 1 ? c->n : sizeof(o->name) - 1;

	memcpy(o->name, c->s, n);
	o->name[n] = '\0';
}

static bool ends_with(const struct comp *c, const char *suffix)
{
	size_t sl = strlen(suffix);

	return c->n > sl && !strncmp(c->s + c->n - sl, suffix, sl);
}

int cgroup_path__parse(const char *path, struct cgroup_info *o)
{
	struct comp c[MAX_COMPS];
	size_t n, k;

	memset(o, 0, sizeof(*o));
	if (!path || path[0] != '/')
		return -EINVAL;
	n = split(path, c, MAX_COMPS);
	if (n == 0) {
		o->kind = CG_KIND_ROOT;
		snprintf(o->name, sizeof(o->name), "root");
		return 0;
	}

	/* Kubernetes: find "kubepods" / "kubepods.slice" anywhere (nested runtimes add prefixes) */
	for (k = 0; k < n; k++)
		if (eq(&c[k], "kubepods") || eq(&c[k], "kubepods.slice"))
			break;
	if (k < n) {
		size_t i = k + 1;

		o->qos = CG_QOS_NONE;
		for (size_t q = 0; i < n && q < sizeof(qos_dirs) / sizeof(qos_dirs[0]); q++) {
			if (eq(&c[i], qos_dirs[q].name)) {
				o->qos = qos_dirs[q].qos;
				i++;
				break;
			}
		}
		if (i < n && match_pod(&c[i], o->pod_uid, &o->qos)) {
			if (o->qos == CG_QOS_NONE)
				o->qos = CG_QOS_GUARANTEED;
			o->kind = CG_KIND_POD;
			if (i + 1 < n &&
			    match_container(&c[i + 1], false, &o->runtime, o->container_id)) {
				o->kind = CG_KIND_CONTAINER;
			} else if (i + 1 < n) {
				/* crio-conmon-<id>.scope and the like: pod-level helpers */
				o->kind = CG_KIND_POD;
			}
			return 0;
		}
		/* kubepods or a QoS level itself: not a workload */
		o->qos = CG_QOS_NONE;
		set_name(o, &c[n - 1]);
		return 0;
	}

	/* containers outside Kubernetes: docker-<id>.scope (systemd), /docker/<id> (cgroupfs) */
	for (k = 0; k < n; k++) {
		if (match_container(&c[k], true, &o->runtime, o->container_id) ||
		    (k > 0 && eq(&c[k - 1], "docker") &&
		     match_container(&c[k], false, &o->runtime, o->container_id))) {
			if (o->runtime == CG_RT_UNKNOWN)
				o->runtime = CG_RT_DOCKER;
			o->kind = CG_KIND_CONTAINER;
			return 0;
		}
	}

	/* systemd units and user slices */
	if (eq(&c[0], "user.slice") && n >= 2) {
		o->kind = CG_KIND_USER;
		set_name(o, &c[1]);
		return 0;
	}
	if (eq(&c[0], "system.slice") && n >= 2) {
		o->kind = (ends_with(&c[1], ".service") || ends_with(&c[1], ".scope") ||
			   ends_with(&c[1], ".socket")) ? CG_KIND_SYSTEMD_UNIT : CG_KIND_OTHER;
		set_name(o, &c[1]);
		return 0;
	}
	if (n == 1 && (ends_with(&c[0], ".scope") || ends_with(&c[0], ".service"))) {
		o->kind = CG_KIND_SYSTEMD_UNIT;   /* /init.scope */
		set_name(o, &c[0]);
		return 0;
	}
	o->kind = CG_KIND_OTHER;
	set_name(o, &c[n - 1]);
	return 0;
}

static int append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

int cgroup_path__from_cri(const char *p, char *out, size_t cap)
{
	const char *c1, *c2, *dash;
	size_t len = 0;
	int err;

	if (!p || !cap)
		return -EINVAL;
	out[0] = '\0';
	if (p[0] == '/')
		return append(out, cap, &len, p, strlen(p));
	/* systemd: "<slice>:<prefix>:<name>" -> expanded slice path + "/<prefix>-<name>.scope" */
	c1 = strchr(p, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c1 || !c2 || c1 - p < 7 || strncmp(c1 - 6, ".slice", 6) || strchr(c2 + 1, ':') ||
	    !c2[1] || strchr(p, '/'))
		return -EINVAL;
	/* a-b-c.slice lives at /a.slice/a-b.slice/a-b-c.slice (systemd.slice(5)) */
	for (dash = p;; dash++) {
		if (*dash == '-' || dash == c1 - 6) {
			if ((err = append(out, cap, &len, "/", 1)) ||
			    (err = append(out, cap, &len, p, (size_t)(dash - p))) ||
			    (err = append(out, cap, &len, ".slice", 6)))
				return err;
			if (dash == c1 - 6)
				break;
		}
	}
	if ((err = append(out, cap, &len, "/", 1)) ||
	    (err = append(out, cap, &len, c1 + 1, (size_t)(c2 - c1 - 1))) ||
	    (c2 - c1 > 1 && (err = append(out, cap, &len, "-", 1))) ||
	    (err = append(out, cap, &len, c2 + 1, strlen(c2 + 1))) ||
	    (err = append(out, cap, &len, ".scope", 6)))
		return err;
	return 0;
}

const char *cg_runtime__name(enum cg_runtime rt)
{
	switch (rt) {
	case CG_RT_CONTAINERD: return "containerd";
	case CG_RT_CRIO: return "cri-o";
	case CG_RT_DOCKER: return "docker";
	case CG_RT_UNKNOWN: return "unknown";
	default: return "";
	}
}

const char *cg_qos__name(enum cg_qos q)
{
	switch (q) {
	case CG_QOS_GUARANTEED: return "Guaranteed";
	case CG_QOS_BURSTABLE: return "Burstable";
	case CG_QOS_BESTEFFORT: return "BestEffort";
	default: return "";
	}
}
