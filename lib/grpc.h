/* gRPC over HTTP/2 pieces shared by every client (CRI, exporter, OTLP) and the collector's
 * server: the 5-byte message framing, status codes and the grpc-message percent-encoding.
 * Transport lives elsewhere (libcurl clients, the nghttp2 server). */
#ifndef PODLENS_LIB_GRPC_H
#define PODLENS_LIB_GRPC_H

#include <stddef.h>
#include <stdint.h>

/* https://github.com/grpc/grpc/blob/master/doc/statuscodes.md */
enum grpc_status {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};

#define GRPC_FRAME_HDR 5

/* "UNAVAILABLE" etc.; "UNKNOWN_STATUS" for values outside 0..16. */
const char *grpc_status__name(int status);

/* Write the 5-byte prefix (uncompressed flag, big-endian length) for a message of len bytes. */
void grpc_frame__put_header(uint8_t hdr[GRPC_FRAME_HDR], uint32_t len);

/* Parse one length-prefixed message at the start of buf[0..n).
 * Returns 1 and sets *msg, *msg_len and *consumed when a whole message is present, 0 when more bytes
 * are needed, -EBADMSG when the compressed flag is set (we never negotiate compression),
 * -EMSGSIZE when the declared length exceeds max_len. */
int grpc_frame__parse(const uint8_t *buf, size_t n, uint32_t max_len, const uint8_t **msg,
		      uint32_t *msg_len, size_t *consumed);

/* Percent-decode a grpc-message value into out (always NUL-terminated, truncated to out_len).
 * Malformed escapes are copied literally. Returns the decoded length. */
size_t grpc_message__decode(const char *in, size_t in_len, char *out, size_t out_len);

/* Percent-encode for a grpc-message trailer: bytes outside 0x20..0x7e and '%' become %XX. */
size_t grpc_message__encode(const char *in, char *out, size_t out_len);

/* Parse a grpc-timeout header value ("500m", "2S", "100u") into milliseconds (rounded up).
 * Returns 0 or -EINVAL. */
int grpc_timeout__parse_ms(const char *v, uint64_t *ms);

#endif
