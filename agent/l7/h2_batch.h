/* The kernel's HTTP/2 batch (struct l7_h2_batch, bpf/l7.h: the frame records of the packets its
 * CPU walked, each packet's struct l7_h2_pkt and entries) back into the per-frame records the
 * HTTP/2 module consumes (struct l7_h2_event), for agent/probes/l7.c. The batch comes from the
 * kernel but is parsed as untrusted input: no count or length in it makes this read outside
 * [data, data + size).
 *
 *   rc = h2_batch__unpack(data, size, emit, ctx, &n);
 *
 * emit is called once per entry, in order (n = how many), each with its packet's fields. rc: 0 the
 * whole batch delivered; -EINVAL the header is cut or claims more bytes than the record (or
 * L7_H2_BBUF) holds: nothing delivered; -EBADMSG a packet header or an entry is cut, or runs past
 * the batch's (or its packet's) len, or data past L7_H2_CAP: the entries before it were delivered,
 * the rest dropped. */
#ifndef PODLENS_AGENT_L7_H2_BATCH_H
#define PODLENS_AGENT_L7_H2_BATCH_H

#include <stddef.h>

#include <linux/types.h>

#include "bpf/l7.h"

typedef void (*h2_batch_emit_fn)(void *ctx, const struct l7_h2_event *e);

int h2_batch__unpack(const void *data, size_t size, h2_batch_emit_fn emit, void *ctx, size_t *n);

#endif
