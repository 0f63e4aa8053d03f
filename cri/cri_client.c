/* CRI v1 RPC wrappers: build the request, one gRPC call with a deadline, hand the reply bytes
 * to the parser. Nothing here interprets a reply. */
#include "cri/cri_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cri/v1/api.pb-c.h"
#include "lib/grpc.h"
#include "lib/grpc_client.h"
#include "lib/log.h"

const char *const cri_default_sockets[] = {
	"/run/containerd/containerd.sock",
	"/run/k3s/containerd/containerd.sock",
	"/var/run/crio/crio.sock",
	"/var/run/cri-dockerd.sock",
	NULL,
};

struct cri_client {
	struct grpc_client *g;
	char *socket;
	uint32_t deadline_ms;
	char last_error[300];
};

static int socket_accepts(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ok;

	if (stat(path, &st) || !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof(sa.sun_path))
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

const char *cri__detect_socket(const char *const *candidates)
{
	if (!candidates)
		candidates = cri_default_sockets;
	for (; *candidates; candidates++)
		if (socket_accepts(*candidates))
			return *candidates;
	return NULL;
}

struct cri_client *cri_client__new(const char *socket, uint32_t deadline_ms)
{
	struct grpc_client_opts o = { 0 };
	struct cri_client *c;
	char *url = NULL;
	int err;

	if (!socket || !strcmp(socket, "auto")) {
		socket = cri__detect_socket(NULL);
		if (!socket) {
			errno = ENOENT;
			return NULL;
		}
	}
	if (socket[0] != '/') {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->socket = strdup(socket)) || asprintf(&url, "unix://%s", socket) < 0) {
		url = NULL;
		err = ENOMEM;
		goto fail;
	}
	c->deadline_ms = deadline_ms ? deadline_ms : CRI_DEFAULT_DEADLINE_MS;
	o.url = url;
	o.max_recv_bytes = 64u << 20;   /* ListContainers on a busy node can be large */
	c->g = grpc_client__new(&o);
	if (!c->g) {
		err = errno;
		goto fail;
	}
	free(url);
	return c;
fail:
	free(url);
	cri_client__free(c);
	errno = err;
	return NULL;
}

void cri_client__set_deadline(struct cri_client *c, uint32_t deadline_ms)
{
	c->deadline_ms = deadline_ms ? deadline_ms : CRI_DEFAULT_DEADLINE_MS;
}

void cri_client__free(struct cri_client *c)
{
	if (!c)
		return;
	grpc_client__free(c->g);
	free(c->socket);
	free(c);
}

const char *cri_client__socket(const struct cri_client *c)
{
	return c->socket;
}

const char *cri_client__last_error(const struct cri_client *c)
{
	return c->last_error;
}

static int status_errno(int st)
{
	switch (st) {
	case GRPC_OK: return 0;
	case GRPC_UNAVAILABLE: return -ENOTCONN;
	case GRPC_DEADLINE_EXCEEDED: return -ETIMEDOUT;
	case GRPC_NOT_FOUND: return -ENOENT;
	default: return -EPROTO;
	}
}

/* Pack req, call /runtime.v1.RuntimeService/<method>, return the reply bytes. One attempt, no
 * retry: the caller's periodic resync is the retry (meta_cache__resync), so there is no backoff here. */
static int call(struct cri_client *c, const char *method, const ProtobufCMessage *req, uint8_t **reply,
		size_t *len)
{
	struct grpc_result r;
	char path[96];
	uint8_t stackbuf[256], *buf = stackbuf;
	size_t n = protobuf_c_message_get_packed_size(req);
	int err;

	*reply = NULL;
	*len = 0;
	if (n > sizeof(stackbuf) && !(buf = malloc(n)))
		return -ENOMEM;
	protobuf_c_message_pack(req, buf);
	snprintf(path, sizeof(path), "/runtime.v1.RuntimeService/%s", method);
	err = grpc_client__call(c->g, path, buf, n, c->deadline_ms, &r);
	if (buf != stackbuf)
		free(buf);
	if (err) {
		snprintf(c->last_error, sizeof(c->last_error), "%s: %s", method, strerror(-err));
		return err;
	}
	err = status_errno(r.status);
	if (err) {
		snprintf(c->last_error, sizeof(c->last_error), "%s: %s: %s", method,
			 grpc_status__name(r.status), r.message);
		grpc_result__clear(&r);
		return err;
	}
	*reply = r.reply;
	*len = r.reply_len;
	r.reply = NULL;
	grpc_result__clear(&r);
	return 0;
}

int cri_client__raw(struct cri_client *c, const char *method, const char *id, uint8_t **reply, size_t *len)
{
	if (!strcmp(method, "Version")) {
		Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;

		req.version = "v1";
		return call(c, method, &req.base, reply, len);
	}
	if (!strcmp(method, "ListPodSandbox")) {
		Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;

		return call(c, method, &req.base, reply, len);
	}
	if (!strcmp(method, "ListContainers")) {
		Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;

		return call(c, method, &req.base, reply, len);
	}
	if (!id)
		return -EINVAL;
	if (!strcmp(method, "PodSandboxStatus")) {
		Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;

		req.pod_sandbox_id = (char *)id;
		req.verbose = 1;
		return call(c, method, &req.base, reply, len);
	}
	if (!strcmp(method, "ContainerStatus")) {
		Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;

		req.container_id = (char *)id;
		req.verbose = 1;
		return call(c, method, &req.base, reply, len);
	}
	return -EINVAL;
}

/* a reply that does not decode is reported like a failed call */
static int parsed(struct cri_client *c, const char *method, uint8_t *reply, int err)
{
	free(reply);
	if (err)
		snprintf(c->last_error, sizeof(c->last_error), "%s: bad reply: %s", method, strerror(-err));
	return err;
}

int cri_client__version(struct cri_client *c, struct cri_version *out)
{
	uint8_t *r;
	size_t n;
	int err = cri_client__raw(c, "Version", NULL, &r, &n);

	return err ? err : parsed(c, "Version", r, cri_parse__version(r, n, out));
}

int cri_client__list_pods(struct cri_client *c, struct cri_pod **pods, size_t *np)
{
	uint8_t *r;
	size_t n;
	int err = cri_client__raw(c, "ListPodSandbox", NULL, &r, &n);

	*pods = NULL;
	*np = 0;
	return err ? err : parsed(c, "ListPodSandbox", r, cri_parse__pod_list(r, n, pods, np));
}

int cri_client__pod_status(struct cri_client *c, const char *pod_id, struct cri_pod *out)
{
	uint8_t *r;
	size_t n;
	int err = cri_client__raw(c, "PodSandboxStatus", pod_id, &r, &n);

	memset(out, 0, sizeof(*out));
	return err ? err : parsed(c, "PodSandboxStatus", r, cri_parse__pod_status(r, n, out));
}

int cri_client__list_containers(struct cri_client *c, struct cri_container **ctrs, size_t *nc)
{
	uint8_t *r;
	size_t n;
	int err = cri_client__raw(c, "ListContainers", NULL, &r, &n);

	*ctrs = NULL;
	*nc = 0;
	return err ? err : parsed(c, "ListContainers", r, cri_parse__container_list(r, n, ctrs, nc));
}

int cri_client__container_status(struct cri_client *c, const char *ctr_id, struct cri_container *out)
{
	uint8_t *r;
	size_t n;
	int err = cri_client__raw(c, "ContainerStatus", ctr_id, &r, &n);

	memset(out, 0, sizeof(*out));
	return err ? err : parsed(c, "ContainerStatus", r, cri_parse__container_status(r, n, out));
}
