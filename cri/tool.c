/* podlens-cri: a small command-line front end to the metadata library, for tests, fixture
 * capture and debugging.
 *
 *   podlens-cri grpc URL METHOD [--data STR] [--deadline MS] [--ca F] [--cert F] [--key F]
 *                   [--token-file F] [--repeat N] [--max-recv N] [--step-file F]
 *       unary gRPC calls on one client; prints one summary line:
 *       calls=N ok=N status=S(NAME) http=H ms=T len=L message=<msg> reply=<reply, first 200 bytes>
 *       --step-file F: after call i (i < N) create F.i and wait (<= 20 s) for F.go.i, so a test
 *       can restart the server between calls on the same client.
 *
 *   podlens-cri [--socket PATH|auto] [--deadline MS] version|pods|ps|inspectp ID|inspect ID
 *   podlens-cri [--socket PATH|auto] capture DIR
 *       writes the raw replies (binary protobuf) of Version, ListPodSandbox, ListContainers and
 *       the verbose PodSandboxStatus / ContainerStatus of every pod and container to DIR
 *       (<Method>.<namespace>_<pod>[_<container>].pb): fixtures for the parser tests.
 *   podlens-cri [--socket S] [--cgroup-root R] [--kubelet-url U --kubelet-token-file F
 *               --kubelet-ca F] [--node N] [--cgroup2-dir D] meta [CGROUP_ID...]
 *   ... meta --follow [--resync-ms 200] [--seconds 30] [--until-file F]
 *       resync in a loop like the agent and print "change cgroup=.. monitored=.." for every
 *       decision change and "resync rc=.." whenever the resync result changes
 *       one resync of the metadata cache, then one line per cached cgroup (or per ID asked,
 *       looked up with on-miss resolution): cgroup=ID kind=K ns=.. pod=.. container=..
 *       id=.. image=.. owner=Kind/Name ips=.. monitored=0|1 l7=0|1 host=..
 *   podlens-cri kubelet URL [--token-file F] [--ca F]
 *       GET URL/pods: one line per pod: ns/name uid= owner=Kind/Name ips= ctrs=name:runtime:id12,...
 *   podlens-cri nswatch URL|incluster [--token-file F] [--ca F] [--until-file F] [--seconds N]
 *       list+watch Namespaces; on every change prints "gen=G" lines with each namespace's
 *       annotations ("ns NAME k=v,k=v"), then "end G"; stops when F exists or after N s (30).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cri/cri_client.h"
#include "cri/k8s_namespaces.h"
#include "cri/kubelet.h"
#include "cri/meta_cache.h"
#include "lib/clock.h"
#include "lib/grpc.h"
#include "lib/grpc_client.h"
#include "lib/log.h"

static int tool__read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return -errno;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, 4096, f);
		n += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

static int wait_file(const char *path, int secs)
{
	long long end = (long long)clock__mono_ms() + secs * 1000LL;
	struct timespec ts = { 0, 20 * 1000000 };

	while (access(path, F_OK) != 0) {
		if ((long long)clock__mono_ms() > end)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int cmd_grpc(int argc, char **argv)
{
	struct grpc_client_opts o = { 0 };
	struct grpc_client *c;
	struct grpc_result r = { 0 };
	const char *data = "", *step = NULL, *token_file = NULL, *method;
	char *token = NULL;
	long deadline = 2000, repeat = 1, ok = 0, calls = 0;
	long long t0;
	int last = -1, rc = 0;
	char msg[256] = "", reply[201] = "";
	long http = 0;
	size_t reply_len = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: podlens-cri grpc URL METHOD [options]\n");
		return 2;
	}
	o.url = argv[1];
	method = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "podlens-cri: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--data")) data = v;
		else if (!strcmp(a, "--deadline")) deadline = atol(v);
		else if (!strcmp(a, "--ca")) o.ca_file = v;
		else if (!strcmp(a, "--cert")) o.cert_file = v;
		else if (!strcmp(a, "--key")) o.key_file = v;
		else if (!strcmp(a, "--token-file")) token_file = v;
		else if (!strcmp(a, "--repeat")) repeat = atol(v);
		else if (!strcmp(a, "--max-recv")) o.max_recv_bytes = (uint32_t)atol(v);
		else if (!strcmp(a, "--step-file")) step = v;
		else {
			fprintf(stderr, "podlens-cri: unknown option %s\n", a);
			return 2;
		}
	}
	if (token_file) {
		rc = tool__read_file(token_file, &token, NULL);
		if (rc) {
			fprintf(stderr, "podlens-cri: read %s: %s\n", token_file, strerror(-rc));
			return 1;
		}
		token[strcspn(token, "\r\n")] = '\0';
		o.bearer_token = token;
	}
	c = grpc_client__new(&o);
	if (!c) {
		fprintf(stderr, "podlens-cri: grpc client for %s: %s\n", o.url, strerror(errno));
		free(token);
		return 1;
	}
	t0 = (long long)clock__mono_ms();
	for (long i = 0; i < repeat; i++) {
		rc = grpc_client__call(c, method, (const uint8_t *)data, strlen(data), (uint32_t)deadline, &r);
		if (rc) {
			fprintf(stderr, "podlens-cri: call: %s\n", strerror(-rc));
			break;
		}
		calls++;
		last = r.status;
		http = r.http_code;
		reply_len = r.reply_len;
		snprintf(msg, sizeof(msg), "%s", r.message);
		if (r.status == GRPC_OK) {
			size_t n = r.reply_len < 200 ? r.reply_len : 200;

			ok++;
			memcpy(reply, r.reply, n);
			reply[n] = '\0';
			if (!strcmp(method, "/test.Echo/Echo") && (r.reply_len != strlen(data) ||
								  memcmp(r.reply, data, r.reply_len)))
				fprintf(stderr, "podlens-cri: call %ld: echo mismatch\n", i), ok--;
			if (r.reply_len > 200)
				snprintf(reply + 150, 51, "...(%zu bytes)", r.reply_len);
		} else {
			reply[0] = '\0';
		}
		grpc_result__clear(&r);
		if (step && i + 1 < repeat) {
			char p[4096];
			int fd;

			snprintf(p, sizeof(p), "%s.%ld", step, i);
			fd = open(p, O_CREAT | O_WRONLY, 0600);
			if (fd >= 0)
				close(fd);
			snprintf(p, sizeof(p), "%s.go.%ld", step, i);
			if (wait_file(p, 20)) {
				fprintf(stderr, "podlens-cri: timed out waiting for %s\n", p);
				break;
			}
		}
	}
	printf("calls=%ld ok=%ld status=%d(%s) http=%ld ms=%lld len=%zu message=%s reply=%s\n", calls, ok,
	       last, grpc_status__name(last), http, (long long)clock__mono_ms() - t0, reply_len, msg, reply);
	grpc_client__free(c);
	free(token);
	return rc ? 1 : 0;
}

static void print_kvs(const char *what, const struct cri_kvs *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		printf("  %s %s=%s\n", what, kv->v[i].key, kv->v[i].value);
}

static int write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char p[4096];
	FILE *f;
	int ok;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "wb");
	if (!f)
		return -errno;
	ok = fwrite(b, 1, n, f) == n;
	ok &= fclose(f) == 0;
	printf("%s %zu bytes\n", p, n);
	return ok ? 0 : -EIO;
}

static int capture(struct cri_client *c, const char *dir)
{
	static const char *const lists[] = { "Version", "ListPodSandbox", "ListContainers" };
	struct cri_pod *pods = NULL;
	struct cri_container *ctrs = NULL;
	size_t np = 0, nc = 0;
	uint8_t *r;
	size_t n;
	char name[512];
	int err;

	for (size_t i = 0; i < 3; i++) {
		err = cri_client__raw(c, lists[i], NULL, &r, &n);
		if (err)
			return err;
		snprintf(name, sizeof(name), "%s.pb", lists[i]);
		err = write_file(dir, name, r, n);
		free(r);
		if (err)
			return err;
	}
	err = cri_client__list_pods(c, &pods, &np);
	if (!err)
		err = cri_client__list_containers(c, &ctrs, &nc);
	for (size_t i = 0; !err && i < np; i++) {
		err = cri_client__raw(c, "PodSandboxStatus", pods[i].id, &r, &n);
		if (err)
			break;
		snprintf(name, sizeof(name), "PodSandboxStatus.%s_%s.pb", pods[i].namespace, pods[i].name);
		err = write_file(dir, name, r, n);
		free(r);
	}
	for (size_t i = 0; !err && i < nc; i++) {
		const char *ns = cri_kvs__get(&ctrs[i].labels, "io.kubernetes.pod.namespace");
		const char *pod = cri_kvs__get(&ctrs[i].labels, "io.kubernetes.pod.name");

		err = cri_client__raw(c, "ContainerStatus", ctrs[i].id, &r, &n);
		if (err)
			break;
		snprintf(name, sizeof(name), "ContainerStatus.%s_%s_%s.pb", ns ? ns : "", pod ? pod : "",
			 ctrs[i].name);
		err = write_file(dir, name, r, n);
		free(r);
	}
	cri_pods__free(pods, np);
	cri_containers__free(ctrs, nc);
	return err;
}

static void print_meta(const struct workload_meta *m, void *ud)
{
	static const char *const kinds[] = { "container", "pod", "host" };

	printf("cgroup=%llu kind=%s ns=%s pod=%s uid=%s container=%s id=%.12s image=%s owner=%s/%s ips=",
	       (unsigned long long)m->cgroup_id, kinds[m->kind], m->namespace, m->pod, m->pod_uid, m->container,
	       m->container_id, m->image, m->owner_kind, m->owner_name);
	for (unsigned i = 0; i < m->n_ips; i++)
		printf("%s%s", i ? "," : "", m->ips[i]);
	printf(" qos=%s runtime=%s monitored=%d l7=%d exited=%d host=%s\n", m->qos, m->runtime,
	       m->decision.monitored, m->decision.l7, m->exited, m->host_name);
}

static int cmd_meta(int argc, char **argv, const char *sock)
{
	struct meta_opts o = { .cri_socket = sock };
	struct meta_cache *mc;
	int err, nids = 0;
	long resync_ms = 200, secs = 30;
	const char *until = NULL;
	bool follow = false;

	filter_config__defaults(&o.filter);
	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--cgroup-root") && v) o.cgroup_root = argv[++i];
		else if (!strcmp(argv[i], "--kubelet-url") && v) o.kubelet_url = argv[++i];
		else if (!strcmp(argv[i], "--kubelet-token-file") && v) o.kubelet_token_file = argv[++i];
		else if (!strcmp(argv[i], "--kubelet-ca") && v) o.kubelet_ca_file = argv[++i];
		else if (!strcmp(argv[i], "--node") && v) o.node_name = argv[++i];
		else if (!strcmp(argv[i], "--k8s-api") && v) { o.k8s_api = true; o.k8s_api_url = argv[++i]; }
		else if (!strcmp(argv[i], "--k8s-token-file") && v) o.k8s_token_file = argv[++i];
		else if (!strcmp(argv[i], "--k8s-ca") && v) o.k8s_ca_file = argv[++i];
		else if (!strcmp(argv[i], "--cgroup2-dir") && v) o.cgroup2_dir = argv[++i];
		else if (!strcmp(argv[i], "--resync-ms") && v) resync_ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && v) secs = atol(argv[++i]);
		else if (!strcmp(argv[i], "--until-file") && v) until = argv[++i];
		else if (!strcmp(argv[i], "--follow")) follow = true;
		else if (argv[i][0] >= '0' && argv[i][0] <= '9') nids++;
	}
	mc = meta_cache__new(&o);
	if (!mc) {
		fprintf(stderr, "podlens-cri: meta cache: %s\n", strerror(errno));
		return 1;
	}
	if (follow) {
		long long end = (long long)clock__mono_ms() + secs * 1000LL;
		struct timespec ts = { resync_ms / 1000, (resync_ms % 1000) * 1000000L };
		int last = 1;

		/* the agent's loop in miniature: resync, mirror changed decisions, repeat */
		while ((long long)clock__mono_ms() < end && !(until && access(until, F_OK) == 0)) {
			struct meta_change ch[64];
			size_t n;

			err = meta_cache__resync(mc);
			if (err != last)
				printf("resync rc=%d (%s)\n", err, err ? strerror(-err) : "ok");
			last = err;
			while ((n = meta_cache__drain_changes(mc, ch, 64)) > 0) {
				for (size_t i = 0; i < n; i++) {
					const struct workload_meta *m = meta_cache__peek(mc, ch[i].cgroup_id);

					printf("change cgroup=%llu monitored=%d l7=%d removed=%d pod=%s container=%s\n",
					       (unsigned long long)ch[i].cgroup_id, ch[i].decision.monitored,
					       ch[i].decision.l7, ch[i].removed, m ? m->pod : "", m ? m->container : "");
				}
			}
			fflush(stdout);
			nanosleep(&ts, NULL);
		}
		meta_cache__free(mc);
		return 0;
	}
	{
		long long t0 = (long long)clock__mono_ms();
		struct meta_stats st;

		err = meta_cache__resync(mc);
		meta_cache__stats(mc, &st);
		fprintf(stderr, "podlens-cri: resync %s in %lld ms: %zu pods, %zu containers, %llu cri calls\n",
			err ? strerror(-err) : "ok", (long long)clock__mono_ms() - t0, st.pods, st.containers,
			(unsigned long long)st.cri_calls);
		t0 = (long long)clock__mono_ms();
		err = meta_cache__resync(mc);
		meta_cache__stats(mc, &st);
		fprintf(stderr, "podlens-cri: second resync %s in %lld ms, %llu cri calls in total\n",
			err ? strerror(-err) : "ok", (long long)clock__mono_ms() - t0, (unsigned long long)st.cri_calls);
	}
	if (!nids) {
		meta_cache__foreach(mc, print_meta, NULL);
	} else {
		for (int i = 0; i < argc; i++) {
			const struct workload_meta *m;

			if (argv[i][0] < '0' || argv[i][0] > '9' || (i && argv[i - 1][0] == '-'))
				continue;
			m = meta_cache__lookup(mc, strtoull(argv[i], NULL, 10));
			if (m)
				print_meta(m, NULL);
			else
				printf("cgroup=%s unknown\n", argv[i]);
		}
	}
	meta_cache__free(mc);
	return 0;
}

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static int cmd_kubelet(int argc, char **argv)
{
	struct kubelet_opts o = { .url = argc > 1 ? argv[1] : NULL, .token_file = opt(argc, argv, "--token-file"),
				  .ca_file = opt(argc, argv, "--ca") };
	struct k8s_pod *p;
	size_t n;
	int err;

	if (!o.url) {
		fprintf(stderr, "usage: podlens-cri kubelet URL [--token-file F] [--ca F]\n");
		return 2;
	}
	err = kubelet__get_pods(&o, &p, &n);
	if (err) {
		printf("error=%s\n", strerror(-err));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		printf("%s/%s uid=%s owner=%s/%s ips=", p[i].namespace, p[i].name, p[i].uid, p[i].owner_kind,
		       p[i].owner_name);
		for (size_t k = 0; k < p[i].n_ips; k++)
			printf("%s%s", k ? "," : "", p[i].ips[k]);
		printf(" ctrs=");
		for (size_t k = 0; k < p[i].n_ctrs; k++)
			printf("%s%s:%s:%.12s", k ? "," : "", p[i].ctrs[k].name, p[i].ctrs[k].runtime,
			       p[i].ctrs[k].id);
		printf(" monitor=%s\n", cri_kvs__get(&p[i].annotations, "podlens.io/monitor") ?: "");
	}
	printf("pods=%zu\n", n);
	k8s_pods__free(p, n);
	return 0;
}

