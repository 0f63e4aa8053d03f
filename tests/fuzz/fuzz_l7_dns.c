/* libFuzzer target for agent/l7/dns and the DNS module: any bytes the kernel may hand over on a DNS
 * port parse without fault and within bounds (the name NUL-terminated, at most 253 characters,
 * printable, lower case), and the module, fed the same bytes as a query and as a response of one
 * socket, keeps its counters consistent. The same bytes as a packed batch of the kernel's
 * (agent/probes/dns_order.h dns_batch__unpack): never read past them, at most L7_DNS_BATCH records
 * each with cap <= L7_DNS_CAP and its data zeroed past cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/dns.h"
#include "agent/l7/dns_module.h"
#include "agent/l7/module.h"
#include "agent/probes/dns_order.h"

static void *agg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l7_dns_event e = { 0 };
	struct dns_module_stats st;
	struct l7_dns_event out[L7_DNS_BATCH];
	struct dns_msg m;
	size_t n, bad;
	uint8_t *copy;

	if (dns__parse(data, size, &m) == 0) {
		n = strnlen(m.name, sizeof(m.name));
		if (n >= sizeof(m.name) || n > 253)
			abort();
		for (size_t i = 0; i < n; i++)
			if (m.name[i] <= 0x20 || m.name[i] >= 0x7f || (m.name[i] >= 'A' && m.name[i] <= 'Z'))
				abort();
		if (!m.name_cut && m.qdcount == 1 && n == 0)
			abort();
	}
	/* an exact-size copy: a read past size is a heap overflow the sanitizer reports */
	copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	n = dns_batch__unpack(copy, size, out, &bad);
	free(copy);
	if (n > L7_DNS_BATCH)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (out[i].cap > L7_DNS_CAP)
			abort();
		for (size_t k = out[i].cap; k < L7_DNS_CAP; k++)
			if (out[i].data[k])
				abort();
	}
	if (!agg) {
		dns_module__configure(&(struct dns_config){ .pending_slots = 64, .max_domains = 8 });
		agg = l7_dns_module.agg_new();
		if (!agg)
			abort();
	}
	e.cgroup_id = 1;
	e.proto = L7_PROTO_DNS;
	e.lport = 5353;
	e.rport = 53;
	e.cap = (uint8_t)(size < L7_DNS_CAP ? size : L7_DNS_CAP);
	memcpy(e.data, data, e.cap);
	for (int dir = 0; dir < 2; dir++) {
		e.egress = (uint8_t)dir;
		e.ts_ns += 1000;
		l7_dns_module.consume(agg, &e, sizeof(e));
	}
	l7_dns_module.expire(agg, e.ts_ns + 10000000000ULL);
	dns_module__stats(agg, &st);
	if (st.timeouts + st.evicted > st.queries || st.responses + st.queries + st.malformed == 0)
		abort();
	l7_dns_module.agg_reset(agg);
	return 0;
}
