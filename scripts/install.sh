#!/usr/bin/env bash
# Installs the flagops binary the action runs: the release binary of this checkout's version for
# the runner's platform, verified against the SHA-256 sums committed with it (dist/SHA256SUMS),
# or, when that version has no release (an action used at a commit, a platform without a
# binary), a source build with cargo into the same root.
#
#   scripts/install.sh [all|download|build|cache-key|source-digest]
#     all        download, else build (the default)
#     download   the release binary only; exit 0 when installed, 3 when there is none to install
#                (no sums for this platform, or the host answers 404 or not at all)
#     build      `cargo install --locked --path` (installs a minimal stable toolchain when cargo
#                is missing); reuses an up-to-date binary already in the root (a restored cache)
#     cache-key  print the key of a source build (platform, toolchain, Cargo.lock, sources)
#     source-digest  print the digest of the sources (Cargo.toml, Cargo.lock, build.rs, src/):
#                the release records it in dist/SHA256SUMS as `# source DIGEST`, and a download
#                happens only at the same sources (an action used at a later commit of the
#                same version builds that commit instead of running the release)
#
# Environment:
#   FLAGOPS_INSTALL_ROOT      where to install (the binary is ROOT/bin/flagops); required
#   FLAGOPS_RELEASE_URL       the release host, default
#                             https://github.com/$FLAGOPS_REPOSITORY/releases/download/v$VERSION
#   FLAGOPS_REPOSITORY        owner/name of the action (default $GITHUB_ACTION_REPOSITORY)
#   FLAGOPS_INSTALL_FALLBACK  a command run instead of `cargo install` (tests); it sees
#                             FLAGOPS_INSTALL_ROOT and must leave ROOT/bin/flagops
#   RUNNER_OS, RUNNER_ARCH    the platform (GitHub's values); default: from uname
# A checksum mismatch is refused (exit 1) and installs nothing.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-all}
root=${FLAGOPS_INSTALL_ROOT:-}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$src/Cargo.toml" | head -n 1)
sums_file="$src/dist/SHA256SUMS"

tmp=""
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

note() { echo "flagops install: $*" >&2; }
fail() {
    echo "::error title=flagops install::$*"
    echo "flagops install: error: $*" >&2
    exit 1
}

# RUNNER_OS/RUNNER_ARCH (or uname) → the release's target triple.
target_triple() {
    local os=${RUNNER_OS:-} arch=${RUNNER_ARCH:-}
    if [ -z "$os" ]; then
        case "$(uname -s)" in
            Linux) os=Linux ;;
            Darwin) os=macOS ;;
            MINGW* | MSYS* | CYGWIN*) os=Windows ;;
            *) os=$(uname -s) ;;
        esac
    fi
    if [ -z "$arch" ]; then
        case "$(uname -m)" in
            x86_64 | amd64) arch=X64 ;;
            aarch64 | arm64) arch=ARM64 ;;
            *) arch=$(uname -m) ;;
        esac
    fi
    case "$os/$arch" in
        Linux/X64) echo x86_64-unknown-linux-gnu ;;
        Linux/ARM64) echo aarch64-unknown-linux-gnu ;;
        macOS/X64) echo x86_64-apple-darwin ;;
        macOS/ARM64) echo aarch64-apple-darwin ;;
        Windows/X64) echo x86_64-pc-windows-msvc ;;
        *) echo "" ;;
    esac
}

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

exe_suffix() { case "$1" in *windows*) echo .exe ;; *) echo "" ;; esac; }

# Runs the installed binary: it must be flagops of this version.
check_installed() {
    local bin="$root/bin/flagops$1" out
    if ! out=$("$bin" --version 2>&1); then
        fail "the installed $bin does not run: $out"
    fi
    if [ "$out" != "flagops $version" ]; then
        fail "the installed $bin is \`$out\`, expected \`flagops $version\`"
    fi
    echo "$out"
}

