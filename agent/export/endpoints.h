/* Several collector endpoints and the failover policy between them (docs/export.md, "Failover").
 *
 * The list: "URL[,URL...]" where the first item is http://HOST:PORT (h2c) or https://HOST:PORT
 * (TLS) and a later item may leave the scheme out ("https://a:4317,b:4317"): it takes the first
 * item's. Mixing schemes is refused, so a failover never downgrades TLS to cleartext (the CA,
 * client certificate and token apply to every endpoint). HOST is a name, IPv4 or [IPv6]; PORT
 * defaults to the scheme's (80, 443); an optional /PATH prefix (<= 64 bytes) is kept. At most
 * ENDPOINTS_MAX items, no duplicates, no empty item, no white space, no query or user part.
 * A name may resolve to several addresses: each address is a
 * target of its own (the exporter expands them, endpoints__expand), so a headless Service naming
 * every collector replica is enough.
 *
 * The policy (struct failover), pure and unit-tested: the batch in hand goes to target `cur`.
 *   OK, or a rejection (the receiver answered: the endpoint works, the batch is the problem)
 *       -> stay (sticky: no periodic return to the first endpoint, no rotation);
 *   a retryable failure (connect refused, reset, timeout, UNAVAILABLE, RESOURCE_EXHAUSTED, ...,
 *   agent/export/retry.h) -> the same batch (same agent id and sequence: the collector's dedup
 *       holds) goes to the next target at once, and after a full round of targets failing in a
 *       row, after the exporter's backoff (exponential with jitter, capped): a round costs at most
 *       one call per target, and one backoff wait.
 * The first target is picked from the agent id (a hash), so agents spread over the replicas. */
#ifndef PODLENS_AGENT_EXPORT_ENDPOINTS_H
#define PODLENS_AGENT_EXPORT_ENDPOINTS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/export/retry.h"

#define ENDPOINTS_MAX       16   /* items in the list */
#define ENDPOINTS_MAX_ADDRS 8    /* addresses kept per name */
#define ENDPOINT_HOST_MAX   254

struct endpoint {
	char url[ENDPOINT_HOST_MAX + 96];  /* "http://host:port[/path]" (scheme applied, port made
	                                      explicit, IPv6 bracketed) */
	char host[ENDPOINT_HOST_MAX];      /* without brackets */
	uint16_t port;
	int tls;
	int literal;                       /* host is an IP address: nothing to resolve */
};

struct endpoint_list {
	struct endpoint v[ENDPOINTS_MAX];
	size_t n;
};

/* Parse spec into out. 0, or -EINVAL with a sentence in err naming the item and the reason. */
int endpoints__parse(const char *spec, struct endpoint_list *out, char *err, size_t errlen);

/* One place to send to: an endpoint, and the address to connect to ("" = let libcurl resolve the
 * host, when the name did not resolve now). */
struct endpoint_target {
	const struct endpoint *ep;
	char addr[48];
};

/* Address lookup: fills up to max addresses of host (numeric strings) and returns how many, or
 * -errno. endpoints__resolve is getaddrinfo; tests pass their own. */
typedef int (*endpoint_resolve_fn)(void *ctx, const char *host, uint16_t port, char (*addrs)[48],
				   size_t max);
int endpoints__resolve(void *ctx, const char *host, uint16_t port, char (*addrs)[48], size_t max);

/* Targets of every endpoint in list order, a name's addresses in the resolver's order
 * (duplicates removed); a name that does not resolve stays one target with addr "". Returns the
 * number of targets (at most max, >= 1 when the list is not empty). */
size_t endpoints__expand(const struct endpoint_list *l, endpoint_resolve_fn resolve, void *ctx,
			 struct endpoint_target *out, size_t max);

enum failover_step {
	FAILOVER_STAY = 0,          /* keep the current target */
	FAILOVER_NEXT,              /* retry on target cur (moved on) now */
	FAILOVER_NEXT_AFTER_BACKOFF,/* every target failed in a row: retry on cur after a backoff */
};

struct failover {
	size_t n;                   /* targets */
	size_t cur;                 /* the one in use */
	uint64_t failed;            /* retryable failures in a row (any target) */
	uint64_t switches;          /* times the target changed (for /metrics) */
};

/* n targets, starting at start % n. */
void failover__init(struct failover *f, size_t n, size_t start);
/* The outcome of one attempt on target cur. */
enum failover_step failover__on_result(struct failover *f, enum export_action a);
/* The target list was rebuilt with n targets (names re-resolved): cur stays in range. */
void failover__resize(struct failover *f, size_t n);

/* Stable start index from the agent id (FNV-1a), so agents spread over n targets. */
size_t failover__start(const char *agent_id, size_t n);

#endif
