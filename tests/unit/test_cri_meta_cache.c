/* Unit tests for cri/meta_cache.c. The runtime is a stand-in serving the replies captured from
 * containerd (tests/fixtures/cri/); the cgroup2 hierarchy is a temporary directory tree the
 * test creates, so the ground truth cgroup IDs are the inodes of directories made here. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cri/cri_parse.h"
#include "cri/meta_cache.h"
#include "cri/meta_worker.h"
#include "lib/log.h"

#define WEB_UID "5b0c2a9e-6f1d-4c55-9a0e-5d2f1b7e0a11"
#define CLI_UID "8d4e7f10-3a2b-4c6d-8e9f-0a1b2c3d4e5f"
#define BATCH_UID "1f2e3d4c-0000-4aaa-8bbb-0123456789ab"
#define WEB_ID "97a919c0a229c9a91f28cb81fd860fd61417d42bf6f222047bdd96583b393012"
#define BATCH_ID "e8937e522b17637f0087ac716c380c8973174c8891979081ca7d357966ad3212"
#define HTTPD_ID "63192c620109b963fec580c4b3e67d22bf70b1d433b91950795ba43151ce9b2a"
#define FETCH_ID "6a526c027076dd2376bec9f15f72005093eb71135a6fb6c8909b0598677f5a8d"

/* ------------------------------------------------------------------ stand-in runtime */

struct fake {
	int fail;                 /* returned by every call when set */
	bool systemd;             /* cgroupsPath in the systemd driver's "slice:prefix:id" form */
	bool hide_fetcher;        /* ListContainers without the fetcher container */
	bool hide_all;            /* empty lists */
	bool pod_not_found;       /* PodSandboxStatus answers NOT_FOUND (a sandbox not listed yet) */
	unsigned calls;
};

static struct fake F;
static uint64_t clock_now = 1000000;

