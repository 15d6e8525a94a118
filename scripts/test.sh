#!/usr/bin/env bash
# The project's test command (README, .ci/run). On a fresh Debian machine with Go it
# installs what the tests need, then runs formatting, vet (Linux and Windows), the
# Windows cross builds and the whole test suite. Long benchmarks and fuzzing are
# separate: make bench, make fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need=()
command -v cabextract >/dev/null || need+=(cabextract)
command -v 7z >/dev/null || need+=(p7zip-full)
command -v osslsigncode >/dev/null || need+=(osslsigncode)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need+=(postgresql); fi
[ -x /usr/bin/chromium ] || need+=(chromium)
# Wine, the MinGW binutils and msitools: scripts/wine-smoke.sh (below) installs them.
install_missing test.sh WARN "${need[@]}"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt-formatted:"; echo "$unformatted"; exit 1; fi

echo "== go vet (linux)"
go vet ./...
for arch in amd64 386 arm64; do
	echo "== windows/$arch: vet and build"
	GOOS=windows GOARCH=$arch CGO_ENABLED=0 go vet ./...
	GOOS=windows GOARCH=$arch CGO_ENABLED=0 go build -o /dev/null ./...
done

# The PostgreSQL and browser runs must not silently turn into skips.
export WAPTWUA_REQUIRE_POSTGRES=1 WAPTWUA_REQUIRE_CHROMIUM=1
# The >100 MB cabinet round trip through cabextract and 7-Zip is part of the suite.
export WAPTWUA_LONG=1

echo "== go test"
go test -count=1 -timeout 40m ./...

echo "== Wine smoke (the Windows agent under Wine)"
./scripts/wine-smoke.sh

echo "== internal/action under Wine (update packages' process tree killed at the timeout)"
./scripts/wine-action.sh
