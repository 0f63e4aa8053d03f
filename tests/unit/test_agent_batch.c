/* Batch building (agent/export/batch.c): the interval's records, flows, process events and drop
 * counters in one podlens.v1 Batch, checked after a protobuf round trip (what the collector gets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <cmocka.h>

#include "agent/export/batch.h"
#include "agent/l7/http1.h"
#include "agent/l7/http_agg.h"
#include "agent/l7/l7.h"
#include "agent/pipeline/flows.h"
#include "agent/pipeline/peers.h"

static const struct wl_meta WEB = {
	.cgid = 4242, .cgroup_path = "/kubepods/besteffort/pod5b0c/63192c", .node = "node-a",
	.namespace_ = "shop", .pod = "web", .pod_uid = "5b0c", .container = "httpd", .container_id = "63192c",
	.image = "busybox", .owner_kind = "Deployment", .owner_name = "web",
};

static const struct flow_agg *first_flow(const struct flows *f)
{
	size_t pos = 0;

	return flows__next(f, &pos);
}

/* the Batch as the collector decodes it */
static Podlens__V1__Batch *unpacked(const Podlens__V1__Batch *m)
{
	size_t len = podlens__v1__batch__get_packed_size(m);
	uint8_t *buf = malloc(len);
	Podlens__V1__Batch *out;

	assert_non_null(buf);
	assert_int_equal(podlens__v1__batch__pack(m, buf), len);
	out = podlens__v1__batch__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(out);
	return out;
}

static Podlens__V1__Batch *round_trip(struct batch *b, uint64_t start_ms, uint32_t interval_ms)
{
	return unpacked(batch__get(b, start_ms, interval_ms));
}

