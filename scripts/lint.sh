#!/usr/bin/env bash
# The static checks CI runs before the tests: style and bugs (ruff), types
# (mypy, the project's config in pyproject.toml) and the import contracts
# (import-linter: the layers, what the SDK may import, no cycles).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "ruff: $(.venv/bin/ruff --version)" >&2
.venv/bin/ruff check safeflags tests benchmarks validators tools
echo "mypy: $(.venv/bin/mypy --version)" >&2
.venv/bin/mypy safeflags validators
# --no-cache: the graph cache is keyed by file times, and a checkout or a
# move can keep them; a stale graph once reported a broken contract as kept.
.venv/bin/lint-imports --no-cache
