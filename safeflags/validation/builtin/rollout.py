"""SF301, SF302, SF305: rollout safety of a change — how far and how fast a
pull request moves a flag, and whether the flag's shape suits its kind.
Version gates (SF303) and migrations (SF304) have their own modules; they
are named here too, where the registry has always found them."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from safeflags.compile.config import DimensionConfig
from safeflags.compile.lower import LoweredFlag
from safeflags.sdk.values import decoded
from safeflags.v1 import bundle_pb2, common_pb2, spec_pb2
from safeflags.validation.api import (
    Change,
    ChangeValidator,
    Context,
    FlagSpec,
    FlagValidator,
)
from safeflags.validation.builtin.edits import Position, exposure_candidates, exposure_line, in_flag
from safeflags.validation.builtin.migration import MigrationJump
from safeflags.validation.builtin.versions import Inventory, VersionNotDeployed, load_inventory
from safeflags.validation.domain import Space, Tree
from safeflags.validation.exposure import RELEASE_LIKE, starting_value
from safeflags.validation.finding import Finding

__all__ = [
    "BlastRadius", "Inventory", "KillSwitch", "MigrationJump", "SkippedStage", "VersionNotDeployed",
    "exposure_line", "load_inventory",
]

C = spec_pb2.Condition


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EPS = 1e-9


def _covered(expr: bundle_pb2.Expr, names: Sequence[str], catalog: Mapping[str, DimensionConfig]) -> float:
    """Share of traffic (the catalog's weights) for which a lowered condition holds."""
    space = Space(catalog, weighted=True)
    space.add(Tree(expr, names))
    return sum((w for cell, w in space.cells() if space.holds(expr, names, cell)), 0.0)


def stage_shares(spec: FlagSpec, lowered: LoweredFlag, catalog: Mapping[str, DimensionConfig]) -> list[float]:
    """The share of traffic each stage of the rollout covers: its percentage
    of the traffic inside its scope."""
    out = []
    for st, scope in zip(spec.rollout.stages, lowered.scopes, strict=False):
        inside = 1.0 if scope is None else _covered(scope, lowered.names, catalog)
        out.append(inside * st.percent / 100)
    return out


def _raw(v: common_pb2.Value) -> bytes:
    return v.SerializeToString(deterministic=True)


def _rollout_serves(spec: FlagSpec) -> bytes | None:
    serve = spec.rollout.serve
    if serve.WhichOneof("kind") == "value":
        return _raw(serve.value)
    if serve.WhichOneof("kind") == "variant":
        return next((_raw(v.value) for v in spec.variants if v.name == serve.variant), None)
    return None  # a split: it exposes whatever its arms serve


def _ramp_level(spec: FlagSpec | None, shares: list[float]) -> float:
    """The share the rollout's current stage exposes (nothing when it serves the default)."""
    if spec is None or not spec.HasField("rollout") or not 0 < spec.rollout.stage <= len(shares):
        return 0.0
    if _rollout_serves(spec) == _raw(spec.default):
        return 0.0
    return shares[spec.rollout.stage - 1]


def _shown(spec: FlagSpec, value: common_pb2.Value) -> str:
    name = next((v.name for v in spec.variants if v.value == value), None)
    return repr(name) if name else json.dumps(decoded(value))


def _stage_name(spec: FlagSpec, stage: int, shares: Sequence[float] = ()) -> str:
    if stage == 0:
        return "stage 0 (not started)"
    st = spec.rollout.stages[stage - 1]
    share = f", ~{shares[stage - 1]:.0%} of traffic" if st.HasField("scope") and len(shares) >= stage else ""
    return f"stage {stage} ({st.name or f'{st.percent:g}%'}{share})"


class SkippedStage(ChangeValidator):
    """A rollout that skips stages: more exposure in one pull request than the next stage.

    **What it catches**: a change whose rollout exposure passes over a stage
    of the plan: a stage (its percentage of the traffic inside its scope)
    whose exposure lies strictly between the old current stage's and the
    new one's, in the new plan or, when the ramp template changed, in the
    old one. It is judged by exposure, not by stage number: switching the
    template (`cautious` → `standard`) with the number kept, or raising a
    stage's percentage, is a skip when it passes over a stage; moving the
    stage of a switched-off flag is judged at the stage it will resume at.
    A new flag starts from stage 0, and a release flag whose `default`
    serves it to everyone (a new one created on, or one flipped on
    mid-ramp) skips what is left of the ramp. The skip label
    (`safeflags/skip-stage` by default) lets the change through when
    someone other than the author applied it.

    **Why**: each stage exists to be watched before the next; skipping one
    multiplies the exposure of an unobserved change.

    **How to fix**: move one stage per pull request (a new release flag
    starts off, `default: false`, and ramps; to change the template, keep
    the exposure, e.g. `cautious` stage 3 (5 %) → `standard` stage 2), or
    have a reviewer add the label when skipping is a reviewed decision
    (e.g. an urgent fix already proven).

    **Example**: `sf.ramps.standard(unit='workspace_id', stage=2)` → `stage=4`;
    or `sf.ramps.cautious(unit='user_id', stage=3)` (5 %) →
    `sf.ramps.standard(unit='user_id', stage=3)` (25 %), passing over 10 %.
    """

    code = "SF301"
    name = "skipped-stage"

    class Options(_Options):
        label: str = "safeflags/skip-stage"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if after is None or after.kind == common_pb2.FLAG_KIND_OPERATIONAL:
            return
        baseline = before.default if before is not None else starting_value(after)
        # A release-like flag whose default moved off the baseline serves it to everyone the rules leave.
        everyone = after.kind in RELEASE_LIKE and _raw(after.default) != _raw(baseline)
        plan = stage_shares(after, ctx.head.flag_facts(change.key).lowered, ctx.head.config.dimensions) \
            if after.HasField("rollout") else []
        # Switched off or not: the stage is where the flag resumes, so moving it while off is judged too.
        new = 1.0 if everyone else _ramp_level(after, plan)
        old, was = 0.0, []
        if before is not None and before.HasField("rollout") and ctx.base is not None:
            was = stage_shares(before, ctx.base.flag_facts(change.key).lowered, ctx.base.config.dimensions)
            old = _ramp_level(before, was)
        skipped = [_stage_name(after, i + 1, plan) for i, share in enumerate(plan) if old + EPS < share < new - EPS]
        if before is not None and was and before.rollout.template != after.rollout.template:
            # A plan switched mid-ramp: the old plan's next checkpoints were due too, unless the new plan has them.
            skipped += [f"{_stage_name(before, i + 1, was)} of {before.rollout.template}"
                        for i, share in enumerate(was)
                        if old + EPS < share < new - EPS and not any(abs(share - x) < EPS for x in plan)]
        created_on = everyone and before is None and not plan
        if not skipped and not created_on:
            return
        label: str = self.options.label  # type: ignore[attr-defined]
        if ctx.approvals.label([label], anyone=True) is not None:
            return
        why = ctx.approvals.why_not([label])
        why = f" ({why})" if why else ""
        ro = after.rollout
        where: list[Position]
        if everyone:
            to = f"everyone (its default {_shown(after, after.default)})"
            where = [ctx.field(after, "default"), ctx.field(after, "stage"), int(ro.location.line)]
        else:
            to = _stage_name(after, ro.stage, plan)
            where = [ctx.field(after, "stage", "rollout"), int(ro.location.line)]
        if created_on:
            yield self.at(
                after, f"a new {_kind(after)} flag is created on for {to}, with no ramp",
                in_flag(ctx, after, *where),
                hint=f"create it off and ramp it (e.g. sf.ramps.standard), or have a reviewer apply the label {label!r}"
                + why,
            )
            return
        start = "stage 0 (not started)"
        if before is not None and was:
            start = _stage_name(before, before.rollout.stage, was)
        if before is not None and was and before.rollout.template != ro.template:
            start += f" of {before.rollout.template}"
            to += "" if everyone else f" of {ro.template}"
        subject = "the rollout moves" if before is not None else "the new flag goes"
        yield self.at(
            after, f"{subject} from {start} to {to} in one change, skipping {', '.join(skipped)}",
            in_flag(ctx, after, *where), hint=f"move one stage per pull request, or have a reviewer apply the label "
            f"{label!r}" + why,
        )


def _kind(spec: FlagSpec) -> str:
    return common_pb2.FlagKind.Name(spec.kind).removeprefix("FLAG_KIND_").lower().replace("unspecified", "release")


class BlastRadius(ChangeValidator):
    """Blast radius over the threshold without approval.

    **What it catches**: a change to a release-like flag (kind release,
    experiment, or none given) that newly exposes more than `max_percent`
    of traffic (estimated from the before/after trees over the static
    scopes and bucket ranges, with the catalog's traffic weights; a new
    flag starts from off), unless an approver approved it: a submitted
    approving review on the head commit, or one of `approval_labels`
    applied, by someone other than the author who is in
    `approval_reviewers` or a member of a group of `approval_teams` (an
    approver group of `validation.approvers`, else a team of the
    repository's organisation); with neither list, anyone but the author.
    A requested review never counts.

    Config flags (bounds and step size, SF107/SF313) and migrations
    (SF304) are judged by their own rules; kill switches (kind
    operational) and a change that only switches a flag off are never
    blocked: killing a feature must not wait.

    **Why**: the size of a mistake is the traffic it reaches; big steps
    deserve a second pair of eyes from the people who carry the pager.

    **How to fix**: take a smaller step, or get the approval the settings
    name (`validation.rules.SF302` in safeflags.yaml).

    **Example**: moving a region-wave rollout to the wave that adds Europe
    and Asia-Pacific newly exposes ~21 % of traffic.
    """

    code = "SF302"
    name = "blast-radius"

    class Options(_Options):
        max_percent: float = Field(default=25.0, ge=0, le=100)
        approval_labels: list[str] = Field(default_factory=lambda: ["safeflags/approved-blast-radius"])
        approval_teams: list[str] = Field(default_factory=list)  # approver groups, else org teams
        approval_reviewers: list[str] = Field(default_factory=list)

    def approved(self, ctx: Context) -> bool:
        o = self.options
        return ctx.approvals.granted(o.approval_labels, o.approval_teams,  # type: ignore[attr-defined]
                                     o.approval_reviewers) is not None  # type: ignore[attr-defined]

    def approval_hint(self, ctx: Context) -> str:
        """What would approve the change, in words, and why nothing did."""
        o = self.options
        labels: list[str] = o.approval_labels  # type: ignore[attr-defined]
        who = [f"a member of {t!r}" for t in o.approval_teams] + list(o.approval_reviewers)  # type: ignore[attr-defined]
        by = " or ".join(who) if who else "someone other than the author"
        ways = [f"an approving review by {by} on the head commit"]
        if labels:
            ways.append(f"the label {' or '.join(repr(x) for x in labels)} applied by {by}")
        why = ctx.approvals.why_not(labels)
        return "take a smaller step, or get approval: " + ", or ".join(ways) + (f" ({why})" if why else "")

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if after is None or after.kind not in RELEASE_LIKE:
            return
        if before is not None and not after.enabled and after.default == before.default:
            return  # only switched off: it serves its unchanged default to everyone, never blocked
        exp = ctx.exposure(change)
        limit = self.options.max_percent  # type: ignore[attr-defined]
        if exp.newly * 100 <= limit + 1e-9 or self.approved(ctx):
            return
        widest = sorted((s for s in exp.scopes[1:] if s.newly > 0), key=lambda s: -s.newly)[:3]
        where = "; ".join(f"{s.label}: {s.before:.0%} → {s.after:.0%}" for s in widest)
        yield self.at(
            after, f"newly exposes ~{exp.newly:.1%} of traffic ({exp.before:.1%} → {exp.after:.1%} exposed), "
            f"over the {limit:g}% threshold" + (f" [{where}]" if where else ""),
            in_flag(ctx, after, *exposure_candidates(change, ctx)), hint=self.approval_hint(ctx),
        )

class KillSwitch(FlagValidator):
    """A kill switch that is not a plain bool or sits under a percentage.

    **What it catches**: an operational flag (kind `operational`, as made by
    `sf.killSwitch`) that is not of type bool, has a rollout below 100 %,
    serves a split or a percentage condition, or depends on a prerequisite.

    **Why**: in an incident a kill switch must act on every request at
    once, from one edit; a percentage or a prerequisite leaves part of the
    traffic on the failing path.

    **How to fix**: keep kill switches plain bools with targeting by static
    scope only (a region, a service); use a release flag for ramps.

    **Example**: `sf.killSwitch { rollout: sf.ramps.standard(...) }`.
    """

    code = "SF305"
    name = "kill-switch"

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        if flag.kind != common_pb2.FLAG_KIND_OPERATIONAL:
            return
        if flag.type != common_pb2.FLAG_TYPE_BOOL:
            yield self.at(flag, "a kill switch must be a plain bool flag", ctx.field(flag, "type"))
        if flag.HasField("rollout") and any(st.percent < 100 for st in flag.rollout.stages):
            yield self.at(flag, "a kill switch must not be under a percentage rollout", int(flag.rollout.location.line))
        for i, o in enumerate(flag.overrides):
            if o.serve.WhichOneof("kind") == "split" or _has_percent(o.when):
                yield self.at(flag, f"override {i + 1} of a kill switch splits traffic by percentage",
                              int(o.location.line))
        for p in flag.prerequisites:
            yield self.at(flag, f"a kill switch must not depend on {p.flag!r}: it would not act while that flag is off",
                          int(p.location.line))


def _has_percent(c: spec_pb2.Condition) -> bool:
    return c.op == C.OP_PERCENT or any(_has_percent(x) for x in c.of)

