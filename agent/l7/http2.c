#include "agent/l7/http2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

#define FL_END_STREAM  0x01
#define FL_END_HEADERS 0x04
#define FL_PADDED      0x08
#define FL_PRIORITY    0x20

/* A dead direction's errors: one more and its connection is given up. */
#define MAX_ERRORS 8

struct h2_stream {
	uint32_t id;
	bool resp;                 /* first response HEADERS seen */
	bool trailers;             /* a second response block (gRPC ends every call with one) */
	bool ct;                   /* a content-type was decoded (request or response) */
	bool grpc, known;
	int status, grpc_status;
	uint64_t req_ns, resp_ns;
	char method[16];
	char path[H2_PATH_MAX];
};

struct h2_dir {
	nghttp2_hd_inflater *inf;
	bool synced;               /* the table is the encoder's (seen from the preface, nothing lost) */
	bool in_block;             /* a block continues in CONTINUATION frames */
	uint8_t blk_flags;         /* the HEADERS frame's flags */
	bool blk_push;             /* the block is a PUSH_PROMISE's */
	uint32_t blk_stream;
	uint64_t blk_ns;
	uint8_t *blk;              /* header block being assembled */
	size_t blk_len;
	uint8_t *frm;              /* the current HEADERS/CONTINUATION frame's payload */
	uint32_t frm_len, frm_flen, frm_stream;
	uint8_t frm_type, frm_flags;
	bool frm_on;
	unsigned errors;           /* blocks that failed */
	uint64_t ok;               /* blocks decoded */
};

struct h2_conn {
	uint64_t sock;             /* 0 = free slot */
	uint64_t cgroup_id, last_ns;
	int role;                  /* L7_DIR_* of the socket, -1 until known */
	bool dead;
	struct h2_dir d[2];        /* [egress] */
	struct h2_stream *st;
	unsigned nst, cap;
};

struct h2_tracker {
	struct h2_limits lim;
	h2_done_fn done;
	void *ctx;
	struct h2_conn *conns;
	nghttp2_mem mem;
	struct h2_stats s;
};

/* ---- the byte budget, for our buffers and nghttp2's */

struct hdr {
	size_t size;
	max_align_t pad[];
};

static void *b_malloc(size_t size, void *ud)
{
	struct h2_tracker *t = ud;
	struct hdr *h;

	if (size > t->lim.budget || t->s.mem + size + sizeof(*h) > t->lim.budget) {
		t->s.budget_fails++;
		return NULL;
	}
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	t->s.mem += size + sizeof(*h);
	return h->pad;
}

static void b_free(void *p, void *ud)
{
	struct h2_tracker *t = ud;
	struct hdr *h;

	if (!p)
		return;
	h = (struct hdr *)((char *)p - offsetof(struct hdr, pad));
	t->s.mem -= h->size + sizeof(*h);
	free(h);
}

static void *b_calloc(size_t n, size_t size, void *ud)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = b_malloc(n * size, ud);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *b_realloc(void *p, size_t size, void *ud)
{
	struct hdr *h;
	void *np;

	if (!p)
		return b_malloc(size, ud);
	h = (struct hdr *)((char *)p - offsetof(struct hdr, pad));
	np = b_malloc(size, ud);
	if (!np)
		return NULL;
	memcpy(np, p, h->size < size ? h->size : size);
	b_free(p, ud);
	return np;
}

/* ---- connections */

struct h2_tracker *h2_tracker__new(const struct h2_limits *lim, h2_done_fn done, void *ctx)
{
	struct h2_tracker *t = calloc(1, sizeof(*t));

