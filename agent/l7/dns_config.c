#include "agent/l7/dns_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/l7/dns_module.h"

void l7_dns_configure(const struct agent_config *cfg, struct l7_probe_opts *lo)
{
	struct dns_config dc = { 0 };

	dc.timeout_ms = cfg->dns_timeout_ms;
	dc.domains = (enum dns_domains)cfg->dns_domains;
	for (size_t i = 0; i < cfg->dns_search_suffixes.n && dc.nsuffixes < DNS_SUFFIXES_MAX; i++)
		snprintf(dc.suffixes[dc.nsuffixes++], DNS_SUFFIX_LEN, "%s", cfg->dns_search_suffixes.v[i]);
	/* an empty list: no suffix matches (one empty entry never does) */
	if (!cfg->dns_search_suffixes.n)
		dc.nsuffixes = 1;
	dns_module__configure(&dc);
	/* options.c checked: at most L7_DNS_PORTS_MAX ports, each 1..65535 */
	lo->dns_ports_set = true;
	memset(lo->dns_ports, 0, sizeof(lo->dns_ports));
	for (size_t i = 0; i < cfg->dns_ports.n && i < L7_DNS_PORTS_MAX; i++)
		lo->dns_ports[i] = (uint16_t)strtoul(cfg->dns_ports.v[i], NULL, 10);
}
