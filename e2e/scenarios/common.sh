# Helpers for e2e scenarios (sourced after tests/lib.sh by every e2e/scenarios*/NN-*.sh).
# The lab is already up (e2e/run.sh); each scenario removes the pods it creates (defer), so
# scenarios are independent of each other and of their order.
#
#   e2e_pod VAR NAME NAMESPACE [podctl run-pod options]     -> $VAR_ID $VAR_IP $VAR_UID
#   e2e_ctr VAR POD_ID NAME [podctl run-container options] -- ARGV...   -> $VAR (container id)
#   e2e_web VAR NAMESPACE NAME SIZE [pod options]  busybox httpd on :8080 serving /index.html of SIZE
#        bytes (a file this helper writes: ground truth) -> $VAR_ID $VAR_IP $VAR_CTR; waits until listening
#   e2e_client VAR NAMESPACE NAME URL_IP COUNT [PERIOD [MODE [pod options]]]: COUNT fetches of
#        http://URL_IP:8080/index.html, PERIOD s apart; MODE body (wget, counts body bytes) or raw
#        (nc, counts every response byte incl. HTTP headers). Logs "fetch I BYTES" per fetch, then
#        "done", then sleeps (the container and its cgroup stay) -> $VAR_ID $VAR_IP $VAR_CTR
#   e2e_client_wait CTR SECS     wait for the client's "done" line
#   e2e_client_total CTR         sum of BYTES over its fetch lines;  e2e_client_count CTR: fetches logged
#   e2e_cgroup_dir CTR           cgroup2 directory of a container (from the CRI's cgroupsPath)
#   e2e_cgroup_id CTR            its inode = the cgroup ID BPF sees
#   e2e_pid CTR                  host pid of the container's init
#   e2e_in_subnet IP             true if IP is inside $E2E_SUBNET
#   e2e_image NAME -- MKIMAGE_ARGS...   build (e2e/lab/mkimage.py), import, wait until the CRI sees it
#   podctl ARGS...               e2e/lab/podctl.py against the lab
# Agent (pending scenarios; contract in docs/e2e.md):
#   e2e_agent_start VAR DURATION [agent args]  runs $AGENT --output json --interval 1 --duration DURATION
#        --cri-socket $E2E_SOCK; stdout -> $VAR_OUT (JSON lines), stderr -> $VAR_LOG, pid -> $VAR_PID
#        --metrics-addr 127.0.0.1:<free port> ($VAR_PORT)
#   e2e_agent_ready VAR SECS     wait until /healthz answers     e2e_agent_stop VAR SECS: SIGTERM + wait
#   e2e_agent_wait VAR SECS      wait for its exit (bounded), exit code in $VAR_RC
#   agentjson ARGS...            e2e/lab/agentjson.py (sums and checks over the JSON lines)
. "$(dirname "${BASH_SOURCE[0]}")/../lab/env.sh"
# a TERM/INT (e2e/run.sh interrupted) must still run the deferred cleanups (lib.sh's EXIT trap)
trap 'exit 143' TERM
trap 'exit 130' INT

[ "$(id -u)" = 0 ] || { tap_fail "e2e scenarios need root"; exit 1; }
[ -S "$E2E_SOCK" ] || { tap_fail "lab is not up ($E2E_SOCK missing): run e2e/run.sh or e2e/lab/up.sh"; exit 1; }

AGENT=${AGENT:-$E2E_TOP/$BUILD/bin/podlens-agent}
E2E_DATA=$E2E_RUN/data
E2E_TMP=$(mktemp -d "$E2E_RUN/data/scenario.XXXXXX")
defer rm -rf "$E2E_TMP"
if [ -n "${E2E_LOGDIR:-}" ]; then   # keep agent output and logs for the post-mortem (e2e/run.sh sets it)
	defer "mkdir -p '$E2E_LOGDIR/$(basename "$0" .sh)' && cp -r '$E2E_TMP'/. '$E2E_LOGDIR/$(basename "$0" .sh)/'"
fi

podctl() { "$E2E_PY" "$E2E_LAB/podctl.py" "$@"; }
agentjson() { "$E2E_PY" "$E2E_LAB/agentjson.py" "$@"; }

e2e_pod() {   # e2e_pod VAR NAME NAMESPACE [run-pod options]
	local var=$1 name=$2 ns=$3; shift 3
	local uid out id ip
	uid=$(cat /proc/sys/kernel/random/uuid)
	out=$(podctl run-pod "$name" "$ns" --uid "$uid" "$@") || { diag "run-pod $ns/$name failed"; return 1; }
	read -r id ip <<<"$out"
	defer podctl rm-pod "$id"
	printf -v "${var}_ID" %s "$id"; printf -v "${var}_IP" %s "$ip"; printf -v "${var}_UID" %s "$uid"
}

