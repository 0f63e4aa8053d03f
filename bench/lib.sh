# bench/lib.sh: what the bench scripts share (sourced; the caller defines die).
#   cg2_root                 the cgroup2 hierarchy (unified of a hybrid host, or /sys/fs/cgroup)
#   ports_free tcp|udp PORT...   die unless nobody listens there
#   nginx_conf DIR PORT WWW [http2]   DIR/nginx.conf of the bench's nginx: 1 worker on CPU1,
#                            keep-alive allowed, WWW served, temp files and logs under DIR
#   stop_pid PID             SIGTERM, bounded wait, then SIGKILL (only the caller's own children)
#   pair_start / pair_stop   the two identical nginx servers of the A/B benches (bench/ab.sh,
#                            bench/ab_agent.sh): a on PORT, b on PORT+1, each in its cgroup
#                            $(cg a) / $(cg b); the caller defines cg, W (its work directory),
#                            PORT, NGINX and the array NGINX_PIDS (filled here).

cg2_root() {
	if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then echo /sys/fs/cgroup/unified
	elif [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then echo /sys/fs/cgroup
	else die "no cgroup2 hierarchy"; fi
}

ports_free() {
	local proto=$1 p flag=-Hltn
	shift
	[ "$proto" = udp ] && flag=-Hlun
	for p in "$@"; do
		if ss $flag "sport = :$p" | grep -q .; then die "$proto port $p busy (PORT=...)"; fi
	done
	return 0
}

stop_pid() {   # stop_pid PID: SIGTERM, bounded wait, then SIGKILL; only our own children
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

nginx_conf() {
	local d=$1 port=$2 www=$3 h2=${4:-}
	mkdir -p "$d/tmp" "$d/logs"
	cat > "$d/nginx.conf" <<EOC
worker_processes 1;
worker_cpu_affinity 10;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; use epoll; multi_accept off; }
http {
    access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 1000000; keepalive_timeout 65; open_file_cache max=100 inactive=60s;
    client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy; fastcgi_temp_path $d/tmp/fcgi;
    uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
    types { text/html html; }
    server { listen 127.0.0.1:$port $h2; root $www; location / { index index.html; } }
}
EOC
}

pair_start() {
	local s d port ok i
	chmod 755 "$W"
	mkdir -p "$W/www"
	head -c 1024 /dev/zero | tr '\0' 'a' > "$W/www/index.html"
	for s in a b; do
		d=$W/$s port=$PORT
		[ $s = b ] && port=$((PORT + 1))
		nginx_conf "$d" "$port" "$W/www"
		sh -c "echo \$\$ > '$(cg $s)/cgroup.procs' && exec taskset -c 1 '$NGINX' -c '$d/nginx.conf' -p '$d/'" \
			2> "$d/logs/stderr" &
		NGINX_PIDS+=($!)
		ok=
		for i in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && ok=1 && break; sleep 0.1; done
		[ -n "$ok" ] || die "nginx $s did not come up: $(cat "$d/logs/stderr")"
	done
}

# stop the servers (by PID) and remove the cgroups a, b, ca, cb (rmdir retried while they empty)
pair_stop() {
	local p c i
	for p in "${NGINX_PIDS[@]}"; do kill -QUIT "$p" 2>/dev/null; done
	for p in "${NGINX_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for c in a b ca cb; do
		for i in $(seq 20); do rmdir "$(cg $c)" 2>/dev/null && break; [ -d "$(cg $c)" ] || break; sleep 0.1; done
	done
}
