#!/usr/bin/env bash
# The release artefacts as users get them (issue 17), called by .ci/run:
#
#   1. scripts/package.sh builds the release binary and every artefact into ci/package/.run/dist;
#   2. archive: the .sha256 checks, and the archive holds the binary (and README.md); the
#      other platforms' branches of the steps on Linux, with stand-in binaries (platform
#      names, a Windows .zip, Windows and musl npm packages, the release's two-OS .mcpb);
#   3. npm: a local registry (verdaccio, no uplink: nothing leaves the machine) gets the packed
#      tarballs published; `npx -y wazion-mcp@VERSION` and `npm install` into throw-away
#      prefixes (one with --omit=optional) install them as a user would; npm-test.mjs then
#      drives the bridge through the launcher with the TypeScript SDK client and raw drivers;
#   4. mcpb: the official CLI validates the bundle's manifest and shows its info; mcpb-test.mjs
#      launches the bridge exactly as the manifest says (the CLI's own variable substitution),
#      driven by the SDK client;
#   5. the wheel and installer tests (ci/package/wheel-test.sh, install-test.sh) when present,
#      each run as `bash <script> <dist dir>` with OUT VERSION TARGET PLATFORM BIN DEMO_SERVER
#      set (DEMO_SERVER: the built examples/demo_server).
#
# Needs: the Rust toolchain, Node 20+ with npm, Python 3 (a zip file's listing). Installs the pinned tools of
# ci/package/package-lock.json into ci/package/node_modules (git-ignored) and reuses them.
# Throw-away HOME, npm cache and prefixes under ci/package/.run (git-ignored). The last line
# is "package: N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck disable=SC2034 # read by ci/common.sh
NEED_LOG_LINES=30             # lines of a failing step's log to show

# shellcheck source=../common.sh source-path=SCRIPTDIR
. "$ROOT/ci/common.sh"         # say, show_log, npm_ci_once, TOOLS

PKG=$ROOT/ci/package
RUN=$PKG/.run
DIST=$RUN/dist
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DEMO=$TARGET_DIR/debug/examples/demo_server
mkdir -p "$TOOLS"

pass=0
fail=0
result() { # name status(0 = pass) [log]
  if [ "$2" = 0 ]; then
    pass=$((pass + 1)); say "PASS  $1"
  else
    fail=$((fail + 1)); say "FAIL  $1"
    [ -n "${3:-}" ] && [ -f "$3" ] && show_log "$3"
  fi
  return 0
}

