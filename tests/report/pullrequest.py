"""Real outcomes for the report tests: a git repository with a base commit
on `main` and pull requests on branches, validated in-process by the same
session `safeflags validate --base main` runs (compile both sides, pair the
changes, the base's validators and settings judge)."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from safeflags.validation.approvals import PullRequest
from safeflags.validation.runner import Outcome
from safeflags.validation.session import Options, validate
from tests.helpers.repo import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "tests" / "validation" / "data" / "safeflags.yaml"
TODAY = date(2026, 11, 22)


class PullRequestRepo:
    """`files` (repository-relative path -> text) is the base commit, with
    the catalog of the validator cases and the packaged templates (vendored)."""

    def __init__(self, root: Path, files: dict[str, str], validation: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(TEMPLATES, root / "templates")
        (root / "safeflags.yaml").write_text(CATALOG.read_text() + validation, encoding="utf-8")
        (root / ".gitignore").write_text(".safeflags-cache/\n__pycache__/\n")
        self.write(files)
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-qm", "base")

    def git(self, *args: str) -> str:
        out = subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args],
                             cwd=self.root, check=True, capture_output=True, text=True)
        return out.stdout

    def write(self, files: Mapping[str, str | None]) -> None:
        for rel, text in files.items():
            path = self.root / rel
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def pull_request(self, name: str, files: Mapping[str, str | None]) -> None:
        """Check out a branch `name` from main with `files` written (None: deleted) and committed."""
        self.git("checkout", "-q", "-B", name, "main")
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "-qm", name)

    def validate(self, today: date = TODAY) -> Outcome:
        pr = PullRequest(number=1, author="dev", head_sha="head", repository="acme/flags")
        return validate(Options(self.root, "main", pr, today=today, jobs=2))
