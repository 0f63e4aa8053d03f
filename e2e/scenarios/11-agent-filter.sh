#!/bin/bash
# 11-agent-filter (issue 3, e2e b): a pod annotated podlens.io/monitor: "false" and a pod in a namespace
# excluded by the config produce no records at all (not under their names, not under their cgroup
# IDs, not under a cgroup path holding their pod UIDs), while a monitored client doing the same
# traffic is reported (the positive control that makes this test able to fail). The agent runs with
# --host-monitor false (the Helm default), so its packet programs go to monitored pod containers only:
# the ignored pods' cgroups carry none of them.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_FETCHES:-10}
PERIOD=0.3
SIZE=100000
cfg=$E2E_TMP/agent.json
echo '{"namespaces":{"include":["*"],"exclude":["kube-system","ignored-ns"]}}' > "$cfg"

e2e_web WEB shop web $SIZE || { tap_fail "web pod up"; exit 1; }
e2e_agent_start AG 90 --config "$cfg" --host-monitor false || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
e2e_client CLI payments client "$WEB_IP" "$N" $PERIOD raw || { tap_fail "client pod up"; exit 1; }
e2e_client QUIET shop quiet "$WEB_IP" "$N" $PERIOD raw --annotation podlens.io/monitor=false ||
	{ tap_fail "quiet pod up"; exit 1; }
e2e_client IGN ignored-ns other "$WEB_IP" "$N" $PERIOD raw || { tap_fail "ignored-ns pod up"; exit 1; }
for c in "$CLI_CTR" "$QUIET_CTR" "$IGN_CTR"; do e2e_client_wait "$c" 60 || tap_fail "client $c finished"; done
check_eq "$(e2e_progs_on "$(e2e_cgroup_dir "$CLI_CTR")" "pl_(traffic_wl|pkt)_")" 2 "packet programs on the monitored client's cgroup"
check_eq "$(e2e_progs_on "$(e2e_cgroup_dir "$QUIET_CTR")" pl_)" 0 "no program on quiet's cgroup (monitor=false)"
check_eq "$(e2e_progs_on "$(e2e_cgroup_dir "$IGN_CTR")" pl_)" 0 "no program on ignored-ns/other's cgroup"
e2e_agent_stop AG 15
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"

for c in CLI QUIET IGN; do v=${c}_CTR; check_eq "$(e2e_client_count "${!v}")" "$N" "$c: fetches that got bytes"; done
truth=$(e2e_client_total "$CLI_CTR")
read -r f_rx < <(agentjson "$AG_OUT" --eq workload.namespace=payments --eq workload.pod=client \
	--eq workload.container=fetcher --sum traffic.rx_bytes)
check_within "$f_rx" "$truth" 5 "control: monitored payments/client/fetcher rx_bytes vs ground truth"

quiet_id=$(e2e_cgroup_id "$QUIET_CTR"); ign_id=$(e2e_cgroup_id "$IGN_CTR")
check_eq "$(agentjson "$AG_OUT" --eq workload.pod=quiet --count)" 0 "records naming pod quiet (monitor=false)"
check_eq "$(agentjson "$AG_OUT" --eq workload.cgroup_id="$quiet_id" --count)" 0 "records of quiet's cgroup $quiet_id"
check_eq "$(agentjson "$AG_OUT" --has workload.cgroup_path="$QUIET_UID" --count)" 0 "records under quiet's pod cgroup"
check_eq "$(agentjson "$AG_OUT" --eq workload.namespace=ignored-ns --count)" 0 "records in excluded namespace ignored-ns"
check_eq "$(agentjson "$AG_OUT" --eq workload.cgroup_id="$ign_id" --count)" 0 "records of ignored-ns/other's cgroup $ign_id"
check_eq "$(agentjson "$AG_OUT" --has workload.cgroup_path="$IGN_UID" --count)" 0 "records under ignored-ns/other's pod cgroup"
