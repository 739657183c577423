"""Deterministic bucketing, shared by the compiler, the SDK and every other SDK.

    bucket = murmur3_x86_32(f"{salt}:{unit}", seed=0) % 100000

A rollout of p % covers buckets [0, p * 1000), so raising p only adds units
(ramps are sticky). The salt defaults to the flag key, so two flags bucket
independently unless they share a salt on purpose. Test vectors live in
tests/data/bucketing_vectors.json.
"""
from __future__ import annotations

import mmh3

BUCKETS = 100_000
"""Bucket space: 0.001 % granularity."""


def bucket(salt: str, unit: str) -> int:
    """The bucket of `unit` under `salt`, in [0, BUCKETS)."""
    return mmh3.hash(f"{salt}:{unit}", 0, signed=False) % BUCKETS


def percent_to_bound(percent: float) -> int:
    """Exclusive upper bucket bound of a p % rollout: [0, p * 1000)."""
    if percent <= 0:
        return 0
    if percent >= 100:
        return BUCKETS
    return int(round(percent * 1000))


def unit_key(value: object) -> str | None:
    """How a context value becomes the hashed unit; None when it cannot be one.

    Strings are used as they are and integers in decimal; anything else
    (bools, floats, containers) is not a bucketing unit.
    """
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return None