	if (!t)
		goto nomem;
	if (lim)
		t->lim = *lim;
	if (!t->lim.max_conns)
		t->lim.max_conns = 1024;
	if (!t->lim.max_streams)
		t->lim.max_streams = 128;
	if (!t->lim.max_block)
		t->lim.max_block = 16384;
	if (!t->lim.table_max)
		t->lim.table_max = 65536;
	if (!t->lim.max_fields)
		t->lim.max_fields = 256;
	if (!t->lim.budget)
		t->lim.budget = 16u << 20;
	if (!t->lim.idle_ns)
		t->lim.idle_ns = 600ULL * 1000000000ULL;
	t->done = done;
	t->ctx = ctx;
	t->mem = (nghttp2_mem){ t, b_malloc, b_free, b_calloc, b_realloc };
	t->conns = calloc(t->lim.max_conns, sizeof(*t->conns));
	if (!t->conns)
		goto nomem;
	return t;
nomem:
	free(t);
	errno = ENOMEM;
	return NULL;
}

static void dir_reset_block(struct h2_tracker *t, struct h2_dir *d)
{
	b_free(d->blk, t);
	b_free(d->frm, t);
	d->blk = d->frm = NULL;
	d->blk_len = 0;
	d->in_block = d->frm_on = false;
}

static void dir_free(struct h2_tracker *t, struct h2_dir *d)
{
	dir_reset_block(t, d);
	if (d->inf)
		nghttp2_hd_inflate_del(d->inf);
	d->inf = NULL;
}

static void conn_free(struct h2_tracker *t, struct h2_conn *c)
{
	dir_free(t, &c->d[0]);
	dir_free(t, &c->d[1]);
	b_free(c->st, t);
	memset(c, 0, sizeof(*c));
}

void h2_tracker__free(struct h2_tracker *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->lim.max_conns; i++)
		if (t->conns[i].sock)
			conn_free(t, &t->conns[i]);
	free(t->conns);
	free(t);
}

#define PROBES 16

/* The connection of a socket; create: take a free slot of its window, else evict the window's
 * connection idle longest. */
static struct h2_conn *conn_get(struct h2_tracker *t, uint64_t sock, bool create)
{
	unsigned n = t->lim.max_conns, start = (unsigned)((sock * 0x9E3779B97F4A7C15ULL) >> 32) % n;
	struct h2_conn *free_c = NULL, *old = NULL;

	for (unsigned i = 0; i < PROBES && i < n; i++) {
		struct h2_conn *c = &t->conns[(start + i) % n];

		if (c->sock == sock)
			return c;
		if (!c->sock && !free_c)
			free_c = c;
		if (c->sock && (!old || c->last_ns < old->last_ns))
			old = c;
	}
	if (!create)
		return NULL;
	if (!free_c) {
		conn_free(t, old);
		t->s.evicted++;
		free_c = old;
	}
	free_c->sock = sock;
	free_c->role = -1;
	t->s.conns++;
	return free_c;
}

static void give_up(struct h2_tracker *t, struct h2_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	t->s.given_up++;
	dir_free(t, &c->d[0]);
	dir_free(t, &c->d[1]);
	b_free(c->st, t);
	c->st = NULL;
	c->nst = c->cap = 0;
}

/* A decoding failure of this direction: the next block starts from a table of placeholders. A
 * direction that fails again and again without ever decoding a block is not HTTP/2 (or is
 * hostile): its connection is given up. */
static void dir_error(struct h2_tracker *t, struct h2_conn *c, struct h2_dir *d)
{
	dir_reset_block(t, d);
	if (d->inf)
		nghttp2_hd_inflate_del(d->inf);
	d->inf = NULL;
	d->synced = false;
	if (++d->errors > MAX_ERRORS && (!d->ok || d->errors > MAX_ERRORS * (d->ok + 1)))
		give_up(t, c);
}

/* ---- streams */

static struct h2_stream *stream_find(struct h2_conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nst; i++)
		if (c->st[i].id == id)
			return &c->st[i];
	return NULL;
}

static struct h2_stream *stream_new(struct h2_tracker *t, struct h2_conn *c, uint32_t id)
{
	struct h2_stream *s;