static int cmd_nswatch(int argc, char **argv)
{
	struct k8s_api_opts o = { .url = argc > 1 ? argv[1] : NULL, .token_file = opt(argc, argv, "--token-file"),
				  .ca_file = opt(argc, argv, "--ca") };
	/* "incluster": KUBERNETES_SERVICE_HOST/PORT, as the agent does */
	bool incluster = o.url && !strcmp(o.url, "incluster");

	if (incluster)
		o.url = NULL;
	const char *until = opt(argc, argv, "--until-file"), *secs = opt(argc, argv, "--seconds");
	long long end = (long long)clock__mono_ms() + (secs ? atol(secs) : 30) * 1000LL;
	struct timespec ts = { 0, 20 * 1000000 };
	struct k8s_ns_watch *w;
	struct k8s_ns_stats st;
	uint64_t gen = 0;

	if (!o.url && !incluster) {
		fprintf(stderr, "usage: podlens-cri nswatch URL|incluster [--token-file F] [--ca F]\n");
		return 2;
	}
	w = k8s_ns_watch__start(&o);
	if (!w) {
		fprintf(stderr, "podlens-cri: namespace watch: %s\n", strerror(errno));
		return 1;
	}
	while ((long long)clock__mono_ms() < end && !(until && access(until, F_OK) == 0)) {
		uint64_t g = k8s_ns_watch__generation(w);

		if (g != gen) {
			static const char *const names[] = { "default", "kube-system", "shop", "payments", "jobs",
							     "added", NULL };

			gen = g;
			printf("gen=%llu\n", (unsigned long long)g);
			for (size_t i = 0; names[i]; i++) {
				struct cri_kvs a;

				if (k8s_ns_watch__annotations(w, names[i], &a))
					continue;
				printf("ns %s ", names[i]);
				for (size_t k = 0; k < a.n; k++)
					printf("%s%s=%s", k ? "," : "", a.v[k].key, a.v[k].value);
				printf("\n");
				cri_kvs__free(&a);
			}
			printf("end %llu\n", (unsigned long long)g);
			fflush(stdout);
		}
		nanosleep(&ts, NULL);
	}
	k8s_ns_watch__stats(w, &st);
	printf("stats lists=%llu watches=%llu events=%llu gone=%llu errors=%llu namespaces=%zu\n",
	       (unsigned long long)st.lists, (unsigned long long)st.watches, (unsigned long long)st.events,
	       (unsigned long long)st.relists_gone, (unsigned long long)st.errors, st.namespaces);
	k8s_ns_watch__stop(w);
	return 0;
}

