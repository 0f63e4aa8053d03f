/* export-test-driver: submits synthetic batches with known content through exporter__submit, so
 * the export suites test the exporter against real receivers without the kernel or the agent.
 *
 * Batch k (k = --first-batch, ...) holds --workloads W workloads; workload i has the values of
 * tests/integration/export/expect.py (the ground truth the suites compare against):
 *   interval_start_unix_ms = 1700000000000 + k * 10000, interval_ms = 10000
 *   pod "pod-<i>" in "ns-<i % 3>", uid "uid-<i>", container "c-<i>", id "cid<i>", image "img:<i>",
 *   owner Deployment "dep-<i>", cgroup_id 1000 + i
 *   traffic rx_bytes = 1000k + i, tx_bytes = 2000k + i, rx_packets = k + i, tx_packets = 2k + i
 *   tcp active_opens = k, passive_opens = i, closes = 1, retransmits = (k + i) % 5,
 *       resets_sent = k % 2, resets_received = i % 2, srtt_us = 100 + i, connect_latency_us =
 *       50 + k, connects = 1
 *   one request stat: SERVER HTTP1 GET "/r/<i % 4>" 200, latencies 5, 100 (i + 1), 1000 k us
 *     (--mixed-requests: by i % 4 that one, a CLIENT HTTP2 GET "/r/1" 404, a SERVER gRPC
 *     "/t.v1.Echo/Say" status 0, a CLIENT gRPC "/t.v1.Echo/Say" status 5: the four OTLP
 *     semantic-convention metrics, check.py otlp --mixed)
 *   agent drop counters: ringbuf_drops {"tcp": k % 3}, l7_parse_errors = 1 when k % 4 == 0
 * plus --flows F flows and --events E process events (127.0.0.x addresses, pids 1000k + j).
 *
 * It prints progress ("submitted N") to --progress after every submit, and the exporter's stats as
 * JSON to --stats at the end. --every-ms paces submissions like an agent interval. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/export/exporter.h"
#include "lib/hist.h"
#include "lib/log.h"

#define BASE_MS 1700000000000ull

static uint64_t base_ms = BASE_MS;   /* --base-ms: interval k starts at base_ms + k * 10000 */

struct arena {
	void *p[64];
	int n;
};

