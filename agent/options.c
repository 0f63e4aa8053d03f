#include "agent/options.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

#ifndef PODLENS_VERSION
#define PODLENS_VERSION "0.1.0"
#endif

/* T_URL: http(s)://HOST[:PORT][/PATH], checked when parsed, so a bad URL fails before anything loads;
 * T_URLS: several T_URL separated by commas (endpoints to fail over between), where a later item may
 * leave out the first one's scheme but not name another (agent/export/endpoints.h); a JSON array of
 * strings in the config file;
 * T_BTF: a file that exists must be BTF or ELF (libbpf's own errors about any other name no file). */
enum opt_type { T_STR, T_UINT, T_BOOL, T_NEGBOOL, T_ENUM, T_LEVEL, T_LIST, T_URL, T_URLS, T_BTF };

struct opt {
	const char *flag;          /* --flag; env PODLENS_FLAG */
	const char *key;           /* dotted JSON path in the config file; NULL = flag/env only */
	enum opt_type type;
	size_t off;
	uint64_t min, max;         /* T_UINT */
	const char *const *enums;  /* T_ENUM: names, index = value */
	const char *def;           /* default, as a flag value; NULL = unset */
	const char *metavar;
	const char *help;
};

static const char *const output_names[] = { "auto", "table", "json", "none", NULL };
static const char *const dns_domain_names[] = { "full", "registered-domain", "none", NULL };

