/* The DNS module's settings (agent/options.c: dns.*), read when the module's aggregator is created
 * (l7_set__new): call dns_module__configure() before. Ports are the probe's (l7_probe_opts). */
#ifndef PODLENS_AGENT_L7_DNS_MODULE_H
#define PODLENS_AGENT_L7_DNS_MODULE_H

#include <stdint.h>

enum dns_domains {
	DNS_DOMAINS_FULL,            /* the query name */
	DNS_DOMAINS_REGISTERED,      /* its registered domain (dns__registered_domain) */
	DNS_DOMAINS_NONE,            /* "" */
};

#define DNS_SUFFIXES_MAX 8
#define DNS_SUFFIX_LEN   64

struct dns_config {
	uint64_t timeout_ms;         /* 0 = 5000: a query unanswered this long is a timeout */
	enum dns_domains domains;
	unsigned max_domains;        /* distinct domains per workload per interval; 0 = 64 */
	unsigned pending_slots;      /* queries awaiting an answer, all workloads; 0 = 4096 */
	/* search-list suffixes (the ndots storm); none set = ".svc.cluster.local", ".cluster.local" */
	char suffixes[DNS_SUFFIXES_MAX][DNS_SUFFIX_LEN];
	unsigned nsuffixes;
};

void dns_module__configure(const struct dns_config *c);

/* "TIMEOUT": the status value of timed-out queries in the aggregation */
#define DNS_STATUS_TIMEOUT 4096

struct dns_module_stats {
	uint64_t queries, responses;
	uint64_t malformed;          /* records on a DNS port that did not parse as DNS */
	uint64_t unmatched;          /* responses without a pending query (late, or never seen) */
	uint64_t timeouts;           /* queries unanswered within the timeout */
	uint64_t evicted;            /* pending queries pushed out of the full table before their timeout */
};

/* Cumulative counters of a DNS aggregator (the module's agg, l7_set__module(set, L7_PROTO_DNS)). */
void dns_module__stats(const void *agg, struct dns_module_stats *s);

#endif
