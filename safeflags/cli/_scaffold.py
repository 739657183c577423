"""What `safeflags init` writes: a commented safeflags.yaml, an example flag,
the workflows (validate, scheduled flips) and the pre-commit config. Plain text with the few values a
repository decides filled in, so each file reads as a person would write it."""
from __future__ import annotations

import json
import re

from safeflags.compile.cache import DIR_NAME

# .gitignore entries: `compile`'s default output, and the compile cache.
IGNORED = ("build/", f"{DIR_NAME}/")

EXAMPLE_KEY = "example.welcome_banner"
EXAMPLE_PATH = "flags/example/welcome_banner.jsonnet"

# actions/checkout v6.0.2, by commit: a tag can be moved, a commit cannot (the
# Action's own workflow pins the same).
CHECKOUT = "actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2"

CONFIG = """\
# safeflags.yaml: this flag repository's config (written by `safeflags init`).
#
# Every condition of every flag is checked against the dimension catalog
# below, and every flag names an owner from `owners`. In a pull request this
# file (and validators/) is read from the base branch, so a pull request
# cannot loosen the checks that judge it; the pull request that adds it is
# judged on its own.
version: 1
flags_dir: flags  # flags/<namespace>/<name>.jsonnet defines the flag <namespace>.<name>
# `import 'safeflags.libsonnet'` is the template library of the installed
# safeflags; a copy vendored in templates/ takes its place.

dimensions:
  # --- static: fixed for a process, pre-evaluated by the SDK at load --------
  # `weights` are each value's share of traffic; validators use them to
  # estimate how much traffic a change exposes (uniform where none are given).
  environment:
    type: enum
    values: [dev, staging, prod]
    static: true
    description: Deployment environment.
    weights: {dev: 2, staging: 8, prod: 90}
  region:
    type: enum
    values: [us-east-1, eu-west-1]
    static: true
    description: Cloud region the process runs in.
    weights: {us-east-1: 60, eu-west-1: 40}
  service:
    type: string
    static: true
    description: Name of the service the process belongs to, e.g. billing.
  service_version:
    type: semver
    static: true
    description: Version of the running service build.

  # --- runtime: read from each request's context -----------------------------
  # Types: string, enum (with values), int, float, bool, semver, timestamp.
  user_id:
    type: string
    description: Signed-in user; the usual bucketing unit of a rollout.
  plan:
    type: enum
    values: [free, pro, enterprise]
    description: Billing plan of the user's account.
  app_version:
    type: semver
    description: Version of the client application making the request.

# The teams that may own a flag (a flag's `owner` must be one of them).
owners:
  team-example:
    description: Replace with your team, and add the others.
    contact: "#team-example"

# Pre-merge checks: `safeflags validate` (every built-in runs by default).
validation:
  rules:
    SF302:
      # Blast radius: a change that newly exposes more than this share of
      # traffic needs an approval, from a member of an `approval_teams` group
      # (a group below, else a team of your GitHub organisation) or given as
      # the label, applied by one.
      max_percent: 20
      approval_labels: [safeflags/approved-blast-radius]
      approval_teams: [flag-reviewers]
    SF404:
      max_days: 30  # a flag left at 100 % this many days should become code
  # Who approves, by name: GitHub logins, a team (org/slug, read through the
  # GitHub API with a token that may read teams), or both.
  approvers:
    flag-reviewers:
      users: [your-github-login]
      # github_team: your-org/flag-reviewers
"""

EXAMPLE_FLAG = """\
// The flag example.welcome_banner (a file's path names its flag), written by
// `safeflags init`. The template library is documented in docs/dsl.md of
// safeflags; `safeflags explain example.welcome_banner --static environment=prod
// --ctx user_id=u-1` shows what it serves to whom.
local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-example',
  description: 'Show the new welcome banner to signed-in users.',
  expires: '<<EXPIRES>>',
  default: false,
  // Not started: raise `stage` one step per pull request (1%, 5%, 25%, 50%, 100%).
  rollout: sf.ramps.standard(unit='user_id', stage=0),
  overrides: [
    sf.when(sf.dim.environment.in_(['dev'])).serve(true)
    .describe('Everyone sees it in development.'),
  ],
}
"""

_WORKFLOW = """\
# Validates the flag repository with the safeflags Action (written by
# `safeflags init`): a pull request is judged by exactly its own change, with
# annotations on the diff, a job summary of each changed flag's exposure and
# SARIF for code scanning. Make the `validate` job a required check.
name: validate-flags

on:
  pull_request:
    # labeled/unlabeled: an approval or skip-stage label re-runs the check.
    types: [opened, synchronize, reopened, labeled, unlabeled]
  pull_request_review:
    # An approval given or taken back re-runs it too.
    types: [submitted, dismissed]
  # A merge queue judges each group against the queue's base.
  merge_group:
  # The default branch: the whole repository, and the compile cache the
  # pull requests restore.
  push:
    branches: [main]

permissions: {}

concurrency:
  group: validate-flags-${{ github.event.pull_request.number || github.ref }}
  # A newer event of a pull request supersedes a running check; a push runs
  # to the end, so its cache is saved.
  cancel-in-progress: ${{ github.event_name != 'push' }}

jobs:
  validate:
    name: validate
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: read  # the checkout
      pull-requests: read  # reviews and who applied labels: the approvals
      security-events: write  # the SARIF upload (never tried for a fork's pull request)
    steps:
      - uses: <<CHECKOUT>>
        with:
          # The merge commit's first parent and the merge base must be in the clone.
          fetch-depth: 0
          persist-credentials: false
      - uses: <<ACTION>>
        with:
<<WITH>>"""


