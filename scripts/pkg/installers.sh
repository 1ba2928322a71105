#!/usr/bin/env sh
# The released installers (issue 17 §5): install.sh and install.ps1 with the release they
# belong to stamped in, written to OUT. Cargo.toml's `repository` and `version` are the one
# place the project keeps them; a clone's installers read them from there instead.
#
#   OUT=dist sh scripts/pkg/installers.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${OUT:?OUT (the output folder) must be set}"
value() { sed -n "s/^$1 = \"\\(.*\\)\"/\\1/p" "$ROOT/Cargo.toml" | head -n 1; }
repository=$(value repository)
version=${VERSION:-$(value version)}
die() { echo "installers.sh: $*" >&2; exit 1; }
if [ -z "$repository" ] || [ -z "$version" ]; then die "no repository or version in Cargo.toml"; fi
# Both go into sed replacements and quoted strings: plain URL and version characters only.
case "$repository$version" in *[!A-Za-z0-9._:/+-]*) die "unexpected characters in $repository $version" ;; esac
mkdir -p "$OUT"
sed -e "s|^REPOSITORY=\"\"|REPOSITORY=\"$repository\"|" -e "s|^VERSION=\"\"|VERSION=\"$version\"|" \
    "$ROOT/install.sh" >"$OUT/install.sh"
sed -e "s|^\$Repository = \"\"|\$Repository = \"$repository\"|" -e "s|^\$Version = \"\"|\$Version = \"$version\"|" \
    "$ROOT/install.ps1" >"$OUT/install.ps1"
chmod 755 "$OUT/install.sh"
for stamped in "REPOSITORY=\"$repository\"" "VERSION=\"$version\""; do
    grep -qxF "$stamped" "$OUT/install.sh" || die "no line $stamped in install.sh"
done
for stamped in "\$Repository = \"$repository\"" "\$Version = \"$version\""; do
    grep -qxF "$stamped" "$OUT/install.ps1" || die "no line $stamped in install.ps1"
done
echo "installers.sh: $OUT/install.sh, $OUT/install.ps1 ($repository, $version)" >&2
