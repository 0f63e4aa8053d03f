/* collector-loadgen: synthetic agents for the collector scale benchmark (make bench-collector).
 *
 * NODES agents of PODS pods each send one podlens.v1.Batch per interval for INTERVALS intervals,
 * over the real Export path: protobuf-c encoding and lib/grpc_client (the agent exporter's client,
 * one HTTP/2 connection per stream), STREAMS streams at once, each a thread serving the nodes
 * n % STREAMS == its index, interval after interval. Time is compressed: batches go as fast as the
 * collector acknowledges them, their timestamps span INTERVALS x 10 s from --start-ms.
 *
 * A batch of one node and one interval holds, per pod: its workload (traffic, TCP health), two
 * server request stats (two of six routes, one with 5xx) and one client request stat (a call to
 * the next node's pod of the same slot), one DNS stats row, two per-peer request rows (its client
 * and its server, by pod IP), and two flows (inbound from its client, outbound to its server).
 * Pods are named w<node>-<slot> in namespace ns-<(node*PODS+slot) % NAMESPACES> with pod IP
 * 10.<node/256>.<node%256>.<slot+10>, so edges and peers resolve to pods.
 *
 * Prints one line of ground truth: batches sent and acknowledged (stored or duplicate), the
 * records in them (as the collector counts them: workloads + request stats + DNS stats + per-peer
 * rows + flows), per table rows, and the requests sum of one namespace. Exit 1 when a call failed
 * after its retries.
 *
 * With --deadline-s, streams start no batch past that many seconds (stopped=1): how far a store
 * got in a bounded time. Progress (records acknowledged, rate over the last 10 s) goes to stderr.
 *
 *   collector-loadgen URL [--nodes N] [--pods P] [--intervals I] [--streams S] [--namespaces K]
 *                         [--start-ms MS] [--check-ns NS] [--deadline-s S] */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/grpc.h"
#include "lib/grpc_client.h"
#include "lib/hist.h"
#include "lib/log.h"
#include "podlens/v1/podlens.pb-c.h"

#define EXPORT "/podlens.v1.Collector/Export"
#define MAX_PODS 64
#define REQS 3           /* request stats per pod: 2 server + 1 client */
#define PEERS 2
#define FLOWS 2
#define NBUCKETS 3
#define TRIES 5

struct cfg {
	const char *url;
	int nodes, pods, intervals, streams, namespaces;
	uint64_t start_ms;
	int check_ns;
	int deadline_s;             /* stop starting batches after this long (0 = never) */
};

struct totals {
	_Atomic uint64_t batches, acked, duplicates, records, failed;
	_Atomic uint64_t workloads, reqs, dns, peers, flows, check_ns_requests;
	_Atomic int done, stopped;
	_Atomic uint64_t check_ns_sent;
};
static uint64_t t0_ns;

static struct cfg C = { .nodes = 1000, .pods = 30, .intervals = 360, .streams = 16, .namespaces = 50,
			.start_ms = 0, .check_ns = 0 };
static struct totals T;

static const char *const routes[6] = { "/", "/api/items", "/api/items/:id", "/login", "/cart", "/pay" };

/* Everything one batch points into, reused across the batches of a thread. */
struct batch_mem {
	Podlens__V1__Batch b;
	Podlens__V1__WorkloadStats ws[MAX_PODS], *wsp[MAX_PODS];
	Podlens__V1__Workload w[MAX_PODS];
	char *ips[MAX_PODS][1];
	char ip_s[MAX_PODS][24], pod[MAX_PODS][32], ns[MAX_PODS][16], uid[MAX_PODS][48], img[MAX_PODS][48];
	Podlens__V1__PodTraffic t[MAX_PODS];
	Podlens__V1__TcpHealth tcp[MAX_PODS];
	Podlens__V1__RequestStats rs[MAX_PODS][REQS], *rsp[MAX_PODS][REQS];
	Podlens__V1__DnsStats dns[MAX_PODS], *dnsp[MAX_PODS][1];
	Podlens__V1__PeerRequests pr[MAX_PODS][PEERS], *prp[MAX_PODS][PEERS];
	Podlens__V1__RequestStats__Bucket bk[NBUCKETS], *bkp[NBUCKETS], dbk, *dbkp[1];
	Podlens__V1__Flow f[MAX_PODS * FLOWS], *fp[MAX_PODS * FLOWS];
	uint8_t addr[MAX_PODS][3][4];   /* own, client (previous node), server (next node) */
	char agent[32], node[24];
	uint64_t check_ns_reqs;         /* requests of --check-ns in this batch (server side) */
};

