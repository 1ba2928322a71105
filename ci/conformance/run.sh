#!/usr/bin/env bash
# Real MCP clients against the bridge (issue 5, §7 and §8), called by .ci/run:
#
#   1. the MCP Inspector CLI lists and calls tools through wazion-mcp (demo server behind it);
#   2. examples/headless_agent.mjs (an MCP SDK client) calls a tool through wazion-mcp;
#   3. the official conformance suite runs its client scenarios through wazion-mcp, driven by
#      ci/conformance/driver.mjs (an MCP SDK client on the bridge's stdio):
#      initialize, tools_call, elicitation-sep1034-client-defaults and sse-retry must pass;
#      the auth/* ones sign in through OAuth with browser.mjs as the browser, except the
#      client-credentials and cross-app-access ones, which are expected failures (see
#      expected-failures.yml). The last line is "N passed, M failed" for the scenarios.
#
# Needs: the Rust toolchain, and npm with Node 18+ (only to bootstrap). It installs Node
# $NODE_VERSION from the npm registry's `node` package into ci/.tools/ and the pinned
# clients of ci/conformance/package-lock.json into ci/conformance/node_modules/ (both
# git-ignored), reusing them when already there. Delete those two folders to start afresh.
# Exits non-zero on any unexpected result.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

REQUIRED=(initialize tools_call elicitation-sep1034-client-defaults sse-retry)
NEED_LOG_LINES=40             # lines of a failing scenario's output to show

# shellcheck source=../common.sh
. "$ROOT/ci/common.sh"         # NODE_VERSION, TOOLS, NODE22, say, show_log, install_node22

CONF=$ROOT/ci/conformance
RUN=$TOOLS/run                # logs and the suite's results of the last run
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${WAZION_MCP_BIN:-$TARGET/debug/wazion-mcp}   # override to test another build
DEMO=$TARGET/debug/examples/demo_server

# ---------------------------------------------------------------- tools
install_node22
say "node $(node --version) ($NODE22)"

npm_ci_once "$CONF" npm-ci.log "conformance suite, SDK, Inspector"
ver() { node -p "require('$CONF/node_modules/$1/package.json').version"; }
say "clients: @modelcontextprotocol/conformance $(ver @modelcontextprotocol/conformance)," \
  "@modelcontextprotocol/sdk $(ver @modelcontextprotocol/sdk)," \
  "@modelcontextprotocol/inspector $(ver @modelcontextprotocol/inspector)"

# ---------------------------------------------------------------- bridge
# `cargo test` has already built both in the dev profile, so this is normally a no-op.
say "cargo build --bin wazion-mcp --example demo_server"
cargo build --locked --quiet --bin wazion-mcp --example demo_server
export WAZION_MCP_BIN=$BIN

rm -rf "$RUN"
mkdir -p "$RUN/home"
# The bridge's era cache and token store for this run, never the user's own folders (the
# cache would otherwise collect an entry per random port): driver.mjs passes these two on,
# the Inspector gets them with -e, the headless example (which passes only PATH, HOME and
# the token, as a user's program would) gets HOME=$RUN/home.
export WAZION_MCP_CACHE_DIR=$RUN/cache WAZION_MCP_CONFIG_DIR=$RUN/config
client_pass=0
client_fail=0
client_result() { # name ok(0/1) log
  if [ "$2" = 0 ]; then
    client_pass=$((client_pass + 1)); say "PASS  $1"
  else
    client_fail=$((client_fail + 1)); say "FAIL  $1"; show_log "$3"
  fi
}

# ---------------------------------------------------------------- demo server
demo_pid=
stop_demo() {
  if [ -n "$demo_pid" ]; then
    kill "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
    demo_pid=
  fi
}
trap stop_demo EXIT
# --port 0: the OS picks a free port; the server prints its URL once it is listening.
"$DEMO" --port 0 --token demo-token >"$RUN/demo.url" 2>"$RUN/demo.log" &
demo_pid=$!
for _ in $(seq 100); do
  [ -s "$RUN/demo.url" ] && break
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.1
done
DEMO_URL=$(head -n1 "$RUN/demo.url" 2>/dev/null || true)
if [ -z "$DEMO_URL" ]; then
  echo "error: the demo server did not start" >&2
  cat "$RUN/demo.log" >&2
  exit 1
fi
say "demo server at $DEMO_URL (pid $demo_pid)"

