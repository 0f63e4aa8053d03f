/* The DNS view of the API and /metrics: per pod and per namespace, what the agents' DNS modules
 * reported (podlens.v1 DnsStats, DnsSearch), read through store__dns() and store__dns_search().
 *
 * Sides: "client" are the lookups a pod made, "server" the queries a DNS server pod (CoreDNS)
 * answered. Errors are answers other than NOERROR and NXDOMAIN, timeouts included (the agent's
 * DNS err %); NXDOMAIN is counted apart (an answer, and the ndots search storm's signature).
 * Latency quantiles come from the answered queries' histograms merged over every interval, agent
 * and rcode of the window (lib/hist, within ~6%). Rates are over the data present, as query.h. */
#ifndef PODLENS_COLLECTOR_QUERY_DNS_H
#define PODLENS_COLLECTOR_QUERY_DNS_H

#include <stdint.h>

#include "lib/sbuf.h"
#include "collector/query.h"
#include "collector/store.h"

#define QUERY_DNS_TOP 20            /* domains per side listed by default */
#define QUERY_DNS_MAX_TOP 500       /* at most, whatever ?top= asks */
#define QUERY_DNS_RCODES 16         /* distinct rcodes listed per side; beyond: "other" */
#define QUERY_DNS_MAX_ROWS 200000   /* (pod, side, rcode) groups one answer reads */

/* The fixed rcode classes of /metrics: label values never come from the data. */
enum query_dns_class { DNS_C_NOERROR, DNS_C_NXDOMAIN, DNS_C_SERVFAIL, DNS_C_REFUSED, DNS_C_TIMEOUT,
		       DNS_C_OTHER, DNS_C__N };
extern const char *const query_dns_class_name[DNS_C__N];

struct dns_pod_side {
	uint64_t queries, timeouts, errors, nxdomain, sum_us;
	uint64_t by_class[DNS_C__N];
	int64_t first_ms, end_ms;
	double queries_per_s, error_pct;
	int64_t latency_us[QUANTILES];  /* -1 when no answered query */
	uint64_t lat_le[QUERY_LE_N + 1];  /* answered queries' latency, query__le_counts() */
};

struct dns_pod_row {
	char ns[256], pod[512];
	struct dns_pod_side side[2];    /* [STORE_SERVER], [STORE_CLIENT] */
	uint64_t search_queries, search_nxdomain;
	double search_nxdomain_per_s;
};

/* DNS of every pod of ns (NULL: all namespaces) over [from_ms, to_ms), by namespace then pod.
 * *rows is malloc'd. Returns the row count or -errno. */
int query__dns_pods(struct store *s, const char *ns, int64_t from_ms, int64_t to_ms,
		    struct dns_pod_row **rows);

/* GET .../pods/{pod}/dns (pod non-NULL) and .../namespaces/{ns}/dns: both sides' totals, rcodes,
 * the top `top` domains of each side (1..QUERY_DNS_MAX_TOP), the search storm; the namespace view
 * adds one summary per pod. -ENOENT for an unknown pod. */
int query__dns_json(struct store *s, const char *ns, const char *pod, int64_t from_ms, int64_t to_ms,
		    unsigned top, struct sbuf *out);

#endif
