"""SF301-SF305: rollout safety of a change — how far and how fast a pull
request moves a flag, and whether the flag's shape suits its kind."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safeflags.compile.config import yaml_position
from safeflags.sdk.kernel import semver
from safeflags.source.errors import ConfigError, SourceError
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation.api import (
    Change,
    ChangeValidator,
    Context,
    FlagSpec,
    FlagValidator,
)
from safeflags.validation.finding import Finding

C = spec_pb2.Condition


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def stage_of(spec: FlagSpec | None) -> int:
    """The rollout's current stage, 0 without one. Whether the flag is switched
    on is a separate question: re-enabling resumes at the kept stage, which is
    not a skip (SF302 weighs the exposure it brings)."""
    return int(spec.rollout.stage) if spec is not None and spec.HasField("rollout") else 0


def exposure_line(change: Change, ctx: Context) -> int | tuple[int, int]:
    """The line of what a change did to widen exposure: the stage, the
    on/off switch, the default, the first changed override."""
    after, before = change.after, change.before
    assert after is not None
    if before is None:
        return int(after.location.line)
    if stage_of(before) != stage_of(after) and after.HasField("rollout"):
        return ctx.field(after, "stage", "rollout")
    if before.enabled != after.enabled:
        return ctx.field(after, "enabled")
    if before.default != after.default:
        return ctx.field(after, "default", "state")
    for i, o in enumerate(after.overrides):
        if i >= len(before.overrides) or before.overrides[i].when != o.when or before.overrides[i].serve != o.serve:
            return int(o.location.line)
    if after.HasField("rollout"):
        return int(after.rollout.location.line)
    return int(after.location.line)


def _stage_name(spec: FlagSpec, stage: int) -> str:
    if stage == 0:
        return "stage 0 (not started)"
    st = spec.rollout.stages[stage - 1]
    return f"stage {stage} ({st.name or f'{st.percent:g}%'})"


class SkippedStage(ChangeValidator):
    """A rollout that skips stages: more than one stage in one pull request.

    **What it catches**: a change of `stage` by more than one step forward
    (a new flag counts from stage 0), unless the pull request carries the
    skip label (`safeflags/skip-stage` by default).

    **Why**: each stage exists to be watched before the next; skipping one
    multiplies the exposure of an unobserved change.

    **How to fix**: move one stage per pull request, or add the label when
    skipping is a reviewed decision (e.g. an urgent fix already proven).

    **Example**: `sf.ramps.standard(unit='workspace_id', stage=2)` → `stage=4`.
    """

    code = "SF301"
    name = "skipped-stage"

    class Options(_Options):
        label: str = "safeflags/skip-stage"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        after = change.after
        if after is None or not after.HasField("rollout") or not after.enabled:
            return
        before = change.before
        start = stage_of(before)
        if start and before is not None and list(before.rollout.stages) != list(after.rollout.stages):
            # A re-planned ramp: find where the old current stage sits in the new plan.
            old = before.rollout.stages[start - 1]
            stages = enumerate(after.rollout.stages)
            start = next((i + 1 for i, st in stages if st.percent == old.percent and st.scope == old.scope), start)
        if after.rollout.stage - start <= 1 or self.options.label in ctx.pull_request.labels:  # type: ignore[attr-defined]
            return
        skipped = ", ".join(_stage_name(after, s) for s in range(start + 1, after.rollout.stage))
        yield self.at(
            after, f"the rollout moves from {_stage_name(after, start)} to {_stage_name(after, after.rollout.stage)} "
            f"in one change, skipping {skipped}", ctx.field(after, "stage", "rollout"),
            hint=f"move one stage per pull request, or add the label {self.options.label!r}",  # type: ignore[attr-defined]
        )


class BlastRadius(ChangeValidator):
    """Blast radius over the threshold without approval.

    **What it catches**: a change that newly exposes more than `max_percent`
    of traffic (estimated from the before/after trees over the static
    scopes and bucket ranges, with the catalog's traffic weights), unless
    the pull request has an approval label, or an approving reviewer or a
    requested reviewer team from the configured lists. Kill switches
    (kind operational) are exempt: killing a feature must not wait.

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
        approval_teams: list[str] = Field(default_factory=list)
        approval_reviewers: list[str] = Field(default_factory=list)

    def approved(self, ctx: Context) -> bool:
        o = self.options
        return ctx.approvals.granted(o.approval_labels, o.approval_teams,  # type: ignore[attr-defined]
                                     o.approval_reviewers) is not None  # type: ignore[attr-defined]

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        after = change.after
        if after is None or after.kind == common_pb2.FLAG_KIND_OPERATIONAL:
            return
        exp = ctx.exposure(change)
        limit = self.options.max_percent  # type: ignore[attr-defined]
        if exp.newly * 100 <= limit + 1e-9 or self.approved(ctx):
            return
        widest = sorted((s for s in exp.scopes[1:] if s.newly > 0), key=lambda s: -s.newly)[:3]
        where = "; ".join(f"{s.label}: {s.before:.0%} → {s.after:.0%}" for s in widest)
        need = " or ".join([f"label {x!r}" for x in self.options.approval_labels]  # type: ignore[attr-defined]
                           + [f"review by team {x!r}" for x in self.options.approval_teams])  # type: ignore[attr-defined]
        yield self.at(
            after, f"newly exposes ~{exp.newly:.1%} of traffic ({exp.before:.1%} → {exp.after:.1%} exposed), over the "
            f"{limit:g}% threshold" + (f" [{where}]" if where else ""), exposure_line(change, ctx),
            hint=f"take a smaller step, or get approval: {need or 'see validation.rules.SF302'}",
        )


class _Deployment(_Options):
    where: dict[str, str | list[str]] = Field(default_factory=dict)
    version: str


class Inventory(_Options):
    services: dict[str, list[_Deployment]]


def load_inventory(root: Path, rel: str) -> Inventory:
    path = root / rel
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        return Inventory.model_validate(data)
    except OSError as exc:
        raise ConfigError([SourceError(rel, 0, 0, f"cannot read the deployment inventory: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([SourceError(rel, 0, 0, f"invalid YAML: {exc}")]) from None
    except ValidationError as exc:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            line, col = yaml_position(node, loc)
            errors.append(SourceError(rel, line, col, err["msg"], stage="config", field_path=".".join(loc)))
        raise ConfigError(errors) from None


class VersionNotDeployed(ChangeValidator):
    """A flag enabled where the service version it requires is not deployed.

    **What it catches**: a change that newly exposes traffic in a scope (an
    entry of the deployment inventory named by `inventory`) where the
    service of a `requires` entry runs a version below `min_version`.

    **Why**: there the SDK serves the default until the version ships, so
    the stage reviewed today takes effect on some later deploy, unreviewed
    and unwatched — or the code is not there at all.

    **How to fix**: ship the version first, or leave those scopes out.

    **Example**: ramping `billing.new_invoice_path` (requires billing
    2.14.0) while prod runs billing 2.13.4.
    """

    code = "SF303"
    name = "version-not-deployed"

    class Options(_Options):
        inventory: str | None = None  # YAML file, relative to the repository root

    def check(self, ctx: Context) -> Iterator[Finding]:
        rel = self.options.inventory  # type: ignore[attr-defined]
        if not rel:
            return
        judge = ctx.base if ctx.base is not None else ctx.head
        inventory = load_inventory(judge.config.root, rel)
        for change in ctx.changes:
            yield from self._change(change, ctx, inventory)

    def _change(self, change: Change, ctx: Context, inventory: Inventory) -> Iterator[Finding]:
        after = change.after
        if after is None or not after.enabled or not after.requires:
            return
        for req in after.requires:
            for dep in inventory.services.get(req.service, []):
                have, need = semver.parse(dep.version), semver.parse(req.min_version)
                if have is None or need is None or have >= need:
                    continue
                where = {k: frozenset([v] if isinstance(v, str) else v) for k, v in dep.where.items()}
                share = ctx.exposure(change).newly_where(where)
                if share <= 0:
                    continue
                scope = ", ".join(f"{k}={v if isinstance(v, str) else '|'.join(v)}"
                                  for k, v in sorted(dep.where.items())) or "everywhere"
                yield self.at(
                    after, f"newly enables ~{share:.0%} of {scope}, where {req.service} {dep.version} is deployed but "
                    f"the flag requires {req.min_version}", exposure_line(change, ctx),
                    hint=f"deploy {req.service} {req.min_version} there first, or keep the rollout out of that scope",
                )


class MigrationJump(ChangeValidator):
    """A migration flag moving more than one state at a time.

    **What it catches**: a migration flag (variants are its ordered states,
    e.g. A → AB → BA → B) whose current state moves by more than one step,
    forward or back, in one change.

    **Why**: each intermediate state keeps both systems consistent (dual
    writes before switching reads); jumping from A to BA reads from a
    system that was never written.

    **How to fix**: advance one state per pull request, after the checks
    for the current state are green.

    **Example**: `sf.migration(states=['A', 'AB', 'BA', 'B'], state='A')` → `state='BA'`.
    """

    code = "SF304"
    name = "migration-jump"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if before is None or after is None or after.kind != common_pb2.FLAG_KIND_MIGRATION:
            return
        states = [v.name for v in after.variants]
        old, new = _state(before), _state(after)
        if old is None or new is None or old not in states or new not in states:
            return
        step = states.index(new) - states.index(old)
        if abs(step) > 1:
            lo, hi = sorted((states.index(old), states.index(new)))
            path = " → ".join(states[lo:hi + 1])
            yield self.at(after, f"the migration moves from {old} to {new} in one change ({abs(step)} states: {path})",
                          ctx.field(after, "state", "default"), hint="move one state per pull request")


def _state(spec: FlagSpec) -> str | None:
    return next((v.name for v in spec.variants if v.value == spec.default), None)


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