#define O(f) offsetof(struct agent_config, f)
static const struct opt opts[] = {
	{ "config", NULL, T_STR, O(config_file), 0, 0, NULL, NULL, "FILE", "JSON config file (keys: see README)" },
	{ "output", "output", T_ENUM, O(output), 0, 0, output_names, "auto", "MODE",
	  "table|json|none; auto = table on a TTY, json otherwise" },
	{ "interval", "interval", T_UINT, O(interval_s), 1, 3600, NULL, "10", "SECONDS", "aggregation interval" },
	{ "duration", "duration", T_UINT, O(duration_s), 0, 31536000, NULL, "0", "SECONDS",
	  "exit after this long, flushing the last interval (0 = until SIGINT/SIGTERM)" },
	{ "log-level", "log_level", T_LEVEL, O(log_level), 0, 0, NULL, "info", "LEVEL", "error|warn|info|debug" },
	{ "metrics-addr", "metrics_addr", T_STR, O(metrics_addr), 0, 0, NULL, NULL, "HOST:PORT",
	  "serve Prometheus /metrics and /healthz here (default off)" },
	{ "cgroup-root", "cgroup_root", T_STR, O(cgroup_root), 0, 0, NULL, "/sys/fs/cgroup", "PATH",
	  "host cgroup mount; cgroup2 is PATH or PATH/unified (hybrid)" },
	{ "btf", "btf", T_BTF, O(btf_path), 0, 0, NULL, NULL, "FILE",
	  "kernel BTF file, for kernels without /sys/kernel/btf/vmlinux (default that path)" },
	{ "traffic-attach", "traffic_attach", T_STR, O(traffic_attach), 0, 0, NULL, "auto", "WHERE",
	  "where packet programs attach: workloads (each monitored pod container and selected host "
	  "cgroup: only they pay), a cgroup path (once, every socket below pays; / = the root), or auto "
	  "(/ when every host cgroup is monitored, else workloads)" },
	{ "tcp-hooks", "tcp_hooks", T_STR, O(tcp_hooks), 0, 0, NULL, "auto", "HOW",
	  "TCP health from the packet programs of each monitored workload (packets), from sock_ops where "
	  "the packet programs are (sockops; node-wide tracepoints when the kernel refuses it), or from "
	  "node-wide tracepoints (tracepoints); auto = packets per workload, else sockops" },
	{ "node-name", "node_name", T_STR, O(node_name), 0, 0, NULL, NULL, "NAME",
	  "node name in records (default $NODE_NAME, else the hostname)" },
	{ "cri-socket", "cri.socket", T_STR, O(cri_socket), 0, 0, NULL, "auto", "PATH",
	  "CRI runtime socket, 'auto' (containerd, k3s, CRI-O, cri-dockerd paths) or 'none'" },
	{ "resync", "cri.resync", T_UINT, O(resync_s), 1, 3600, NULL, "10", "SECONDS", "metadata resync period" },
	{ "meta-ttl", "cri.ttl", T_UINT, O(meta_ttl_s), 0, 86400, NULL, "60", "SECONDS",
	  "keep exited containers' metadata this long" },
	{ "kubelet-url", "kubelet.url", T_URL, O(kubelet_url), 0, 0, NULL, NULL, "URL",
	  "kubelet API for /pods (off by default)" },
	{ "kubelet-token-file", "kubelet.token_file", T_STR, O(kubelet_token_file), 0, 0, NULL, NULL, "FILE",
	  "bearer token for the kubelet" },
	{ "kubelet-ca", "kubelet.ca_file", T_STR, O(kubelet_ca), 0, 0, NULL, NULL, "FILE", "CA for the kubelet" },
	{ "k8s-api", "k8s_api", T_STR, O(k8s_api), 0, 0, NULL, "auto", "auto|off",
	  "list+watch Namespace annotations (auto: when in a cluster)" },
	{ "namespaces-include", "namespaces.include", T_LIST, O(ns_include), 0, 0, NULL, "*", "GLOBS",
	  "comma-separated namespace globs to observe" },
	{ "namespaces-exclude", "namespaces.exclude", T_LIST, O(ns_exclude), 0, 0, NULL, "kube-system", "GLOBS",
	  "comma-separated namespace globs to ignore" },
	{ "annotation-monitor", "annotations.monitor", T_STR, O(ann_monitor), 0, 0, NULL, "podlens.io/monitor",
	  "KEY", "annotation that turns monitoring on/off" },
	{ "annotation-l7", "annotations.l7", T_STR, O(ann_l7), 0, 0, NULL, "podlens.io/l7", "KEY",
	  "annotation that turns payload capture off" },
	{ "host-monitor", "host.monitor", T_BOOL, O(host_monitor), 0, 0, NULL, "true", "BOOL",
	  "observe non-pod workloads (systemd units, user slices)" },
	{ "host-cgroups", "host.cgroups", T_LIST, O(host_cgroups), 0, 0, NULL, "*", "GLOBS",
	  "which non-pod cgroups are workloads (path globs, e.g. /system.slice/nginx.service)" },
	{ "no-l7", "l7.enabled", T_NEGBOOL, O(l7_enabled), 0, 0, NULL, "false", NULL,
	  "L4 only: no HTTP request capture" },
	{ "l7-cgroups", "l7.cgroups", T_LIST, O(l7_cgroups), 0, 0, NULL, "", "GLOBS",
	  "cgroup path globs of non-pod workloads that get HTTP capture, e.g. /system.slice/nginx.service" },
	{ "dns-ports", "dns.ports", T_LIST, O(dns_ports), 0, 0, NULL, "53", "PORTS",
	  "UDP/TCP ports whose payload is DNS (at most 4; empty = no DNS capture)" },
	{ "dns-domains", "dns.domains", T_ENUM, O(dns_domains), 0, 0, dns_domain_names, "full", "MODE",
	  "what DNS records name: full (query name), registered-domain (its last labels), none" },
	{ "dns-timeout", "dns.timeout", T_UINT, O(dns_timeout_ms), 100, 600000, NULL, "5000", "MS",
	  "a DNS query unanswered this long is a timeout" },
	{ "dns-search-suffixes", "dns.search_suffixes", T_LIST, O(dns_search_suffixes), 0, 0, NULL,
	  ".svc.cluster.local,.cluster.local", "SUFFIXES",
	  "search-list suffixes whose NXDOMAIN answers are the ndots storm (at most 8)" },
	{ "annotation-dns", "annotations.dns", T_STR, O(ann_dns), 0, 0, NULL, "podlens.io/dns", "KEY",
	  "annotation that turns DNS capture off" },
	{ "collector", "collector.url", T_URLS, O(collector_url), 0, 0, NULL, NULL, "URL[,URL...]",
	  "podlens collector (http:// = h2c, https:// = TLS); several (a later one may omit the "
	  "scheme) = fail over between them; unset = standalone" },
	{ "collector-ca", "collector.ca_file", T_STR, O(collector_ca), 0, 0, NULL, NULL, "FILE", "CA for the collector" },
	{ "collector-cert", "collector.cert_file", T_STR, O(collector_cert), 0, 0, NULL, NULL, "FILE",
	  "TLS client certificate" },
	{ "collector-key", "collector.key_file", T_STR, O(collector_key), 0, 0, NULL, NULL, "FILE", "TLS client key" },
	{ "collector-token-file", "collector.token_file", T_STR, O(collector_token_file), 0, 0, NULL, NULL, "FILE",
	  "bearer token for the collector" },
	{ "spool-dir", "spool.dir", T_STR, O(spool_dir), 0, 0, NULL, NULL, "DIR",
	  "disk spool that survives restarts (default memory only)" },
	{ "spool-max-bytes", "spool.max_bytes", T_UINT, O(spool_max_bytes), 4096, 1ULL << 40, NULL, "67108864",
	  "BYTES", "spool bound; the oldest batches are dropped (and counted) beyond it" },
	{ "otlp", "otlp.url", T_URL, O(otlp_url), 0, 0, NULL, NULL, "URL", "OTLP/gRPC metrics endpoint" },
	{ "ringbuf-kb", "ringbuf_kb", T_UINT, O(ringbuf_kb), 64, 1 << 20, NULL, "1024", "KB",
	  "size of each BPF ring buffer (rounded up to a power of two)" },
};
#undef O

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void *field(struct agent_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->off;
}

