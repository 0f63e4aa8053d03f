/* Bearer tokens: the gRPC ingest tokens (--token-file: one token per line) and the namespace-scoped
 * read tokens of the API and page (--read-tokens: lines "TOKEN ns1,ns2" or "TOKEN *").
 * Blank lines and lines starting with '#' are ignored. Comparison is constant-time. */
#ifndef PODLENS_COLLECTOR_TOKENS_H
#define PODLENS_COLLECTOR_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

struct token {
	char *token;
	bool all;          /* "*": every namespace */
	char **ns;
	size_t n_ns;
};

struct tokens {
	struct token *v;
	size_t n;
};

/* with_scopes: parse "TOKEN scope" lines (read tokens); otherwise the whole line is the token.
 * Returns 0 or -errno (-EINVAL with a logged line number for a malformed line). */
int tokens__load(struct tokens *t, const char *path, bool with_scopes);
void tokens__free(struct tokens *t);
/* The token matching an "Authorization: Bearer X" header value, or NULL. */
const struct token *tokens__match(const struct tokens *t, const char *authorization);
bool token__allows(const struct token *tok, const char *ns);
/* A "*" token: every namespace, and the collector's own metrics. */
bool token__is_admin(const struct token *tok);

/* What /metrics shows a caller. Self-metrics (ingest counters, connections, per-agent drop
 * reports) describe every namespace at once, so only an admin token or a loopback peer (inside
 * the collector's network namespace: a sidecar, kubectl port-forward) sees them; a scoped token
 * sees the per-pod gauges of its namespaces and nothing else. */
enum metrics_view {
	METRICS_DENY,       /* 401 */
	METRICS_SELF,       /* self-metrics only: loopback peer without a token */
	METRICS_SCOPED,     /* per-pod gauges of the token's namespaces only */
	METRICS_ALL,        /* everything: admin token, or no read tokens configured */
};
/* tokens_configured: --read-tokens given; tok: the matched token (NULL when none matched);
 * has_auth: an Authorization header was sent (a wrong token is refused, not downgraded). */
enum metrics_view token__metrics_view(bool tokens_configured, const struct token *tok, bool has_auth,
				      bool peer_loopback);

/* Ingest admission, shaped for grpc_server_opts.authorize (tokens: a struct tokens): true when no
 * token is configured or the authorization carries one of them. */
bool tokens__admit(const void *tokens, const char *authorization);

#endif
