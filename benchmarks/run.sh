#!/usr/bin/env bash
# One command for every benchmark: sets up benchmarks/.venv (safeflags plus the
# peer SDKs, never safeflags' own dependencies), then runs benchmarks/run.py.
#   benchmarks/run.sh                                 # 25,000 flags, 200,000 calls
#   benchmarks/run.sh --flags 2000 --calls 50000      # quick
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -e "$here/..[dev]" -r "$here/requirements.txt"
exec "$venv/bin/python" "$here/run.py" "$@"
