# A private clickhouse-server (Debian's clickhouse-server package) for the collector suites,
# sourced after tests/lib.sh and collector/lib.sh. Never the system service: its own config, data
# directory and free loopback ports, killed by PID on exit.
#   start_clickhouse NAME     sets <NAME>_URL (http://127.0.0.1:PORT), <NAME>_DIR, <NAME>_PID and
#                             <NAME>_CRED (a credentials file "podlens:PASSWORD" for the user
#                             podlens; the user default is disabled for the network)
CH_SERVER=${CH_SERVER:-/usr/sbin/clickhouse-server}

start_clickhouse() {   # start_clickhouse NAME
	local name=$1 dir http tcp inter pid pw
	[ -x "$CH_SERVER" ] || { echo "# $CH_SERVER missing: install deps/clickhouse.pkgs" >&2; return 1; }
	dir=$(mktemp -d "${TMPDIR:-/tmp}/podlens-ch-$name.XXXXXX")
	http=$(free_port); tcp=$(free_port); inter=$(free_port)
	pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mkdir -p "$dir/data" "$dir/tmp" "$dir/log"
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
	printf 'podlens:%s\n' "$pw" > "$dir/credentials"
	chmod 600 "$dir/credentials"
	"$CH_SERVER" --config-file="$dir/config.xml" >"$dir/log/stdout" 2>&1 &
	pid=$!
	# its threads may still be writing parts for a moment after the kill: remove until gone (bounded)
	defer "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; for i in \$(seq 50); do rm -rf '$dir' 2>/dev/null; [ -e '$dir' ] || break; sleep 0.1; done"
	eval "${name}_PID=$pid ${name}_DIR='$dir' ${name}_URL=http://127.0.0.1:$http ${name}_CRED='$dir/credentials'"
	if ! wait_for 60 "clickhouse $name answers /ping" curl -sf "http://127.0.0.1:$http/ping" -o /dev/null; then
		tail -20 "$dir/log/stdout" "$dir/log/error.log" >&2
		return 1
	fi
}

# ch_query NAME SQL: run SQL as user podlens (answers TabSeparated)
ch_query() {
	local url cred
	eval "url=\$${1}_URL cred=\$${1}_CRED"
	curl -sS --fail-with-body -u "$(cat "$cred")" --data-binary "$2" "$url/"
}
