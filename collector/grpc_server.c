#include "collector/grpc_server.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/grpc.h"
#include "lib/log.h"
#include "lib/netserver.h"

struct conn;

/* DATA bytes of a refused stream taken after its answer before the stream is reset. */
#define REFUSED_DRAIN (256u << 10)

struct stream {
	int32_t id;
	struct conn *conn;
	char *path, *auth;
	bool post, ct_ok, enc_bad;
	uint8_t *buf;
	size_t len, cap;
	size_t hdr_bytes;    /* header list size so far (RFC 9113 6.5.2: name + value + 32) */
	bool hdr_big;
	bool remote_done;    /* END_STREAM received */
	bool settled;        /* no longer counted in conn->incomplete */
	bool refused;        /* answered before its end: its DATA is dropped */
	bool answer_sent;
	bool reset;
	size_t dropped;      /* DATA bytes dropped after a refusal */
	bool ready;          /* request complete, waiting for this round's handling */
	bool answered;
	struct grpc_reply reply;
	uint8_t prefix[GRPC_FRAME_HDR];
	size_t sent;         /* bytes of prefix+body handed to nghttp2 */
	char status_str[8];
	char msg_enc[800];
	struct stream *prev, *next;
};

/* The HTTP/2 side of a connection; the socket side is its netconn (NULL for grpc_server__feed). */
struct conn {
	struct netconn *nc;
	SSL *ssl;
	bool handshaking;
	nghttp2_session *h2;
	struct grpc_server *srv;
	bool dead;
	struct stream *streams;
	unsigned incomplete;   /* streams still receiving their request */
};

struct grpc_server {
	struct netserver *ns;
	SSL_CTX *tls;
	struct grpc_server_opts opts;
	struct grpc_server_ops ops;
	void *ctx;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *h2opt;
	struct grpc_server_stats st;
};

/* Every connection, or only the one grpc_server__feed made. */
static struct conn *conn_first(struct grpc_server *s, struct conn *only)
{
	struct netconn *nc;

	if (only)
		return only;
	nc = netserver__first(s->ns);
	return nc ? netconn__data(nc) : NULL;
}

static struct conn *conn_next(struct conn *c, struct conn *only)
{
	struct netconn *nc;

	if (only)
		return NULL;
	nc = netconn__next(c->nc);
	return nc ? netconn__data(nc) : NULL;
}

/* ------------------------------------------------------------------ streams */

/* The connection's request deadline runs while any stream is still receiving. */
static void stream_settle(struct stream *st)
{
	struct conn *c = st->conn;

	if (st->settled)
		return;
	st->settled = true;
	if (c->incomplete && --c->incomplete == 0 && c->nc)
		netconn__request_end(c->nc);
}

static void stream_drop_buf(struct stream *st)
{
	if (st->conn->nc)
		netconn__uncharge(st->conn->nc, st->cap);
	free(st->buf);
	st->buf = NULL;
	st->len = st->cap = 0;
}

static void stream_free(struct stream *st)
{
	struct conn *c = st->conn;

	stream_settle(st);
	stream_drop_buf(st);

	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	free(st->path);
	free(st->auth);
	free(st->reply.body);
	free(st);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	struct conn *c = ud;
	struct stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st->id = frame->hd.stream_id;
	st->conn = c;
	st->next = c->streams;
	if (c->streams)
		c->streams->prev = st;
	c->streams = st;
	nghttp2_session_set_stream_user_data(h2, st->id, st);
	if (c->incomplete++ == 0 && c->nc)
		netconn__request_begin(c->nc);
	return 0;
}

