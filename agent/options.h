/* podlens-agent configuration: one table drives flags, environment variables (PODLENS_<FLAG>),
 * the JSON config file, validation and --help (Redis-style config table).
 * Precedence: flag > environment > config file > default. */
#ifndef PODLENS_AGENT_OPTIONS_H
#define PODLENS_AGENT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum output_mode { OUTPUT_AUTO = 0, OUTPUT_TABLE, OUTPUT_JSON, OUTPUT_NONE };

struct strlist {
	char **v;
	size_t n;
};

struct agent_config {
	char *config_file;
	int output;                 /* enum output_mode */
	uint64_t interval_s;
	uint64_t duration_s;        /* 0 = until signalled */
	int log_level;
	char *metrics_addr;
	char *cgroup_root;
	char *btf_path;             /* kernel BTF; NULL = /sys/kernel/btf/vmlinux */
	char *node_name;
	char *cri_socket;           /* "auto", "none" or a path */
	uint64_t resync_s;
	uint64_t meta_ttl_s;
	char *kubelet_url;
	char *kubelet_token_file;
	char *kubelet_ca;
	char *k8s_api;              /* "auto" | "off" */
	struct strlist ns_include;
	struct strlist ns_exclude;
	char *ann_monitor;
	char *ann_l7;
	bool host_monitor;
	struct strlist host_cgroups;   /* non-pod cgroup path globs that are workloads */
	bool l7_enabled;
	struct strlist l7_cgroups;  /* non-pod cgroup path globs that get HTTP capture */
	char *collector_url;
	char *collector_ca;
	char *collector_cert;
	char *collector_key;
	char *collector_token_file;
	char *spool_dir;
	uint64_t spool_max_bytes;
	char *otlp_url;
	uint64_t ringbuf_kb;
	char *tcp_hooks;            /* "auto", "packets", "sockops" (tracepoints if refused) or "tracepoints" */
	char *traffic_attach;       /* "auto", "workloads", or a cgroup2 path (below the mount) */
	/* dns.* (agent/l7/dns_module.h, docs/l7.md) */
	struct strlist dns_ports;   /* at most 4; empty = no DNS capture */
	int dns_domains;            /* enum dns_domains: full, registered-domain, none */
	uint64_t dns_timeout_ms;
	struct strlist dns_search_suffixes;
	char *ann_dns;
};

/* Parse defaults, the config file (--config / PODLENS_CONFIG), env and argv into cfg.
 * Returns 0, 1 when --help/--version was printed (exit 0), or -EINVAL after printing one line
 * naming the problem to err (exit 2 for usage errors). */
int options__parse(struct agent_config *cfg, int argc, char **argv, FILE *out, FILE *err);
void options__free(struct agent_config *cfg);
/* NULL-terminated array of the list's strings (not copied; free() the array only), NULL on ENOMEM */
const char **strlist__view(const struct strlist *l);
void options__usage(FILE *out);

/* Parse a JSON config text (used by options__parse; exposed for tests). Returns 0 or -EINVAL with
 * a message in errbuf naming the key and the reason. */
int options__apply_json(struct agent_config *cfg, const char *text, char *errbuf, size_t errlen);

#endif
