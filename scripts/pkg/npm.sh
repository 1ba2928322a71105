#!/usr/bin/env bash
# Step of scripts/package.sh (env: BIN OUT VERSION TARGET PLATFORM ROOT): the npm packages,
# as `npm pack` tarballs in $OUT (issue 17 item 2; the Biome/esbuild layout):
#
#   wazion-mcp-$PLATFORM-$VERSION.tgz  package wazion-mcp-$PLATFORM: bin/wazion-mcp[.exe],
#                                      with os/cpu (and libc for a glibc build) so npm installs
#                                      it only where it runs; no scripts (npm/platform/)
#   wazion-mcp-$VERSION.tgz            package wazion-mcp: the launcher bin/wazion-mcp.js with
#                                      exact-version optionalDependencies on every package of
#                                      npm/platforms.txt, plus this platform's when it is not
#                                      there (npm/wazion-mcp/)
#
# Versions come from $VERSION (Cargo.toml). Publish the platform packages before the launcher.
# Needs node and npm.
set -euo pipefail
: "${BIN:?}" "${OUT:?}" "${VERSION:?}" "${TARGET:?}" "${PLATFORM:?}" "${ROOT:?}"

# Cargo.toml's `repository` (the project's one place for it), when set: npm's provenance check
# wants package.json's repository to name the repository the release was built from.
REPOSITORY=$(sed -n 's/^repository = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
export REPOSITORY

# Node and npm on Windows want C:/... paths, not Git Bash's /c/...
native() { if command -v cygpath >/dev/null 2>&1; then cygpath -m "$1"; else echo "$1"; fi; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# ---- the platform package
case $PLATFORM in
  *-universal)
    echo "note: no npm package for $PLATFORM (npm installs one package per cpu)" >&2
    plat_dir=
    ;;
  *)
    plat_dir=$stage/platform
    mkdir -p "$plat_dir/bin"
    exe=
    case $PLATFORM in win32-*) exe=.exe ;; esac
    cp "$BIN" "$plat_dir/bin/wazion-mcp$exe"
    chmod 755 "$plat_dir/bin/wazion-mcp$exe"
    cat >"$plat_dir/README.md" <<README
# wazion-mcp-$PLATFORM

The [wazion-mcp](https://www.npmjs.com/package/wazion-mcp) binary for $PLATFORM (Rust target
$TARGET). Install or run \`wazion-mcp\` (\`npx -y wazion-mcp\`): it uses this package here.
README
    # shellcheck disable=SC2016 # JavaScript, not shell
    PLATFORM=$PLATFORM VERSION=$VERSION node -e '
      const fs = require("fs");
      const [tmpl, dest] = process.argv.slice(1);
      const { PLATFORM, VERSION } = process.env;
      const [os, cpu, abi] = PLATFORM.split("-");
      const pkg = JSON.parse(fs.readFileSync(tmpl, "utf8").split("@PLATFORM@").join(PLATFORM));
      pkg.version = VERSION;
      if (process.env.REPOSITORY) pkg.repository = { type: "git", url: `git+${process.env.REPOSITORY}.git` };
      pkg.os = [os];
      pkg.cpu = [cpu];
      // A glibc build needs glibc; musl builds are static and run on either libc.
      if (os === "linux" && abi === "gnu") pkg.libc = ["glibc"];
      fs.writeFileSync(dest, JSON.stringify(pkg, null, 2) + "\n");
    ' "$(native "$ROOT/npm/platform/package.json")" "$(native "$plat_dir/package.json")"
    ;;
esac

# ---- the launcher package
launcher=$stage/launcher
mkdir -p "$launcher/bin"
cp "$ROOT/npm/wazion-mcp/bin/wazion-mcp.js" "$launcher/bin/"
cp "$ROOT/README.md" "$launcher/"
[ -f "$ROOT/LICENSE" ] && cp "$ROOT/LICENSE" "$launcher/"
# shellcheck disable=SC2016 # JavaScript, not shell
PLATFORM=$PLATFORM VERSION=$VERSION node -e '
  const fs = require("fs");
  const [tmpl, matrix, dest] = process.argv.slice(1);
  const { PLATFORM, VERSION } = process.env;
  const pkg = JSON.parse(fs.readFileSync(tmpl, "utf8"));
  const platforms = fs.readFileSync(matrix, "utf8").split("\n")
    .map((line) => line.replace(/#.*/, "").trim().split(/\s+/)[0]).filter(Boolean);
  if (!platforms.includes(PLATFORM) && !PLATFORM.endsWith("-universal")) {
    process.stderr.write(`note: ${PLATFORM} is not in npm/platforms.txt; this launcher also depends on it\n`);
    platforms.push(PLATFORM);
  }
  pkg.version = VERSION;
  if (process.env.REPOSITORY) {
    pkg.repository = { type: "git", url: `git+${process.env.REPOSITORY}.git` };
    pkg.homepage = `${process.env.REPOSITORY}#readme`;
  }
  pkg.optionalDependencies = Object.fromEntries(platforms.map((p) => [`wazion-mcp-${p}`, VERSION]));
  fs.writeFileSync(dest, JSON.stringify(pkg, null, 2) + "\n");
' "$(native "$ROOT/npm/wazion-mcp/package.json")" "$(native "$ROOT/npm/platforms.txt")" \
  "$(native "$launcher/package.json")"

# ---- npm pack (no scripts to run: neither package has any)
for dir in $plat_dir "$launcher"; do
  (cd "$dir" && npm pack --silent --ignore-scripts --pack-destination "$(native "$OUT")" >/dev/null)
done
echo "npm: $OUT/wazion-mcp-$VERSION.tgz${plat_dir:+ $OUT/wazion-mcp-$PLATFORM-$VERSION.tgz}" >&2
