"""How generated code reaches the snapshot it was prepared in, and how a
snapshot built from another takes over its generated code.

A flag with prerequisites compiles to a function that binds a `flag_is`
helper. Binding the snapshot's own method would make a reference cycle
(snapshot -> fast dict -> function -> bound method -> snapshot), so that a
replaced snapshot waits for the cyclic collector, and never goes under
gc.freeze(). The helper holds a weak reference instead; the snapshot keeps
the functions alive, and nothing in them keeps the snapshot alive.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from types import FunctionType
from typing import Any

from safeflags.sdk.interpret import PrerequisiteMemo

Rebinding = tuple[tuple[int, "Rebinding | None"], ...]
"""Where a generated function binds its snapshot's `flag_is` helper: (position in its
defaults, None) for the helper itself, (position, Rebinding) for a function it binds
(a graph's memo function) that binds it in turn."""


class SnapshotRetired(Exception):
    """Generated code outlived its snapshot (swapped out and freed mid-call): the
    caller's fallback resolves the flag again against the snapshot now served."""


def prerequisite_check(ref: weakref.ref[Any]) -> Callable[..., bool]:
    """The `flag_is` helper generated code binds: the snapshot's `_flag_is`
    through a weak reference, so a snapshot and its code form no cycle."""

    def flag_is(key: str, expected: object, ctx: Mapping[str, object], path: tuple[str, ...],
                served: PrerequisiteMemo) -> bool:
        snapshot = ref()
        if snapshot is None:
            raise SnapshotRetired(key)
        return snapshot._flag_is(key, expected, ctx, path, served)

    return flag_is


def rebound(fn: Any, plan: Rebinding, helper: object) -> Any:
    """A copy of generated function `fn` whose defaults at `plan`'s positions are `helper`."""
    defaults = list(fn.__defaults__)
    for i, inner in plan:
        defaults[i] = helper if inner is None else rebound(defaults[i], inner, helper)
    return FunctionType(fn.__code__, fn.__globals__, fn.__name__, tuple(defaults), fn.__closure__)
