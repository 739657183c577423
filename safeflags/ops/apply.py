"""Apply an Edit: validate the edited repository against the current revision,
show the diff and the exposure before -> after per scope, and keep the file
only when the result validates.

The edited file is written so that `validate` judges exactly what would be
committed (the head is the work tree, the base is `base` read from git); it
is put back, byte for byte, when the result does not validate, when the
flag does not compile to the flag the step describes, or on a dry run.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.ops.edit import Edit, EditRefused
from safeflags.report.summary import pct
from safeflags.report.text import TextReporter
from safeflags.validation.changes import semantic
from safeflags.validation.runner import Outcome
from safeflags.validation.session import Options, validate


@dataclass(frozen=True)
class ScopeShift:
    label: str  # "all traffic", or "region: eu-west-1, ..."
    before: float
    after: float


@dataclass
class Applied:
    edit: Edit
    diff: str
    outcome: Outcome
    written: bool
    exposure: list[ScopeShift] = field(default_factory=list)
    # Flags other than the edited one whose spec the edit changed (another
    # flag that imports the file): never expected, and a reason not to write.
    others: list[str] = field(default_factory=list)
    report: str = ""  # the findings as text, rendered while the edited file was in place

    @property
    def ok(self) -> bool:
        return not self.outcome.failed and not self.others

    def exposure_lines(self) -> list[str]:
        return [f"  {s.label}: {pct(s.before)} → {pct(s.after)}" for s in self.exposure]


def unified_diff(edit: Edit) -> str:
    return "".join(difflib.unified_diff(
        edit.before.splitlines(keepends=True), edit.after.splitlines(keepends=True),
        fromfile=f"a/{edit.file}", tofile=f"b/{edit.file}"))


def apply(repo: Path, edit: Edit, *, planned_on: CompileResult | None = None, base: str = "HEAD",
          dry_run: bool = False, jobs: int | None = None) -> Applied:
    """Write `edit`, validate against `base`, and keep it only if it validates
    (never on a dry run). Raises EditRefused, with the file put back, when
    the edited flag does not compile to what the step describes: the
    literal changed was not the one the flag's value comes from.

    `planned_on` is the compile the edit was planned on (compiled here when
    not given): any other flag the edit changes is measured against it, not
    against `base`, so uncommitted work on other flags is not this edit's."""
    path = repo / edit.file
    planned = planned_on if planned_on is not None else compile_repo(repo, jobs=jobs)
    current = path.read_bytes()
    if current != edit.before.encode("utf-8"):
        raise EditRefused(f"{edit.file} changed while the edit was planned: run the command again")
    path.write_bytes(edit.after.encode("utf-8"))
    keep = False
    try:
        outcome = validate(Options(repo=repo, base=base, jobs=jobs))
        head = outcome.context.head
        got = head.specs.get(edit.key)
        if got is None or semantic(got) != semantic(edit.expected):
            raise EditRefused(f"{edit.key}: the value this step changes is not written where it was found; "
                              f"edit {edit.file}:{edit.line} by hand ({edit.step})")
        applied = Applied(edit, unified_diff(edit), outcome, written=False, report=TextReporter(repo).render(outcome))
        applied.others = sorted(k for k in head.specs.keys() | planned.specs.keys() if k != edit.key and (
            k not in head.specs or k not in planned.specs or semantic(head.specs[k]) != semantic(planned.specs[k])))
        for c in outcome.changes:
            if c.key == edit.key:
                exp = outcome.context.exposure(c)
                applied.exposure = [ScopeShift(s.label, s.before, s.after) for s in exp.scopes]
        keep = applied.ok and not dry_run
        applied.written = keep
        return applied
    finally:
        if not keep:
            path.write_bytes(current)
