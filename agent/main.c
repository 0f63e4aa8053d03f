/* podlens-agent: one per node. Loads the probes, aggregates per workload each interval, names
 * workloads (cgroup path, pod metadata), and writes JSON lines or a live table.
 *
 * Single-threaded epoll loop over: signalfd (SIGINT/SIGTERM), the interval timerfd, an optional
 * duration timerfd, the BPF ring buffers' epoll fd, the /metrics HTTP server's fd, and the metadata
 * worker's eventfd (CRI and kubelet calls run on that thread: nothing here waits for a runtime). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/clock.h"
#include "lib/log.h"

enum { EV_SIGNAL = 1, EV_INTERVAL, EV_DURATION, EV_PROBES, EV_HTTP, EV_RESYNC, EV_L7, EV_META };

static int add_fd(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int timer_fd(uint64_t first_ms, uint64_t period_ms)
{
	struct itimerspec its = {
		.it_value = { (time_t)(first_ms / 1000), (long)(first_ms % 1000) * 1000000 },
		.it_interval = { (time_t)(period_ms / 1000), (long)(period_ms % 1000) * 1000000 },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int run(struct agent *a)
{
	const struct agent_config *cfg = agent__config(a);
	int ep = -1, sfd = -1, tfd = -1, dfd = -1, rfd = -1, err = 0;
	uint64_t interval_ms = cfg->interval_s * 1000, last_flush;
	sigset_t mask;
	bool stop = false;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timer_fd(interval_ms, interval_ms);
	if (sfd < 0 || ep < 0 || tfd < 0) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		err = -EIO;
		goto out;
	}
	add_fd(ep, sfd, EV_SIGNAL);
	add_fd(ep, tfd, EV_INTERVAL);
	if (cfg->duration_s) {
		dfd = timer_fd(cfg->duration_s * 1000, 0);
		if (dfd >= 0)
			add_fd(ep, dfd, EV_DURATION);
	}
	rfd = timer_fd(cfg->resync_s * 1000, cfg->resync_s * 1000);
	if (rfd >= 0)
		add_fd(ep, rfd, EV_RESYNC);
	if (agent__probes_fd(a) >= 0)
		add_fd(ep, agent__probes_fd(a), EV_PROBES);
	if (agent__httpd_fd(a) >= 0)
		add_fd(ep, agent__httpd_fd(a), EV_HTTP);
	if (agent__l7_fd(a) >= 0)
		add_fd(ep, agent__l7_fd(a), EV_L7);
	if (agent__meta_fd(a) >= 0)
		add_fd(ep, agent__meta_fd(a), EV_META);

	log_info("running: interval %llus%s, output %s", (unsigned long long)cfg->interval_s,
		 cfg->duration_s ? ", until --duration" : ", until SIGTERM",
		 cfg->output == OUTPUT_JSON ? "json" : cfg->output == OUTPUT_TABLE ? "table" : "none");
	last_flush = clock__mono_ms();
	while (!stop) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			err = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tick;
			struct signalfd_siginfo si;

			switch (evs[i].data.u64) {
			case EV_SIGNAL:
				if (read(sfd, &si, sizeof(si)) == sizeof(si))
					log_info("received %s, shutting down", strsignal((int)si.ssi_signo));
				stop = true;
				break;
			case EV_DURATION:
				log_info("--duration reached, shutting down");
				stop = true;
				break;
			case EV_INTERVAL:
				if (read(tfd, &tick, sizeof(tick)) == sizeof(tick)) {
					uint64_t now = clock__mono_ms();

					agent__interval(a, now - last_flush);
					last_flush = now;
				}
				break;
			case EV_RESYNC:
				if (read(rfd, &tick, sizeof(tick)) == sizeof(tick))
					agent__resync(a);
				break;
			case EV_PROBES:
				agent__poll_probes(a);
				break;
			case EV_L7:
				agent__l7_poll(a);
				break;
			case EV_HTTP:
				agent__httpd_process(a);
				break;
			case EV_META:
				agent__meta_process(a);
				break;
			}
		}
	}
	/* flush the last (partial) interval so nothing measured is lost */
	agent__poll_probes(a);
	agent__final_interval(a, clock__mono_ms() - last_flush);
out:
	if (rfd >= 0)
		close(rfd);
	if (dfd >= 0)
		close(dfd);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	if (ep >= 0)
		close(ep);
	return err;
}

int main(int argc, char **argv)
{
	struct agent *a = NULL;
	struct agent_config cfg;
	sigset_t mask;
	int r;

	log__init("podlens-agent", LOG_INFO);
	r = options__parse(&cfg, argc, argv, stdout, stderr);
	if (r) {
		options__free(&cfg);
		return r > 0 ? 0 : 2;
	}
	log__init("podlens-agent", cfg.log_level);

	/* Before any thread exists (the exporter's senders, the namespace watch): threads inherit the
	 * mask, so SIGINT/SIGTERM can only be taken through the loop's signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	a = agent__new(&cfg);   /* takes ownership of cfg */
	if (!a)
		return 1;           /* agent__new logged one line naming the problem */
	r = run(a);
	agent__free(a);         /* detaches every probe */
	log_info("stopped");
	return r ? 1 : 0;
}
