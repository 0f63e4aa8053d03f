#!/bin/bash
# containerd.sh start|stop|kill|pid - the lab's containerd (config written by up.sh).
#   start   start it in its own session, log to $E2E_RUN/containerd.log, pid in $E2E_RUN/containerd.pid
#   stop    SIGTERM, SIGKILL after 10 s          kill   SIGKILL at once (crash test; shims survive)
#   pid     print the pid if it is our containerd (exit 1 otherwise)
# Only ever signals the pid recorded in $E2E_RUN/containerd.pid, after checking that this pid is a
# containerd started with our config file.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
CFG=$E2E_RUN/containerd.toml

ours() {   # ours PID: a containerd started with --config $CFG
	local pid=$1
	[ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v containerd)")" ] &&
		tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$CFG"
}
cur() { local p; p=$(cat "$E2E_RUN/containerd.pid" 2>/dev/null) && ours "$p" && echo "$p"; }
wait_gone() {   # wait_gone PID SECS
	local i
	for ((i = 0; i < $2 * 20; i++)); do [ -e "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 0; sleep 0.05; done
	return 1
}

case ${1:-} in
start)
	[ -f "$CFG" ] || { echo "containerd.sh: $CFG missing (run up.sh)" >&2; exit 1; }
	if p=$(cur); then echo "containerd.sh: already running (pid $p)" >&2; exit 1; fi
	# setsid: its own session, so a ^C on the test does not hit it before down.sh runs
	setsid containerd --config "$CFG" </dev/null >>"$E2E_RUN/containerd.log" 2>&1 &
	pid=$!
	echo "$pid" > "$E2E_RUN/containerd.pid"
	for ((i = 0; i < 100; i++)); do ours "$pid" && exit 0; kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
	echo "containerd.sh: containerd did not start (see $E2E_RUN/containerd.log)" >&2; exit 1 ;;
stop)
	p=$(cur) || exit 0
	kill -TERM "$p"
	wait_gone "$p" 10 || { echo "containerd.sh: pid $p ignored SIGTERM, SIGKILL" >&2; kill -KILL "$p"; wait_gone "$p" 5; } ;;
kill)
	p=$(cur) || { echo "containerd.sh: not running" >&2; exit 1; }
	kill -KILL "$p"; wait_gone "$p" 5 ;;
pid)
	cur ;;
*)
	echo "usage: containerd.sh start|stop|kill|pid" >&2; exit 2 ;;
esac