pids=()
cleanup() {
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# ---------------------------------------------------------------- tools and build
say "node $(node --version), npm $(npm --version)"
npm_ci_once "$PKG" package-npm-ci.log "verdaccio, @anthropic-ai/mcpb, MCP SDK"
export PATH=$PKG/node_modules/.bin:$PATH

rm -rf "$RUN"
mkdir -p "$RUN/home" "$DIST"
# WAZION_MCP_PACKAGE_BIN=path: package that binary (a debug build, to try this script quickly).
BIN=${WAZION_MCP_PACKAGE_BIN:-$TARGET_DIR/release/wazion-mcp}
say "scripts/package.sh --out ci/package/.run/dist${WAZION_MCP_PACKAGE_BIN:+ --bin $BIN} (the release build)"
bash scripts/package.sh --out "$DIST" ${WAZION_MCP_PACKAGE_BIN:+--bin "$BIN"} >"$RUN/package.log" 2>&1 \
  || { cat "$RUN/package.log"; exit 1; }
sed -n 's/^\(archive\|npm\|mcpb\|note\): /    \1: /p' "$RUN/package.log"
say "cargo build --example demo_server (normally built already by cargo test)"
cargo build --locked --quiet --bin wazion-mcp --example demo_server

VERSION=$(cd "$ROOT" && cargo pkgid --quiet)
VERSION=${VERSION##*[#@]}
TARGET=$(rustc -vV | sed -n 's/^host: //p')
PLATFORM=$(sed -n 's/^== packaging .* (\(.*\)) into .*/\1/p' "$RUN/package.log")
export VERSION TARGET PLATFORM BIN

# ---------------------------------------------------------------- demo servers
start_demo() { # variable name flags...: starts a demo server, puts its URL in the variable
  local var=$1 name=$2
  shift 2
  "$DEMO" --port 0 --token demo-token --log-requests "$@" >"$RUN/$name.url" 2>"$RUN/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    [ -s "$RUN/$name.url" ] && break
    sleep 0.1
  done
  [ -s "$RUN/$name.url" ] || { cat "$RUN/$name.log"; echo "demo server $name did not start" >&2; exit 1; }
  printf -v "$var" '%s' "$(head -n1 "$RUN/$name.url")"
}
start_demo DEMO_URL demo
start_demo WAZ_URL waz --allow-initialize-without-token
export DEMO_URL WAZ_URL DEMO_LOG=$RUN/demo.log DEMO_SERVER=$DEMO SCRATCH=$RUN

# check NAME LOG COMMAND...: runs COMMAND with its output in LOG, then a PASS or FAIL line.
check() {
  local name=$1 log=$2
  shift 2
  if "$@" >"$log" 2>&1; then result "$name" 0; else result "$name" 1 "$log"; fi
}

# ---------------------------------------------------------------- archive
archive=wazion-mcp-$VERSION-$TARGET.tar.gz
# shellcheck disable=SC2016 # $1 and $2 are bash -c's own arguments
check "archive: $archive.sha256 checks with sha256sum -c" "$RUN/archive-sum.log" \
  bash -c 'cd "$1" && sha256sum -c "$2.sha256"' _ "$DIST" "$archive"
archive_holds_binary() {
  mkdir -p "$RUN/archive"
  tar -xzf "$DIST/$archive" -C "$RUN/archive"
  # shellcheck disable=SC2012 # the names are known
  [ "$(cd "$RUN/archive" && ls | tr '\n' ' ')" = "README.md wazion-mcp " ] \
    && cmp "$RUN/archive/wazion-mcp" "$BIN" && [ -x "$RUN/archive/wazion-mcp" ]
}
check "archive: holds the executable release binary and README.md, flat" "$RUN/archive.log" archive_holds_binary

# ---------------------------------------------------------------- other platforms' branches
# The steps as the release runs them elsewhere, on Linux with stand-in binaries: the platform
# names, a Windows archive and npm package, a static-musl npm package, the release's .mcpb.
X=$RUN/branches
mkdir -p "$X"
printf 'stand-in binary\n' >"$X/stub"
step() { # script target platform [VAR=value...]: one scripts/pkg step into $X/<target>
  local script=$1 target=$2 platform=$3
  shift 3
  mkdir -p "$X/$target"
  env BIN="$X/stub" OUT="$X/$target" VERSION="$VERSION" TARGET="$target" PLATFORM="$platform" \
    ROOT="$ROOT" "$@" bash "$ROOT/scripts/pkg/$script.sh"
}
pkg_json() { tar -xzOf "$1" package/package.json | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s);console.log(JSON.stringify([p.os,p.cpu,p.libc??null]))})'; }
platform_names() {
  local plat triple got
  while read -r plat triple; do
    case $plat in '' | '#'*) continue ;; esac
    got=$(bash scripts/package.sh --platform-of "$triple")
    echo "$triple -> $got (npm/platforms.txt: $plat)"
    [ "$got" = "$plat" ] || return 1
  done <npm/platforms.txt
}
check "platforms: platform_of agrees with every line of npm/platforms.txt" "$X/names.log" platform_names
windows_archive() {
  # With zip when there is one, else Python's zipfile (the runners' PowerShell branch cannot run here).
  step archive x86_64-pc-windows-msvc win32-x64-msvc || return 1
  local a=wazion-mcp-$VERSION-x86_64-pc-windows-msvc.zip
  (cd "$X/x86_64-pc-windows-msvc" && sha256sum -c "$a.sha256") || return 1
  python3 -m zipfile -l "$X/x86_64-pc-windows-msvc/$a"
  [ "$(python3 -c 'import sys, zipfile; print(" ".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))' \
    "$X/x86_64-pc-windows-msvc/$a")" = "README.md wazion-mcp.exe" ]
}
check "platforms: a Windows target's archive is wazion-mcp-$VERSION-x86_64-pc-windows-msvc.zip with wazion-mcp.exe" \
  "$X/windows-archive.log" windows_archive
