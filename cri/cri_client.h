/* CRI v1 client: one thin wrapper per RPC over lib/grpc_client (unix socket, h2c), each with a
 * deadline; replies are decoded by cri/cri_parse.h. Not thread-safe (one per thread).
 *
 * Errors: 0, or -errno: -ENOTCONN runtime unreachable (UNAVAILABLE), -ETIMEDOUT deadline
 * exceeded, -ENOENT NOT_FOUND (container/sandbox gone), -EPROTO any other gRPC status,
 * -EBADMSG undecodable reply, -ENOMEM. cri_client__last_error() says what happened. */
#ifndef PODLENS_CRI_CLIENT_H
#define PODLENS_CRI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "cri/cri_parse.h"

struct cri_client;
struct grpc_result;

#define CRI_DEFAULT_DEADLINE_MS 2000

/* The default runtime sockets, probed in this order by cri__detect_socket(). */
extern const char *const cri_default_sockets[];

/* First path in candidates (NULL-terminated; NULL = cri_default_sockets) that is a unix
 * socket accepting connections. Returns a pointer into candidates, or NULL. */
const char *cri__detect_socket(const char *const *candidates);

/* socket: a path; NULL or "auto" = cri__detect_socket(NULL). NULL + errno ENOENT when no
 * runtime socket was found. deadline_ms 0 = CRI_DEFAULT_DEADLINE_MS. */
struct cri_client *cri_client__new(const char *socket, uint32_t deadline_ms);
/* The deadline of the calls that follow (0 = CRI_DEFAULT_DEADLINE_MS). */
void cri_client__set_deadline(struct cri_client *c, uint32_t deadline_ms);
void cri_client__free(struct cri_client *c);
const char *cri_client__socket(const struct cri_client *c);
/* "UNAVAILABLE: connect ... refused" etc. for the last failed call */
const char *cri_client__last_error(const struct cri_client *c);

int cri_client__version(struct cri_client *c, struct cri_version *out);
int cri_client__list_pods(struct cri_client *c, struct cri_pod **pods, size_t *n);
int cri_client__pod_status(struct cri_client *c, const char *pod_id, struct cri_pod *out);
int cri_client__list_containers(struct cri_client *c, struct cri_container **ctrs, size_t *n);
int cri_client__container_status(struct cri_client *c, const char *ctr_id, struct cri_container *out);

/* The raw reply of one RPC (for fixture capture): method is "Version", "ListPodSandbox",
 * "PodSandboxStatus", "ListContainers" or "ContainerStatus"; id for the status calls.
 * *reply is malloc'd. */
int cri_client__raw(struct cri_client *c, const char *method, const char *id, uint8_t **reply,
		    size_t *len);

#endif
