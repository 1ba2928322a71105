#!/bin/sh
# Installs wazion-mcp, the stdio MCP bridge, to $PREFIX/bin (default ~/.local/bin).
#
#   curl -fsSL <release>/install.sh | sh                 the released binary, no Rust needed
#   ./install.sh                                         the same, from a clone
#   ./install.sh --from-source                           build this clone with cargo instead
#
# It downloads wazion-mcp-<version>-<target>.tar.gz for this machine from the release, checks
# it against its .sha256 file, and puts the binary in place by a rename (a running bridge keeps
# its old file). It builds from source only when asked to (--from-source, inside a clone) or
# when the release has no archive for this machine and it runs inside a clone; it says which it
# did. Run it again to update. POSIX sh; needs curl or wget, tar, and sha256sum or shasum
# (Linux and macOS have them).
#
# Settings (environment):
#   PREFIX                   install to $PREFIX/bin (default ~/.local)
#   WAZION_MCP_DOWNLOAD_URL  the folder holding the archives and their .sha256 files (an
#                            http(s) URL or a local folder; default: the release of VERSION below)
#   WAZION_MCP_VERSION       another released version (default: VERSION below)
set -eu

# The release this installer belongs to. Both are stamped into the released copy by
# scripts/pkg/installers.sh from Cargo.toml (`repository` and `version`, the one place they
# are kept); in a clone they are empty and read from the Cargo.toml beside this file.
REPOSITORY=""
VERSION=""

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

from_source=0
for arg in "$@"; do
    case "$arg" in
        --from-source) from_source=1 ;;
        -h | --help)
            cat <<'USAGE'
install.sh [--from-source]: installs wazion-mcp to $PREFIX/bin (default ~/.local/bin).
Downloads the release archive for this machine and checks its SHA-256; --from-source builds
the clone it sits in with cargo instead. Environment: PREFIX, WAZION_MCP_VERSION,
WAZION_MCP_DOWNLOAD_URL (the folder or URL holding the archives and their .sha256 files).
USAGE
            exit 0
            ;;
        *) die "unknown argument: $arg (see --help)" ;;
    esac
done

# A clone: this file sits next to the crate's Cargo.toml (not when piped into sh).
clone=""
case "$0" in
    */install.sh | install.sh)
        here=$(cd "$(dirname "$0")" && pwd)
        if [ -f "$here/Cargo.toml" ] && grep -q '^name = "wazion-mcp"' "$here/Cargo.toml"; then
            clone=$here
        fi
        ;;
esac
cargo_toml_value() { # key: the first `key = "..."` of the clone's Cargo.toml
    sed -n "s/^$1 = \"\\(.*\\)\"/\\1/p" "$clone/Cargo.toml" | head -n 1
}
if [ -n "$clone" ]; then
    [ -n "$REPOSITORY" ] || REPOSITORY=$(cargo_toml_value repository)
    [ -n "$VERSION" ] || VERSION=$(cargo_toml_value version)
fi
VERSION=${WAZION_MCP_VERSION:-$VERSION}
VERSION=${VERSION#v}

prefix=${PREFIX:-"$HOME/.local"}
bindir=$prefix/bin

# ---------------------------------------------------------------- platform
# The Rust targets whose archive runs here, best first. Linux releases are static musl
# binaries (glibc and musl alike); a glibc build is the fallback (what package.sh makes on a
# glibc machine). On macOS an x86_64 shell under Rosetta still gets the arm64 build.
targets_for_host() {
    os=$(uname -s)
    arch=$(uname -m)
    case "$arch" in
        x86_64 | amd64) arch=x86_64 ;;
        arm64 | aarch64) arch=aarch64 ;;
    esac
    case "$os" in
        Linux)
            case "$arch" in x86_64 | aarch64) ;; *) return 0 ;; esac
            echo "$arch-unknown-linux-musl $arch-unknown-linux-gnu"
            ;;
        Darwin)
            if [ "$arch" = x86_64 ] && [ "$(sysctl -n hw.optional.arm64 2>/dev/null)" = 1 ]; then
                arch=aarch64
            fi
            case "$arch" in x86_64 | aarch64) ;; *) return 0 ;; esac
            echo "$arch-apple-darwin universal-apple-darwin"
            ;;
    esac
}
case "$(uname -s)" in
    MINGW* | MSYS* | CYGWIN*)
        die "on Windows, use install.ps1 in PowerShell: irm <release>/install.ps1 | iex"
        ;;
esac

