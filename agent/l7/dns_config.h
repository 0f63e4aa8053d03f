/* The agent's dns.* options (agent/options.c) into the DNS module's settings and the probe's port
 * list. Call before l7_set__new / l7_probe__new. */
#ifndef PODLENS_AGENT_L7_DNS_CONFIG_H
#define PODLENS_AGENT_L7_DNS_CONFIG_H

#include "agent/options.h"
#include "agent/probes/l7.h"

void l7_dns_configure(const struct agent_config *cfg, struct l7_probe_opts *lo);

#endif
