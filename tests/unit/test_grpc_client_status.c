/* lib/grpc_client against an HTTP/2 peer made here (libnghttp2, h2c over a unix socket) that answers
 * in the ways a gRPC server or a proxy can: the structured result (failure class, HTTP status,
 * grpc-status) says what happened, whatever the message text. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "lib/grpc.h"
#include "lib/grpc_client.h"

enum answer {
	A_OK,              /* headers, one message, trailers grpc-status 0 */
	A_TRAILERS_ONLY,   /* headers with grpc-status 3 and END_STREAM */
	A_HTTP_503,        /* :status 503 and nothing else (a proxy with no backend) */
	A_NO_TRAILERS,     /* headers, one message, END_STREAM without grpc-status */
	A_TRUNCATED,       /* headers, a message cut short, trailers grpc-status 0 */
	A_COMPRESSED,      /* headers, a message with the compressed flag, trailers grpc-status 0 */
};

struct peer {
	char path[108];
	int lfd;
	enum answer a;
	pthread_t thr;
	uint8_t body[16];
	size_t body_len, body_off;
};

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

struct conn {
	int fd;
	struct peer *p;
};

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct conn *c = ud;
	ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

	return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct peer *p = src->ptr;
	size_t n = p->body_len - p->body_off;

	if (n > len)
		n = len;
	memcpy(buf, p->body + p->body_off, n);
	p->body_off += n;
	if (p->body_off == p->body_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (p->a != A_NO_TRAILERS) {
			nghttp2_nv tr[] = { NV("grpc-status", "0") };

			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(s, sid, tr, 1);
		}
	}
	return (ssize_t)n;
}

static void respond(nghttp2_session *s, int32_t sid, struct peer *p)
{
	nghttp2_nv ok[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
	nghttp2_nv only[] = { NV(":status", "200"), NV("content-type", "application/grpc"),
			      NV("grpc-status", "3"), NV("grpc-message", "missing%20grpc-status%20trailer") };
	nghttp2_nv unavailable[] = { NV(":status", "503") };
	nghttp2_data_provider dp = { .source.ptr = p, .read_callback = read_body };
	/* a 2-byte message "hi"; truncated: 10 bytes announced, 2 sent; compressed: flag 1 */
	static const uint8_t msg[] = { 0, 0, 0, 0, 2, 'h', 'i' };

	memcpy(p->body, msg, sizeof(msg));
	p->body_len = sizeof(msg);
	p->body_off = 0;
	if (p->a == A_TRUNCATED)
		p->body[4] = 10;
	if (p->a == A_COMPRESSED)
		p->body[0] = 1;
	switch (p->a) {
	case A_TRAILERS_ONLY:
		nghttp2_submit_response(s, sid, only, 4, NULL);
		break;
	case A_HTTP_503:
		nghttp2_submit_response(s, sid, unavailable, 1, NULL);
		break;
	default:
		nghttp2_submit_response(s, sid, ok, 2, &dp);
	}
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct conn *c = ud;

	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		respond(s, f->hd.stream_id, c->p);
	return 0;
}

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	struct conn c = { .p = p };
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	uint8_t buf[16384];
	ssize_t n;

	c.fd = accept(p->lfd, NULL, NULL);
	if (c.fd < 0)
		return NULL;
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_send_callback(cbs, on_send);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_server_new(&s, cbs, &c);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
	nghttp2_session_send(s);
	while ((n = recv(c.fd, buf, sizeof(buf), 0)) > 0) {
		if (nghttp2_session_mem_recv(s, buf, (size_t)n) < 0 || nghttp2_session_send(s))
			break;
	}
	nghttp2_session_del(s);
	close(c.fd);
	return NULL;
}

static void peer_start(struct peer *p, enum answer a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "/tmp/podlens-grpc-st.%d.%d.sock", (int)getpid(), (int)a);
	unlink(p->path);
	memcpy(sa.sun_path, p->path, strlen(p->path) + 1);
	p->a = a;
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(pthread_create(&p->thr, NULL, peer_run, p), 0);
}

static void peer_stop(struct peer *p)
{
	shutdown(p->lfd, SHUT_RDWR);
	pthread_join(p->thr, NULL);
	close(p->lfd);
	unlink(p->path);
}

