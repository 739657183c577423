"""GitHub Actions: workflow-command annotations in the log and on the diff,
and a Markdown job summary (for $GITHUB_STEP_SUMMARY) with each changed
flag's exposure before -> after per scope, the findings and suppressions."""
from __future__ import annotations

from safeflags.report.base import Reporter, plural, summary_line
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
            if f.line:
                props += [f"line={f.line}", f"col={max(f.column, 1)}"]
            title = f"{f.code} {names.get(f.code, '')}".strip()
            props.append(f"title={_prop(title)}")
            message = f.message + (f" — {f.hint}" if f.hint else "")
            lines.append(f"::{COMMAND[f.severity]} {','.join(props)}::{_data(message)}")
        lines.append(summary_line(outcome))
        return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return "0 %" if x == 0 else "100 %" if x == 1 else f"{x * 100:.1f} %"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_summary(outcome: Outcome, prefix: str = "") -> str:
    ctx = outcome.context
    errors, warnings = outcome.count(Severity.ERROR), outcome.count(Severity.WARNING)
    icon = "❌" if errors else ("⚠️" if warnings else "✅")
    out = [f"## {icon} safeflags validate: {plural(errors, 'error')}, {plural(warnings, 'warning')}", ""]
    if outcome.base_ref is not None:
        out += [f"Compared with `{outcome.base_ref}` ({(outcome.base_commit or '')[:12]}); "
                "judged by the base revision's validators and settings.", ""]
    if outcome.changes:
        out += ["### Changed flags", ""]
        for c in outcome.changes:
            exp = ctx.exposure(c)
            out += [f"**`{c.key}`** ({c.kind}, `{prefix}{c.file}`): exposure {_pct(exp.before)} → {_pct(exp.after)}, "
                    f"newly exposed {_pct(exp.newly)}", "",
                    "| scope | before | after | newly exposed |", "|---|---:|---:|---:|"]
            for s in exp.scopes:
                out.append(f"| {_cell(s.label)} | {_pct(s.before)} | {_pct(s.after)} | {_pct(s.newly)} |")
            out.append("")
    elif outcome.base_ref is not None:
        out += ["No flag changed.", ""]
    if outcome.findings:
        out += ["### Findings", "", "| | code | where | message |", "|---|---|---|---|"]
        for f in outcome.findings:
            mark = {"error": "❌", "warning": "⚠️", "notice": "ℹ️"}[f.severity.value]
            where = f"`{prefix}{f.file}:{f.line}`" if f.line else f"`{prefix}{f.file}`"
            out.append(f"| {mark} | {f.code} | {where} | {_cell(f.message)} |")
        out.append("")
    if outcome.suppressions:
        out += ["### Suppressions", "", "| flag | code | silenced | reason |", "|---|---|---:|---|"]
        for sup in outcome.suppressions:
            out.append(f"| `{sup.flag}` | {sup.code} | {len(sup.silenced)} | {_cell(sup.reason)} |")
        out.append("")
    out.append(f"<sub>{_cell(summary_line(outcome))}</sub>")
    return "\n".join(out) + "\n"