static void batch__workload_record__identity_traffic_tcp_and_requests(void **state)
{
	struct batch *b = batch__new();
	struct l7_set *l7 = l7_set__new(NULL);
	struct http_agg *http = NULL;
	struct wl_counters c = { .rx_bytes = 1000, .tx_bytes = 2000, .rx_packets = 10, .tx_packets = 20,
				 .active_opens = 3, .passive_opens = 4, .closes = 5, .retransmits = 6,
				 .resets_sent = 1, .resets_received = 2, .connect_lat_sum_us = 300,
				 .connect_lat_count = 3, .srtt_sum_us = 400, .srtt_count = 4 };
	Podlens__V1__Batch *m;
	Podlens__V1__WorkloadStats *ws;
	Podlens__V1__RequestStats *rs;
	uint64_t in_buckets = 0;

	assert_non_null(b);
	assert_non_null(l7);
	assert_non_null(l7_set__module(l7, L7_PROTO_HTTP1, (void **)&http));
	assert_non_null(http);
	assert_int_equal(http_agg__record(http, WEB.cgid, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/api", 200, 100), 0);
	assert_int_equal(http_agg__record(http, WEB.cgid, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/api", 200, 300), 0);
	assert_int_equal(http_agg__record(http, 999, HTTP_AGG_DIR_SERVER, HTTP_M_GET, "/other", 200, 1), 0);
	batch__add_workload(b, &WEB, &c, l7);
	assert_int_equal(batch__records(b), 1);
	m = round_trip(b, 1700000000000ULL, 10000);
	assert_int_equal(m->interval_start_unix_ms, 1700000000000ULL);
	assert_int_equal(m->interval_ms, 10000);
	assert_int_equal(m->n_workloads, 1);
	ws = m->workloads[0];
	assert_string_equal(ws->workload->node, "node-a");
	assert_string_equal(ws->workload->namespace_, "shop");
	assert_string_equal(ws->workload->pod, "web");
	assert_string_equal(ws->workload->container, "httpd");
	assert_string_equal(ws->workload->owner_kind, "Deployment");
	assert_string_equal(ws->workload->cgroup_path, WEB.cgroup_path);
	assert_int_equal(ws->workload->cgroup_id, 4242);
	assert_int_equal(ws->traffic->rx_bytes, 1000);
	assert_int_equal(ws->traffic->tx_packets, 20);
	assert_int_equal(ws->tcp->active_opens, 3);
	assert_int_equal(ws->tcp->resets_received, 2);
	assert_int_equal(ws->tcp->connects, 3);
	assert_int_equal(ws->tcp->_connect_latency_us_case,
			 PODLENS__V1__TCP_HEALTH___CONNECT_LATENCY_US_CONNECT_LATENCY_US);
	assert_int_equal(ws->tcp->connect_latency_us, 100);   /* mean of the interval */
	assert_int_equal(ws->tcp->srtt_us, 100);
	/* only this cgroup's requests */
	assert_int_equal(ws->n_requests, 1);
	rs = ws->requests[0];
	assert_int_equal(rs->direction, PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER);
	assert_int_equal(rs->protocol, PODLENS__V1__REQUEST_STATS__PROTOCOL__PROTOCOL_HTTP1);
	assert_string_equal(rs->method, "GET");
	assert_string_equal(rs->route, "/api");
	assert_int_equal(rs->status_code, 200);
	assert_int_equal(rs->count, 2);
	assert_int_equal(rs->sum_us, 400);
	for (size_t i = 0; i < rs->n_buckets; i++)
		in_buckets += rs->buckets[i]->count;
	assert_int_equal(in_buckets, 2);
	podlens__v1__batch__free_unpacked(m, NULL);
	l7_set__free(l7);
	batch__free(b);
}

static void batch__workload_without_measurements__no_means_no_requests(void **state)
{
	struct batch *b = batch__new();
	struct wl_meta host = { .cgid = 7, .cgroup_path = "/system.slice/nginx.service", .node = "node-a" };
	struct wl_counters c = { .rx_bytes = 1 };
	Podlens__V1__Batch *m;

	batch__add_workload(b, &host, &c, NULL);
	m = round_trip(b, 1, 1);
	assert_int_equal(m->n_workloads, 1);
	assert_string_equal(m->workloads[0]->workload->pod, "");   /* a host workload has no pod */
	assert_string_equal(m->workloads[0]->workload->cgroup_path, "/system.slice/nginx.service");
	assert_int_equal(m->workloads[0]->tcp->_srtt_us_case, PODLENS__V1__TCP_HEALTH___SRTT_US__NOT_SET);
	assert_int_equal(m->workloads[0]->tcp->_connect_latency_us_case,
			 PODLENS__V1__TCP_HEALTH___CONNECT_LATENCY_US__NOT_SET);
	assert_int_equal(m->workloads[0]->n_requests, 0);
	podlens__v1__batch__free_unpacked(m, NULL);
	batch__free(b);
}

static void batch__flows__inbound_and_outbound_with_means(void **state)
{
	struct batch *b = batch__new();
	struct flows f;
	struct pl_tcp_flow_event in = { .cgroup_id = 4242, .direction = TCP_DIR_PASSIVE, .family = AF_INET,
					.lport = 80, .rport = 51000, .bytes_acked = 500, .bytes_received = 100,
					.srtt_us = 40, .duration_us = 1000, .total_retrans = 1,
					.raddr = { 10, 244, 0, 7 } };
	struct pl_tcp_flow_event out = { .cgroup_id = 4242, .direction = TCP_DIR_ACTIVE, .family = AF_INET,
					 .lport = 40000, .rport = 5432, .bytes_acked = 10, .srtt_us = 20,
					 .duration_us = 50, .connect_lat_us = 30, .raddr = { 10, 0, 0, 9 } };
	struct wl_meta client = { .node = "node-a", .namespace_ = "payments", .pod = "client" };
	const struct flow_agg *fa;
	Podlens__V1__Batch *m;

	assert_int_equal(flows__init(&f), 0);
	flows__add(&f, &in);
	in.srtt_us = 60;
	in.duration_us = 3000;
	in.rport = 52000;   /* the same client's second connection: another ephemeral port */
	flows__add(&f, &in);
	flows__add(&f, &out);
	for (size_t pos = 0; (fa = flows__next(&f, &pos));)
		batch__add_flow(b, &WEB, fa->direction == TCP_DIR_PASSIVE ? &client : NULL, fa);
	assert_int_equal(batch__records(b), 2);
	m = round_trip(b, 1, 1);
	assert_int_equal(m->n_flows, 2);
	for (size_t i = 0; i < m->n_flows; i++) {
		Podlens__V1__Flow *fl = m->flows[i];

		assert_string_equal(fl->local->pod, "web");
		assert_int_equal(fl->remote_addr.len, 4);
		assert_true(fl->closed);
		if (fl->direction == PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND) {
			assert_int_equal(fl->local_port, 80);   /* the service port */
			assert_int_equal(fl->remote_port, 0);   /* two client ports: several */
			assert_int_equal(fl->connections, 2);
			assert_int_equal(fl->tx_bytes, 1000);
			assert_int_equal(fl->rx_bytes, 200);
			assert_int_equal(fl->retransmits, 2);
			assert_int_equal(fl->srtt_us, 50);
			assert_int_equal(fl->duration_us, 2000);
			assert_int_equal(fl->remote_addr.data[3], 7);
			assert_non_null(fl->remote);
			assert_string_equal(fl->remote->pod, "client");
			assert_int_equal(fl->_connect_latency_us_case, PODLENS__V1__FLOW___CONNECT_LATENCY_US__NOT_SET);
		} else {
			assert_int_equal(fl->direction, PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND);
			assert_int_equal(fl->remote_port, 5432);
			assert_int_equal(fl->local_port, 40000);   /* one connection: its ephemeral port */
			assert_int_equal(fl->connections, 1);
			assert_int_equal(fl->connect_latency_us, 30);
			assert_null(fl->remote);   /* remote workload unknown */
		}
	}
	podlens__v1__batch__free_unpacked(m, NULL);
	flows__free(&f);
	batch__free(b);
}

static void check_addr(const ProtobufCBinaryData *d, int family, const char *want)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(family, want, a), 1);
	assert_int_equal(d->len, family == AF_INET ? 4 : 16);
	assert_memory_equal(d->data, a, d->len);
}

/* Exact 4-tuples on the wire: IPv4 as 4 bytes, IPv6 as 16, an IPv4-mapped pair as IPv4, ports in
 * host order with the client's port on both sides' records. */
static void batch__flows__exact_addresses_and_ports(void **state)
{
	struct batch *b = batch__new();
	struct flows f;
	struct {
		int family, dir;
		const char *l, *r;
		uint16_t lport, rport;
		int want_family;
		const char *want_l, *want_r;
	} c[] = {
		{ AF_INET, TCP_DIR_ACTIVE, "10.244.91.3", "10.244.91.2", 41234, 8080, AF_INET, "10.244.91.3", "10.244.91.2" },
		{ AF_INET6, TCP_DIR_PASSIVE, "fd00::2", "fd00::3", 8080, 41235, AF_INET6, "fd00::2", "fd00::3" },
		{ AF_INET6, TCP_DIR_PASSIVE, "::ffff:10.244.91.2", "::ffff:10.244.91.3", 8081, 41236, AF_INET,
		  "10.244.91.2", "10.244.91.3" },
	};
	const struct flow_agg *fa;
	Podlens__V1__Batch *m;

	assert_int_equal(flows__init(&f), 0);
	for (size_t i = 0; i < 3; i++) {
		struct pl_tcp_flow_event e = { .cgroup_id = 4242, .direction = c[i].dir, .family = c[i].family,
					       .lport = c[i].lport, .rport = c[i].rport };

		assert_int_equal(inet_pton(c[i].family, c[i].l, e.laddr), 1);
		assert_int_equal(inet_pton(c[i].family, c[i].r, e.raddr), 1);
		flows__add(&f, &e);
	}
	for (size_t pos = 0; (fa = flows__next(&f, &pos));)
		batch__add_flow(b, &WEB, NULL, fa);
	m = round_trip(b, 1, 1);
	assert_int_equal(m->n_flows, 3);
	for (size_t i = 0; i < 3; i++) {
		Podlens__V1__Flow *fl = NULL;

		for (size_t k = 0; k < m->n_flows; k++)
			if (m->flows[k]->local_port == c[i].lport)
				fl = m->flows[k];
		assert_non_null(fl);
		check_addr(&fl->local_addr, c[i].want_family, c[i].want_l);
		check_addr(&fl->remote_addr, c[i].want_family, c[i].want_r);
		assert_int_equal(fl->remote_port, c[i].rport);
		assert_int_equal(fl->direction, c[i].dir == TCP_DIR_ACTIVE ? PODLENS__V1__FLOW__DIRECTION__DIRECTION_OUTBOUND
									   : PODLENS__V1__FLOW__DIRECTION__DIRECTION_INBOUND);
	}
	podlens__v1__batch__free_unpacked(m, NULL);
	flows__free(&f);
	batch__free(b);
}

/* Every Workload of the batch carries its pod's IPs; a host workload none. */
static void batch__workloads__carry_pod_ips(void **state)
{
	struct batch *b = batch__new();
	struct wl_meta web = WEB, host = { .cgid = 7, .cgroup_path = "/system.slice/nginx.service", .node = "node-a" };
	struct wl_meta client = { .node = "node-a", .namespace_ = "payments", .pod = "client",
				  .ips = { "10.244.91.3" }, .n_ips = 1 };
	struct wl_counters cnt = { .rx_bytes = 1 };
	struct pl_tcp_flow_event e = { .cgroup_id = 4242, .direction = TCP_DIR_PASSIVE, .family = AF_INET,
				       .lport = 80, .rport = 40000, .laddr = { 10, 244, 91, 2 },
				       .raddr = { 10, 244, 91, 3 } };
	struct flows f;
	Podlens__V1__Batch *m;

	web.ips[0] = "10.244.91.2";
	web.ips[1] = "fd00:10:244:91::2";
	web.n_ips = 2;
	assert_int_equal(flows__init(&f), 0);
	flows__add(&f, &e);
	batch__add_workload(b, &web, &cnt, NULL);
	batch__add_workload(b, &host, &cnt, NULL);
	batch__add_flow(b, &web, &client, first_flow(&f));
	m = round_trip(b, 1, 1);
	assert_int_equal(m->n_workloads, 2);
	for (size_t i = 0; i < m->n_workloads; i++) {
		Podlens__V1__Workload *w = m->workloads[i]->workload;

		if (w->cgroup_id == 4242) {
			assert_int_equal(w->n_pod_ips, 2);
			assert_string_equal(w->pod_ips[0], "10.244.91.2");
			assert_string_equal(w->pod_ips[1], "fd00:10:244:91::2");
		} else {
			assert_int_equal(w->n_pod_ips, 0);
		}
	}
	assert_int_equal(m->n_flows, 1);
	assert_int_equal(m->flows[0]->local->n_pod_ips, 2);
	assert_int_equal(m->flows[0]->remote->n_pod_ips, 1);
	assert_string_equal(m->flows[0]->remote->pod_ips[0], "10.244.91.3");
	podlens__v1__batch__free_unpacked(m, NULL);
	flows__free(&f);
	batch__free(b);
}

static void batch__process_events__exec_and_exit(void **state)
{
	struct batch *b = batch__new();
	struct pl_proc_event exec = { .cgroup_id = 4242, .type = PROC_EXEC, .pid = 321 };
	struct pl_proc_event exit_ = { .cgroup_id = 4242, .type = PROC_EXIT, .pid = 321, .exit_code = 1 << 8 };
	Podlens__V1__Batch *m;

	/* comm fills its field without a NUL: the batch bounds it */
	memcpy(exec.comm, "0123456789abcdef", PROC_COMM_LEN);
	snprintf(exec.filename, sizeof(exec.filename), "/bin/busybox");
	memcpy(exit_.comm, "httpd", 6);
	batch__add_process(b, &WEB, &exec, 1700000000123ULL);
	batch__add_process(b, &WEB, &exit_, 1700000000456ULL);
	m = round_trip(b, 1, 1);
	assert_int_equal(m->n_process_events, 2);
	assert_int_equal(m->process_events[0]->kind, PODLENS__V1__PROCESS_EVENT__KIND__KIND_EXEC);
	assert_int_equal(m->process_events[0]->pid, 321);
	assert_string_equal(m->process_events[0]->comm, "0123456789abcdef");
	assert_string_equal(m->process_events[0]->filename, "/bin/busybox");
	assert_int_equal(m->process_events[0]->time_unix_ms, 1700000000123ULL);
	assert_int_equal(m->process_events[0]->cgroup_id, 4242);
	assert_string_equal(m->process_events[0]->workload->pod, "web");
	assert_int_equal(m->process_events[0]->_exit_code_case, PODLENS__V1__PROCESS_EVENT___EXIT_CODE__NOT_SET);
	assert_int_equal(m->process_events[1]->kind, PODLENS__V1__PROCESS_EVENT__KIND__KIND_EXIT);
	assert_string_equal(m->process_events[1]->comm, "httpd");
	assert_int_equal(m->process_events[1]->exit_code, 256);
	podlens__v1__batch__free_unpacked(m, NULL);
	batch__free(b);
}

static void batch__drops_and_reset(void **state)
{
	struct batch *b = batch__new();
	struct wl_counters c = { .tx_bytes = 1 };
	Podlens__V1__Batch *raw, *m;

	batch__add_workload(b, &WEB, &c, NULL);
	batch__add_drop(b, "tcp", 3);
	batch__add_drop(b, "l7", 9);
	assert_int_equal(batch__records(b), 1);   /* drops are not records */
	raw = batch__get(b, 1, 1);
	raw->drops->aggregation_overflow = 17;   /* writable until batch__reset */
	m = unpacked(raw);
	assert_int_equal(m->n_workloads, 1);
	assert_int_equal(m->drops->n_ringbuf_drops, 2);
	assert_string_equal(m->drops->ringbuf_drops[0]->key, "tcp");
	assert_int_equal(m->drops->ringbuf_drops[0]->value, 3);
	assert_string_equal(m->drops->ringbuf_drops[1]->key, "l7");
	assert_int_equal(m->drops->ringbuf_drops[1]->value, 9);
	assert_int_equal(m->drops->aggregation_overflow, 17);
	podlens__v1__batch__free_unpacked(m, NULL);
	/* a new interval: nothing left */
	batch__reset(b);
	assert_int_equal(batch__records(b), 0);
	m = round_trip(b, 2, 1);
	assert_int_equal(m->n_workloads, 0);
	assert_int_equal(m->drops->n_ringbuf_drops, 0);
	assert_int_equal(m->drops->aggregation_overflow, 0);
	podlens__v1__batch__free_unpacked(m, NULL);
	batch__free(b);
}

/* Per-peer requests ride in the workload they belong to: addresses 4 or 16 bytes (empty for the
 * "other" peer), the server side without a port, the client side with the server's; a workload
 * that is not the last one added gets none. */
static void batch__peer_requests__in_their_workload(void **state)
{
	struct batch *b = batch__new();
	struct peers *p = peers__new(&(struct peers_opts){ .max_per_cgroup = 2 });
	struct wl_counters c = { .rx_bytes = 1 };
	uint8_t a[16] = { 10, 244, 0, 7 }, a6[16];
	struct hist h;
	Podlens__V1__Batch *m;
	const Podlens__V1__PeerRequests *pr;
	uint64_t nb = 0;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "fd00::9", a6), 1);
	hist__reset(&h);
	hist__record(&h, 1500);
	hist__record(&h, 1500);
	hist__record(&h, 90000);
	assert_int_equal(peers__record(p, WEB.cgid, PEERS_DIR_SERVER, AF_INET, a, 41000, 503, &h), 0);
	assert_int_equal(peers__record(p, WEB.cgid, PEERS_DIR_CLIENT, AF_INET6, a6, 8443, 200, &h), 0);
	assert_int_equal(peers__record(p, WEB.cgid, PEERS_DIR_CLIENT, AF_INET, a, 80, 404, &h), 0);  /* "other" */
	assert_int_equal(batch__add_peers(b, p, WEB.cgid), 0);   /* no workload yet: nothing */
	batch__add_workload(b, &WEB, &c, NULL);
	assert_int_equal(batch__add_peers(b, p, 999), -ENOENT);
	assert_int_equal(batch__add_peers(b, p, WEB.cgid), 0);
	m = round_trip(b, 1, 1);
	assert_int_equal(m->n_workloads, 1);
	assert_int_equal(m->workloads[0]->n_peer_requests, 3);
	/* foreach order: server first, then client ("other" before addresses) */
	pr = m->workloads[0]->peer_requests[0];
	assert_int_equal(pr->direction, PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_SERVER);
	assert_int_equal(pr->peer_addr.len, 4);
	assert_memory_equal(pr->peer_addr.data, a, 4);
	assert_int_equal(pr->peer_port, 0);
	assert_int_equal(pr->count, 3);
	assert_int_equal(pr->errors, 3);
	assert_int_equal(pr->client_errors, 0);
	assert_int_equal(pr->sum_us, 93000);
	for (size_t i = 0; i < pr->n_buckets; i++)
		nb += pr->buckets[i]->count;
	assert_int_equal(nb, 3);
	assert_int_equal(pr->n_buckets, 2);
	pr = m->workloads[0]->peer_requests[1];
	assert_int_equal(pr->direction, PODLENS__V1__REQUEST_STATS__DIRECTION__DIRECTION_CLIENT);
	assert_int_equal(pr->peer_addr.len, 0);
	assert_int_equal(pr->client_errors, 3);
	pr = m->workloads[0]->peer_requests[2];
	assert_int_equal(pr->peer_addr.len, 16);
	assert_memory_equal(pr->peer_addr.data, a6, 16);
	assert_int_equal(pr->peer_port, 8443);
	podlens__v1__batch__free_unpacked(m, NULL);
	batch__free(b);
	peers__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(batch__workload_record__identity_traffic_tcp_and_requests),
		cmocka_unit_test(batch__workload_without_measurements__no_means_no_requests),
		cmocka_unit_test(batch__flows__inbound_and_outbound_with_means),
		cmocka_unit_test(batch__flows__exact_addresses_and_ports),
		cmocka_unit_test(batch__workloads__carry_pod_ips),
		cmocka_unit_test(batch__process_events__exec_and_exit),
		cmocka_unit_test(batch__drops_and_reset),
		cmocka_unit_test(batch__peer_requests__in_their_workload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
