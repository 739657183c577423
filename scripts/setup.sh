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

# GitHub's published REST API description, which tests/e2e/test_github_api.py
# holds the GitHub stand-in to. Pinned; the GHES and GHEC variants are
# dropped after install (the tests read api.github.com.json only). Without
# npm the test skips locally and fails on CI.
OPENAPI_VERSION=23.0.2
openapi=.openapi-cache/node_modules/@octokit/openapi
have=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' \
       "$openapi/package.json" 2>/dev/null || true)
if [ "$have" != "$OPENAPI_VERSION" ] || [ ! -f "$openapi/generated/api.github.com.json" ]; then
  if command -v npm > /dev/null; then
    echo "installing @octokit/openapi@$OPENAPI_VERSION into .openapi-cache (log in .openapi-cache/npm.log) ..." >&2
    mkdir -p .openapi-cache
    if npm install --prefix .openapi-cache --no-save --no-audit --no-fund --ignore-scripts \
         "@octokit/openapi@$OPENAPI_VERSION" > .openapi-cache/npm.log 2>&1; then
      find "$openapi/generated" -name '*.json' ! -name 'api.github.com.json' -delete
    else
      tail -n 20 .openapi-cache/npm.log >&2
      echo "could not install @octokit/openapi: tests/e2e/test_github_api.py will not find it" >&2
    fi
  else
    echo "npm not found: skipping @octokit/openapi (tests/e2e/test_github_api.py skips; on CI it fails)" >&2
  fi
fi

# The OpenFeature OFREP provider for Node and the server SDK it plugs into,
# which tests/serve/test_ofrep.py drives through tests/serve/ofrep_js/ to hold
# `safeflags serve`'s OFREP routes to the real JavaScript client. Pinned;
# without npm (or offline) those tests skip and say why.
OFREP_PROVIDER_VERSION=0.1.3
OFREP_JS=("@openfeature/ofrep-provider@$OFREP_PROVIDER_VERSION" "@openfeature/ofrep-core@0.1.4"
          "@openfeature/server-sdk@1.23.0" "@openfeature/core@1.12.0")
ofrep_js=.node-cache/node_modules/@openfeature/ofrep-provider
have=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' \
       "$ofrep_js/package.json" 2>/dev/null || true)
if [ "$have" != "$OFREP_PROVIDER_VERSION" ]; then
  if command -v npm > /dev/null; then
    echo "installing ${OFREP_JS[*]} into .node-cache (log in .node-cache/npm.log) ..." >&2
    mkdir -p .node-cache
    if ! npm install --prefix .node-cache --no-save --no-audit --no-fund --ignore-scripts \
         "${OFREP_JS[@]}" > .node-cache/npm.log 2>&1; then
      tail -n 20 .node-cache/npm.log >&2
      echo "could not install the OFREP JS provider: tests/serve/test_ofrep.py skips its Node tests" >&2
    fi
  else
    echo "npm not found: skipping the OFREP JS provider (tests/serve/test_ofrep.py skips its Node tests)" >&2
  fi
fi