static char *dup_n(const uint8_t *v, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (!st || st->hdr_big)
		return 0;
	st->hdr_bytes += namelen + valuelen + 32;
	if (st->hdr_bytes > ((struct conn *)ud)->srv->opts.max_header_list) {
		st->hdr_big = true;     /* answered when the block ends; nothing more is kept */
		return 0;
	}
	if (namelen == 5 && !memcmp(name, ":path", 5)) {
		free(st->path);
		st->path = dup_n(value, valuelen);
	} else if (namelen == 7 && !memcmp(name, ":method", 7)) {
		st->post = valuelen == 4 && !memcmp(value, "POST", 4);
	} else if (namelen == 12 && !memcmp(name, "content-type", 12)) {
		st->ct_ok = valuelen >= 16 && !memcmp(value, "application/grpc", 16) &&
			    (valuelen == 16 || value[16] == '+' || value[16] == ';');
	} else if (namelen == 13 && !memcmp(name, "authorization", 13)) {
		free(st->auth);
		st->auth = dup_n(value, valuelen);
	} else if (namelen == 13 && !memcmp(name, "grpc-encoding", 13)) {
		st->enc_bad = !(valuelen == 8 && !memcmp(value, "identity", 8));
	}
	return 0;
}


static void submit_reply(struct conn *c, struct stream *st);
static void submit_http_error(struct conn *c, struct stream *st, const char *code);
static void set_err(struct grpc_reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Answer st now, before its request is complete, and forget its body. */
static void refuse(struct conn *c, struct stream *st)
{
	c->srv->st.calls++;
	st->refused = true;
	stream_settle(st);
	stream_drop_buf(st);
	submit_reply(c, st);
}

static void refuse_http(struct conn *c, struct stream *st, const char *code)
{
	c->srv->st.calls++;
	st->refused = true;
	st->answered = true;
	stream_settle(st);
	stream_drop_buf(st);
	submit_http_error(c, st, code);
}

/* The request HEADERS are complete: everything that can be decided without the body is decided
 * here, so a refused call never gets a byte of its body buffered. */
static void check_headers(struct conn *c, struct stream *st)
{
	struct grpc_server *s = c->srv;
	int status;

	if (st->hdr_big) {
		s->st.refused_size++;
		set_err(&st->reply, GRPC_RESOURCE_EXHAUSTED, "request header list larger than %u bytes",
			s->opts.max_header_list);
		refuse(c, st);
	} else if (!st->post) {
		refuse_http(c, st, "405");
	} else if (!st->ct_ok) {
		refuse_http(c, st, "415");
	} else if (s->opts.admit &&
		   (status = s->opts.admit(s->opts.admit_ctx, st->path ? st->path : "", st->auth)) != GRPC_OK) {
		if (status == GRPC_UNAUTHENTICATED) {
			s->st.refused_auth++;
			set_err(&st->reply, status, "%s",
				st->auth ? "invalid bearer token" : "missing bearer token");
		} else if (status == GRPC_UNIMPLEMENTED) {
			set_err(&st->reply, status, "unknown method %.200s", st->path ? st->path : "");
		} else {
			set_err(&st->reply, status, "%s", grpc_status__name(status));
		}
		refuse(c, st);
	} else if (st->enc_bad) {
		set_err(&st->reply, GRPC_UNIMPLEMENTED, "message encoding not supported (identity only)");
		refuse(c, st);
	}
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct conn *c = ud;
	struct grpc_server *s = c->srv;
	struct stream *st = nghttp2_session_get_stream_user_data(h2, stream_id);
	/* one message and the header of a second one at most: more is an error either way */
	size_t max_buf = (size_t)s->opts.max_msg + 2 * GRPC_FRAME_HDR, need, declared_end;

	if (st && st->answered) {
		/* Refused: dropped unread. A client that keeps sending long after the answer is
		 * told to stop (RST_STREAM NO_ERROR, RFC 9113 8.1). Not at once: libcurl 7.88
		 * reports a response followed closely by a reset as a failed transfer. */
		st->dropped += len;
		if (st->refused && st->answer_sent && !st->reset && st->dropped > REFUSED_DRAIN) {
			st->reset = true;
			nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
		}
		return 0;
	}
	if (!st)
		return 0;
	need = st->len + len;
	declared_end = 0;
	if (need >= GRPC_FRAME_HDR) {
		uint8_t hdr[GRPC_FRAME_HDR];
		size_t have = st->len < GRPC_FRAME_HDR ? st->len : GRPC_FRAME_HDR;
		uint32_t declared;

		memcpy(hdr, st->buf, have);
		memcpy(hdr + have, data, GRPC_FRAME_HDR - have);
		declared = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
		if (declared > s->opts.max_msg || need > max_buf) {
			s->st.refused_size++;
			set_err(&st->reply, GRPC_INVALID_ARGUMENT, "request message larger than %u bytes",
				s->opts.max_msg);
			refuse(c, st);
			return 0;
		}
		declared_end = GRPC_FRAME_HDR + (size_t)declared;
	}
	if (need > st->cap) {
		size_t ncap = st->cap ? st->cap : 4096;
		uint8_t *nb;

		while (ncap < need)
			ncap *= 2;
		/* Once the prefix says how long the message is, take exactly that in one go: the
		 * budget is charged up front, and one large buffer (mmap'd, see grpc_server__new)
		 * goes back to the system when freed instead of fragmenting the heap. */
		if (need >= GRPC_FRAME_HDR && need <= declared_end)
			ncap = declared_end;
		if (ncap > max_buf)
			ncap = max_buf;
		if (c->nc && netconn__charge(c->nc, ncap - st->cap) < 0) {
			s->st.refused_budget++;
			set_err(&st->reply, GRPC_RESOURCE_EXHAUSTED,
				"collector busy: request buffers full, retry later");
			refuse(c, st);
			return 0;
		}
		nb = realloc(st->buf, ncap);
		if (!nb) {
			if (c->nc)
				netconn__uncharge(c->nc, ncap - st->cap);
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		st->buf = nb;
		st->cap = ncap;
	}
	memcpy(st->buf + st->len, data, len);
	st->len += len;
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	struct conn *c = ud;
	struct stream *st;

	if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		if (c->nc)
			netconn__hello_done(c->nc);   /* the preface was valid: nghttp2 checked it */
		return 0;
	}
	if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (!st)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
		check_headers(c, st);
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st->remote_done = true;
	stream_settle(st);
	if (!st->answered)
		st->ready = true;
	return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	struct stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (st)
		st->answer_sent = true;
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code, void *ud)
{
	struct stream *st = nghttp2_session_get_stream_user_data(h2, stream_id);

	if (st) {
		nghttp2_session_set_stream_user_data(h2, stream_id, NULL);
		stream_free(st);
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *h2, int32_t stream_id, uint8_t *buf, size_t length,
			 uint32_t *data_flags, nghttp2_data_source *source, void *ud)
{
	struct stream *st = source->ptr;
	size_t total = GRPC_FRAME_HDR + st->reply.body_len, n = 0;

	while (n < length && st->sent < total) {
		size_t chunk;

		if (st->sent < GRPC_FRAME_HDR) {
			chunk = GRPC_FRAME_HDR - st->sent;
			if (chunk > length - n)
				chunk = length - n;
			memcpy(buf + n, st->prefix + st->sent, chunk);
		} else {
			size_t off = st->sent - GRPC_FRAME_HDR;

			chunk = st->reply.body_len - off;
			if (chunk > length - n)
				chunk = length - n;
			memcpy(buf + n, st->reply.body + off, chunk);
		}
		n += chunk;
		st->sent += chunk;
	}
	if (st->sent == total) {
		nghttp2_nv tr[] = {
			{ (uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE },
		};

		*data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(h2, stream_id, tr, 1) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

static void count_status(struct grpc_server *s, int status)
{
	if (status >= 0 && status <= 16)
		s->st.status[status]++;
}

static void submit_http_error(struct conn *c, struct stream *st, const char *code)
{
	nghttp2_nv hdrs[] = { NV(":status", code) };

	c->srv->st.http_errors++;
	nghttp2_submit_response(c->h2, st->id, hdrs, 1, NULL);
}

/* Trailers-Only error, or HEADERS + DATA + trailers for OK. */
static void submit_reply(struct conn *c, struct stream *st)
{
	struct grpc_reply *r = &st->reply;

	st->answered = true;
	count_status(c->srv, r->status);
	if (r->status != GRPC_OK) {
		snprintf(st->status_str, sizeof(st->status_str), "%d", r->status);
		grpc_message__encode(r->message[0] ? r->message : grpc_status__name(r->status),
				     st->msg_enc, sizeof(st->msg_enc));
		nghttp2_nv hdrs[] = {
			NV(":status", "200"), NV("content-type", "application/grpc"),
			NV("grpc-status", st->status_str), NV("grpc-message", st->msg_enc),
			NV("grpc-accept-encoding", "identity"),
		};
		nghttp2_submit_response(c->h2, st->id, hdrs, 5, NULL);
		return;
	}
	grpc_frame__put_header(st->prefix, (uint32_t)r->body_len);
	st->sent = 0;
	nghttp2_nv hdrs[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
	nghttp2_data_provider dp = { .source.ptr = st, .read_callback = read_body };

	nghttp2_submit_response(c->h2, st->id, hdrs, 2, &dp);
}

static void set_err(struct grpc_reply *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

/* Validate the framing of a completed request; hand it to the handler when valid. Returns true
 * when a gRPC reply (st->reply) is to be sent, false when an HTTP error was already submitted. */
static bool handle_stream(struct conn *c, struct stream *st)
{
	struct grpc_server *s = c->srv;
	const uint8_t *msg;
	uint32_t mlen;
	size_t used;
	int rc;

	s->st.calls++;
	st->reply.status = GRPC_OK;
	/* method, content-type, authorization, encoding and sizes were checked as they arrived */
	rc = grpc_frame__parse(st->buf, st->len, s->opts.max_msg, &msg, &mlen, &used);
	if (rc == -EBADMSG) {
		set_err(&st->reply, GRPC_INTERNAL, "compressed-flag set but no grpc-encoding negotiated");
		return true;
	}
	if (rc == -EMSGSIZE) {
		set_err(&st->reply, GRPC_INVALID_ARGUMENT, "request message larger than %u bytes",
			s->opts.max_msg);
		return true;
	}
	if (rc == 0) {
		set_err(&st->reply, GRPC_INVALID_ARGUMENT, "unary call needs exactly one complete message");
		return true;
	}
	if (used != st->len) {
		set_err(&st->reply, GRPC_INVALID_ARGUMENT, "unary call carries more than one message");
		return true;
	}
	struct grpc_call call = {
		.method = st->path ? st->path : "",
		.authorization = st->auth,
		.msg = msg,
		.len = mlen,
	};
	s->ops.call(s->ctx, &call, &st->reply);
	if (st->reply.status != GRPC_OK) {
		free(st->reply.body);
		st->reply.body = NULL;
		st->reply.body_len = 0;
	}
	return true;
}

/* ------------------------------------------------------------------ connection I/O */

/* Frees the HTTP/2 side; the netconn (if any) is closed by the caller or is closing. */
static void conn_free(struct conn *c)
{
	if (c->h2)
		nghttp2_session_del(c->h2);   /* frees streams via on_stream_close */
	while (c->streams)
		stream_free(c->streams);
	if (c->ssl)
		SSL_free(c->ssl);
	free(c);
}

static ssize_t tls_recv(void *io_ctx, void *buf, size_t n)
{
	struct conn *c = io_ctx;
	int r = SSL_read(c->ssl, buf, (int)n), e;

	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	ERR_clear_error();
	return -EPROTO;                       /* close_notify or error */
}

static ssize_t tls_send(void *io_ctx, const void *buf, size_t n)
{
	struct conn *c = io_ctx;
	int r = SSL_write(c->ssl, buf, (int)n), e;

	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return -EAGAIN;
	return -EPROTO;
}

static const struct netconn_io tls_io = { .recv = tls_recv, .send = tls_send };

/* Move nghttp2's pending output into the connection's buffer and write it. Marks c->dead on
 * write errors or when the session is finished. */
static void conn_flush(struct grpc_server *s, struct conn *c)
{
	if (!c->h2)
		return;
	for (;;) {
		/* fill */
		while (!c->nc || netconn__out_pending(c->nc) < 65536) {
			const uint8_t *data;
			ssize_t n = nghttp2_session_mem_send(c->h2, &data);
			void *p;

			if (n < 0) {
				c->dead = true;
				return;
			}
			if (n == 0)
				break;
			if (!c->nc)
				continue;             /* fuzz hook: discard */
			p = netconn__out_reserve(c->nc, (size_t)n);
			if (!p) {
				c->dead = true;
				return;
			}
			memcpy(p, data, (size_t)n);
		}
		if (!c->nc || !netconn__out_pending(c->nc))
			break;
		/* write */
		int err = netconn__flush(c->nc);

		if (err == -EAGAIN)
			return;
		if (err < 0) {
			c->dead = true;
			return;
		}
	}
	if (c->nc)
		netconn__want(c->nc, true, false);
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
		c->dead = true;
}

static int session_start(struct grpc_server *s, struct conn *c)
{
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->opts.max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, s->opts.max_header_list },
	};

	if (nghttp2_session_server_new2(&c->h2, s->cbs, c, s->h2opt) != 0)
		return -ENOMEM;
	nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 8 << 20);
	return 0;
}

/* Feed received bytes to nghttp2. */
static void conn_input(struct conn *c, const uint8_t *buf, size_t n)
{
	ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, n);

	if (rv < 0) {
		log_debug("grpc: http2 error: %s", nghttp2_strerror((int)rv));
		c->srv->st.protocol_errors++;
		c->dead = true;
	}
}

static void conn_read(struct grpc_server *s, struct conn *c)
{
	uint8_t buf[16384];

	netconn__touch(c->nc);
	if (c->ssl && c->handshaking) {
		int r = SSL_accept(c->ssl);

		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);

			if (e == SSL_ERROR_WANT_READ) {
				netconn__want(c->nc, true, false);
				return;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				netconn__want(c->nc, true, true);
				return;
			}
			log_debug("grpc: tls handshake failed");
			s->st.protocol_errors++;
			ERR_clear_error();
			c->dead = true;
			return;
		}
		c->handshaking = false;
		if (session_start(s, c) < 0) {
			c->dead = true;
			return;
		}
	}
	for (int rounds = 0; rounds < 64 && !c->dead; rounds++) {
		ssize_t n = netconn__recv(c->nc, buf, sizeof(buf));

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			c->dead = true;   /* closed by the peer, close_notify or error */
			break;
		}
		conn_input(c, buf, (size_t)n);
	}
}

