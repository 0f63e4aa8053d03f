#include "lib/grpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *grpc_status__name(int status)
{
	if (status < 0 || status > GRPC_UNAUTHENTICATED)
		return "UNKNOWN_STATUS";
	return status_names[status];
}

void grpc_frame__put_header(uint8_t hdr[GRPC_FRAME_HDR], uint32_t len)
{
	hdr[0] = 0;
	hdr[1] = len >> 24;
	hdr[2] = len >> 16;
	hdr[3] = len >> 8;
	hdr[4] = len;
}

int grpc_frame__parse(const uint8_t *buf, size_t n, uint32_t max_len, const uint8_t **msg,
		      uint32_t *msg_len, size_t *consumed)
{
	uint32_t len;

	if (n < GRPC_FRAME_HDR)
		return 0;
	if (buf[0] != 0)
		return -EBADMSG;
	len = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
	if (len > max_len)
		return -EMSGSIZE;
	if (n - GRPC_FRAME_HDR < len)
		return 0;
	*msg = buf + GRPC_FRAME_HDR;
	*msg_len = len;
	*consumed = GRPC_FRAME_HDR + (size_t)len;
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t grpc_message__decode(const char *in, size_t in_len, char *out, size_t out_len)
{
	size_t o = 0;

	if (out_len == 0)
		return 0;
	for (size_t i = 0; i < in_len && o + 1 < out_len; i++) {
		int hi, lo;

		if (in[i] == '%' && i + 2 < in_len && (hi = hexval(in[i + 1])) >= 0 &&
		    (lo = hexval(in[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	return o;
}

size_t grpc_message__encode(const char *in, char *out, size_t out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (out_len == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
			if (o + 1 >= out_len)
				break;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= out_len)
				break;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return o;
}

int grpc_timeout__parse_ms(const char *v, uint64_t *ms)
{
	unsigned long long n = 0;
	size_t digits = 0;
	const char *p = v;

	/* TimeoutValue is at most 8 ASCII digits (gRPC PROTOCOL-HTTP2.md) */
	while (*p >= '0' && *p <= '9' && digits < 8) {
		n = n * 10 + (unsigned)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || p[0] == '\0' || p[1] != '\0')
		return -EINVAL;
	switch (*p) {
	case 'H': *ms = n * 3600000ULL; break;
	case 'M': *ms = n * 60000ULL; break;
	case 'S': *ms = n * 1000ULL; break;
	case 'm': *ms = n; break;
	case 'u': *ms = (n + 999) / 1000; break;
	case 'n': *ms = (n + 999999) / 1000000; break;
	default: return -EINVAL;
	}
	return 0;
}
