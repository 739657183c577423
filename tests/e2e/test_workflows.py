"""The GitHub integration lints clean: actionlint over every workflow (it
also reads the local composite action through `uses: ./` and runs
shellcheck on workflow scripts), shellcheck over the composite action's
own scripts, zizmor's offline audits over both, every action pinned to a
commit, the repository's workflow triggered where a verdict can change,
and the pre-commit hooks name a real command. tests/e2e/test_action_run.py
runs the action."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# The release and schedule workflows docs/operations.md shows, held to the same bar.
DOC_WORKFLOWS = sorted((ROOT / "docs" / "workflows").glob("*.yml"))
ACTION_FILES = [ROOT / "action.yml", *WORKFLOWS, *DOC_WORKFLOWS]
# Findings zizmor may be told to ignore (inline, `# zizmor: ignore[audit]`), each with its reason.
JUSTIFIED_IGNORES = {
    # `uses: ./` runs the action as the pull request has it, which is what this repository's own check
    # must judge; GitHub's `$/` form would run the workflow commit's copy, and is not generally available.
    "self-repository",
}


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        # A lint gate fails closed where the dev extra must be installed.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize("workflow", [*WORKFLOWS, *DOC_WORKFLOWS], ids=[w.name for w in [*WORKFLOWS, *DOC_WORKFLOWS]])
def test_actionlint(workflow: Path) -> None:
    actionlint = _tool("actionlint")
    env = {**os.environ, "PATH": f"{Path(_tool('shellcheck')).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([actionlint, "-no-color", str(workflow.relative_to(ROOT))], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_composite_action_scripts(tmp_path: Path) -> None:
    shellcheck = _tool("shellcheck")
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    steps = [s for s in action["runs"]["steps"] if "run" in s]
    assert steps and all(s.get("shell") == "bash" for s in steps)
    for i, step in enumerate(steps):
        # Expressions are substituted before bash sees the script; a word stands in.
        script = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", step["run"])
        path = tmp_path / f"step{i}.sh"
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script)
        proc = subprocess.run([shellcheck, "-s", "bash", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{step.get('name', i)}:\n{proc.stdout}"
        assert "${{" not in step["run"], "pass inputs through env:, never inline ${{ }} into scripts"


def test_action_inputs_used_are_declared() -> None:
    text = (ROOT / "action.yml").read_text()
    declared = set(yaml.safe_load(text)["inputs"])
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used == declared


def test_pre_commit_hooks_run_validate() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"safeflags-validate", "safeflags-validate-changes"}
    for hook in hooks:
        assert hook["entry"].startswith("safeflags validate") and hook["pass_filenames"] is False
        assert re.search(hook["files"], "flags/billing/new_invoice_path.jsonnet")
        assert not re.search(hook["files"], "src/app.py")


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    pins: dict[str, set[str]] = {}
    for path in ACTION_FILES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$", line)
            if m is None or m.group(1).startswith(("./", "$/")):
                continue
            where = f"{path.relative_to(ROOT)}:{number}"
            pinned = re.fullmatch(r"([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@([0-9a-f]{40})", m.group(1))
            assert pinned, f"{where}: {m.group(1)} is not pinned to a full commit SHA"
            assert m.group(2) and re.match(r"#\s*v\d+(\.\d+)*$", m.group(2)), f"{where}: no `# vX.Y.Z` comment"
            pins.setdefault(pinned.group(1), set()).add(f"{pinned.group(2)} {m.group(2).lstrip('# ')}")
    assert {"actions/checkout", "actions/setup-python", "actions/cache", "github/codeql-action"} <= set(pins)
    # One commit per action across files, so an upgrade cannot leave a stale copy behind.
    assert all(len(v) == 1 for v in pins.values()), pins


def test_zizmor_offline_reports_nothing() -> None:
    zizmor = _tool("zizmor")
    # docs/workflows is not a .github/workflows directory, so zizmor is given its files one by one.
    targets = [str(p.relative_to(ROOT)) for p in (ROOT / "action.yml", ROOT / ".github" / "workflows", *DOC_WORKFLOWS)]
    # --no-config: only the inline, justified ignores below count, not a config file's.
    base = [zizmor, "--offline", "--no-config", "--no-progress", "--color=never"]
    proc = subprocess.run([*base, *targets], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout
    everything = subprocess.run([*base, "--no-ignores", "--no-exit-codes", "--format", "json", *targets], cwd=ROOT,
                                capture_output=True, text=True, timeout=120, check=True)
    ignored = {finding["ident"] for finding in json.loads(everything.stdout)}
    assert ignored <= JUSTIFIED_IGNORES, ignored


def test_the_documented_workflows_exist_and_pass_expressions_through_env() -> None:
    assert {w.name for w in DOC_WORKFLOWS} >= {"release-flags.yml", "schedule-flips.yml"}
    for workflow in DOC_WORKFLOWS:
        data = yaml.safe_load(workflow.read_text())
        assert data["permissions"] == {}, f"{workflow.name}: no permission at the top level"
        for name, job in data["jobs"].items():
            assert "permissions" in job, f"{workflow.name}: job {name} names its own permissions"
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{workflow.name}: {step.get('name')} inlines ${{{{ }}}}"
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def _triggers(workflow: Path) -> dict[str, Any]:
    data = yaml.safe_load(workflow.read_text())
    return data.get("on", data.get(True))  # YAML 1.1 reads the key `on` as true


def test_validate_flags_runs_wherever_a_verdict_can_change() -> None:
    workflow = ROOT / ".github" / "workflows" / "validate-flags.yml"
    on = _triggers(workflow)
    assert set(on["pull_request"]["types"]) == {"opened", "synchronize", "reopened", "labeled", "unlabeled"}
    assert set(on["pull_request_review"]["types"]) == {"submitted", "dismissed"}
    assert "merge_group" in on and on["push"]["branches"] == ["main"]
    steps = yaml.safe_load(workflow.read_text())["jobs"]["validate"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    # The merge commit's parents and the merge base must be in the clone.
    assert checkout["with"]["fetch-depth"] == 0 and checkout["with"]["persist-credentials"] is False
    assert any(s.get("uses") == "./" for s in steps)
