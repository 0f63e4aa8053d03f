/* podlens.v1 batches -> OTLP metrics (opentelemetry.proto.collector.metrics.v1.
 * ExportMetricsServiceRequest). Batches carry per-interval deltas; OTLP gets CUMULATIVE sums and
 * histograms per series, accumulated here since the series was first seen (its start time).
 *
 * One Resource per workload, attributes (OpenTelemetry semantic conventions, empty values omitted):
 *   k8s.node.name k8s.namespace.name k8s.pod.name k8s.pod.uid k8s.container.name container.id
 *   container.image.name k8s.<deployment|statefulset|daemonset|job|cronjob|replicaset>.name
 *   (from owner_kind/owner_name), podlens.cgroup.path (workloads outside Kubernetes)
 * Metrics, scope "podlens":
 *   podlens.pod.network.io       Sum, cumulative, monotonic, By          network.io.direction=receive|transmit
 *   podlens.pod.network.packets  Sum, cumulative, monotonic, {packet}    network.io.direction
 *   podlens.tcp.opens            Sum, cumulative, monotonic, {connection} podlens.tcp.open=active|passive
 *   podlens.tcp.closes           Sum, cumulative, monotonic, {connection}
 *   podlens.tcp.retransmits      Sum, cumulative, monotonic, {segment}
 *   podlens.tcp.resets           Sum, cumulative, monotonic, {segment}   podlens.tcp.reset=sent|received
 *   podlens.tcp.srtt             Gauge, us, mean smoothed RTT of the interval (when measured)
 *   podlens.tcp.connect.duration Gauge, us, mean connect latency of the interval (when measured)
 *   http.server.request.duration / http.client.request.duration
 *                                Histogram, cumulative, s (HTTP/1 and HTTP/2 by direction; stable HTTP
 *                                semantic conventions); explicit bounds = lib/hist.h bucket
 *                                boundaries hist__upper(i) / 1e6 for i = 0..286 (288 buckets: the
 *                                podlens buckets map one to one, exactly); attributes
 *                                http.request.method (_OTHER + http.request.method_original past
 *                                the known methods), http.route, http.response.status_code,
 *                                error.type (server 5xx, client 4xx/5xx), url.scheme (server),
 *                                network.protocol.version, podlens.request.direction/protocol
 *   rpc.server.duration / rpc.client.duration
 *                                Histogram, cumulative, ms (gRPC; semconv v1.37.0 RPC metrics), the
 *                                same buckets with bounds hist__upper(i) / 1e3; rpc.system=grpc,
 *                                rpc.service, rpc.method, rpc.grpc.status_code
 * Each request carries only the series that appear in the batch (their cumulative value so far).
 * Series not seen for an hour are forgotten (a later sighting restarts them with a new start time). */
#ifndef PODLENS_AGENT_EXPORT_OTLP_H
#define PODLENS_AGENT_EXPORT_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "podlens/v1/podlens.pb-c.h"

struct otlp_enc;

/* Called once per serialized ExportMetricsServiceRequest; n_resources = workloads inside. */
typedef int (*otlp_emit_fn)(void *ctx, const uint8_t *buf, size_t len, uint32_t n_resources);

/* node: k8s.node.name when a workload has none; version: scope version. NULL and errno. */
struct otlp_enc *otlp_enc__new(const char *node, const char *version);
void otlp_enc__free(struct otlp_enc *o);

/* Add the batch's deltas to the cumulative state and emit requests (several when one would exceed
 * max_bytes; a resource is never split). 0 or -errno (or the first non-zero emit return). */
int otlp_enc__batch(struct otlp_enc *o, const Podlens__V1__Batch *b, size_t max_bytes,
		    otlp_emit_fn emit, void *ctx);

/* Number of series currently tracked (for tests and /metrics). */
size_t otlp_enc__series(const struct otlp_enc *o);

#endif