# ---------------------------------------------------------------- MCP Inspector CLI
INSPECTOR=$CONF/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js
inspector() { # HOME: the Inspector keeps a catalog and storage under ~/.mcp-inspector
  HOME=$RUN/home node "$INSPECTOR" --cli -e WAZION_TOKEN=demo-token \
    -e "WAZION_MCP_CACHE_DIR=$WAZION_MCP_CACHE_DIR" -e "WAZION_MCP_CONFIG_DIR=$WAZION_MCP_CONFIG_DIR" \
    "$@" -- "$BIN" "$DEMO_URL"
}
ok=0
inspector --method tools/list >"$RUN/inspector-list.json" 2>"$RUN/inspector-list.log" || ok=1
[ $ok = 0 ] && { node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const names = r.tools.map((t) => t.name);
  console.log("    tools: " + names.join(", "));
  process.exit(names.includes("get_shop_status") ? 0 : 1);' "$RUN/inspector-list.json" || ok=1; }
[ $ok = 0 ] || cat "$RUN/inspector-list.json" >>"$RUN/inspector-list.log"
client_result "inspector --cli --method tools/list, through wazion-mcp" $ok "$RUN/inspector-list.log"

ok=0
inspector --method tools/call --tool-name echo --tool-arg text=inspector-ok \
  >"$RUN/inspector-call.json" 2>"$RUN/inspector-call.log" || ok=1
grep -q 'inspector-ok' "$RUN/inspector-call.json" || ok=1
[ $ok = 0 ] || cat "$RUN/inspector-call.json" >>"$RUN/inspector-call.log"
client_result "inspector --cli --method tools/call echo, through wazion-mcp" $ok "$RUN/inspector-call.log"

# ---------------------------------------------------------------- headless agent example
# Run a copy from inside ci/conformance so its `import '@modelcontextprotocol/sdk/...'`
# resolves to the pinned SDK there, exactly as in a user's project.
mkdir -p "$CONF/.run"
cp "$ROOT/examples/headless_agent.mjs" "$CONF/.run/headless_agent.mjs"
ok=0
HOME=$RUN/home WAZION_TOKEN=demo-token WAZION_MCP=$BIN WAZION_MCP_URL=$DEMO_URL \
  node "$CONF/.run/headless_agent.mjs" echo '{"text":"headless-ok"}' >"$RUN/headless.log" 2>&1 || ok=1
grep -qx 'headless-ok' "$RUN/headless.log" || ok=1
client_result "examples/headless_agent.mjs echo, through wazion-mcp" $ok "$RUN/headless.log"
stop_demo

# ---------------------------------------------------------------- conformance suite
SUITE=$CONF/node_modules/@modelcontextprotocol/conformance/dist/index.js
# The suite splits --command on spaces and runs it with a shell: give it a relative path
# (from ci/conformance) and let PATH find Node 22. The driver finds the bridge through
# WAZION_MCP_BIN.
conformance() { (cd "$CONF" && node "$SUITE" client --command "node driver.mjs" "$@"); }

mapfile -t ALL < <(node "$SUITE" list --client | sed -n 's/^  - \([^ ]*\).*/\1/p')
mapfile -t XFAIL < <(sed -n 's/^  - \([^ #]*\).*/\1/p' "$CONF/expected-failures.yml")
is_in() { local x=$1; shift; local y; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }
OTHERS=()
for s in "${ALL[@]}"; do is_in "$s" "${REQUIRED[@]}" || OTHERS+=("$s"); done

passed=0
failed=0
xfailed=()

# The four required scenarios, one at a time (sse-retry measures reconnect timing).
for s in "${REQUIRED[@]}"; do
  log=$RUN/${s//\//_}.log
  rc=0
  conformance --scenario "$s" --timeout 30000 -o "$RUN/results" >"$log" 2>&1 || rc=$?
  read -r _ verdict nok nbad nwarn why < <(node "$CONF/verdict.mjs" "$RUN/results" "$s")
  if [ "$rc" = 0 ] && [ "$verdict" = pass ]; then
    passed=$((passed + 1)); say "PASS  $s ($nok checks)"
  else
    failed=$((failed + 1)); say "FAIL  $s (exit $rc; $nok ok, $nbad failed, $nwarn warnings) $why"
    show_log "$log"
  fi
done

# Every other client scenario of the pinned suite: the auth/* ones listed in
# expected-failures.yml must fail, any other must pass. They run in the suite's own
# parallel mode, one suite run per group (a scenario in none of them shows as "did not run").
if [ "${#OTHERS[@]}" -gt 0 ]; then
  pids=()
  for g in auth backcompat draft extensions; do
    conformance --suite "$g" --timeout 20000 -o "$RUN/results-other" >"$RUN/suite-$g.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true # their exit codes are judged per scenario below
  while read -r s verdict nok nbad nwarn why; do
    if is_in "$s" "${XFAIL[@]}"; then
      if [ "$verdict" = fail ] && [ "$nbad$nwarn" != 00 ]; then
        xfailed+=("$s")
      elif [ "$verdict" = pass ]; then
        failed=$((failed + 1)); say "FAIL  $s passed but is listed in ci/conformance/expected-failures.yml: remove it there"
      else
        failed=$((failed + 1)); say "FAIL  $s did not run ($why; see ci/.tools/run/suite-*.log)"
      fi
    elif [ "$verdict" = pass ]; then
      passed=$((passed + 1)); say "PASS  $s ($nok checks)"
    else
      failed=$((failed + 1)); say "FAIL  $s ($nok ok, $nbad failed, $nwarn warnings) $why"
    fi
  done < <(node "$CONF/verdict.mjs" "$RUN/results-other" "${OTHERS[@]}")
fi

echo
echo "Expected failures (${#xfailed[@]}): OAuth grants that are not an interactive sign-in"
echo "(client credentials, cross-app access; see ci/conformance/README.md):"
for s in "${xfailed[@]}"; do echo "  XFAIL $s"; done
echo
echo "Other clients: $client_pass passed, $client_fail failed (Inspector CLI, headless agent example)."
echo "Logs and the suite's checks.json files: ci/.tools/run/. Time: $(echo "$(ms)" | awk '{printf "%.1f", $1/1000}') s."
echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$client_fail" = 0 ]
