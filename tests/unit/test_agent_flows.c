/* Flow aggregation (agent/pipeline/flows.c): closed connections per interval, keyed by (cgroup,
 * direction, local and remote address, service port), bounded; the addresses of the kernel's event
 * decoded (IPv4, IPv6, IPv4-mapped IPv6 reported as IPv4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
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

/* ------------------------------------------------------------------ address decoding */

/* an event laid out as bpf/tcp.bpf.c fills it: IPv4 in the first 4 bytes, network order */
static struct pl_tcp_flow_event ev(int family, const char *l, const char *r, uint8_t dir, uint16_t lport,
				   uint16_t rport)
{
	struct pl_tcp_flow_event e = { .cgroup_id = 9, .direction = dir, .family = family, .lport = lport,
				       .rport = rport };

	assert_int_equal(inet_pton(family, l, e.laddr), 1);
	assert_int_equal(inet_pton(family, r, e.raddr), 1);
	return e;
}

static void assert_addrs(const struct pl_tcp_flow_event *e, int family, const char *l, const char *r)
{
	struct flow_addrs a;
	char t[INET6_ADDRSTRLEN];

	flows__decode(e, &a);
	assert_int_equal(a.family, family);
	assert_string_equal(flows__addr_text(a.family, a.laddr, t, sizeof(t)), l);
	assert_string_equal(flows__addr_text(a.family, a.raddr, t, sizeof(t)), r);
	if (family == AF_INET)   /* nothing past the 4 bytes: aggregation keys compare 16 */
		for (int i = 4; i < 16; i++)
			assert_int_equal(a.laddr[i] | a.raddr[i], 0);
}

static void decode__ipv4__both_addresses_whole(void **state)
{
	struct pl_tcp_flow_event e = ev(AF_INET, "127.0.0.1", "10.244.91.3", TCP_DIR_ACTIVE, 40000, 80);

	assert_addrs(&e, AF_INET, "127.0.0.1", "10.244.91.3");
	e = ev(AF_INET, "192.168.200.17", "172.16.0.254", TCP_DIR_PASSIVE, 80, 40000);
	assert_addrs(&e, AF_INET, "192.168.200.17", "172.16.0.254");
}

static void decode__ipv6__kept_as_ipv6(void **state)
{
	struct pl_tcp_flow_event e = ev(AF_INET6, "::1", "::1", TCP_DIR_ACTIVE, 40000, 80);

	assert_addrs(&e, AF_INET6, "::1", "::1");
	e = ev(AF_INET6, "fd00:10:244:91::2", "2001:db8:0:1:2:3:4:5", TCP_DIR_PASSIVE, 80, 40000);
	assert_addrs(&e, AF_INET6, "fd00:10:244:91::2", "2001:db8:0:1:2:3:4:5");
	/* an IPv4-compatible or NAT64 address is not a mapped one */
	e = ev(AF_INET6, "::127.0.0.1", "64:ff9b::a00:1", TCP_DIR_ACTIVE, 40000, 80);
	assert_addrs(&e, AF_INET6, "::127.0.0.1", "64:ff9b::a00:1");
}

static void decode__ipv4_mapped__reported_as_ipv4(void **state)
{
	/* a dual-stack listener ([::], IPV6_V6ONLY off) accepting an IPv4 client */
	struct pl_tcp_flow_event e = ev(AF_INET6, "::ffff:127.0.0.1", "::ffff:10.244.91.3", TCP_DIR_PASSIVE, 8080,
					51000);

	assert_addrs(&e, AF_INET, "127.0.0.1", "10.244.91.3");
	/* only one end mapped cannot happen on a connected socket: left as it is */
	e = ev(AF_INET6, "::ffff:127.0.0.1", "::1", TCP_DIR_PASSIVE, 8080, 51000);
	assert_addrs(&e, AF_INET6, "::ffff:127.0.0.1", "::1");
}

static void addr_text__bad_family__empty(void **state)
{
	uint8_t a[16] = { 127, 0, 0, 1 };
	char t[INET6_ADDRSTRLEN] = "x";

	assert_string_equal(flows__addr_text(0, a, t, sizeof(t)), "");
}

