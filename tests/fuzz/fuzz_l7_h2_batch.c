/* libFuzzer target for agent/l7/h2_batch.c: any record on the ring claiming to be an HTTP/2 batch
 * splits without reading past it (the input is a heap copy of exactly size bytes: ASan), and what
 * is delivered is consistent with the batch: each record's data within L7_H2_CAP and copied from
 * inside the record, its packet fields from a packet header inside it, and a refused header
 * delivers nothing.
 *
 * Input: the record itself (struct l7_h2_batch layout, bpf/l7.h), any size. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/h2_batch.h"

struct ctx {
	const uint8_t *data;
	size_t size, n, bytes;
	struct l7_h2_batch hdr;
};

static void emit(void *arg, const struct l7_h2_event *e)
{
	struct ctx *c = arg;
	const size_t base = offsetof(struct l7_h2_batch, buf);
	struct l7_h2_pkt p;
	int found = 0;

	c->n++;
	c->bytes += sizeof(struct l7_h2_ent) + e->len;
	if (e->len > L7_H2_CAP || e->proto != L7_PROTO_HTTP2 || e->pad)
		abort();
	/* the data are the record's bytes */
	if (e->len && !memmem(c->data + base, c->size - base, e->data, e->len))
		abort();
	/* the packet fields come from a header at a multiple of 8 of buf */
	for (size_t off = 0; off + sizeof(p) <= c->size - base && !found; off += 8) {
		memcpy(&p, c->data + base + off, sizeof(p));
		found = p.cgroup_id == e->cgroup_id && p.ts_ns == e->ts_ns && p.sock == e->sock &&
			p.egress == e->egress && p.mid == e->mid;
	}
	if (!found)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c = { .data = data, .size = size };
	size_t n;
	int rc;

	if (size >= offsetof(struct l7_h2_batch, buf))
		memcpy(&c.hdr, data, offsetof(struct l7_h2_batch, buf));
	rc = h2_batch__unpack(data, size, emit, &c, &n);
	if (n != c.n || (rc != 0 && rc != -EINVAL && rc != -EBADMSG))
		abort();
	if (rc == -EINVAL && n)
		abort();
	/* every delivered entry fits in the batch's len, which fits in the record */
	if (rc != -EINVAL && (c.bytes > c.hdr.len || c.hdr.len > size - offsetof(struct l7_h2_batch, buf)))
		abort();
	return 0;
}
