#!/bin/bash
# 12-agent-new-pod (issue 3, e2e c): pods created while the agent runs are attributed from their first
# interval. The client starts fetching the moment its container starts; every record of its cgroup
# (and of the server's) must carry the pod's names, none may be unresolved, and the named bytes must
# add up to the ground truth (so no bytes were reported elsewhere, e.g. under a bare cgroup path).
# --host-monitor false: the programs are attached to each new container's cgroup as it appears
# (cgroup_mkdir), before its first process runs, so its first bytes count.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_FETCHES:-20}
PERIOD=0.2
SIZE=100000

e2e_agent_start AG 90 --host-monitor false || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
tap_ok "agent running before any pod exists (pid $AG_PID)"
e2e_web WEB shop web $SIZE || { tap_fail "web pod up"; exit 1; }
e2e_client CLI payments client "$WEB_IP" "$N" $PERIOD raw || { tap_fail "client pod up"; exit 1; }
e2e_client_wait "$CLI_CTR" 60 || tap_fail "client finished $N fetches"
e2e_agent_stop AG 15
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"

truth=$(e2e_client_total "$CLI_CTR")
httpd_id=$(e2e_cgroup_id "$WEB_CTR"); fetch_id=$(e2e_cgroup_id "$CLI_CTR")
e2e_check_workload "$AG_OUT" "$httpd_id" shop web httpd "$WEB_UID" "$WEB_CTR"
e2e_check_workload "$AG_OUT" "$fetch_id" payments client fetcher "$CLI_UID" "$CLI_CTR"
for u in "$WEB_UID" "$CLI_UID"; do
	check_eq "$(agentjson "$AG_OUT" --has workload.cgroup_path="$u" --eq workload.pod='<none>' --count)" 0 \
		"unresolved records under pod cgroup $u"
done
read -r f_rx < <(agentjson "$AG_OUT" --eq workload.cgroup_id="$fetch_id" --eq workload.pod=client --sum traffic.rx_bytes)
read -r h_tx < <(agentjson "$AG_OUT" --eq workload.cgroup_id="$httpd_id" --eq workload.pod=web --sum traffic.tx_bytes)
check_within "$f_rx" "$truth" 5 "named fetcher rx_bytes vs ground truth (nothing lost to an unnamed record)"
check_within "$h_tx" "$truth" 5 "named httpd tx_bytes vs ground truth"
first=$(agentjson "$AG_OUT" --eq workload.cgroup_id="$fetch_id" --first workload.pod)
check_eq "$first" client "pod name in the fetcher's first record"