/* Handle every ready stream of every connection, commit, then submit replies and flush. */
static void run_round(struct grpc_server *s, struct conn *only)
{
	unsigned handled = 0;

	for (struct conn *c = conn_first(s, only); c; c = conn_next(c, only)) {
		if (c->dead || !c->h2)
			continue;
		for (struct stream *st = c->streams; st; st = st->next) {
			if (!st->ready || st->answered)
				continue;
			st->ready = false;
			if (handle_stream(c, st))
				handled++;
			else
				st->reply.status = -1;   /* HTTP error already submitted */
			st->ready = true;            /* mark: reply pending submit */
		}
	}
	if (handled && s->ops.round_end && s->ops.round_end(s->ctx) < 0) {
		for (struct conn *c = conn_first(s, only); c; c = conn_next(c, only))
			for (struct stream *st = c->streams; st; st = st->next)
				if (st->ready && !st->answered && st->reply.status == GRPC_OK) {
					free(st->reply.body);
					st->reply.body = NULL;
					st->reply.body_len = 0;
					set_err(&st->reply, GRPC_UNAVAILABLE, "storage commit failed");
				}
	}
	for (struct conn *c = conn_first(s, only); c; c = conn_next(c, only)) {
		if (c->dead || !c->h2)
			continue;
		for (struct stream *st = c->streams; st; st = st->next) {
			if (!st->ready)
				continue;
			st->ready = false;
			if (!st->answered)
				submit_reply(c, st);
		}
	}
}

