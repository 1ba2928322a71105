#!/usr/bin/env sh
# Builds wazion-mcp in release mode and installs it to $PREFIX/bin (default ~/.local/bin).
# Idempotent: running it again rebuilds and replaces the binary in place.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-"$HOME/.local"}
bindir="$prefix/bin"

command -v cargo >/dev/null 2>&1 || {
    echo "install.sh: cargo not found; install Rust from https://rustup.rs first" >&2
    exit 1
}

echo "building wazion-mcp (release)..." >&2
cargo build --release --locked --manifest-path "$here/Cargo.toml" >&2

mkdir -p "$bindir"
# Copy to a temporary name, then rename: a running bridge keeps its old inode.
cp "$here/target/release/wazion-mcp" "$bindir/.wazion-mcp.new"
chmod 755 "$bindir/.wazion-mcp.new"
mv -f "$bindir/.wazion-mcp.new" "$bindir/wazion-mcp"

bin="$bindir/wazion-mcp"
echo "installed: $bin ($("$bin" --version))"
case ":$PATH:" in
    *":$bindir:"*) ;;
    *) echo "note: $bindir is not on your PATH; MCP clients need the absolute path above anyway." ;;
esac
cat <<NEXT

Next, add it to your MCP client (the token stays out of this output):
  $bin config claude-desktop --write     (or vscode, cursor, codex, gemini)
  $bin config claude-code                (prints the claude mcp add line)
then check the connection:
  WAZION_TOKEN=wz_… $bin check
NEXT
