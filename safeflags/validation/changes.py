"""Pair the flags of two compiled revisions into changes.

A flag is *modified* when its meaning changed; moving lines around (every
`location` field) is not a change. A flag renamed to another key is a
removal plus an addition, which is what it is for the services reading it.
"""
from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf.message import Message  # type: ignore[import-untyped]

from safeflags.compile.driver import CompileResult
from safeflags.compile.parse.model import key_for_path
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation.api import Change


def _location_plans() -> dict[str, tuple[tuple[str, ...], tuple[tuple[str, bool], ...]]]:
    """Per message type that can hold a source location (derived from the
    schema, so a location field added later is stripped too): its Location
    fields, and the message fields (name, repeated) that lead to more."""
    location = common_pb2.Location.DESCRIPTOR.full_name
    reach: dict[str, Any] = {}  # protobuf Descriptors
    todo = [spec_pb2.FlagSpec.DESCRIPTOR]
    while todo:
        desc = todo.pop()
        if desc.full_name not in reach:
            reach[desc.full_name] = desc
            todo += [f.message_type for f in desc.fields if f.message_type is not None]
    holds = {name for name, d in reach.items()
             if any(f.message_type is not None and f.message_type.full_name == location for f in d.fields)}
    grew = True
    while grew:  # a message holds a location when one of its fields' types does (Condition nests itself)
        before = len(holds)
        holds |= {name for name, d in reach.items()
                  if any(f.message_type is not None and f.message_type.full_name in holds for f in d.fields)}
        grew = len(holds) > before
    return {
        name: (
            tuple(f.name for f in reach[name].fields
                  if f.message_type is not None and f.message_type.full_name == location),
            tuple((f.name, f.is_repeated) for f in reach[name].fields
                  if f.message_type is not None and f.message_type.full_name in holds - {location}),
        )
        for name in holds - {location}
    }


_PLANS = _location_plans()
M = TypeVar("M", bound=Message)


def _strip(msg: Message) -> None:
    locations, walks = _PLANS[msg.DESCRIPTOR.full_name]
    for name in locations:
        msg.ClearField(name)
    for name, repeated in walks:
        if repeated:
            for item in getattr(msg, name):
                _strip(item)
        elif msg.HasField(name):
            _strip(getattr(msg, name))


def without_locations(msg: M) -> M:
    """A copy of a spec message (a FlagSpec, an Override, a Condition...)
    without source locations (every Location field, at any depth)."""
    bare = type(msg)()
    bare.CopyFrom(msg)
    _strip(bare)
    return bare


def semantic(spec: spec_pb2.FlagSpec) -> bytes:
    """The spec's bytes without source locations: what it means."""
    return without_locations(spec).SerializeToString(deterministic=True)


def pair(base: CompileResult, head: CompileResult) -> list[Change]:
    """Changes sorted by key. A flag that failed to compile on either side is
    left out: its compile error is the finding, there is no semantic diff."""
    broken = set()
    for result in (base, head):
        for err in result.errors:
            key = key_for_path(err.file, result.config.model.flags_dir)
            if key:
                broken.add(key)
    changes = []
    for key in sorted((set(base.specs) | set(head.specs)) - broken):
        before, after = base.specs.get(key), head.specs.get(key)
        if before is None:
            changes.append(Change(key, "added", None, after))
        elif after is None:
            changes.append(Change(key, "removed", before, None))
        elif before is not after and semantic(before) != semantic(after):  # shared: the same object
            changes.append(Change(key, "modified", before, after))
    return changes


def references(spec: spec_pb2.FlagSpec) -> set[str]:
    """The flags whose values `spec`'s evaluation reads: prerequisites and
    flag conditions (in overrides and rollout scopes)."""
    out = {p.flag for p in spec.prerequisites}
    stack = [o.when for o in spec.overrides]
    stack += [st.scope for st in spec.rollout.stages if st.HasField("scope")]
    while stack:
        c = stack.pop()
        if c.op == spec_pb2.Condition.OP_FLAG:
            out.add(c.flag)
        stack.extend(c.of)
    return out


def affected(head: CompileResult, changes: list[Change]) -> frozenset[str]:
    """The changed flags and every head flag whose evaluation depends on one
    of them, through any chain of prerequisites and flag conditions."""
    seen = {c.key for c in changes}
    if not seen:
        return frozenset()
    # One pass builds who reads whom (a walk of each flag's conditions, a few
    # microseconds each); the closure is then linear in the edges. Searching
    # every flag's bytes for any changed key cost O(flags x changed keys):
    # minutes for a template edit that moves 500 of 25,000 flags.
    readers: dict[str, list[str]] = {}
    for key, spec in head.specs.items():
        for ref in references(spec):
            readers.setdefault(ref, []).append(key)
    frontier = list(seen)
    while frontier:
        found = list(dict.fromkeys(r for k in frontier for r in readers.get(k, ()) if r not in seen))
        seen.update(found)
        frontier = found
    return frozenset(seen)