static void list_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int list_push(struct strlist *l, const char *s, size_t len)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(v[l->n] = strndup(s, len)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* http://HOST[:PORT][/PATH] or https://...: HOST non-empty (a name, IPv4, or [IPv6]), PORT 1..65535,
 * no white space or control characters anywhere. */
static bool url_valid(const char *v)
{
	const char *h, *end, *p;

	if (!strncmp(v, "http://", 7))
		h = v + 7;
	else if (!strncmp(v, "https://", 8))
		h = v + 8;
	else
		return false;
	for (p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	end = h + strcspn(h, "/?#");
	if (*h == '[') {                    /* [IPv6] */
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb || rb == h + 1)
			return false;
		p = rb + 1;
	} else {
		p = h + strcspn(h, ":/?#");
		if (p == h)
			return false;
		for (const char *c = h; c < p; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_')
				return false;
	}
	if (p == end)
		return true;
	if (*p != ':' || p + 1 == end || end - (p + 1) > 5)
		return false;
	unsigned port = 0;

	for (const char *c = p + 1; c < end; c++) {
		if (!isdigit((unsigned char)*c))
			return false;
		port = port * 10 + (unsigned)(*c - '0');
	}
	return port >= 1 && port <= 65535;
}

/* URL[,URL...]: every item a valid URL once the first item's scheme is applied to an item without
 * one; one scheme for all (a failover must not turn TLS off); at most 16 items. */
static bool urls_valid(const char *v)
{
	const char *p = v, *scheme;
	size_t slen, items = 0;

	if (!strncmp(v, "https://", 8))
		scheme = "https://";
	else if (!strncmp(v, "http://", 7))
		scheme = "http://";
	else
		return false;
	slen = strlen(scheme);
	for (;;) {
		size_t n = strcspn(p, ",");
		char item[512];

		if (!n || ++items > 16 || n + slen >= sizeof(item))
			return false;
		if (strstr(p, "://") && (size_t)(strstr(p, "://") - p) < n) {
			if (n < slen || strncmp(p, scheme, slen))
				return false;
			snprintf(item, sizeof(item), "%.*s", (int)n, p);
		} else {
			snprintf(item, sizeof(item), "%s%.*s", scheme, (int)n, p);
		}
		if (!url_valid(item))
			return false;
		if (!p[n])
			return true;
		p += n + 1;
	}
}

/* A raw BTF blob (magic 0xeB9F, either byte order) or an ELF file (a vmlinux with .BTF). */
static int btf_file_check(const char *path, char *err, size_t errlen)
{
	unsigned char m[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;   /* a missing BTF is the environment's problem: the start-up check names it (exit 1) */
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EINVAL;
	}
	n = read(fd, m, sizeof(m));
	close(fd);
	if (n == 4 && ((m[0] == 0x9f && m[1] == 0xeb) || (m[0] == 0xeb && m[1] == 0x9f) ||
		       !memcmp(m, "\x7f" "ELF", 4)))
		return 0;
	snprintf(err, errlen, "%s: not a BTF file (no BTF or ELF header)", path);
	return -EINVAL;
}

/* Set an option from its string form (flag, env, default). */
static int set_from_string(struct agent_config *cfg, const struct opt *o, const char *v, char *err, size_t errlen)
{
	void *f = field(cfg, o);

	switch (o->type) {
	case T_URLS:
	case T_URL:
		if (o->type == T_URLS ? !urls_valid(v) : !url_valid(v)) {
			snprintf(err, errlen, "invalid value '%s' (expected http://HOST:PORT or https://HOST:PORT)", v);
			return -EINVAL;
		}
		/* fall through */
	case T_BTF:
		if (o->type == T_BTF && btf_file_check(v, err, errlen))
			return -EINVAL;
		/* fall through */
	case T_STR:
		free(*(char **)f);
		*(char **)f = strdup(v);
		return *(char **)f ? 0 : -ENOMEM;
	case T_UINT: {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (!*v || *end || errno || v[0] == '-' || n < o->min || n > o->max) {
			snprintf(err, errlen, "invalid value '%s' (expected an integer %llu..%llu)", v,
				 (unsigned long long)o->min, (unsigned long long)o->max);
			return -EINVAL;
		}
		*(uint64_t *)f = n;
		return 0;
	}
	case T_BOOL:
	case T_NEGBOOL: {
		bool b;

		if (parse_bool(v, &b)) {
			snprintf(err, errlen, "invalid value '%s' (expected true or false)", v);
			return -EINVAL;
		}
		*(bool *)f = o->type == T_NEGBOOL ? !b : b;
		return 0;
	}
	case T_ENUM:
		for (int i = 0; o->enums[i]; i++) {
			if (!strcmp(o->enums[i], v)) {
				*(int *)f = i;
				return 0;
			}
		}
		snprintf(err, errlen, "invalid value '%s' (expected one of table, json, none, auto)", v);
		return -EINVAL;
	case T_LEVEL: {
		int l = log__parse_level(v);

		if (l < 0) {
			snprintf(err, errlen, "invalid value '%s' (expected error, warn, info or debug)", v);
			return -EINVAL;
		}
		*(int *)f = l;
		return 0;
	}
	case T_LIST: {
		struct strlist *l = f;
		const char *p = v;

		list_free(l);
		while (*p) {
			const char *c = strchr(p, ',');
			size_t n = c ? (size_t)(c - p) : strlen(p);

			while (n && isspace((unsigned char)*p)) {
				p++;
				n--;
			}
			while (n && isspace((unsigned char)p[n - 1]))
				n--;
			if (n && list_push(l, p, n))
				return -ENOMEM;
			p = c ? c + 1 : p + strlen(p);
		}
		return 0;
	}
	}
	return -EINVAL;
}

static const struct opt *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].flag) == len && !strncmp(opts[i].flag, name, len))
			return &opts[i];
	return NULL;
}