# ---------------------------------------------------------------- download
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wazion-mcp-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# fetch URL FILE: 0 when fetched, 2 when the server has no such file (HTTP 4xx or a missing
# local file), 1 on any other failure (network, TLS), which stops the installer.
fetch() {
    case "$1" in
        http://* | https://*)
            if command -v curl >/dev/null 2>&1; then
                code=$(curl -sSL --proto '=https,http' -o "$2" -w '%{http_code}' "$1") || return 1
                case "$code" in 2??) return 0 ;; 4??) return 2 ;; *) return 1 ;; esac
            elif command -v wget >/dev/null 2>&1; then
                wget -q -O "$2" "$1" && return 0
                [ $? = 8 ] && return 2 # wget: the server answered with an error
                return 1
            else
                die "neither curl nor wget found: install one of them"
            fi
            ;;
        *)
            path=${1#file://}
            [ -f "$path" ] || return 2
            cp "$path" "$2"
            ;;
    esac
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d ' ' -f 1
    else
        die "neither sha256sum nor shasum found: cannot check the download"
    fi
}

# install_binary FILE HOW: puts FILE at $bindir/wazion-mcp by a rename and reports.
install_binary() {
    mkdir -p "$bindir"
    cp "$1" "$bindir/.wazion-mcp.new"
    chmod 755 "$bindir/.wazion-mcp.new"
    mv -f "$bindir/.wazion-mcp.new" "$bindir/wazion-mcp"
    bin=$bindir/wazion-mcp
    echo "installed $bin ($("$bin" --version)), $2"
    case ":$PATH:" in
        *":$bindir:"*) ;;
        *) echo "note: $bindir is not on your PATH; MCP clients use the absolute path above anyway." ;;
    esac
    cat <<NEXT

Next, add it to your MCP client (the token stays out of this output):
  $bin config claude-desktop --write     (or vscode, cursor, codex, gemini)
  $bin config claude-code                (prints the claude mcp add line)
then check the connection:
  WAZION_TOKEN=wz_… $bin check
Uninstall: rm $bin
NEXT
}

build_from_source() { # why
    [ -n "$clone" ] || die "$1, and this is not a clone of the source to build instead." \
        "The released platforms: ${REPOSITORY:-the repository}/releases; to build from" \
        "source (Rust 1.95+ and a C compiler): git clone the repository, then ./install.sh --from-source"
    command -v cargo >/dev/null 2>&1 \
        || die "$1; building from source needs Rust 1.95 or newer (https://rustup.rs) and a C compiler"
    say "$1: building from source in $clone (cargo build --release --locked)"
    cargo build --release --locked --manifest-path "$clone/Cargo.toml" >&2
    target_dir=$(cd "$clone" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    install_binary "${target_dir:-$clone/target}/release/wazion-mcp" "built from source in $clone"
}

if [ "$from_source" = 1 ]; then
    build_from_source "--from-source"
    exit 0
fi

[ -n "$VERSION" ] || die "no version to install: set WAZION_MCP_VERSION, or use the released install.sh"
if [ -n "${WAZION_MCP_DOWNLOAD_URL:-}" ]; then
    base=${WAZION_MCP_DOWNLOAD_URL%/}
else
    [ -n "$REPOSITORY" ] || die "no download location: set WAZION_MCP_DOWNLOAD_URL"
    base=${REPOSITORY%/}/releases/download/v$VERSION
fi

targets=$(targets_for_host)
archive=""
for target in $targets; do
    name=wazion-mcp-$VERSION-$target.tar.gz
    status=0
    fetch "$base/$name.sha256" "$tmp/$name.sha256" || status=$?
    case "$status" in
        0) archive=$name; break ;;
        2) continue ;;
        *)
            hint=""
            [ -z "$clone" ] || hint="; ./install.sh --from-source builds this clone instead"
            die "could not download $base/$name.sha256 (no network, a proxy?)$hint"
            ;;
    esac
done
if [ -z "$archive" ]; then
    build_from_source "no release archive of wazion-mcp $VERSION for $(uname -s) $(uname -m) in $base"
    exit 0
fi

say "downloading $base/$archive"
fetch "$base/$archive" "$tmp/$archive" || die "could not download $base/$archive"
want=$(cut -d ' ' -f 1 "$tmp/$archive.sha256")
got=$(sha256_of "$tmp/$archive")
if [ -z "$want" ] || [ "$want" != "$got" ]; then
    die "checksum mismatch for $archive: expected $want, got $got; nothing was installed"
fi
mkdir "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x"
[ -f "$tmp/x/wazion-mcp" ] || die "$archive holds no wazion-mcp binary at its top level"
install_binary "$tmp/x/wazion-mcp" "downloaded from $base/$archive (SHA-256 checked)"