npm_other_platforms() {
  step npm x86_64-pc-windows-msvc win32-x64-msvc || return 1
  step npm x86_64-unknown-linux-musl linux-x64-musl || return 1
  local win=$X/x86_64-pc-windows-msvc/wazion-mcp-win32-x64-msvc-$VERSION.tgz
  local musl=$X/x86_64-unknown-linux-musl/wazion-mcp-linux-x64-musl-$VERSION.tgz
  tar -tzf "$win" >"$X/win-files.txt" && grep -qx package/bin/wazion-mcp.exe "$X/win-files.txt" || return 1
  echo "win32: $(pkg_json "$win"), musl: $(pkg_json "$musl")"
  [ "$(pkg_json "$win")" = '[["win32"],["x64"],null]' ] && [ "$(pkg_json "$musl")" = '[["linux"],["x64"],null]' ] \
    || return 1
  # Every platform of the matrix built the same launcher: depending on the matrix alone.
  tar -xzOf "$X/x86_64-pc-windows-msvc/wazion-mcp-$VERSION.tgz" package/package.json >"$X/launcher-win.json"
  tar -xzOf "$X/x86_64-unknown-linux-musl/wazion-mcp-$VERSION.tgz" package/package.json >"$X/launcher-musl.json"
  cmp "$X/launcher-win.json" "$X/launcher-musl.json" && ! grep -q linux-x64-gnu "$X/launcher-win.json"
}
check "platforms: npm packages for win32-x64-msvc (bin/wazion-mcp.exe) and static linux-x64-musl (no libc); one launcher" \
  "$X/npm.log" npm_other_platforms
release_bundle() {
  printf 'stand-in exe\n' >"$X/stub.exe"
  step mcpb universal-apple-darwin darwin-universal MCPB_WIN32_BIN="$X/stub.exe" || return 1
  local b=$X/universal-apple-darwin/wazion-mcp-$VERSION.mcpb
  mcpb unpack "$b" "$X/bundle" && mcpb validate "$X/bundle/manifest.json" || return 1
  ls -l "$X/bundle/server"
  [ -x "$X/bundle/server/wazion-mcp" ] && cmp "$X/bundle/server/wazion-mcp.exe" "$X/stub.exe" || return 1
  # What Claude Desktop on Windows and on macOS would launch (process.platform set per host).
  for os in win32 darwin; do
    printf "Object.defineProperty(process, 'platform', { value: '%s' });\n" "$os" >"$X/as-$os.cjs"
    # shellcheck disable=SC2016 # JavaScript, not shell
    (cd "$PKG" && node -r "$X/as-$os.cjs" --input-type=module -e '
      import { readFileSync } from "node:fs";
      import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";
      const dir = process.argv[1];
      const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, "utf8"));
      const c = await getMcpConfigForManifest({ manifest, extensionPath: dir, systemDirs: {},
        userConfig: { wazion_token: "t" }, pathSeparator: "/" });
      console.log(process.platform, JSON.stringify(manifest.compatibility), JSON.stringify(c));
      const exe = process.platform === "win32" ? "wazion-mcp.exe" : "wazion-mcp";
      if (c.command !== `${dir}/server/${exe}`) process.exit(1);
      if (JSON.stringify([c.args, c.env]) !== JSON.stringify([["https://www.wazion.com/api/mcp/"], { WAZION_TOKEN: "t" }])) process.exit(1);
      if (JSON.stringify(manifest.compatibility.platforms) !== JSON.stringify(["darwin", "win32"])) process.exit(1);
    ' "$X/bundle") || return 1
  done
}
check "platforms: the release's .mcpb (macOS universal + Windows .exe) validates, each OS launches its binary" \
  "$X/bundle.log" release_bundle

# ---------------------------------------------------------------- npm via a local registry
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
REG=http://127.0.0.1:$port/
mkdir -p "$RUN/verdaccio"
cat >"$RUN/verdaccio/config.yaml" <<YAML
storage: $RUN/verdaccio/storage
auth:
  htpasswd:
    file: $RUN/verdaccio/htpasswd
    max_users: 10
uplinks: {}
packages:
  '**':
    access: \$all
    publish: \$authenticated
max_body_size: 500mb
web:
  enable: false
log: { type: stdout, format: pretty, level: warn }
YAML
# shellcheck source=registry.sh source-path=SCRIPTDIR
. "$ROOT/ci/package/registry.sh" # ping, add_user (against $REG)
verdaccio --config "$RUN/verdaccio/config.yaml" --listen "127.0.0.1:$port" >"$RUN/verdaccio.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  ping && break
  sleep 0.1
done
ping || { cat "$RUN/verdaccio.log"; echo "verdaccio did not start on $REG" >&2; exit 1; }
say "verdaccio $(verdaccio --version) on $REG (no uplink: nothing leaves the machine)"

