"""SF309: a rollout or split re-randomised while it is partway.

Which units a bucket holds depends on the salt, the unit and, for a split,
the order of its arms. Change any of them while a rollout stage or a split
sits strictly between 0 and 100 % and a different set of units is exposed:
units flip both ways at once. The share reported is what the bucketing
change alone causes: the head as written against the head with the base's
bucketing restored, so a stage moved in the same change is not counted.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from safeflags.v1 import spec_pb2
from safeflags.validation.api import Change, ChangeValidator, Context, FlagSpec
from safeflags.validation.builtin.edits import Position, in_flag
from safeflags.validation.changes import without_locations
from safeflags.validation.exposure import estimate
from safeflags.validation.finding import Finding

C = spec_pb2.Condition
HINT = "keep the salt (and unit); to re-randomise, ramp down to 0 first"


@dataclass(frozen=True)
class _Rebucketed:
    what: str  # "the rollout", "override 2's split", ...
    changes: tuple[str, ...]  # "salt 'a' → 'b'", "unit workspace_id → user_id", "arm order ..."
    restored: FlagSpec  # the head with this element's base bucketing
    where: tuple[Position, ...]
    partway: bool  # the head still splits the element's units (a switching share even if the estimate sees none)


def _salt(salt: str, key: str) -> str:
    return salt or key  # the compiler's default


def _shape(o: spec_pb2.Override) -> bytes:
    """An override with its bucketing (salts, units, percentages, arm order and
    weights), locations and description left out: what pairs a head rule with
    its base."""
    out = without_locations(o)
    out.ClearField("description")
    stack = [out.when]
    while stack:
        c = stack.pop()
        if c.op == C.OP_PERCENT:
            c.ClearField("salt")
            c.ClearField("dim")
            c.ClearField("percent")
        stack.extend(c.of)
    if out.serve.WhichOneof("kind") == "split":
        split = out.serve.split
        names = sorted(a.variant for a in split.arms)
        split.Clear()
        split.arms.extend(spec_pb2.SplitArm(variant=n) for n in names)
    return out.SerializeToString(deterministic=True)


def _partway_split(split: spec_pb2.Split) -> bool:
    return sum(1 for a in split.arms if a.weight > 0) > 1


def _split_changes(old: spec_pb2.Split, new: spec_pb2.Split, key: str, out: spec_pb2.Split) -> list[str]:
    """What re-buckets `new` against `old`; `out` (a copy of `new`) gets the base's bucketing."""
    found = []
    if _salt(old.salt, key) != _salt(new.salt, key):
        found.append(f"salt {_salt(old.salt, key)!r} → {_salt(new.salt, key)!r}")
        out.salt = old.salt
    if old.unit != new.unit:
        found.append(f"unit {old.unit} → {new.unit}")
        out.unit = old.unit
    rank = {a.variant: i for i, a in enumerate(old.arms)}
    arms = sorted(new.arms, key=lambda a: rank.get(a.variant, len(rank)))
    if [a.variant for a in arms] != [a.variant for a in new.arms]:
        found.append(f"arm order {', '.join(a.variant for a in old.arms)} → {', '.join(a.variant for a in new.arms)}")
        del out.arms[:]
        out.arms.extend(spec_pb2.SplitArm(variant=a.variant, weight=a.weight) for a in arms)
    return found


def _percent_changes(old: spec_pb2.Condition, new: spec_pb2.Condition, key: str, out: spec_pb2.Condition) -> list[str]:
    """The same walk over a condition's percentage leaves (same shape on both sides)."""
    found = []
    if new.op == C.OP_PERCENT and 0 < old.percent < 100 and 0 < new.percent < 100:
        if _salt(old.salt, key) != _salt(new.salt, key):
            found.append(f"salt {_salt(old.salt, key)!r} → {_salt(new.salt, key)!r}")
            out.salt = old.salt
        if old.dim != new.dim:
            found.append(f"unit {old.dim} → {new.dim}")
            out.dim = old.dim
    for a, b, o in zip(old.of, new.of, out.of, strict=False):
        found += _percent_changes(a, b, key, o)
    return found


