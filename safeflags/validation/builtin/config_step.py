"""SF313: how far one pull request moves a config number."""
from __future__ import annotations

import math
from collections.abc import Iterator
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from safeflags.sdk.values import decoded, strict_equal
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation.api import Change, ChangeValidator, Context, FlagSpec
from safeflags.validation.builtin.edits import changed_overrides
from safeflags.validation.builtin.rollout import exposure_line
from safeflags.validation.finding import Finding

NUMERIC = (common_pb2.FLAG_TYPE_INT, common_pb2.FLAG_TYPE_FLOAT)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepLimit(_Options):
    match: str  # a glob over the flag key or its file path
    max_factor: float = Field(ge=1.0)


def step_factor(old: float, new: float) -> float:
    """How many times larger or smaller `new` is than `old` (≥ 1); a move
    from or to 0, or across 0, is beyond any factor."""
    if old == new:
        return 1.0
    if old == 0 or new == 0 or (old < 0) != (new < 0):
        return math.inf
    ratio = new / old
    return max(ratio, 1 / ratio)


def _show(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


def _step(old: float, new: float) -> str:
    if old == 0:
        return "from 0"
    if new == 0:
        return "to 0"
    if (old < 0) != (new < 0):
        return "across 0"
    ratio = new / old
    return f"×{ratio:.3g}" if ratio > 1 else f"÷{1 / ratio:.3g}"


def _number(serialized: bytes | None) -> float | None:
    if serialized is None:
        return None
    value = decoded(common_pb2.Value.FromString(serialized))
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _serves(serve: spec_pb2.Serve, value: object, spec: FlagSpec) -> bool:
    variants = {v.name: decoded(v.value) for v in spec.variants}
    kind = serve.WhichOneof("kind")
    if kind == "value":
        return strict_equal(decoded(serve.value), value)
    if kind == "variant":
        return serve.variant in variants and strict_equal(variants[serve.variant], value)
    if kind == "split":
        return any(a.variant in variants and strict_equal(variants[a.variant], value) for a in serve.split.arms)
    return False


def serving_position(change: Change, value: object, ctx: Context) -> int | tuple[int, int]:
    """Where the head writes what now serves `value`: what the pull request
    changed first (the default, a variant, an override, the rollout), else
    whatever serves it (an override removed uncovers the default)."""
    before, after = change.before, change.after
    assert before is not None and after is not None
    is_value = strict_equal(decoded(after.default), value)
    if is_value and after.default != before.default:
        return ctx.field(after, "default")
    old_variants = {v.name: v.value for v in before.variants}
    for v in after.variants:
        if strict_equal(decoded(v.value), value) and old_variants.get(v.name) != v.value:
            return ctx.literal(after, value)
    for i in changed_overrides(before, after):
        if _serves(after.overrides[i].serve, value, after):
            return int(after.overrides[i].location.line)
    if after.HasField("rollout") and _serves(after.rollout.serve, value, after):
        return int(after.rollout.location.line)
    if is_value:
        return ctx.field(after, "default")
    return exposure_line(change, ctx)


class ConfigStep(ChangeValidator):
    """A config number moved by more than a step limit in one change.

    **What it catches**: an int or float config flag (kind `config`) whose
    served value changes, in some static scope or runtime cell, by more
    than `max_factor` (default ×2, or ÷2 down). A move from or to 0, or
    across 0, is beyond any factor. Limits can differ per flag key or file
    path (`limits: [{match: 'search.*', max_factor: 10}]`, the first match
    wins). The label `safeflags/large-step`, applied by someone other than
    the author, lets the step through.

    A config value changed for everyone inside its bounds and inside the
    step limit is routine: no approval, no blast radius (bounds are SF107).
    Switching the flag off (`enabled: false`, serving its default) is never
    judged here.

    **Why**: a config number is a capacity, a timeout, a rate; tuning it a
    little is daily work, but a tenfold step (or a 0) changes what the
    service does, and a typo (`5000` for `500`) looks like tuning.

    **How to fix**: take a smaller step and watch it; or, when the large
    step is intended, have a reviewer apply the label.

    **Example**: `sf.int { default: 500 }` → `default: 5000` (×10) for a
    batch size.
    """

    code = "SF313"
    name = "config-step"

    class Options(_Options):
        max_factor: float = Field(default=2.0, ge=1.0)
        label: str = "safeflags/large-step"
        limits: list[StepLimit] = Field(default_factory=list)

    def max_factor(self, spec: FlagSpec) -> float:
        for limit in self.options.limits:  # type: ignore[attr-defined]
            if fnmatchcase(spec.key, limit.match) or fnmatchcase(spec.location.file, limit.match):
                return float(limit.max_factor)
        return float(self.options.max_factor)  # type: ignore[attr-defined]

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if (before is None or after is None or after.kind != common_pb2.FLAG_KIND_CONFIG
                or after.type not in NUMERIC or before.type != after.type):
            return
        if not after.enabled and after.default == before.default:
            return  # switched off: everyone gets the default the flag already had
        exp = ctx.exposure(change)
        if exp.changed <= 0:
            return
        limit = self.max_factor(after)
        steps: list[tuple[float, float, float]] = []  # old, new, share of traffic
        for (b, a), share in exp.transitions().items():
            old, new = _number(b), _number(a)
            if old is not None and new is not None and step_factor(old, new) > limit * (1 + 1e-9):
                steps.append((old, new, share))
        label: str = self.options.label  # type: ignore[attr-defined]
        if not steps or ctx.approvals.label([label], anyone=True) is not None:
            return
        at: dict[int | tuple[int, int], list[tuple[float, float, float]]] = {}
        for old, new, share in sorted(steps, key=lambda s: (-step_factor(s[0], s[1]), -s[2], s[0], s[1])):
            at.setdefault(serving_position(change, new, ctx), []).append((old, new, share))
        scopes = ""
        shares = [s.changed for s in exp.scopes[1:]]
        if shares and max(shares) - min(shares) > 1e-9:  # not the same everywhere: say where
            touched = sorted((s for s in exp.scopes[1:] if s.changed > 0), key=lambda s: -s.changed)[:3]
            scopes = " [" + "; ".join(f"{s.label}: ~{s.changed:.0%} changes" for s in touched) + "]"
        why = ctx.approvals.why_not([label])
        hint = (f"take a smaller step (at most ×{limit:g} or ÷{limit:g} per pull request), or have a reviewer apply "
                f"the label {label!r} if the large step is intended" + (f" ({why})" if why else ""))
        for where, group in at.items():
            old, new, share = group[0]
            more = "" if len(group) == 1 else f", and {len(group) - 1} more such step(s)"
            total = sum(s for _, _, s in group)
            yield self.at(
                after, f"the served value moves from {_show(old)} to {_show(new)} ({_step(old, new)}) for "
                f"~{share:.1%} of traffic{more}, beyond the ×{limit:g} step limit"
                + (f" (~{total:.1%} in all)" if more else "") + scopes,
                where, hint=hint,
            )
