#!/usr/bin/env bash
# The conformance suite's 2026-07-28 CLIENT scenarios through the bridge (issue 6 §4), called
# by .ci/run after ci/conformance/run.sh. Uses a pinned PRE-RELEASE of the suite
# (package.json here), kept apart from the 0.1.16 setup in ci/conformance/.
#
#   1. Modern pass-through: driver2026.mjs, a 2026-07-28 client writing raw JSON-RPC with
#      params._meta to the bridge's stdin, against each scenario's server. What the suite
#      checks on the HTTP side (MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*,
#      removal of tools with invalid x-mcp-header, schemas relayed intact) is the bridge's work.
#      Every scenario in MODERN must pass.
#   2. Era translation: ci/conformance/driver.mjs (the 2025-era TypeScript SDK client) against
#      2026-only servers: the client's initialize goes first and is refused, the bridge
#      translates, and every check of the suite must pass except the ones about that one
#      refused initialize (verdict_translation.mjs; the four HTTP scenarios, tools_call,
#      sep-2322). TRANSLATION_XFAIL would list scenarios expected to fail (none).
#   3. The SDKs' newest servers (sdk_eras.mjs): a 2025 SDK client directly and through the
#      bridge against the TypeScript SDK v2 (dual-era and 2026-only builds of one definition)
#      and the Python SDK 2.x (dual-era, in a throw-away venv under ci/.tools/py-mcp).
#
# Node 22 is the one ci/conformance/run.sh installs into ci/.tools/node22 (installed here
# too if missing, same version); the suite goes into ci/conformance-next/node_modules/ with
# `npm ci`. Logs and checks.json files: ci/.tools/run-next/. Last line: "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

NEXT=$ROOT/ci/conformance-next
NEED_LOG_LINES=40
# shellcheck source=../common.sh
. "$ROOT/ci/common.sh"
RUN=$TOOLS/run-next
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${WAZION_MCP_BIN:-$TARGET/debug/wazion-mcp}

# Every 2026-07-28 client scenario of the suite that is not about OAuth or an extension:
# the four HTTP ones of issue 6 §4 first, then the rest (all concern what the bridge relays).
HTTP=(request-metadata http-standard-headers http-custom-headers http-invalid-tool-headers)
MODERN=("${HTTP[@]}" tools_call json-schema-ref-no-deref json-schema-2020-12-preservation
  sep-2322-client-request-state)
# The 2025 SDK client through translation: the four HTTP scenarios and two more, each judged
# by the suite itself, every check counted but those about the client's one refused
# initialize (the first request; every later one is a well-formed 2026 one).
TRANSLATION=("${HTTP[@]}" tools_call sep-2322-client-request-state)
# scenario|why the bridge fails it today
TRANSLATION_XFAIL=(
)


# ---------------------------------------------------------------- tools
install_node22

npm_ci_once "$NEXT" npm-ci-next.log "the 2026-07-28 suite and SDK"
SUITE=$NEXT/node_modules/@modelcontextprotocol/conformance/dist/index.js
say "node $(node --version), @modelcontextprotocol/conformance" \
  "$(node -p "require('$NEXT/node_modules/@modelcontextprotocol/conformance/package.json').version")," \
  "@modelcontextprotocol/sdk $(node -p "require('$NEXT/node_modules/@modelcontextprotocol/sdk/package.json').version")"

# The bridge. WAZION_MCP_BIN, when set, names the binary to test, and nothing is built.
# Otherwise cargo builds the same units as `cargo test` and
# ci/conformance/run.sh do (the bin together with an example, so the dev-dependencies'
# features are unified the same way): after either of them this is a no-op. A plain
# `--bin wazion-mcp` resolves other features for tokio, reqwest and their dependencies and
# rebuilt them all (165 s on a clean run).
if [ -n "${WAZION_MCP_BIN:-}" ]; then
  say "using WAZION_MCP_BIN=$BIN (not built here)"
  [ -x "$BIN" ] || { echo "error: WAZION_MCP_BIN=$BIN is not an executable" >&2; exit 1; }
else
  say "cargo build --bin wazion-mcp --example demo_server (a no-op after cargo test)"
  cargo build --locked --quiet --bin wazion-mcp --example demo_server
fi
export WAZION_MCP_BIN=$BIN

rm -rf "$RUN"
mkdir -p "$RUN"
# The SDK driver of ci/conformance, run from here so its imports resolve to this folder's SDK.
mkdir -p "$NEXT/.run"
cp "$ROOT/ci/conformance/driver.mjs" "$NEXT/.run/driver.mjs"

# The suite splits --command on spaces and runs it with a shell, from this folder.
# Each run starts with an empty era cache, as the first start on a new machine does.
conformance() { # driver scenario results-dir
  (cd "$NEXT" && WAZION_MCP_CACHE_DIR=$(mktemp -d "$RUN/cache.XXXX") node "$SUITE" client --command "node $1" --scenario "$2" --spec-version 2026-07-28 \
    --timeout 30000 -o "$3")
}

