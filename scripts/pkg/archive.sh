#!/usr/bin/env bash
# Step of scripts/package.sh (env: BIN OUT VERSION TARGET PLATFORM ROOT): the release archive.
#
#   $OUT/wazion-mcp-$VERSION-$TARGET.tar.gz   (.zip for a Windows target)
#   $OUT/wazion-mcp-$VERSION-$TARGET.tar.gz.sha256   one line, `sha256sum` format:
#                                                    "<64 hex>  <archive name>"
#
# The archive is flat: wazion-mcp (wazion-mcp.exe), README.md, and LICENSE when the
# repository has one, at its top level. install.sh, install.ps1 and the
# [package.metadata.binstall] entry in Cargo.toml rely on these names and this layout.
set -euo pipefail
: "${BIN:?}" "${OUT:?}" "${VERSION:?}" "${TARGET:?}" "${ROOT:?}"

name=wazion-mcp-$VERSION-$TARGET
exe=
case $TARGET in *-windows-*) exe=.exe ;; esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$BIN" "$stage/wazion-mcp$exe"
chmod 755 "$stage/wazion-mcp$exe"
files=("wazion-mcp$exe" README.md)
cp "$ROOT/README.md" "$stage/"
if [ -f "$ROOT/LICENSE" ]; then cp "$ROOT/LICENSE" "$stage/"; files+=(LICENSE); fi

if [ -n "$exe" ]; then
  archive=$name.zip
  rm -f "$OUT/$archive"
  if command -v zip >/dev/null 2>&1; then
    (cd "$stage" && zip -q -X "$OUT/$archive" "${files[@]}")
  elif command -v python3 >/dev/null 2>&1 && python3 -c 'import zipfile' 2>/dev/null; then
    (cd "$stage" && python3 -m zipfile -c "$OUT/$archive" "${files[@]}")
  else
    # Git Bash on the Windows runners has no zip; PowerShell's Compress-Archive does it.
    win() { if command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else echo "$1"; fi; }
    list=
    for f in "${files[@]}"; do list="$list${list:+,}'$(win "$stage/$f")'"; done
    powershell.exe -NoProfile -NonInteractive -Command \
      "Compress-Archive -Path $list -DestinationPath '$(win "$OUT/$archive")'"
  fi
else
  archive=$name.tar.gz
  # Owner and group 0 and a fixed order, so the archive does not carry the build machine's
  # user names; macOS's bsdtar lacks --owner, hence the fallback.
  (cd "$stage" && { tar --owner=0 --group=0 -czf "$OUT/$archive" "${files[@]}" 2>/dev/null \
    || tar -czf "$OUT/$archive" "${files[@]}"; })
fi

sum() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi; }
(cd "$OUT" && sum "$archive" | sed 's/ [ *]/  /' >"$archive.sha256")
echo "archive: $OUT/$archive ($(wc -c <"$OUT/$archive" | tr -d ' ') bytes), $archive.sha256" >&2
