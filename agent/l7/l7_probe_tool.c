/* l7-probe-test: the L7 probe on its own, for the integration test and the benchmark.
 *
 *   l7-probe-test [-d SECONDS] [-r RINGBUF_KB] [-S STAGE] [-E] [-P DNS_PORTS] [-T DNS_TIMEOUT_MS]
 *                 CGROUP2_DIR...
 *   (-S / -E: cost study only, see l7_stage in bpf/l7.bpf.c; -E attaches empty programs;
 *    -N: no in-kernel aggregation, every request through the ring buffer)
 *
 * Loads bpf/l7, attaches to every CGROUP2_DIR, prints one JSON line when attached
 *   {"attached":N,"ingress_prog_id":I,"egress_prog_id":E}
 * then aggregates until SIGINT/SIGTERM (or -d SECONDS), drains the ring buffer and prints one JSON
 * line: {"cgroups":[{"path","cgroup_id","http":[...]}],"stats":{...}} with the `http` list exactly
 * as the agent's JSON output carries it (http_agg__json of the HTTP/1 module's aggregator; an empty
 * list for a cgroup without requests), and "dns" / "dns_search" when the DNS module has any (the
 * agent's fields), "peers" (agent/pipeline/peers.h, the agent's field; absent when none); "dns_stats"
 * the DNS module's counters; "http2" when the HTTP/2 module has rows for the cgroup, "http2_stats" its
 * counters (struct h2_stats). Exit 0, 1 on setup errors, 2 on usage. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "agent/l7/dns_module.h"
#include "agent/l7/http2_module.h"
#include "agent/l7/http_agg.h"
#include "agent/l7/l7.h"
#include "agent/pipeline/peers.h"
#include "agent/probes/l7.h"
#include "lib/clock.h"
#include "lib/log.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	return (double)clock__mono_ns() / 1e9;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct l7_probe_opts opts = {};
	struct peers *peers = NULL;
	struct dns_config dcfg = {};
	struct dns_module_stats ds;
	void *dagg = NULL, *hagg = NULL;
	struct l7_probe_stats st;
	struct l7_probe *p = NULL;
	struct l7_set *set = NULL;
	void *agg = NULL;
	uint64_t *ids = NULL;
	double duration = 0, t_end, t_harvest;
	json_t *out = NULL, *list;
	uint32_t in_id = 0, eg_id = 0;
	int opt, ep = -1, rc = 1, n;

	log__init("l7-probe-test", LOG_INFO);
	while ((opt = getopt(argc, argv, "d:r:S:ENP:T:")) != -1) {
		if (opt == 'P') {
			char *save = NULL, *tok;
			int i = 0;

			opts.dns_ports_set = true;
			for (tok = strtok_r(optarg, ",", &save); tok && i < L7_DNS_PORTS_MAX;
			     tok = strtok_r(NULL, ",", &save))
				opts.dns_ports[i++] = (uint16_t)atoi(tok);
		} else if (opt == 'T')
			dcfg.timeout_ms = strtoull(optarg, NULL, 10);
		else if (opt == 'd')
			duration = atof(optarg);
		else if (opt == 'S')
			opts.stage = (unsigned)atoi(optarg);
		else if (opt == 'N')
			opts.no_kernel_agg = true;
		else if (opt == 'E')
			opts.empty = true;
		else if (opt == 'r')
			opts.ringbuf_bytes = (size_t)strtoul(optarg, NULL, 10) * 1024;
		else
			goto usage;
	}
	n = argc - optind;
	if (n < 1)
		goto usage;
	dns_module__configure(&dcfg);
	set = l7_set__new(NULL);
	peers = peers__new(NULL);
	ids = calloc(n, sizeof(*ids));
	if (!set || !ids || !l7_set__module(set, L7_PROTO_HTTP1, &agg) ||
	    !l7_set__module(set, L7_PROTO_DNS, &dagg))
		goto cleanup;
	opts.set = set;
	opts.peers = peers;
	p = l7_probe__new(&opts);
	if (!p) {
		fprintf(stderr, "l7-probe-test: load: %s\n", strerror(errno));
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		const char *path = argv[optind + i];
		struct stat sb;
		int fd = open(path, O_RDONLY | O_DIRECTORY);

		if (fd < 0 || fstat(fd, &sb)) {
			fprintf(stderr, "l7-probe-test: %s: %s\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto cleanup;
		}
		ids[i] = sb.st_ino;     /* cgroup2 id = inode number of the directory */
		rc = l7_probe__attach_cgroup(p, ids[i], fd);
		close(fd);
		if (rc) {
			fprintf(stderr, "l7-probe-test: attach %s: %s\n", path, strerror(-rc));
			rc = 1;
			goto cleanup;
		}
	}
	rc = 1;
	l7_probe__prog_ids(p, &in_id, &eg_id);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("{\"attached\":%d,\"ingress_prog_id\":%u,\"egress_prog_id\":%u}\n", n, in_id, eg_id);
	fflush(stdout);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l7_probe__fd(p),
				&(struct epoll_event){ .events = EPOLLIN }))
		goto cleanup;
	t_end = duration > 0 ? now_s() + duration : 0;
	t_harvest = now_s() + 1;
	while (!stop && (!t_end || now_s() < t_end)) {
		struct epoll_event ev;

		/* the kernel wakes us only every wakeup_bytes; drain (and harvest the per-CPU cache)
		 * every second anyway, as the agent does at its interval */
		if (epoll_wait(ep, &ev, 1, 1000) < 0 && errno != EINTR)
			goto cleanup;
		if (now_s() >= t_harvest) {
			t_harvest = now_s() + 1;
			if (l7_probe__harvest(p) < 0)
				goto cleanup;
		} else if (l7_probe__poll(p) < 0) {
			goto cleanup;
		}
	}
	if (l7_probe__harvest(p) < 0)
		goto cleanup;

	out = json_pack("{s:[]}", "cgroups");
	list = json_object_get(out, "cgroups");
	for (int i = 0; i < n; i++) {
		json_t *c = json_pack("{s:s, s:I, s:o}", "path", argv[optind + i],
				      "cgroup_id", (json_int_t)ids[i], "http", http_agg__json(agg, ids[i]));
		json_t *f = l7_set__json(set, ids[i]), *pj = peers ? peers__json(peers, ids[i]) : NULL;

		if (pj)
			json_object_set_new(c, "peers", pj);

		if (c && f) {
			if (json_object_get(f, "dns"))
				json_object_set(c, "dns", json_object_get(f, "dns"));
			if (json_object_get(f, "dns_search"))
				json_object_set(c, "dns_search", json_object_get(f, "dns_search"));
			if (json_object_get(f, "http2"))
				json_object_set(c, "http2", json_object_get(f, "http2"));
		}
		json_decref(f);
		json_array_append_new(list, c);
	}
	dns_module__stats(dagg, &ds);
	json_object_set_new(out, "dns_stats", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
			"queries", (json_int_t)ds.queries, "responses", (json_int_t)ds.responses,
			"malformed", (json_int_t)ds.malformed, "unmatched", (json_int_t)ds.unmatched,
			"timeouts", (json_int_t)ds.timeouts, "evicted", (json_int_t)ds.evicted));
	if (l7_probe__stats(p, &st) == 0)
		json_object_set_new(out, "stats", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				"events", (json_int_t)st.events, "aggregated", (json_int_t)st.aggregated,
				"cached", (json_int_t)st.cached, "unparsed", (json_int_t)st.unparsed,
				"agg_dropped", (json_int_t)st.agg_dropped, "rb_drops", (json_int_t)st.rb_drops,
				"pipelined", (json_int_t)st.pipelined, "no_storage", (json_int_t)st.no_storage,
				"interim", (json_int_t)st.interim));
	if (l7_probe__stats(p, &st) == 0) {
		json_object_set_new(json_object_get(out, "stats"), "dns_events", json_integer((json_int_t)st.dns_events));
		json_object_set_new(json_object_get(out, "stats"), "dns_drops", json_integer((json_int_t)st.dns_drops));
		json_object_set_new(json_object_get(out, "stats"), "dns_batches", json_integer((json_int_t)st.dns_batches));
		json_object_set_new(json_object_get(out, "stats"), "dns_forced", json_integer((json_int_t)st.dns_forced));
		json_object_set_new(json_object_get(out, "stats"), "dns_flushes", json_integer((json_int_t)st.dns_flushes));
		json_object_set_new(json_object_get(out, "stats"), "h2_events", json_integer((json_int_t)st.h2_events));
		json_object_set_new(json_object_get(out, "stats"), "h2_batches", json_integer((json_int_t)st.h2_batches));
		json_object_set_new(json_object_get(out, "stats"), "h2_bad", json_integer((json_int_t)st.h2_bad));
		json_object_set_new(json_object_get(out, "stats"), "h2_drops", json_integer((json_int_t)st.h2_drops));
		json_object_set_new(json_object_get(out, "stats"), "h2_lost", json_integer((json_int_t)st.h2_lost));
		json_object_set_new(json_object_get(out, "stats"), "h2_flushes", json_integer((json_int_t)st.h2_flushes));
		json_object_set_new(json_object_get(out, "stats"), "h2_forced", json_integer((json_int_t)st.h2_forced));
	}
	if (l7_set__module(set, L7_PROTO_HTTP2, &hagg)) {
		struct h2_stats hs;

		http2_module__stats(hagg, &hs);
		json_object_set_new(out, "http2_stats", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				"records", (json_int_t)hs.records, "conns", (json_int_t)hs.conns,
				"streams", (json_int_t)hs.streams, "completed", (json_int_t)hs.completed,
				"unmatched", (json_int_t)hs.unmatched, "stream_drops", (json_int_t)hs.stream_drops,
				"resets", (json_int_t)hs.resets, "malformed", (json_int_t)hs.malformed,
				"oversized", (json_int_t)hs.oversized, "hpack_errors", (json_int_t)hs.hpack_errors,
				"given_up", (json_int_t)hs.given_up, "lost", (json_int_t)hs.lost,
				"gaps", (json_int_t)hs.gaps));
	}
	json_dumpf(out, stdout, JSON_COMPACT);
	printf("\n");
	rc = 0;
cleanup:
	json_decref(out);
	if (ep >= 0)
		close(ep);
	l7_probe__free(p);
	l7_set__free(set);
	peers__free(peers);
	free(ids);
	return rc;
usage:
	fprintf(stderr, "usage: l7-probe-test [-d SECONDS] [-r RINGBUF_KB] [-S STAGE] [-E] [-N] [-P DNS_PORTS] "
		"[-T DNS_TIMEOUT_MS] CGROUP2_DIR...\n");
	return 2;
}
