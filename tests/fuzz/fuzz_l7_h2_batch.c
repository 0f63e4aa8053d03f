/* libFuzzer target for agent/l7/h2_batch.c: any record on the ring claiming to be an HTTP/2 batch
 * splits without reading past it (the input is a heap copy of exactly size bytes: ASan), and what
 * is delivered is consistent with the batch: each record's data within L7_H2_CAP and copied from
 * inside the record, the header fields the batch's, and a refused header delivers nothing.
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

	c->n++;
	c->bytes += sizeof(struct l7_h2_ent) + e->len;
	if (e->len > L7_H2_CAP || e->proto != L7_PROTO_HTTP2 || e->pad)
		abort();
	if (e->cgroup_id != c->hdr.cgroup_id || e->ts_ns != c->hdr.ts_ns || e->sock != c->hdr.sock ||
	    e->egress != c->hdr.egress || e->mid != c->hdr.mid)
		abort();
	/* the data are the record's bytes: look for them in it (first entry's data at a known place) */
	if (c->n == 1 && e->len && memcmp(e->data, c->data + offsetof(struct l7_h2_batch, buf) + 20, e->len))
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
