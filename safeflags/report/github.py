"""GitHub Actions: workflow-command annotations in the log and on the diff,
each with its hint. The job summary beside them is safeflags.report.summary."""
from __future__ import annotations

from safeflags.report.base import Reporter, summary_line
from safeflags.validation.finding import Severity
from safeflags.validation.runner import Outcome

COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


class GithubReporter(Reporter):
    format = "github"

    def render(self, outcome: Outcome) -> str:
        names = {v.code: v.name for v in outcome.validators}
        lines = []
        for f in outcome.findings:
            props = [f"file={_prop(self.path(f.file))}"]
            pos = self.position(f)
            if pos:
                props += [f"line={pos[0]}", f"col={pos[1]}"]
            title = f"{f.code} {names.get(f.code, '')}".strip()
            props.append(f"title={_prop(title)}")
            message = f.message + (f" — {f.hint}" if f.hint else "")
            lines.append(f"::{COMMAND[f.severity]} {','.join(props)}::{_data(message)}")
        if outcome.judged_alone:
            lines.append(f"::notice title=safeflags::{_data(outcome.judged_alone)}")
        # A plain log line: a line break in it (a hostile --base) must not start a workflow command.
        lines.append(" ".join(summary_line(outcome).splitlines()))
        return "\n".join(lines) + "\n"