static uint64_t fake_clock(void)
{
	return clock_now;
}

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
		fail_msg("fixture %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? n : 1);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int f_list_pods(void *ctx, struct cri_pod **p, size_t *n)
{
	size_t len;
	uint8_t *b;
	int err;

	F.calls++;
	*p = NULL;
	*n = 0;
	if (F.fail)
		return F.fail;
	if (F.hide_all)
		return 0;
	b = load("ListPodSandbox.pb", &len);
	err = cri_parse__pod_list(b, len, p, n);
	free(b);
	return err;
}

static int f_list_ctrs(void *ctx, struct cri_container **c, size_t *n)
{
	size_t len;
	uint8_t *b;
	int err;

	F.calls++;
	*c = NULL;
	*n = 0;
	if (F.fail)
		return F.fail;
	if (F.hide_all)
		return 0;
	b = load("ListContainers.pb", &len);
	err = cri_parse__container_list(b, len, c, n);
	free(b);
	if (!err && F.hide_fetcher) {
		for (size_t i = 0; i < *n; i++) {
			if (strcmp((*c)[i].id, FETCH_ID))
				continue;
			cri_container__free(&(*c)[i]);
			(*c)[i] = (*c)[*n - 1];
			(*n)--;
			break;
		}
	}
	return err;
}

static int f_pod_status(void *ctx, const char *id, struct cri_pod *o)
{
	const char *name = !strcmp(id, WEB_ID) ? "PodSandboxStatus.shop_web.pb" :
			   !strcmp(id, BATCH_ID) ? "PodSandboxStatus.jobs_batch.pb" :
			   !strncmp(id, "5d969192", 8) ? "PodSandboxStatus.payments_client.pb" : NULL;
	size_t len;
	uint8_t *b;
	int err;

	F.calls++;
	memset(o, 0, sizeof(*o));
	if (F.fail)
		return F.fail;
	if (!name || F.pod_not_found)
		return -ENOENT;
	b = load(name, &len);
	err = cri_parse__pod_status(b, len, o);
	free(b);
	return err;
}

static int f_ctr_status(void *ctx, const char *id, struct cri_container *o)
{
	const char *name = !strcmp(id, HTTPD_ID) ? "ContainerStatus.shop_web_httpd.pb" :
			   !strcmp(id, FETCH_ID) ? "ContainerStatus.payments_client_fetcher.pb" :
			   !strncmp(id, "5fe6233e", 8) ? "ContainerStatus.jobs_batch_once.pb" : NULL;
	size_t len;
	uint8_t *b;
	int err;

	F.calls++;
	memset(o, 0, sizeof(*o));
	if (F.fail)
		return F.fail;
	if (!name)
		return -ENOENT;
	b = load(name, &len);
	err = cri_parse__container_status(b, len, o);
	free(b);
	if (!err && F.systemd && o->cgroups_path) {
		/* what containerd reports with SystemdCgroup = true */
		char *p = NULL;
		const char *uid = cri_kvs__get(&o->labels, "io.kubernetes.pod.uid");
		char u[64];

		snprintf(u, sizeof(u), "%s", uid);
		for (char *q = u; *q; q++)
			if (*q == '-')
				*q = '_';
		assert_true(asprintf(&p, "kubepods-besteffort-pod%s.slice:cri-containerd:%s", u, o->id) > 0);
		free(o->cgroups_path);
		o->cgroups_path = p;
	}
	return err;
}

static const struct meta_source src = { NULL, f_list_pods, f_list_ctrs, f_pod_status, f_ctr_status, NULL, NULL };

/* ------------------------------------------------------------------ a cgroup2 tree in /tmp */

struct tree {
	char root[256];
	uint64_t web_pod, web_sandbox, httpd, cli_pod, fetcher, batch_pod, batch_sandbox, nginx, qos;
};

static uint64_t mk(const struct tree *t, const char *rel)
{
	char p[1024], *s;
	struct stat sb;

	snprintf(p, sizeof(p), "%s%s", t->root, rel);
	for (s = p + strlen(t->root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
	assert_int_equal(stat(p, &sb), 0);
	return (uint64_t)sb.st_ino;
}

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));

	snprintf(t->root, sizeof(t->root), "/tmp/podlens-cgtest.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	t->qos = mk(t, "/kubepods/besteffort");
	t->web_pod = mk(t, "/kubepods/besteffort/pod" WEB_UID);
	t->web_sandbox = mk(t, "/kubepods/besteffort/pod" WEB_UID "/" WEB_ID);
	t->httpd = mk(t, "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID);
	t->cli_pod = mk(t, "/kubepods/besteffort/pod" CLI_UID);
	t->fetcher = mk(t, "/kubepods/besteffort/pod" CLI_UID "/" FETCH_ID);
	t->batch_pod = mk(t, "/kubepods/besteffort/pod" BATCH_UID);
	t->batch_sandbox = mk(t, "/kubepods/besteffort/pod" BATCH_UID "/" BATCH_ID);
	t->nginx = mk(t, "/system.slice/nginx.service");
	memset(&F, 0, sizeof(F));
	clock_now = 1000000;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	char cmd[512];

	/* only the directory this test created */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (strncmp(t->root, "/tmp/podlens-cgtest.", 20) == 0 && system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", t->root);
	free(t);
	return 0;
}

static struct meta_cache *new_cache(struct tree *t, size_t max, const char *const *exclude)
{
	struct meta_opts o = { .source = &src, .cgroup2_dir = t->root, .node_name = "node-a",
			       .ttl_s = 60, .max_entries = max, .clock_ms = fake_clock };
	struct meta_cache *c;

	filter_config__defaults(&o.filter);
	o.filter.exclude = exclude;
	c = meta_cache__new(&o);
	assert_non_null(c);
	return c;
}

static size_t drain(struct meta_cache *c, struct meta_change *out, size_t max)
{
	size_t n = 0, k;

	while ((k = meta_cache__drain_changes(c, out + n, max - n)) > 0)
		n += k;
	return n;
}

static const struct meta_change *find_change(const struct meta_change *ch, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ch[i].cgroup_id == id)
			return &ch[i];
	return NULL;
}

/* ------------------------------------------------------------------ tests */

static void resync__maps_running_containers_to_their_cgroup_inodes(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const struct workload_meta *m;
	struct meta_change ch[16];
	struct meta_stats st;
	size_t n;

	assert_int_equal(meta_cache__resync(c), 0);
	m = meta_cache__peek(c, t->httpd);
	assert_non_null(m);
	assert_int_equal(m->kind, WL_CONTAINER);
	assert_string_equal(m->namespace, "shop");
	assert_string_equal(m->pod, "web");
	assert_string_equal(m->pod_uid, WEB_UID);
	assert_string_equal(m->container, "httpd");
	assert_string_equal(m->container_id, HTTPD_ID);
	assert_string_equal(m->image, "localhost/busybox:local");
	assert_string_equal(m->node, "node-a");
	assert_string_equal(m->qos, "BestEffort");
	assert_int_equal(m->n_ips, 1);
	assert_string_equal(m->ips[0], "10.244.91.2");
	assert_string_equal(cri_kvs__get(&m->annotations, "team"), "storefront");
	assert_true(m->decision.monitored);
	assert_true(m->decision.l7);
	m = meta_cache__peek(c, t->fetcher);
	assert_non_null(m);
	assert_string_equal(m->namespace, "payments");
	assert_string_equal(m->container, "fetcher");
	/* the exited container never gets an entry; sandboxes and pod levels only on demand */
	meta_cache__stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.pods, 3);
	assert_int_equal(st.containers, 3);
	/* both new cgroups are announced to the agent */
	n = drain(c, ch, 16);
	assert_int_equal(n, 2);
	assert_non_null(find_change(ch, n, t->httpd));
	assert_true(find_change(ch, n, t->fetcher)->decision.monitored);
	assert_int_equal(drain(c, ch, 16), 0);
	meta_cache__free(c);
}

static void second_resync__no_status_calls_and_no_changes(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	struct meta_change ch[16];
	unsigned calls;

	assert_int_equal(meta_cache__resync(c), 0);
	drain(c, ch, 16);
	calls = F.calls;
	assert_int_equal(meta_cache__resync(c), 0);
	assert_int_equal(F.calls - calls, 2);   /* the two lists, nothing else */
	assert_int_equal(drain(c, ch, 16), 0);
	meta_cache__free(c);
}

static void on_mkdir__sandbox_pod_level_and_host_paths(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const struct workload_meta *m;

	assert_int_equal(meta_cache__resync(c), 0);
	meta_cache__on_cgroup_mkdir(c, t->batch_sandbox, "/kubepods/besteffort/pod" BATCH_UID "/" BATCH_ID);
	m = meta_cache__peek(c, t->batch_sandbox);
	assert_non_null(m);
	assert_int_equal(m->kind, WL_POD);
	assert_string_equal(m->namespace, "jobs");
	assert_string_equal(m->pod, "batch");
	/* the pod says podlens.io/monitor=false and podlens.io/l7=false */
	assert_false(m->decision.monitored);
	assert_false(m->decision.l7);
	assert_int_equal(m->decision.why, FILTER_BY_POD);

	meta_cache__on_cgroup_mkdir(c, t->web_pod, "kubepods/besteffort/pod" WEB_UID);
	m = meta_cache__peek(c, t->web_pod);
	assert_non_null(m);
	assert_int_equal(m->kind, WL_POD);
	assert_string_equal(m->pod, "web");

	meta_cache__on_cgroup_mkdir(c, t->nginx, "/system.slice/nginx.service");
	m = meta_cache__peek(c, t->nginx);
	assert_non_null(m);
	assert_int_equal(m->kind, WL_HOST);
	assert_string_equal(m->host_name, "nginx.service");
	assert_true(m->decision.monitored);
	meta_cache__free(c);
}

static void on_mkdir__new_container_resolved_before_any_resync(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const struct workload_meta *m;

	/* no resync yet: the cache asks ContainerStatus + PodSandboxStatus for this id */
	meta_cache__on_cgroup_mkdir(c, t->httpd, "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID);
	m = meta_cache__peek(c, t->httpd);
	assert_non_null(m);
	assert_string_equal(m->pod, "web");
	assert_string_equal(m->namespace, "shop");
	assert_string_equal(m->container, "httpd");
	assert_string_equal(m->ips[0], "10.244.91.2");
	assert_true(m->decision.monitored);
	meta_cache__free(c);
}

static void lookup__miss_found_by_walking_the_hierarchy(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const struct workload_meta *m;
	struct filter_decision d;
	struct meta_stats st;

	/* nothing cached: the ID alone leads to the path (a temp dir has no cgroup file handles,
	 * so this goes through the directory walk) */
	m = meta_cache__lookup(c, t->fetcher);
	assert_non_null(m);
	assert_string_equal(m->pod, "client");
	assert_int_equal(meta_cache__decision(c, t->nginx, &d), 0);
	assert_true(d.monitored);
	/* an unknown ID: NULL, and negatively cached (no second walk within 1 s) */
	assert_null(meta_cache__lookup(c, 987654321));
	assert_null(meta_cache__lookup(c, 987654321));
	assert_int_equal(meta_cache__decision(c, 987654321, &d), -ENOENT);
	meta_cache__stats(c, &st);
	assert_int_equal(st.resolved_on_miss, 2);
	meta_cache__free(c);
}

static void runtime_down__cache_kept_then_recovers(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const struct workload_meta *m;
	struct meta_change ch[16];

	F.hide_fetcher = true;
	assert_int_equal(meta_cache__resync(c), 0);
	assert_null(meta_cache__peek(c, t->fetcher));
	drain(c, ch, 16);

	F.fail = -ENOTCONN;           /* containerd killed */
	assert_int_equal(meta_cache__resync(c), -ENOTCONN);
	assert_int_equal(meta_cache__resync(c), -ENOTCONN);
	m = meta_cache__peek(c, t->httpd);
	assert_non_null(m);
	assert_false(m->exited);      /* a failed list says nothing about the containers */
	assert_int_equal(drain(c, ch, 16), 0);

	F.fail = 0;                   /* back, with a container started meanwhile */
	F.hide_fetcher = false;
	assert_int_equal(meta_cache__resync(c), 0);
	m = meta_cache__peek(c, t->fetcher);
	assert_non_null(m);
	assert_string_equal(m->pod, "client");
	assert_int_equal(drain(c, ch, 16), 1);
	assert_int_equal(ch[0].cgroup_id, t->fetcher);
	meta_cache__free(c);
}

static void bad_reply__cache_untouched(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	struct meta_stats st;

	assert_int_equal(meta_cache__resync(c), 0);
	F.fail = -EBADMSG;            /* a truncated or malformed reply */
	assert_int_equal(meta_cache__resync(c), -EBADMSG);
	meta_cache__stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.pods, 3);
	assert_non_null(meta_cache__peek(c, t->httpd));
	meta_cache__free(c);
}

static void gone_container__kept_for_ttl_then_removed(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const struct workload_meta *m;
	struct meta_change ch[16];

	assert_int_equal(meta_cache__resync(c), 0);
	drain(c, ch, 16);
	F.hide_fetcher = true;
	assert_int_equal(meta_cache__resync(c), 0);
	m = meta_cache__lookup(c, t->fetcher);
	assert_non_null(m);           /* late events still resolve */
	assert_true(m->exited);
	clock_now += 59 * 1000;
	assert_int_equal(meta_cache__resync(c), 0);
	assert_non_null(meta_cache__peek(c, t->fetcher));
	clock_now += 2 * 1000;
	assert_int_equal(meta_cache__resync(c), 0);
	assert_null(meta_cache__peek(c, t->fetcher));
	assert_int_equal(drain(c, ch, 16), 1);
	assert_int_equal(ch[0].cgroup_id, t->fetcher);
	assert_true(ch[0].removed);
	assert_false(ch[0].decision.monitored);
	/* rmdir starts the TTL too */
	meta_cache__on_cgroup_rmdir(c, t->httpd);
	assert_true(meta_cache__peek(c, t->httpd)->exited);
	meta_cache__free(c);
}

static void bounded__full_cache_evicts_exited_first_else_refuses(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 2, NULL);
	struct meta_stats st;

	assert_int_equal(meta_cache__resync(c), 0);          /* httpd + fetcher: full */
	meta_cache__on_cgroup_mkdir(c, t->nginx, "/system.slice/nginx.service");
	assert_null(meta_cache__peek(c, t->nginx));          /* nothing exited: refused */
	meta_cache__on_cgroup_rmdir(c, t->httpd);
	meta_cache__on_cgroup_mkdir(c, t->nginx, "/system.slice/nginx.service");
	assert_non_null(meta_cache__peek(c, t->nginx));      /* the exited one made room */
	assert_null(meta_cache__peek(c, t->httpd));
	meta_cache__stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.evicted, 1);
	meta_cache__free(c);
}

