/* Unit tests for lib/grpc_client.c without a gRPC server: option validation, and the mapping of
 * transport failures made by this test (missing socket, a peer that hangs up, a peer that never
 * answers) to gRPC statuses. Interop with a real server: tests/integration/cri_grpc_client.sh. */
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/grpc.h"
#include "lib/grpc_client.h"

static void new__bad_urls_and_tokens__einval(void **state)
{
	static const char *const bad[] = { "ftp://x", "unix://relative.sock", "http://", "https://", "localhost:80", "" };
	struct grpc_client_opts o = { 0 };

	errno = 0;
	assert_null(grpc_client__new(NULL));
	assert_int_equal(errno, EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.url = bad[i];
		errno = 0;
		assert_null(grpc_client__new(&o));
		assert_int_equal(errno, EINVAL);
	}
	o.url = "http://127.0.0.1:1";
	o.bearer_token = "abc\r\nx-injected: 1";
	assert_null(grpc_client__new(&o));
	assert_int_equal(errno, EINVAL);
}

static void new__good_urls__ok(void **state)
{
	static const char *const good[] = { "unix:///run/x.sock", "http://127.0.0.1:50051", "https://[::1]:443/" };
	struct grpc_client_opts o = { .bearer_token = "t" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct grpc_client *c;

		o.url = good[i];
		c = grpc_client__new(&o);
		assert_non_null(c);
		grpc_client__free(c);
	}
	grpc_client__free(NULL);
}

static void call__bad_method__einval(void **state)
{
	struct grpc_client_opts o = { .url = "unix:///nonexistent/podlens.sock" };
	struct grpc_client *c = grpc_client__new(&o);
	struct grpc_result r;

	assert_int_equal(grpc_client__call(c, "pkg.Svc/M", NULL, 0, 100, &r), -EINVAL);
	assert_int_equal(grpc_client__call(c, NULL, NULL, 0, 100, &r), -EINVAL);
	assert_int_equal(grpc_client__call(c, "/p.S/M", NULL, 3, 100, &r), -EINVAL);
	grpc_client__free(c);
}

static void call__missing_socket__unavailable_naming_it(void **state)
{
	struct grpc_client_opts o = { .url = "unix:///nonexistent/podlens.sock" };
	struct grpc_client *c = grpc_client__new(&o);
	struct grpc_result r;

	assert_int_equal(grpc_client__call(c, "/p.S/M", (const uint8_t *)"x", 1, 500, &r), 0);
	assert_int_equal(r.status, GRPC_UNAVAILABLE);
	assert_int_equal(r.http_code, 0);
	assert_null(r.reply);
	assert_non_null(strstr(r.message, "/nonexistent/podlens.sock"));
	grpc_result__clear(&r);
	grpc_client__free(c);
}

/* a unix socket peer made here: mode 0 hangs up at once, mode 1 reads and never answers */
struct peer {
	char path[108];
	int lfd, mode;
	pthread_t thr;
	int pipefd[2];            /* written by the test to release the silent peer */
};

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	char buf[4096], x;

	if (fd < 0)
		return NULL;
	if (p->mode == 0) {
		close(fd);
		return NULL;
	}
	(void)!read(fd, buf, sizeof(buf));
	(void)!read(p->pipefd[0], &x, 1);   /* hold the connection until released */
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p, int mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(p->path, sizeof(p->path), "/tmp/podlens-grpc-ut.%d.%d.sock", (int)getpid(), mode);
	unlink(p->path);
	memcpy(sa.sun_path, p->path, strlen(p->path) + 1);
	p->mode = mode;
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(pipe(p->pipefd), 0);
	assert_int_equal(pthread_create(&p->thr, NULL, peer_run, p), 0);
}

static void peer_stop(struct peer *p)
{
	(void)!write(p->pipefd[1], "x", 1);
	shutdown(p->lfd, SHUT_RDWR);
	pthread_join(p->thr, NULL);
	close(p->lfd);
	close(p->pipefd[0]);
	close(p->pipefd[1]);
	unlink(p->path);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void call__peer_hangs_up__unavailable(void **state)
{
	struct peer p;
	struct grpc_client_opts o = { 0 };
	struct grpc_client *c;
	struct grpc_result r;
	char url[160];

	peer_start(&p, 0);
	snprintf(url, sizeof(url), "unix://%s", p.path);
	o.url = url;
	c = grpc_client__new(&o);
	assert_int_equal(grpc_client__call(c, "/p.S/M", (const uint8_t *)"x", 1, 2000, &r), 0);
	assert_int_equal(r.status, GRPC_UNAVAILABLE);
	assert_null(r.reply);
	grpc_result__clear(&r);
	grpc_client__free(c);
	peer_stop(&p);
}

static void call__peer_never_answers__deadline_exceeded_on_time(void **state)
{
	struct peer p;
	struct grpc_client_opts o = { 0 };
	struct grpc_client *c;
	struct grpc_result r;
	char url[160];
	long long t0, ms;

	peer_start(&p, 1);
	snprintf(url, sizeof(url), "unix://%s", p.path);
	o.url = url;
	c = grpc_client__new(&o);
	t0 = mono_ms();
	assert_int_equal(grpc_client__call(c, "/p.S/M", (const uint8_t *)"x", 1, 300, &r), 0);
	ms = mono_ms() - t0;
	assert_int_equal(r.status, GRPC_DEADLINE_EXCEEDED);
	assert_true(ms >= 290 && ms < 1500);
	grpc_result__clear(&r);
	grpc_client__free(c);
	peer_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new__bad_urls_and_tokens__einval),
		cmocka_unit_test(new__good_urls__ok),
		cmocka_unit_test(call__bad_method__einval),
		cmocka_unit_test(call__missing_socket__unavailable_naming_it),
		cmocka_unit_test(call__peer_hangs_up__unavailable),
		cmocka_unit_test(call__peer_never_answers__deadline_exceeded_on_time),
	};
	return cmocka_run_group_tests_name("grpc_client", tests, NULL, NULL);
}
