/* The HTTP/2 + gRPC module (agent/l7/http2_module.c): its counters, for the probe tool and tests. */
#ifndef PODLENS_AGENT_L7_HTTP2_MODULE_H
#define PODLENS_AGENT_L7_HTTP2_MODULE_H

#include "agent/l7/http2.h"

/* Cumulative counters of the module's aggregator (l7_set__module(set, L7_PROTO_HTTP2, &agg)). */
void http2_module__stats(const void *agg, struct h2_stats *s);

#endif
