/* Flow aggregation (agent/pipeline/flows.c): closed connections per interval, keyed by (cgroup,
 * direction, remote address, service port), bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "agent/pipeline/flows.h"

static struct pl_tcp_flow_event conn(uint64_t cgid, uint8_t dir, uint8_t last_octet, uint16_t lport,
				     uint16_t rport)
{
	struct pl_tcp_flow_event e = { .cgroup_id = cgid, .direction = dir, .family = AF_INET, .lport = lport,
				       .rport = rport };

	e.raddr[0] = 10;
	e.raddr[3] = last_octet;
	return e;
}

static size_t count(const struct flows *f)
{
	const struct flow_agg *fa;
	size_t n = 0;

	for (size_t pos = 0; (fa = flows__next(f, &pos));)
		n++;
	return n;
}

static const struct flow_agg *first(const struct flows *f)
{
	size_t pos = 0;

	return flows__next(f, &pos);
}

static void flows__same_key__connections_counted_and_sums_added(void **state)
{
	struct flows f;
	const struct flow_agg *fa;

	assert_int_equal(flows__init(&f), 0);
	for (int i = 0; i < 3; i++) {
		/* a client's connections to one server: the local (ephemeral) port differs each time */
		struct pl_tcp_flow_event e = conn(7, TCP_DIR_ACTIVE, 5, 40000 + i, 8080);

		e.bytes_acked = 100 * (i + 1);
		e.bytes_received = 1000;
		e.total_retrans = i;
		e.srtt_us = 50;
		e.duration_us = 2000;
		e.connect_lat_us = 30 + i;
		flows__add(&f, &e);
	}
	assert_int_equal(count(&f), 1);
	fa = first(&f);
	assert_int_equal(fa->cgroup_id, 7);
	assert_int_equal(fa->direction, TCP_DIR_ACTIVE);
	assert_int_equal(fa->port, 8080);          /* the service port: the remote one */
	assert_int_equal(fa->raddr[3], 5);
	assert_int_equal(fa->connections, 3);
	assert_int_equal(fa->tx_bytes, 600);
	assert_int_equal(fa->rx_bytes, 3000);
	assert_int_equal(fa->retransmits, 3);
	assert_int_equal(fa->srtt_sum_us, 150);
	assert_int_equal(fa->duration_sum_us, 6000);
	assert_int_equal(fa->connect_lat_sum_us, 93);
	assert_int_equal(f.overflow, 0);
	flows__free(&f);
}

static void flows__keyed_by_direction_remote_and_service_port(void **state)
{
	struct flows f;
	struct pl_tcp_flow_event e[] = {
		conn(7, TCP_DIR_PASSIVE, 5, 80, 51000),   /* inbound: the service port is the local one */
		conn(7, TCP_DIR_PASSIVE, 5, 80, 52000),   /* same client, another ephemeral port: same key */
		conn(7, TCP_DIR_PASSIVE, 5, 443, 51000),  /* another service */
		conn(7, TCP_DIR_ACTIVE, 5, 80, 51000),    /* outbound: keyed by 51000 */
		conn(7, TCP_DIR_PASSIVE, 6, 80, 51000),   /* another client */
		conn(8, TCP_DIR_PASSIVE, 5, 80, 51000),   /* another cgroup */
	};
	const struct flow_agg *fa;
	size_t inbound80 = 0;

	assert_int_equal(flows__init(&f), 0);
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		flows__add(&f, &e[i]);
	assert_int_equal(count(&f), 5);
	for (size_t pos = 0; (fa = flows__next(&f, &pos));) {
		if (fa->cgroup_id == 7 && fa->direction == TCP_DIR_PASSIVE && fa->port == 80 && fa->raddr[3] == 5) {
			inbound80++;
			assert_int_equal(fa->connections, 2);
		} else {
			assert_int_equal(fa->connections, 1);
		}
		if (fa->direction == TCP_DIR_ACTIVE)
			assert_int_equal(fa->port, 51000);
	}
	assert_int_equal(inbound80, 1);
	flows__free(&f);
}

static void flows__beyond_the_bound__counted_as_overflow(void **state)
{
	struct flows f;
	struct pl_tcp_flow_event e;
	const struct flow_agg *fa;
	uint64_t conns = 0;

	assert_int_equal(flows__init(&f), 0);
	for (int i = 0; i < FLOWS_MAX + 5; i++) {
		e = conn(1 + i, TCP_DIR_ACTIVE, 5, 40000, 80);   /* distinct keys */
		flows__add(&f, &e);
	}
	assert_int_equal(f.n, FLOWS_MAX);
	assert_int_equal(f.overflow, 5);
	/* a key already there still aggregates when full */
	e = conn(1, TCP_DIR_ACTIVE, 5, 40001, 80);
	flows__add(&f, &e);
	assert_int_equal(f.overflow, 5);
	for (size_t pos = 0; (fa = flows__next(&f, &pos));)
		conns += fa->connections;
	assert_int_equal(conns, FLOWS_MAX + 1);
	/* a new interval: empty, the overflow count is kept (it is cumulative) */
	flows__reset(&f);
	assert_int_equal(count(&f), 0);
	assert_int_equal(f.overflow, 5);
	flows__add(&f, &e);
	assert_int_equal(count(&f), 1);
	flows__free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flows__same_key__connections_counted_and_sums_added),
		cmocka_unit_test(flows__keyed_by_direction_remote_and_service_port),
		cmocka_unit_test(flows__beyond_the_bound__counted_as_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
