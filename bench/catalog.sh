#!/usr/bin/env bash
# bench/catalog.sh: how fast and how lean is "waptserver catalog stats" on a full-size
# catalog? It builds waptserver, generates a full-size synthetic wsusscn2.cab (cached in
# bench/out/), then times "catalog stats" against "cabextract -t" of the same file (the
# decompression floor: cabextract only tests the outer cabinet), median of $RUNS runs,
# and prints the ratio (target <= 1.5x) and the peak RSS of "catalog stats" from
# /usr/bin/time -v (target <= 256 MiB).
#
# Environment: UPDATES (136000), SEED (1), RUNS (3), SYNTH_FLAGS (extra flags for
# "catalog synth", e.g. "--single-folder"), STRICT=1 to exit 1 when a target is missed.
#
# The two commands run in turn, so that both meet the same load; the load average is
# printed before and after. On a busy machine (other sessions running) the wall
# times say less than the CPU times: the kernel shares the CPUs between sessions, so
# that the two threads of "catalog stats" may get no more CPU than cabextract's one.
set -euo pipefail
cd "$(dirname "$0")/.."

UPDATES=${UPDATES:-136000}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
SYNTH_FLAGS=${SYNTH_FLAGS:-}
OUT=bench/out
mkdir -p "$OUT"

for tool in cabextract /usr/bin/time; do
	if ! command -v "$tool" >/dev/null; then
		echo "catalog.sh: $tool is missing (apt-get install cabextract time)" >&2
		exit 2
	fi
done

echo "== building waptserver"
go build -o "$OUT/waptserver" ./cmd/waptserver

tag=$(printf '%s-%s%s' "$UPDATES" "$SEED" "$SYNTH_FLAGS" | tr -c 'A-Za-z0-9-' '_')
CAB="$OUT/wsusscn2-synth-$tag.cab"
if [ ! -s "$CAB" ]; then
	echo "== generating $CAB ($UPDATES updates, seed $SEED; cached for later runs)"
	# shellcheck disable=SC2086
	/usr/bin/time -f "synth: %e s, peak RSS %M KiB" "$OUT/waptserver" catalog synth --updates "$UPDATES" --seed "$SEED" $SYNTH_FLAGS -o "$CAB"
else
	echo "== using cached $CAB"
fi
ls -l "$CAB"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME CMD...: wall time in seconds on stdout, peak RSS (KiB) in $tmp/NAME.rss
run() {
	local name=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	if ! /usr/bin/time -v -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		echo "catalog.sh: $name failed:" >&2
		cat "$tmp/$name.err" "$tmp/$name.out" >&2
		exit 1
	fi
	t1=$(date +%s.%N)
	awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/$name.time" >"$tmp/$name.rss"
	awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f\n", s}' "$tmp/$name.time" >"$tmp/$name.cpu"
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
: >"$tmp/cabextract.times"
: >"$tmp/stats.times"
: >"$tmp/stats.rsss"
: >"$tmp/cabextract.cpus"
: >"$tmp/stats.cpus"
for i in $(seq "$RUNS"); do
	t=$(run cabextract cabextract -q -t "$CAB")
	echo "$t" >>"$tmp/cabextract.times"
	cat "$tmp/cabextract.cpu" >>"$tmp/cabextract.cpus"
	t2=$(run stats "$OUT/waptserver" catalog stats "$CAB")
	echo "$t2" >>"$tmp/stats.times"
	cat "$tmp/stats.rss" >>"$tmp/stats.rsss"
	cat "$tmp/stats.cpu" >>"$tmp/stats.cpus"
	printf 'run %d: cabextract -t %.2fs (%.2fs CPU), catalog stats %.2fs (%.2fs CPU), peak RSS %d KiB\n' \
		"$i" "$t" "$(cat "$tmp/cabextract.cpu")" "$t2" "$(cat "$tmp/stats.cpu")" "$(cat "$tmp/stats.rss")"
done
echo "== catalog stats output (last run)"
cat "$tmp/stats.out"

floor=$(median <"$tmp/cabextract.times")
ours=$(median <"$tmp/stats.times")
floor_cpu=$(median <"$tmp/cabextract.cpus")
ours_cpu=$(median <"$tmp/stats.cpus")
rss_kib=$(sort -g "$tmp/stats.rsss" | tail -1)
ratio=$(awk -v a="$ours" -v b="$floor" 'BEGIN {printf "%.3f", a / b}')
rss_mib=$(awk -v a="$rss_kib" 'BEGIN {printf "%.1f", a / 1024}')
echo "== results ($RUNS runs, medians)"
printf 'cabextract -t (floor)   %.2f s\n' "$floor"
printf 'catalog stats           %.2f s\n' "$ours"
printf 'ratio                   %.2fx (target <= 1.5x)\n' "$ratio"
printf 'CPU time (user+sys)     cabextract %.2f s, catalog stats %.2f s on %d CPUs (a loaded machine inflates wall times)\n' "$floor_cpu" "$ours_cpu" "$(nproc)"
printf 'peak RSS catalog stats  %.0f MiB (target <= 256 MiB)\n' "$rss_mib"
printf 'load average            %s before, %s after (%d CPUs)\n' "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" "$(nproc)"

missed=0
if awk -v r="$ratio" 'BEGIN {exit !(r > 1.5)}'; then echo "ratio target missed"; missed=1; fi
if [ "$rss_kib" -gt 262144 ]; then echo "memory target missed"; missed=1; fi
if [ "$missed" = 1 ] && [ "${STRICT:-0}" = 1 ]; then exit 1; fi
exit 0
