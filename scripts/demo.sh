#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the main job on the example repository:
# validate flags/, compile them to build/bundle.pb, and explain two flags for
# sample contexts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
sf=.venv/bin/safeflags
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
if "$sf" validate --help >/dev/null 2>&1; then
  step "$sf" validate --repo .
fi
step "$sf" compile --repo . -o build/bundle.pb
step "$sf" explain billing.new_invoice_path --bundle build/bundle.pb \
  --static region=us-east-1 --static service=billing --static service_version=2.15.0 \
  --ctx workspace_id=ws-1234
step "$sf" explain checkout.one_click_buy --bundle build/bundle.pb \
  --static region=eu-west-1 --ctx user_id=u-17 --ctx country=US --ctx email=ana@example.com