	if (c->nst == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 4;
		struct h2_stream *ns;

		if (cap > t->lim.max_streams)
			cap = t->lim.max_streams;
		if (c->nst == cap || !(ns = b_realloc(c->st, cap * sizeof(*ns), t))) {
			t->s.stream_drops++;
			return NULL;
		}
		c->st = ns;
		c->cap = cap;
	}
	s = &c->st[c->nst++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->status = s->grpc_status = H2_STATUS_UNKNOWN;
	t->s.streams++;
	return s;
}

static void stream_end(struct h2_tracker *t, struct h2_conn *c, struct h2_stream *s, uint64_t ns,
		       bool reset)
{
	struct h2_result r = { 0 };

	if (s->resp) {
		r.cgroup_id = c->cgroup_id;
		r.dir = c->role;
		/* content-type not decoded (midstream): trailers say gRPC, its status stays unknown */
		r.grpc = s->grpc || (!s->ct && s->trailers);
		r.known = s->known;
		snprintf(r.method, sizeof(r.method), "%s", s->known ? s->method : "unknown");
		snprintf(r.path, sizeof(r.path), "%s", s->known ? s->path : "unknown");
		r.status = r.grpc ? s->grpc_status : s->status;
		r.latency_ns = s->resp_ns > s->req_ns ? s->resp_ns - s->req_ns : 0;
		r.total_ns = ns > s->req_ns ? ns - s->req_ns : 0;
		r.reset = reset;
		r.streamed = !reset && ns > s->resp_ns;
		t->s.completed++;
		if (t->done)
			t->done(t->ctx, &r);
	}
	if (reset)
		t->s.resets++;
	*s = c->st[--c->nst];
}

/* ---- header blocks */

struct fields {
	bool method, path, status, ct, grpc_ct, grpc_status;
	char m[16];
	char p[H2_PATH_MAX];
	int st, gst;
};

static int parse_uint(const uint8_t *v, size_t n, int max)
{
	int x = 0;

	if (!n || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x <= max ? x : -1;
}

static void copy_str(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '?';
	dst[n] = 0;
}

#define NAME_IS(nv, lit) ((nv).namelen == sizeof(lit) - 1 && !memcmp((nv).name, lit, sizeof(lit) - 1))

static void field(struct fields *f, const nghttp2_nv *nv)
{
	if (NAME_IS(*nv, ":method")) {
		f->method = true;
		copy_str(f->m, sizeof(f->m), nv->value, nv->valuelen);
	} else if (NAME_IS(*nv, ":path")) {
		f->path = true;
		copy_str(f->p, sizeof(f->p), nv->value, nv->valuelen);
	} else if (NAME_IS(*nv, ":status")) {
		f->st = parse_uint(nv->value, nv->valuelen, 999);
		f->status = f->st >= 100;
	} else if (NAME_IS(*nv, "content-type")) {
		f->ct = true;
		f->grpc_ct = nv->valuelen >= 16 && !memcmp(nv->value, "application/grpc", 16);
	} else if (NAME_IS(*nv, "grpc-status")) {
		f->gst = parse_uint(nv->value, nv->valuelen, 99);
		f->grpc_status = f->gst >= 0;
	}
}

/* A table whose older entries are unknown (a connection found midstream, records lost) starts
 * full of placeholders: entries named "?" with an empty value, 33 bytes each (the least any real
 * field costs: 32 + a name of at least one byte), as many as the default 4096-byte table holds.
 * The encoder's table is its newest entries (the ones we see added, which take the same indices in
 * ours) followed by older ones we never saw; ours is the same newest entries followed by
 * placeholders, and there are at least as many placeholders as the encoder has older entries
 * (each of those takes >= 33 bytes of what the newest leave). So an index names the encoder's field
 * or a placeholder, never another field: a reference to an unseen entry decodes as "?", which
 * matches no field we keep, and decoding goes on (and the entries it adds stay in place). An
 * encoder that raised its table above 4096 bytes before we joined can reference beyond the
 * placeholders: the inflater refuses that, the block fails (counted), never a wrong name. */
#define PLACEHOLDERS (4096 / 33)

static int prime(struct h2_dir *d)
{
	uint8_t blk[PLACEHOLDERS * 4];
	size_t len = sizeof(blk);
	const uint8_t *in = blk;

	for (unsigned i = 0; i < PLACEHOLDERS; i++) {
		blk[4 * i] = 0x40;             /* literal, incremental indexing, new name */
		blk[4 * i + 1] = 1;            /* name: 1 byte, no Huffman */
		blk[4 * i + 2] = '?';
		blk[4 * i + 3] = 0;            /* value: empty */
	}
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(d->inf, &nv, &fl, in, len, 1);

		if (rv < 0)
			return -EBADMSG;
		in += rv;
		len -= (size_t)rv;
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->inf);
			return 0;
		}
		if (!rv && !(fl & NGHTTP2_HD_INFLATE_EMIT))
			return -EBADMSG;
	}
}

