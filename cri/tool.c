/* podlens-cri: a small command-line front end to the metadata library, for tests, fixture
 * capture and debugging.
 *
 *   podlens-cri grpc URL METHOD [--data STR] [--deadline MS] [--ca F] [--cert F] [--key F]
 *                   [--token-file F] [--repeat N] [--max-recv N] [--step-file F]
 *       unary gRPC calls on one client; prints one summary line:
 *       calls=N ok=N status=S(NAME) http=H ms=T len=L message=<msg> reply=<reply, first 200 bytes>
 *       --step-file F: after call i (i < N) create F.i and wait (<= 20 s) for F.go.i, so a test
 *       can restart the server between calls on the same client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/grpc.h"
#include "lib/grpc_client.h"
#include "lib/log.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int tool__read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return -errno;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, 4096, f);
		n += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

static int wait_file(const char *path, int secs)
{
	long long end = now_ms() + secs * 1000LL;
	struct timespec ts = { 0, 20 * 1000000 };

	while (access(path, F_OK) != 0) {
		if (now_ms() > end)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int cmd_grpc(int argc, char **argv)
{
	struct grpc_client_opts o = { 0 };
	struct grpc_client *c;
	struct grpc_result r = { 0 };
	const char *data = "", *step = NULL, *token_file = NULL, *method;
	char *token = NULL;
	long deadline = 2000, repeat = 1, ok = 0, calls = 0;
	long long t0;
	int last = -1, rc = 0;
	char msg[256] = "", reply[201] = "";
	long http = 0;
	size_t reply_len = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: podlens-cri grpc URL METHOD [options]\n");
		return 2;
	}
	o.url = argv[1];
	method = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "podlens-cri: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--data")) data = v;
		else if (!strcmp(a, "--deadline")) deadline = atol(v);
		else if (!strcmp(a, "--ca")) o.ca_file = v;
		else if (!strcmp(a, "--cert")) o.cert_file = v;
		else if (!strcmp(a, "--key")) o.key_file = v;
		else if (!strcmp(a, "--token-file")) token_file = v;
		else if (!strcmp(a, "--repeat")) repeat = atol(v);
		else if (!strcmp(a, "--max-recv")) o.max_recv_bytes = (uint32_t)atol(v);
		else if (!strcmp(a, "--step-file")) step = v;
		else {
			fprintf(stderr, "podlens-cri: unknown option %s\n", a);
			return 2;
		}
	}
	if (token_file) {
		rc = tool__read_file(token_file, &token, NULL);
		if (rc) {
			fprintf(stderr, "podlens-cri: read %s: %s\n", token_file, strerror(-rc));
			return 1;
		}
		token[strcspn(token, "\r\n")] = '\0';
		o.bearer_token = token;
	}
	c = grpc_client__new(&o);
	if (!c) {
		fprintf(stderr, "podlens-cri: grpc client for %s: %s\n", o.url, strerror(errno));
		free(token);
		return 1;
	}
	t0 = now_ms();
	for (long i = 0; i < repeat; i++) {
		rc = grpc_client__call(c, method, (const uint8_t *)data, strlen(data), (uint32_t)deadline, &r);
		if (rc) {
			fprintf(stderr, "podlens-cri: call: %s\n", strerror(-rc));
			break;
		}
		calls++;
		last = r.status;
		http = r.http_code;
		reply_len = r.reply_len;
		snprintf(msg, sizeof(msg), "%s", r.message);
		if (r.status == GRPC_OK) {
			size_t n = r.reply_len < 200 ? r.reply_len : 200;

			ok++;
			memcpy(reply, r.reply, n);
			reply[n] = '\0';
			if (!strcmp(method, "/test.Echo/Echo") && (r.reply_len != strlen(data) ||
								  memcmp(r.reply, data, r.reply_len)))
				fprintf(stderr, "podlens-cri: call %ld: echo mismatch\n", i), ok--;
			if (r.reply_len > 200)
				snprintf(reply + 150, 51, "...(%zu bytes)", r.reply_len);
		} else {
			reply[0] = '\0';
		}
		grpc_result__clear(&r);
		if (step && i + 1 < repeat) {
			char p[4096];
			int fd;

			snprintf(p, sizeof(p), "%s.%ld", step, i);
			fd = open(p, O_CREAT | O_WRONLY, 0600);
			if (fd >= 0)
				close(fd);
			snprintf(p, sizeof(p), "%s.go.%ld", step, i);
			if (wait_file(p, 20)) {
				fprintf(stderr, "podlens-cri: timed out waiting for %s\n", p);
				break;
			}
		}
	}
	printf("calls=%ld ok=%ld status=%d(%s) http=%ld ms=%lld len=%zu message=%s reply=%s\n", calls, ok,
	       last, grpc_status__name(last), http, now_ms() - t0, reply_len, msg, reply);
	grpc_client__free(c);
	free(token);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *lvl = getenv("PODLENS_LOG_LEVEL");

	log__init("podlens-cri", lvl ? log__parse_level(lvl) : LOG_WARN);
	if (log__level < 0)
		log__level = LOG_WARN;
	if (argc < 2) {
		fprintf(stderr, "usage: podlens-cri grpc|version|pods|ps|inspect|inspectp|capture|cgroup ...\n");
		return 2;
	}
	if (!strcmp(argv[1], "grpc"))
		return cmd_grpc(argc - 1, argv + 1);
	fprintf(stderr, "podlens-cri: unknown command %s\n", argv[1]);
	return 2;
}
