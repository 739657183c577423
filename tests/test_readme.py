"""The README's console examples are what the program prints.

Every ```console block of README.md that shows output is run, command by
command, in a fresh git copy of the example repository, and its output
compared line by line. Only what varies from run to run is normalised:
durations (`0.3 s`) and bundle hashes (a bundle records the commit it was
built from); a line `...` in the README stands for any number of lines. A
block of commands without output (a command reference) is not run.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
VARIES = [(re.compile(r"\b\d+\.\d+ s\b"), "<t> s"), (re.compile(r"sha256-[0-9a-f]+…?"), "sha256-<h>")]


def _blocks() -> list[list[tuple[str, list[str]]]]:
    """Each block as (command, expected output lines) pairs."""
    out = []
    for m in BLOCK.finditer((ROOT / "README.md").read_text(encoding="utf-8")):
        steps: list[tuple[str, list[str]]] = []
        pending = ""
        for line in m.group(1).splitlines():
            if pending:
                pending += "\n" + line
                if not line.endswith("\\"):
                    steps.append((pending, []))
                    pending = ""
            elif line.startswith("$ "):
                if line.endswith("\\"):
                    pending = line[2:]
                else:
                    steps.append((line[2:], []))
            elif steps and line:
                steps[-1][1].append(line)
        if any(expected for _, expected in steps):
            out.append(steps)
    return out


def _norm(line: str) -> str:
    for pattern, repl in VARIES:
        line = pattern.sub(repl, line)
    return line.rstrip()


def _matches(expected: list[str], actual: list[str]) -> bool:
    """`expected` against `actual`, where a `...` line skips any lines."""
    if not expected:
        return not actual
    head, rest = expected[0].strip(), expected[1:]
    if head == "...":
        return any(_matches(rest, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and _norm(expected[0]) == _norm(actual[0]) and _matches(rest, actual[1:])


@pytest.fixture()
def example(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("flags", "validators"):  # no templates/: the example imports the packaged library
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("safeflags.yaml", "deployments.yaml"):
        shutil.copy(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "example"], cwd=repo, check=True)
    return repo


def test_the_readme_has_examples_with_output() -> None:
    assert len(_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_a_readme_example_prints_what_it_shows(example: Path, index: int) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "NO_COLOR": "1"}
    for key in ("GITHUB_TOKEN", "GITHUB_ACTIONS", "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY"):
        env.pop(key, None)
    for command, expected in _blocks()[index]:
        proc = subprocess.run(["bash", "-c", command], cwd=example, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        actual = (proc.stdout + proc.stderr).splitlines()
        assert _matches(expected, actual), f"$ {command}\n--- README\n" + "\n".join(expected) + \
            "\n--- actual\n" + "\n".join(actual)
