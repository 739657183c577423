"""Runs a composite action's steps as the GitHub runner does, for tests.

Each `run:` step is a bash script run as `shell: bash` runs it (`bash
--noprofile --norc -eo pipefail`), in its working directory, with the
step's `env:` and the runner's variables: GITHUB_EVENT_NAME and an event
file, a fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY per step (outputs
parsed as the runner parses them, `name=value` and `name<<DELIMITER`),
GITHUB_WORKSPACE, GITHUB_ACTION_PATH, RUNNER_TEMP. `${{ }}` expressions
are evaluated against the `inputs`, `github`, `runner` and `steps`
contexts; `if:` conditions get the runner's implicit `success() &&`.

A `uses:` step is not run (no network, no JavaScript actions): it is
recorded with its evaluated `with:`, its outcome is the one the test gives
(success by default), and it has the outputs `FAKE_OUTPUTS` gives it.
An expression the evaluator does not know is an error, never a guess.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>&&|\|\||==|!=|!|\(|\)|,)"
                    r"|(?P<name>[A-Za-z_][\w.-]*))")
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_STATUS = re.compile(r"\b(?:success|failure|always|cancelled)\(\)")


def truthy(value: Any) -> bool:
    return not (value is None or value is False or value == "" or (isinstance(value, int | float)
                                                                   and (value == 0 or math.isnan(value))))


def text(value: Any) -> str:
    """An expression's value as it is substituted into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(value) if str(value).strip() else 0.0
    except ValueError:
        return math.nan