download() {
    local triple suffix asset expected released url status actual
    triple=$(target_triple)
    if [ -z "$triple" ]; then
        note "no release binary for ${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}"
        return 3
    fi
    suffix=$(exe_suffix "$triple")
    asset="flagops-$triple$suffix"
    # The sums that travel with the action, not the ones beside the download: a replaced
    # release asset cannot vouch for itself.
    expected=$(awk -v a="$asset" '$2 == a || $2 == "*" a { print $1; exit }' "$sums_file" 2>/dev/null || true)
    if ! [[ $expected =~ ^[0-9a-f]{64}$ ]]; then
        note "dist/SHA256SUMS has no sum for $asset (no release of $version yet)"
        return 3
    fi
    released=$(sed -n 's/^# source \([0-9a-f]*\)$/\1/p' "$sums_file" | head -n 1)
    if [ "$released" != "$(source_digest)" ]; then
        note "the sources differ from those of the $version release (dist/SHA256SUMS: source ${released:-missing}): building them"
        return 3
    fi
    url="${FLAGOPS_RELEASE_URL:-https://github.com/${FLAGOPS_REPOSITORY:-${GITHUB_ACTION_REPOSITORY:-}}/releases/download/v$version}/$asset"
    tmp=$(mktemp -d)
    status=$(curl --silent --show-error --location --retry 2 --connect-timeout 10 --max-time 120 \
        --output "$tmp/$asset" --write-out '%{http_code}' "$url" 2>"$tmp/curl.err") || status=${status:-000}
    if [ "$status" != 200 ]; then
        note "no release binary at $url (HTTP $status$(sed 's/^/; /' "$tmp/curl.err" | tr -d '\n'))"
        return 3
    fi
    actual=$(sha256 "$tmp/$asset")
    if [ "$actual" != "$expected" ]; then
        fail "checksum mismatch for $asset from $url: got $actual, dist/SHA256SUMS of flagops $version says $expected; nothing installed"
    fi
    mkdir -p "$root/bin"
    chmod +x "$tmp/$asset"
    mv "$tmp/$asset" "$root/bin/flagops$suffix"
    note "installed $asset ($version) from $url"
    check_installed "$suffix"
}

source_digest() {
    (cd "$src" && { find Cargo.toml Cargo.lock src -type f; if [ -f build.rs ]; then echo build.rs; fi; } | LC_ALL=C sort |
        while IFS= read -r f; do echo "$f $(sha256 "$f")"; done | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-64)
}

cache_key() {
    local triple toolchain lock
    triple=$(target_triple)
    toolchain=$( (rustc --version 2>/dev/null || echo no-rustc) | tr -c 'A-Za-z0-9.\n' '-')
    lock=$(sha256 "$src/Cargo.lock" | cut -c1-16)
    echo "flagops-build-${triple:-unknown}-$toolchain-lock-$lock-src-$(source_digest | cut -c1-16)"
}

build() {
    local suffix key
    suffix=$(exe_suffix "$(target_triple)")
    key=$(cache_key)
    if [ -x "$root/bin/flagops$suffix" ] && [ "$("$root/bin/flagops$suffix" --version 2>/dev/null)" = "flagops $version" ] &&
        [ -f "$root/.flagops-src" ] && [ "$(cat "$root/.flagops-src")" = "$key" ]; then
        note "reusing the cached source build in $root"
        check_installed "$suffix"
        return 0
    fi
    if [ -n "${FLAGOPS_INSTALL_FALLBACK:-}" ]; then
        note "building with \$FLAGOPS_INSTALL_FALLBACK"
        FLAGOPS_INSTALL_ROOT=$root bash -c "$FLAGOPS_INSTALL_FALLBACK"
    else
        if ! command -v cargo >/dev/null 2>&1; then
            note "cargo is missing: installing a minimal stable toolchain with rustup"
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
        note "building flagops $version from source (cargo install --locked --path)"
        cargo install --locked --quiet --force --path "$src" --root "$root"
    fi
    check_installed "$suffix"
    echo "$key" >"$root/.flagops-src"
}

case "$mode" in download | build | all)
    [ -n "$root" ] || fail "FLAGOPS_INSTALL_ROOT must name the install directory" ;;
esac
case "$mode" in
    download) download ;;
    build) build ;;
    cache-key) cache_key ;;
    source-digest) source_digest ;;
    all)
        set +e
        download
        code=$?
        set -e
        case "$code" in
            0) ;;
            3) build ;;
            *) exit "$code" ;;
        esac
        ;;
    *)
        echo "usage: scripts/install.sh [all|download|build|cache-key|source-digest]" >&2
        exit 2
        ;;
esac
