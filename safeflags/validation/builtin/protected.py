"""SF311: protected scopes — static scopes where any change of what is
served needs the approval of the people `safeflags.yaml` names."""
from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safeflags.compile.config import DimensionConfig
from safeflags.compile.driver import CompileResult
from safeflags.compile.suggest import did_you_mean
from safeflags.sdk.render import render_value
from safeflags.sdk.values import raw
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation.api import Change, Context, Validator
from safeflags.validation.exposure import Exposure
from safeflags.validation.finding import Finding
from safeflags.validation.settings import SettingsErrors

C = spec_pb2.Condition


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScopeApprovers(_Options):
    groups: list[str] = Field(default_factory=list)  # `validation.approvers` names, else the org's teams
    users: list[str] = Field(default_factory=list)


class ProtectedScope(_Options):
    name: str = Field(min_length=1)
    # Static enum dimension -> the values the scope covers (all of them: a
    # scope on region and environment is those regions in those environments).
    where: dict[str, list[str]] = Field(min_length=1)
    reason: str = Field(min_length=1)
    approvers: ScopeApprovers
    labels: list[str] = Field(default_factory=list)  # count when applied by one of the approvers
    # Which flags the scope holds to: keys matching a glob, or carrying a tag
    # before or after the change; every flag when both are empty.
    flags: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    def covers(self, change: Change) -> bool:
        if not self.flags and not self.tags:
            return True
        if any(fnmatch.fnmatchcase(change.key, pattern) for pattern in self.flags):
            return True
        return any(spec is not None and set(spec.tags) & set(self.tags) for spec in (change.before, change.after))

    @field_validator("where", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _named(self) -> ProtectedScope:
        if not self.approvers.groups and not self.approvers.users:
            raise ValueError(f"scope {self.name!r} names no approvers: give approvers.groups or approvers.users")
        if any(not values for values in self.where.values()):
            raise ValueError(f"scope {self.name!r}: each dimension in 'where' needs at least one value")
        return self


def _pct(share: float) -> str:
    return f"{share * 100:.3g}%"


def _value(data: bytes | None) -> str:
    if data is None:
        return "the code default"
    text = render_value(raw(common_pb2.Value.FromString(data)))
    return text if len(text) <= 40 else text[:37] + "..."


def can_match(c: spec_pb2.Condition, where: Mapping[str, frozenset[str]]) -> bool:
    """Whether `c` may hold for some traffic inside `where` (True when unsure)."""
    if c.op == C.OP_NEVER:
        return False
    if c.op in (C.OP_IN, C.OP_NOT_IN) and c.dim in where:
        listed = {str(raw(v)) for v in c.values}
        return bool(where[c.dim] & listed) if c.op == C.OP_IN else bool(where[c.dim] - listed)
    if c.op == C.OP_ALL:
        return all(can_match(x, where) for x in c.of)
    if c.op == C.OP_ANY:
        return any(can_match(x, where) for x in c.of)
    return True


def _key(o: spec_pb2.Override) -> bytes:
    return o.when.SerializeToString(deterministic=True) + b"\0" + o.serve.SerializeToString(deterministic=True)


def _variants(spec: spec_pb2.FlagSpec) -> list[tuple[str, bytes]]:
    return [(v.name, v.value.SerializeToString(deterministic=True)) for v in spec.variants]


def _plan(spec: spec_pb2.FlagSpec) -> tuple[object, ...]:
    """The rollout as it serves: not where it is written."""
    r = spec.rollout
    stages = tuple((st.percent, st.scope.SerializeToString(deterministic=True)) for st in r.stages)
    return spec.HasField("rollout"), r.stage, r.unit, r.salt, r.serve.SerializeToString(deterministic=True), stages


def changed_at(change: Change, ctx: Context, where: Mapping[str, frozenset[str]]) -> int | tuple[int, int]:
    """Where in the head the change to `where`'s traffic is written: an
    override added or edited that can match there, the `overrides` field
    for one removed, the type, the switch, the default, the states, the
    rollout; the flag's line when nothing more precise is found."""
    before, after = change.before, change.after
    if after is None:
        return 0  # a removed flag: its line in the base
    old = [] if before is None else list(before.overrides)
    old_keys, new_keys = [_key(o) for o in old], [_key(o) for o in after.overrides]
    added = [o for o, k in zip(after.overrides, new_keys, strict=True) if k not in old_keys]
    removed = [o for o, k in zip(old, old_keys, strict=True) if k not in new_keys]

    def at_override(o: spec_pb2.Override) -> int | tuple[int, int]:
        same_file = not o.location.file or o.location.file == after.location.file
        if o.location.line and same_file:
            return int(o.location.line), int(o.location.column)
        return ctx.field(after, "overrides")

    for o in added:
        if can_match(o.when, where):
            return at_override(o)
    if any(can_match(o.when, where) for o in removed):
        return ctx.field(after, "overrides")
    if before is None:
        return int(after.rollout.location.line) if after.HasField("rollout") else ctx.field(after, "default", "state")
    for differs, names in (
        (before.type != after.type, ("type",)),
        (before.enabled != after.enabled, ("enabled",)),
        (before.default != after.default, ("default", "state")),
        (_variants(before) != _variants(after), ("variants", "states")),
    ):
        if differs:
            return ctx.field(after, *names)
    if _plan(before) != _plan(after) and after.HasField("rollout"):
        if before.rollout.stage != after.rollout.stage:
            return ctx.field(after, "stage", "rollout")
        return int(after.rollout.location.line)
    if added:
        return at_override(added[0])
    if removed or old_keys != new_keys:
        return ctx.field(after, "overrides")
    if list(before.prerequisites) != list(after.prerequisites):
        return ctx.field(after, "prerequisites")
    return 0


def _switched_off(change: Change) -> bool:
    """The change only turns the flag off: it then serves the default it had."""
    before, after = change.before, change.after
    return (before is not None and after is not None and before.enabled and not after.enabled
            and before.default == after.default and before.type == after.type)


class ProtectedScopes(Validator):
    """A change of what is served inside a protected scope, without its approvers.

    **What it catches**: a pull request that changes the value served to
    any traffic inside a scope declared in `validation.rules.SF311.scopes`
    (static dimensions and values, e.g. `region: [us-gov-west-1]`),
    however small the share, unless one of the scope's approvers approved
    the pull request's head (or applied one of the scope's labels). Added,
    removed and edited flags, overrides, defaults, types and rollouts all
    count; moving lines or editing comments does not. Switching a flag off
    (`enabled: false`) and kill switches are never blocked. A scope holds
    every flag, or with `flags` (key globs) and `tags` only the flags that
    match one or carry one before or after the change (so dropping the tag
    in the same pull request does not slip past).

    **Why**: some traffic carries obligations that a share cannot weigh: a
    compliance boundary (FedRAMP, data residency), a customer's contract.
    There the one override that keeps traffic on another vendor is the
    change that must never pass unreviewed, and it is usually a small
    share, under every blast-radius threshold.

    **How to fix**: get an approving review on the head from the scope's
    approvers, or leave the scope's traffic as it is (an override that
    keeps its value).

    **Example**: `safeflags.yaml`:
    `SF311: {scopes: [{name: fedramp, where: {region: [us-gov-west-1]}, reason: "FedRAMP boundary",
    approvers: {groups: [team-security]}, tags: [compliance]}]}`; a pull
    request that removes the override serving `fedpay` in us-gov-west-1
    fails until a member of team-security approves it.
    """

    code = "SF311"
    name = "protected-scope"

    class Options(_Options):
        scopes: list[ProtectedScope] = Field(default_factory=list)

        @model_validator(mode="after")
        def _unique(self) -> ProtectedScopes.Options:
            names = [s.name for s in self.scopes]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"scope names must be unique: {', '.join(dup)}")
            return self

    def check(self, ctx: Context) -> Iterator[Finding]:
        scopes: list[ProtectedScope] = self.options.scopes  # type: ignore[attr-defined]
        judge = ctx.base if ctx.base is not None else ctx.head
        self.check_catalog(judge, scopes)
        for change in ctx.changes:
            after = change.after
            if _switched_off(change) or any(
                s is not None and s.kind == common_pb2.FLAG_KIND_OPERATIONAL for s in (change.before, after)
            ):
                continue
            for scope in scopes:
                if scope.covers(change):
                    yield from self._scope(change, ctx, scope)

    def check_catalog(self, judge: CompileResult, scopes: Sequence[ProtectedScope]) -> None:
        """Each scope names static enum dimensions of the judging catalog and
        values they have; located errors in safeflags.yaml otherwise."""
        catalog: Mapping[str, DimensionConfig] = judge.config.dimensions
        usable = sorted(d for d, conf in catalog.items() if conf.static and conf.type == "enum")
        errors = SettingsErrors(judge.config)
        for i, scope in enumerate(scopes):
            for dim, values in scope.where.items():
                loc = ["rules", self.code, "scopes", str(i), "where", dim]
                conf = catalog.get(dim)
                if conf is None or not (conf.static and conf.type == "enum"):
                    near = did_you_mean(dim, usable)
                    what = "no dimension" if conf is None else (
                        "a runtime dimension" if not conf.static else f"a static {conf.type} dimension")
                    errors.add(loc, f"scope {scope.name!r}: {dim!r} is {what}; a protected scope is written on static "
                               f"enum dimensions ({', '.join(usable) or 'the catalog has none'})",
                               f"did you mean {near!r}?" if near else None)
                    continue
                for j, value in enumerate(values):
                    if value not in conf.values:
                        near = did_you_mean(value, conf.values)
                        errors.add([*loc, str(j)], f"scope {scope.name!r}: {value!r} is not a value of {dim!r}",
                                   f"did you mean {near!r}?" if near else None)
        errors.raise_if_any()

    def _scope(self, change: Change, ctx: Context, scope: ProtectedScope) -> Iterator[Finding]:
        where = {dim: frozenset(values) for dim, values in scope.where.items()}
        exp = ctx.exposure(change)
        share = exp.share_where(where, "changed")
        if share <= 0:
            return
        who = scope.approvers
        granted = ctx.approvals.granted(scope.labels, who.groups, who.users)
        if granted is not None:
            return
        label = "; ".join(f"{dim}: {', '.join(values)}" for dim, values in scope.where.items())
        need = " or ".join([f"a member of {g}" for g in who.groups] + list(who.users))
        labels = " or ".join(repr(x) for x in scope.labels)
        why = ctx.approvals.why_not(scope.labels, who.groups, who.users)
        yield self.at(
            change.spec, f"changes what is served to ~{_pct(share)} of the protected scope {scope.name!r} ({label}"
            f"{_moves(exp, where)}): {scope.reason}", changed_at(change, ctx, where),
            hint=f"needs an approving review on the head by {need}" + (f", or the label {labels} applied by one "
            "of them" if labels else "") + (f" ({why})" if why else ""),
        )


def _moves(exp: Exposure, where: Mapping[str, frozenset[str]]) -> str:
    """", stripe → fedpay": the move of value that most of the scope's changed traffic makes."""
    pairs = {(p.before, p.after) for p in exp.points if p.changed}
    if not pairs:
        return ""

    def share(pair: tuple[bytes | None, bytes | None]) -> float:
        only = tuple(p if (p.before, p.after) == pair else replace(p, changed=False) for p in exp.points)
        return replace(exp, points=only).share_where(where, "changed")

    before, after = max(sorted(pairs, key=repr), key=share)
    return f", {_value(before)} → {_value(after)}"
