#!/bin/bash
# 15-agent-cri-hang (issue 18, item 5): a container runtime that hangs while 50 pods start never
# blocks the agent's loop. The agent talks to the lab's containerd through a relay that can freeze
# (e2e/lab/cri_freeze.py: accepts, reads, never answers); the relay is frozen, then 50 client pods
# start (10 at a time) and fetch from a server pod. While frozen: every interval is still on time
# (interval_ms of every record <= 2.5 x the 1 s interval), /healthz answers 200 at first and 503
# once the runtime has been unreachable for 6 resync periods (--resync 5: 30 s; docs/cri.md), and
# every new client's traffic is flushed, named by its cgroup path once the hold bound (5 intervals)
# has passed. Thawed: /healthz 200 again, and every client gets its pod name.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
PODS=${E2E_HANG_PODS:-50}
WAVE=10
DIR=$E2E_TMP/hang
mkdir -p "$DIR"
defer e2e_spawned_cleanup "$DIR"

RELAY=$E2E_TMP/cri-relay.sock
"$E2E_PY" "$E2E_LAB/cri_freeze.py" --unix "$RELAY" --upstream "$E2E_SOCK" --pidfile "$DIR/relay.pid" \
	2>"$DIR/relay.err" &
RELAY_PID=$!
defer "kill -TERM $RELAY_PID 2>/dev/null; wait_for 10 'relay exit' e2e_gone $RELAY_PID || kill -KILL $RELAY_PID 2>/dev/null"
wait_for 10 "CRI relay socket" test -S "$RELAY" || { tap_fail "CRI relay up"; exit 1; }

e2e_web WEB shop web 10000 || { tap_fail "web pod up"; exit 1; }
e2e_agent_start AG 600 --host-monitor false --cri-socket "$RELAY" --resync 5 || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
check_ge "$(grep -c "cri: runtime .* on $RELAY" "$AG_LOG")" 1 "agent reached the runtime through the relay"

kill -USR1 $RELAY_PID   # the runtime hangs from now on, as seen from the agent
tap_ok "runtime frozen (relay pid $RELAY_PID)"
healthz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AG_PORT/healthz"; }
check_eq "$(healthz)" 200 "/healthz right after the runtime froze"
fails=0
for ((first = 1; first <= PODS; first += WAVE)); do
	last=$((first + WAVE - 1)); [ $last -le $PODS ] || last=$PODS
	e2e_spawn_wave "$DIR" $first $last hang "$WEB_IP" 100000 0.5 || fails=$((fails + $?))
done
check_eq "$fails" 0 "$PODS client pods started while the runtime hangs"

# every client's cgroup has records; unnamed ones while frozen (the worker cannot answer)
clients_named() {   # clients_named MODE: path (records named by path exist for every client) | pod
	"$E2E_PY" - "$AG_OUT" "$DIR" "$PODS" "$1" <<'PY'
import json, sys
out, d, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
recs = []
for line in open(out):
    try:
        recs.append(json.loads(line))
    except ValueError:
        pass
missing = 0
for i in range(1, n + 1):
    try:
        pod, ctr, uid = open(f"{d}/{i}").read().split()
    except (OSError, ValueError):
        missing += 1
        continue
    want = f"client-{i}"
    ok = any(uid in (r["workload"].get("cgroup_path") or "") and
             (r["workload"].get("pod") is None if mode == "path" else r["workload"].get("pod") == want)
             for r in recs)
    missing += not ok
print(missing)
sys.exit(missing != 0)
PY
}
wait_for 60 "records of every client, named by path" clients_named path
check_eq "$(clients_named path)" 0 "clients without a record while the runtime hangs (flushed by cgroup path)"
wait_for 60 "/healthz 503 (runtime unreachable for 6 resync periods)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$AG_PORT/healthz)\" = 503 ]"
check_ge "$(curl -s "http://127.0.0.1:$AG_PORT/healthz" | grep -c 'container runtime unreachable')" 1 \
	"/healthz says why once the runtime has hung for 6 resync periods"
frozen_pending=$(e2e_metric "$AG_PORT" podlens_metadata_pending)
max_call=$(e2e_metric "$AG_PORT" podlens_cri_worker_max_call_seconds)

kill -USR2 $RELAY_PID
tap_ok "runtime thawed"
wait_for 60 "/healthz 200 again" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$AG_PORT/healthz)\" = 200 ]"
check_eq "$(healthz)" 200 "/healthz once the runtime answers again"
wait_for 60 "every client named" clients_named pod
check_eq "$(clients_named pod)" 0 "clients never named after the runtime came back"
e2e_agent_stop AG 15
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"

max_iv=$("$E2E_PY" -c '
import json, sys
m = 0
for line in open(sys.argv[1]):
    try:
        m = max(m, json.loads(line)["interval_ms"])
    except (ValueError, KeyError):
        pass
print(m)' "$AG_OUT")
if [ "$max_iv" -le 2500 ]; then tap_ok "longest interval $max_iv ms <= 2500 ms (interval 1 s, runtime hung)"
else tap_fail "longest interval $max_iv ms > 2500 ms: the loop was blocked"; fi
diag "hang: $PODS pods, pending while frozen $frozen_pending, longest CRI call ${max_call}s, longest interval $max_iv ms"