static const struct opt *find_key(const char *key)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].key && !strcmp(opts[i].key, key))
			return &opts[i];
	return NULL;
}

/* the first option whose key lies below prefix ("cri" -> cri.socket) */
static const struct opt *find_key_below(const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].key && !strncmp(opts[i].key, prefix, n) && opts[i].key[n] == '.')
			return &opts[i];
	return NULL;
}

static int set_from_json(struct agent_config *cfg, const struct opt *o, json_t *v, const char *key, char *err,
			 size_t errlen)
{
	char num[32], why[160];
	const char *s;
	int r;

	switch (o->type) {
	case T_BOOL:
	case T_NEGBOOL:
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "key '%s': expected true or false", key);
			return -EINVAL;
		}
		/* the JSON key names the positive sense ("l7.enabled"), the flag the negative ("--no-l7") */
		*(bool *)field(cfg, o) = json_is_true(v);
		return 0;
	case T_LIST: {
		struct strlist *l = field(cfg, o);
		size_t i;
		json_t *e;

		if (!json_is_array(v)) {
			snprintf(err, errlen, "key '%s': expected an array of strings", key);
			return -EINVAL;
		}
		list_free(l);
		json_array_foreach(v, i, e) {
			if (!json_is_string(e)) {
				snprintf(err, errlen, "key '%s': element %zu is not a string", key, i);
				return -EINVAL;
			}
			if (list_push(l, json_string_value(e), strlen(json_string_value(e))))
				return -ENOMEM;
		}
		return 0;
	}
	case T_URLS:
		if (json_is_array(v)) {
			/* ["http://a:1", "b:1"] is "http://a:1,b:1" */
			char joined[4096];
			size_t i, n = 0;
			json_t *e;

			json_array_foreach(v, i, e) {
				if (!json_is_string(e) || !json_string_length(e) || strchr(json_string_value(e), ',')) {
					snprintf(err, errlen, "key '%s': element %zu is not a URL string", key, i);
					return -EINVAL;
				}
				if (n + json_string_length(e) + 2 > sizeof(joined)) {
					snprintf(err, errlen, "key '%s': list too long", key);
					return -EINVAL;
				}
				n += (size_t)snprintf(joined + n, sizeof(joined) - n, "%s%s", i ? "," : "",
						      json_string_value(e));
			}
			if (!n) {
				snprintf(err, errlen, "key '%s': empty list", key);
				return -EINVAL;
			}
			r = set_from_string(cfg, o, joined, why, sizeof(why));
			if (r == -EINVAL)
				snprintf(err, errlen, "key '%s': %s", key, why);
			return r;
		}
		if (!json_is_string(v)) {
			snprintf(err, errlen, "key '%s': expected a string or an array of strings", key);
			return -EINVAL;
		}
		s = json_string_value(v);
		break;
	case T_UINT:
		if (!json_is_integer(v)) {
			snprintf(err, errlen, "key '%s': expected an integer", key);
			return -EINVAL;
		}
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		s = num;
		break;
	default:
		if (!json_is_string(v)) {
			snprintf(err, errlen, "key '%s': expected a string", key);
			return -EINVAL;
		}
		s = json_string_value(v);
		break;
	}
	r = set_from_string(cfg, o, s, why, sizeof(why));
	if (r == -EINVAL)
		snprintf(err, errlen, "key '%s': %s", key, why);
	return r;
}

