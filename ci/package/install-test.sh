#!/usr/bin/env bash
# install.sh as a user without Rust runs it (issue 17 §5): the archives that scripts/package.sh
# wrote are served on 127.0.0.1 (python3 -m http.server) as the release would serve them, the
# installer stamped as the release stamps it (scripts/pkg/installers.sh), and run by `sh`
# (dash here: POSIX) with a PATH that has no cargo, into throw-away prefixes:
#
#   1. piped into sh (as `curl ... | sh`): downloads, checks the SHA-256, installs; the
#      installed binary is the archive's, prints its --version, and a real MCP client drives
#      it (ci/package/drive.py: handshake, a tool call, the WAzion-style 401, SIGTERM ->
#      session DELETE) against examples/demo_server.rs;
#   2. run again: replaces the binary (an update), same result;
#   3. a tampered archive (its .sha256 no longer matches): refused, nothing installed;
#   4. no archive for this platform, outside a clone: says so, installs nothing, exit 1;
#   5. WAZION_MCP_DOWNLOAD_URL naming a local folder instead of a URL;
#   6. with macOS's shasum instead of sha256sum, and with wget instead of curl;
#   7. the archive each OS gets (uname and sysctl answering as macOS arm64, macOS under
#      Rosetta, Intel macOS, Linux arm64, Linux x86_64, Git Bash on Windows) from stand-in
#      archives: the musl build first on Linux, arm64 under Rosetta, universal as a fallback;
#   8. the clone's own install.sh --from-source (cargo on PATH): builds with cargo (reusing
#      package.sh's release build) and says it built from source;
#   9. Cargo.toml's [package.metadata.binstall] pkg-url names the archive package.sh made.
#
#   bash ci/package/install-test.sh [OUT]       (OUT: package.sh's folder, default dist/)
#
# Everything a run makes goes to ci/.tools/run-install (git-ignored). Last line:
# "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$(cd "${1:-${OUT:-$ROOT/dist}}" && pwd)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
RUN=$ROOT/ci/.tools/run-install

say() { printf '== %s\n' "$*"; }

# shellcheck source=py-tools.sh
. ci/package/py-tools.sh       # PY (the SDK's venv), start_demo