static void systemd_driver__cgroups_path_expanded_to_the_scope(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const struct workload_meta *m;
	uint64_t id = mk(t, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
			    "5b0c2a9e_6f1d_4c55_9a0e_5d2f1b7e0a11.slice/cri-containerd-" HTTPD_ID ".scope");

	F.systemd = true;
	assert_int_equal(meta_cache__resync(c), 0);
	m = meta_cache__peek(c, id);
	assert_non_null(m);
	assert_string_equal(m->pod, "web");
	assert_string_equal(m->container, "httpd");
	assert_string_equal(m->runtime, "containerd");
	assert_string_equal(m->qos, "BestEffort");
	/* the cgroupfs directory of the same container is not what the runtime reported */
	assert_null(meta_cache__peek(c, t->httpd));
	meta_cache__free(c);
}

/* issue 18: a new container whose pod's PodSandboxStatus fails (NOT_FOUND: the sandbox's status was
 * asked before the runtime listed it) is not decided from its own labels: it waits, and its pod's
 * podlens.io/monitor=false decides it once the pod is known */
static void on_mkdir__container_waits_for_its_pod_whatever_the_failure(void **state)
{
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, NULL);
	const char *path = "/kubepods/besteffort/pod" BATCH_UID "/5fe6233ebd9ac16aaac2e5c1093367e2c9f707df3f6aa8e88201417e061a855b";
	const struct workload_meta *m;
	uint64_t id = mk(t, path);

	F.pod_not_found = true;
	meta_cache__on_cgroup_mkdir(c, id, path);
	assert_null(meta_cache__peek(c, id));      /* undecided, not "monitored" */
	meta_cache__refresh(c);
	assert_null(meta_cache__peek(c, id));
	F.pod_not_found = false;
	meta_cache__on_cgroup_mkdir(c, id, path);  /* the retry (agent/metadata.c: pending) */
	m = meta_cache__peek(c, id);
	assert_non_null(m);
	assert_string_equal(m->pod, "batch");
	assert_false(m->decision.monitored);
	assert_int_equal(m->decision.why, FILTER_BY_POD);
	meta_cache__free(c);
}

