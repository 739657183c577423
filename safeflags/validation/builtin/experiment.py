"""SF314: what a change to a running experiment does to its assignment."""
from __future__ import annotations

import json
from collections.abc import Iterator

from safeflags.sdk.values import decoded
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation.api import Change, ChangeValidator, Context, FlagSpec
from safeflags.validation.builtin.edits import changed_overrides
from safeflags.validation.builtin.rollout import exposure_line
from safeflags.validation.changes import without_locations
from safeflags.validation.exposure import Exposure
from safeflags.validation.finding import Finding, Severity


def _arm_names(spec: FlagSpec) -> dict[bytes, str]:
    names: dict[bytes, str] = {}
    for v in spec.variants:
        names.setdefault(v.value.SerializeToString(deterministic=True), v.name)
    return names


def _shown(serialized: bytes) -> str:
    return json.dumps(decoded(common_pb2.Value.FromString(serialized)))


def _moves(exp: Exposure, before: FlagSpec, after: FlagSpec) -> tuple[bool, str]:
    """Whether every move is between two differently named arms, and the
    moves in words, largest first."""
    old_names, new_names = _arm_names(before), _arm_names(after)
    moved, between_arms = [], True
    for (b, a), share in exp.transitions().items():
        if b is None or a is None or b == a or share <= 0:
            continue
        old, new = old_names.get(b), new_names.get(a)
        if old is not None and old == new:  # the arm kept its name, its value changed
            between_arms = False
            moved.append((share, f"{old}: {_shown(b)} → {_shown(a)}"))
        else:
            moved.append((share, f"{old or _shown(b)} → {new or _shown(a)}"))
    moved.sort(key=lambda m: (-m[0], m[1]))
    shown = ", ".join(f"{what} ~{share:.1%}" for share, what in moved[:4])
    return between_arms, shown + (f", +{len(moved) - 4} more" if len(moved) > 4 else "")


def _split(spec: FlagSpec | None, i: int) -> spec_pb2.Override | None:
    if spec is None or i >= len(spec.overrides) or spec.overrides[i].serve.WhichOneof("kind") != "split":
        return None
    return spec.overrides[i]


def _written(ctx: Context, spec: FlagSpec, *names: str) -> tuple[int, int] | None:
    """Where one of `names` is written in the head, None when none is (the
    Context falls back to the flag's own position)."""
    found = ctx.field(spec, *names)
    return None if found == (int(spec.location.line), int(spec.location.column)) else found


def assignment_position(change: Change, ctx: Context) -> int | tuple[int, int]:
    """What the pull request changed in the assignment: the split's salt,
    unit or weights, else the first changed rule, else the variants."""
    before, after = change.before, change.after
    assert before is not None and after is not None
    for i in changed_overrides(before, after):
        new, old = _split(after, i), _split(before, i)
        line = int(after.overrides[i].location.line)
        if new is None:
            return line
        if old is None or without_locations(old.when) != without_locations(new.when):
            return _written(ctx, after, "when") or line
        s, t = old.serve.split, new.serve.split
        if s.salt != t.salt:
            return _written(ctx, after, "salt") or line
        if s.unit != t.unit:
            return _written(ctx, after, "unit") or line
        return _written(ctx, after, "arms", "weight") or line
    if list(before.variants) != list(after.variants):
        return _written(ctx, after, "variants") or int(after.location.line)
    return exposure_line(change, ctx)


HINT = ("units moved mid-experiment carry both arms' effects: restart the analysis from this change, "
        "or leave the assignment alone while the experiment runs")


class ExperimentReassignment(ChangeValidator):
    """An experiment change that moves units from one arm to another.

    **What it catches**: any change to an experiment flag (kind
    `experiment`) that changes the arm some units are served: new arm
    weights, an arm added or removed, a new salt or bucketing unit, a
    wider or narrower audience, a pinned rule. It reports the share of
    traffic whose arm changes, the moves between arms, and the scopes
    where they happen when not all traffic is touched. A warning: the
    change may be right, but it is never neutral.

    **Why**: an experiment compares units that stayed in their arm; units
    moved mid-experiment carry both arms' effects into the results, and
    a re-salted split reassigns nearly everyone at once. Stopping the
    experiment (`enabled: false`) or starting it again is not reported.

    **How to fix**: if the experiment's analysis must stay valid, leave the
    assignment alone while it runs (grow an arm only out of traffic not yet
    enrolled) or restart the analysis from this change; say so in the pull
    request.

    **Example**: `arms={control: 50, treatment: 50}` → `{control: 40, treatment: 60}`
    moves ~10 % of units from control to treatment.
    """

    code = "SF314"
    name = "experiment-reassignment"
    severity = Severity.WARNING

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if before is None or after is None or after.kind != common_pb2.FLAG_KIND_EXPERIMENT:
            return
        if not (before.enabled and after.enabled):
            return  # stopped, or started again: every unit is served the default while it is off
        exp = ctx.exposure(change)
        if exp.changed <= 0:
            if changed_overrides(before, after) or list(before.variants) != list(after.variants):
                # An audience of named values (a country list) carries no weight in the estimate:
                # the split changed all the same, so say so rather than nothing.
                yield self.at(after, "the assignment changes for the units this experiment reaches; the estimate "
                              "cannot tell how many (its audience names values)", assignment_position(change, ctx),
                              hint=HINT)
            return
        where = ""
        shares = [s.changed for s in exp.scopes[1:]]
        if shares and max(shares) - min(shares) > 1e-9:  # not the same everywhere: say where
            touched = sorted((s for s in exp.scopes[1:] if s.changed > 0), key=lambda s: -s.changed)[:3]
            where = " [" + "; ".join(f"{s.label}: ~{s.changed:.0%}" for s in touched) + "]"
        between_arms, moves = _moves(exp, before, after)
        what = "switch arm" if between_arms else "are served a different arm value"
        yield self.at(
            after, f"~{exp.changed:.1%} of units {what} ({moves}){where}",
            assignment_position(change, ctx), hint=HINT,
        )
