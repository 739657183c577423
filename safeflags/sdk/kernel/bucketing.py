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
    """The bucket of `unit` under `salt`, in [0, BUCKETS).

    The hashed bytes are the UTF-8 encoding of "<salt>:<unit>". We encode
    ourselves rather than hand mmh3 a str: mmh3 5.x crashes the interpreter on
    a str holding a lone surrogate (which `json.loads` happily produces from
    request data). "surrogatepass" leaves every valid string's bytes unchanged
    and gives such a string a stable hash instead of a crash.
    """
    data = f"{salt}:{unit}".encode("utf-8", "surrogatepass")
    return mmh3.hash(data, 0, False) % BUCKETS


def percent_to_bound(percent: float) -> int:
    """Exclusive upper bucket bound of a p % rollout: [0, round(p * 1000)).

    Rounded to the nearest integer, ties to even: the resolution is 0.001 %,
    and rounding (not truncation) keeps 1.001 % at 1001 buckets although
    1.001 * 1000 is 1000.9999... in floating point."""
    if percent <= 0:
        return 0
    if percent >= 100:
        return BUCKETS
    return round(percent * 1000)


def unit_key(value: object) -> str | None:
    """How a context value becomes the hashed unit; None when it cannot be one.

    Strings are used as they are and integers in decimal; anything else
    (bools, floats, containers) is not a bucketing unit.
    """
    if type(value) is str:
        return value
    if type(value) is int:
        try:
            return str(value)
        except ValueError:  # over sys.get_int_max_str_digits(): not a real identifier
            return None
    return None
