/* Unit tests for cri/cri_client.c without a runtime: socket auto-detection over candidates made
 * here (a listening socket, a stale socket file, a regular file, a missing path), explicit
 * paths, and error mapping when nothing answers. With a runtime: tests/integration/cri_metadata.sh. */
#include <errno.h>
#include <fcntl.h>
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

#include "cri/cri_client.h"

struct paths {
	char dir[64], live[96], stale[96], file[96], missing[96];
	int lfd;
};

static int bind_unix(const char *path, int do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static int setup(void **state)
{
	struct paths *p = calloc(1, sizeof(*p));
	int fd;

	snprintf(p->dir, sizeof(p->dir), "/tmp/podlens-cricl.XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->live, sizeof(p->live), "%s/live.sock", p->dir);
	snprintf(p->stale, sizeof(p->stale), "%s/stale.sock", p->dir);
	snprintf(p->file, sizeof(p->file), "%s/file.sock", p->dir);
	snprintf(p->missing, sizeof(p->missing), "%s/missing.sock", p->dir);
	p->lfd = bind_unix(p->live, 1);
	close(bind_unix(p->stale, 0));       /* socket file left behind, nobody listening */
	fd = open(p->file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct paths *p = *state;

	close(p->lfd);
	unlink(p->live);
	unlink(p->stale);
	unlink(p->file);
	rmdir(p->dir);
	free(p);
	return 0;
}

static void detect__first_accepting_socket_wins(void **state)
{
	struct paths *p = *state;
	const char *const cands[] = { p->missing, p->file, p->stale, p->live, NULL };
	const char *const none[] = { p->missing, p->file, p->stale, NULL };

	assert_ptr_equal(cri__detect_socket(cands), p->live);
	assert_null(cri__detect_socket(none));
}

static void default_candidates__the_four_runtimes(void **state)
{
	assert_string_equal(cri_default_sockets[0], "/run/containerd/containerd.sock");
	assert_string_equal(cri_default_sockets[1], "/run/k3s/containerd/containerd.sock");
	assert_string_equal(cri_default_sockets[2], "/var/run/crio/crio.sock");
	assert_string_equal(cri_default_sockets[3], "/var/run/cri-dockerd.sock");
	assert_null(cri_default_sockets[4]);
}

static void new__explicit_path_kept_relative_refused(void **state)
{
	struct paths *p = *state;
	struct cri_client *c = cri_client__new(p->missing, 0);

	/* an explicit path is used as given: the runtime may come up later */
	assert_non_null(c);
	assert_string_equal(cri_client__socket(c), p->missing);
	cri_client__free(c);
	errno = 0;
	assert_null(cri_client__new("relative.sock", 0));
	assert_int_equal(errno, EINVAL);
}

static void calls__nobody_answers__enotconn_with_reason(void **state)
{
	struct paths *p = *state;
	struct cri_client *c = cri_client__new(p->stale, 200);
	struct cri_version v;
	struct cri_pod *pods = (void *)1;
	size_t n = 7;

	assert_int_equal(cri_client__version(c, &v), -ENOTCONN);
	assert_non_null(strstr(cri_client__last_error(c), "Version: UNAVAILABLE"));
	assert_int_equal(cri_client__list_pods(c, &pods, &n), -ENOTCONN);
	assert_null(pods);
	assert_int_equal(n, 0);
	assert_non_null(strstr(cri_client__last_error(c), "ListPodSandbox"));
	cri_client__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(detect__first_accepting_socket_wins, setup, teardown),
		cmocka_unit_test(default_candidates__the_four_runtimes),
		cmocka_unit_test_setup_teardown(new__explicit_path_kept_relative_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(calls__nobody_answers__enotconn_with_reason, setup, teardown),
	};
	return cmocka_run_group_tests_name("cri_client", tests, NULL, NULL);
}