/* The event of each end of a real loopback connection, filled from the socket's own names the way
 * the kernel program reads them (sk_family, rcv_saddr, daddr, num, ntohs(dport)), decodes to the
 * names the other end sees: the client's local address and port are the server's remote ones. */
static struct pl_tcp_flow_event from_socket(int fd, uint8_t dir)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);
	struct pl_tcp_flow_event e = { .cgroup_id = 1, .direction = dir };

	assert_int_equal(getsockname(fd, (struct sockaddr *)&l, &ll), 0);
	assert_int_equal(getpeername(fd, (struct sockaddr *)&r, &rl), 0);
	e.family = l.ss_family;
	if (l.ss_family == AF_INET) {
		memcpy(e.laddr, &((struct sockaddr_in *)&l)->sin_addr, 4);
		memcpy(e.raddr, &((struct sockaddr_in *)&r)->sin_addr, 4);
		e.lport = ntohs(((struct sockaddr_in *)&l)->sin_port);
		e.rport = ntohs(((struct sockaddr_in *)&r)->sin_port);
	} else {
		memcpy(e.laddr, &((struct sockaddr_in6 *)&l)->sin6_addr, 16);
		memcpy(e.raddr, &((struct sockaddr_in6 *)&r)->sin6_addr, 16);
		e.lport = ntohs(((struct sockaddr_in6 *)&l)->sin6_port);
		e.rport = ntohs(((struct sockaddr_in6 *)&r)->sin6_port);
	}
	return e;
}

static void check_pair(int lfamily, const char *laddr, int v6only, int cfamily, const char *caddr,
		       int want_family, const char *want_addr)
{
	union { struct sockaddr_in a4; struct sockaddr_in6 a6; } sa = { 0 };
	socklen_t sl = lfamily == AF_INET ? sizeof(sa.a4) : sizeof(sa.a6);
	int ls = socket(lfamily, SOCK_STREAM, 0), cs = socket(cfamily, SOCK_STREAM, 0), as;
	struct pl_tcp_flow_event ce, se;
	struct flows f;
	const struct flow_agg *fa;
	uint16_t sport, cport;
	char t[INET6_ADDRSTRLEN];

	assert_true(ls >= 0 && cs >= 0);
	if (lfamily == AF_INET6)
		assert_int_equal(setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)), 0);
	sa.a4.sin_family = lfamily;
	if (lfamily == AF_INET)
		assert_int_equal(inet_pton(AF_INET, laddr, &sa.a4.sin_addr), 1);
	else
		assert_int_equal(inet_pton(AF_INET6, laddr, &sa.a6.sin6_addr), 1);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sl), 0);
	assert_int_equal(listen(ls, 4), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	sport = ntohs(lfamily == AF_INET ? sa.a4.sin_port : sa.a6.sin6_port);
	if (cfamily == AF_INET) {
		struct sockaddr_in c = { .sin_family = AF_INET, .sin_port = htons(sport) };

		assert_int_equal(inet_pton(AF_INET, caddr, &c.sin_addr), 1);
		assert_int_equal(connect(cs, (struct sockaddr *)&c, sizeof(c)), 0);
	} else {
		struct sockaddr_in6 c = { .sin6_family = AF_INET6, .sin6_port = htons(sport) };

		assert_int_equal(inet_pton(AF_INET6, caddr, &c.sin6_addr), 1);
		assert_int_equal(connect(cs, (struct sockaddr *)&c, sizeof(c)), 0);
	}
	as = accept(ls, NULL, NULL);
	assert_true(as >= 0);
	ce = from_socket(cs, TCP_DIR_ACTIVE);
	se = from_socket(as, TCP_DIR_PASSIVE);
	cport = ce.lport;
	assert_int_equal(flows__init(&f), 0);
	flows__add(&f, &ce);
	flows__add(&f, &se);
	for (size_t pos = 0; (fa = flows__next(&f, &pos));) {
		assert_int_equal(fa->family, want_family);
		assert_string_equal(flows__addr_text(fa->family, fa->laddr, t, sizeof(t)), want_addr);
		assert_string_equal(flows__addr_text(fa->family, fa->raddr, t, sizeof(t)), want_addr);
		assert_int_equal(fa->port, sport);        /* the service port, on both sides */
		assert_int_equal(fa->peer_port, cport);   /* the client's ephemeral port, on both sides */
		assert_int_equal(fa->connections, 1);
	}
	assert_int_equal(f.n, 2);
	flows__free(&f);
	close(as);
	close(cs);
	close(ls);
}

