#!/usr/bin/env bash
# Site repository (issue 14): time to mirror ~2 GiB of update files over loopback with
# `waptserver mirror --once` against rsync (daemon over TCP) of the same folder, median of
# RUNS runs each, interleaved; then the mirror's serving throughput against nginx serving
# the same folder, with wrk (64 connections, a 1 MiB and a 20 MiB file).
# Usage: bench/mirror.sh            (RUNS=3 DURATION=10s TOTAL_MIB=2048 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
duration=${DURATION:-10s}
total_mib=${TOTAL_MIB:-2048}
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-mirror.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$out"
}
trap cleanup EXIT
for tool in rsync nginx wrk curl; do
	command -v $tool >/dev/null || { echo "missing $tool (apt-get install rsync nginx wrk curl)"; exit 1; }
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
if [ -n "${WAPTSERVER:-}" ]; then cp "$WAPTSERVER" "$out/waptserver"; else go build -o "$out/waptserver" ./cmd/waptserver; fi
ws="$out/waptserver"
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# --- the main server and its repository: 1 MiB, 20 MiB and larger files, ~2 GiB ------
main_data="$out/main"
repo="$main_data/waptwua"
mkdir -p "$repo"
secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# sha1 before the rename (the name ends with the content's SHA-1, as Microsoft's).
gen() {
	for i in $(seq 1 "$2"); do
		head -c "$(( $1 * 1024 * 1024 ))" /dev/urandom >"$out/f.tmp"
		sum=$(sha1sum "$out/f.tmp" | cut -c1-40)
		mv "$out/f.tmp" "$repo/windows10.0-kb$3$i-x64_$sum.cab"
	done
}
n1=${N1:-64}; n20=${N20:-20}
big=$(( (total_mib - n1 - 20*n20 + 399) / 400 )) # rounded up: at least TOTAL_MIB
gen 1 "$n1" 501
gen 20 "$n20" 502
[ "$big" -gt 0 ] && gen 400 "$big" 503
files=$(ls "$repo" | wc -l)
bytes=$(du -sb "$repo" | cut -f1)
echo "repository: $files files, $bytes bytes"
main_port=$(freeport)
cat >"$out/waptserver.ini" <<EOF
[options]
listen = 127.0.0.1:$main_port
data = $main_data
enrollment_secret = $secret
cleanup_kbs = False
EOF
"$ws" serve --config "$out/waptserver.ini" --no-jobs --log-level warn >"$out/main.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$main_port/healthz" >/dev/null && break; sleep 0.1; done
printf '%s\n' "$secret" >"$out/token"

