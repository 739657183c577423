"""SF312: the pull request as a whole — how many flags it opens up, and to how much traffic."""
from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from safeflags.validation.api import Change, Context, Validator
from safeflags.validation.builtin.rollout import exposure_line
from safeflags.validation.exposure import RELEASE_LIKE
from safeflags.validation.finding import Finding
from safeflags.validation.origins import Origin

SHOWN = 20  # flag keys listed in the message; the rest are counted


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_flags: int = Field(default=10, ge=0)
    max_percent: float = Field(default=100.0, ge=0)
    approval_labels: list[str] = Field(default_factory=lambda: ["safeflags/approved-blast-radius"])
    approval_teams: list[str] = Field(default_factory=list)
    approval_reviewers: list[str] = Field(default_factory=list)


def rises(change: Change, ctx: Context) -> float:
    """The share of its traffic a change newly exposes, as the budget counts
    it: release-like flags only (config, migration and kill switches are
    judged by their own rules), never a flag the change leaves switched off."""
    after = change.after
    if after is None or after.kind not in RELEASE_LIKE or not after.enabled:
        return 0.0
    return ctx.exposure(change).newly


class PrBudget(Validator):
    """A pull request that newly exposes too many flags, or too much traffic in total.

    **What it catches**: besides each flag's own limits, the pull request as a
    whole: more than `max_flags` flags (default 10) whose newly exposed share
    rises above zero, or newly exposed traffic summed over those flags above
    `max_percent` (default 100). The sum is in percent of one flag's traffic:
    each flag adds the share of its traffic it newly exposes (SF302's
    measure), so 100 is as much as switching one flag on for everyone, and a
    5 % → 10 % step of 216 flags is 1080. Only release-like flags count
    (release, experiment, unspecified); kill switches, config and migration
    flags, and flags left switched off never do. An approval as for SF302
    (`approval_labels`, default `safeflags/approved-blast-radius`;
    `approval_teams`; `approval_reviewers`) lets it through. One finding per
    pull request: when template-driven flags rise (their own files
    unchanged), at the template line the pull request changed, listing the
    flags that line moves; otherwise at the first flag that rises.

    **Why**: per-flag limits are blind to breadth. One edit to a shared ramp
    template moves hundreds of flags at once, each by a step that looks
    routine on its own, and nothing in the diff of any flag file shows it.

    **How to fix**: split the change (a template edit first for new flags
    only, then flags moved in batches), or get the approval the settings
    name (`validation.rules.SF312` in safeflags.yaml).

    **Example**: `local standardStages = [mkStage(p) for p in [1, 10, 25, 50, 100]];`
    in `templates/ramps.libsonnet` (was `[1, 5, ...]`) doubles the exposure of
    every flag at the standard ramp's second stage.
    """

    code = "SF312"
    name = "pr-budget"
    needs_base = True
    Options = _Options

    def check(self, ctx: Context) -> Iterator[Finding]:
        o: _Options = self.options  # type: ignore[assignment]
        rising = [(c, share) for c in ctx.changes if (share := rises(c, ctx)) > 1e-12]
        total = 100 * sum(share for _, share in rising)
        if not rising or (len(rising) <= o.max_flags and total <= o.max_percent + 1e-9):
            return
        if ctx.approvals.granted(o.approval_labels, o.approval_teams, o.approval_reviewers) is not None:
            return
        over = []
        if len(rising) > o.max_flags:
            over.append(f"more than max_flags ({o.max_flags})")
        if total > o.max_percent + 1e-9:
            over.append(f"more than max_percent ({o.max_percent:g}%)")
        flags = f"{len(rising)} flag" + ("s" if len(rising) != 1 else "")
        summary = (f"this pull request newly exposes {flags}, ~{total:.1f}% of one flag's traffic "
                   f"in total: {' and '.join(over)}")
        need = " or ".join([f"label {x!r}" for x in o.approval_labels]
                           + [f"review by team {x!r}" for x in o.approval_teams]
                           + [f"review by {x!r}" for x in o.approval_reviewers])
        why = ctx.approvals.why_not(o.approval_labels)
        hint = (f"split the pull request, or get approval: {need or 'see validation.rules.SF312'}"
                + (f" ({why})" if why else ""))
        by_origin: dict[Origin, list[str]] = {}
        for change, _ in rising:
            origin = ctx.origins.of(change.key)
            if origin is not None:
                by_origin.setdefault(origin, []).append(change.key)
        if by_origin:
            origin = min(by_origin, key=lambda x: (-len(by_origin[x]), x))
            moved = by_origin[origin]
            others = len(rising) - len(moved)
            rest = f"; {others} more elsewhere" if others else ""
            yield self.finding(f"{summary}; this line moves {len(moved)} of them: {_listed(moved)}{rest}",
                               file=origin.file, line=origin.line, column=origin.column, hint=hint)
            return
        first = rising[0][0]
        after = first.after
        assert after is not None  # rises() counts only flags of the head
        where = exposure_line(first, ctx)
        line, column = where if isinstance(where, tuple) else (where, 0)
        yield self.finding(f"{summary}: {_listed([c.key for c, _ in rising])}", file=after.location.file,
                           line=line or int(after.location.line), column=column if line else int(after.location.column),
                           hint=hint)


def _listed(keys: list[str]) -> str:
    shown = ", ".join(sorted(keys)[:SHOWN])
    return shown + (f" +{len(keys) - SHOWN} more" if len(keys) > SHOWN else "")

