#!/usr/bin/env bash
# Decode-only speed of `waptserver cab test` against cabextract -t and 7z t on the same
# LZX cabinet (>= 1 GiB of realistic output made by our encoder). Median of 5 runs each,
# printed as ratios; plus the peak RSS of a full decode by waptserver.
# Usage: bench/cab.sh [SIZE_BYTES]   (default 1 GiB + 64 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-$((1024*1024*1024 + 64*1024*1024))}
runs=${RUNS:-5}
out=bench/out
mkdir -p "$out"
for tool in cabextract 7z; do
	command -v $tool >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq cabextract p7zip-full >/dev/null; }
done
# WAPTSERVER=path uses a prebuilt binary instead of building this checkout.
if [ -n "${WAPTSERVER:-}" ]; then cp "$WAPTSERVER" "$out/waptserver"; else go build -o "$out/waptserver" ./cmd/waptserver; fi
cabfile="$out/lzx-$size.cab"
if [ ! -f "$cabfile" ]; then
	echo "generating $cabfile ($size bytes of realistic content, LZX window 2^21)..."
	go run ./bench/mklzxcab -o "$cabfile" -size "$size"
fi
ls -l "$cabfile"

# run NAME CMD...: time one command (wall seconds and peak RSS in KiB), output discarded.
measure() {
	/usr/bin/time -f '%e %M' -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt" || {
		echo "command failed: $*"; cat "$out/stderr.txt"; exit 1; }
	cat "$out/time.txt"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A secs rss
for name in waptserver cabextract 7z; do
	: >"$out/$name.times"; : >"$out/$name.rss"
done
for i in $(seq 1 "$runs"); do
	# interleave the tools so that machine noise hits them alike
	read -r s m < <(measure "$out/waptserver" cab test "$cabfile"); echo "$s" >>"$out/waptserver.times"; echo "$m" >>"$out/waptserver.rss"
	read -r s m < <(measure cabextract -t -q "$cabfile"); echo "$s" >>"$out/cabextract.times"; echo "$m" >>"$out/cabextract.rss"
	read -r s m < <(measure 7z t "$cabfile"); echo "$s" >>"$out/7z.times"; echo "$m" >>"$out/7z.rss"
	echo "run $i: waptserver $(tail -1 $out/waptserver.times)s cabextract $(tail -1 $out/cabextract.times)s 7z $(tail -1 $out/7z.times)s"
done
for name in waptserver cabextract 7z; do
	secs[$name]=$(median <"$out/$name.times")
	rss[$name]=$(sort -n "$out/$name.rss" | tail -1)
done
echo
printf '%-12s %10s %14s\n' tool "median s" "peak RSS MiB"
for name in waptserver cabextract 7z; do
	printf '%-12s %10s %14s\n' "$name" "${secs[$name]}" "$(awk -v k="${rss[$name]}" 'BEGIN{printf "%.1f", k/1024}')"
done
awk -v w="${secs[waptserver]}" -v c="${secs[cabextract]}" -v z="${secs[7z]}" 'BEGIN {
	printf "ratio waptserver/cabextract = %.3f (target <= 1.0)\n", w/c
	printf "ratio waptserver/7z        = %.3f\n", w/z }'
awk -v k="${rss[waptserver]}" 'BEGIN { printf "waptserver peak RSS = %.1f MiB (target < 64)\n", k/1024 }'