def _overrides(before: FlagSpec, after: FlagSpec, ctx: Context) -> Iterator[_Rebucketed]:
    unpaired = list(range(len(before.overrides)))
    for i, o in enumerate(after.overrides):
        shape = _shape(o)
        j = next((j for j in unpaired if _shape(before.overrides[j]) == shape), None)
        if j is None:
            continue
        unpaired.remove(j)
        old = before.overrides[j]
        restored = FlagSpec()
        restored.CopyFrom(after)
        target = restored.overrides[i]
        found = _percent_changes(old.when, o.when, after.key, target.when)
        if o.serve.WhichOneof("kind") == "split" and _partway_split(old.serve.split):
            found += _split_changes(old.serve.split, o.serve.split, after.key, target.serve.split)
        if found:
            salt = o.serve.split.salt if o.serve.WhichOneof("kind") == "split" else ""
            where = ([ctx.literal(after, salt)] if salt else []) + [int(o.location.line)]
            split = o.serve.WhichOneof("kind") != "split" or _partway_split(o.serve.split)
            yield _Rebucketed(f"override {i + 1}", tuple(found), restored, tuple(where), after.enabled and split)


def _rollout(before: FlagSpec, after: FlagSpec, ctx: Context) -> Iterator[_Rebucketed]:
    old, new = before.rollout, after.rollout
    if not (before.HasField("rollout") and after.HasField("rollout")) or not 0 < old.stage <= len(old.stages):
        return
    if not 0 < old.stages[old.stage - 1].percent < 100:
        return  # nobody or everybody in the base: no unit is in a bucket that matters
    restored = FlagSpec()
    restored.CopyFrom(after)
    found, where = [], []
    if _salt(old.salt, before.key) != _salt(new.salt, after.key):
        found.append(f"salt {_salt(old.salt, before.key)!r} → {_salt(new.salt, after.key)!r}")
        restored.rollout.salt = old.salt
        where += ([ctx.literal(after, new.salt)] if new.salt else []) + [ctx.field(after, "salt")]
    if old.unit != new.unit:
        found.append(f"unit {old.unit} → {new.unit}")
        restored.rollout.unit = old.unit
        where += [ctx.literal(after, new.unit), ctx.field(after, "unit")]
    if found:
        stage = old.stages[old.stage - 1]
        name = stage.name or f"{stage.percent:g}%"
        partway = after.enabled and 0 < new.stage <= len(new.stages) and 0 < new.stages[new.stage - 1].percent < 100
        yield _Rebucketed(f"the rollout (at stage {old.stage}, {name}, in the base)", tuple(found), restored,
                          (*where, int(new.location.line)), partway)


class Rebucketing(ChangeValidator):
    """A rollout or split re-randomised while partway.

    **What it catches**: a change of the salt or the bucketing unit of a
    rollout whose current stage is strictly between 0 and 100 % in the
    base, or of the salt, unit or arm order of an override's split (an
    experiment) that divides traffic between two or more arms, or of the
    salt or unit of a percentage condition strictly between 0 and 100 %.
    It reports the share of traffic whose value switches because of the
    re-bucketing alone. A flag switched off in the base serves nobody, so
    re-salting it is routine, as is a salt change at 0 % or 100 %.

    **Why**: a bucket is a hash of the salt and the unit. A new salt picks
    a different set of units: at 10 %, about 9 % of units lose the feature
    and as many gain it at once, and an experiment's arms are reshuffled
    mid-run, mixing its populations.

    **How to fix**: keep the salt (and unit). To re-randomise on purpose,
    ramp down to 0 first (or switch the flag off), then change the salt
    and ramp up again.

    **Example**: `sf.ramps.standard(unit='workspace_id', stage=3)` →
    `sf.ramps.standard(unit='workspace_id', stage=3, salt='invoices-v2')`.
    """

    code = "SF309"
    name = "rebucketing"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if before is None or after is None or not before.enabled:
            return
        for found in (*_rollout(before, after, ctx), *_overrides(before, after, ctx)):
            share = self._switching(change, found.restored, ctx)
            if share <= 0 and not found.partway:
                continue
            # Rules aimed at named values (a country list, an allow list) carry no weight in the estimate.
            size = f"~{share:.1%} of traffic switches value" if share > 0 else \
                "part of the units it reaches switch value (the estimate cannot tell how many: it names its audience)"
            yield self.at(after, f"{found.what} is re-bucketed ({'; '.join(found.changes)}): {size}",
                          in_flag(ctx, after, *found.where), hint=HINT)

    @staticmethod
    def _switching(change: Change, restored: FlagSpec, ctx: Context) -> float:
        """The share whose served value differs between the head and the head
        with the base's bucketing."""
        dims = ctx.head.config.dimensions
        try:
            kept = ctx.head.lower_variant(restored)
        except KeyError:  # the base's unit is no longer in the catalog: all that changed is the measure
            return ctx.exposure(change).changed
        head = ctx.head.flag_facts(change.key).lowered
        return estimate(kept, head, dims, dims).changed
