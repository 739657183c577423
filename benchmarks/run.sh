#!/usr/bin/env bash
# One command for every benchmark: sets up benchmarks/.venv (safeflags plus the
# peer SDKs, never safeflags' own dependencies), then runs benchmarks/run.py
# and the pull-request figures of benchmarks/validate.py (same --flags).
#   benchmarks/run.sh                                 # 25,000 flags, 200,000 calls
#   benchmarks/run.sh --flags 2000 --calls 50000      # quick
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -e "$here/..[dev]" -r "$here/requirements.txt"
flags=()
args=("$@")
for i in "${!args[@]}"; do
  case "${args[$i]}" in
    --flags) flags=(--flags "${args[$((i + 1))]:-}") ;;
    --flags=*) flags=("${args[$i]}") ;;
    -h | --help) flags=(--help) ;;
  esac
done
"$venv/bin/python" "$here/run.py" "$@"
if [ "${flags[0]:-}" = "--help" ]; then
  exec "$venv/bin/python" "$here/validate.py" --help
fi
# Delivery at fleet scale (docs/benchmarks.md, "Delivery at fleet scale"): what
# one publish costs each process, the push server's fan-out and 304 rate, the
# server stacks compared, and OFREP. Each prints one JSON document.
"$venv/bin/python" "$here/intake.py" --runs 3
"$venv/bin/python" "$here/update.py" --flags 25000 --runs 3
"$venv/bin/python" "$here/update.py" --flags 250000 --runs 3
"$venv/bin/python" "$here/fanout.py" --subscribers 1000,10000 --runs 3
"$venv/bin/python" "$here/server_stacks.py" --runs 3
"$venv/bin/python" "$here/ofrep.py" --runs 3
exec "$venv/bin/python" "$here/validate.py" ${flags[@]+"${flags[@]}"}