static int cmd_cri(int argc, char **argv)
{
	const char *sock = "auto", *cmd = NULL, *arg = NULL;
	struct cri_client *c;
	long deadline = 0;
	int err = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--deadline") && i + 1 < argc)
			deadline = atol(argv[++i]);
		else if (!cmd)
			cmd = argv[i];
		else if (!arg)
			arg = argv[i];
	}
	if (!cmd) {
		fprintf(stderr, "podlens-cri: no command\n");
		return 2;
	}
	if (!strcmp(cmd, "meta")) {
		for (int i = 0; i < argc; i++)
			if (!strcmp(argv[i], "meta"))
				return cmd_meta(argc - i - 1, argv + i + 1, sock);
	}
	c = cri_client__new(sock, (uint32_t)deadline);
	if (!c) {
		fprintf(stderr, "podlens-cri: cri socket %s: %s\n", sock,
			errno == ENOENT ? "no runtime socket found" : strerror(errno));
		return 1;
	}
	if (!strcmp(cmd, "version")) {
		struct cri_version v;

		err = cri_client__version(c, &v);
		if (!err)
			printf("socket=%s runtime=%s version=%s api=%s\n", cri_client__socket(c),
			       v.runtime_name, v.runtime_version, v.runtime_api_version);
	} else if (!strcmp(cmd, "pods")) {
		struct cri_pod *p;
		size_t n;

		err = cri_client__list_pods(c, &p, &n);
		for (size_t i = 0; !err && i < n; i++)
			printf("%s %s/%s uid=%s state=%d annotations=%zu\n", p[i].id, p[i].namespace,
			       p[i].name, p[i].uid, p[i].state, p[i].annotations.n);
		if (!err)
			cri_pods__free(p, n);
	} else if (!strcmp(cmd, "ps")) {
		struct cri_container *ct;
		size_t n;

		err = cri_client__list_containers(c, &ct, &n);
		for (size_t i = 0; !err && i < n; i++)
			printf("%s pod=%s name=%s image=%s state=%d\n", ct[i].id, ct[i].pod_id, ct[i].name,
			       ct[i].image, ct[i].state);
		if (!err)
			cri_containers__free(ct, n);
	} else if (!strcmp(cmd, "inspectp") && arg) {
		struct cri_pod p;

		err = cri_client__pod_status(c, arg, &p);
		if (!err) {
			printf("%s %s/%s uid=%s pid=%d cgroup_parent=%s\n", p.id, p.namespace, p.name, p.uid,
			       p.pid, p.cgroup_parent ? p.cgroup_parent : "");
			for (size_t i = 0; i < p.n_ips; i++)
				printf("  ip %s\n", p.ips[i]);
			print_kvs("label", &p.labels);
			print_kvs("annotation", &p.annotations);
			cri_pod__free(&p);
		}
	} else if (!strcmp(cmd, "inspect") && arg) {
		struct cri_container ct;

		err = cri_client__container_status(c, arg, &ct);
		if (!err) {
			printf("%s pod=%s name=%s image=%s state=%d pid=%d cgroups_path=%s\n", ct.id, ct.pod_id,
			       ct.name, ct.image, ct.state, ct.pid, ct.cgroups_path ? ct.cgroups_path : "");
			print_kvs("label", &ct.labels);
			cri_container__free(&ct);
		}
	} else if (!strcmp(cmd, "capture") && arg) {
		err = capture(c, arg);
	} else {
		fprintf(stderr, "podlens-cri: unknown command %s\n", cmd);
		cri_client__free(c);
		return 2;
	}
	if (err)
		fprintf(stderr, "podlens-cri: %s\n", cri_client__last_error(c));
	cri_client__free(c);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *lvl = getenv("PODLENS_LOG_LEVEL");

	log__init("podlens-cri", lvl ? log__parse_level(lvl) : LOG_WARN);
	if (log__level < 0)
		log__level = LOG_WARN;
	if (argc < 2) {
		fprintf(stderr, "usage: podlens-cri grpc|version|pods|ps|inspect|inspectp|capture|cgroup ...\n");
		return 2;
	}
	if (!strcmp(argv[1], "grpc"))
		return cmd_grpc(argc - 1, argv + 1);
	if (!strcmp(argv[1], "kubelet"))
		return cmd_kubelet(argc - 1, argv + 1);
	if (!strcmp(argv[1], "nswatch"))
		return cmd_nswatch(argc - 1, argv + 1);
	return cmd_cri(argc - 1, argv + 1);
}