static void config_exclude__overridden_by_pod_annotation(void **state)
{
	static const char *const exc[] = { "shop", "payments", "jobs", NULL };
	struct tree *t = *state;
	struct meta_cache *c = new_cache(t, 0, exc);

	/* every lab pod carries podlens.io/monitor: web/client "true", batch "false" */
	assert_int_equal(meta_cache__resync(c), 0);
	assert_true(meta_cache__peek(c, t->httpd)->decision.monitored);
	assert_int_equal(meta_cache__peek(c, t->httpd)->decision.why, FILTER_BY_POD);
	meta_cache__free(c);
}

/* ------------------------------------------------------------------ the worker (cri/meta_worker.h)
 * The same stand-in runtime, called from the worker thread; a gate makes it hang on demand. */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static int gate_err;            /* returned by the status calls that waited at the gate */
static unsigned gate_waiting, backend_calls;

static void gate_wait(void)
{
	pthread_mutex_lock(&gate_mu);
	backend_calls++;
	gate_waiting++;
	pthread_cond_broadcast(&gate_cv);
	while (gate_closed)
		pthread_cond_wait(&gate_cv, &gate_mu);
	gate_waiting--;
	pthread_mutex_unlock(&gate_mu);
}

static void gate_set(bool closed, int err)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = closed;
	gate_err = err;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* bounded wait until the worker holds a call at the gate */
