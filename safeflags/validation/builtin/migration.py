"""SF304: a migration moves through its states one step at a time, in every
cell of traffic, and a live migration keeps its list of states."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from safeflags.v1 import common_pb2
from safeflags.validation.api import Change, ChangeValidator, Context, FlagSpec
from safeflags.validation.builtin.edits import Position, changed_overrides, in_flag
from safeflags.validation.finding import Finding


def _states(spec: FlagSpec) -> list[tuple[str, bytes]]:
    return [(v.name, v.value.SerializeToString(deterministic=True)) for v in spec.variants]


def _name(states: Sequence[tuple[str, bytes]], served: bytes) -> str | None:
    return next((n for n, v in states if v == served), None)


class MigrationJump(ChangeValidator):
    """A migration flag moving more than one state at a time, or changing its states.

    **What it catches**: for a migration flag (variants are its ordered
    states, e.g. A → AB → BA → B), any traffic — all of it, or the part an
    override reaches — whose state moves by more than one step, forward or
    back, in one change (a new migration starts from its first state); and
    a change of the state list (names, values or order) of a migration that
    already exists, whatever else the change does.

    One adjacent step forward or back is routine, for all traffic or for
    part of it (an override that moves one region ahead).

    **Why**: each intermediate state keeps both systems consistent (dual
    writes before switching reads); jumping from A to BA reads from a
    system that was never written. The state list is what every service
    reading the flag was written against: dropping or reordering a state
    of a live migration changes what the states mean under its feet.

    **How to fix**: advance one state per pull request, after the checks
    for the current state are green. To change the plan, finish (or roll
    back) this migration and start a new flag.

    **Example**: `sf.migration(states=['A', 'AB', 'BA', 'B'], state='A')` → `state='BA'`;
    or `states=['A', 'AB', 'B']` for a migration at `AB`.
    """

    code = "SF304"
    name = "migration-jump"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        if after is None or after.kind != common_pb2.FLAG_KIND_MIGRATION:
            return
        live = before is not None and before.kind == common_pb2.FLAG_KIND_MIGRATION
        if live and before is not None and _states(before) != _states(after):
            old, new = (" → ".join(n for n, _ in _states(s)) for s in (before, after))
            yield self.at(
                after, f"the state list of a live migration changes ({old} becomes {new})",
                in_flag(ctx, after, ctx.field(after, "states", "variants"), int(after.location.line)),
                hint="keep the states of a running migration; to change the plan, finish or roll back this "
                "migration and start a new flag",
            )
        yield from self._jumps(change, ctx)

    def _jumps(self, change: Change, ctx: Context) -> Iterator[Finding]:
        before, after = change.before, change.after
        assert after is not None
        was = _states(before) if before is not None and before.kind == common_pb2.FLAG_KIND_MIGRATION else []
        now = _states(after)
        order = [n for n, _ in now]
        jumps: list[tuple[float, str, str, int]] = []
        for (b, a), share in ctx.exposure(change).transitions().items():
            if b is None or a is None or b == a or share <= 0:
                continue
            old, new = _name(was, b) or _name(now, b), _name(now, a)
            if old is None or new is None or old not in order:
                continue  # not a state (a typed value outside the list): not this rule's question
            step = order.index(new) - order.index(old)
            if abs(step) > 1:
                jumps.append((share, old, new, step))
        if not jumps:
            return
        jumps.sort(key=lambda j: (-j[0], j[1], j[2]))
        parts = []
        for share, old, new, step in jumps[:3]:
            lo, hi = sorted((order.index(old), order.index(new)))
            path = " → ".join(order[lo:hi + 1] if step > 0 else reversed(order[lo:hi + 1]))
            parts.append(f"~{share:.0%} of traffic from {old} to {new} ({abs(step)} states: {path})")
        state = ctx.field(after, "state", "default")
        # The current state first when it moved, else the overrides that changed (a part of traffic moved).
        where: list[Position] = [state] if before is None or before.default != after.default else []
        where += [int(after.overrides[i].location.line) for i in changed_overrides(before, after)] + [state]
        yield self.at(
            after, "the migration moves " + "; ".join(parts) + " in one change",
            in_flag(ctx, after, *where, int(after.location.line)),
            hint="move one state per pull request (forward or back), for all traffic or part of it",
        )
