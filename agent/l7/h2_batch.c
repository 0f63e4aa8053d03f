/* agent/l7/h2_batch.c: splitting the kernel's HTTP/2 batch of packets' frame records. */
#include <errno.h>
#include <string.h>

#include "agent/l7/h2_batch.h"

int h2_batch__unpack(const void *data, size_t size, h2_batch_emit_fn emit, void *ctx, size_t *n)
{
	const size_t hdr = offsetof(struct l7_h2_batch, buf);
	const unsigned char *buf = (const unsigned char *)data + hdr;
	struct l7_h2_batch b;   /* the header only: buf is read in place, within size */
	struct l7_h2_event ev;
	struct l7_h2_pkt pk;
	struct l7_h2_ent x;
	size_t off = 0, len, end;

	*n = 0;
	if (size < hdr)
		return -EINVAL;
	memcpy(&b, data, hdr);
	if (b.len > size - hdr || b.len > sizeof(b.buf))
		return -EINVAL;
	len = b.len;
	while (off < len) {
		/* a packet's header at the next multiple of 8 */
		off = (off + 7) & ~(size_t)7;
		if (off >= len)
			break;
		if (len - off < sizeof(pk))
			return -EBADMSG;
		memcpy(&pk, buf + off, sizeof(pk));
		off += sizeof(pk);
		if (pk.len > len - off)
			return -EBADMSG;
		end = off + pk.len;
		/* data past ev.len is never read by the module: only the header is cleared */
		memset(&ev, 0, offsetof(struct l7_h2_event, data));
		ev.cgroup_id = pk.cgroup_id;
		ev.ts_ns = pk.ts_ns;
		ev.sock = pk.sock;
		ev.egress = pk.egress;
		ev.mid = pk.mid;
		ev.proto = L7_PROTO_HTTP2;
		while (off < end) {
			if (end - off < sizeof(x))
				return -EBADMSG;
			memcpy(&x, buf + off, sizeof(x));
			off += sizeof(x);
			if (x.len > L7_H2_CAP || x.len > end - off)
				return -EBADMSG;
			ev.len = x.len;
			ev.kind = x.kind;
			ev.stream = x.stream;
			ev.flen = x.flen;
			ev.foff = x.foff;
			ev.type = x.type;
			ev.flags = x.flags;
			memcpy(ev.data, buf + off, x.len);
			/* a packet's last entry's padding may be left out: off past end ends it */
			off += (x.len + 3u) & ~3u;
			(*n)++;
			emit(ctx, &ev);
		}
		off = end > off ? end : off;
	}
	return 0;
}
