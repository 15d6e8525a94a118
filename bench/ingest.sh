#!/usr/bin/env bash
# bench/ingest.sh: how fast does waptserver ingest agent reports, on SQLite and on
# PostgreSQL, against the floor of a PostgreSQL COPY of the same rows?
#
# It builds waptserver and wuafleet, then for each backend starts
# "waptserver serve --no-jobs" on a free port (listen 127.0.0.1:0) with a fresh data
# folder (SQLite) or a fresh database (PostgreSQL, db_url) and an enrollment secret, and
# runs "wuafleet ingest --hosts $HOSTS --updates $UPDATES": HOSTS hosts register, then
# each posts one full report of UPDATES statuses over keep-alive HTTP. The reference is a
# PostgreSQL "\copy" of the very rows wuafleet sent (its --csv) into an equivalent table
# (same primary key and secondary index as the server's host_updates), timed here.
# It prints per backend: reports/s, statuses/s, p99 latency, ingest seconds and the ratio
# ingest time / COPY time (medians over RUNS runs; registration is not counted).
#
# PostgreSQL is a private cluster in a temporary folder, on a Unix socket only, with the
# server's default durability settings, run as "nobody" when this script runs as root.
# When initdb is missing, root installs the Debian package postgresql with apt-get;
# others get SQLite only.
#
# Reports are lean and gzipped, as the agent sends them (wuafleet --lean --gzip; the
# server asks for the description of the updates it does not know, which the first hosts
# send). With AGAIN=1 (the default) every host then sends the same report once more: the
# unchanged-report path, printed apart (reports/s, p99).
#
# Environment: HOSTS (10000), UPDATES (150), CONCURRENCY (32), RUNS (1; 3 for medians),
# BACKENDS ("sqlite postgres"), CATALOG (a "waptserver catalog dump" file to take update
# ids from; default synthetic ones), POOL (distinct updates in the fleet; default
# 2 x UPDATES, or the whole CATALOG), SEED (1), KEEP=1 to keep the work folder,
# AGAIN (1), FLEET_ARGS (more wuafleet ingest arguments, e.g. "--lean=false --gzip=false"),
# WAPTSERVER and WUAFLEET (prebuilt binaries to time instead of building them, e.g. an
# older version's: then set AGAIN=0 if its wuafleet has no --again).
# Quick check: HOSTS=1000 bench/ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${HOSTS:-10000}
UPDATES=${UPDATES:-150}
CONCURRENCY=${CONCURRENCY:-32}
RUNS=${RUNS:-1}
BACKENDS=${BACKENDS:-sqlite postgres}
CATALOG=${CATALOG:-}
POOL=${POOL:-0}
SEED=${SEED:-1}
KEEP=${KEEP:-0}
AGAIN=${AGAIN:-1}
FLEET_ARGS=${FLEET_ARGS:-}
WAPTSERVER=${WAPTSERVER:-}
WUAFLEET=${WUAFLEET:-}
SCRIPT=ingest.sh
SECRET=bench-enrollment-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

work=$(mktemp -d "${TMPDIR:-/tmp}/ingest-bench.XXXXXX")
bin=$work/bin
csv=$work/statuses.csv
server_pid=""
pg_dir=""
pg_bin=""
as_pg=()

# shellcheck source=bench/lib.sh
. bench/lib.sh

trap cleanup EXIT
trap 'exit 130' INT TERM

# ingest NAME DIR: one wuafleet run against the running server; the JSON line in DIR.
ingest() {
	local name=$1 dir=$2
	local args=(ingest --server "$server_url" --secret "$SECRET" --hosts "$HOSTS" --updates "$UPDATES"
		--concurrency "$CONCURRENCY" --seed "$SEED" --pool "$POOL" --progress 30s)
	if [ -n "$CATALOG" ]; then args+=(--catalog "$CATALOG"); else args+=(--synthetic); fi
	if [ ! -s "$csv" ]; then args+=(--csv "$csv"); fi
	if [ "$AGAIN" = 1 ]; then args+=(--again); fi
	# shellcheck disable=SC2206 # FLEET_ARGS is split on purpose
	args+=($FLEET_ARGS)
	if ! "$bin/wuafleet" "${args[@]}" >"$dir/wuafleet.out" 2>"$dir/wuafleet.log"; then
		cat "$dir/wuafleet.log" "$dir/wuafleet.out" >&2
		tail -n 20 "$dir/server.log" >&2
		die "$name: wuafleet failed (above: its log, then the server's last lines)"
	fi
	sed -e "s/^/  [$name] /" "$dir/wuafleet.out" | grep -v '^  \[[^]]*\] {' >&2
	grep '^{' "$dir/wuafleet.out" | tail -n 1 >"$dir/summary.json"
}

record() { # record BACKEND FILE: append the run's figures to $work/BACKEND.runs
	local f=$2
	printf '%s %s %s %s %s %s\n' "$(jget reports_per_s <"$f")" "$(jget statuses_per_s <"$f")" \
		"$(jget p99_ms <"$f")" "$(jget ingest_s <"$f")" "$(jget again_reports_per_s <"$f")" "$(jget again_p99_ms <"$f")" >>"$work/$1.runs"
}

# --- main -------------------------------------------------------------------------------

