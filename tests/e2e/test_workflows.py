"""The GitHub integration lints clean: actionlint over every workflow (it
also reads the local composite action through `uses: ./` and runs
shellcheck on workflow scripts), shellcheck over the composite action's
own scripts, and the pre-commit hooks name a real command."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
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
