/* A user-space model of the kernel's frame walk (bpf/l7_http2.bpf.h, l7_h2_walk): the same per
 * direction state and the same records (struct l7_h2_event), so that the unit test and the fuzzer
 * can turn captured byte streams, cut into packets anywhere, into what the agent receives. Kept
 * step for step with the kernel's loop (L7_H2_STEPS, L7_H2_CAP, L7_H2_HB_MAX). */
#ifndef PODLENS_TEST_L7_HTTP2_WALK_H
#define PODLENS_TEST_L7_HTTP2_WALK_H

#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#include "bpf/l7.h"

struct walk_half {
	uint32_t left, foff, flen, stream;
	uint8_t type, flags, npart, lost;
	uint8_t hb[24];
};

struct walk_sock {
	struct walk_half h[2];
	uint64_t cookie, cgroup_id;
	uint8_t mid, exists;
};

typedef void (*walk_emit_fn)(void *ctx, const struct l7_h2_event *e);

static void walk_rec(struct walk_sock *s, struct walk_half *h, int egress, uint8_t kind, uint64_t ts,
		     const uint8_t *data, uint32_t take, walk_emit_fn emit, void *ctx)
{
	struct l7_h2_event e;

	memset(&e, 0, sizeof(e));
	e.cgroup_id = s->cgroup_id;
	e.ts_ns = ts;
	e.sock = s->cookie;
	e.len = take;
	e.kind = kind;
	e.egress = egress;
	e.proto = L7_PROTO_HTTP2;
	if (h) {
		e.stream = h->stream;
		e.flen = h->flen;
		e.foff = h->foff;
		e.type = h->type;
		e.flags = h->flags;
	}
	e.mid = s->mid;
	if (take)
		memcpy(e.data, data, take);
	emit(ctx, &e);
}

static int walk_plausible(const uint8_t *b, size_t n)
{
	uint32_t len;

	if (n < 9)
		return 0;
	len = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
	if (b[3] == L7_H2_HEADERS)
		return len && len <= 16384 && !(b[4] & ~0x2d) && !(b[5] & 0x80) && (b[8] & 1);
	if (b[3] == 4)
		return !(b[4] & ~1) && len <= 60 && len % 6 == 0 && !(b[5] | b[6] | b[7] | b[8]);
	return 0;
}

/* One packet's payload p[0..n) of direction egress. */
static void walk_packet(struct walk_sock *s, int egress, const uint8_t *p, uint32_t n, uint64_t ts,
			walk_emit_fn emit, void *ctx)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	int is_preface = n >= 24 && !memcmp(p, preface, 24);
	int frame = !is_preface && n >= 12 && walk_plausible(p, n);
	struct walk_half *h = &s->h[egress];
	uint32_t pos = 0, end = n, i, np, need, have, take;
	uint8_t kind;

	if (!n)
		return;
	if (!s->exists) {
		if (n < 12 || (!is_preface && !frame))
			return;
		memset(s->h, 0, sizeof(s->h));
		s->exists = 1;
		s->mid = 0;
		if (!is_preface) {
			s->mid = 1;
			s->h[0].lost = s->h[1].lost = 1;
		}
	}
	if (is_preface) {
		s->mid = 0;
		memset(s->h, 0, sizeof(s->h));
		walk_rec(s, NULL, egress, L7_H2_K_OPEN, ts, NULL, 0, emit, ctx);
		pos += 24;
	} else if (h->lost) {
		if (!frame)
			return;
		h->lost = 0;
		h->left = 0;
		h->npart = 0;
	}
	for (i = 0; i < L7_H2_STEPS; i++) {
		if (pos >= end)
			break;
		if (!h->left) {
			np = h->npart > 8 ? 0 : h->npart;
			need = 9 - np;
			have = end - pos;
			if (have < need) {
				memcpy(&h->hb[np], p + pos, have);
				h->npart = np + have;
				pos = end;
				break;
			}
			memcpy(&h->hb[np], p + pos, need);
			h->npart = 0;
			pos += need;
			h->flen = (uint32_t)h->hb[0] << 16 | (uint32_t)h->hb[1] << 8 | h->hb[2];
			h->left = h->flen;
			h->foff = 0;
			h->type = h->hb[3];
			h->flags = h->hb[4];
			h->stream = ((uint32_t)h->hb[5] & 0x7f) << 24 | (uint32_t)h->hb[6] << 16 |
				    (uint32_t)h->hb[7] << 8 | h->hb[8];
			kind = L7_H2_K_FRAME;
			if (!L7_H2_BLOCK(h->type) &&
			    h->type != L7_H2_RST_STREAM && h->type != L7_H2_GOAWAY &&
			    !(h->type == L7_H2_DATA && (h->flags & 1)))
				continue;
		} else {
			if (!L7_H2_BLOCK(h->type) ||
			    h->foff >= L7_H2_HB_MAX) {
				take = end - pos;
				if (take > h->left)
					take = h->left;
				pos += take;
				h->left -= take;
				h->foff += take;
				continue;
			}
			kind = L7_H2_K_CHUNK;
		}
		take = 0;
		if (L7_H2_BLOCK(h->type)) {
			take = end - pos;
			if (take > h->left)
				take = h->left;
			if (take > L7_H2_CAP)
				take = L7_H2_CAP;
			if (h->foff < L7_H2_HB_MAX && take > L7_H2_HB_MAX - h->foff)
				take = L7_H2_HB_MAX - h->foff;
		}
		if (kind == L7_H2_K_CHUNK && !take)
			break;
		walk_rec(s, h, egress, kind, ts, p + pos, take, emit, ctx);
		pos += take;
		h->left -= take;
		h->foff += take;
	}
	if (pos < end) {
		h->lost = 1;
		walk_rec(s, NULL, egress, L7_H2_K_LOST, ts, NULL, 0, emit, ctx);
	}
}

#endif