def _equal(a: Any, b: Any) -> bool:
    """GitHub's loose equality: strings case-insensitively, other types as numbers."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b):
        return bool(a == b)
    return _number(a) == _number(b)


class Expression:
    """One `${{ }}` expression: literals, context paths, `!`, `==`, `!=`,
    `&&`, `||` (which yield an operand, as GitHub's do), parentheses and
    the status functions."""

    def __init__(self, source: str, contexts: Mapping[str, Any], status: Mapping[str, bool]):
        self.tokens: list[tuple[str, str]] = []
        pos, source = 0, source.strip()
        while pos < len(source):
            m = _TOKEN.match(source, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"cannot read the expression {source!r} at {pos}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.contexts, self.status, self.at = contexts, status, 0

    def value(self) -> Any:
        result = self._or()
        if self.at != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.at][1]!r} in the expression")
        return result

    def _peek(self, *ops: str) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at] in {("op", o) for o in ops}

    def _take(self) -> tuple[str, str]:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while self._peek("||"):
            self._take()
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek("&&"):
            self._take()
            right = self._compare()
            left = right if truthy(left) else left
        return left

    def _compare(self) -> Any:
        left = self._unary()
        if self._peek("==", "!="):
            op = self._take()[1]
            same = _equal(left, self._unary())
            return same if op == "==" else not same
        return left

    def _unary(self) -> Any:
        if self._peek("!"):
            self._take()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, token = self._take()
        if kind == "str":
            return token[1:-1].replace("''", "'")
        if kind == "num":
            return float(token)
        if (kind, token) == ("op", "("):
            inner = self._or()
            if self._take() != ("op", ")"):
                raise ValueError("unbalanced parentheses")
            return inner
        if kind != "name":
            raise ValueError(f"unexpected {token!r}")
        if token in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token]
        if self._peek("("):
            self._take()
            if self._take() != ("op", ")") or token not in self.status:
                raise ValueError(f"unknown function {token}()")
            return self.status[token]
        head, *rest = token.split(".")
        if head not in self.contexts:
            raise ValueError(f"unknown context {head!r}")
        value = self.contexts[head]
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        return value


@dataclass
class Step:
    name: str
    uses: str = ""
    with_: dict[str, str] = field(default_factory=dict)
    outcome: str = "skipped"
    returncode: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    workspace: Path
    steps: list[Step]
    by_id: dict[str, Step]
    log: str
    summary: str
    outputs: dict[str, str]
    failed: bool

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def annotations(self, level: str = "error") -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith(f"::{level} ")]


def _read_outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            out[name] = "\n".join(lines[i + 1:end])
            i = end
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


# What the `uses:` steps the harness does not run would output, by action (the ref stripped).
FAKE_OUTPUTS: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    # A miss: nothing restored, the key to save under.
    "actions/cache/restore": lambda with_: {"cache-hit": "false", "cache-primary-key": with_.get("key", "")},
}


def run_action(action: Path, *, workspace: Path, temp: Path, event_name: str, event: dict[str, Any],
               inputs: Mapping[str, str], env: Mapping[str, str], uses_outcomes: Mapping[str, str] | None = None,
               ) -> Run:
    """Run `action` (an action.yml) as a job's only step in `workspace`. `uses_outcomes` gives the
    outcome of `uses:` steps by step id; `env` is the job's environment (PATH and the like)."""
    spec = yaml.safe_load(action.read_text(encoding="utf-8"))
    temp.mkdir(parents=True, exist_ok=True)
    event_path = temp / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    github = {"event_name": event_name, "event": event, "action_path": str(action.parent),
              "workspace": str(workspace), "token": "", "repository": "acme/flags"}
    contexts: dict[str, Any] = {"github": github, "runner": {"os": "Linux", "temp": str(temp)}, "steps": {}}
    unknown = set(inputs) - set(spec.get("inputs", {}))
    assert not unknown, f"inputs the action does not declare: {sorted(unknown)}"
    given = {}
    for name, decl in spec.get("inputs", {}).items():
        default = text(decl.get("default", ""))
        given[name] = inputs.get(name, render(default, contexts, {}))
    contexts["inputs"] = given
    steps: list[Step] = []
    by_id: dict[str, Step] = {}
    log: list[str] = []
    summary: list[str] = []
    failed = False
    for i, raw in enumerate(spec["runs"]["steps"]):
        step = Step(name=raw.get("name") or raw.get("uses") or f"step {i}", uses=raw.get("uses", ""))
        steps.append(step)
        if "id" in raw:
            by_id[raw["id"]] = step
            contexts["steps"][raw["id"]] = {"outputs": step.outputs, "outcome": None, "conclusion": None}
        status = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
        condition = _EXPR.sub(lambda m: m.group(1), str(raw.get("if", "success()")))
        if not _STATUS.search(condition):
            condition = f"success() && ({condition})"
        if truthy(Expression(condition, contexts, status).value()):
            if step.uses:
                step.with_ = {k: render(text(v), contexts, status) for k, v in raw.get("with", {}).items()}
                step.outcome = (uses_outcomes or {}).get(raw.get("id", ""), "success")
                fake = FAKE_OUTPUTS.get(step.uses.split("@")[0])
                step.outputs.update(fake(step.with_) if fake else {})
            else:
                assert raw.get("shell") == "bash", f"{step.name}: only bash steps are run here"
                step.outcome = _run_script(raw, step, i, contexts, status, workspace, temp, event_path, env,
                                           log, summary)
        tolerated = truthy(render(text(raw.get("continue-on-error", "")), contexts, status))
        conclusion = "success" if step.outcome == "failure" and tolerated else step.outcome
        failed = failed or conclusion == "failure"
        if "id" in raw:
            contexts["steps"][raw["id"]].update(outcome=step.outcome, conclusion=conclusion)
    declared = spec.get("outputs", {})
    outputs = {name: render(text(decl.get("value", "")), contexts, {}) for name, decl in declared.items()}
    return Run(workspace, steps, by_id, "".join(log), "".join(summary), outputs, failed)


def _run_script(raw: dict[str, Any], step: Step, index: int, contexts: dict[str, Any], status: Mapping[str, bool],
                workspace: Path, temp: Path, event_path: Path, env: Mapping[str, str], log: list[str],
                summary: list[str]) -> str:
    files = {name: temp / f"{name}-{index}" for name in ("script.sh", "output", "summary")}
    files["script.sh"].write_text(raw["run"], encoding="utf-8")
    for name in ("output", "summary"):
        files[name].write_text("", encoding="utf-8")
    step_env = {
        **env, "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_EVENT_NAME": contexts["github"]["event_name"],
        "GITHUB_EVENT_PATH": str(event_path), "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": contexts["github"]["action_path"], "GITHUB_REPOSITORY": "acme/flags",
        "GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux",
        **{k: render(text(v), contexts, status) for k, v in raw.get("env", {}).items()},
    }
    cwd = workspace / render(text(raw.get("working-directory", ".")), contexts, status)
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(files["script.sh"])], cwd=cwd,
                          env=step_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    log.append(f"##[group]Run {step.name}\n{proc.stdout}")
    summary.append(files["summary"].read_text(encoding="utf-8"))
    step.returncode = proc.returncode
    step.outputs.update(_read_outputs(files["output"]))
    return "success" if proc.returncode == 0 else "failure"


def render(value: str, contexts: Mapping[str, Any], status: Mapping[str, bool]) -> str:
    """`value` with every `${{ }}` replaced by its value."""
    return _EXPR.sub(lambda m: text(Expression(m.group(1), contexts, status).value()), value)


def job_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """A job's environment: the runner's PATH with `bin_dir` first (the tool cache's Python, here the
    test's venv) and nothing of the environment running the tests that could reach a real API."""
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(home),
           "LANG": "C.UTF-8",
           # Nothing is downloaded: the install step finds its requirement installed already.
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if "PYTHONPATH" in os.environ:  # a run against another copy of the package
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env