static char *fmt(struct arena *a, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(struct arena *a, const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		abort();
	va_end(ap);
	(void)a;
	return s;
}

static void add_bucket(Podlens__V1__RequestStats *r, uint64_t v)
{
	unsigned idx = hist__bucket(v);

	for (size_t i = 0; i < r->n_buckets; i++) {
		if (r->buckets[i]->index == idx) {
			r->buckets[i]->count++;
			return;
		}
	}
	r->buckets = realloc(r->buckets, (r->n_buckets + 1) * sizeof(*r->buckets));
	r->buckets[r->n_buckets] = calloc(1, sizeof(**r->buckets));
	podlens__v1__request_stats__bucket__init(r->buckets[r->n_buckets]);
	r->buckets[r->n_buckets]->index = idx;
	r->buckets[r->n_buckets]->count = 1;
	r->n_buckets++;
}

static Podlens__V1__Workload *workload(const char *node, unsigned i)
{
	Podlens__V1__Workload *w = calloc(1, sizeof(*w));

	podlens__v1__workload__init(w);
	w->node = strdup(node);
	w->namespace_ = fmt(NULL, "ns-%u", i % 3);
	w->pod = fmt(NULL, "pod-%u", i);
	w->pod_uid = fmt(NULL, "uid-%u", i);
	w->container = fmt(NULL, "c-%u", i);
	w->container_id = fmt(NULL, "cid%u", i);
	w->image = fmt(NULL, "img:%u", i);
	w->owner_kind = strdup("Deployment");
	w->owner_name = fmt(NULL, "dep-%u", i);
	w->cgroup_id = 1000 + i;
	w->cgroup_path = fmt(NULL, "/kubepods/poduid-%u/cid%u", i, i);
	return w;
}

static int mixed_requests;

static Podlens__V1__Batch *make_batch(const char *node, uint64_t k, unsigned nw, unsigned nf, unsigned ne)
{
	Podlens__V1__Batch *b = calloc(1, sizeof(*b));

	podlens__v1__batch__init(b);
	b->interval_start_unix_ms = base_ms + k * 10000;
	b->interval_ms = 10000;
	b->n_workloads = nw;
	b->workloads = calloc(nw ? nw : 1, sizeof(*b->workloads));
	for (unsigned i = 0; i < nw; i++) {
		Podlens__V1__WorkloadStats *ws = calloc(1, sizeof(*ws));
		Podlens__V1__PodTraffic *t = calloc(1, sizeof(*t));
		Podlens__V1__TcpHealth *h = calloc(1, sizeof(*h));
		Podlens__V1__RequestStats *r = calloc(1, sizeof(*r));

		podlens__v1__workload_stats__init(ws);
		podlens__v1__pod_traffic__init(t);
		podlens__v1__tcp_health__init(h);
		podlens__v1__request_stats__init(r);
		ws->workload = workload(node, i);
		t->rx_bytes = 1000 * k + i;
		t->tx_bytes = 2000 * k + i;
		t->rx_packets = k + i;
		t->tx_packets = 2 * k + i;
		ws->traffic = t;
		h->active_opens = k;
		h->passive_opens = i;
		h->closes = 1;
		h->retransmits = (k + i) % 5;
		h->resets_sent = k % 2;
		h->resets_received = i % 2;
		h->_srtt_us_case = PODLENS__V1__TCP_HEALTH___SRTT_US_SRTT_US;
		h->srtt_us = 100 + i;
		h->_connect_latency_us_case = PODLENS__V1__TCP_HEALTH___CONNECT_LATENCY_US_CONNECT_LATENCY_US;
		h->connect_latency_us = (uint32_t)(50 + k);
		h->connects = 1;
		ws->tcp = h;
		r->direction = PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER;
		r->protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1;
		r->method = strdup("GET");
		r->route = fmt(NULL, "/r/%u", i % 4);
		r->status_code = 200;
		if (mixed_requests && i % 4) {
			static const char *const path = "/t.v1.Echo/Say";

			r->direction = i % 2 ? PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT
					     : PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER;
			r->protocol = i % 4 == 1 ? PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP2
						 : PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_GRPC;
			r->status_code = i % 4 == 1 ? 404 : i % 4 == 2 ? 0 : 5;
			if (i % 4 != 1) {
				free(r->method);
				free(r->route);
				r->method = strdup(path);
				r->route = strdup(path);
			}
		}
		r->count = 3;
		r->sum_us = 5 + 100 * (i + 1) + 1000 * k;
		add_bucket(r, 5);
		add_bucket(r, 100 * (i + 1));
		add_bucket(r, 1000 * k);
		ws->n_requests = 1;
		ws->requests = calloc(1, sizeof(*ws->requests));
		ws->requests[0] = r;
		b->workloads[i] = ws;
	}
	b->n_flows = nf;
	b->flows = calloc(nf ? nf : 1, sizeof(*b->flows));
	for (unsigned j = 0; j < nf; j++) {
		Podlens__V1__Flow *f = calloc(1, sizeof(*f));
		uint8_t *la = malloc(4), *ra = malloc(4);

		podlens__v1__flow__init(f);
		f->local = workload(node, j % (nw ? nw : 1));
		memcpy(la, (uint8_t[]){ 127, 0, 0, 1 }, 4);
		memcpy(ra, (uint8_t[]){ 127, 0, 0, (uint8_t)(2 + j % 200) }, 4);
		f->local_addr = (ProtobufCBinaryData){ 4, la };
		f->remote_addr = (ProtobufCBinaryData){ 4, ra };
		f->local_port = 8080;
		f->remote_port = (uint32_t)(30000 + j);
		f->direction = PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND;
		f->rx_bytes = 10 * k + j;
		f->tx_bytes = 20 * k + j;
		f->connections = 1;
		b->flows[j] = f;
	}
	b->n_process_events = ne;
	b->process_events = calloc(ne ? ne : 1, sizeof(*b->process_events));
	for (unsigned j = 0; j < ne; j++) {
		Podlens__V1__ProcessEvent *p = calloc(1, sizeof(*p));

		podlens__v1__process_event__init(p);
		p->kind = PODLENS__V1__PROCESS_EVENT__KIND__KIND_EXEC;
		p->time_unix_ms = base_ms + k * 10000 + j;
		p->pid = (uint32_t)(1000 * k + j);
		p->comm = fmt(NULL, "proc-%u", j);
		p->filename = fmt(NULL, "/bin/proc-%u", j);
		p->cgroup_id = 1000 + j % (nw ? nw : 1);
		b->process_events[j] = p;
	}
	/* the agent's own drop counters */
	if (k % 3 || k % 4 == 0) {
		Podlens__V1__DropCounters *d = calloc(1, sizeof(*d));

		podlens__v1__drop_counters__init(d);
		if (k % 3) {
			d->n_ringbuf_drops = 1;
			d->ringbuf_drops = calloc(1, sizeof(*d->ringbuf_drops));
			d->ringbuf_drops[0] = calloc(1, sizeof(**d->ringbuf_drops));
			podlens__v1__drop_counters__ringbuf_drops_entry__init(d->ringbuf_drops[0]);
			d->ringbuf_drops[0]->key = strdup("tcp");
			d->ringbuf_drops[0]->value = k % 3;
		}
		if (k % 4 == 0)
			d->l7_parse_errors = 1;
		b->drops = d;
	}
	return b;
}

static uint64_t submit_ns_total, submit_ns_max;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void write_stats(const char *path, const struct exporter_stats *s)
{
	const struct exporter_dest_stats *d[2] = { &s->collector, &s->otlp };
	const char *names[2] = { "collector", "otlp" };
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return;
	}
	fprintf(f, "{\"submitted_batches\":%" PRIu64 ",\"submitted_records\":%" PRIu64
		   ",\"next_sequence\":%" PRIu64 ",\"submit_us_total\":%" PRIu64
		   ",\"submit_us_max\":%" PRIu64, s->submitted_batches, s->submitted_records,
		s->next_sequence, submit_ns_total / 1000, submit_ns_max / 1000);
	for (int j = 0; j < 2; j++) {
		fprintf(f, ",\"%s\":{\"sent_batches\":%" PRIu64 ",\"sent_records\":%" PRIu64
			   ",\"sent_bytes\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"queued_batches\":%" PRIu64
			   ",\"last_status\":%d,\"failovers\":%" PRIu64 ",\"endpoint\":\"%s\"",
			names[j], d[j]->sent_batches, d[j]->sent_records, d[j]->sent_bytes, d[j]->retries,
			d[j]->queued_batches, d[j]->last_status, d[j]->failovers, d[j]->endpoint);
		for (int r = 0; r < EXPORTER_DROP_NREASONS; r++)
			fprintf(f, ",\"dropped_batches_%s\":%" PRIu64 ",\"dropped_records_%s\":%" PRIu64,
				exporter_drop_reason__name(r), d[j]->dropped_batches[r],
				exporter_drop_reason__name(r), d[j]->dropped_records[r]);
		fprintf(f, "}");
	}
	fprintf(f, "}\n");
	fclose(f);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: export-test-driver [--collector URL] [--otlp URL] [--ca F] [--cert F --key F]\n"
		"  [--token-file F] [--spool-dir D] [--spool-max-bytes N] [--max-batch-bytes N]\n"
		"  [--node N] [--agent-id ID] [--batches N] [--first-batch K] [--workloads W]\n"
		"  [--flows F] [--events E] [--every-ms T] [--deadline-ms T] [--backoff-ms T]\n"
		"  [--backoff-max-ms T] [--flush-ms T] [--no-flush] [--progress F] [--stats F]\n"
		"  [--metrics F (Prometheus text of the exporter's counters)] [--mixed-requests] [--verbose]\n"
		"  [--base-ms MS (interval k starts at MS + k * 10000; default 1700000000000)]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "collector", 1, 0, 'c' }, { "otlp", 1, 0, 'o' }, { "ca", 1, 0, 'A' },
		{ "cert", 1, 0, 'C' }, { "key", 1, 0, 'K' }, { "token-file", 1, 0, 't' },
		{ "spool-dir", 1, 0, 's' }, { "spool-max-bytes", 1, 0, 'm' },
		{ "max-batch-bytes", 1, 0, 'M' }, { "node", 1, 0, 'n' }, { "agent-id", 1, 0, 'i' },
		{ "batches", 1, 0, 'b' }, { "first-batch", 1, 0, 'f' }, { "workloads", 1, 0, 'w' },
		{ "flows", 1, 0, 'F' }, { "events", 1, 0, 'E' }, { "every-ms", 1, 0, 'e' },
		{ "deadline-ms", 1, 0, 'd' }, { "backoff-ms", 1, 0, 'B' }, { "backoff-max-ms", 1, 0, 'X' },
		{ "flush-ms", 1, 0, 'T' }, { "no-flush", 0, 0, 'N' }, { "progress", 1, 0, 'p' },
		{ "stats", 1, 0, 'S' }, { "verbose", 0, 0, 'v' }, { "metrics", 1, 0, 'P' },
		{ "mixed-requests", 0, 0, 'R' }, { "base-ms", 1, 0, 'Z' }, { 0 },
	};
	struct exporter_opts o = { .node = "test-node" };
	unsigned batches = 1, nw = 3, nf = 0, ne = 0, every_ms = 0, flush_ms = 30000;
	uint64_t first = 1;
	const char *progress = NULL, *stats_path = NULL, *metrics_path = NULL;
	int no_flush = 0, c, rc = 0, level = LOG_WARN;
	struct exporter_stats st;
	struct exporter *e;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o.url = optarg; break;
		case 'o': o.otlp_url = optarg; break;
		case 'A': o.ca_file = o.otlp_ca_file = optarg; break;
		case 'C': o.cert_file = o.otlp_cert_file = optarg; break;
		case 'K': o.key_file = o.otlp_key_file = optarg; break;
		case 't': o.token_file = o.otlp_token_file = optarg; break;
		case 's': o.spool_dir = optarg; break;
		case 'm': o.spool_max_bytes = strtoull(optarg, NULL, 0); break;
		case 'M': o.max_batch_bytes = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': o.node = optarg; break;
		case 'i': o.agent_id = optarg; break;
		case 'b': batches = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'f': first = strtoull(optarg, NULL, 0); break;
		case 'w': nw = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'F': nf = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'E': ne = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'e': every_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'd': o.deadline_ms = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'B': o.backoff_initial_ms = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'X': o.backoff_max_ms = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'T': flush_ms = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'N': no_flush = 1; break;
		case 'p': progress = optarg; break;
		case 'S': stats_path = optarg; break;
		case 'v': level = LOG_DEBUG; break;
		case 'P': metrics_path = optarg; break;
		case 'R': mixed_requests = 1; break;
		case 'Z': base_ms = strtoull(optarg, NULL, 0); break;
		default: usage();
		}
	}
	log__init("export-test-driver", level);
	o.agent_version = "test";
	e = exporter__new(&o);
	if (!e) {
		fprintf(stderr, "export-test-driver: exporter: %s\n", strerror(errno));
		return 1;
	}
	for (unsigned n = 0; n < batches; n++) {
		Podlens__V1__Batch *b = make_batch(o.node, first + n, nw, nf, ne);

		uint64_t t0 = now_ns(), dt;

		if (exporter__submit(e, b) < 0)
			rc = 1;
		dt = now_ns() - t0;
		submit_ns_total += dt;
		if (dt > submit_ns_max)
			submit_ns_max = dt;
		podlens__v1__batch__free_unpacked(b, NULL);   /* the driver calloc'd with the default allocator */
		if (progress) {
			FILE *f = fopen(progress, "w");

			if (f) {
				fprintf(f, "submitted %u\n", n + 1);
				fclose(f);
			}
		}
		if (every_ms)
			nanosleep(&(struct timespec){ every_ms / 1000, (long)(every_ms % 1000) * 1000000 }, NULL);
	}
	if (!no_flush && exporter__flush(e, (int)flush_ms) < 0) {
		fprintf(stderr, "export-test-driver: flush timed out after %u ms\n", flush_ms);
		rc = 3;
	}
	exporter__stats(e, &st);
	if (stats_path)
		write_stats(stats_path, &st);
	if (metrics_path) {
		static char text[16384];
		FILE *f = fopen(metrics_path, "w");

		if (f && exporter__format_metrics(e, text, sizeof(text)) >= 0)
			fputs(text, f);
		if (f)
			fclose(f);
	}
	exporter__free(e);
	return rc;
}