static void decode__real_loopback_sockets__both_ends_agree(void **state)
{
	check_pair(AF_INET, "127.0.0.1", 0, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");
	check_pair(AF_INET6, "::1", 1, AF_INET6, "::1", AF_INET6, "::1");
	/* dual stack: the server's socket is AF_INET6 with ::ffff:127.0.0.1 at both ends */
	check_pair(AF_INET6, "::", 0, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");
}

/* ------------------------------------------------------------------ the other port, the local address */

static void flows__peer_port__kept_while_one_then_zero(void **state)
{
	struct flows f;
	struct pl_tcp_flow_event e = ev(AF_INET, "10.0.0.1", "10.0.0.2", TCP_DIR_ACTIVE, 40001, 80);
	struct pl_tcp_flow_event in = ev(AF_INET, "10.0.0.2", "10.0.0.1", TCP_DIR_PASSIVE, 80, 40001);

	assert_int_equal(flows__init(&f), 0);
	flows__add(&f, &e);
	flows__add(&f, &in);
	assert_int_equal(f.n, 2);
	for (size_t pos = 0; flows__next(&f, &pos);)
		assert_int_equal(f.slots[pos - 1].peer_port, 40001);
	e.lport = 40002;   /* a second connection from another ephemeral port */
	in.rport = 40002;
	flows__add(&f, &e);
	flows__add(&f, &in);
	e.lport = 40001;   /* and back: still several */
	flows__add(&f, &e);
	assert_int_equal(f.n, 2);
	for (size_t pos = 0; flows__next(&f, &pos);) {
		assert_int_equal(f.slots[pos - 1].peer_port, 0);
		assert_int_equal(f.slots[pos - 1].port, 80);
	}
	flows__free(&f);
}

static void flows__keyed_by_local_address(void **state)
{
	struct flows f;
	struct pl_tcp_flow_event a = ev(AF_INET, "10.0.0.1", "10.0.0.9", TCP_DIR_PASSIVE, 80, 40001);
	struct pl_tcp_flow_event b = ev(AF_INET, "10.0.0.2", "10.0.0.9", TCP_DIR_PASSIVE, 80, 40001);
	struct pl_tcp_flow_event m = ev(AF_INET6, "::ffff:10.0.0.1", "::ffff:10.0.0.9", TCP_DIR_PASSIVE, 80, 40002);

	assert_int_equal(flows__init(&f), 0);
	flows__add(&f, &a);
	flows__add(&f, &b);
	flows__add(&f, &m);   /* the same ends seen by a dual-stack socket: the same record as a */
	assert_int_equal(f.n, 2);
	for (size_t pos = 0; flows__next(&f, &pos);) {
		const struct flow_agg *fa = &f.slots[pos - 1];

		assert_int_equal(fa->family, AF_INET);
		assert_int_equal(fa->connections, fa->laddr[3] == 1 ? 2 : 1);
	}
	flows__free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flows__same_key__connections_counted_and_sums_added),
		cmocka_unit_test(flows__keyed_by_direction_remote_and_service_port),
		cmocka_unit_test(flows__beyond_the_bound__counted_as_overflow),
		cmocka_unit_test(decode__ipv4__both_addresses_whole),
		cmocka_unit_test(decode__ipv6__kept_as_ipv6),
		cmocka_unit_test(decode__ipv4_mapped__reported_as_ipv4),
		cmocka_unit_test(addr_text__bad_family__empty),
		cmocka_unit_test(decode__real_loopback_sockets__both_ends_agree),
		cmocka_unit_test(flows__peer_port__kept_while_one_then_zero),
		cmocka_unit_test(flows__keyed_by_local_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
