#!/usr/bin/env bash
# Static checks of what cannot run here (issue 17 §6): the release workflow against the
# GitHub Actions schema (@action-validator/cli from npm, pinned, into ci/.tools/lint,
# git-ignored), and the installers and packaging scripts with shellcheck (Debian's package,
# installed with apt-get when missing; CI runs as root). install.sh is checked as POSIX sh
# (it runs under dash and macOS's sh), at every severity; the bash scripts at warning level
# and above. install.ps1 cannot run here (no PowerShell): its syntax is checked with
# tree-sitter's PowerShell grammar (ci/package/ps1-syntax.mjs).
#
#   bash ci/package/lint.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VALIDATOR=@action-validator/cli@0.6.0
# install.ps1's syntax (no PowerShell here): tree-sitter's grammar, run by web-tree-sitter.
PS1_PARSER=(tree-sitter-powershell@0.26.4 web-tree-sitter@0.27.2)
TOOLS=$ROOT/ci/.tools/lint

say() { printf '== %s\n' "$*"; }
passed=0 failed=0
check() { # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1)); echo "PASS  $name"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/    | /' <<<"$out"
  fi
}

if [ "$(cat "$TOOLS/.pin" 2>/dev/null)" != "$VALIDATOR ${PS1_PARSER[*]}" ]; then
  say "installing $VALIDATOR ${PS1_PARSER[*]} from npm into ci/.tools/lint"
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
    --loglevel=error "$VALIDATOR" "${PS1_PARSER[@]}" >/dev/null
  echo "$VALIDATOR ${PS1_PARSER[*]}" >"$TOOLS/.pin"
fi
if ! command -v shellcheck >/dev/null 2>&1; then
  say "installing shellcheck (apt-get)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
say "action-validator $(node -p "require('$TOOLS/node_modules/@action-validator/cli/package.json').version"), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"

for wf in .github/workflows/*.yml; do
  check "action-validator $wf" "$TOOLS/node_modules/.bin/action-validator" "$wf"
done
# The validator must be able to fail: a copy with a misspelt key is refused.
mkdir -p "$TOOLS/bad"
sed '0,/runs-on:/s//runs-onn:/' .github/workflows/release.yml >"$TOOLS/bad/release.yml"
check "action-validator refuses a workflow with a misspelt key" \
  bash -c '! "$1" "$2" >/dev/null 2>&1' _ "$TOOLS/node_modules/.bin/action-validator" "$TOOLS/bad/release.yml"
check "shellcheck --shell=sh install.sh (POSIX sh)" shellcheck --shell=sh install.sh
check "install.ps1 parses (tree-sitter-powershell)" env LINT_TOOLS="$TOOLS" node ci/package/ps1-syntax.mjs install.ps1
printf 'if ($a {\n  Write-Host "x"\n' >"$TOOLS/bad/bad.ps1"
check "the PowerShell parser refuses an unclosed block" \
  bash -c '! env LINT_TOOLS="$1" node ci/package/ps1-syntax.mjs "$2" >/dev/null' _ "$TOOLS" "$TOOLS/bad/bad.ps1"
mapfile -t scripts < <(ls scripts/*.sh scripts/pkg/*.sh ci/package/*.sh 2>/dev/null)
check "shellcheck -S warning ${scripts[*]}" shellcheck -S warning "${scripts[@]}"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
