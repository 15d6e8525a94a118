#!/usr/bin/env bash
# internal/action's tests on Windows, under Wine: the job object that kills an update
# package's process tree at its timeout (TestProcessTreeKilled), the command lines and
# the exit-code table. The test binary is cross-compiled and run in a fresh prefix with
# the bcryptprimitives.dll shim Go needs under Wine 8 (as the Wine smoke builds it).
# Needs wine and the MinGW binutils (scripts/wine-smoke.sh installs them); fails without.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wine wineboot wineserver x86_64-w64-mingw32-as x86_64-w64-mingw32-dlltool x86_64-w64-mingw32-ld; do
	command -v "$tool" >/dev/null || { echo "wine-action: $tool missing (apt-get install wine wine64 binutils-mingw-w64-x86-64)" >&2; exit 1; }
done
dir=$(mktemp -d)
export WINEPREFIX="$dir/prefix" WINEDEBUG=-all
trap 'wineserver -k 2>/dev/null || true; rm -rf "$dir"' EXIT
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -c -o "$dir/action.test.exe" ./internal/action
printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng = advapi32.SystemFunction036\n' >"$dir/b.def"
printf '\t.text\n\t.globl DllMain\nDllMain:\n\tmovl $1, %%eax\n\tret\n' >"$dir/b.s"
x86_64-w64-mingw32-as -o "$dir/b.o" "$dir/b.s"
x86_64-w64-mingw32-dlltool -d "$dir/b.def" -e "$dir/b-exp.o"
x86_64-w64-mingw32-ld -shared --entry DllMain -o "$dir/bcryptprimitives.dll" "$dir/b.o" "$dir/b-exp.o"
timeout 300 wineboot -i >/dev/null 2>&1
cp "$dir/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
timeout 300 wine "$dir/action.test.exe" -test.v -test.count=1 \
	-test.run 'TestProcessTreeKilled|TestExitCodeTable|TestCommandLines|TestFeatureUpgradeFreeSpace|TestTimeouts' | tee "$dir/log"
grep -q -- '--- PASS: TestProcessTreeKilled' "$dir/log"
echo "wine-action: passed"
