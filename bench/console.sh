#!/usr/bin/env bash
# bench/console.sh: does the console stay fast with a large fleet? For each backend it
# starts "waptserver serve --no-jobs" on a fresh SQLite data folder or PostgreSQL
# database, loads HOSTS hosts x UPDATES statuses through the agent API ("wuafleet
# ingest": real registrations and lean, gzipped full reports over HTTP, as agents send
# them; timed and printed), then times every console page and admin API list route
# ("wuafleet pages": dashboard, updates with and without filters, the most-needed
# update's detail, hosts with filters, host detail, CSV exports), RUNS requests each in a
# row, and prints per route the cold (first) time, p50 and p95 of the others. Target:
# p95 < 200 ms at 100,000 hosts.
#
# PostgreSQL is a private cluster (bench/lib.sh, as in bench/ingest.sh).
#
# Environment: HOSTS (100000), UPDATES (150), POOL (0: 2 x UPDATES synthetic updates),
# CONCURRENCY (32), RUNS (20 requests per route), BACKENDS ("postgres sqlite"), SEED (1),
# KEEP=1 to keep the work folder.
# Quick check: HOSTS=2000 bench/console.sh
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${HOSTS:-100000}
UPDATES=${UPDATES:-150}
POOL=${POOL:-0}
CONCURRENCY=${CONCURRENCY:-32}
RUNS=${RUNS:-20}
BACKENDS=${BACKENDS:-postgres sqlite}
SEED=${SEED:-1}
KEEP=${KEEP:-0}
SCRIPT=console.sh
SECRET=bench-enrollment-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
PASSWORD=bench-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

work=$(mktemp -d "${TMPDIR:-/tmp}/console-bench.XXXXXX")
bin=$work/bin
server_pid=""
pg_dir=""
pg_bin=""
as_pg=()
# shellcheck source=bench/lib.sh
. bench/lib.sh

trap cleanup EXIT
trap 'exit 130' INT TERM

log "== console benchmark: $HOSTS hosts x $UPDATES updates, $RUNS requests per route, backends: $BACKENDS"
log "   machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
mkdir -p "$bin"
go build -o "$bin/waptserver" ./cmd/waptserver
go build -o "$bin/wuafleet" ./cmd/wuafleet
printf '%s\n' "$PASSWORD" >"$work/password"
chmod 600 "$work/password"

for backend in $BACKENDS; do
	dir=$work/$backend
	db=""
	case $backend in
	sqlite) ;;
	postgres)
		if [ -z "$pg_dir" ]; then start_pg || die "PostgreSQL unavailable"; fi
		psql_on postgres -c "CREATE DATABASE wapt_console"
		db=$(pg_url wapt_console)
		;;
	*) die "BACKENDS: unknown backend $backend (sqlite, postgres)" ;;
	esac
	start_server "$dir" "$db"
	"$bin/waptserver" user add bench --role admin --password-stdin --config "$dir/waptserver.ini" --data "$dir/data" <"$work/password" >/dev/null
	log "== $backend: loading $HOSTS hosts through $server_url ($(uptime | sed 's/.*load average/load average/'))"
	if ! "$bin/wuafleet" ingest --server "$server_url" --secret "$SECRET" --hosts "$HOSTS" --updates "$UPDATES" \
		--pool "$POOL" --concurrency "$CONCURRENCY" --seed "$SEED" --synthetic --progress 60s \
		>"$dir/ingest.out" 2>"$dir/ingest.log"; then
		cat "$dir/ingest.log" "$dir/ingest.out" >&2
		die "$backend: wuafleet ingest failed"
	fi
	sed -e "s/^/  [$backend load] /" "$dir/ingest.out" | grep -v '^  \[[^]]*\] {' >&2
	if [ "$backend" = postgres ]; then
		log "   database size: $(psql_on wapt_console -At -c "SELECT pg_size_pretty(pg_database_size('wapt_console'))")"
	else
		log "   database size: $(du -sh "$dir/data" | cut -f1)"
	fi
	log "== $backend: timing the pages ($(uptime | sed 's/.*load average/load average/'))"
	if ! "$bin/wuafleet" pages --server "$server_url" --user bench --password-file "$work/password" --runs "$RUNS" \
		>"$dir/pages.out" 2>"$dir/pages.log"; then
		cat "$dir/pages.log" >&2
		tail -n 20 "$dir/server.log" >&2
		die "$backend: wuafleet pages failed"
	fi
	stop_server
	if [ "$backend" = postgres ]; then psql_on postgres -c "DROP DATABASE wapt_console"; fi
	echo
	echo "$backend, $HOSTS hosts x $UPDATES statuses, $RUNS requests per route ($(uptime | sed 's/.*load average/load average/'))"
	grep -v '^\[' "$dir/pages.out"
	p95max=$(grep '^\[' "$dir/pages.out" | tr ',' '\n' | sed -n 's/.*"p95_ms":\([0-9.]*\).*/\1/p' | sort -g | tail -n 1)
	echo "$backend: slowest p95 $p95max ms (target < 200 ms)"
done