static void gate_until_waiting(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate_mu);
	while (!gate_waiting)
		if (pthread_cond_timedwait(&gate_cv, &gate_mu, &ts))
			break;
	assert_true(gate_waiting > 0);
	pthread_mutex_unlock(&gate_mu);
}

static int g_list_pods(void *ctx, struct cri_pod **p, size_t *n)
{
	gate_wait();
	return f_list_pods(ctx, p, n);
}
static int g_list_ctrs(void *ctx, struct cri_container **c, size_t *n)
{
	return f_list_ctrs(ctx, c, n);
}
static int g_pod_status(void *ctx, const char *id, struct cri_pod *o)
{
	gate_wait();
	return gate_err ? gate_err : f_pod_status(ctx, id, o);
}
static int g_ctr_status(void *ctx, const char *id, struct cri_container *o)
{
	gate_wait();
	return gate_err ? gate_err : f_ctr_status(ctx, id, o);
}

static const struct meta_source gated = { NULL, g_list_pods, g_list_ctrs, g_pod_status, g_ctr_status, NULL, NULL };

/* wait (bounded) for the worker's eventfd, then collect */
static int meta_source_ctr(struct meta_worker *w, const char *id, struct cri_container *out)
{
	const struct meta_source *s = meta_worker__source(w);
	int r = s->container_status(s->ctx, id, out);

	if (!r)
		cri_container__free(out);
	return r;
}

