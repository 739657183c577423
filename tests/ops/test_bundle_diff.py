"""Finding the flags whose bytes differ between consecutive bundles, against a plain by-key comparison."""
from __future__ import annotations

import random

from safeflags.ops.bundle_diff import diff, diff_split, split
from safeflags.v1 import bundle_pb2
from tests.helpers.builder import Builder


def _flags(b: Builder, keys: list[str], hi: dict[str, int]) -> list[bundle_pb2.CompiledFlag]:
    return [b.flag(k, "bool", [False, True], [b.rule(b.bucket("user_id", k, 0, hi[k]), 1)]) for k in keys]


def test_diff_matches_a_full_split_through_a_series() -> None:
    rng = random.Random(5)
    b = Builder()
    keys = [f"ns.flag_{i:03d}" for i in range(60)]
    hi = {k: 1000 for k in keys}
    data = b.data(_flags(b, keys, hi))
    current = split(data)
    for _ in range(40):
        keys = list(keys)
        for _ in range(rng.randrange(4)):
            hi[rng.choice(keys)] += 1000
        if rng.random() < 0.4:
            keys.remove(rng.choice(keys))
        if rng.random() < 0.4:
            new = f"ns.flag_{rng.randrange(1000):03d}"
            if new not in keys:
                keys.append(new)
                hi.setdefault(new, 5)
        keys.sort()
        data = b.data(_flags(b, keys, hi))
        found, changes = diff(current, data)
        whole = split(data)
        assert (found.keys, found.starts, found.ends, found.dims) == (whole.keys, whole.starts, whole.ends, whole.dims)
        assert changes == diff_split(current, whole)
        assert [c.key for c in changes] == sorted({c.key for c in changes})
        current = found


def test_interleaved_records_are_compared_by_key() -> None:
    b = Builder()
    b.intern("x")
    flags = _flags(b, ["a.one", "a.two"], {"a.one": 1, "a.two": 2})
    first = b.data(flags)
    one = bundle_pb2.Bundle(flags=flags[:1]).SerializeToString()
    strings = bundle_pb2.Bundle(strings=["x"]).SerializeToString()
    # A string-table record between the two flag records: not one run
    changed = bundle_pb2.Bundle(flags=_flags(b, ["a.two"], {"a.two": 3})).SerializeToString()
    interleaved = one + strings + changed
    found, changes = diff(split(first), interleaved)
    assert not found.contiguous and found.strings == ("x",)
    assert [(c.key, c.old is not None, c.new is not None) for c in changes] == [("a.two", True, True)]
