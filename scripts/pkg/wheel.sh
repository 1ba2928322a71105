#!/usr/bin/env sh
# The Python wheel (issue 17 §3), called by scripts/package.sh with BIN (the release binary
# it built), OUT (absolute output folder), VERSION, TARGET (Rust triple) and PLATFORM set.
#
# maturin's `bin` bindings (pyproject.toml) make a wheel whose only script is the native
# binary: pip/uv/pipx put it on PATH as `wazion-mcp`, and no Python runs when it starts.
# maturin compiles through cargo itself; it is given the profile and target that produced
# BIN, so cargo finds that build fresh and relinks nothing. The script then checks that the
# binary inside the wheel is byte for byte BIN: what is tested from the archive and from npm
# is what PyPI ships.
#
# Platform tag: on glibc Linux maturin picks the lowest manylinux tag that the binary's
# glibc symbol versions allow (its auditwheel check; `linux` would not be uploadable). A
# static musl binary (the released Linux builds) runs on glibc and musl alike, so its wheel
# is tagged manylinux_2_17 + musllinux_1_2, one wheel for both (maturin checks both for `bin`
# wheels of a musl target, maturin PR 928; uv's wheels are made so). macOS and Windows keep
# maturin's tags (macosx_<min>_<arch>, win_amd64 / win_arm64).
#
# maturin: $MATURIN, else `maturin` on PATH, else pinned $MATURIN_VERSION installed from PyPI
# into a venv under target/pkg-tools/ (git-ignored).
set -eu

: "${BIN:?BIN (the built binary) must be set}" "${OUT:?}" "${VERSION:?}" "${TARGET:?}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MATURIN_VERSION=1.16.0

# A macOS universal binary (lipo, package.sh --bin) gets no wheel: pip and uv pick the
# per-architecture wheels that the arm64 and x86_64 runs made.
case "$TARGET" in
    universal-apple-darwin) echo "note: no wheel for $TARGET (one per architecture)" >&2; exit 0 ;;
esac

say() { printf 'wheel.sh: %s\n' "$*" >&2; }

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

find_maturin() {
    if [ -n "${MATURIN:-}" ]; then echo "$MATURIN"; return; fi
    if command -v maturin >/dev/null 2>&1; then command -v maturin; return; fi
    venv=$ROOT/target/pkg-tools/py
    case "$(uname -s)" in MINGW* | MSYS* | CYGWIN*) vbin=$venv/Scripts ;; *) vbin=$venv/bin ;; esac
    if ! "$vbin/maturin" --version 2>/dev/null | grep -qF "$MATURIN_VERSION"; then
        say "installing maturin $MATURIN_VERSION from PyPI into ${venv#"$ROOT"/}"
        python3 -m venv "$venv" >&2 2>/dev/null || python -m venv "$venv" >&2
        "$vbin/python" -m pip install --quiet --disable-pip-version-check \
            "maturin==$MATURIN_VERSION" >&2
    fi
    echo "$vbin/maturin"
}
maturin=$(find_maturin)

# The cargo profile and target that built BIN: <target-dir>/[<triple>/]<profile-dir>/<exe>.
bin_dir=$(cd "$(dirname "$BIN")" && pwd)
profile_dir=$(basename "$bin_dir")
above=$(dirname "$bin_dir")
set --
case "$profile_dir" in
    release) set -- --release ;;
    debug) set -- --profile dev ;;
    *) set -- --profile "$profile_dir" ;;
esac
if [ "$(basename "$above")" = "$TARGET" ]; then
    set -- "$@" --target "$TARGET" --target-dir "$(dirname "$above")"
else
    set -- "$@" --target-dir "$above"
fi

case "$TARGET" in
    *-linux-musl*) set -- "$@" --compatibility manylinux_2_17 musllinux_1_2 ;;
    *) set -- "$@" --compatibility pypi ;;
esac

stage=$OUT/.wheel-build
rm -rf "$stage"
mkdir -p "$stage"
say "maturin build $* (bindings bin)"
"$maturin" build --locked --quiet --manifest-path "$ROOT/Cargo.toml" --out "$stage" "$@" >&2

set -- "$stage"/*.whl
if [ $# -ne 1 ] || [ ! -f "$1" ]; then say "expected one wheel in $stage, found: $*"; exit 1; fi
wheel=$1

# The wheel's script must be BIN itself (same build, not a second one).
# A Python that runs (on Windows `python3` may be only the Store's placeholder).
py=
for candidate in python3 python; do
    if "$candidate" -c 'import zipfile' >/dev/null 2>&1; then py=$candidate; break; fi
done
[ -n "$py" ] || { say "no python3 or python to read the wheel with"; exit 1; }
"$py" - "$wheel" "$stage/inside" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    scripts = [n for n in z.namelist() if ".data/scripts/" in n]
    if len(scripts) != 1:
        sys.exit(f"wheel.sh: expected one script in {wheel}, found {scripts}")
    with open(dest, "wb") as f:
        f.write(z.read(scripts[0]))
PY
if [ "$(sha256 "$stage/inside")" != "$(sha256 "$BIN")" ]; then
    say "the binary in $(basename "$wheel") differs from $BIN: maturin rebuilt it"
    exit 1
fi

mv -f "$wheel" "$OUT/"
rm -rf "$stage"
say "$OUT/$(basename "$wheel")"