e2e_ctr() {   # e2e_ctr VAR POD_ID NAME [run-container options] -- ARGV...
	local var=$1 pod=$2 name=$3; shift 3
	local id
	id=$(podctl run-container "$pod" "$name" "$@") || { diag "run-container $name failed"; return 1; }
	printf -v "$var" %s "$id"
}

e2e_pid() { podctl pid "$1"; }
e2e_cgroup_dir() { local p; p=$(podctl cgroup "$1") && echo "$E2E_CG2$p"; }
e2e_cgroup_id() { local d; d=$(e2e_cgroup_dir "$1") && stat -c %i "$d"; }

e2e_in_subnet() {
	"$E2E_PY" -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' \
		"$1" "$E2E_SUBNET" 2>/dev/null
}

# e2e_listening PID PORT: a TCP socket in LISTEN on PORT in PID's network namespace
e2e_listening() {
	local hex
	hex=$(printf '%04X' "$2")
	awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}' "/proc/$1/net/tcp" "/proc/$1/net/tcp6" 2>/dev/null
}

# e2e_mapsrv_api: pod shop/api with mapsrv.py on :8080, run in the pod's cgroup and network namespace
# (the service-map scenarios' server); sets API_ID, API_CTR, acg (its cgroup dir), apid, SRV_PID
e2e_mapsrv_api() {
	e2e_pod API api shop --label app=api || { tap_fail "api pod up"; return 1; }
	e2e_ctr API_CTR "$API_ID" server -- sleep 100000 || { tap_fail "api container up"; return 1; }
	acg=$(e2e_cgroup_dir "$API_CTR") && apid=$(e2e_pid "$API_CTR") || { tap_fail "api container's cgroup and pid"; return 1; }
	sh -c "echo \$\$ > $acg/cgroup.procs && exec nsenter --net=/proc/$apid/ns/net $E2E_PY $E2E_LAB/mapsrv.py 8080" \
		>"$E2E_TMP/mapsrv.log" 2>&1 &
	SRV_PID=$!
	defer "kill -TERM $SRV_PID 2>/dev/null"
	wait_for 10 "shop/api listening on :8080" e2e_listening "$apid" 8080 || { tap_fail "api server listening"; return 1; }
}

# e2e_json_server_reqs FILE NS POD: the server requests of NS/POD in an agent's JSON lines
e2e_json_server_reqs() {
	jq -s --arg ns "$2" --arg pod "$3" '[.[] | select(.workload.namespace == $ns and .workload.pod == $pod) |
		.http[]? | select(.direction == "server") | .count] | add // 0' "$1"
}
_json_holds() { [ "$(e2e_json_server_reqs "$1" "$2" "$3")" -ge "$4" ]; }
# e2e_two_agents_done NS POD N: agents AG and AS (JSON in $AG_OUT, $AS_OUT) both hold NS/POD's N
# server requests before they are stopped, then both flush their last batch and exit 0
e2e_two_agents_done() {
	local ns=$1 pod=$2 n=$3 a o
	for a in AG AS; do
		o=${a}_OUT
		wait_for 20 "$a's JSON holds $ns/$pod's $n requests" _json_holds "${!o}" "$ns" "$pod" "$n"
	done
	check_eq "$(e2e_json_server_reqs "$AG_OUT" "$ns" "$pod") $(e2e_json_server_reqs "$AS_OUT" "$ns" "$pod")" "$n $n" \
		"both agents measured $ns/$pod's $n requests"
	e2e_agent_stop AG 30; check_eq "$AG_RC" 0 "agent AG flushed and exited"
	e2e_agent_stop AS 30; check_eq "$AS_RC" 0 "agent AS flushed and exited"
}

e2e_web() {   # e2e_web VAR NAMESPACE NAME SIZE [run-pod options]
	local var=$1 ns=$2 name=$3 size=$4; shift 4
	local dir=$E2E_TMP/www-$ns-$name ctr pid id
	mkdir -p "$dir"
	head -c "$size" /dev/urandom > "$dir/index.html"
	e2e_pod "$var" "$name" "$ns" --label app="$name" "$@" || return 1
	id=${var}_ID
	e2e_ctr "${var}_CTR" "${!id}" httpd --mount "$dir:/www:ro" -- httpd -f -p 8080 -h /www || return 1
	ctr=${var}_CTR
	pid=$(e2e_pid "${!ctr}") || return 1
	wait_for 10 "httpd of $ns/$name listening on :8080" e2e_listening "$pid" 8080
}

