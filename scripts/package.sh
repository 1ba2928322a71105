#!/usr/bin/env bash
# Builds the release binary for this machine and, from it, every artefact the release
# publishes for this platform (issue 17 item 1). The release workflow runs this same script on
# each platform's runner; CI runs it on Linux x86_64 and tests what it made (ci/package/run.sh).
#
#   scripts/package.sh [--out DIR] [--target TRIPLE] [--bin PATH]
#
#   --out DIR        where the artefacts go (default: dist/ in the repository)
#   --target TRIPLE  build for this Rust target triple (default: the host's, from `rustc -vV`)
#   --bin PATH       package this already-built binary instead of building one (a macOS
#                    universal binary made with lipo, say); give --target too
#   --platform-of TRIPLE  print the npm platform name of a Rust target triple, and exit
#
# Steps, in order, each a script under scripts/pkg/ run with the environment below; a step
# whose script is missing is skipped with a note:
#   archive.sh  wazion-mcp-$VERSION-$TARGET.tar.gz (.zip on Windows) and its .sha256
#   npm.sh      the npm launcher and this platform's binary package, as `npm pack` tarballs
#   wheel.sh    the Python wheel (maturin `bin`)
#   mcpb.sh     the MCP Bundle (.mcpb) for Claude Desktop
# Environment of each step: BIN (the binary), OUT (absolute), VERSION (Cargo.toml's),
# TARGET (Rust triple), PLATFORM (npm-style os-cpu[-libc] name, see platform_of below), ROOT.
#
# Needs: the Rust toolchain; Node/npm for the npm and mcpb steps. Works under bash on Linux,
# macOS and Windows (Git Bash).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
out=$ROOT/dist
target=
bin=
print_platform_of=

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; }
die() { echo "package.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --target) [ $# -ge 2 ] || die "--target needs a Rust target triple"; target=$2; shift 2 ;;
    --target=*) target=${1#--target=}; shift ;;
    --bin) [ $# -ge 2 ] || die "--bin needs the path of a built binary"; bin=$2; shift 2 ;;
    --bin=*) bin=${1#--bin=}; shift ;;
    --platform-of) [ $# -ge 2 ] || die "--platform-of needs a Rust target triple"; print_platform_of=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# The npm-style platform name of a Rust target triple: os (node's process.platform), cpu
# (node's process.arch), and the libc for Linux and the ABI for Windows, as Biome and
# esbuild name their packages. The one place this mapping lives; npm.sh, the launcher
# (npm/wazion-mcp/bin/wazion-mcp.js) and npm/platforms.txt use these names.
platform_of() {
  local cpu os abi=
  case $1 in
    x86_64-*) cpu=x64 ;;
    aarch64-*) cpu=arm64 ;;
    universal-apple-darwin) cpu=universal ;;
    *) return 1 ;;
  esac
  case $1 in
    *-apple-darwin) os=darwin ;;
    *-linux-gnu*) os=linux abi=-gnu ;;
    *-linux-musl*) os=linux abi=-musl ;;
    *-pc-windows-msvc) os=win32 abi=-msvc ;;
    *-pc-windows-gnu*) os=win32 abi=-gnu ;;
    *) return 1 ;;
  esac
  echo "$os-$cpu$abi"
}

if [ -n "$print_platform_of" ]; then
  platform_of "$print_platform_of" || die "no npm platform name for target '$print_platform_of'"
  exit 0
fi

host=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$host" ] || die "cannot read the host triple from 'rustc -vV'"
TARGET=${target:-$host}
PLATFORM=$(platform_of "$TARGET") || die "no npm platform name for target '$TARGET'; add it to platform_of in $0"

# Cargo.toml's version, as cargo reads it (`cargo pkgid` ends in #wazion-mcp@VERSION).
pkgid=$(cd "$ROOT" && cargo pkgid --quiet)
VERSION=${pkgid##*[#@]}
[ -n "$VERSION" ] || die "cannot read the version from 'cargo pkgid'"

exe=
case $TARGET in *-windows-*) exe=.exe ;; esac
if [ -n "$bin" ]; then
  [ -f "$bin" ] || die "--bin $bin: no such file"
  BIN=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
else
  target_args=()
  [ -n "$target" ] && target_args=(--target "$target")
  echo "== cargo build --release --locked ${target_args[*]}" >&2
  # The ${a[@]+...} form: bash 3.2 (macOS's) treats an empty array as unset under set -u.
  (cd "$ROOT" && cargo build --release --locked ${target_args[@]+"${target_args[@]}"})
  target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
  if [ -n "$target" ]; then
    BIN=$target_dir/$target/release/wazion-mcp$exe
  else
    BIN=$target_dir/release/wazion-mcp$exe
  fi
fi
[ -x "$BIN" ] || die "no executable binary at $BIN"

mkdir -p "$out"
OUT=$(cd "$out" && pwd)
export BIN OUT VERSION TARGET PLATFORM ROOT
echo "== packaging wazion-mcp $VERSION for $TARGET ($PLATFORM) into $OUT" >&2

for step in archive npm wheel mcpb; do
  script=$ROOT/scripts/pkg/$step.sh
  if [ -f "$script" ]; then
    echo "== $step (scripts/pkg/$step.sh)" >&2
    bash "$script"
  else
    echo "note: scripts/pkg/$step.sh is missing: no $step artefact" >&2
  fi
done

echo "== artefacts in $OUT:" >&2
(cd "$OUT" && ls -l) >&2
