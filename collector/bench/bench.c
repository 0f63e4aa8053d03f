/* collector-bench: ingest throughput (records/s on one core) and query latency of the collector's
 * store, on batches shaped like an agent's: W workloads, each with traffic, TCP health and R request
 * stats (a few histogram buckets), plus F flows. Each batch is serialized first; the timed path is
 * what an Export call costs past the HTTP/2 layer: protobuf decode, validation, the insert inside a
 * transaction, and the commit (one commit per `--per-commit` batches, as one server round).
 *
 *   collector-bench DIR [--batches N] [--workloads W] [--requests R] [--flows F] [--per-commit K]
 * Prints "ingest_records_per_s=..." and query latencies in ms. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/query.h"
#include "lib/sbuf.h"
#include "collector/store.h"
#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/log.h"
#include "podlens/v1/podlens.pb-c.h"

static double now_s(void)
{
	return (double)clock__mono_ns() / 1e9;
}

struct shape {
	int workloads, requests, flows;
};

/* Build and serialize one batch; returns malloc'd bytes. */
static uint8_t *make_batch(const struct shape *sh, uint64_t seq, uint64_t start_ms, size_t *len)
{
	Podlens__V1__Batch b = PODLENS__V1__BATCH__INIT;
	Podlens__V1__WorkloadStats *ws = calloc((size_t)sh->workloads, sizeof(*ws));
	Podlens__V1__WorkloadStats **wsp = calloc((size_t)sh->workloads, sizeof(*wsp));
	Podlens__V1__Workload *w = calloc((size_t)sh->workloads + 1, sizeof(*w));
	Podlens__V1__PodTraffic *t = calloc((size_t)sh->workloads, sizeof(*t));
	Podlens__V1__TcpHealth *tcp = calloc((size_t)sh->workloads, sizeof(*tcp));
	size_t nreq = (size_t)sh->workloads * (size_t)sh->requests;
	Podlens__V1__RequestStats *rs = calloc(nreq, sizeof(*rs));
	Podlens__V1__RequestStats **rsp = calloc(nreq, sizeof(*rsp));
	Podlens__V1__RequestStats__Bucket *bk = calloc(nreq * 3, sizeof(*bk));
	Podlens__V1__RequestStats__Bucket **bkp = calloc(nreq * 3, sizeof(*bkp));
	Podlens__V1__Flow *f = calloc((size_t)sh->flows, sizeof(*f));
	Podlens__V1__Flow **fp = calloc((size_t)sh->flows, sizeof(*fp));
	char (*names)[32] = calloc((size_t)sh->workloads, 32);
	static const char *const routes[] = { "/", "/api/items", "/api/items/:id", "/login", "/cart", "/pay" };
	uint8_t addr[2][4] = { { 10, 0, 0, 1 }, { 10, 0, 0, 2 } };
	uint8_t *out;

	for (int i = 0; i < sh->workloads; i++) {
		Podlens__V1__Workload wi = PODLENS__V1__WORKLOAD__INIT;
		Podlens__V1__PodTraffic ti = PODLENS__V1__POD_TRAFFIC__INIT;
		Podlens__V1__TcpHealth ci = PODLENS__V1__TCP_HEALTH__INIT;
		Podlens__V1__WorkloadStats wsi = PODLENS__V1__WORKLOAD_STATS__INIT;

		snprintf(names[i], 32, "pod-%03d", i);
		w[i] = wi;
		w[i].node = (char *)"node-1";
		w[i].namespace_ = (char *)(i % 2 ? "shop" : "payments");
		w[i].pod = names[i];
		w[i].container = (char *)"app";
		w[i].image = (char *)"registry.local/app:1";
		t[i] = ti;
		t[i].rx_bytes = 1000 + seq;
		t[i].tx_bytes = 2000 + seq;
		tcp[i] = ci;
		tcp[i].passive_opens = 3;
		tcp[i]._srtt_us_case = PODLENS__V1__TCP_HEALTH___SRTT_US_SRTT_US;
		tcp[i].srtt_us = 120;
		ws[i] = wsi;
		ws[i].workload = &w[i];
		ws[i].traffic = &t[i];
		ws[i].tcp = &tcp[i];
		ws[i].n_requests = (size_t)sh->requests;
		ws[i].requests = &rsp[(size_t)i * (size_t)sh->requests];
		wsp[i] = &ws[i];
		for (int j = 0; j < sh->requests; j++) {
			size_t k = (size_t)i * (size_t)sh->requests + (size_t)j;
			Podlens__V1__RequestStats ri = PODLENS__V1__REQUEST_STATS__INIT;
			Podlens__V1__RequestStats__Bucket bi = PODLENS__V1__REQUEST_STATS__BUCKET__INIT;

			rs[k] = ri;
			rs[k].direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER;
			rs[k].protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1;
			rs[k].method = (char *)"GET";
			rs[k].route = (char *)routes[j % 6];
			rs[k].status_code = j % 7 == 6 ? 500 : 200;
			for (int q = 0; q < 3; q++) {
				bk[k * 3 + q] = bi;
				bk[k * 3 + q].index = hist__bucket(500u << (q * 3));
				bk[k * 3 + q].count = 10u >> q;
				bkp[k * 3 + q] = &bk[k * 3 + q];
				rs[k].count += 10u >> q;
				rs[k].sum_us += (uint64_t)(10u >> q) * (500u << (q * 3));
			}
			rs[k].n_buckets = 3;
			rs[k].buckets = &bkp[k * 3];
			rsp[k] = &rs[k];
		}
	}
	Podlens__V1__Workload remote = PODLENS__V1__WORKLOAD__INIT;

	remote.namespace_ = (char *)"shop";
	remote.pod = (char *)"db";
	for (int i = 0; i < sh->flows; i++) {
		Podlens__V1__Flow fi = PODLENS__V1__FLOW__INIT;

		f[i] = fi;
		f[i].local = &w[i % sh->workloads];
		f[i].local_addr.data = addr[0];
		f[i].local_addr.len = 4;
		f[i].remote_addr.data = addr[1];
		f[i].remote_addr.len = 4;
		f[i].local_port = 40000 + (uint32_t)i;
		f[i].remote_port = 5432;
		f[i].direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND;
		f[i].rx_bytes = 100;
		f[i].tx_bytes = 200;
		f[i].connections = 1;
		f[i].remote = &remote;
		fp[i] = &f[i];
	}
	b.agent_id = (char *)"bench-agent";
	b.node = (char *)"node-1";
	b.sequence = seq;
	b.interval_start_unix_ms = start_ms;
	b.interval_ms = 10000;
	b.n_workloads = (size_t)sh->workloads;
	b.workloads = wsp;
	b.n_flows = (size_t)sh->flows;
	b.flows = fp;
	*len = podlens__v1__batch__get_packed_size(&b);
	out = malloc(*len);
	podlens__v1__batch__pack(&b, out);
	free(ws); free(wsp); free(w); free(t); free(tcp); free(rs); free(rsp); free(bk); free(bkp);
	free(f); free(fp); free(names);
	return out;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct shape sh = { .workloads = 50, .requests = 6, .flows = 40 };
	int batches = 400, per_commit = 1;
	uint8_t **bufs;
	size_t *lens, records = 0;
	uint64_t t0_ms = 1700000400000ULL;
	struct store *s;
	double t0, el, c0, cel;

	log__init("collector-bench", LOG_WARN);
	if (argc < 2) {
		fprintf(stderr, "usage: collector-bench DIR [--batches N] [--workloads W] [--requests R] "
				"[--flows F] [--per-commit K]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		int v = atoi(argv[i + 1]);

		if (!strcmp(argv[i], "--batches")) batches = v;
		else if (!strcmp(argv[i], "--workloads")) sh.workloads = v;
		else if (!strcmp(argv[i], "--requests")) sh.requests = v;
		else if (!strcmp(argv[i], "--flows")) sh.flows = v;
		else if (!strcmp(argv[i], "--per-commit")) per_commit = v;
		else {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (batches < 1 || sh.workloads < 1 || sh.requests < 0 || sh.flows < 0 || per_commit < 1)
		return 2;
	struct store_opts so = { .dir = argv[1], .retention_ms = 400ULL * 24 * 3600 * 1000 };

	s = store__open(&so);
	if (!s) {
		fprintf(stderr, "cannot open store in %s\n", argv[1]);
		return 1;
	}
	bufs = calloc((size_t)batches, sizeof(*bufs));
	lens = calloc((size_t)batches, sizeof(*lens));
	for (int i = 0; i < batches; i++)
		bufs[i] = make_batch(&sh, (uint64_t)i + 1, t0_ms + (uint64_t)i * 10000, &lens[i]);

	t0 = now_s();
	c0 = cpu_s();
	for (int i = 0; i < batches; i++) {
		Podlens__V1__Batch *b = podlens__v1__batch__unpack(NULL, lens[i], bufs[i]);
		struct store_add_result r;

		if (!b || store__validate(b) || store__begin(s) < 0 ||
		    store__add_batch(s, b, t0_ms + (uint64_t)i * 10000, &r) < 0) {
			fprintf(stderr, "ingest of batch %d failed\n", i);
			return 1;
		}
		records += r.records;
		podlens__v1__batch__free_unpacked(b, NULL);
		if ((i + 1) % per_commit == 0 || i + 1 == batches)
			if (store__commit(s) < 0) {
				fprintf(stderr, "commit failed\n");
				return 1;
			}
	}
	el = now_s() - t0;
	cel = cpu_s() - c0;
	/* records per CPU-second is the one-core figure; wall time also counts waiting for the disk
	 * and for other processes on a shared machine */
	printf("collector ingest: %zu records in %d batches (%d workloads x %d request stats + %d flows, "
	       "%zu bytes each), %d batch(es) per commit: cpu %.3f s, wall %.3f s, "
	       "ingest_records_per_cpu_s=%.0f ingest_records_per_wall_s=%.0f\n",
	       records, batches, sh.workloads, sh.requests, sh.flows, lens[0], per_commit, cel, el,
	       (double)records / cel, (double)records / el);

	t0 = now_s();
	if (store__maintain(s, t0_ms + (uint64_t)batches * 10000, 64) < 0)
		return 1;
	printf("collector rollups: first maintenance pass (<=64 buckets) %.1f ms\n", (now_s() - t0) * 1000);

	/* query latency: median of 20 runs each */
	int64_t from = (int64_t)t0_ms, to = (int64_t)(t0_ms + (uint64_t)batches * 10000);
	const char *names[3] = { "pods(shop, last 5 min)", "series(shop/pod-001, all, 120 points)",
				 "edges(all, last 5 min)" };
	for (int q = 0; q < 3; q++) {
		double lat[20];

		for (int k = 0; k < 20; k++) {
			struct sbuf out = { 0 };
			int err;

			t0 = now_s();
			if (q == 0)
				err = query__pods_json(s, "shop", to - 300000, to, &out);
			else if (q == 1)
				err = query__series_json(s, "shop", "pod-001", from, to,
							 ((to - from) / 120 / 1000 + 1) * 1000, &out);
			else
				err = query__edges_json(s, NULL, NULL, false, to - 300000, to, &out);
			lat[k] = (now_s() - t0) * 1000;
			sbuf__free(&out);
			if (err < 0) {
				fprintf(stderr, "query %s failed: %d\n", names[q], err);
				return 1;
			}
		}
		qsort(lat, 20, sizeof(double), cmp_d);
		printf("collector query %s: median %.2f ms, max %.2f ms\n", names[q], lat[10], lat[19]);
	}
	for (int i = 0; i < batches; i++)
		free(bufs[i]);
	free(bufs);
	free(lens);
	store__close(s);
	return 0;
}