e2e_client() {   # e2e_client VAR NAMESPACE NAME IP COUNT [PERIOD [MODE [run-pod options]]]
	local var=$1 ns=$2 name=$3 ip=$4 count=$5 period=${6:-0} mode=${7:-body}
	shift $(( $# < 7 ? $# : 7 ))
	local fetch id
	case $mode in
	body) fetch='wget -q -O - "http://$TARGET:8080/index.html"' ;;
	raw)  fetch='printf "GET /index.html HTTP/1.0\r\n\r\n" | nc "$TARGET" 8080' ;;
	*) diag "e2e_client: mode $mode"; return 1 ;;
	esac
	e2e_pod "$var" "$name" "$ns" --label app="$name" "$@" || return 1
	id=${var}_ID
	e2e_ctr "${var}_CTR" "${!id}" fetcher --env TARGET="$ip" --env COUNT="$count" --env PERIOD="$period" -- \
		sh -c "i=0; while [ \$i -lt \$COUNT ]; do i=\$((i+1)); echo \"fetch \$i \$($fetch | wc -c)\"; \
[ \"\$PERIOD\" = 0 ] || sleep \$PERIOD; done; echo done; exec sleep 100000"
}

e2e_image() {   # e2e_image NAME -- MKIMAGE_ARGS...: build an image (mkimage.py), import it, wait for the CRI
	local name=$1 tar
	shift; [ "${1:-}" = -- ] && shift
	tar=$E2E_TMP/image-$(echo "$name" | tr -c 'a-zA-Z0-9\n' _).tar
	"$E2E_PY" "$E2E_LAB/mkimage.py" "$tar" "$name" "$@" >/dev/null || { diag "mkimage $name failed"; return 1; }
	ctr --address "$E2E_SOCK" --namespace k8s.io images import "$tar" >/dev/null || { diag "import $name failed"; return 1; }
	wait_for 10 "image $name visible through the CRI" podctl image-status "$name"
}

# the CRI log file is polled directly (a podctl call per poll would cost a python start each time);
# line format "<time> stdout F done"
_client_done() { grep -qE '^[^ ]+ stdout F done$' "$1"; }
e2e_client_wait() {
	local log
	log=$(podctl log-path "$1") || return 1
	wait_for "$2" "client $1 done" _client_done "$log"
}
e2e_client_total() { podctl logs "$1" | awk '$1 == "fetch" {s += $3} END {print s + 0}'; }
e2e_client_count() { podctl logs "$1" | awk '$1 == "fetch" && $3 > 0 {n++} END {print n + 0}'; }