/* one call to a peer answering a; the client is freed (connection closed) before returning */
static void call(enum answer a, struct grpc_result *r)
{
	struct grpc_client_opts o = { 0 };
	struct grpc_client *c;
	struct peer p;
	char url[160];

	peer_start(&p, a);
	snprintf(url, sizeof(url), "unix://%s", p.path);
	o.url = url;
	c = grpc_client__new(&o);
	assert_non_null(c);
	assert_int_equal(grpc_client__call(c, "/p.S/M", (const uint8_t *)"x", 1, 3000, r), 0);
	grpc_client__free(c);
	peer_stop(&p);
}

static void call__ok__no_failure_with_reply(void **state)
{
	struct grpc_result r;

	call(A_OK, &r);
	assert_int_equal(r.failure, GRPC_FAIL_NONE);
	assert_int_equal(r.status, GRPC_OK);
	assert_int_equal(r.http_code, 200);
	assert_int_equal(r.reply_len, 2);
	assert_memory_equal(r.reply, "hi", 2);
	grpc_result__clear(&r);
}

static void call__trailers_only__server_status_whatever_its_message(void **state)
{
	struct grpc_result r;

	call(A_TRAILERS_ONLY, &r);
	assert_int_equal(r.failure, GRPC_FAIL_NONE);
	assert_int_equal(r.status, GRPC_INVALID_ARGUMENT);
	assert_string_equal(r.message, "missing grpc-status trailer");
	grpc_result__clear(&r);
}

static void call__http_503_without_grpc_status__no_status_class_unavailable(void **state)
{
	struct grpc_result r;

	call(A_HTTP_503, &r);
	assert_int_equal(r.failure, GRPC_FAIL_NO_STATUS);
	assert_int_equal(r.http_code, 503);
	assert_int_equal(r.status, GRPC_UNAVAILABLE);
	grpc_result__clear(&r);
}

static void call__200_ending_without_trailers__no_status_class(void **state)
{
	struct grpc_result r;

	call(A_NO_TRAILERS, &r);
	assert_int_equal(r.failure, GRPC_FAIL_NO_STATUS);
	assert_int_equal(r.http_code, 200);
	assert_int_equal(r.status, GRPC_INTERNAL);
	assert_null(r.reply);
	grpc_result__clear(&r);
}

static void call__reply_cut_short__truncated_class(void **state)
{
	struct grpc_result r;

	call(A_TRUNCATED, &r);
	assert_int_equal(r.failure, GRPC_FAIL_TRUNCATED);
	assert_int_equal(r.status, GRPC_INTERNAL);
	assert_null(r.reply);
	grpc_result__clear(&r);
}

static void call__compressed_reply__bad_reply_class(void **state)
{
	struct grpc_result r;

	call(A_COMPRESSED, &r);
	assert_int_equal(r.failure, GRPC_FAIL_BAD_REPLY);
	assert_int_equal(r.status, GRPC_INTERNAL);
	grpc_result__clear(&r);
}

static void call__missing_socket__transport_class(void **state)
{
	struct grpc_client_opts o = { .url = "unix:///nonexistent/podlens.sock" };
	struct grpc_client *c = grpc_client__new(&o);
	struct grpc_result r;

	assert_int_equal(grpc_client__call(c, "/p.S/M", (const uint8_t *)"x", 1, 500, &r), 0);
	assert_int_equal(r.failure, GRPC_FAIL_TRANSPORT);
	assert_int_equal(r.status, GRPC_UNAVAILABLE);
	assert_int_equal(r.http_code, 0);
	grpc_result__clear(&r);
	grpc_client__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(call__ok__no_failure_with_reply),
		cmocka_unit_test(call__trailers_only__server_status_whatever_its_message),
		cmocka_unit_test(call__http_503_without_grpc_status__no_status_class_unavailable),
		cmocka_unit_test(call__200_ending_without_trailers__no_status_class),
		cmocka_unit_test(call__reply_cut_short__truncated_class),
		cmocka_unit_test(call__compressed_reply__bad_reply_class),
		cmocka_unit_test(call__missing_socket__transport_class),
	};
	return cmocka_run_group_tests_name("grpc_client_status", tests, NULL, NULL);
}
