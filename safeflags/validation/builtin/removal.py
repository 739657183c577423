"""SF306-SF308: what a pull request removes — flags the code still reads,
flags removed mid-rollout — and changes to the checks themselves."""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from safeflags.compile.config import CONFIG_FILE
from safeflags.v1 import common_pb2
from safeflags.validation.api import Change, ChangeValidator, Context, Validator
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.settings import parse_settings

SKIP_DIRS = frozenset({".git", ".hg", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", ".safeflags-cache", "build", "dist", "site-packages"})


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemovedFlagReferenced(ChangeValidator):
    """A removed flag that the code still references.

    **What it catches**: every line of the code tree (`--code-root`, by
    default the repository) that mentions the key of a flag the pull
    request deletes, outside the flags directory.

    **Why**: once the bundle lacks the flag, every call site gets its code
    default (`FLAG_NOT_FOUND`) — whatever the flag served until now.

    **How to fix**: remove the call sites first (or in the same change),
    keeping the behaviour the flag served.

    **Example**: deleting `flags/billing/new_invoice_path.jsonnet` while
    `client.get_bool("billing.new_invoice_path", ...)` remains.
    """

    code = "SF306"
    name = "removed-flag-referenced"

    class Options(_Options):
        exclude: list[str] = Field(default_factory=list)  # extra directory names to skip
        max_file_bytes: int = Field(default=2_000_000, gt=0)

    def check(self, ctx: Context) -> Iterator[Finding]:
        removed = {c.key: c for c in ctx.changes if c.kind == "removed"}
        if not removed or ctx.code_root is None:
            return
        keys = "|".join(re.escape(k) for k in sorted(removed, key=len, reverse=True))
        pattern = re.compile(r"(?<![\w.-])(" + keys + r")(?![\w-])")
        root = ctx.code_root.resolve()
        repo = ctx.head.config.root.resolve()
        flags_dir = ctx.head.config.flags_dir.resolve()
        skip = SKIP_DIRS | set(self.options.exclude)  # type: ignore[attr-defined]
        for path in _files(root, skip, flags_dir, self.options.max_file_bytes):  # type: ignore[attr-defined]
            try:
                text = path.read_bytes()
            except OSError:
                continue
            if b"\0" in text[:8192]:
                continue  # binary
            rel = (path.relative_to(repo) if path.is_relative_to(repo) else path.relative_to(root)).as_posix()
            for lineno, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), start=1):
                for m in pattern.finditer(line):
                    key = m.group(1)
                    yield self.finding(
                        f"{key!r} is removed by this change but still referenced here", file=rel, line=lineno,
                        column=m.start() + 1, flag=key,
                        hint="remove the call site first, keeping the behaviour the flag served",
                    )


def _files(root: Path, skip: set[str] | frozenset[str], flags_dir: Path, limit: int) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in skip and (here / d).resolve() != flags_dir)
        for name in sorted(filenames):
            path = here / name
            try:
                if path.is_file() and path.stat().st_size <= limit:
                    yield path
            except OSError:
                continue


class RemovedBeforeTerminal(ChangeValidator):
    """A flag removed before it reached a terminal state.

    **What it catches**: deleting a flag that still serves different values
    to different traffic (mid-rollout, an active split), or a migration
    flag that is not at its first or last state.

    A config flag (kind `config`) is a value, not a rollout: it is not
    judged here, only by whether code still reads it (SF306).

    **Why**: after removal every request gets the code default; the units
    the flag was serving something else flip at once, unreviewed.

    **How to fix**: finish (or roll back) the rollout, let it serve one
    value everywhere, then remove it together with the code paths.

    **Example**: deleting a release flag at stage 2 of 5 (5 %).
    """

    code = "SF307"
    name = "removed-before-terminal"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before = change.before
        if change.kind != "removed" or before is None:
            return
        if before.kind == common_pb2.FLAG_KIND_CONFIG:
            return  # a value, not a rollout: what removing it breaks is the code that reads it (SF306)
        if before.kind == common_pb2.FLAG_KIND_MIGRATION and before.enabled:
            states = [v.value for v in before.variants]
            if states and before.default not in (states[0], states[-1]):
                yield self.at(before, "a migration flag is removed in an intermediate state",
                              hint="finish the migration (its last state) or roll it back (its first) first")
            return
        exp = ctx.exposure(change)
        served = {p.before for p in exp.points}
        if len(served) > 1:
            yield self.at(before, f"the flag is removed while it serves different values to different traffic "
                          f"(~{exp.before:.1%} exposed)", hint="roll out fully (or back) first, then remove it")


class ChecksChanged(Validator):
    """The pull request changes the checks that judge it.

    **What it catches**: a change to the `validation:` section of
    safeflags.yaml, or to the repository's local validator files.

    **Why**: a pull request is judged by the base revision's checks, so
    that it cannot weaken them; the new checks apply once it is merged.
    Reviewers should know that, and review the change to the checks.

    **How to fix**: nothing, if intended; keep such changes in their own
    pull request so flag changes are never judged by rules being edited.

    **Example**: `validation: {rules: {SF301: {enabled: false}}}` added in
    the same pull request as a ramp that skips stages.
    """

    code = "SF308"
    name = "checks-changed"
    severity = Severity.WARNING
    needs_base = True

    def check(self, ctx: Context) -> Iterator[Finding]:
        if ctx.base is None:
            return
        head_cfg, base_cfg = ctx.head.config, ctx.base.config
        if head_cfg.model.validation != base_cfg.model.validation:
            line, col = head_cfg.position(["validation"])
            yield self.finding("this change edits the validation settings; it is judged by the base revision's, "
                               "and the new settings apply after merge", file=CONFIG_FILE, line=line, column=col)
        files = set(parse_settings(base_cfg).local_validators) | set(parse_settings(head_cfg).local_validators)
        dirs = {Path(f).parent for f in files}
        for rel in sorted(_tree(head_cfg.root, dirs) | _tree(base_cfg.root, dirs)):
            new, old = _read(head_cfg.root / rel), _read(base_cfg.root / rel)
            if new != old:
                what = "adds" if old is None else "deletes" if new is None else "edits"
                yield self.finding(f"this change {what} validator code; it is judged by the base revision's "
                                   "validators, and the new code applies after merge",
                                   file=rel, line=1 if new is not None else 0)


def _tree(root: Path, dirs: set[Path]) -> set[str]:
    out = set()
    for d in dirs:
        # The validator files' own directories (their helpers), not below.
        for p in (root / d).glob("*.py") if (root / d).is_dir() else ():
            out.add(p.relative_to(root).as_posix())
    return out


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
