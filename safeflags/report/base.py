"""What every reporter shares: the interface, rule documentation taken from
validator docstrings, and the one-line summary."""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from safeflags.source.errors import read_line
from safeflags.source.sandbox import library_version
from safeflags.validation.api import Validator
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.runner import Outcome
from safeflags.version import __version__


class Locations:
    """Where a finding is, as every format reports it: one line and column,
    so a reviewer who reads the annotation, the summary, the SARIF alert or
    the text output lands on the same character. A finding without a line
    concerns its whole file; one without a column points at the first
    character of its line that is not indentation (column 1 when the line
    cannot be read)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lines: dict[tuple[str, int], str | None] = {}

    def source(self, file: str, line: int) -> str | None:
        """Line `line` of `file` under the root (read once per report)."""
        key = (file, line)
        if key not in self._lines:
            self._lines[key] = read_line(self.root / file, line, root=self.root)
        return self._lines[key]

    def of(self, f: Finding) -> tuple[int, int] | None:
        if not f.line:
            return None
        if f.column > 0:
            return f.line, f.column
        text = self.source(f.file, f.line)
        return f.line, (len(text) - len(text.lstrip()) + 1 if text else 1)


class Reporter(ABC):
    """Renders an Outcome. `root` is the flag repository (for source lines);
    `prefix` is its path inside the checkout, prepended to file names where
    the consumer resolves them from the checkout root (SARIF, annotations)."""

    format: ClassVar[str] = ""

    def __init__(self, root: Path, prefix: str = "") -> None:
        self.root = root
        self.prefix = prefix
        self.locations = Locations(root)

    @abstractmethod
    def render(self, outcome: Outcome) -> str:
        """The whole report as text."""

    def path(self, file: str) -> str:
        return self.prefix + file

    def position(self, f: Finding) -> tuple[int, int] | None:
        """(line, column) of `f`, the same in every format; None for a whole file."""
        return self.locations.of(f)


@dataclass(frozen=True)
class RuleDoc:
    code: str
    name: str
    severity: Severity
    short: str
    full: str  # the docstring without its first line (Markdown)


def rule_doc(v: Validator | type[Validator]) -> RuleDoc:
    cls = v if isinstance(v, type) else type(v)
    doc = inspect.cleandoc(cls.__doc__ or "")
    short, _, rest = doc.partition("\n")
    return RuleDoc(cls.code, cls.name, cls.severity, short.strip(), rest.strip())


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(outcome: Outcome) -> str:
    ctx = outcome.context
    parts = [plural(outcome.count(Severity.ERROR), "error"), plural(outcome.count(Severity.WARNING), "warning")]
    notices = outcome.count(Severity.NOTICE)
    if notices:
        parts.append(plural(notices, "notice"))
    silenced = sum(len(s.silenced) for s in outcome.suppressions)
    if silenced:
        parts.append(f"{silenced} suppressed")
    scope = plural(len(ctx.head.specs) + len({e.file for e in ctx.head.errors}), "flag")
    if outcome.base_ref is not None:
        scope += f", {len(outcome.changes)} changed against {outcome.base_ref}"
    if outcome.hidden:
        scope += f"; {outcome.hidden} more on flags the change does not touch (--all-findings shows them)"
    return f"safeflags: {', '.join(parts)} in {scope} ({outcome.seconds:.1f} s; {versions(outcome)})"


def versions(outcome: Outcome) -> str:
    """The compiler's and the template library's versions, as every report names them."""
    config = outcome.context.head.config
    return f"safeflags {__version__}, templates {library_version(config.root, config.templates_dir)}"