# Runs scenario $2 with driver $1, results in directory $3: sets log and rc (the suite's exit).
run_scenario() {
  log=$3-${2//\//_}.log
  rc=0
  conformance "$1" "$2" "$3" >"$log" 2>&1 || rc=$?
}
# Reads the checks of scenario $2 from results directory $1: sets verdict, nok, nbad, nwarn, why.
read_checks() {
  read -r _ verdict nok nbad nwarn why < <(node "$ROOT/ci/conformance/verdict.mjs" "$1" "$2")
}
# Counts scenario $s as passed (suite exit 0 and every check passed) or failed; $1 names the client.
judge() {
  if [ "$rc" = 0 ] && [ "$verdict" = pass ]; then
    passed=$((passed + 1)); say "PASS  $s, $1 ($nok checks)"
  else
    failed=$((failed + 1)); say "FAIL  $s, $1 (exit $rc; $nok ok, $nbad failed, $nwarn warnings) $why"
    show_log "$log"
  fi
}

passed=0
failed=0
xfailed=()

# ---------------------------------------------------------------- 1. modern pass-through
for s in "${MODERN[@]}"; do
  run_scenario driver2026.mjs "$s" "$RUN/modern"
  read_checks "$RUN/modern" "$s"
  judge "2026-07-28 client"
done

# ---------------------------------------------------------------- 2. translation
# The 2025 client's own initialize goes first (issue 19 §1); a scenario server that checks
# every POST against the 2026 rules records that one refused initialize as invalid, which
# verdict_translation.mjs counts as expected (and nothing else). The suite then exits 1, so a
# scenario passes on its checks: every other one a SUCCESS, and the exit 0 unless checks
# were excused.
for s in "${TRANSLATION[@]}"; do
  run_scenario .run/driver.mjs "$s" "$RUN/translation"
  read -r _ verdict nok nbad nwarn excused why < <(node "$NEXT/verdict_translation.mjs" "$RUN/translation" "$s")
  excused=${excused%:}
  if [ "$verdict" = pass ] && { [ "$rc" = 0 ] || [ "$excused" -gt 0 ]; }; then
    passed=$((passed + 1))
    say "PASS  $s, 2025 SDK client through translation ($nok checks; $excused about the one refused initialize, expected)"
  else
    failed=$((failed + 1))
    say "FAIL  $s, 2025 SDK client through translation (exit $rc; $nok ok, $nbad failed, $nwarn warnings, $excused excused) $why"
    show_log "$log"
  fi
done
for entry in "${TRANSLATION_XFAIL[@]}"; do
  s=${entry%%|*}
  run_scenario .run/driver.mjs "$s" "$RUN/translation"
  read_checks "$RUN/translation" "$s"
  if [ "$verdict" = pass ] && [ "$rc" = 0 ]; then
    failed=$((failed + 1)); say "FAIL  $s, 2025 SDK client through translation, passed but is listed in TRANSLATION_XFAIL: remove it there"
  elif [ "$nbad$nwarn" != 00 ] || [ "$rc" != 0 ]; then
    xfailed+=("$entry")
  else
    failed=$((failed + 1)); say "FAIL  $s, 2025 SDK client through translation, did not run ($why; see $log)"
  fi
done

# ---------------------------------------------------------------- 3. the SDKs' newest servers
# Issue 19 §1 and §6: sdk_eras.mjs runs a 2025 SDK client directly and through the bridge
# against one TypeScript SDK v2 server definition served dual-era and 2026-only, and against
# the Python SDK 2.x server of py_eras_server.py (dual-era), installed here into a throw-away
# venv (ci/.tools/py-mcp, pinned version, reinstalled when the pin changes).
PY_MCP_VERSION=2.3.0
PYVENV=$TOOLS/py-mcp
if [ "$(cat "$PYVENV/.wazion-mcp-version" 2>/dev/null)" != "$PY_MCP_VERSION" ]; then
  say "installing mcp==$PY_MCP_VERSION (PyPI) into ci/.tools/py-mcp"
  rm -rf "$PYVENV"
  { python3 -m venv "$PYVENV" && "$PYVENV/bin/pip" install --quiet --disable-pip-version-check \
      "mcp==$PY_MCP_VERSION"; } >"$TOOLS/py-mcp.log" 2>&1 || { cat "$TOOLS/py-mcp.log"; exit 1; }
  echo "$PY_MCP_VERSION" >"$PYVENV/.wazion-mcp-version"
fi
sdk_log=$RUN/sdk-eras.log
rc=0
(cd "$NEXT" && node sdk_eras.mjs "$BIN" "$PYVENV/bin/python") >"$sdk_log" 2>&1 || rc=$?
while read -r verdict rest; do
  case $verdict in
    PASS) passed=$((passed + 1)); say "PASS  sdk-eras $rest" ;;
    FAIL) failed=$((failed + 1)); say "FAIL  sdk-eras $rest" ;;
  esac
done < <(grep -E '^(PASS|FAIL)  ' "$sdk_log")
if [ "$rc" != 0 ] || ! grep -q '^sdk-eras: [0-9]* passed, 0 failed$' "$sdk_log"; then
  failed=$((failed + 1)); say "FAIL  sdk_eras.mjs (exit $rc)"
  show_log "$sdk_log"
fi

echo
echo "Expected failures (${#xfailed[@]}), 2025 SDK client through the bridge's translation:"
for e in "${xfailed[@]}"; do echo "  XFAIL ${e%%|*}: ${e#*|}"; done
echo "Logs and the suite's checks.json files: ci/.tools/run-next/. Time: $(echo "$(ms)" | awk '{printf "%.1f", $1/1000}') s."
echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