static void wait_answers(struct meta_worker *w, struct meta_worker_news *news)
{
	struct pollfd p = { .fd = meta_worker__fd(w), .events = POLLIN };

	assert_int_equal(poll(&p, 1, 10000), 1);
	meta_worker__collect(w, news);
}

static struct meta_cache *worker_cache(struct tree *t, struct meta_worker *w)
{
	struct meta_opts o = { .source = meta_worker__source(w), .cgroup2_dir = t->root, .node_name = "node-a",
			       .ttl_s = 60, .clock_ms = fake_clock };
	struct meta_cache *c;

	filter_config__defaults(&o.filter);
	c = meta_cache__new(&o);
	assert_non_null(c);
	return c;
}

/* resync and on-mkdir resolution through the worker give what the direct source gives */
static void worker__resync_and_mkdir_resolve_as_the_direct_source(void **state)
{
	struct tree *t = *state;
	struct meta_worker_opts wo = { .backend = &gated };
	struct meta_worker *w;
	struct meta_cache *c;
	struct meta_worker_news news = { 0 };
	struct meta_worker_stats st;
	const struct workload_meta *m;

	gate_set(false, 0);
	w = meta_worker__new(&wo);
	assert_non_null(w);
	c = worker_cache(t, w);
	/* before any answer: the cache gets -EAGAIN for a status, nothing blocks */
	meta_cache__on_cgroup_mkdir(c, t->httpd, "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID);
	assert_null(meta_cache__peek(c, t->httpd));
	assert_int_equal(meta_worker__request_resync(w), 0);
	assert_int_equal(meta_worker__request_resync(w), -EALREADY);
	/* answers until nothing is in flight (bounded: the fixtures have 3 pods, 3 containers) */
	for (int i = 0; i < 20; i++) {
		wait_answers(w, &news);
		if (news.resync)
			assert_int_equal(meta_cache__resync(c), 0);
		meta_cache__refresh(c);
		meta_cache__on_cgroup_mkdir(c, t->httpd, "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID);
		meta_worker__stats(w, &st);
		if (!st.in_flight && meta_cache__peek(c, t->fetcher) && meta_cache__peek(c, t->httpd))
			break;
	}
	m = meta_cache__peek(c, t->httpd);
	assert_non_null(m);
	assert_string_equal(m->pod, "web");
	assert_string_equal(m->namespace, "shop");
	assert_string_equal(m->ips[0], "10.244.91.2");
	assert_true(m->decision.monitored);
	m = meta_cache__peek(c, t->fetcher);
	assert_non_null(m);
	assert_string_equal(m->container, "fetcher");
	meta_worker__stats(w, &st);
	assert_int_equal(st.in_flight, 0);
	meta_cache__free(c);
	meta_worker__free(w);
}

/* a runtime that hangs: the cache's calls return at once (-EAGAIN) while the worker is stuck in
 * a call; the status jobs queued behind a timed-out call are failed without a call each */
static void worker__hung_runtime_never_blocks_and_fails_queued_jobs_fast(void **state)
{
	struct tree *t = *state;
	struct meta_worker_opts wo = { .backend = &gated, .clock_ms = fake_clock };
	struct meta_worker *w;
	struct meta_cache *c;
	struct meta_worker_news news = { 0 };
	struct meta_worker_stats st;
	struct cri_container ctr;
	unsigned answered = 0;

	gate_set(true, -ETIMEDOUT);
	backend_calls = 0;
	w = meta_worker__new(&wo);
	assert_non_null(w);
	c = worker_cache(t, w);
	/* the first ask reaches the runtime and hangs there */
	meta_cache__on_cgroup_mkdir(c, t->httpd, "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID);
	gate_until_waiting();
	/* the loop goes on: more asks, each answered -EAGAIN at once, each id asked once */
	meta_cache__on_cgroup_mkdir(c, t->fetcher, "/kubepods/besteffort/pod" CLI_UID "/" FETCH_ID);
	meta_cache__on_cgroup_mkdir(c, t->web_sandbox, "/kubepods/besteffort/pod" WEB_UID "/" WEB_ID);
	assert_int_equal(meta_source_ctr(w, FETCH_ID, &ctr), -EAGAIN);
	assert_null(meta_cache__peek(c, t->fetcher));
	meta_worker__stats(w, &st);
	assert_true(st.in_flight >= 3);
	assert_int_equal(backend_calls, 1);
	/* the hung call times out: what was queued behind it fails without a call */
	gate_set(false, -ETIMEDOUT);
	for (int i = 0; i < 20 && (meta_worker__stats(w, &st), st.in_flight); i++) {
		wait_answers(w, &news);
		answered += news.answers;
	}
	assert_int_equal(st.in_flight, 0);
	assert_true(answered >= 3);
	assert_int_equal(backend_calls, 1);
	assert_true(st.failed_fast >= 2);
	/* an error answer is given again for 1 s, without asking */
	assert_int_equal(meta_source_ctr(w, FETCH_ID, &ctr), -ETIMEDOUT);
	/* the runtime is back: a resync lets status calls through again, and names arrive */
	gate_set(false, 0);
	clock_now += 2000;
	assert_int_equal(meta_worker__request_resync(w), 0);
	for (int i = 0; i < 20; i++) {
		wait_answers(w, &news);
		if (news.resync)
			assert_int_equal(meta_cache__resync(c), 0);
		meta_cache__refresh(c);
		meta_cache__on_cgroup_mkdir(c, t->httpd, "/kubepods/besteffort/pod" WEB_UID "/" HTTPD_ID);
		meta_worker__stats(w, &st);
		if (!st.in_flight && meta_cache__peek(c, t->httpd) && meta_cache__peek(c, t->fetcher))
			break;
	}
	assert_non_null(meta_cache__peek(c, t->httpd));
	assert_string_equal(meta_cache__peek(c, t->fetcher)->pod, "client");
	meta_cache__free(c);
	meta_worker__free(w);
}

/* the store is bounded: beyond max_ids an ask is refused (-EBUSY), not queued */
static void worker__bounded_ids_in_flight(void **state)
{
	struct meta_worker_opts wo = { .backend = &gated, .max_ids = 2, .clock_ms = fake_clock };
	struct meta_worker *w;
	struct meta_worker_stats st;
	struct cri_container ctr;

	(void)state;
	gate_set(true, -ETIMEDOUT);
	w = meta_worker__new(&wo);
	assert_non_null(w);
	assert_int_equal(meta_source_ctr(w, "a", &ctr), -EAGAIN);
	assert_int_equal(meta_source_ctr(w, "a", &ctr), -EAGAIN);   /* the same id: not asked twice */
	assert_int_equal(meta_source_ctr(w, "b", &ctr), -EAGAIN);
	assert_int_equal(meta_source_ctr(w, "c", &ctr), -EBUSY);
	meta_worker__stats(w, &st);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.in_flight, 2);
	gate_set(false, -ETIMEDOUT);
	meta_worker__free(w);   /* joins the thread with jobs still queued: no leak (ASan) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(resync__maps_running_containers_to_their_cgroup_inodes, setup, teardown),
		cmocka_unit_test_setup_teardown(second_resync__no_status_calls_and_no_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(on_mkdir__sandbox_pod_level_and_host_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(on_mkdir__new_container_resolved_before_any_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(lookup__miss_found_by_walking_the_hierarchy, setup, teardown),
		cmocka_unit_test_setup_teardown(runtime_down__cache_kept_then_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_reply__cache_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(gone_container__kept_for_ttl_then_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(bounded__full_cache_evicts_exited_first_else_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(systemd_driver__cgroups_path_expanded_to_the_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(on_mkdir__container_waits_for_its_pod_whatever_the_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(config_exclude__overridden_by_pod_annotation, setup, teardown),
		cmocka_unit_test_setup_teardown(worker__resync_and_mkdir_resolve_as_the_direct_source, setup, teardown),
		cmocka_unit_test_setup_teardown(worker__hung_runtime_never_blocks_and_fails_queued_jobs_fast, setup,
						teardown),
		cmocka_unit_test_setup_teardown(worker__bounded_ids_in_flight, setup, teardown),
	};
	log__init("test_cri_meta_cache", LOG_ERROR);
	return cmocka_run_group_tests_name("cri_meta_cache", tests, NULL, NULL);
}
