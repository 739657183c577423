#!/usr/bin/env bash
# Create .venv with safeflags and everything its tests need; quick when
# nothing changed since the last run (keyed by pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "safeflags needs Python >= 3.11 (found $("$PY" --version 2>&1)); set PYTHON=..." >&2
  exit 2
fi
stamp=.venv/.safeflags-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv (pip install -e '.[dev]'; log in .venv/pip.log) ..." >&2
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e '.[dev]'; } > .venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log >&2
    echo "setup failed: see .venv/pip.log" >&2
    exit 2
  fi
  echo "$want" > "$stamp"
fi