static int apply_object(struct agent_config *cfg, json_t *obj, const char *prefix, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		char key[160];
		const struct opt *o;
		int r;

		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", k);
		o = find_key(key);
		if (!o && json_is_object(v)) {
			r = apply_object(cfg, v, key, err, errlen);
			if (r)
				return r;
			continue;
		}
		if (!o) {
			const struct opt *sub = find_key_below(key);

			if (sub)
				snprintf(err, errlen, "key '%s': expected an object (e.g. {\"%s\": ...})", key,
					 sub->key + strlen(key) + 1);
			else
				snprintf(err, errlen, "unknown key '%s'", key);
			return -EINVAL;
		}
		r = set_from_json(cfg, o, v, key, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int options__apply_json(struct agent_config *cfg, const char *text, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	int r;

	if (!root) {
		snprintf(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "top level must be a JSON object");
		json_decref(root);
		return -EINVAL;
	}
	r = apply_object(cfg, root, "", err, errlen);
	json_decref(root);
	return r;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > (1 << 20) || !(nb = realloc(buf, cap))) {
				snprintf(err, errlen, "file too large (limit 1 MiB)");
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, 4096, f);
		n += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (memchr(buf, '\0', n)) {
		/* JSON text has no NUL: the parser would stop there and ignore whatever follows */
		snprintf(err, errlen, "NUL byte at offset %zu (a config file is JSON text)",
			 (size_t)((char *)memchr(buf, '\0', n) - buf));
		free(buf);
		return NULL;
	}
	return buf;
}

static void env_name(const struct opt *o, char *out, size_t len)
{
	size_t i = snprintf(out, len, "PODLENS_");

	for (const char *p = o->flag; *p && i + 1 < len; p++)
		out[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	out[i] = '\0';
}

void options__usage(FILE *out)
{
	fprintf(out,
		"usage: podlens-agent [options]\n"
		"Per-workload traffic, TCP health and request latency from eBPF tracepoints and cgroup hooks.\n"
		"Every option can also be set as PODLENS_<OPTION> in the environment or in the --config file.\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", o->flag, o->metavar ? " " : "", o->metavar ? o->metavar : "");
		fprintf(out, "  %-34s %s", left, o->help);
		if (o->def && o->type != T_NEGBOOL)
			fprintf(out, " [%s]", o->def);
		fputc('\n', out);
	}
	fprintf(out, "  %-34s %s\n  %-34s %s\n", "--help", "show this help", "--version", "show the version");
}

int options__parse(struct agent_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
	char msg[256], env[64];
	const char *config = getenv("PODLENS_CONFIG");
	int r;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].def && set_from_string(cfg, &opts[i], opts[i].def, msg, sizeof(msg)))
			return -ENOMEM;
	}

	/* --help, --version and --config first: the file is the lowest layer after defaults */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			options__usage(out);
			return 1;
		}
		if (!strcmp(argv[i], "--version")) {
			fprintf(out, "podlens-agent %s\n", PODLENS_VERSION);
			return 1;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
	}
	if (config && *config) {
		char *text = read_file(config, msg, sizeof(msg));

		if (!text) {
			fprintf(err, "podlens-agent: config %s: %s\n", config, msg);
			return -EINVAL;
		}
		r = options__apply_json(cfg, text, msg, sizeof(msg));
		free(text);
		if (r) {
			fprintf(err, "podlens-agent: config %s: %s\n", config, msg);
			return r;
		}
		free(cfg->config_file);
		cfg->config_file = strdup(config);
	}

	for (size_t i = 0; i < NOPTS; i++) {
		const char *v;

		env_name(&opts[i], env, sizeof(env));
		v = getenv(env);
		if (!v || !*v || !strcmp(opts[i].flag, "config"))
			continue;
		r = set_from_string(cfg, &opts[i], v, msg, sizeof(msg));
		if (r) {
			fprintf(err, "podlens-agent: %s: %s\n", env, msg);
			return r;
		}
	}
	if (!cfg->node_name && getenv("NODE_NAME") && *getenv("NODE_NAME"))
		cfg->node_name = strdup(getenv("NODE_NAME"));

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *v;
		const struct opt *o;

		if (strncmp(a, "--", 2)) {
			fprintf(err, "podlens-agent: unexpected argument '%s' (see --help)\n", a);
			return -EINVAL;
		}
		a += 2;
		eq = strchr(a, '=');
		o = find_flag(a, eq ? (size_t)(eq - a) : strlen(a));
		if (!o) {
			fprintf(err, "podlens-agent: unknown option '%s' (see --help)\n", argv[i]);
			return -EINVAL;
		}
		if (o->type == T_NEGBOOL && !eq) {
			v = "true";
		} else if (eq) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			fprintf(err, "podlens-agent: option '--%s' needs a value\n", o->flag);
			return -EINVAL;
		}
		r = set_from_string(cfg, o, v, msg, sizeof(msg));
		if (r) {
			fprintf(err, "podlens-agent: --%s: %s\n", o->flag, msg);
			return r;
		}
	}
	if (strcmp(cfg->k8s_api, "auto") && strcmp(cfg->k8s_api, "off")) {
		fprintf(err, "podlens-agent: --k8s-api: invalid value '%s' (expected auto or off)\n", cfg->k8s_api);
		return -EINVAL;
	}
	if (strcmp(cfg->traffic_attach, "auto") && strcmp(cfg->traffic_attach, "workloads") &&
	    (cfg->traffic_attach[0] != '/' || strstr(cfg->traffic_attach, ".."))) {
		fprintf(err, "podlens-agent: --traffic-attach: invalid value '%s' (expected auto, workloads, or an "
			"absolute cgroup path without '..')\n", cfg->traffic_attach);
		return -EINVAL;
	}
	if (strcmp(cfg->tcp_hooks, "auto") && strcmp(cfg->tcp_hooks, "packets") && strcmp(cfg->tcp_hooks, "sockops") &&
	    strcmp(cfg->tcp_hooks, "tracepoints")) {
		fprintf(err, "podlens-agent: --tcp-hooks: invalid value '%s' (expected auto, packets, sockops or "
			"tracepoints)\n",
			cfg->tcp_hooks);
		return -EINVAL;
	}
	if (cfg->dns_ports.n > 4) {
		fprintf(err, "podlens-agent: --dns-ports: at most 4 ports (got %zu)\n", cfg->dns_ports.n);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->dns_ports.n; i++) {
		char *end;
		unsigned long v = strtoul(cfg->dns_ports.v[i], &end, 10);

		if (*end || v < 1 || v > 65535 || !isdigit((unsigned char)cfg->dns_ports.v[i][0])) {
			fprintf(err, "podlens-agent: --dns-ports: invalid port '%s' (1..65535)\n",
				cfg->dns_ports.v[i]);
			return -EINVAL;
		}
	}
	if (cfg->dns_search_suffixes.n > 8) {
		fprintf(err, "podlens-agent: --dns-search-suffixes: at most 8 (got %zu)\n",
			cfg->dns_search_suffixes.n);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->dns_search_suffixes.n; i++) {
		if (strlen(cfg->dns_search_suffixes.v[i]) >= 64) {
			fprintf(err, "podlens-agent: --dns-search-suffixes: '%s' longer than 63 bytes\n",
				cfg->dns_search_suffixes.v[i]);
			return -EINVAL;
		}
	}
	return 0;
}

const char **strlist__view(const struct strlist *l)
{
	const char **v = calloc(l->n + 1, sizeof(*v));

	if (v)
		for (size_t i = 0; i < l->n; i++)
			v[i] = l->v[i];
	return v;
}

void options__free(struct agent_config *cfg)
{
	for (size_t i = 0; i < NOPTS; i++) {
		void *f = field(cfg, &opts[i]);

		if (opts[i].type == T_STR || opts[i].type == T_URL || opts[i].type == T_URLS ||
		    opts[i].type == T_BTF) {
			free(*(char **)f);
			*(char **)f = NULL;
		} else if (opts[i].type == T_LIST) {
			list_free(f);
		}
	}
}
