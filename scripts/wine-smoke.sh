#!/usr/bin/env bash
# The Wine smoke test (make wine-smoke; part of scripts/test.sh): the Windows
# wapt-get.exe under Wine, in a fresh prefix, against the Linux waptserver with a
# stand-in for Microsoft, then the agent MSI installed and removed under Wine. See
# docs/windows.md for what it shows and what only a real Windows host can.
# It installs Wine, the MinGW binutils and msitools when run as root, and fails (never
# skips) without them. Bounded, retried once, and leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need=()
command -v wine >/dev/null || need+=(wine)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || need+=(wine64)
command -v x86_64-w64-mingw32-as >/dev/null || need+=(binutils-mingw-w64-x86-64)
command -v msiinfo >/dev/null || need+=(msitools)
command -v wixl >/dev/null || need+=(wixl)
install_missing wine-smoke FAIL "${need[@]}"

export WAPTWUA_WINE_SMOKE=1
pkgs=(./cmd/wapt-get)
tests='^TestWineSmoke$'
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
for attempt in 1 2; do
	rc=0
	go test -count=1 -timeout 10m -run "$tests" -v "${pkgs[@]}" >"$log" 2>&1 || rc=$?
	# The step timings and what the server saw.
	grep -E '^\s+winesmoke_test.go:[0-9]+: |^\s+msi_test.go:[0-9]+: |^--- ' "$log" | grep -v '^\s\s\s\s\s\s\s\s' || true
	if [ "$rc" = 0 ] && grep -q -- '--- PASS: TestWineSmoke' "$log"; then
		echo "wine-smoke: passed in $(( $(date +%s) - start )) s (attempt $attempt)"
		exit 0
	fi
	echo "wine-smoke: attempt $attempt failed (go test exit $rc)" >&2
	tail -n 150 "$log" >&2
done
echo "wine-smoke: FAILED twice ($(( $(date +%s) - start )) s)" >&2
exit 1
