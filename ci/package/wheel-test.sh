#!/usr/bin/env bash
# The PyPI channel (issue 17 §3), as a user gets it: the wheel that scripts/package.sh wrote
# (scripts/pkg/wheel.sh) is installed offline, by name, from OUT as a package index would
# serve it, and a real MCP client drives the installed bridge (ci/package/drive.py: the MCP
# Python SDK for the handshake, a tool call and the WAzion-style 401; a raw driver for SIGTERM
# -> session DELETE) against examples/demo_server.rs:
#
#   1. `pip install wazion-mcp` into a fresh venv: its `wazion-mcp` script must be the native
#      binary itself (no Python shim), byte for byte the one in the wheel;
#   2. `uvx wazion-mcp` (uv from PyPI; --offline, the wheel found with --find-links);
#   3. `pipx run wazion-mcp` (pipx from PyPI, its pip backend told --no-index --find-links;
#      its uv backend is what uvx tests);
#   4. the README's `uv tool install` / `pipx install` lines put it on PATH, and their
#      uninstall lines remove it.
#
#   bash ci/package/wheel-test.sh [OUT]        (OUT: package.sh's folder, default dist/)
#
# Tools (the SDK `mcp`, uv, pipx; pinned) go into ci/.tools/pkg-py (git-ignored); everything
# a run makes, in ci/.tools/run-wheel. Last line: "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$(cd "${1:-${OUT:-$ROOT/dist}}" && pwd)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
RUN=$ROOT/ci/.tools/run-wheel

say() { printf '== %s\n' "$*"; }

# shellcheck source=py-tools.sh
. ci/package/py-tools.sh       # PY (the SDK's venv), PYTOOLS (uv, pipx), start_demo

shopt -s nullglob
wheels=("$OUT"/wazion_mcp-"$VERSION"-*.whl)
shopt -u nullglob
[ ${#wheels[@]} -ge 1 ] || { echo "no wazion_mcp-$VERSION-*.whl in $OUT: run scripts/package.sh first" >&2; exit 1; }
say "wheels in $OUT: $(basename -a "${wheels[@]}" | tr '\n' ' ')"

# ---------------------------------------------------------------- demo server
rm -rf "$RUN"
mkdir -p "$RUN"
start_demo "$RUN"
trap 'kill "$DEMO_PID" 2>/dev/null || true' EXIT

passed=0 failed=0
result() { # name, status
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "PASS  $1"; else failed=$((failed + 1)); echo "FAIL  $1"; fi
}
drive() { # name, command...
  local name=$1; shift
  say "$name: $*"
  if "$PY" ci/package/drive.py --url "$URL" --demo-log "$RUN/demo.log" -- "$@" 2>"$RUN/$name.stderr" | sed 's/^/    /'; then
    result "$name: a real client through the installed bridge" 0
  else
    result "$name: a real client through the installed bridge" 1
    tail -n 20 "$RUN/$name.stderr" | sed 's/^/    | /'
  fi
}
# Throw-away HOME and caches: nothing of the user's is read or written.
export HOME=$RUN/home XDG_CACHE_HOME=$RUN/home/.cache XDG_CONFIG_HOME=$RUN/home/.config
mkdir -p "$HOME"

# ---------------------------------------------------------------- 1. pip into a fresh venv
python3 -m venv "$RUN/venv"
if "$RUN/venv/bin/pip" install --quiet --disable-pip-version-check --no-index --find-links "$OUT" \
     "wazion-mcp==$VERSION" >"$RUN/pip.log" 2>&1; then
  result "pip install wazion-mcp==$VERSION (offline, from $OUT)" 0
else
  result "pip install wazion-mcp==$VERSION (offline, from $OUT)" 1; cat "$RUN/pip.log"
fi
script=$RUN/venv/bin/wazion-mcp
# The script is the binary of one of the wheels, not a Python entry point.
script_sums=$("$PY" - "${wheels[@]}" <<'PY'
import hashlib, sys, zipfile
for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if ".data/scripts/" in name:
                print(hashlib.sha256(z.read(name)).hexdigest())
PY
)
if [ -x "$script" ] && grep -qxF "$(sha256sum "$script" | cut -d' ' -f1)" <<<"$script_sums" \
   && [ "$(head -c4 "$script" | od -An -c | tr -d ' ')" = '177ELF' ]; then
  result "the venv's wazion-mcp is the native binary from the wheel ($("$script" --version))" 0
else
  result "the venv's wazion-mcp is the native binary from the wheel" 1; ls -l "$script" || true
fi
drive pip "$script"

# ---------------------------------------------------------------- 2. uvx
export UV_CACHE_DIR=$RUN/uv-cache UV_TOOL_DIR=$RUN/uv-tools UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
drive uvx "$PYTOOLS/bin/uvx" --offline --no-index --find-links "$OUT" "wazion-mcp==$VERSION"

# ---------------------------------------------------------------- 3. pipx run
export PIPX_HOME=$RUN/pipx PIPX_BIN_DIR=$RUN/pipx/bin PIPX_MAN_DIR=$RUN/pipx/man
# pipx's shared pip comes from PyPI, as on a user's first pipx use (the wheel itself does not).
"$PYTOOLS/bin/pipx" upgrade-shared >"$RUN/pipx-shared.log" 2>&1 || { cat "$RUN/pipx-shared.log"; exit 1; }
drive pipx "$PYTOOLS/bin/pipx" run --backend pip --pip-args="--no-index --find-links $OUT" --spec "wazion-mcp==$VERSION" wazion-mcp

# ---------------------------------------------------------------- 4. install and uninstall lines
# The README's lines for keeping it: `uv tool install` / `pipx install` put wazion-mcp on PATH
# (here: their bin folders), the uninstall lines take it away again.
export UV_TOOL_BIN_DIR=$RUN/uv-bin
keep() { # name, bin folder, install function, uninstall function
  local name=$1 dir=$2 ok=1
  if $3 >"$RUN/$name-install.log" 2>&1 && [ "$("$dir/wazion-mcp" --version)" = "wazion-mcp $VERSION" ] \
     && $4 >"$RUN/$name-uninstall.log" 2>&1 && [ ! -e "$dir/wazion-mcp" ]; then ok=0; fi
  result "$name: installed on PATH ($dir/wazion-mcp), then uninstalled" $ok
  [ $ok = 0 ] || cat "$RUN/$name-install.log" "$RUN/$name-uninstall.log" 2>/dev/null | tail -n 20
}
uv_install() { "$PYTOOLS/bin/uv" tool install --offline --no-index --find-links "$OUT" "wazion-mcp==$VERSION"; }
uv_uninstall() { "$PYTOOLS/bin/uv" tool uninstall wazion-mcp; }
pipx_install() {
  "$PYTOOLS/bin/pipx" install --backend pip --pip-args="--no-index --find-links $OUT" "wazion-mcp==$VERSION"
}
pipx_uninstall() { "$PYTOOLS/bin/pipx" uninstall wazion-mcp; }
keep uv-tool "$UV_TOOL_BIN_DIR" uv_install uv_uninstall
keep pipx "$PIPX_BIN_DIR" pipx_install pipx_uninstall

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
