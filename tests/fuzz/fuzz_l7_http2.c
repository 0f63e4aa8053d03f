/* libFuzzer target for the HTTP/2 frame walk and agent/l7/http2.c: any bytes on an HTTP/2 socket,
 * in either direction, cut into packets anywhere, go through a model of the kernel's walk
 * (tests/unit/test_l7_http2_walk.h) into the tracker (header block reassembly, HPACK with
 * libnghttp2's inflater, streams) without fault; its memory stays within the budget and every
 * completed stream has a NUL-terminated printable path and a status in range.
 *
 * Input: byte 0 bit 0 = start with the connection preface (client side), bits 1..7 = a small
 * budget; then chunks [direction + length: 1 byte (bit 7 = egress, bits 0..6 = length)][bytes]. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/http2.h"
#include "../unit/test_l7_http2_walk.h"

static void on_done(void *ctx, const struct h2_result *r)
{
	size_t n = strnlen(r->path, sizeof(r->path));

	(void)ctx;
	if (n >= sizeof(r->path) || strnlen(r->method, sizeof(r->method)) >= sizeof(r->method))
		abort();
	for (size_t i = 0; i < n; i++)
		if (r->path[i] < 0x20 || r->path[i] >= 0x7f)
			abort();
	if (r->status != H2_STATUS_UNKNOWN && (r->status < 0 || r->status > 999))
		abort();
	if (r->dir != L7_DIR_SERVER && r->dir != L7_DIR_CLIENT)
		abort();
}

static void emit(void *ctx, const struct l7_h2_event *e)
{
	struct h2_tracker *t = ctx;
	struct h2_stats st;

	h2_tracker__consume(t, e, sizeof(*e));
	h2_tracker__stats(t, &st);
	if (st.mem > (size_t)16 << 20)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct walk_sock s = { .cookie = 1, .cgroup_id = 2 };
	struct h2_limits lim = { .max_conns = 4, .max_streams = 8 };
	struct h2_tracker *t;
	struct h2_stats st;
	size_t i = 1;

	if (!size)
		return 0;
	lim.budget = data[0] & 2 ? 0 : 8192 + 1024 * (data[0] >> 2);
	t = h2_tracker__new(&lim, on_done, NULL);
	if (!t)
		return 0;
	if (data[0] & 1)
		walk_packet(&s, 1, (const uint8_t *)preface, 24, 1, emit, t);
	while (i < size) {
		int egress = data[i] >> 7;
		size_t n = data[i] & 0x7f;

		i++;
		if (n > size - i)
			n = size - i;
		walk_packet(&s, egress, data + i, (uint32_t)n, i, emit, t);
		i += n;
	}
	h2_tracker__stats(t, &st);
	if (lim.budget && st.mem > lim.budget)
		abort();
	h2_tracker__expire(t, ~0ULL);
	h2_tracker__stats(t, &st);
	if (st.mem)
		abort();
	h2_tracker__free(t);
	return 0;
}
