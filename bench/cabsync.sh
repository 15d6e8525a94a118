#!/usr/bin/env bash
# bench/cabsync.sh: how long does one catalog sync take on a full-size catalog?
# It builds waptserver, takes the full-size synthetic wsusscn2.cab of bench/catalog.sh
# (generated and cached in bench/out/ when missing), serves it from a local HTTP server
# (python3 -m http.server, the stand-in for Microsoft's) and times, median of $RUNS runs:
#   - curl: the download alone (the network floor);
#   - cabextract -t: one decompression of the outer cabinet (the decoding floor);
#   - waptserver catalog sync --force: the whole sync job (download, checks, catalog
#     read, publication, import into a fresh SQLite database), and from its log the
#     "check" phase (end of the download to the publication: cabinet test, signature,
#     catalog read) and the import;
# and prints the ratios sync / (curl + cabextract -t) and check / cabextract -t.
#
# Environment: UPDATES (136000), SEED (1), RUNS (3), WAPTSERVER (a prebuilt binary to
# time instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."

UPDATES=${UPDATES:-136000}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
OUT=bench/out
mkdir -p "$OUT"

for tool in cabextract curl python3 /usr/bin/time; do
	if ! command -v "$tool" >/dev/null; then
		echo "cabsync.sh: $tool is missing (apt-get install cabextract curl python3)" >&2
		exit 2
	fi
done

if [ -n "${WAPTSERVER:-}" ]; then
	BIN=$WAPTSERVER
	echo "== timing $BIN"
else
	echo "== building waptserver"
	BIN="$OUT/waptserver"
	go build -o "$BIN" ./cmd/waptserver
fi

CAB="$OUT/wsusscn2-synth-$UPDATES-$SEED.cab"
if [ ! -s "$CAB" ]; then
	echo "== generating $CAB ($UPDATES updates, seed $SEED; cached for later runs)"
	"$BIN" catalog synth --updates "$UPDATES" --seed "$SEED" -o "$CAB"
fi
ls -l "$CAB"

tmp=$(mktemp -d)
srv=""
cleanup() {
	if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/www"
ln "$CAB" "$tmp/www/wsusscn2.cab" 2>/dev/null || cp "$CAB" "$tmp/www/wsusscn2.cab"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" >"$tmp/http.log" 2>&1 &
srv=$!
for _ in $(seq 50); do
	curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$port/wsusscn2.cab" && break
	sleep 0.1
done
URL="http://127.0.0.1:$port/wsusscn2.cab"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f\n", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# phases LOG: seconds from "offline catalog downloaded" to "offline catalog published"
# (the checks and the catalog read) and from there to "catalog imported".
phases() {
	python3 - "$1" <<'PY'
import json, sys
from datetime import datetime
at = {}
for line in open(sys.argv[1]):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    t = rec.get("time", "")
    if "." in t:  # keep microseconds: fromisoformat takes at most 6 digits
        head, frac = t.split(".", 1)
        digits = "".join(c for c in frac if c.isdigit())
        t = head + "." + digits[:6] + frac[len(digits):]
    at.setdefault(rec.get("msg"), datetime.fromisoformat(t.replace("Z", "+00:00")))
d, p, i = at["offline catalog downloaded"], at["offline catalog published"], at["catalog imported"]
print("%.3f %.3f" % ((p - d).total_seconds(), (i - p).total_seconds()))
PY
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
: >"$tmp/curl.t"
: >"$tmp/cabx.t"
: >"$tmp/sync.t"
: >"$tmp/check.t"
: >"$tmp/import.t"
: >"$tmp/cpu.t"
for i in $(seq "$RUNS"); do
	t0=$(now)
	curl -sf -o "$tmp/dl.cab" "$URL"
	tc=$(elapsed "$t0")
	rm -f "$tmp/dl.cab"
	t0=$(now)
	cabextract -q -t "$CAB" >/dev/null
	tx=$(elapsed "$t0")
	data="$tmp/data$i"
	mkdir "$data"
	cat >"$tmp/waptserver.ini" <<INI
[options]
data = $data
wsusscn2_url = $URL
allowed_upstream_hosts = 127.0.0.1
cab_signature_check = False
INI
	t0=$(now)
	if ! /usr/bin/time -f "%U %S" -o "$tmp/sync.cpu" "$BIN" catalog sync --force --log-level info --config "$tmp/waptserver.ini" >"$tmp/sync.out" 2>"$tmp/sync.err"; then
		echo "cabsync.sh: catalog sync failed:" >&2
		cat "$tmp/sync.err" "$tmp/sync.out" >&2
		exit 1
	fi
	ts=$(elapsed "$t0")
	rm -rf "$data"
	read -r tk ti < <(phases "$tmp/sync.err")
	tu=$(awk '{printf "%.2f", $1 + $2}' "$tmp/sync.cpu")
	echo "$tu" >>"$tmp/cpu.t"
	echo "$tc" >>"$tmp/curl.t"
	echo "$tx" >>"$tmp/cabx.t"
	echo "$ts" >>"$tmp/sync.t"
	echo "$tk" >>"$tmp/check.t"
	echo "$ti" >>"$tmp/import.t"
	printf 'run %d: curl %.2fs, cabextract -t %.2fs, catalog sync %.2fs, %.2fs CPU (check %.2fs, import %.2fs; %s)\n' "$i" "$tc" "$tx" "$ts" "$tu" "$tk" "$ti" "$(cat "$tmp/sync.out")"
done
c=$(median <"$tmp/curl.t")
x=$(median <"$tmp/cabx.t")
s=$(median <"$tmp/sync.t")
k=$(median <"$tmp/check.t")
m=$(median <"$tmp/import.t")
u=$(median <"$tmp/cpu.t")
echo "== results ($RUNS runs, medians)"
printf 'download (curl)          %.2f s\n' "$c"
printf 'decode (cabextract -t)   %.2f s\n' "$x"
printf 'catalog sync             %.2f s\n' "$s"
printf '  CPU time (user+sys)  %.2f s on %d CPUs (less sensitive to other load than wall times)\n' "$u" "$(nproc)"
printf '  of which check phase   %.2f s (cabinet test, signature, catalog read)\n' "$k"
printf '  of which import        %.2f s\n' "$m"
printf 'ratio sync / (curl + cabextract -t)  %.2fx\n' "$(awk -v s="$s" -v c="$c" -v x="$x" 'BEGIN {print s / (c + x)}')"
printf 'ratio check / cabextract -t          %.2fx\n' "$(awk -v k="$k" -v x="$x" 'BEGIN {print k / x}')"
printf 'load average             %s before, %s after (%d CPUs)\n' "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" "$(nproc)"
