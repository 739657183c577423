"""A git repository holding a copy of the example flag repository, committed,
so an edit is judged against HEAD as `safeflags ramp` judges it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers.repo import ROOT, FlagRepo


def example_git_repo(path: Path) -> Path:
    FlagRepo(path, with_examples=True)
    shutil.copytree(ROOT / "validators", path / "validators")
    shutil.copy(ROOT / "deployments.yaml", path / "deployments.yaml")
    (path / ".gitignore").write_text(".safeflags-cache/\n", encoding="utf-8")
    git = ["git", "-C", str(path), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "examples"], check=True)
    return path