# A throw-away user's npm: its own HOME and .npmrc, an empty cache, the local registry.
as_user() {
  HOME=$RUN/home npm_config_userconfig=$RUN/home/.npmrc npm_config_cache=$RUN/npm-cache \
    npm_config_registry=$REG npm_config_update_notifier=false npm_config_fund=false \
    npm_config_audit=false "$@"
}
token=$(add_user ci ci-password)
echo "//127.0.0.1:$port/:_authToken=$token" >"$RUN/home/.npmrc"
publish() {
  as_user npm publish --loglevel=warn "$DIST/wazion-mcp-$PLATFORM-$VERSION.tgz" \
    && as_user npm publish --loglevel=warn "$DIST/wazion-mcp-$VERSION.tgz"
}
check "npm: both tarballs publish to the local registry" "$RUN/publish.log" publish

# npx, as the README tells users: an empty cache, nothing installed.
npx_version() {
  local out
  out=$(cd "$RUN/home" && as_user npx -y "wazion-mcp@$VERSION" --version) || return 1
  echo "$out"
  [ "$out" = "$("$BIN" --version)" ]
}
check "npm: npx -y wazion-mcp@$VERSION --version (empty cache) runs the packaged binary" "$RUN/npx.log" npx_version

check "npm: npm install wazion-mcp@$VERSION into a throw-away prefix" "$RUN/install.log" \
  as_user npm install --prefix "$RUN/prefix" --loglevel=warn "wazion-mcp@$VERSION"
installed_ok() {
  local installed=$RUN/prefix/node_modules/wazion-mcp-$PLATFORM/bin/wazion-mcp
  ls -l "$RUN/prefix/node_modules" "$RUN/prefix/node_modules/.bin"
  cmp "$installed" "$BIN" && [ -x "$installed" ] \
    && [ "$(cd "$RUN/prefix/node_modules" && ls)" = "$(printf 'wazion-mcp\nwazion-mcp-%s' "$PLATFORM")" ] \
    && [ "$(ls "$RUN/prefix/node_modules/.bin")" = wazion-mcp ]
}
check "npm: exactly the launcher and wazion-mcp-$PLATFORM installed, the binary executable and unchanged" \
  "$RUN/install-check.log" installed_ok
check "npm: npm install --omit=optional (no platform package)" "$RUN/install-noopt.log" \
  as_user npm install --prefix "$RUN/prefix-noopt" --omit=optional --loglevel=warn "wazion-mcp@$VERSION"

export LAUNCHER=$RUN/prefix/node_modules/.bin/wazion-mcp LAUNCHER_NOOPT=$RUN/prefix-noopt/node_modules/.bin/wazion-mcp
check "npm: the bridge through the launcher (npm-test.mjs)" "$RUN/npm-test.log" as_user node "$PKG/npm-test.mjs"
grep -E '^(PASS|FAIL)  ' "$RUN/npm-test.log" | sed 's/^/    /' || true

# ---------------------------------------------------------------- MCP Bundle
bundle=$DIST/wazion-mcp-$VERSION-$TARGET.mcpb
check "mcpb: mcpb unpack" "$RUN/mcpb-unpack.log" mcpb unpack "$bundle" "$RUN/mcpb"
check "mcpb: mcpb validate manifest.json" "$RUN/mcpb-validate.log" mcpb validate "$RUN/mcpb/manifest.json"
mcpb_info() {
  local info
  info=$(mcpb info "$bundle") || return 1
  echo "$info"
  grep -q "^File: $(basename "$bundle")" <<<"$info"
}
check "mcpb: mcpb info" "$RUN/mcpb-info.log" mcpb_info
sed 's/^/    | /' "$RUN/mcpb-info.log"
export BUNDLE_DIR=$RUN/mcpb
check "mcpb: the bridge launched as the manifest says (mcpb-test.mjs)" "$RUN/mcpb-test.log" node "$PKG/mcpb-test.mjs"
grep -E '^(PASS|FAIL)  ' "$RUN/mcpb-test.log" | sed 's/^/    /' || true

# ---------------------------------------------------------------- wheel and installers
for t in wheel-test install-test; do
  if [ -f "$PKG/$t.sh" ]; then
    check "ci/package/$t.sh" "$RUN/$t.log" env OUT="$DIST" bash "$PKG/$t.sh" "$DIST"
    grep -E '^(PASS|FAIL) ' "$RUN/$t.log" | sed 's/^/    /' || true
  else
    say "note: ci/package/$t.sh is not there; skipped"
  fi
done

echo "package: $pass passed, $fail failed"
[ "$fail" = 0 ]
