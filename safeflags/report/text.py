"""Compiler-style text for people: `file:line:col: severity CODE message`,
the source line with a caret under the spot, a hint, and a summary line."""
from __future__ import annotations

from safeflags.report.base import Reporter, summary_line
from safeflags.validation.runner import Outcome


class TextReporter(Reporter):
    format = "text"

    def render(self, outcome: Outcome) -> str:
        lines: list[str] = []
        for f in outcome.findings:
            pos = self.position(f)
            where = f"{f.file}:{pos[0]}:{pos[1]}" if pos else f.file
            lines.append(f"{where}: {f.severity.value} {f.code} {f.message}")
            source = self.locations.source(f.file, pos[0]) if pos else None
            if pos and source is not None:
                lines.append(f"    {source.rstrip()}")
                lines.append("    " + " " * (pos[1] - 1) + "^")
            if f.hint:
                lines.append(f"    hint: {f.hint}")
        for s in outcome.suppressions:
            state = f"silenced {len(s.silenced)}" if s.silenced else "unused"
            lines.append(f"{s.file}: suppressed {s.code} for {s.flag} ({state}): {s.reason}")
        if outcome.judged_alone:
            lines.append(f"safeflags: note: {outcome.judged_alone}")
        lines.append(summary_line(outcome))
        return "\n".join(lines) + "\n"
