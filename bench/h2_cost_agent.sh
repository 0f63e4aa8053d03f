#!/usr/bin/env bash
# bench/h2_cost_agent.sh: a whole podlens-agent as a bench/h2_cost.sh driver, so the agent's own
# packet programs (pl_pkt_*: L4 counting and L7 in one program; with AGENT_ARGS=--no-l7 the L4
# programs alone) are measured in the same run as l7-probe-test's L7 programs (not a test).
#   DRIVERS="probe:build/test-bin/l7-probe-test agent:bench/h2_cost_agent.sh" STAGES="E 0" bench/h2_cost.sh
# h2_cost.sh calls it as `DRIVER [-E | -S STAGE] CGROUP_DIR`: the stage flags are ignored (the
# agent runs its full path; an E row of this driver is a second full run). Env: AGENT
# (build/bin/podlens-agent), AGENT_ARGS (extra flags, e.g. --no-l7), AGENT_LOG (its log; /dev/null:
# h2_cost reads the driver's first line). It prints h2_cost's
# "attached" line with the ids of the programs attached to the cgroup (bpftool cgroup show) from a
# background reader, then becomes the agent: SIGINT from h2_cost.sh reaches it (the agent takes
# its signals through a signalfd, so a background job's ignored SIGINT does not matter).
# The agent prints its own JSON, not the probe's: h2_cost's "counted" column is 0 for it.
set -u
cd "$(dirname "$0")/.."
AGENT=${AGENT:-build/bin/podlens-agent} AGENT_ARGS=${AGENT_ARGS:-} AGENT_LOG=${AGENT_LOG:-/dev/null}
while [ $# -gt 1 ]; do shift; done
dir=$1 cg=/$(basename "$1")
l7="--l7-cgroups $cg"
case " $AGENT_ARGS " in *" --no-l7 "*) l7= ;; esac
(
	in= eg=
	for i in $(seq 300); do
		j=$(bpftool cgroup show "$dir" 2>/dev/null)
		in=$(echo "$j" | awk '$2 == "cgroup_inet_ingress" { print $1; exit }')
		eg=$(echo "$j" | awk '$2 == "cgroup_inet_egress" { print $1; exit }')
		[ -n "$in" ] && [ -n "$eg" ] && break
		sleep 0.05
	done
	[ -n "$in" ] && [ -n "$eg" ] || { echo "h2_cost_agent: no programs on $dir" >&2; exit 1; }
	echo "{\"attached\":1,\"ingress_prog_id\":$in,\"egress_prog_id\":$eg}"
) &
# shellcheck disable=SC2086
exec "$AGENT" --output json --interval 3600 --host-cgroups "$cg" $l7 $AGENT_ARGS 2> "$AGENT_LOG"
