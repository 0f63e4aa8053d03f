#!/bin/bash
# 13-agent-containerd-restart (issue 3, e2e d): containerd is SIGKILLed and restarted while the agent
# runs. The agent keeps running, says so in its log, keeps naming the pods that survived (their shims
# outlive containerd), and names a pod created after the restart within 10 s of its creation.
# --host-monitor false (programs per pod container): the pods that exist at start are attached from
# the first resync, the new one on its cgroup_mkdir.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
SIZE=100000

e2e_web WEB shop web $SIZE || { tap_fail "web pod up"; exit 1; }
e2e_client OLD payments client "$WEB_IP" 100000 0.5 raw || { tap_fail "client pod up"; exit 1; }
old_id=$(e2e_cgroup_id "$OLD_CTR")
e2e_agent_start AG 120 --resync 1 --host-monitor false || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
named() { agentjson "$1" --eq workload.cgroup_id="$2" --eq workload.pod="$3" --count | grep -qv '^0$'; }
wait_for 15 "first named record of payments/client" named "$AG_OUT" "$old_id" client
check_eq "$?" 0 "payments/client named before the crash"

"$E2E_LAB/containerd.sh" kill
t_kill=$(date +%s)
tap_ok "containerd SIGKILLed"
lines_before=$(wc -l <"$AG_LOG")
cri_logged() { tail -n +"$((lines_before + 1))" "$AG_LOG" | grep -Eiq '(cri|containerd|runtime).*(unavailable|fail|error|refused|lost|down|reconnect)|(unavailable|fail|error|refused|lost).*(cri|containerd|runtime)'; }
wait_for 20 "agent log line about the CRI failure" cri_logged
check_eq "$?" 0 "agent logged the runtime failure"
diag "agent log: $(tail -n +"$((lines_before + 1))" "$AG_LOG" | grep -Ei 'cri|containerd|runtime' | head -3 | tr '\n' '|')"
if e2e_gone "$AG_PID"; then tap_fail "agent still running after containerd died"; else tap_ok "agent still running after containerd died"; fi

# /healthz fails once the runtime has been unreachable for 6 resync periods (6 s here), so a pod that
# mounts only the socket file gets restarted by its liveness probe and sees the new socket
hz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AG_PORT/healthz"; }
wait_for 20 "/healthz 503 while the runtime is down" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$AG_PORT/healthz)\" = 503 ]"
check_eq "$(hz)" 503 "/healthz fails while the runtime stays unreachable"
"$E2E_LAB/containerd.sh" start || tap_fail "containerd restarted"
wait_for 20 "CRI back" podctl --timeout 2 version
check_eq "$?" 0 "containerd back ($(( $(date +%s) - t_kill )) s after the kill)"
wait_for 10 "/healthz ok again" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$AG_PORT/healthz)\" = 200 ]"
check_eq "$(hz)" 200 "/healthz ok again once the runtime answers"

t_new=$(date +%s%N)
e2e_client NEW payments client2 "$WEB_IP" 100000 0.5 raw || { tap_fail "new pod up"; exit 1; }
new_id=$(e2e_cgroup_id "$NEW_CTR")
wait_for 10 "named record of the new pod payments/client2" named "$AG_OUT" "$new_id" client2
check_eq "$?" 0 "new pod payments/client2 named within 10 s"
diag "client2 named after $(( ($(date +%s%N) - t_new) / 1000000 )) ms"
n_old=$(agentjson "$AG_OUT" --eq workload.cgroup_id="$old_id" --count)
wait_for 5 "more records of payments/client after the restart" sh -c \
	"[ \$('$E2E_PY' '$E2E_LAB/agentjson.py' '$AG_OUT' --eq workload.cgroup_id=$old_id --eq workload.pod=client --count) -gt $n_old ]"
check_eq "$?" 0 "payments/client still named after the restart"
if e2e_gone "$AG_PID"; then tap_fail "agent still running at the end"; else tap_ok "agent still running at the end"; fi
e2e_agent_stop AG 15
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"
