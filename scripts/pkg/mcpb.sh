#!/usr/bin/env bash
# Step of scripts/package.sh (env: BIN OUT VERSION TARGET PLATFORM ROOT): the MCP Bundle for
# Claude Desktop (issue 17 item 4), packed by the official CLI (`mcpb pack`, which also
# validates the manifest) from mcpb/manifest.json:
#
#   $OUT/wazion-mcp-$VERSION-$TARGET.mcpb   this platform's binary only (on Linux: the bundle
#                                           CI tests; Claude Desktop itself has no Linux build)
#   $OUT/wazion-mcp-$VERSION.mcpb           when MCPB_DARWIN_BIN and/or MCPB_WIN32_BIN name
#                                           more binaries: the release's bundle, with the macOS
#                                           universal binary as server/wazion-mcp and the
#                                           Windows one as server/wazion-mcp.exe
#
# The manifest runs ${__dirname}/server/wazion-mcp (server/wazion-mcp.exe on Windows, via
# platform_overrides) with the URL field as its argument and the token field, marked
# sensitive, in WAZION_TOKEN; compatibility.platforms lists the systems it has binaries for.
#
# MCPB: the mcpb command to use (default: ci/package's pinned @anthropic-ai/mcpb when
# installed, else `npx` of the version pinned in ci/package/package.json). Needs node.
set -euo pipefail
: "${BIN:?}" "${OUT:?}" "${VERSION:?}" "${TARGET:?}" "${ROOT:?}"

native() { if command -v cygpath >/dev/null 2>&1; then cygpath -m "$1"; else echo "$1"; fi; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/server"

platforms=()
add() { # os binary
  local file=wazion-mcp
  [ "$1" = win32 ] && file=wazion-mcp.exe
  [ -e "$stage/server/$file" ] && { echo "mcpb.sh: two binaries for server/$file" >&2; exit 2; }
  cp "$2" "$stage/server/$file"
  chmod 755 "$stage/server/$file"
  platforms+=("$1")
}
case $TARGET in
  *-apple-darwin) add darwin "$BIN" ;;
  *-windows-*) add win32 "$BIN" ;;
  *-linux-*) add linux "$BIN" ;;
  *) echo "mcpb.sh: no Claude Desktop platform for $TARGET" >&2; exit 2 ;;
esac
name=wazion-mcp-$VERSION-$TARGET.mcpb
if [ -n "${MCPB_DARWIN_BIN:-}" ] && [ "${platforms[0]}" != darwin ]; then
  add darwin "$MCPB_DARWIN_BIN"; name=wazion-mcp-$VERSION.mcpb
fi
if [ -n "${MCPB_WIN32_BIN:-}" ] && [ "${platforms[0]}" != win32 ]; then
  add win32 "$MCPB_WIN32_BIN"; name=wazion-mcp-$VERSION.mcpb
fi

# The manifest: version, the platforms present, an entry point that exists in the bundle, and
# Cargo.toml's repository when it has one.
REPOSITORY=$(sed -n 's/^repository = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
VERSION=$VERSION PLATFORMS="${platforms[*]}" REPOSITORY=$REPOSITORY node -e '
  const fs = require("fs");
  const [tmpl, dest] = process.argv.slice(1);
  const m = JSON.parse(fs.readFileSync(tmpl, "utf8"));
  const platforms = process.env.PLATFORMS.split(" ");
  m.version = process.env.VERSION;
  // Cargo.toml'"'"'s repository, when it has one (the project keeps it there only).
  if (process.env.REPOSITORY) m.repository = { type: "git", url: process.env.REPOSITORY };
  m.compatibility.platforms = platforms;
  if (platforms.length === 1 && platforms[0] === "win32") m.server.entry_point = "server/wazion-mcp.exe";
  fs.writeFileSync(dest, JSON.stringify(m, null, 2) + "\n");
' "$(native "$ROOT/mcpb/manifest.json")" "$(native "$stage/manifest.json")"

if [ -n "${MCPB:-}" ]; then
  read -r -a mcpb <<<"$MCPB"
elif [ -f "$ROOT/ci/package/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js" ]; then
  mcpb=(node "$(native "$ROOT/ci/package/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js")")
else
  pin=$(node -p 'require(process.argv[1]).dependencies["@anthropic-ai/mcpb"]' \
    "$(native "$ROOT/ci/package/package.json")")
  mcpb=(npx --yes "@anthropic-ai/mcpb@$pin")
fi
rm -f "$OUT/$name"
"${mcpb[@]}" pack "$(native "$stage")" "$(native "$OUT/$name")" >"$stage.log" 2>&1 \
  || { cat "$stage.log" >&2; rm -f "$stage.log"; exit 1; }
rm -f "$stage.log"
echo "mcpb: $OUT/$name (${platforms[*]})" >&2
