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
