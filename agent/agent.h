/* The agent: its state is private to the loop (agent/agent.c, driven by agent/main.c).
 *
 * One direction per interval tick: probes/ (read the kernel's counters and events) -> pipeline/
 * (aggregation by cgroup ID, flows) -> the metadata step (first-seen cgroup IDs resolved; the
 * decisions that changed go to the attach policy, agent/probes/attach.h) -> naming (a pure lookup,
 * agent/naming.h) -> records (agent/records.h) -> output/ and export/. Attach and detach
 * decisions follow metadata changes only: start, resync, cgroup_mkdir/rmdir, the metadata step. */
#ifndef PODLENS_AGENT_AGENT_H
#define PODLENS_AGENT_AGENT_H

#include <stdint.h>

#include "agent/options.h"

struct agent;

/* Checks the environment (BTF, cgroup2, privileges), loads and attaches the probes. On error logs
 * one line naming the problem and returns NULL with nothing left attached. Takes cfg. */
struct agent *agent__new(struct agent_config *cfg);
void agent__free(struct agent *a);

const struct agent_config *agent__config(const struct agent *a);

/* The interval tick: read, aggregate, resolve, name, emit, export. */
void agent__interval(struct agent *a, uint64_t elapsed_ms);
/* The last one, at exit: records held for their metadata are emitted too. */
void agent__final_interval(struct agent *a, uint64_t elapsed_ms);
/* The resync tick: metadata from the runtime, then the decisions that changed. */
void agent__resync(struct agent *a);

/* The metadata worker's answers (eventfd; -1 without metadata): cache updated, decisions applied. */
int agent__meta_fd(struct agent *a);
void agent__meta_process(struct agent *a);

int agent__probes_fd(struct agent *a);   /* ring buffers (epoll fd) or -1 */
void agent__poll_probes(struct agent *a);
int agent__l7_fd(struct agent *a);       /* -1 when L7 is off */
void agent__l7_poll(struct agent *a);
int agent__httpd_fd(struct agent *a);    /* -1 without --metrics-addr */
void agent__httpd_process(struct agent *a);

#endif