/* ------------------------------------------------------------------ netserver hooks */

static int on_open(void *ctx, struct netconn *nc)
{
	struct grpc_server *s = ctx;
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->nc = nc;
	c->srv = s;
	if (s->tls) {
		c->ssl = SSL_new(s->tls);
		if (!c->ssl || SSL_set_fd(c->ssl, netconn__fd(nc)) != 1) {
			conn_free(c);
			return -EPROTO;
		}
		c->handshaking = true;
		netconn__set_io(nc, &tls_io, c);
	} else if (session_start(s, c) < 0) {
		conn_free(c);
		return -ENOMEM;
	}
	netconn__set_data(nc, c);
	if (c->h2)
		conn_flush(s, c);     /* server preface (SETTINGS) */
	return 0;
}

static void on_io(void *ctx, struct netconn *nc, unsigned events)
{
	struct grpc_server *s = ctx;
	struct conn *c = netconn__data(nc);

	if (c->dead)
		return;
	if (events & EVLOOP_WRITE) {
		if (c->handshaking)
			conn_read(s, c);
		else
			conn_flush(s, c);
	}
	if (events & (EVLOOP_READ | EVLOOP_ERROR))
		conn_read(s, c);
}

static void on_close(void *ctx, struct netconn *nc)
{
	conn_free(netconn__data(nc));
}