/* Decode a complete block into f. 0; -EBADMSG when the inflater refused it (the fields before
 * the failure are the encoder's and stay in f); -E2BIG for too many fields. */
static int inflate_block(struct h2_tracker *t, struct h2_dir *d, const uint8_t *in, size_t len,
			 struct fields *f)
{
	unsigned nfields = 0;

	if (!d->inf) {
		if (nghttp2_hd_inflate_new2(&d->inf, &t->mem))
			return -EBADMSG;
		if (nghttp2_hd_inflate_change_table_size(d->inf, t->lim.table_max) ||
		    (!d->synced && prime(d))) {
			nghttp2_hd_inflate_del(d->inf);
			d->inf = NULL;
			return -EBADMSG;
		}
	}
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(d->inf, &nv, &fl, in, len, 1);

		if (rv < 0)
			return -EBADMSG;
		in += rv;
		len -= (size_t)rv;
		if (fl & NGHTTP2_HD_INFLATE_EMIT) {
			if (++nfields > t->lim.max_fields)
				return -E2BIG;
			field(f, &nv);
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->inf);
			return 0;
		}
		if (!rv && !len && !(fl & NGHTTP2_HD_INFLATE_EMIT))
			return -EBADMSG;
	}
}

static void on_block(struct h2_tracker *t, struct h2_conn *c, int egress)
{
	struct h2_dir *d = &c->d[egress];
	struct fields f = { 0 };
	struct h2_stream *s;
	bool request;
	int rc;

	rc = inflate_block(t, d, d->blk, d->blk_len, &f);
	if (!rc)
		d->ok++;
	if (rc) {
		t->s.hpack_errors++;
		/* a synced table that fails is a malformed block, an unsynced one a reference to
		 * what we never saw: both restart from an empty table, the first kind counts too */
		if (d->synced || rc == -E2BIG)
			t->s.malformed++;
		dir_error(t, c, d);
		if (c->dead)
			return;
	}
	/* a server push: its request fields come from the server. Decoded only to keep the table the
	 * encoder's (a skipped block would shift every later index); the pushed stream is counted
	 * here, and its response (on an even, server-initiated stream id) is not a request of the
	 * workload's: neither reported nor unmatched */
	if (d->blk_push) {
		if (!rc)
			t->s.pushed++;
		goto out;
	}
	/* which way requests go: from the preface, else from the first block saying it */
	if (c->role < 0 && (f.method || f.status))
		c->role = (f.method == (egress == 1)) ? L7_DIR_CLIENT : L7_DIR_SERVER;
	if (c->role < 0) {
		t->s.unmatched++;
		goto out;
	}
	request = (egress == 1) == (c->role == L7_DIR_CLIENT);
	s = stream_find(c, d->blk_stream);
	if (request) {
		if (s)          /* request trailers */
			goto out;
		s = stream_new(t, c, d->blk_stream);
		if (!s)
			goto out;
		s->req_ns = d->blk_ns;
		s->grpc = f.grpc_ct;
		s->ct = f.ct;
		s->known = f.method && f.path;
		if (s->known) {
			memcpy(s->method, f.m, sizeof(s->method));
			memcpy(s->path, f.p, sizeof(s->path));
		}
		goto out;
	}
	if (!s) {
		if (d->blk_stream & 1)
			t->s.unmatched++;
		goto out;
	}
	if (!s->resp) {
		s->resp = true;
		s->resp_ns = d->blk_ns;
		if (f.status)
			s->status = f.st;
		if (f.grpc_ct)
			s->grpc = true;
		s->ct |= f.ct;
	} else {
		s->trailers = true;
	}
	if (f.grpc_status) {
		s->grpc = true;
		s->grpc_status = f.gst;
	}
	if (d->blk_flags & FL_END_STREAM)
		stream_end(t, c, s, d->blk_ns, false);
out:
	b_free(d->blk, t);
	d->blk = NULL;
	d->blk_len = 0;
	d->in_block = false;
}