static int ns_of(int node, int slot)
{
	return (node * C.pods + slot) % C.namespaces;
}

static void pod_ip(int node, int slot, uint8_t a[4])
{
	a[0] = 10;
	a[1] = (uint8_t)(node >> 8);
	a[2] = (uint8_t)(node & 255);
	a[3] = (uint8_t)(slot + 10);
}

/* The batch of node n at interval i in m->b (pointers into m); counts its records in T. */
static void build(struct batch_mem *m, int n, int i)
{
	Podlens__V1__Batch bi = PODLENS__V1__BATCH__INIT;
	int prev = (n + C.nodes - 1) % C.nodes, next = (n + 1) % C.nodes, nf = 0;
	uint64_t seq = (uint64_t)i + 1, reqs_in_check_ns = 0;

	for (int q = 0; q < NBUCKETS; q++) {
		Podlens__V1__RequestStats__Bucket b0 = PODLENS__V1__REQUEST_STATS__BUCKET__INIT;

		m->bk[q] = b0;
		m->bk[q].index = hist__bucket(800u << (q * 3));
		m->bk[q].count = 8u >> q;               /* 8 + 4 + 2 = 14 requests per row */
		m->bkp[q] = &m->bk[q];
	}
	m->dbk = m->bk[0];
	m->dbk.count = 6;                           /* the DNS row's 6 answered queries */
	m->dbkp[0] = &m->dbk;
	snprintf(m->agent, sizeof(m->agent), "bench-%04d", n);
	snprintf(m->node, sizeof(m->node), "node-%04d", n);
	for (int j = 0; j < C.pods; j++) {
		Podlens__V1__Workload w0 = PODLENS__V1__WORKLOAD__INIT;
		Podlens__V1__WorkloadStats ws0 = PODLENS__V1__WORKLOAD_STATS__INIT;
		Podlens__V1__PodTraffic t0 = PODLENS__V1__POD_TRAFFIC__INIT;
		Podlens__V1__TcpHealth c0 = PODLENS__V1__TCP_HEALTH__INIT;
		Podlens__V1__DnsStats d0 = PODLENS__V1__DNS_STATS__INIT;
		int ns = ns_of(n, j);

		pod_ip(n, j, m->addr[j][0]);
		pod_ip(prev, j, m->addr[j][1]);
		pod_ip(next, j, m->addr[j][2]);
		snprintf(m->ns[j], sizeof(m->ns[j]), "ns-%02d", ns);
		snprintf(m->pod[j], sizeof(m->pod[j]), "w%04d-%02d", n, j);
		snprintf(m->uid[j], sizeof(m->uid[j]), "00000000-0000-4000-8000-%04d%08d", n, j);
		snprintf(m->img[j], sizeof(m->img[j]), "registry.local/svc%02d:1.%d", j, n % 3);
		snprintf(m->ip_s[j], sizeof(m->ip_s[j]), "10.%d.%d.%d", n >> 8, n & 255, j + 10);
		m->ips[j][0] = m->ip_s[j];
		m->w[j] = w0;
		m->w[j].node = m->node;
		m->w[j].namespace_ = m->ns[j];
		m->w[j].pod = m->pod[j];
		m->w[j].pod_uid = m->uid[j];
		m->w[j].container = (char *)"app";
		m->w[j].image = m->img[j];
		m->w[j].owner_kind = (char *)"Deployment";
		m->w[j].owner_name = m->pod[j];
		m->w[j].n_pod_ips = 1;
		m->w[j].pod_ips = m->ips[j];
		m->t[j] = t0;
		m->t[j].rx_bytes = 100000 + (uint64_t)j * 100 + (uint64_t)i;
		m->t[j].tx_bytes = 200000 + (uint64_t)j * 100 + (uint64_t)i;
		m->t[j].rx_packets = 100;
		m->t[j].tx_packets = 120;
		m->tcp[j] = c0;
		m->tcp[j].active_opens = 2;
		m->tcp[j].passive_opens = 2;
		m->tcp[j].closes = 4;
		m->tcp[j]._srtt_us_case = PODLENS__V1__TCP_HEALTH___SRTT_US_SRTT_US;
		m->tcp[j].srtt_us = 150 + (uint32_t)j;
		for (int k = 0; k < REQS; k++) {
			Podlens__V1__RequestStats r0 = PODLENS__V1__REQUEST_STATS__INIT;
			Podlens__V1__RequestStats *r = &m->rs[j][k];

			*r = r0;
			r->direction = k < 2 ? PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER
					     : PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
			r->protocol = PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1;
			r->method = (char *)(k == 1 ? "POST" : "GET");
			r->route = (char *)routes[(j + k * 2) % 6];
			r->status_code = k == 1 && i % 6 == 0 ? 503 : 200;
			r->count = 14;
			r->sum_us = 8 * 800 + 4 * 6400 + 2 * 51200;
			r->n_buckets = NBUCKETS;
			r->buckets = m->bkp;
			m->rsp[j][k] = r;
			if (k < 2 && ns == C.check_ns)
				reqs_in_check_ns += r->count;
		}
		m->dns[j] = d0;
		m->dns[j].qtype = (char *)"A";
		m->dns[j].rcode = (char *)(i % 10 == 0 ? "NXDOMAIN" : "NOERROR");
		m->dns[j].domain = (char *)(j % 2 ? "svc.cluster.local" : "example.com");
		m->dns[j].count = 6;
		m->dns[j].sum_us = 6 * 800;
		m->dns[j].n_buckets = 1;
		m->dns[j].buckets = m->dbkp;
		m->dnsp[j][0] = &m->dns[j];
		for (int k = 0; k < PEERS; k++) {
			Podlens__V1__PeerRequests p0 = PODLENS__V1__PEER_REQUESTS__INIT;
			Podlens__V1__PeerRequests *p = &m->pr[j][k];

			*p = p0;
			p->direction = k == 0 ? PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER
					      : PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT;
			p->peer_addr.data = m->addr[j][k == 0 ? 1 : 2];
			p->peer_addr.len = 4;
			p->peer_port = k == 0 ? 0 : 8080;
			p->count = 14;
			p->sum_us = m->rs[j][0].sum_us;
			p->n_buckets = NBUCKETS;
			p->buckets = m->bkp;
			m->prp[j][k] = p;
		}
		m->ws[j] = ws0;
		m->ws[j].workload = &m->w[j];
		m->ws[j].traffic = &m->t[j];
		m->ws[j].tcp = &m->tcp[j];
		m->ws[j].n_requests = REQS;
		m->ws[j].requests = m->rsp[j];
		m->ws[j].n_dns = 1;
		m->ws[j].dns = m->dnsp[j];
		m->ws[j].n_peer_requests = PEERS;
		m->ws[j].peer_requests = m->prp[j];
		m->wsp[j] = &m->ws[j];
		for (int k = 0; k < FLOWS; k++, nf++) {
			Podlens__V1__Flow f0 = PODLENS__V1__FLOW__INIT;
			Podlens__V1__Flow *f = &m->f[nf];

			*f = f0;
			f->local = &m->w[j];
			f->local_addr.data = m->addr[j][0];
			f->local_addr.len = 4;
			f->remote_addr.data = m->addr[j][k == 0 ? 1 : 2];
			f->remote_addr.len = 4;
			f->direction = k == 0 ? PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND
					      : PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND;
			f->local_port = k == 0 ? 8080 : 0;
			f->remote_port = k == 0 ? 0 : 8080;
			f->rx_bytes = 3000 + (uint64_t)i;
			f->tx_bytes = 9000 + (uint64_t)i;
			f->connections = 2;
			f->duration_us = 10000000;
			m->fp[nf] = f;
		}
	}
	m->b = bi;
	m->b.agent_id = m->agent;
	m->b.node = m->node;
	m->b.agent_version = (char *)"bench";
	m->b.sequence = seq;
	m->b.interval_start_unix_ms = C.start_ms + (uint64_t)i * 10000;
	m->b.interval_ms = 10000;
	m->b.n_workloads = (size_t)C.pods;
	m->b.workloads = m->wsp;
	m->b.n_flows = (size_t)nf;
	m->b.flows = m->fp;
	m->check_ns_reqs = reqs_in_check_ns;
}

