"""Findings are data: what a validator reports, immutable and sortable.

Validators yield them; the runner filters, re-grades and suppresses them per
the repository's settings; reporters only read them.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is. Only ERROR fails the run (exit 1)."""

    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place in the flag repository (or the code tree)."""

    code: str
    severity: Severity
    message: str
    file: str  # repository-relative, forward slashes
    line: int = 0  # 1-based; 0 when the problem has no line (a whole file)
    column: int = 0  # 1-based; 0 when unknown
    flag: str | None = None  # the flag key the finding is about
    hint: str | None = None  # how to fix it, one sentence

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.code, self.message)

    def location(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{max(self.column, 1)}"
        return self.file


@dataclass(frozen=True, slots=True)
class Suppression:
    """An inline `suppress: [{code, reason}]` of one flag and what it silenced."""

    flag: str
    code: str
    reason: str
    file: str
    silenced: tuple[Finding, ...] = ()
