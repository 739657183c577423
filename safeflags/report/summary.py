"""The Markdown job summary ($GITHUB_STEP_SUMMARY) of a run, for the
reviewer of the pull request.

What a reviewer acts on comes first: the findings with their hints (errors
before warnings), then the flags whose change moves traffic, each with its
shares per scope, then one collapsed list of the flags changed without any
effect on what is served, then the suppressions.

The summary stays under a hard byte budget whatever the size of the change
(GitHub refuses a step's summary over 1 MiB, and a template edit can touch
thousands of flags): sections share the budget fairly, a short section keeps
all of it and hands the rest on, and a cut section says how much it left out
and where to read it. Every text a pull request can write goes through
safeflags.report.markdown.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from safeflags.report.base import Locations, summary_line
from safeflags.report.markdown import code, size, text
from safeflags.validation.api import Change, Context
from safeflags.validation.exposure import Exposure, ScopeExposure
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.runner import Outcome

LIMIT = 64 * 1024  # bytes of UTF-8; a summary is always shorter
MARK = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.NOTICE: "ℹ️"}
RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2}
# Past this many, the flags without effect are folded into a <details> block.
INLINE = 10
# Flags named in an entry for many flags moved alike.
NAMED = 30


def count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def pct(x: float) -> str:
    return "0 %" if x == 0 else "100 %" if x == 1 else f"{x * 100:.1f} %"


def has_effect(exposure: Exposure | ScopeExposure) -> bool:
    return exposure.changed > 0 or exposure.newly > 0


@dataclass
class Section:
    """Lines shown whole or not at all (a heading, a table's head), then
    items kept in order while they fit, then the tail (a blank line, a
    closing tag). A cut section says how many `noun` it left out (an item
    stands for `counts[i]` of them, else one) and where to read them."""

    head: list[str]
    items: list[str]
    noun: str
    see: str
    tail: list[str] = field(default_factory=lambda: [""])
    counts: list[int] | None = None

    def size(self) -> int:
        return _lines(*self.head, *self.items, *self.tail)

    def note(self, kept: int) -> str:
        total = sum(self.counts) if self.counts is not None else len(self.items)
        left = total - (sum(self.counts[:kept]) if self.counts is not None else kept)
        if not kept:
            return f"{left:,} {self.noun}, not shown here: see {self.see}"
        return f"… and {left:,} more {self.noun}: see {self.see}"

    def render(self, budget: int) -> list[str]:
        """At most `budget` bytes of lines (each counted with its newline)."""
        if not self.items:
            return []
        if self.size() <= budget:
            return [*self.head, *self.items, *self.tail]
        # Room for the note however many are left out (at most all of them).
        total = sum(self.counts) if self.counts is not None else len(self.items)
        longest = max(size(self.note(0)), size(f"… and {total:,} more {self.noun}: see {self.see}"))
        room = budget - _lines(*self.head, "", *self.tail) - longest - 1
        kept: list[str] = []
        for item in self.items:
            room -= _lines(item)
            if room < 0:
                break
            kept.append(item)
        if kept:
            return [*self.head, *kept, "", self.note(len(kept)), *self.tail]
        # Not one item fits: the heading and the note (a table's head alone would take the note as a row).
        title = [line for line in self.head if not line.startswith("|")]
        for lines in ([*title, self.note(0), *self.tail], [self.note(0), ""]):
            if _lines(*lines) <= budget:
                return lines
        return []


def _lines(*lines: str) -> int:
    return sum(size(x) + 1 for x in lines)


def shares(sizes: Sequence[int], budget: int) -> list[int]:
    """Max-min fair split of `budget`: a section smaller than an equal share
    gets all it needs and the rest is split among the larger ones."""
    out = [0] * len(sizes)
    left = budget
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for done, i in enumerate(order):
        out[i] = min(sizes[i], left // (len(sizes) - done))
        left -= out[i]
    return out


def _where(locations: Locations, prefix: str, f: Finding) -> str:
    pos = locations.of(f)
    return code(prefix + f.file + (f":{pos[0]}:{pos[1]}" if pos else ""))


def _findings(locations: Locations, prefix: str, findings: list[Finding]) -> Section:
    # By severity, then code (compile errors, targeting, rollout safety,
    # hygiene, then a team's own): a cut drops the least urgent first.
    ordered = sorted(findings, key=lambda f: (RANK[f.severity], f.code, f.sort_key()))
    rows = [f"| {MARK[f.severity]} | {code(f.code)} | {_where(locations, prefix, f)} | {text(f.message)} | "
            f"{text(f.hint or '', 500)} |" for f in ordered]
    head = ["### Findings", "", "| | code | where | message | how to fix |", "|---|---|---|---|---|"]
    see = "the JSON report / annotations"
    errors = sum(1 for f in findings if f.severity == Severity.ERROR)
    if errors:
        see += f" ({count(errors, 'error')} in all)"
    return Section(head, rows, "findings", see)


def _scope_rows(exp: Exposure) -> list[str]:
    rows, quiet = [], []
    for s in exp.scopes:
        if s.dim and not has_effect(s):
            quiet.append(s.label)
            continue
        rows.append(f"| {text(s.label, 200)} | {pct(s.before)} | {pct(s.after)} | {pct(s.newly)} | {pct(s.changed)} |")
    if quiet:
        folded = f"no effect in {count(len(quiet), 'scope')}: {text('; '.join(quiet), 400)}"
        rows.append(f"| {folded} | unchanged | unchanged | 0 % | 0 % |")
    return rows


def _effect(exp: Exposure) -> tuple[str, str]:
    """What a change does, in words and as a table by scope (empty when the
    flag reads no static dimension: the words say it all)."""
    words = (f"changed {pct(exp.changed)}, exposure {pct(exp.before)} → {pct(exp.after)}, "
             f"newly exposed {pct(exp.newly)}")
    if len(exp.scopes) == 1:
        return words, ""
    table = ["| scope | before | after | newly exposed | changed |", "|---|---:|---:|---:|---:|", *_scope_rows(exp)]
    return words, "\n".join(table)


def _changes(ctx: Context, prefix: str) -> tuple[int, Section, Section]:
    """How many flags change what is served, their section, and the list of
    those changed without effect. Flags a change moved alike (a template
    edit moves hundreds the same way) share one entry."""
    alike: dict[tuple[str, str, str], list[Change]] = {}
    weight: dict[tuple[str, str, str], tuple[float, float]] = {}
    key: tuple[str, str, str]
    still = []
    for c in ctx.changes:
        exp = ctx.exposure(c)
        if has_effect(exp):
            key = (c.kind, *_effect(exp))
            alike.setdefault(key, []).append(c)
            weight[key] = (-exp.newly, -exp.changed)
        else:
            still.append(code(c.key, 200, cell=False))
    blocks, counts = [], []
    # The largest effects first: what a cut leaves out is what moves least.
    for key in sorted(alike, key=lambda k: weight[k]):
        (kind, words, table), members = key, alike[key]
        if len(members) == 1:
            c = members[0]
            title = f"**{code(c.key, 200, cell=False)}** ({kind}, {code(prefix + c.file, cell=False)}): {words}"
        else:
            shown = ", ".join(code(c.key, 200, cell=False) for c in members[:NAMED])
            more = f" and {len(members) - NAMED:,} more" if len(members) > NAMED else ""
            title = f"**{len(members):,} flags** ({kind}), each {words}: {shown}{more}"
        blocks.append("\n".join([title, "", *([table, ""] if table else [])]))
        counts.append(len(members))
    effect = Section([], blocks, "flags that change what is served", "the JSON report", [""], counts)
    heading = f"No effect on what is served: {count(len(still), 'changed flag')}"
    chunks = [", ".join(still[i:i + 20]) for i in range(0, len(still), 20)]
    sizes = [len(still[i:i + 20]) for i in range(0, len(still), 20)]
    if len(still) <= INLINE:
        quiet = Section([f"{heading}:"], chunks, "flags without effect", "the JSON report", counts=sizes)
    else:
        quiet = Section([f"<details><summary>{heading}</summary>", ""], chunks, "flags without effect",
                        "the JSON report", ["", "</details>", ""], sizes)
    return sum(counts), effect, quiet


def _suppressions(outcome: Outcome) -> Section:
    rows = [f"| {code(s.flag)} | {code(s.code)} | {len(s.silenced)} | {text(s.reason, 500)} |"
            for s in outcome.suppressions]
    head = ["### Suppressions", "", "| flag | code | silenced | reason |", "|---|---|---:|---|"]
    return Section(head, rows, "suppressions", "the JSON report")


def markdown_summary(outcome: Outcome, prefix: str = "", *, limit: int = LIMIT, root: Path | None = None) -> str:
    """The summary, under `limit` bytes of UTF-8 (unless `limit` is too
    small for the header and the footer: then just those). `root` is the
    flag repository, read for the column of a finding that has none."""
    ctx = outcome.context
    locations = Locations(root if root is not None else ctx.head.config.root)
    errors, warnings = outcome.count(Severity.ERROR), outcome.count(Severity.WARNING)
    icon = "❌" if errors else ("⚠️" if warnings else "✅")
    head = [f"## {icon} safeflags validate: {count(errors, 'error')}, {count(warnings, 'warning')}", ""]
    if outcome.base_ref is not None:
        head += [f"Compared with {code(outcome.base_ref, 200, cell=False)} "
                 f"({code((outcome.base_commit or '')[:12], cell=False)}); "
                 "judged by the base revision's validators and settings.", ""]
    if outcome.judged_alone:
        head += [text(outcome.judged_alone[:1].upper() + outcome.judged_alone[1:], 500, cell=False) + ".", ""]
    foot = [f"<sub>{text(summary_line(outcome), 2000, cell=False)}</sub>"]
    sections = [_findings(locations, prefix, outcome.findings)]
    changes: list[str] = []
    if outcome.changes:
        moving, effect, quiet = _changes(ctx, prefix)
        changes = ["### Changed flags", "", f"{count(moving, 'flag')} of {len(ctx.changes):,} changed what is served.",
                   ""]
        sections += [effect, quiet]
    elif outcome.base_ref is not None:
        changes = ["No flag changed.", ""]
    sections.append(_suppressions(outcome))
    # Strictly under the limit; what the header, the footer and the headings
    # leave is shared by the sections.
    budget = limit - 1 - _lines(*head, *changes, *foot)
    parts = [section.render(share)
             for section, share in zip(sections, shares([s.size() for s in sections], max(budget, 0)), strict=True)]
    out = [*head, *parts[0], *changes, *(line for part in parts[1:] for line in part), *foot]
    return "\n".join(out) + "\n"
