"""Where a pull request changed a flag's file, so a finding lands on a line
the review shows.

A line of a flag file is edited when its code (as
safeflags.validation.origins reads it: comments, blanks at either end and a
trailing comma left out) is not among the base file's code lines: moving a
line, reordering fields or editing a comment is not a change. A validator
names the places that could have caused its finding, best first; the
finding goes to the first of them on an edited line, else to the first
edited line of the file, else to the first place named. A flag whose own
file the pull request left alone is template-driven: the runner moves its
findings to the library line that changed.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

from safeflags.v1 import spec_pb2
from safeflags.validation.api import Change, Context, FlagSpec
from safeflags.validation.changes import without_locations
from safeflags.validation.exposure import starting_value
from safeflags.validation.origins import code_lines

Position = int | tuple[int, int]


@lru_cache(maxsize=1024)
def edited_lines(head: str, base: str | None) -> frozenset[int]:
    """1-based lines of `head` whose code is not in `base` (every line with
    code when there is no base)."""
    pool = Counter(code for _, code in code_lines(base)) if base is not None else Counter()
    out = set()
    for line, code in code_lines(head):
        if pool[code] > 0:
            pool[code] -= 1
        else:
            out.add(line)
    return frozenset(out)


def flag_edits(ctx: Context, spec: FlagSpec) -> frozenset[int]:
    """The edited lines of the head's file of `spec` (none outside pull-request mode)."""
    file = str(spec.location.file)
    head = ctx.locator(file)
    if head is None or ctx.base is None:
        return frozenset()
    base = ctx.locator(file, base=True)
    return edited_lines(head.text, base.text if base is not None else None)


def _pos(p: Position) -> tuple[int, int]:
    return p if isinstance(p, tuple) else (p, 0)


def in_flag(ctx: Context, spec: FlagSpec, *candidates: Position) -> Position:
    """The first candidate on an edited line of the flag's file, else its
    first edited line, else the first candidate (0: the flag's own line)."""
    edits = flag_edits(ctx, spec)
    for c in candidates:
        if _pos(c)[0] in edits:
            return c
    loc = ctx.locator(str(spec.location.file))
    if edits and loc is not None:
        line = min(edits)
        text = loc.text.split("\n")[line - 1]
        return line, len(text) - len(text.lstrip()) + 1
    return candidates[0] if candidates else 0


def _bare(o: spec_pb2.Override) -> bytes:
    """An override as it behaves: locations and its description left out."""
    out = without_locations(o)
    out.ClearField("description")
    return out.SerializeToString(deterministic=True)


def changed_overrides(before: FlagSpec | None, after: FlagSpec) -> list[int]:
    """Indexes of the head's overrides that behave differently from the
    base's at the same position (all of them for a new flag)."""
    old = [_bare(o) for o in before.overrides] if before is not None else []
    return [i for i, o in enumerate(after.overrides) if i >= len(old) or old[i] != _bare(o)]


def exposure_candidates(change: Change, ctx: Context) -> list[Position]:
    """What may have widened a flag's exposure, best first: the stage, the
    on/off switch, the default, the changed overrides, the rollout."""
    after, before = change.after, change.before
    assert after is not None
    out: list[Position] = []
    ro = after.rollout
    if before is None:
        if ro.stage:
            out.append(ctx.field(after, "stage", "rollout"))
        if after.default != starting_value(after):
            out.append(ctx.field(after, "default", "state"))
    else:
        if after.HasField("rollout"):
            if before.rollout.stage != ro.stage:
                out.append(ctx.field(after, "stage", "rollout"))
            if before.rollout.stages != ro.stages or before.rollout.template != ro.template:
                out.append(int(ro.location.line))
        if after.enabled and not before.enabled:  # switching off exposes nothing
            out.append(ctx.field(after, "enabled"))
        if before.default != after.default:
            out.append(ctx.field(after, "default", "state"))
    out += [int(after.overrides[i].location.line) for i in changed_overrides(before, after)]
    if after.HasField("rollout"):
        out.append(int(ro.location.line))
    out.append(int(after.location.line))
    return out


def exposure_line(change: Change, ctx: Context) -> Position:
    """The position in the head's flag file of what a change did to widen
    exposure, on a line the pull request edited where there is one."""
    assert change.after is not None
    return in_flag(ctx, change.after, *exposure_candidates(change, ctx))