shopt -s nullglob
archives=("$OUT"/wazion-mcp-"$VERSION"-*.tar.gz)
shopt -u nullglob
[ ${#archives[@]} -ge 1 ] || { echo "no wazion-mcp-$VERSION-*.tar.gz in $OUT: run scripts/package.sh first" >&2; exit 1; }
archive=$(basename "${archives[0]}")
target=${archive#wazion-mcp-"$VERSION"-}
target=${target%.tar.gz}
say "serving $OUT ($(cd "$OUT" && ls wazion-mcp-"$VERSION"-*.tar.gz* | tr '\n' ' '))"

rm -rf "$RUN"
mkdir -p "$RUN/home"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
start_demo "$RUN"
pids+=("$DEMO_PID")

# serve FOLDER: an HTTP server on a free loopback port; sets SERVED (its URL).
serve() {
  local log
  log=$RUN/http-$(basename "$1").log
  python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$1" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q 'port [0-9]' "$log" 2>/dev/null && break; sleep 0.1; done
  SERVED=http://127.0.0.1:$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$log" | head -n1)
  [ "$SERVED" != http://127.0.0.1: ] || { cat "$log"; return 1; }
}
serve "$OUT"
url=$SERVED

# The stamped installer, as the release publishes it.
OUT=$RUN/installer sh scripts/pkg/installers.sh

# A PATH without cargo (rustup puts it in ~/.cargo/bin; check that /usr/bin has none).
NOCARGO=/usr/local/bin:/usr/bin:/bin
if PATH=$NOCARGO command -v cargo >/dev/null 2>&1; then
  NOCARGO=$RUN/path
  mkdir -p "$NOCARGO"
  for tool in sh dash cat cp chmod cut dirname grep head mkdir mktemp mv rm sed tar gzip uname curl wget sha256sum; do
    p=$(command -v "$tool" 2>/dev/null) && ln -sf "$p" "$NOCARGO/$tool"
  done
fi

passed=0 failed=0
result() { # name, status, [log to show on failure]
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "PASS  $1"
  else failed=$((failed + 1)); echo "FAIL  $1"; [ -z "${3:-}" ] || sed 's/^/    | /' "$3"; fi
}
# installer NAME PREFIX DOWNLOAD_URL [ARGS...]: the stamped install.sh piped into `sh` as a
# user would, in a bare environment; its output in $RUN/NAME.log, its status in STATUS.
installer() {
  local name=$1 prefix=$2 from=$3; shift 3
  STATUS=0
  env -i HOME="$RUN/home" PATH="$NOCARGO" PREFIX="$prefix" WAZION_MCP_DOWNLOAD_URL="$from" \
    sh -s -- "$@" <"$RUN/installer/install.sh" >"$RUN/$name.log" 2>&1 || STATUS=$?
}
inside_sha=$(tar -xzOf "$OUT/$archive" wazion-mcp | sha256sum | cut -d' ' -f1)

# ---------------------------------------------------------------- 1. curl | sh, then a real client
result "no cargo on the installer's PATH ($NOCARGO)" "$(PATH=$NOCARGO command -v cargo >/dev/null && echo 1 || echo 0)"
prefix=$RUN/prefix
installer first "$prefix" "$url"
bin=$prefix/bin/wazion-mcp
ok=1
if [ "$STATUS" = 0 ] && grep -qF "downloaded from $url/$archive (SHA-256 checked)" "$RUN/first.log" \
   && [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$inside_sha" ] \
   && [ "$("$bin" --version)" = "wazion-mcp $VERSION" ]; then ok=0; fi
result "install.sh | sh: downloads $archive, checks it, installs $bin (wazion-mcp $VERSION)" $ok "$RUN/first.log"
say "drive.py -- $bin"
if "$PY" ci/package/drive.py --url "$URL" --demo-log "$RUN/demo.log" -- "$bin" 2>"$RUN/drive.stderr" | sed 's/^/    /'; then
  result "a real client through the installed binary" 0
else
  result "a real client through the installed binary" 1 "$RUN/drive.stderr"
fi

# ---------------------------------------------------------------- 2. again: an update
ino=$(stat -c %i "$bin")
installer again "$prefix" "$url"
if [ "$STATUS" = 0 ] && [ "$(stat -c %i "$bin")" != "$ino" ] \
  && [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$inside_sha" ]; then
  result "run again: the binary is replaced by a new file (a running bridge keeps the old one)" 0
else
  result "run again: the binary is replaced by a new file (a running bridge keeps the old one)" 1 "$RUN/again.log"
fi

# ---------------------------------------------------------------- 3. tampered archive
mkdir -p "$RUN/tampered"
cp "$OUT/$archive.sha256" "$RUN/tampered/"
{ cat "$OUT/$archive"; printf 'x'; } >"$RUN/tampered/$archive"
serve "$RUN/tampered"
installer tampered "$RUN/prefix-tampered" "$SERVED"
if [ "$STATUS" != 0 ] && grep -qF "checksum mismatch for $archive" "$RUN/tampered.log" && [ ! -e "$RUN/prefix-tampered/bin" ]; then
  result "a tampered archive is refused and nothing is installed" 0
else
  result "a tampered archive is refused and nothing is installed" 1 "$RUN/tampered.log"
fi

# ---------------------------------------------------------------- 4. no archive for this platform
mkdir -p "$RUN/empty"
serve "$RUN/empty"
installer none "$RUN/prefix-none" "$SERVED"
if [ "$STATUS" != 0 ] && grep -qF "no release archive of wazion-mcp $VERSION" "$RUN/none.log" \
  && grep -qF "not a clone" "$RUN/none.log" && [ ! -e "$RUN/prefix-none/bin" ]; then
  result "no archive for this platform, outside a clone: says so, installs nothing" 0
else
  result "no archive for this platform, outside a clone: says so, installs nothing" 1 "$RUN/none.log"
fi

# ---------------------------------------------------------------- 5. a local folder
installer folder "$RUN/prefix-folder" "$OUT"
if [ "$STATUS" = 0 ] && [ "$(sha256sum "$RUN/prefix-folder/bin/wazion-mcp" | cut -d' ' -f1)" = "$inside_sha" ]; then
  result "WAZION_MCP_DOWNLOAD_URL=<a local folder>" 0
else
  result "WAZION_MCP_DOWNLOAD_URL=<a local folder>" 1 "$RUN/folder.log"
fi

# ---------------------------------------------------------------- 6. macOS's tools, wget
# A PATH of only the tools install.sh names, with shasum (macOS has no sha256sum) in place of
# sha256sum, then wget in place of curl.
toolbox() { # folder, tools...
  local dir=$1 t p; shift
  mkdir -p "$dir"
  for t in "$@"; do p=$(command -v "$t") && ln -sf "$p" "$dir/$t"; done
}
common=(sh cat cp chmod cut dirname grep head mkdir mktemp mv rm sed tar gzip uname perl)
toolbox "$RUN/path-mac" "${common[@]}" curl shasum
toolbox "$RUN/path-wget" "${common[@]}" wget sha256sum
for variant in mac wget; do
  STATUS=0
  env -i HOME="$RUN/home" PATH="$RUN/path-$variant" PREFIX="$RUN/prefix-$variant" WAZION_MCP_DOWNLOAD_URL="$url" \
    sh -s <"$RUN/installer/install.sh" >"$RUN/$variant.log" 2>&1 || STATUS=$?
  if [ "$STATUS" = 0 ] && [ "$(sha256sum "$RUN/prefix-$variant/bin/wazion-mcp" | cut -d' ' -f1)" = "$inside_sha" ]; then
    result "with only $(basename -a "$RUN/path-$variant"/* | grep -E 'curl|wget|sha' | tr '\n' ' ')on PATH" 0
  else
    result "with only $(basename -a "$RUN/path-$variant"/* | grep -E 'curl|wget|sha' | tr '\n' ' ')on PATH" 1 "$RUN/$variant.log"
  fi
done

# ---------------------------------------------------------------- 7. each OS's choice of archive
# install.sh asks `uname` (and macOS's `sysctl` for Rosetta) which archive fits; stand-ins for
# them answer as macOS, Linux arm64 and Windows' Git Bash would, and stand-in archives (a
# script that names its target) show which one was installed.
fake=$RUN/fake-release
mkdir -p "$fake" "$RUN/path-fake"
for t in aarch64-apple-darwin x86_64-apple-darwin aarch64-unknown-linux-musl \
         aarch64-unknown-linux-gnu x86_64-unknown-linux-musl universal-apple-darwin; do
  mkdir -p "$RUN/fake-$t"
  printf '#!/bin/sh\necho "wazion-mcp %s %s"\n' "$VERSION" "$t" >"$RUN/fake-$t/wazion-mcp"
  chmod 755 "$RUN/fake-$t/wazion-mcp"
  tar -czf "$fake/wazion-mcp-$VERSION-$t.tar.gz" -C "$RUN/fake-$t" wazion-mcp
  (cd "$fake" && sha256sum "wazion-mcp-$VERSION-$t.tar.gz" >"wazion-mcp-$VERSION-$t.tar.gz.sha256")
done
# A release with only the universal macOS archive, in a folder of its own.
mkdir -p "$RUN/fake-universal"
mv "$fake"/wazion-mcp-"$VERSION"-universal-apple-darwin.tar.gz* "$RUN/fake-universal/"
toolbox "$RUN/path-fake" "${common[@]}" curl sha256sum
rm -f "$RUN/path-fake/uname"
printf '#!/bin/sh\ncase "$1" in -s) echo "$FAKE_OS" ;; -m) echo "$FAKE_ARCH" ;; *) echo "$FAKE_OS" ;; esac\n' >"$RUN/path-fake/uname"
printf '#!/bin/sh\n[ "$2" = hw.optional.arm64 ] && [ -n "$FAKE_ARM64" ] && echo "$FAKE_ARM64"\n' >"$RUN/path-fake/sysctl"
chmod 755 "$RUN/path-fake/uname" "$RUN/path-fake/sysctl"
picks() { # name os arch arm64 from expected(target or "refused")
  local name=$1 got
  STATUS=0
  env -i HOME="$RUN/home" PATH="$RUN/path-fake" PREFIX="$RUN/prefix-$name" WAZION_MCP_DOWNLOAD_URL="$5" \
    FAKE_OS="$2" FAKE_ARCH="$3" FAKE_ARM64="$4" sh -s <"$RUN/installer/install.sh" >"$RUN/$name.log" 2>&1 || STATUS=$?
  local ok=1
  if [ "$6" = refused ]; then
    if [ "$STATUS" != 0 ] && grep -q 'use install.ps1' "$RUN/$name.log"; then ok=0; fi
  else
    got=$("$RUN/prefix-$name/bin/wazion-mcp" 2>/dev/null || true)
    if [ "$STATUS" = 0 ] && [ "$got" = "wazion-mcp $VERSION $6" ]; then ok=0; fi
  fi
  result "$2 $3${4:+ (sysctl hw.optional.arm64=$4)}: $6" $ok "$RUN/$name.log"
}
picks mac-arm Darwin arm64 "" "$fake" aarch64-apple-darwin
picks mac-rosetta Darwin x86_64 1 "$fake" aarch64-apple-darwin
picks mac-intel Darwin x86_64 0 "$fake" x86_64-apple-darwin
picks mac-universal Darwin x86_64 0 "$RUN/fake-universal" universal-apple-darwin
picks linux-arm Linux aarch64 "" "$fake" aarch64-unknown-linux-musl
picks linux-x64 Linux x86_64 "" "$fake" x86_64-unknown-linux-musl
picks windows MINGW64_NT-10.0-19045 x86_64 "" "$fake" refused

# ---------------------------------------------------------------- 8. --from-source in the clone
STATUS=0
env -i HOME="$HOME" PATH="$PATH" PREFIX="$RUN/prefix-source" ${CARGO_TARGET_DIR:+CARGO_TARGET_DIR="$CARGO_TARGET_DIR"} \
  sh ./install.sh --from-source >"$RUN/source.log" 2>&1 || STATUS=$?
if [ "$STATUS" = 0 ] && grep -qF "built from source in $ROOT" "$RUN/source.log" \
  && [ "$("$RUN/prefix-source/bin/wazion-mcp" --version)" = "wazion-mcp $VERSION" ]; then
  result "./install.sh --from-source in the clone builds with cargo and says so" 0
else
  result "./install.sh --from-source in the clone builds with cargo and says so" 1 "$RUN/source.log"
fi

# ---------------------------------------------------------------- 9. cargo binstall's pkg-url
pkg_url=$(sed -n 's/^pkg-url = "\(.*\)"/\1/p' Cargo.toml | head -n1)
rendered=$(printf '%s' "$pkg_url" | sed -e 's/{ *repo *}/REPO/' -e "s/{ *version *}/$VERSION/g" \
  -e 's/{ *name *}/wazion-mcp/' -e "s/{ *target *}/$target/" -e 's/{ *archive-suffix *}/.tar.gz/')
if [ "$rendered" = "REPO/releases/download/v$VERSION/$archive" ]; then
  result "binstall pkg-url for $target is the release's $archive ($rendered)" 0
else
  result "binstall pkg-url for $target is the release's $archive ($rendered)" 1
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
