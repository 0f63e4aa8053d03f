/* Closed connections aggregated per interval by (cgroup, direction, remote address, service port):
 * the service port is the remote port of outbound connections and the local port of inbound ones,
 * so a client's thousand connections to one server make one record, not a thousand. Bounded:
 * connections whose key does not fit are counted in flows__overflow(). */
#ifndef PODLENS_AGENT_PIPELINE_FLOWS_H
#define PODLENS_AGENT_PIPELINE_FLOWS_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/tcp.h"

#define FLOWS_MAX 4096

struct flow_agg {
	uint64_t cgroup_id;
	uint8_t direction;          /* TCP_DIR_* */
	uint16_t family;
	uint8_t raddr[16];
	uint16_t port;              /* service port: remote (outbound) or local (inbound) */
	uint64_t connections;
	uint64_t tx_bytes, rx_bytes, retransmits;
	uint64_t srtt_sum_us, duration_sum_us, connect_lat_sum_us;
};

struct flows {
	struct flow_agg *slots;     /* open addressing, FLOWS_MAX * 2 slots; connections == 0 = empty */
	size_t n;
	uint64_t overflow;
};

int flows__init(struct flows *f);
void flows__free(struct flows *f);
void flows__add(struct flows *f, const struct pl_tcp_flow_event *e);
/* for (size_t i = 0; (fa = flows__next(f, &i)); ) */
const struct flow_agg *flows__next(const struct flows *f, size_t *pos);
void flows__reset(struct flows *f);   /* keeps the overflow count */

#endif
