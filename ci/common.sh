# Shared by ci/conformance/run.sh and ci/conformance-next/run.sh (source it after setting
# ROOT and NEED_LOG_LINES): the pinned Node, log helpers, and Node's installation.

NODE_VERSION=22.23.3          # the `node` npm package (ships the binary); Inspector 2.x needs >=22.19
TOOLS=$ROOT/ci/.tools
NODE22=$TOOLS/node22/node_modules/node/bin/node

t0=$(date +%s%N)
ms() { echo $((($(date +%s%N) - t0) / 1000000)); }
say() { printf '[%6.1fs] %s\n' "$(echo "$(ms)" | awk '{print $1/1000}')" "$*"; }
show_log() { tail -n "$NEED_LOG_LINES" "$1" | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/    | /'; }

# Installs Node $NODE_VERSION into ci/.tools/node22 unless it is already there, and puts it
# first on PATH (the suite, the Inspector and npm run under it).
install_node22() {
  if [ "$("$NODE22" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
    say "installing node@$NODE_VERSION into ci/.tools/node22 (npm registry)"
    rm -rf "$TOOLS/node22"
    mkdir -p "$TOOLS/node22"
    # The `node` package's preinstall fetches node-<os>-<arch>@$NODE_VERSION from the registry.
    npm install --prefix "$TOOLS/node22" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "node@$NODE_VERSION" >"$TOOLS/node22.log" 2>&1 || { cat "$TOOLS/node22.log"; exit 1; }
    if [ "$("$NODE22" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
      cat "$TOOLS/node22.log"
      echo "error: node@$NODE_VERSION did not install a working $NODE22" >&2
      exit 1
    fi
  fi
  export PATH="$(dirname "$NODE22"):$PATH"
}

# Runs `npm ci` in folder $1 unless its package-lock.json is what was installed last time (a
# stamp in node_modules). No package here needs its install scripts (the Inspector's
# postinstall is a no-op when installed as a dependency), so none are run. $2: the log's
# name under ci/.tools; $3: what is being installed, for the progress line.
npm_ci_once() {
  local lock_sum stamp=$1/node_modules/.wazion-ci-lock
  lock_sum=$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    say "npm ci in ${1#"$ROOT"/} ($3; versions from package-lock.json)"
    (cd "$1" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$TOOLS/$2" 2>&1 \
      || { cat "$TOOLS/$2"; exit 1; }
    echo "$lock_sum" >"$stamp"
  fi
}
