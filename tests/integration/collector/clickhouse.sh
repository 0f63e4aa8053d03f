# A private clickhouse-server (Debian's clickhouse-server package) for the collector suites,
# sourced after tests/lib.sh and collector/lib.sh. Never the system service: its own config, data
# directory and free loopback ports, killed by PID on exit.
#   start_clickhouse NAME     sets <NAME>_URL (http://127.0.0.1:PORT), <NAME>_DIR, <NAME>_PID,
#                             <NAME>_TCP and <NAME>_CRED (a credentials file "podlens:PASSWORD" for
#                             the user podlens; the user default is disabled for the network)
#   start_clickhouse_cluster CLUSTER NAME...
#                             one server per NAME (as start_clickhouse), each a shard of the
#                             cluster CLUSTER in every server's remote_servers (no ZooKeeper: shards
#                             are not replicated); one password for podlens on all of them, which
#                             the Distributed engine uses between shards
# Ports: free loopback ports, taken upwards from CH_PORT_BASE when it is set (a range of one's
# own on a shared machine), else any the kernel hands out.
CH_SERVER=${CH_SERVER:-/usr/sbin/clickhouse-server}

ch_port() {   # ch_port: a free loopback port (from CH_PORT_BASE upwards when set)
	if [ -z "${CH_PORT_BASE:-}" ]; then free_port; return; fi
	"$PY" - "$CH_PORT_BASE" <<'PY'
import socket, sys
base = int(sys.argv[1])
for p in range(base, base + 200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
else:
    sys.exit(1)
PY
}

ch_alloc() {   # ch_alloc NAME PASSWORD: directory and ports of a server, not started
	local name=$1 pw=$2 dir http tcp inter
	dir=$(mktemp -d "${TMPDIR:-/tmp}/podlens-ch-$name.XXXXXX")
	# each port taken is held by the next call's search only once bound: step the base past it
	http=$(ch_port) || return 1; [ -n "${CH_PORT_BASE:-}" ] && CH_PORT_BASE=$((http + 1))
	tcp=$(ch_port) || return 1; [ -n "${CH_PORT_BASE:-}" ] && CH_PORT_BASE=$((tcp + 1))
	inter=$(ch_port) || return 1; [ -n "${CH_PORT_BASE:-}" ] && CH_PORT_BASE=$((inter + 1))
	mkdir -p "$dir/data" "$dir/tmp" "$dir/log"
	printf 'podlens:%s\n' "$pw" > "$dir/credentials"
	chmod 600 "$dir/credentials"
	eval "${name}_DIR='$dir' ${name}_URL=http://127.0.0.1:$http ${name}_HTTP_PORT=$http ${name}_TCP=$tcp"
	eval "${name}_INTER=$inter ${name}_CRED='$dir/credentials' ${name}_PW=$pw"
}

ch_write_config() {   # ch_write_config NAME [REMOTE_SERVERS_XML]
	local name=$1 extra=${2:-} dir http tcp inter pw
	eval "dir=\$${name}_DIR http=\$${name}_HTTP_PORT tcp=\$${name}_TCP inter=\$${name}_INTER pw=\$${name}_PW"
	cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog></logger>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <interserver_http_port>$inter</interserver_http_port>
    <listen_host>127.0.0.1</listen_host>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/tmp/</user_files_path>
    <format_schema_path>$dir/tmp/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>67108864</mark_cache_size>
    <max_concurrent_queries>64</max_concurrent_queries>
$extra
</yandex>
XML
	cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users>
        <default><password></password><networks><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
        <podlens><password>$pw</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></podlens>
    </users>
    <quotas><default></default></quotas>
</yandex>
XML
}

ch_launch() {   # ch_launch NAME: start the configured server, wait for /ping
	local name=$1 dir http pid
	eval "dir=\$${name}_DIR http=\$${name}_HTTP_PORT"
	[ -x "$CH_SERVER" ] || { echo "# $CH_SERVER missing: install deps/clickhouse.pkgs" >&2; return 1; }
	"$CH_SERVER" --config-file="$dir/config.xml" >"$dir/log/stdout" 2>&1 &
	pid=$!
	# its threads may still be writing parts for a moment after the kill: remove until gone
	# (bounded; the loop variable is not i, which _run_deferred's loop over the deferred uses)
	defer "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; for _chi in \$(seq 50); do rm -rf '$dir' 2>/dev/null; [ -e '$dir' ] || break; sleep 0.1; done"
	eval "${name}_PID=$pid"
	if ! wait_for 60 "clickhouse $name answers /ping" curl -sf "http://127.0.0.1:$http/ping" -o /dev/null; then
		tail -20 "$dir/log/stdout" "$dir/log/error.log" >&2
		return 1
	fi
}

ch_password() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

start_clickhouse() {   # start_clickhouse NAME
	ch_alloc "$1" "$(ch_password)" && ch_write_config "$1" && ch_launch "$1"
}

start_clickhouse_cluster() {   # start_clickhouse_cluster CLUSTER NAME...
	local cluster=$1 pw n tcp xml; shift
	pw=$(ch_password)
	for n in "$@"; do ch_alloc "$n" "$pw" || return 1; done
	xml="    <remote_servers><$cluster>"
	for n in "$@"; do
		eval "tcp=\$${n}_TCP"
		xml+="<shard><replica><host>127.0.0.1</host><port>$tcp</port><user>podlens</user><password>$pw</password></replica></shard>"
	done
	xml+="</$cluster></remote_servers>"
	for n in "$@"; do ch_write_config "$n" "$xml" && ch_launch "$n" || return 1; done
}

# ch_query NAME SQL: run SQL as user podlens (answers TabSeparated)
ch_query() {
	local url cred
	eval "url=\$${1}_URL cred=\$${1}_CRED"
	curl -sS --fail-with-body -u "$(cat "$cred")" --data-binary "$2" "$url/"
}