def workflow(uses: str, prefix: str) -> str:
    """The workflow running the Action `uses` on the flag repository at
    `prefix` in the checkout ("" at the top)."""
    inputs = [f"repo: {json.dumps(prefix.rstrip('/'))}"] if prefix else []
    inputs.append('upload-sarif: "true"')
    lines = "".join(f"          {line}\n" for line in inputs)
    return _WORKFLOW.replace("<<CHECKOUT>>", CHECKOUT).replace("<<ACTION>>", uses).replace("<<WITH>>", lines)


# actions/setup-python v6.2.0, by commit (as CHECKOUT).
SETUP_PYTHON = "actions/setup-python@a309ff8b426b58ec0e2a45f0f869d46889d02405 # v6.2.0"

_SCHEDULE_WORKFLOW = """\
# Ramps flags on schedule (written by `safeflags init`): every hour,
# `safeflags schedule --pr` reads the channel history and opens one pull
# request per ramp step that is due (its `not_before` has passed and the
# previous stage has baked). It never opens a second pull request for a step
# that has one, and applies no label: reviewers approve as for any other
# change.
#
# Set the repository variable SAFEFLAGS_STORE (e.g. s3://flags-bucket/prod)
# and give the job read access to the store.
# Pull requests opened with the job's GITHUB_TOKEN do not trigger other
# workflows, validate-flags included: to have them validated, give the step a
# GitHub App installation token (or a fine-grained token) instead.
name: schedule-flips

on:
  schedule:
    - cron: "17 * * * *"
  workflow_dispatch:

permissions: {}

concurrency:
  group: schedule-flips
  cancel-in-progress: false

jobs:
  schedule:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: write  # push one branch per due step
      pull-requests: write  # open its pull request
    env:
      SAFEFLAGS_STORE: ${{ vars.SAFEFLAGS_STORE }}
      SAFEFLAGS_CHANNEL: prod
    steps:
      - uses: <<CHECKOUT>>
        with:
          persist-credentials: false
      - uses: <<SETUP_PYTHON>>
        with:
          python-version: "3.12"
      - name: Install safeflags
        # The commit the validate workflow's Action is pinned to.
        run: python -m pip install --disable-pip-version-check "<<REQUIREMENT>>"
      - name: safeflags schedule --pr
        env:
          GITHUB_TOKEN: ${{ github.token }}
        # The token reaches git for this step only (the checkout keeps none).
        # Exit 1: a due step did not validate (it needs an approval), so no pull
        # request was opened for it: the failed run asks someone to ramp it by hand.
        run: |
          git config user.name "github-actions[bot]"
          git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
          git remote set-url --push origin "https://x-access-token:${GITHUB_TOKEN}@github.com/${GITHUB_REPOSITORY}.git"
          safeflags schedule --pr<<REPO>>
"""


def schedule_workflow(repo: str, path: str, sha: str, prefix: str) -> str:
    """The cron workflow running `safeflags schedule --pr` with the safeflags of the Action's
    repository `repo` (OWNER/REPO, its package in `path`, "" or "/sub/dir") at commit `sha`, on the
    flag repository at `prefix` in the checkout ("" at the top)."""
    requirement = f"safeflags[cli] @ git+https://github.com/{repo}@{sha}"
    if path:
        requirement += f"#subdirectory={path.strip('/')}"
    flag_repo = f" --repo {json.dumps(prefix.rstrip('/'))}" if prefix else ""
    return (_SCHEDULE_WORKFLOW.replace("<<CHECKOUT>>", CHECKOUT).replace("<<SETUP_PYTHON>>", SETUP_PYTHON)
            .replace("<<REQUIREMENT>>", requirement).replace("<<REPO>>", flag_repo))


_PRECOMMIT = """\
# pre-commit hooks (https://pre-commit.com), written by `safeflags init`.
# After `pre-commit install`, a commit that touches the flags is compiled and
# validated, and its change judged against HEAD (a first commit on its own).
repos:
  - repo: https://github.com/<<REPO>>
    rev: <<SHA>>  # frozen: <<TAG>>
    hooks:
<<HOOKS>>"""

HOOKS = ("safeflags-validate", "safeflags-validate-changes")


def precommit_config(repo: str, sha: str, tag: str, prefix: str) -> str:
    """Both hooks of `repo` at commit `sha`; for a flag repository in a
    subfolder (`prefix`), told where it is and run only for its files."""
    hooks = []
    for hook in HOOKS:
        hooks.append(f"      - id: {hook}\n")
        if prefix:
            files = "^" + re.escape(prefix) + r"((flags|templates|validators)/|(safeflags|deployments)\.yaml$)"
            hooks.append(f"        args: {json.dumps(['--repo', prefix.rstrip('/')])}\n")
            hooks.append(f"        files: '{files.replace(chr(39), chr(39) * 2)}'\n")
    return (_PRECOMMIT.replace("<<REPO>>", repo).replace("<<SHA>>", sha).replace("<<TAG>>", tag)
            .replace("<<HOOKS>>", "".join(hooks)))
