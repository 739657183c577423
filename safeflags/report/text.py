"""Compiler-style text for people: `file:line:col: severity CODE message`,
the source line with a caret under the spot, a hint, and a summary line."""
from __future__ import annotations

from safeflags.report.base import Reporter, summary_line
from safeflags.source.errors import read_line
from safeflags.validation.runner import Outcome


class TextReporter(Reporter):
    format = "text"

    def render(self, outcome: Outcome) -> str:
        lines: list[str] = []
        for f in outcome.findings:
            source = read_line(self.root / f.file, f.line, root=self.root) if f.line else None
            # An unknown column points at the line's first character, not at its indent.
            col = f.column or (len(source) - len(source.lstrip()) + 1 if source else 1)
            where = f"{f.file}:{f.line}:{col}" if f.line else f.file
            lines.append(f"{where}: {f.severity.value} {f.code} {f.message}")
            if source is not None:
                lines.append(f"    {source.rstrip()}")
                lines.append("    " + " " * (col - 1) + "^")
            if f.hint:
                lines.append(f"    hint: {f.hint}")
        for s in outcome.suppressions:
            state = f"silenced {len(s.silenced)}" if s.silenced else "unused"
            lines.append(f"{s.file}: suppressed {s.code} for {s.flag} ({state}): {s.reason}")
        lines.append(summary_line(outcome))
        return "\n".join(lines) + "\n"
