# shellcheck shell=bash disable=SC2034  # sourced: PY, URL, DEMO_PID are for the caller
# Sourced by ci/package/wheel-test.sh and install-test.sh (after setting ROOT): the Python
# tools they drive the bridge with, pinned, in a git-ignored venv: the official MCP Python SDK
# (`mcp`, for ci/package/drive.py), uv and pipx. Sets PY (the venv's python) and PYTOOLS.
PY_PINS=(mcp==2.3.0 uv==0.13.8 pipx==1.18.4)
PYTOOLS=$ROOT/ci/.tools/pkg-py
if [ "$(cat "$PYTOOLS/.pins" 2>/dev/null)" != "${PY_PINS[*]}" ]; then
  echo "== installing ${PY_PINS[*]} from PyPI into ci/.tools/pkg-py"
  rm -rf "$PYTOOLS"
  python3 -m venv "$PYTOOLS"
  "$PYTOOLS/bin/pip" install --quiet --disable-pip-version-check "${PY_PINS[@]}"
  echo "${PY_PINS[*]}" >"$PYTOOLS/.pins"
fi
PY=$PYTOOLS/bin/python

# Starts examples/demo_server.rs ($DEMO_SERVER when ci/package/run.sh gives it, else built
# in the dev profile, as `cargo test` builds it) on a free port with its request log in
# $1/demo.log; sets URL and DEMO_PID.
start_demo() {
  local demo=${DEMO_SERVER:-}
  if [ -z "$demo" ]; then
    cargo build --locked --quiet --bin wazion-mcp --example demo_server
    demo=${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/demo_server
  fi
  "$demo" --port 0 --token demo-token --log-requests \
    >"$1/demo.url" 2>"$1/demo.log" &
  DEMO_PID=$!
  for _ in $(seq 100); do [ -s "$1/demo.url" ] && break; sleep 0.1; done
  URL=$(head -n1 "$1/demo.url")
  [ -n "$URL" ] || { cat "$1/demo.log"; return 1; }
}
