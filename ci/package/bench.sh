#!/usr/bin/env bash
# The npm channel's start cost against mcp-remote (issue 17 item 2): `npx -y wazion-mcp` and
# `npx -y mcp-remote@0.15.1`, cold (empty npm cache) and warm, through the same local
# registry serving from its storage: time to the `initialize` answer, registry requests,
# bytes downloaded, RSS of the process tree (ci/package/npx-bench.mjs does the measuring).
# Not part of .ci/run. Run by hand after ci/package/run.sh (it reuses its dist/ and tools):
#
#   bash ci/package/bench.sh          # RUNS=5 by default
#
# Verdaccio first fetches mcp-remote's packages from the npm registry once (its uplink), then
# is restarted without the uplink, so every measured launch is served from its storage, as
# the release's npm packages are (made here by scripts/pkg/npm.sh). Figures go to
# docs/benchmarks.md by hand ("npm channel: npx cold and warm").
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PKG=$ROOT/ci/package
DIST=$PKG/.run/dist
B=$PKG/.bench                 # its own folder: run.sh empties .run
DEMO=${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/demo_server
BIN=${WAZION_MCP_PACKAGE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wazion-mcp}
export PATH=$PKG/node_modules/.bin:$PATH
VERSION=$(cargo pkgid --quiet)
VERSION=${VERSION##*[#@]}
# shellcheck disable=SC2012 # names made by npm.sh
PLATFORM=$(cd "$DIST" && ls wazion-mcp-*-"$VERSION".tgz | sed -n "s/^wazion-mcp-\(.*\)-$VERSION.tgz$/\1/p")
[ -n "$PLATFORM" ] || { echo "bench.sh: no packed tarballs in $DIST; run ci/package/run.sh first" >&2; exit 1; }

pids=()
cleanup() { for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; pids=(); }
trap cleanup EXIT
rm -rf "$B"
mkdir -p "$B/home" "$B/verdaccio"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
REG=http://127.0.0.1:$port/

# shellcheck source=registry.sh source-path=SCRIPTDIR
. "$ROOT/ci/package/registry.sh" # ping, add_user (against $REG)
verdaccio_up() { # uplink: yes/no
  {
    echo "storage: $B/verdaccio/storage"
    echo "auth: { htpasswd: { file: $B/verdaccio/htpasswd, max_users: 10 } }"
    if [ "$1" = yes ]; then echo "uplinks: { npmjs: { url: https://registry.npmjs.org/ } }"; else echo "uplinks: {}"; fi
    echo "packages:"
    echo "  'wazion-mcp*': { access: \$all, publish: \$authenticated }"
    if [ "$1" = yes ]; then echo "  '**': { access: \$all, publish: \$authenticated, proxy: npmjs }"
    else echo "  '**': { access: \$all, publish: \$authenticated }"; fi
    echo "max_body_size: 500mb"
    echo "web: { enable: false }"
    echo "log: { type: stdout, format: pretty, level: warn }"
  } >"$B/verdaccio/config.yaml"
  verdaccio --config "$B/verdaccio/config.yaml" --listen "127.0.0.1:$port" >>"$B/verdaccio.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do ping && return 0; sleep 0.1; done
  echo "verdaccio did not start" >&2; exit 1
}
user_npm() {
  HOME=$B/home npm_config_userconfig=$B/home/.npmrc npm_config_cache=$B/prime-cache \
    npm_config_registry=$REG npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false "$@"
}

echo "== priming the registry's storage (mcp-remote@0.15.1 through the uplink; wazion-mcp published)"
verdaccio_up yes
token=$(add_user bench bench-password)
echo "//127.0.0.1:$port/:_authToken=$token" >"$B/home/.npmrc"
# The release's packages exactly: npm/platforms.txt's matrix, the launcher depending on just
# those. This machine's binary stands in for the matrix's package of its os-cpu (Linux x64:
# linux-x64-musl), the others hold a stand-in file (npm fetches every optional dependency's
# metadata, as from npmjs, and installs none of them).
oscpu=${PLATFORM%-gnu}
mkdir -p "$B/pkgs" "$B/stubs"
grep -v '^#' "$ROOT/npm/platforms.txt" | while read -r plat triple; do
  if [ -z "$plat" ]; then continue; fi
  bin=$BIN
  case $plat in
    "$oscpu" | "$oscpu"-*) ;;
    *) bin=$B/stubs/$plat; echo "stand-in for the $plat binary" >"$bin" ;;
  esac
  env BIN="$bin" OUT="$B/pkgs" VERSION="$VERSION" TARGET="$triple" PLATFORM="$plat" ROOT="$ROOT" \
    bash "$ROOT/scripts/pkg/npm.sh" 2>/dev/null
  user_npm npm publish --loglevel=warn "$B/pkgs/wazion-mcp-$plat-$VERSION.tgz"
done
user_npm npm publish --loglevel=warn "$B/pkgs/wazion-mcp-$VERSION.tgz"
user_npm npm install --prefix "$B/prime" --loglevel=warn mcp-remote@0.15.1 >/dev/null
cleanup
echo "== the registry restarted without an uplink: everything from its storage"
verdaccio_up no
user_npm npm install --prefix "$B/prefix" --loglevel=warn "wazion-mcp@$VERSION" >/dev/null
"$DEMO" --port 0 --token demo-token >"$B/demo.url" 2>"$B/demo.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$B/demo.url" ] && break; sleep 0.1; done

echo "== measuring (machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); node $(node --version), npm $(npm --version))"
CLK_TCK=$(getconf CLK_TCK) REGISTRY=$REG DEMO_URL=$(head -n1 "$B/demo.url") SCRATCH=$B WAZION_VERSION=$VERSION BIN=$BIN \
  LAUNCHER=$B/prefix/node_modules/.bin/wazion-mcp \
  node "$PKG/npx-bench.mjs"
