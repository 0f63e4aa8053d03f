/* Closed connections aggregated per interval by (cgroup, direction, local address, remote address,
 * service port): the service port is the remote port of outbound connections and the local port of
 * inbound ones, so a client's thousand connections to one server make one record, not a thousand.
 * The other port (the client's ephemeral one) is kept while every connection of the record had the
 * same, else reported as 0 ("several"). Bounded: connections whose key does not fit are counted in
 * flows__overflow(). */
#ifndef PODLENS_AGENT_PIPELINE_FLOWS_H
#define PODLENS_AGENT_PIPELINE_FLOWS_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/tcp.h"

#define FLOWS_MAX 4096

struct flow_agg {
	uint64_t cgroup_id;
	uint8_t direction;          /* TCP_DIR_* */
	uint16_t family;            /* AF_INET (4 bytes used, the rest 0) or AF_INET6 */
	uint8_t laddr[16];          /* network byte order */
	uint8_t raddr[16];
	uint16_t port;              /* service port: remote (outbound) or local (inbound) */
	uint16_t peer_port;         /* the other one while all connections had the same, else 0 */
	uint64_t connections;
	uint64_t tx_bytes, rx_bytes, retransmits;
	uint64_t srtt_sum_us, duration_sum_us, connect_lat_sum_us;
};

struct flows {
	struct flow_agg *slots;     /* open addressing, FLOWS_MAX * 2 slots; connections == 0 = empty */
	size_t n;
	uint64_t overflow;
};

/* A closed connection's addresses as they are reported: an AF_INET6 socket whose two ends are
 * IPv4-mapped (::ffff:a.b.c.d: a dual-stack listener accepting IPv4, or a connect() to a mapped
 * address) becomes AF_INET, so one peer has one address whichever socket family saw it. Bytes past
 * the family's length are zeroed. */
struct flow_addrs {
	uint16_t family;
	uint8_t laddr[16], raddr[16];
};
void flows__decode(const struct pl_tcp_flow_event *e, struct flow_addrs *out);
/* An address as text (inet_ntop; IPv6 in its canonical short form). Returns out, "" on a bad family. */
const char *flows__addr_text(uint16_t family, const uint8_t *addr, char *out, size_t len);

int flows__init(struct flows *f);
void flows__free(struct flows *f);
void flows__add(struct flows *f, const struct pl_tcp_flow_event *e);
/* for (size_t i = 0; (fa = flows__next(f, &i)); ) */
const struct flow_agg *flows__next(const struct flows *f, size_t *pos);
void flows__reset(struct flows *f);   /* keeps the overflow count */

#endif