# ------------------------------------------------------------------------------ agent
# e2e_gone PID: the process has exited (a zombie child counts as exited; kill -0 does not say so)
e2e_gone() { [ ! -e "/proc/$1/stat" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

e2e_free_port() {   # a TCP port free on 127.0.0.1 right now
	"$E2E_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

e2e_agent_start() {   # e2e_agent_start VAR DURATION [agent args]
	local var=$1 dur=$2; shift 2
	[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT missing (make all)"; return 1; }
	local out=$E2E_TMP/$var.json log=$E2E_TMP/$var.log port
	port=$(e2e_free_port)
	"$AGENT" --output json --interval 1 --duration "$dur" --cri-socket "$E2E_SOCK" \
		--metrics-addr "127.0.0.1:$port" "$@" >"$out" 2>"$log" &
	local pid=$!
	defer "kill -TERM $pid 2>/dev/null; wait_for 10 'agent $pid exit' e2e_gone $pid || kill -KILL $pid 2>/dev/null"
	printf -v "${var}_PID" %s "$pid"; printf -v "${var}_OUT" %s "$out"; printf -v "${var}_LOG" %s "$log"
	printf -v "${var}_PORT" %s "$port"
}

e2e_agent_wait() {   # e2e_agent_wait VAR SECS: wait for exit; exit status -> $VAR_RC
	local var=$1 secs=$2 pv=${1}_PID
	local pid=${!pv}
	if ! wait_for "$secs" "agent pid $pid to exit" e2e_gone "$pid"; then
		printf -v "${var}_RC" %s timeout; return 1
	fi
	wait "$pid"; printf -v "${var}_RC" %s $?
}

# e2e_agent_ready VAR SECS: the agent answers /healthz on its metrics address (probes attached,
# main loop running); fails at once if the agent exited
_agent_ready() { ! e2e_gone "$1" && curl -sf -o /dev/null "http://127.0.0.1:$2/healthz"; }
e2e_agent_ready() {
	local p=${1}_PID o=${1}_PORT l=${1}_LOG
	if ! wait_for "$2" "agent /healthz" _agent_ready "${!p}" "${!o}"; then
		diag "agent log:"; tail -20 "${!l}" | sed 's/^/#   /'
		return 1
	fi
}

# e2e_progs_on DIR PATTERN: how many programs whose name matches PATTERN are attached to cgroup DIR
e2e_progs_on() { bpftool cgroup show "$1" 2>/dev/null | awk -v p="$2" 'NR > 1 && $NF ~ p' | wc -l; }

# e2e_agent_stop VAR SECS: SIGTERM (clean exit flushes the last interval), wait, exit status in $VAR_RC
e2e_agent_stop() { local p=${1}_PID; kill -TERM "${!p}" 2>/dev/null; e2e_agent_wait "$1" "$2"; }

# e2e_check_workload OUT CGROUP_ID NS POD CONTAINER POD_UID CONTAINER_ID: at least one record for
# that cgroup ID, and every one of them names exactly this namespace/pod/container/uid/id
e2e_check_workload() {
	local out=$1 id=$2 ns=$3 pod=$4 ctr=$5 uid=$6 cid=$7 f want got
	check_ge "$(agentjson "$out" --eq workload.cgroup_id="$id" --count)" 1 "records for $ns/$pod/$ctr (cgroup $id)"
	for f in namespace:$ns pod:$pod container:$ctr pod_uid:$uid container_id:$cid; do
		want=${f#*:}
		got=$(agentjson "$out" --eq workload.cgroup_id="$id" --distinct "workload.${f%%:*}" | paste -sd, -)
		check_eq "$got" "$want" "workload.${f%%:*} of every record of cgroup $id"
	done
}

# ------------------------------------------------------------------------------ many pods at once
# e2e_spawn_client DIR I NS TARGET COUNT PERIOD [rm]: one client pod "client-I" in namespace NS
# (raw fetches of http://TARGET:8080/index.html, COUNT of them PERIOD s apart; nc counts every
# response byte). Meant to run in the background, 10 at a time: it writes DIR/I.pod (the sandbox id,
# as soon as it exists, for the scenario's cleanup) and DIR/I ("pod_id ctr_id uid"). With "rm", it
# then waits (bounded, 120 s) for the client's "done", writes its byte count (ground truth) to
# DIR/I.truth and removes the pod at once. No TAP output: the scenario checks the files.
e2e_spawn_client() {
	local dir=$1 i=$2 ns=$3 target=$4 count=$5 period=$6 rm=${7:-}
	local uid out pod ip ctr log n=0
	uid=$(cat /proc/sys/kernel/random/uuid)
	out=$(podctl run-pod "client-$i" "$ns" --uid "$uid" --label app=churn) || return 1
	read -r pod ip <<<"$out"
	echo "$pod" >"$dir/$i.pod"
	ctr=$(podctl run-container "$pod" fetcher --env TARGET="$target" --env COUNT="$count" --env PERIOD="$period" -- \
		sh -c 'i=0; while [ $i -lt $COUNT ]; do i=$((i+1)); echo "fetch $i $(printf "GET /index.html HTTP/1.0\r\n\r\n" | nc "$TARGET" 8080 | wc -c)"; [ "$PERIOD" = 0 ] || sleep $PERIOD; done; echo done; exec sleep 100000') || return 1
	echo "$pod $ctr $uid" >"$dir/$i"
	[ "$rm" = rm ] || return 0
	log=$(podctl log-path "$ctr") || return 1
	until _client_done "$log"; do
		n=$((n + 1)); [ $n -le 2400 ] || return 1
		sleep 0.05
	done
	awk '$4 == "fetch" {s += $6} END {print s + 0}' "$log" >"$dir/$i.truth"
	podctl rm-pod "$pod" >/dev/null
}

# e2e_spawn_wave DIR FIRST LAST ARGS...: e2e_spawn_client for I in FIRST..LAST, all at once; waits
# for all of them. Returns how many failed.
e2e_spawn_wave() {
	local dir=$1 first=$2 last=$3 i fails=0 pids=()
	shift 3
	for ((i = first; i <= last; i++)); do
		e2e_spawn_client "$dir" "$i" "$@" 2>>"$dir/spawn.err" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || fails=$((fails + 1)); done
	return $fails
}

# e2e_spawned_cleanup DIR: remove every pod e2e_spawn_client created that is still there
e2e_spawned_cleanup() {
	local f
	for f in "$1"/*.pod; do
		[ -f "$f" ] && podctl rm-pod "$(cat "$f")" >/dev/null 2>&1
	done
	return 0
}

# e2e_metric PORT NAME: the value of a metric without labels on the agent's /metrics
e2e_metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2; f=1} END {exit !f}'; }