/* A complete HEADERS or CONTINUATION frame payload in d->frm. */
static void on_frame(struct h2_tracker *t, struct h2_conn *c, int egress)
{
	struct h2_dir *d = &c->d[egress];
	const uint8_t *p = d->frm;
	size_t n = d->frm_len, pad = 0;
	uint8_t *nb;

	if (d->frm_type == L7_H2_HEADERS || d->frm_type == L7_H2_PUSH_PROMISE) {
		if (d->in_block)
			goto bad;       /* a HEADERS inside another's block */
		if (d->frm_flags & FL_PADDED) {
			if (!n)
				goto bad;
			pad = p[0];
			p++;
			n--;
		}
		if (d->frm_type == L7_H2_HEADERS && (d->frm_flags & FL_PRIORITY)) {
			if (n < 5)
				goto bad;
			p += 5;
			n -= 5;
		}
		if (d->frm_type == L7_H2_PUSH_PROMISE) {
			if (n < 4)
				goto bad;       /* the promised stream id */
			p += 4;
			n -= 4;
		}
		if (pad > n)
			goto bad;
		n -= pad;
		d->in_block = true;
		d->blk_flags = d->frm_flags;
		d->blk_stream = d->frm_stream;
		d->blk_push = d->frm_type == L7_H2_PUSH_PROMISE;
	} else if (!d->in_block || d->frm_stream != d->blk_stream) {
		goto bad;               /* CONTINUATION without its HEADERS */
	}
	if (d->blk_len + n > t->lim.max_block) {
		t->s.oversized++;
		dir_error(t, c, d);
		return;
	}
	if (n) {
		nb = b_realloc(d->blk, d->blk_len + n, t);
		if (!nb) {
			dir_error(t, c, d);
			return;
		}
		memcpy(nb + d->blk_len, p, n);
		d->blk = nb;
		d->blk_len += n;
	}
	if (d->frm_flags & FL_END_HEADERS)
		on_block(t, c, egress);
	return;
bad:
	t->s.malformed++;
	dir_error(t, c, d);
}

static void frame_done(struct h2_tracker *t, struct h2_conn *c, struct h2_dir *d, int egress)
{
	on_frame(t, c, egress);
	if (c->dead)
		return;
	b_free(d->frm, t);
	d->frm = NULL;
	d->frm_on = false;
}

/* lost records or boundaries: what this direction decodes from here on has an unknown table */
static void dir_lost(struct h2_tracker *t, struct h2_dir *d)
{
	dir_reset_block(t, d);
	if (d->inf)
		nghttp2_hd_inflate_del(d->inf);
	d->inf = NULL;
	d->synced = false;
}

static void header_bytes(struct h2_tracker *t, struct h2_conn *c, const struct l7_h2_event *e)
{
	struct h2_dir *d = &c->d[e->egress];
	size_t n = e->len <= L7_H2_CAP ? e->len : L7_H2_CAP;

	if (e->kind == L7_H2_K_FRAME) {
		if (d->frm_on) {        /* the previous frame's end never came */
			t->s.gaps++;
			dir_lost(t, d);
		}
		if (e->flen > t->lim.max_block || e->flen > L7_H2_HB_MAX) {
			t->s.oversized++;
			dir_error(t, c, d);
			return;
		}
		if (e->foff || n > e->flen) {
			t->s.malformed++;
			dir_error(t, c, d);
			return;
		}
		d->frm = b_malloc(e->flen ? e->flen : 1, t);
		if (!d->frm) {
			dir_error(t, c, d);
			return;
		}
		d->frm_on = true;
		d->frm_len = 0;
		d->frm_flen = e->flen;
		d->frm_type = e->type;
		d->frm_flags = e->flags;
		d->frm_stream = e->stream;
		if (!d->in_block)
			d->blk_ns = e->ts_ns;
	} else if (!d->frm_on || e->foff != d->frm_len || e->stream != d->frm_stream) {
		if (d->frm_on || d->in_block) {
			t->s.gaps++;
			dir_lost(t, d);
		}
		return;
	}
	if (n > d->frm_flen - d->frm_len) {
		t->s.malformed++;
		dir_error(t, c, d);
		return;
	}
	memcpy(d->frm + d->frm_len, e->data, n);
	d->frm_len += n;
	if (d->frm_len == d->frm_flen)
		frame_done(t, c, d, e->egress);
}

