#!/usr/bin/env bash
# Follows the README's "Adopt safeflags in your repository" as written: the
# commands of that section's code block, in order, in one shell, in an empty
# directory, with a fresh virtual environment first on PATH. Fails if there
# are more than 6 commands, if one fails, or if the last one (the pull
# request's `validate --base`) did not judge the adoption as it should.
#
# Two stand-ins, because the README names a hosting this checkout is not:
# the requirement's `git+https://github.com/OWNER/safeflags@REF` installs
# this source tree instead (its committed and untracked files, as a
# directory: pip takes the dependencies from the index as usual), and
# $SAFEFLAGS_ACTION names this checkout's commit as the Action to pin,
# which `safeflags init` reads from pip's record of a GitHub install.
#
# Prints each command with its time. PYTHON picks the interpreter.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/safeflags-adopt.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The source tree as it would be committed (tracked files that still exist, and untracked ones not ignored).
src="$work/src"
mkdir -p "$src"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
  "$PY" -c '
import os, shutil, sys
root, dest = sys.argv[1], sys.argv[2]
for rel in sys.stdin.buffer.read().decode().split("\0"):
    path = os.path.join(root, rel)
    if rel and os.path.isfile(path) and not os.path.islink(path):
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(path, os.path.join(dest, rel))
' "$ROOT" "$src"

# The section's commands as a script that times each one.
"$PY" - "$ROOT/README.md" "$src" > "$work/adopt.sh" <<'EOF'
import re
import shlex
import sys

readme, src = sys.argv[1], sys.argv[2]
text = open(readme, encoding="utf-8").read()
section = re.search(r"^## Adopt safeflags in your repository\n(.*?)(?=^#{1,2} |\Z)", text, re.S | re.M)
if section is None:
    sys.exit("adopt-check: README.md has no section 'Adopt safeflags in your repository'")
block = re.search(r"^```(?:bash|sh|shell)\n(.*?)^```", section.group(1), re.S | re.M)
if block is None:
    sys.exit("adopt-check: the section has no ```bash block")
commands = [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
if not 1 <= len(commands) <= 6:
    sys.exit(f"adopt-check: the section takes {len(commands)} commands (at most 6)")
if any(line.rstrip().endswith("\\") for line in commands):
    sys.exit("adopt-check: one command per line, please (no continuation lines)")
hosted = re.compile(r"git\+https://github\.com/OWNER/safeflags@REF")
if not any(hosted.search(line) for line in commands):
    sys.exit("adopt-check: no command installs safeflags from git+https://github.com/OWNER/safeflags@REF")
if not re.search(r"\bsafeflags validate --base\b", commands[-1]):
    sys.exit("adopt-check: the last command must be the pull request's `safeflags validate --base`")
print("set -euo pipefail")
for i, line in enumerate(commands, 1):
    run = hosted.sub(lambda _: "file://" + src, line)
    print(f"echo {shlex.quote(f'$ {line}')} >&2")
    print("t0=$(date +%s%N)")
    print(run)
    print(f'echo "adopt-check: command {i} took $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2')
EOF

"$PY" -m venv "$work/venv"
empty="$work/empty"
mkdir -p "$empty"
version=$("$PY" -c 'import re, sys; print(re.search(r"__version__ = \"(.+?)\"", open(sys.argv[1]).read())[1])' \
          "$ROOT/safeflags/version.py")
commit=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || printf '0%.0s' $(seq 40))
log="$work/log"
(
  cd "$empty"
  export PATH="$work/venv/bin:$PATH" VIRTUAL_ENV="$work/venv" PIP_DISABLE_PIP_VERSION_CHECK=1
  export SAFEFLAGS_ACTION="OWNER/safeflags@$commit # v$version"
  # A person's git, minus their configuration.
  export GIT_CONFIG_GLOBAL="$work/gitconfig" GIT_CONFIG_NOSYSTEM=1
  export GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@example.com GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@example.com
  unset PYTHONPATH GITHUB_ACTIONS GITHUB_TOKEN GITHUB_EVENT_PATH GITHUB_STEP_SUMMARY SAFEFLAGS_CACHE_DIR
  bash "$work/adopt.sh"
) > "$log" 2>&1 || { cat "$log"; echo "adopt-check: a command of the README failed" >&2; exit 1; }
cat "$log"

# What the section promises.
fail() { echo "adopt-check: $*" >&2; exit 1; }
grep -q "the base has no safeflags.yaml: judged the head on its own" "$log" ||
  fail "validate --base did not judge the adoption on its own"
repo=$(find "$empty" -name safeflags.yaml -not -path '*/.git/*' -printf '%h\n' | head -n 1)
[ -n "$repo" ] || fail "no safeflags.yaml was written"
top=$(git -C "$repo" rev-parse --show-toplevel)
for f in .github/workflows/validate-flags.yml .pre-commit-config.yaml; do
  [ -f "$top/$f" ] || fail "init wrote no $f"
done
grep -q "OWNER/safeflags@$commit # v$version" "$top/.github/workflows/validate-flags.yml" ||
  fail "the workflow does not pin the Action to $commit"
[ -z "$(git -C "$top" status --porcelain)" ] || fail "the adoption left files uncommitted"
where=$(cd "$empty" && "$work/venv/bin/python" -c 'import safeflags; print(safeflags.__file__)')
case "$where" in
  "$work/venv/"*) ;;
  *) fail "safeflags came from $where, not the fresh environment" ;;
esac
echo "adopt-check: ok: the README's adoption section, followed as written in an empty directory"
