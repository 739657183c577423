"""`Space.truth` (bit sets over the partition) agrees with `holds` cell by cell."""
from __future__ import annotations

import random

import pytest

from safeflags.compile.config import DimensionConfig
from safeflags.v1 import bundle_pb2, common_pb2
from safeflags.validation.domain import Space, Tree

Expr = bundle_pb2.Expr
NAMES = ["region", "seats", "beta", "email", "user_id"]
CATALOG = {
    "region": DimensionConfig(type="enum", values=["us", "eu", "ap"]),
    "seats": DimensionConfig(type="int"),
    "beta": DimensionConfig(type="bool"),
    "email": DimensionConfig(type="string"),
    "user_id": DimensionConfig(type="string"),
}


def _leaf(rng: random.Random) -> Expr:
    e = Expr()
    kind = rng.choice(["in", "compare", "match", "present", "bucket", "flag", "constant", "bool"])
    if kind == "in":
        getattr(e, "in").dim = 0
        regions = rng.sample(["us", "eu", "ap"], rng.randint(1, 2))
        getattr(e, "in").values.extend(common_pb2.Value(string_value=v) for v in regions)
    elif kind == "bool":
        getattr(e, "in").dim = 2
        getattr(e, "in").values.append(common_pb2.Value(bool_value=rng.random() < 0.5))
    elif kind == "compare":
        e.compare.dim, e.compare.kind = 1, bundle_pb2.Compare.KIND_NUMBER
        e.compare.op, e.compare.number = rng.randint(1, 5), rng.choice([5, 10, 50])
    elif kind == "match":
        e.match.dim, e.match.op, e.match.pattern = 3, bundle_pb2.Match.OP_SUFFIX, rng.choice(["@a.com", "@b.com"])
    elif kind == "present":
        e.present.dim = rng.choice([1, 3, 4])
    elif kind == "bucket":
        lo = rng.choice([0, 1000, 50000])
        e.bucket.unit, e.bucket.salt, e.bucket.lo, e.bucket.hi = (
            4, rng.choice(["s1", "s2"]), lo, lo + rng.choice([1000, 20000]))
    elif kind == "flag":
        e.flag.key = rng.choice(["a.b", "a.c"])
        e.flag.value.bool_value = True
    else:
        e.constant = rng.random() < 0.5
    return e


def _expr(rng: random.Random, depth: int = 0) -> Expr:
    r = rng.random()
    if depth >= 2 or r < 0.4:
        return _leaf(rng)
    e = Expr()
    if r < 0.55:
        getattr(e, "not").CopyFrom(_expr(rng, depth + 1))
        return e
    group = e.all if r < 0.8 else e.any
    group.items.extend(_expr(rng, depth + 1) for _ in range(rng.randint(1, 3)))
    return e


@pytest.mark.parametrize("seed", range(60))
def test_truth_matches_holds_in_every_cell(seed: int) -> None:
    rng = random.Random(seed)
    exprs = [_expr(rng) for _ in range(rng.randint(1, 4))]
    space = Space(CATALOG, weighted=False)
    for e in exprs:
        space.add(Tree(e, NAMES))
    truth = space.truth(exprs, NAMES)
    assert truth is not None
    cells = [cell for cell, _ in space.cells()]
    assert cells and len(cells) == space.size()
    for i, cell in enumerate(cells):
        for e, bits in zip(exprs, truth, strict=True):  # truth: one bit set per expression
            assert bool(bits >> i & 1) == space.holds(e, NAMES, cell), (seed, i, e)
    assert all(bits >> len(cells) == 0 for bits in truth)