static void *stream(void *arg)
{
	int idx = (int)(intptr_t)arg;
	struct grpc_client_opts o = { .url = C.url };
	struct grpc_client *gc = grpc_client__new(&o);
	struct batch_mem *m = calloc(1, sizeof(*m));
	uint8_t *buf = NULL;
	size_t cap = 0;

	if (!gc || !m) {
		fprintf(stderr, "loadgen: stream %d: cannot start: %s\n", idx, strerror(errno));
		T.failed++;
		goto cleanup;
	}
	for (int i = 0; i < C.intervals; i++) {
		for (int n = idx; n < C.nodes; n += C.streams) {
			size_t len;
			int tries;

			if (C.deadline_s && clock__mono_ns() - t0_ns > (uint64_t)C.deadline_s * 1000000000ULL) {
				T.stopped = 1;
				goto cleanup;
			}

			build(m, n, i);
			len = podlens__v1__batch__get_packed_size(&m->b);
			if (len > cap) {
				free(buf);
				cap = len * 2;
				if (!(buf = malloc(cap))) {
					T.failed++;
					goto cleanup;
				}
			}
			podlens__v1__batch__pack(&m->b, buf);
			T.batches++;
			for (tries = 0; tries < TRIES; tries++) {
				struct grpc_result r = { 0 };
				Podlens__V1__ExportResponse *resp = NULL;
				int err = grpc_client__call(gc, EXPORT, buf, len, 60000, &r);

				if (!err && r.status == GRPC_OK)
					resp = podlens__v1__export_response__unpack(NULL, r.reply_len, r.reply);
				if (resp) {
					T.acked++;
					if (resp->duplicate)
						T.duplicates++;
					podlens__v1__export_response__free_unpacked(resp, NULL);
					grpc_result__clear(&r);
					break;
				}
				fprintf(stderr, "loadgen: node %d interval %d: status %d %s (try %d)\n", n, i,
					r.status, r.message, tries + 1);
				grpc_result__clear(&r);
				if (r.status != GRPC_UNAVAILABLE && r.status != GRPC_DEADLINE_EXCEEDED &&
				    r.status != GRPC_RESOURCE_EXHAUSTED) {
					tries = TRIES;      /* a refusal: retrying the same bytes cannot help */
					break;
				}
				/* the agent's exporter backs off too; the same bytes again */
				struct timespec ts = { 0, 200000000L * (tries + 1) };
				nanosleep(&ts, NULL);
			}
			if (tries == TRIES) {
				T.failed++;
				goto cleanup;
			}
			T.workloads += (uint64_t)C.pods;
			T.reqs += (uint64_t)C.pods * REQS;
			T.dns += (uint64_t)C.pods;
			T.peers += (uint64_t)C.pods * PEERS;
			T.flows += (uint64_t)C.pods * FLOWS;
			T.records += (uint64_t)C.pods * (1 + REQS + 1 + PEERS + FLOWS);
			T.check_ns_requests += m->check_ns_reqs;
		}
	}
cleanup:
	free(buf);
	free(m);
	grpc_client__free(gc);
	T.done++;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[256];
	double t0;
	int started = 0;

	log__init("collector-loadgen", LOG_WARN);
	if (argc < 2) {
		fprintf(stderr, "usage: collector-loadgen URL [--nodes N] [--pods P] [--intervals I] "
				"[--streams S] [--namespaces K] [--start-ms MS] [--check-ns K] [--deadline-s S]\n");
		return 2;
	}
	C.url = argv[1];
	C.start_ms = (clock__wall_ms() / 3600000 - 1) * 3600000;   /* the last whole hour */
	for (int i = 2; i + 1 < argc; i += 2) {
		long long v = atoll(argv[i + 1]);

		if (!strcmp(argv[i], "--nodes")) C.nodes = (int)v;
		else if (!strcmp(argv[i], "--pods")) C.pods = (int)v;
		else if (!strcmp(argv[i], "--intervals")) C.intervals = (int)v;
		else if (!strcmp(argv[i], "--streams")) C.streams = (int)v;
		else if (!strcmp(argv[i], "--namespaces")) C.namespaces = (int)v;
		else if (!strcmp(argv[i], "--start-ms")) C.start_ms = (uint64_t)v;
		else if (!strcmp(argv[i], "--check-ns")) C.check_ns = (int)v;
		else if (!strcmp(argv[i], "--deadline-s")) C.deadline_s = (int)v;
		else {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (C.nodes < 1 || C.nodes > 65535 || C.pods < 1 || C.pods > MAX_PODS || C.intervals < 1 ||
	    C.streams < 1 || C.streams > 256 || C.namespaces < 1 || C.namespaces > 99)
		return 2;
	t0_ns = clock__mono_ns();
	t0 = (double)t0_ns / 1e9;
	for (int s = 0; s < C.streams; s++) {
		if (pthread_create(&th[s], NULL, stream, (void *)(intptr_t)s))
			break;
		started++;
	}
	/* progress every 10 s on stderr: where a store falls behind shows as a falling rate */
	for (uint64_t last = 0, tick = 0; T.done < started; ) {
		struct timespec ts = { 0, 100000000L };

		nanosleep(&ts, NULL);
		if (++tick % 100)
			continue;
		uint64_t r = T.records;

		fprintf(stderr, "loadgen progress t=%llus records=%" PRIu64 " rate=%" PRIu64 "/s\n",
			(unsigned long long)(tick / 10), r, (r - last) / 10);
		last = r;
	}
	for (int s = 0; s < started; s++)
		pthread_join(th[s], NULL);
	double el = (double)clock__mono_ns() / 1e9 - t0;

	printf("loadgen batches=%" PRIu64 " acked=%" PRIu64 " duplicates=%" PRIu64 " failed=%" PRIu64
	       " records=%" PRIu64 " workloads=%" PRIu64 " req_stats=%" PRIu64 " dns_stats=%" PRIu64
	       " peer_reqs=%" PRIu64 " flows=%" PRIu64 " check_ns=ns-%02d check_ns_requests=%" PRIu64
	       " start_ms=%" PRIu64 " end_ms=%" PRIu64 " stopped=%d wall_s=%.1f\n",
	       (uint64_t)T.batches, (uint64_t)T.acked, (uint64_t)T.duplicates, (uint64_t)T.failed,
	       (uint64_t)T.records, (uint64_t)T.workloads, (uint64_t)T.reqs, (uint64_t)T.dns,
	       (uint64_t)T.peers, (uint64_t)T.flows, C.check_ns, (uint64_t)T.check_ns_requests,
	       C.start_ms, C.start_ms + (uint64_t)C.intervals * 10000, (int)T.stopped, el);
	return T.failed || started < C.streams ? 1 : 0;
}
