"""Pair the flags of two compiled revisions into changes.

A flag is *modified* when its meaning changed; moving lines around (every
`location` field) is not a change. A flag renamed to another key is a
removal plus an addition, which is what it is for the services reading it.
"""
from __future__ import annotations

import re

from safeflags.compile.driver import CompileResult
from safeflags.compile.parse.model import key_for_path
from safeflags.v1 import spec_pb2
from safeflags.validation.api import Change


def semantic(spec: spec_pb2.FlagSpec) -> bytes:
    """The spec's bytes without source locations."""
    bare = spec_pb2.FlagSpec()
    bare.CopyFrom(spec)
    bare.ClearField("location")
    for group in (bare.overrides, bare.prerequisites, bare.requires):
        for item in group:
            item.ClearField("location")
    if bare.HasField("rollout"):
        bare.rollout.ClearField("location")
    return bare.SerializeToString(deterministic=True)


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
    frontier = set(seen)
    # A reader's bytes hold the key it reads: a substring test (in C) skips
    # nearly every flag before its conditions are walked.
    blobs = {key: spec.SerializeToString() for key, spec in head.specs.items()} if frontier else {}
    while frontier:
        needle = re.compile(b"|".join(re.escape(k.encode()) for k in sorted(frontier)))
        found = {key for key, blob in blobs.items()
                 if needle.search(blob) and key not in seen and references(head.specs[key]) & frontier}
        seen |= found
        frontier = found
    return frozenset(seen)
