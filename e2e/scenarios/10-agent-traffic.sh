#!/bin/bash
# 10-agent-traffic (issue 3, e2e a): two pods in two namespaces exchange HTTP; the agent, started with
# --cri-socket on the lab's containerd, names both containers right and counts their bytes within 5%
# of the ground truth this test measures (every byte of every HTTP response the client received).
# Two agents watch at once, one per traffic attach mode: AG with the host monitored (one attachment
# at the cgroup2 root) and AW with --host-monitor false (programs on each monitored pod container
# only: checked on the cgroups themselves). Both must give the same answers.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_FETCHES:-20}
PERIOD=0.5
SIZE=100000

e2e_web WEB shop web $SIZE || { tap_fail "web pod up"; exit 1; }
e2e_agent_start AG 60 || exit 1
e2e_agent_start AW 60 --host-monitor false || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
e2e_agent_ready AW 20 || { tap_fail "workloads-mode agent ready (/healthz)"; exit 1; }
tap_ok "agents running (pids $AG_PID, $AW_PID)"
check_eq "$(grep -c 'packet programs: /$' "$AG_LOG")" 1 "AG: packet programs once at the cgroup2 root"
check_eq "$(grep -c 'packet programs: per monitored workload' "$AW_LOG")" 1 "AW: packet programs per monitored workload"
e2e_client CLI payments client "$WEB_IP" "$N" $PERIOD raw || { tap_fail "client pod up"; exit 1; }
e2e_client_wait "$CLI_CTR" 60 || tap_fail "client finished $N fetches"
web_dir=$(e2e_cgroup_dir "$WEB_CTR"); cli_dir=$(e2e_cgroup_dir "$CLI_CTR")
check_eq "$(e2e_progs_on "$web_dir" "pl_(traffic_wl|pkt)_")" 2 "AW: ingress + egress programs on shop/web/httpd's cgroup"
check_eq "$(e2e_progs_on "$cli_dir" "pl_(traffic_wl|pkt)_")" 2 "AW: ingress + egress programs on payments/client/fetcher's cgroup (pod created after start)"
check_eq "$(e2e_progs_on "$(dirname "$web_dir")" pl_)" 0 "AW: nothing on the pod-level cgroup"
check_eq "$(e2e_progs_on "$E2E_CG2" "pl_(traffic_wl|pkt)_")" 0 "AW: nothing at the cgroup2 root"
e2e_agent_stop AG 15
e2e_agent_stop AW 15
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"
check_eq "$AW_RC" 0 "workloads-mode agent exit status after SIGTERM"
check_eq "$(e2e_progs_on "$web_dir" pl_)" 0 "AW: its programs gone from shop/web/httpd's cgroup after exit"

truth=$(e2e_client_total "$CLI_CTR")
check_eq "$(e2e_client_count "$CLI_CTR")" "$N" "client fetches that got bytes"
check_ge "$truth" $((N * SIZE)) "ground truth: response bytes the client received"
httpd_id=$(e2e_cgroup_id "$WEB_CTR"); fetch_id=$(e2e_cgroup_id "$CLI_CTR")
for m in AG AW; do
out=${m}_OUT; out=${!out}
diag "checks of $m"
e2e_check_workload "$out" "$httpd_id" shop web httpd "$WEB_UID" "$WEB_CTR"
e2e_check_workload "$out" "$fetch_id" payments client fetcher "$CLI_UID" "$CLI_CTR"
check_eq "$(agentjson "$out" --eq workload.cgroup_id="$httpd_id" --distinct workload.image)" \
	localhost/busybox:local "$m: workload.image of httpd"

read -r h_rx h_tx < <(agentjson "$out" --eq workload.namespace=shop --eq workload.pod=web \
	--eq workload.container=httpd --sum traffic.rx_bytes traffic.tx_bytes)
read -r f_rx f_tx < <(agentjson "$out" --eq workload.namespace=payments --eq workload.pod=client \
	--eq workload.container=fetcher --sum traffic.rx_bytes traffic.tx_bytes)
check_within "$h_tx" "$truth" 5 "$m: shop/web/httpd tx_bytes vs bytes the client received"
check_within "$f_rx" "$truth" 5 "$m: payments/client/fetcher rx_bytes vs bytes it received"
check_ge "${f_tx:-0}" 1 "$m: payments/client/fetcher tx_bytes (requests and ACKs)"
# requests + ACKs: no application-level truth at this size; both ends see the same packets
check_within "$h_rx" "$f_tx" 5 "$m: shop/web/httpd rx_bytes vs payments/client/fetcher tx_bytes"
diag "$m: truth $truth B; httpd rx $h_rx tx $h_tx; fetcher rx $f_rx tx $f_tx"
done