# --- mirror --once vs rsync over loopback --------------------------------------------------
rsync_port=$(freeport)
cat >"$out/rsyncd.conf" <<EOF
pid file = $out/rsyncd.pid
port = $rsync_port
address = 127.0.0.1
use chroot = false
uid = $(id -u)
gid = $(id -g)
[waptwua]
exclude = .tmp/
path = $repo
read only = true
EOF
rsync --daemon --no-detach --config="$out/rsyncd.conf" &
pids+=($!)
sleep 0.5
mirror_data="$out/mirror"
cred="$out/mirror.credential"
mirror_once() {
	"$ws" mirror --once --main-url "http://127.0.0.1:$main_port" --data "$mirror_data" --name bench-1 \
		--credential-file "$cred" --enroll-token-file "$out/token" >/dev/null
}
# Warm-up (untimed): enrolls, and lets the main server hash its files once (it keeps
# their digests, as it does in service).
rm -rf "$mirror_data"; mirror_once; rm -rf "$mirror_data"
sync
: >"$out/mirror.times"; : >"$out/rsync.times"; : >"$out/rsync-fsync.times"
fsync_ok=false
rsync --help 2>&1 | grep -q -- '--fsync' && fsync_ok=true
elapsed() { local s; s=$(date +%s.%N); "$@"; awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f\n", e-s}'; }
for i in $(seq 1 "$runs"); do
	rm -rf "$mirror_data"; sync
	elapsed mirror_once >>"$out/mirror.times"
	rm -rf "$out/rsync-dst"; sync
	elapsed rsync -a "rsync://127.0.0.1:$rsync_port/waptwua/" "$out/rsync-dst/" >>"$out/rsync.times"
	if $fsync_ok; then
		rm -rf "$out/rsync-dst"; sync
		elapsed rsync -a --fsync "rsync://127.0.0.1:$rsync_port/waptwua/" "$out/rsync-dst/" >>"$out/rsync-fsync.times"
	fi
	echo "run $i: mirror $(tail -1 "$out/mirror.times")s rsync $(tail -1 "$out/rsync.times")s$($fsync_ok && echo " rsync --fsync $(tail -1 "$out/rsync-fsync.times")s")"
done
diff -r "$repo" "$mirror_data/waptwua" -x .tmp -x wsusscn2.cab.sha1 >/dev/null || { echo "mirror folder differs from the main's"; exit 1; }
m=$(median <"$out/mirror.times"); r=$(median <"$out/rsync.times")
echo
echo "mirror --once median ${m}s, rsync median ${r}s: ratio mirror/rsync = $(awk -v a="$m" -v b="$r" 'BEGIN{printf "%.2f", a/b}') (lower is better)"
if $fsync_ok; then
	rf=$(median <"$out/rsync-fsync.times")
	echo "rsync --fsync median ${rf}s: ratio mirror/rsync --fsync = $(awk -v a="$m" -v b="$rf" 'BEGIN{printf "%.2f", a/b}') (the mirror syncs every file to disk before it becomes visible)"
fi
echo "throughput mirror: $(awk -v b="$bytes" -v s="$m" 'BEGIN{printf "%.0f", b/s/1048576}') MiB/s"

# --- serving: the mirror's handler vs nginx on the same folder ---------------------------
mirror_port=$(freeport)
"$ws" mirror --main-url "http://127.0.0.1:$main_port" --data "$mirror_data" --credential-file "$cred" \
	--listen "127.0.0.1:$mirror_port" --interval 24h --log-level warn >"$out/mirror.log" 2>&1 &
pids+=($!)
nginx_port=$(freeport)
mkdir -p "$out/nginx"
cat >"$out/nginx/nginx.conf" <<EOF
user $(id -un);
worker_processes auto;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	client_body_temp_path $out/nginx/body;
	proxy_temp_path $out/nginx/proxy;
	fastcgi_temp_path $out/nginx/fastcgi;
	uwsgi_temp_path $out/nginx/uwsgi;
	scgi_temp_path $out/nginx/scgi;
	server {
		listen 127.0.0.1:$nginx_port;
		location /waptwua/ { alias $mirror_data/waptwua/; }
	}
}
EOF
nginx -c "$out/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$mirror_port/healthz" >/dev/null && break; sleep 0.1; done
f1=$(cd "$mirror_data/waptwua" && ls windows10.0-kb5011-* | head -1)
f20=$(cd "$mirror_data/waptwua" && ls windows10.0-kb5021-* | head -1)
sleep 0.5
for u in "http://127.0.0.1:$mirror_port/waptwua/$f1" "http://127.0.0.1:$nginx_port/waptwua/$f1"; do
	curl -fs -o /dev/null "$u" || { echo "cannot GET $u"; exit 1; }
done
rate() { # rate URL -> MiB/s
	wrk -t2 -c64 -d"$duration" "$1" | awk '/Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); n=v+0;
		if (u=="GB") n*=1024; else if (u=="KB") n/=1024; else if (u!="MB") n/=1048576; printf "%.0f\n", n}'
}
echo
printf '%-8s %12s %12s %8s\n' file "mirror MiB/s" "nginx MiB/s" ratio
for f in "$f1:1MiB" "$f20:20MiB"; do
	name=${f%%:*}; label=${f##*:}
	a=$(rate "http://127.0.0.1:$mirror_port/waptwua/$name")
	b=$(rate "http://127.0.0.1:$nginx_port/waptwua/$name")
	a2=$(rate "http://127.0.0.1:$mirror_port/waptwua/$name")
	b2=$(rate "http://127.0.0.1:$nginx_port/waptwua/$name")
	am=$(( (a + a2) / 2 )); bm=$(( (b + b2) / 2 ))
	printf '%-8s %12s %12s %8s   (runs: mirror %s %s, nginx %s %s)\n' "$label" "$am" "$bm" \
		"$(awk -v a="$am" -v b="$bm" 'BEGIN{printf "%.2f", a/b}')" "$a" "$a2" "$b" "$b2"
done
echo "target: mirror >= 0.9x nginx"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
