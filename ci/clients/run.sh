#!/usr/bin/env bash
# Real MCP clients read what `wazion-mcp config` writes (issue 12 §2). Not part of .ci/run:
# the three clients are about 250 MB from the npm registry. Run by hand after changing
# src/client_config.rs:
#
#   bash ci/clients/run.sh
#
# Installs pinned Claude Code, Gemini CLI and Codex into ci/.tools/clients (git-ignored; or
# uses CLIENTS_DIR=/path where they are installed), starts the demo server, and for each
# client, with a throw-away HOME: `wazion-mcp config <client> --write` (for Claude Code also
# the printed `claude mcp add` and `add-json` lines), the placeholder replaced by the demo
# token, then the client's own `mcp list`. Claude Code and Gemini CLI start the bridge and
# report "Connected"; Codex lists the entry. Needs no account. Last line: "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PINS=(@anthropic-ai/claude-code@2.1.197 @google/gemini-cli@0.61.0 @openai/codex@0.171.0)
CLIENTS=${CLIENTS_DIR:-$ROOT/ci/.tools/clients}
RUN=$ROOT/ci/.tools/run-clients
PLACEHOLDER='<paste your token here>'

if [ -z "${CLIENTS_DIR:-}" ]; then
  mkdir -p "$CLIENTS"
  npm install --prefix "$CLIENTS" --no-save --no-audit --no-fund --ignore-scripts \
    --loglevel=error "${PINS[@]}" >/dev/null
  # Claude Code links its native binary (from its platform package, already installed) in a
  # postinstall step, which --ignore-scripts skipped: run that one step, which fetches nothing.
  node "$CLIENTS/node_modules/@anthropic-ai/claude-code/install.cjs" >/dev/null
fi
export PATH=$CLIENTS/node_modules/.bin:$PATH

cargo build --locked --quiet --bin wazion-mcp --example demo_server
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/wazion-mcp
DEMO=${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/demo_server

rm -rf "$RUN"
mkdir -p "$RUN"
"$DEMO" --port 0 --token demo-token >"$RUN/demo.url" 2>"$RUN/demo.log" &
demo=$!
trap 'kill "$demo" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$RUN/demo.url" ] && break; sleep 0.1; done
URL=$(head -n1 "$RUN/demo.url")

passed=0 failed=0
verdict() { # name, output, expected text
  if grep -qF -- "$3" <<<"$2"; then
    passed=$((passed + 1)); echo "PASS  $1"
  else
    failed=$((failed + 1)); echo "FAIL  $1 (no \"$3\")"
  fi
  sed 's/^/    | /' <<<"$2"
}
fresh_home() { # folder name
  export HOME=$RUN/$1
  # The bridge's era cache and token store under that HOME too, whatever XDG_* says: for
  # the clients that pass their environment on to the servers they start (the others pass
  # HOME, and the bridge's default folders are under it).
  export WAZION_MCP_CACHE_DIR=$HOME/.cache/wazion-mcp WAZION_MCP_CONFIG_DIR=$HOME/.config/wazion-mcp
  mkdir -p "$HOME/project"
  cd "$HOME/project"
}
fill() { sed -i "s/$PLACEHOLDER/demo-token/g" "$1"; }

fresh_home claude
"$BIN" config claude-code --write "$URL" >/dev/null
fill "$HOME/.claude.json"
eval "$("$BIN" config claude-code "$URL" 2>/dev/null | grep '^claude mcp add ' \
  | sed "s/$PLACEHOLDER/demo-token/; s/^claude mcp add wazion/claude mcp add from-add/")" >/dev/null
eval "$("$BIN" config claude-code "$URL" 2>/dev/null | grep '^claude mcp add-json ' \
  | sed "s/$PLACEHOLDER/demo-token/; s/add-json wazion/add-json from-add-json/")" >/dev/null
out=$(claude mcp list 2>&1 || true)
for name in wazion from-add from-add-json; do
  verdict "Claude Code $(claude --version | head -n1): $name" "$(grep "^$name:" <<<"$out")" "Connected"
done

fresh_home gemini
mkdir -p "$HOME/.gemini"
printf '{\n  // kept by config --write\n  "ui": {"theme": "GitHub"}\n}\n' >"$HOME/.gemini/settings.json"
printf '{"%s": "TRUST_FOLDER"}\n' "$HOME/project" >"$HOME/.gemini/trustedFolders.json"
"$BIN" config gemini --write "$URL" >/dev/null
fill "$HOME/.gemini/settings.json"
verdict "Gemini CLI $(gemini --version)" "$(gemini mcp list 2>&1 | grep 'wazion' || true)" "Connected"

fresh_home codex
"$BIN" config codex --write "$URL" >/dev/null
fill "$HOME/.codex/config.toml"
verdict "Codex $(codex --version 2>/dev/null)" "$(codex mcp list 2>/dev/null | grep -E '^(Name|wazion)' || true)" "enabled"

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