int h2_tracker__consume(struct h2_tracker *t, const struct l7_h2_event *e, size_t size)
{
	struct h2_conn *c;
	struct h2_stream *s;
	struct h2_dir *d;

	if (size < sizeof(*e) || e->egress > 1)
		return -EINVAL;
	t->s.records++;
	c = conn_get(t, e->sock, e->kind == L7_H2_K_OPEN || e->kind == L7_H2_K_FRAME);
	if (!c)
		return 0;
	c->last_ns = e->ts_ns;
	c->cgroup_id = e->cgroup_id;
	if (e->kind == L7_H2_K_OPEN) {
		/* the preface: a new connection, both tables empty and known */
		uint64_t sock = c->sock;

		conn_free(t, c);
		c->sock = sock;
		c->cgroup_id = e->cgroup_id;
		c->last_ns = e->ts_ns;
		c->role = e->egress ? L7_DIR_CLIENT : L7_DIR_SERVER;
		c->d[0].synced = c->d[1].synced = true;
		return 0;
	}
	if (c->dead)
		return 0;
	d = &c->d[e->egress];
	if (e->kind == L7_H2_K_LOST) {
		t->s.lost++;
		dir_lost(t, d);
		return 0;
	}
	if (e->type == L7_H2_HEADERS || e->type == L7_H2_CONTINUATION || e->type == L7_H2_PUSH_PROMISE) {
		header_bytes(t, c, e);
		return 0;
	}
	if (e->kind != L7_H2_K_FRAME)
		return 0;
	if (d->in_block) {
		/* any frame between HEADERS and its last CONTINUATION breaks the block */
		t->s.malformed++;
		dir_error(t, c, d);
		return 0;
	}
	s = e->stream ? stream_find(c, e->stream) : NULL;
	if (e->type == L7_H2_RST_STREAM && s) {
		stream_end(t, c, s, e->ts_ns, true);
	} else if (e->type == L7_H2_DATA && s && c->role >= 0 &&
		   (e->egress == 1) != (c->role == L7_DIR_CLIENT) && s->resp) {
		stream_end(t, c, s, e->ts_ns, false);     /* the response's END_STREAM */
	} else if (e->type == L7_H2_GOAWAY) {
		/* the peer stops: streams above its last id never get an answer; they go with
		 * the connection (idle expiry) */
	}
	return 0;
}

void h2_tracker__expire(struct h2_tracker *t, uint64_t now_ns)
{
	for (unsigned i = 0; i < t->lim.max_conns; i++) {
		struct h2_conn *c = &t->conns[i];

		if (!c->sock)
			continue;
		if (now_ns > c->last_ns && now_ns - c->last_ns > t->lim.idle_ns) {
			conn_free(t, c);
			continue;
		}
		/* streams never answered (the response went unseen): not kept beyond idle_ns */
		for (unsigned j = 0; j < c->nst;) {
			if (now_ns > c->st[j].req_ns && now_ns - c->st[j].req_ns > t->lim.idle_ns)
				c->st[j] = c->st[--c->nst];
			else
				j++;
		}
	}
}

void h2_tracker__stats(const struct h2_tracker *t, struct h2_stats *s)
{
	*s = t->s;
}

const char *h2__grpc_status_name(int status)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};

	return status >= 0 && status < (int)(sizeof(names) / sizeof(names[0])) ? names[status] : "unknown";
}
