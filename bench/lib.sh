# bench/lib.sh: shell functions shared by the bench scripts (sourced, not run).
# The caller sets: work (its work folder), bin (where waptserver is), SECRET (the
# enrollment secret), SCRIPT (its name, for messages), and declares server_pid="",
# pg_dir="", pg_bin="", as_pg=().
# shellcheck shell=bash
# shellcheck disable=SC2154 # the caller sets work, bin, SECRET, SCRIPT

log() { printf '%s\n' "$*" >&2; }
die() {
	log "$SCRIPT: $*"
	exit 1
}

stop_server() {
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}

stop_pg() {
	if [ -n "$pg_dir" ] && [ -f "$pg_dir/data/postmaster.pid" ]; then
		(cd "$pg_dir" && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1) || true
	fi
	if [ -n "$pg_dir" ]; then
		rm -rf "$pg_dir"
		pg_dir=""
	fi
}
# median: the median of the numbers on stdin.
median() {
	sort -g | awk '{v[NR] = $1} END {if (NR == 0) {print "nan"} else if (NR % 2) {print v[(NR + 1) / 2]} else {print (v[NR / 2] + v[NR / 2 + 1]) / 2}}'
}

# jget FIELD: a number field of the JSON summary line on stdin.
jget() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }

# --- PostgreSQL -----------------------------------------------------------------------

find_pg_bin() {
	local p
	if p=$(command -v initdb 2>/dev/null); then
		p=$(dirname "$(readlink -f "$p")")
		if [ -x "$p/pg_ctl" ] && [ -x "$p/psql" ]; then
			echo "$p"
			return 0
		fi
	fi
	p=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$p" ] && [ -x "$p/initdb" ] && [ -x "$p/pg_ctl" ]; then
		echo "$p"
		return 0
	fi
	return 1
}

# start_pg: a private cluster in $pg_dir, listening on a Unix socket there only.
start_pg() {
	if ! pg_bin=$(find_pg_bin); then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			log "== installing PostgreSQL (apt-get install postgresql)"
			export DEBIAN_FRONTEND=noninteractive
			apt-get install -y -q --no-install-recommends postgresql >"$work/apt.log" 2>&1 ||
				{ apt-get update -q >>"$work/apt.log" 2>&1 && apt-get install -y -q --no-install-recommends postgresql >>"$work/apt.log" 2>&1; } ||
				{ cat "$work/apt.log" >&2; return 1; }
			pg_bin=$(find_pg_bin) || return 1
		else
			log "$SCRIPT: no PostgreSQL (initdb) and not root: install the Debian package postgresql for the PostgreSQL runs"
			return 1
		fi
	fi
	# A short path: a Unix socket name is limited to about 100 bytes.
	pg_dir=$(mktemp -d /tmp/bench-pg.XXXXXX)
	chmod 755 "$pg_dir"
	as_pg=()
	if [ "$(id -u)" = 0 ]; then # postgres refuses to run as root
		chown nobody:"$(id -gn nobody)" "$pg_dir"
		if command -v runuser >/dev/null; then
			as_pg=(runuser -u nobody --)
		else
			as_pg=(setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups)
		fi
	fi
	if ! (cd "$pg_dir" && "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --locale=C) >"$pg_dir/initdb.log" 2>&1; then
		cat "$pg_dir/initdb.log" >&2
		return 1
	fi
	if ! (cd "$pg_dir" && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 120 \
		-o "-k $pg_dir -c listen_addresses='' -c max_connections=200" start) >"$pg_dir/pg_ctl.log" 2>&1; then
		cat "$pg_dir/pg_ctl.log" "$pg_dir/postgres.log" >&2
		return 1
	fi
	log "== PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') running in $pg_dir (socket only)"
}

# psql_on DB ARGS...: psql as the cluster's superuser.
psql_on() {
	local db=$1
	shift
	PGOPTIONS="-c client_min_messages=warning" "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pg_dir" -p 5432 -U postgres -d "$db" "$@"
}

pg_url() { echo "postgres://postgres@/$1?host=$pg_dir&port=5432&sslmode=disable"; }

# --- the server -------------------------------------------------------------------------

# start_server DIR [DB_URL]: waptserver serve --no-jobs on a free port; sets server_url.
start_server() {
	local dir=$1 db=${2:-}
	mkdir -p "$dir"
	{
		echo "[options]"
		echo "listen = 127.0.0.1:0"
		echo "enrollment_secret = $SECRET"
		if [ -n "$db" ]; then echo "db_url = $db"; fi
	} >"$dir/waptserver.ini"
	"$bin/waptserver" serve --no-jobs --config "$dir/waptserver.ini" --data "$dir/data" >"$dir/server.out" 2>"$dir/server.log" &
	server_pid=$!
	server_url=""
	for _ in $(seq 1 600); do
		server_url=$(sed -n 's/.*"msg":"waptserver listening".*"url":"\([^"]*\)".*/\1/p' "$dir/server.log" | head -n 1)
		[ -n "$server_url" ] && return 0
		if ! kill -0 "$server_pid" 2>/dev/null; then
			cat "$dir/server.log" >&2
			server_pid=""
			die "waptserver did not start (log above)"
		fi
		sleep 0.1
	done
	die "waptserver did not listen within 60 s (log: $dir/server.log)"
}

# cleanup stops the server and PostgreSQL and removes $work (kept with KEEP=1); the
# scripts install it with trap.
cleanup() {
	stop_server
	stop_pg
	if [ "${KEEP:-0}" = 1 ]; then
		log "work folder kept: $work"
	else
		rm -rf "$work"
	fi
}