/* After each batch of events: the round, then every connection's output; dead ones close. */
static void on_batch_end(void *ctx)
{
	struct grpc_server *s = ctx;

	run_round(s, NULL);
	for (struct netconn *nc = netserver__first(s->ns), *nx; nc; nc = nx) {
		struct conn *c = netconn__data(nc);

		nx = netconn__next(nc);
		if (!c->dead)
			conn_flush(s, c);
		if (c->dead)
			netconn__close(nc);
	}
}

int grpc_server__process(struct grpc_server *s)
{
	return netserver__process(s->ns);
}

int grpc_server__feed(struct grpc_server *s, const uint8_t *data, size_t len)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->srv = s;
	if (session_start(s, c) < 0) {
		free(c);
		return -ENOMEM;
	}
	conn_input(c, data, len);
	if (!c->dead) {
		run_round(s, c);
		conn_flush(s, c);
	}
	rc = c->dead ? -EPROTO : 0;
	conn_free(c);
	return rc;
}

/* ------------------------------------------------------------------ setup */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	for (unsigned i = 0; i < inlen;) {
		unsigned l = in[i];

		if (i + 1 + l > inlen)
			break;
		if (l == 2 && in[i + 1] == 'h' && in[i + 2] == '2') {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;   /* gRPC needs h2 */
}

struct grpc_server *grpc_server__new(const struct grpc_server_opts *opts,
				     const struct grpc_server_ops *ops, void *ctx)
{
	struct grpc_server *s = calloc(1, sizeof(*s));
	struct netserver_ops nops = {
		.open = on_open, .io = on_io, .close = on_close, .batch_end = on_batch_end,
	};
	int err = -ENOMEM;

	if (!s)
		return NULL;
	s->opts = *opts;
	s->ops = *ops;
	s->ctx = ctx;
	if (!s->opts.max_msg)
		s->opts.max_msg = 4 << 20;
	if (!s->opts.max_conns)
		s->opts.max_conns = 256;
	if (!s->opts.idle_ms)
		s->opts.idle_ms = 300000;
	if (!s->opts.max_per_peer)
		s->opts.max_per_peer = 32;
	if (!s->opts.hello_ms)
		s->opts.hello_ms = 10000;
	if (!s->opts.request_ms)
		s->opts.request_ms = 30000;
	if (!s->opts.max_streams)
		s->opts.max_streams = 32;
	if (!s->opts.max_header_list)
		s->opts.max_header_list = 16384;
	if (!s->opts.max_conn_bytes) {
		s->opts.max_conn_bytes = 16u << 20;
		if (s->opts.max_conn_bytes < 2 * ((size_t)s->opts.max_msg + 2 * GRPC_FRAME_HDR))
			s->opts.max_conn_bytes = 2 * ((size_t)s->opts.max_msg + 2 * GRPC_FRAME_HDR);
	}
	if (!s->opts.max_total_bytes)
		s->opts.max_total_bytes = 48u << 20;
	if (s->opts.max_total_bytes < s->opts.max_conn_bytes)
		s->opts.max_total_bytes = s->opts.max_conn_bytes;
	/* Request buffers are large and short-lived: keep them out of the heap so that freeing
	 * them gives the memory back to the system (glibc would otherwise raise its mmap
	 * threshold after the first free and keep later buffers on a heap it never trims). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);

	if (opts->tls_cert || opts->tls_key) {
		s->tls = SSL_CTX_new(TLS_server_method());
		if (!s->tls || !opts->tls_cert || !opts->tls_key ||
		    SSL_CTX_use_certificate_chain_file(s->tls, opts->tls_cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(s->tls, opts->tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(s->tls) != 1) {
			log_error("grpc: tls certificate %s / key %s unusable",
				  opts->tls_cert ? opts->tls_cert : "(none)",
				  opts->tls_key ? opts->tls_key : "(none)");
			ERR_clear_error();
			err = -EPROTO;
			goto fail;
		}
		SSL_CTX_set_min_proto_version(s->tls, TLS1_2_VERSION);
		SSL_CTX_set_mode(s->tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_alpn_select_cb(s->tls, alpn_select, NULL);
	}

	if (nghttp2_session_callbacks_new(&s->cbs) != 0 || nghttp2_option_new(&s->h2opt) != 0)
		goto fail;
	nghttp2_session_callbacks_set_on_begin_headers_callback(s->cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(s->cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(s->cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(s->cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(s->cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(s->cbs, on_frame_send);
	/* libcurl 7.88 sends RST_STREAM after every finished stream (TOOLCHAIN-FACTS.md) */
	nghttp2_option_set_stream_reset_rate_limit(s->h2opt, 1ULL << 30, 1ULL << 30);

	struct netserver_opts no = {
		.name = "grpc", .backlog = 256, .max_conns = s->opts.max_conns,
		.idle_ms = s->opts.idle_ms, .rounds = 8, .max_per_peer = s->opts.max_per_peer,
		.hello_ms = s->opts.hello_ms, .request_ms = s->opts.request_ms,
		.max_conn_bytes = s->opts.max_conn_bytes, .max_total_bytes = s->opts.max_total_bytes,
	};

	s->ns = netserver__new(opts->addr, &no, &nops, s);
	if (!s->ns) {
		err = -errno;
		goto fail;
	}
	return s;
fail:
	grpc_server__free(s);
	errno = -err;
	return NULL;
}

void grpc_server__free(struct grpc_server *s)
{
	if (!s)
		return;
	netserver__free(s->ns);
	if (s->cbs)
		nghttp2_session_callbacks_del(s->cbs);
	if (s->h2opt)
		nghttp2_option_del(s->h2opt);
	if (s->tls)
		SSL_CTX_free(s->tls);
	free(s);
}

int grpc_server__fd(const struct grpc_server *s)
{
	return netserver__fd(s->ns);
}

int grpc_server__port(const struct grpc_server *s)
{
	return netserver__port(s->ns);
}

bool grpc_server__loopback(const struct grpc_server *s)
{
	return netserver__loopback(s->ns);
}

void grpc_server__stats(const struct grpc_server *s, struct grpc_server_stats *out)
{
	struct netserver_stats ns;

	netserver__stats(s->ns, &ns);
	*out = s->st;
	out->conns_accepted = ns.accepted;
	out->conns_rejected = ns.rejected;
	out->conns_open = ns.open;
	out->conns_evicted = ns.evicted;
	out->conns_expired = ns.expired_hello + ns.expired_request;
	out->buffered_bytes = ns.buffered;
	out->buffered_peak = ns.buffered_peak;
}
