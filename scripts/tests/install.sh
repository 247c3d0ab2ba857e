#!/usr/bin/env bash
# Tests of scripts/install.sh against a release host on 127.0.0.1 (scripts/tests/serve.py):
# a good download installs and runs; a checksum mismatch is refused and installs nothing; no
# release (404), or no sum for the platform, falls back to the build command.
#   scripts/tests/install.sh FLAGOPS_BINARY      (a built flagops, e.g. target/debug/flagops)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)
tmp=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
check() { # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name" >&2; failures=$((failures + 1)); fi
}
contains() { grep -qF -- "$2" "$1"; }

# A copy of the action (the script finds Cargo.toml and dist/SHA256SUMS beside itself).
action="$tmp/action"
mkdir -p "$action/scripts" "$action/dist" "$tmp/host/v$version"
cp "$repo/scripts/install.sh" "$action/scripts/"
cp "$repo/Cargo.toml" "$repo/Cargo.lock" "$action/"
cp -R "$repo/src" "$action/src"
asset=flagops-x86_64-unknown-linux-gnu
cp "$binary" "$tmp/host/v$version/$asset"
sum=$(sha256sum "$binary" | cut -d' ' -f1)

python3 "$repo/scripts/tests/serve.py" "$tmp/host" "$tmp/port" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")

export RUNNER_OS=Linux RUNNER_ARCH=X64
export FLAGOPS_RELEASE_URL="http://127.0.0.1:$port/v$version"
# The fallback stands in for `cargo install`: it leaves a flagops that says its version.
fallback="mkdir -p \"\$FLAGOPS_INSTALL_ROOT/bin\" && cp '$binary' \"\$FLAGOPS_INSTALL_ROOT/bin/flagops\" && echo built >\"\$FLAGOPS_INSTALL_ROOT/fallback-ran\""

run() { # run NAME: install into $tmp/NAME, output in $tmp/NAME.out, exit code in $tmp/NAME.code
    local code=0
    FLAGOPS_INSTALL_ROOT="$tmp/$1" FLAGOPS_INSTALL_FALLBACK="$fallback" \
        "$action/scripts/install.sh" "${2:-all}" >"$tmp/$1.out" 2>&1 || code=$?
    echo "$code" >"$tmp/$1.code"
}
code_is() { [ "$(cat "$tmp/$1.code")" = "$2" ]; }

# The sums of a release of these sources.
digest=$("$action/scripts/install.sh" source-digest)
release_sums() { printf '# source %s\n%s  %s\n' "$digest" "$1" "$asset" >"$action/dist/SHA256SUMS"; }

# 1. A good download: installed from the host, verified, runs; no build.
release_sums "$sum"
start=$(date +%s%N)
run good
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "good download exits 0" code_is good 0
check "good download runs flagops --version" contains "$tmp/good.out" "flagops $version"
check "good download says where from" contains "$tmp/good.out" "installed $asset ($version) from $FLAGOPS_RELEASE_URL/$asset"
check "good download installs the binary" test -x "$tmp/good/bin/flagops"
check "good download does not build" test ! -e "$tmp/good/fallback-ran"
check "good download fetched the asset" contains "$tmp/requests.log" "GET /v$version/$asset"
echo "     (cold install from the local host: ${elapsed_ms} ms)"

# 2. A checksum mismatch: refused with the two sums, nothing installed, no fallback.
release_sums "$(printf '0%.0s' $(seq 64))"
run mismatch
check "mismatch exits 1" code_is mismatch 1
check "mismatch names both sums" contains "$tmp/mismatch.out" "checksum mismatch for $asset from $FLAGOPS_RELEASE_URL/$asset: got $sum, dist/SHA256SUMS of flagops $version says $(printf '0%.0s' $(seq 64)); nothing installed"
check "mismatch is a GitHub error annotation" contains "$tmp/mismatch.out" "::error title=flagops install::checksum mismatch"
check "mismatch installs nothing" test ! -e "$tmp/mismatch/bin/flagops"
check "mismatch does not fall back" test ! -e "$tmp/mismatch/fallback-ran"

# 3. Sources changed since the release (the action used at a later commit): builds them, and
#    does not ask the host.
echo "// a later commit" >>"$action/src/lib.rs"
: >"$tmp/requests.log"
run later
check "later commit exits 0" code_is later 0
check "later commit says why it builds" contains "$tmp/later.out" "the sources differ from those of the $version release (dist/SHA256SUMS: source $digest): building them"
check "later commit builds" test -e "$tmp/later/fallback-ran"
check "later commit makes no request" test ! -s "$tmp/requests.log"
cp "$repo/src/lib.rs" "$action/src/lib.rs"

# 3b. No release (404): falls back to the build.
rm "$tmp/host/v$version/$asset"
run missing
check "404 exits 0" code_is missing 0
check "404 is reported" contains "$tmp/missing.out" "no release binary at $FLAGOPS_RELEASE_URL/$asset (HTTP 404)"
check "404 falls back to the build" test -e "$tmp/missing/fallback-ran"
check "404 fallback runs flagops --version" contains "$tmp/missing.out" "flagops $version"

# 4. `download` alone on a 404 exits 3 (the action then restores the cache and builds).
run download-only download
check "download alone on 404 exits 3" code_is download-only 3
check "download alone installs nothing" test ! -e "$tmp/download-only/bin/flagops"

# 5. The placeholder sums (no release yet): no request, straight to the build.
cp "$repo/dist/SHA256SUMS" "$action/dist/SHA256SUMS"
: >"$tmp/requests.log"
run placeholder
check "placeholder sums exit 0" code_is placeholder 0
check "placeholder sums say so" contains "$tmp/placeholder.out" "dist/SHA256SUMS has no sum for $asset (no release of $version yet)"
check "placeholder sums build" test -e "$tmp/placeholder/fallback-ran"
check "placeholder sums make no request" test ! -s "$tmp/requests.log"

# 6. A cached build of the same sources is reused, not rebuilt.
rm "$tmp/placeholder/fallback-ran"
run placeholder build
check "cached build exits 0" code_is placeholder 0
check "cached build is reused" contains "$tmp/placeholder.out" "reusing the cached source build"
check "cached build does not rebuild" test ! -e "$tmp/placeholder/fallback-ran"

# 7. A platform without a release binary builds.
RUNNER_OS=Linux RUNNER_ARCH=ARM run other-platform
check "unknown platform exits 0" code_is other-platform 0
check "unknown platform says so" contains "$tmp/other-platform.out" "no release binary for Linux/ARM"
check "unknown platform builds" test -e "$tmp/other-platform/fallback-ran"

# 8. A fallback that leaves the wrong program fails clearly.
code=0
FLAGOPS_INSTALL_ROOT="$tmp/wrong" FLAGOPS_INSTALL_FALLBACK="mkdir -p \"\$FLAGOPS_INSTALL_ROOT/bin\" && printf '#!/bin/sh\necho other 9\n' >\"\$FLAGOPS_INSTALL_ROOT/bin/flagops\" && chmod +x \"\$FLAGOPS_INSTALL_ROOT/bin/flagops\"" \
    "$action/scripts/install.sh" build >"$tmp/wrong.out" 2>&1 || code=$?
echo "$code" >"$tmp/wrong.code"
check "wrong program exits 1" code_is wrong 1
check "wrong program is named" contains "$tmp/wrong.out" "the installed $tmp/wrong/bin/flagops is \`other 9\`, expected \`flagops $version\`"

if [ "$failures" -ne 0 ]; then
    echo "$failures install test(s) failed" >&2
    exit 1
fi
echo "install tests passed"