log "== ingest benchmark: $HOSTS hosts x $UPDATES updates = $((HOSTS * UPDATES)) statuses, concurrency $CONCURRENCY, $RUNS run(s), backends: $BACKENDS"
log "   machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
mkdir -p "$bin"
log "== building waptserver and wuafleet"
if [ -n "$WAPTSERVER" ]; then cp "$WAPTSERVER" "$bin/waptserver"; else go build -o "$bin/waptserver" ./cmd/waptserver; fi
if [ -n "$WUAFLEET" ]; then cp "$WUAFLEET" "$bin/wuafleet"; else go build -o "$bin/wuafleet" ./cmd/wuafleet; fi

have_pg=0
if start_pg; then
	have_pg=1
else
	log "ingest.sh: PostgreSQL unavailable: no PostgreSQL run, no COPY reference"
fi

for run in $(seq 1 "$RUNS"); do
	for backend in $BACKENDS; do
		dir=$work/$backend-$run
		case $backend in
		sqlite)
			start_server "$dir"
			;;
		postgres)
			[ "$have_pg" = 1 ] || continue
			psql_on postgres -c "CREATE DATABASE wapt_run$run"
			start_server "$dir" "$(pg_url "wapt_run$run")"
			;;
		*) die "BACKENDS: unknown backend $backend (sqlite, postgres)" ;;
		esac
		log "== $backend run $run/$RUNS: server $server_url ($(uptime | sed 's/.*load average/load average/'))"
		ingest "$backend-$run" "$dir"
		stop_server
		record "$backend" "$dir/summary.json"
		if [ "$backend" = postgres ]; then
			psql_on postgres -c "DROP DATABASE wapt_run$run"
		fi
	done
done

copy_s=nan
if [ "$have_pg" = 1 ] && [ -s "$csv" ]; then
	rows=$(($(wc -l <"$csv") - 1))
	for run in $(seq 1 "$RUNS"); do
		psql_on postgres -c "DROP DATABASE IF EXISTS copyref" -c "CREATE DATABASE copyref"
		# The server's host_updates holds the same facts keyed by host and update numbers;
		# here the keys are the UUIDs themselves, with the same constraints and indexes.
		psql_on copyref -c "CREATE TABLE host_updates_ref (
			host_uuid uuid NOT NULL,
			update_id uuid NOT NULL,
			revision_number integer NOT NULL,
			status text NOT NULL CHECK (status IN ('OK', 'PENDING', 'MISSING', 'DISCARDED', 'ERROR', 'SUPERSEDED')),
			reason text NOT NULL DEFAULT '',
			installed_at timestamptz,
			last_error text NOT NULL DEFAULT '',
			changed_at timestamptz NOT NULL,
			PRIMARY KEY (host_uuid, update_id, revision_number));
			CREATE INDEX host_updates_ref_update ON host_updates_ref (update_id, revision_number, status);"
		t0=$(date +%s.%N)
		psql_on copyref -c "\\copy host_updates_ref FROM '$csv' WITH (FORMAT csv, HEADER true, FORCE_NOT_NULL (reason, last_error))"
		t1=$(date +%s.%N)
		n=$(psql_on copyref -At -c "SELECT count(*) FROM host_updates_ref")
		[ "$n" = "$rows" ] || die "COPY: $n rows in the table, $rows in $csv"
		awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}' >>"$work/copy.runs"
		log "== COPY run $run/$RUNS: $rows rows in $(tail -n 1 "$work/copy.runs") s"
	done
	psql_on postgres -c "DROP DATABASE copyref"
	copy_s=$(median <"$work/copy.runs")
fi

echo
echo "ingest of $HOSTS reports x $UPDATES statuses ($((HOSTS * UPDATES)) rows), concurrency $CONCURRENCY, median of $RUNS run(s)"
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/') at the end"
printf '%-10s %11s %12s %9s %10s %9s %12s\n' backend reports/s statuses/s p99_ms ingest_s copy_s ingest/copy
for backend in $BACKENDS; do
	[ -s "$work/$backend.runs" ] || continue
	rps=$(awk '{print $1}' "$work/$backend.runs" | median)
	sps=$(awk '{print $2}' "$work/$backend.runs" | median)
	p99=$(awk '{print $3}' "$work/$backend.runs" | median)
	tot=$(awk '{print $4}' "$work/$backend.runs" | median)
	ratio=$(awk -v a="$tot" -v b="$copy_s" 'BEGIN {if (b == "nan" || b <= 0) print "n/a"; else printf "%.1fx", a / b}')
	printf '%-10s %11.1f %12.0f %9.1f %10.2f %9s %12s\n' "$backend" "$rps" "$sps" "$p99" "$tot" "$copy_s" "$ratio"
done
if [ "$AGAIN" = 1 ]; then
	echo "the same reports again (unchanged), median of $RUNS run(s):"
	printf '%-10s %11s %9s\n' backend reports/s p99_ms
	for backend in $BACKENDS; do
		[ -s "$work/$backend.runs" ] || continue
		printf '%-10s %11.1f %9.1f\n' "$backend" "$(awk '{print $5}' "$work/$backend.runs" | median)" "$(awk '{print $6}' "$work/$backend.runs" | median)"
	done
fi
