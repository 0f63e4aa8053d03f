/* libFuzzer: the collector's ingest path without the database.
 * First byte even: the rest is a gRPC message stream (5-byte frames) whose messages are decoded as
 * podlens.v1.Batch and validated, as the Export handler does.
 * First byte odd: the rest is what a client sends after the HTTP/2 connection preface; it is fed
 * to a connection of the real nghttp2 server, whose handler decodes and validates; the server
 * refuses the token "no" and header lists over 1 KiB on the HEADERS, as the collector does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/grpc_server.h"
#include "collector/store.h"
#include "lib/grpc.h"
#include "podlens/v1/podlens.pb-c.h"

static void decode_validate(const uint8_t *msg, size_t len)
{
	Podlens__V1__Batch *b = podlens__v1__batch__unpack(NULL, len, msg);

	if (b) {
		(void)store__validate(b);
		podlens__v1__batch__free_unpacked(b, NULL);
	}
}

static void on_call(void *ctx, const struct grpc_call *call, struct grpc_reply *reply)
{
	decode_validate(call->msg, call->len);
	reply->status = GRPC_INVALID_ARGUMENT;
}

/* Refuse one token and one path, so the HEADERS-time refusal path (answer, then drop DATA) is
 * fuzzed too. */
static int fuzz_admit(void *ctx, const char *method, const char *authorization)
{
	if (!strcmp(method, "/no"))
		return GRPC_UNIMPLEMENTED;
	return authorization && !strcmp(authorization, "Bearer no") ? GRPC_UNAUTHENTICATED : GRPC_OK;
}

static struct grpc_server *srv;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		const uint8_t *p = data + 1, *msg;
		size_t n = size - 1, used;
		uint32_t mlen;

		while (grpc_frame__parse(p, n, 1 << 20, &msg, &mlen, &used) == 1) {
			decode_validate(msg, mlen);
			p += used;
			n -= used;
		}
		return 0;
	}
	if (!srv) {
		struct grpc_server_opts o = {
			.addr = "127.0.0.1:0", .max_msg = 1 << 16, .max_header_list = 1024,
			.admit = fuzz_admit,
		};
		struct grpc_server_ops ops = { .call = on_call };

		srv = grpc_server__new(&o, &ops, NULL);
		if (!srv)
			abort();
	}
	uint8_t *buf = malloc(sizeof(preface) - 1 + size - 1);

	if (!buf)
		return 0;
	memcpy(buf, preface, sizeof(preface) - 1);
	memcpy(buf + sizeof(preface) - 1, data + 1, size - 1);
	grpc_server__feed(srv, buf, sizeof(preface) - 1 + size - 1);
	free(buf);
	return 0;
}
