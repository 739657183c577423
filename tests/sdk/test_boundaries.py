"""Boundary tables: every operator of the Compare node, with a value below,
equal to and above the operand, for every comparison kind (number, semver,
timestamp), through each way the SDK decides a comparison:

- the reference interpreter (`interpret.eval_expr`);
- the generated code an Evaluator serves from (`get_bool`, `details`);
- static pre-evaluation, the dimension pinned in the static context, which
  turns the flag into a constant served as STATIC.

All three must give the table's answer. The table is written out, not
computed with `operator`, so it is an oracle independent of the code. The
bucket and split ranges, the other ordered tests in a tree, get the same
treatment at their edges.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from safeflags.sdk import Evaluator, Reason
from safeflags.sdk.interpret import Env, eval_expr
from safeflags.sdk.kernel.bucketing import bucket
from safeflags.v1 import bundle_pb2
from tests.helpers.builder import KINDS as BUILDER_KINDS
from tests.helpers.builder import OPS as BUILDER_OPS
from tests.helpers.builder import Builder

C = bundle_pb2.Compare
RELATIONS = ("below", "equal", "above")
SAID = {"below": "below", "equal": "equal to", "above": "above"}

# op -> what a flag `when dim <op> operand: true, else false` serves for a
# value below, equal to, above the operand.
TABLE: dict[str, tuple[bool, bool, bool]] = {
    "<": (True, False, False),
    "<=": (True, True, False),
    ">": (False, False, True),
    ">=": (False, True, True),
    "==": (False, True, False),
}
OP_NAMES = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq"}

EPOCH = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Side:
    """An operand and request values on each side of it (all of one kind)."""

    operand: float | str
    below: tuple[object, ...]
    equal: tuple[object, ...]
    above: tuple[object, ...]


SIDES: dict[str, Side] = {
    "number": Side(10, below=(9, 9.999, -10.0), equal=(10, 10.0), above=(11, 10.001, 1e9)),
    # Versions order by semver, not as text ("10.0.0" > "2.14.0"); a
    # pre-release comes before its release; "v", missing parts and build
    # metadata do not change a version.
    "semver": Side("2.14.0", below=("2.13.9", "2.14.0-rc.1", "1.99.99"),
                   equal=("2.14.0", "v2.14", "2.14.0+build.7"),
                   above=("2.14.1", "2.15.0-alpha", "10.0.0")),
    # The same instant written every way a timestamp may be given.
    "timestamp": Side(EPOCH, below=("2026-02-28T23:59:59Z", EPOCH - 1, EPOCH - 0.001),
                      equal=("2026-03-01", "2026-03-01T00:00:00Z", "2026-03-01T01:00:00+01:00", int(EPOCH),
                             EPOCH, datetime(2026, 3, 1, tzinfo=UTC)),
                      above=("2026-03-01T00:00:01Z", EPOCH + 1, EPOCH + 0.001)),
}

DIM_TYPES = {"number": "float", "semver": "semver", "timestamp": "timestamp"}
# One runtime and one static dimension per kind, named after it; `unit` and
# `static_unit` for the bucket edges.
CATALOG = ([(kind, t, False) for kind, t in DIM_TYPES.items()]
           + [(f"static_{kind}", t, True) for kind, t in DIM_TYPES.items()]
           + [("unit", "string", False), ("static_unit", "string", True)])

b = Builder(CATALOG)
ENV = Env([d.name for d in b.dims], b.strings, {})


def comparison(kind: str, op: str, dim: str) -> bundle_pb2.Expr:
    return b.cmp(dim, op, SIDES[kind].operand, kind)


def _flags() -> list[bundle_pb2.CompiledFlag]:
    flags = []
    for kind in SIDES:
        for op, name in OP_NAMES.items():
            for dim in (kind, f"static_{kind}"):
                flags.append(b.flag(f"{dim}.{name}", "bool", [False, True], [b.rule(comparison(kind, op, dim), 1)]))
    return flags


FLAGS = _flags()
DATA = b.data(FLAGS)


def generated(client: Evaluator, key: str) -> bool:
    """Whether `key` is served by generated code (not a constant, not the interpreter)."""
    entry = client.snapshot.entry(key)
    assert entry is not None and entry.error is None, entry
    code = getattr(entry.fast, "__code__", None)
    return code is not None and code.co_filename == "<safeflags flag>"


def test_the_tables_cover_the_schema() -> None:
    ops = {v.name for v in C.Op.DESCRIPTOR.values} - {"OP_UNSPECIFIED"}
    kinds = {v.name for v in C.Kind.DESCRIPTOR.values} - {"KIND_UNSPECIFIED"}
    assert {C.Op.Name(BUILDER_OPS[op]) for op in TABLE} == ops
    assert {C.Kind.Name(BUILDER_KINDS[kind]) for kind in SIDES} == kinds
    for side in SIDES.values():
        assert side.below and side.equal and side.above


@pytest.mark.parametrize("op", TABLE)
@pytest.mark.parametrize("kind", SIDES)
def test_comparison_at_its_boundary(kind: str, op: str) -> None:
    runtime_key, static_key = f"{kind}.{OP_NAMES[op]}", f"static_{kind}.{OP_NAMES[op]}"
    expr = comparison(kind, op, kind)
    client = Evaluator.from_bytes(DATA)
    side = SIDES[kind]
    for relation, expected in zip(RELATIONS, TABLE[op], strict=True):
        for value in getattr(side, relation):
            case = f"{kind} {value!r} {op} {side.operand!r} should be {expected} (the value is {SAID[relation]} it)"
            ctx = {kind: value}
            assert eval_expr(expr, ctx, ENV) is expected, f"interpreter: {case}"
            # Twice: the first call prepares the flag, the second runs the memoised fast path.
            for _ in range(2):
                assert client.get_bool(runtime_key, None, ctx) is expected, f"generated code: {case}"
            d = client.details(runtime_key, None, ctx)
            reason = Reason.TARGETING_MATCH if expected else Reason.DEFAULT
            assert (d.value, d.reason, d.error_code) == (expected, reason, None), f"generated code: {case}"
            pinned = Evaluator.from_bytes(DATA, static={f"static_{kind}": value})
            d = pinned.details(static_key, None, {})
            assert (d.value, d.reason, d.error_code) == (expected, Reason.STATIC, None), f"pre-evaluated: {case}"
            assert pinned.get_bool(static_key, None) is expected, f"pre-evaluated: {case}"
    # The answers above came from generated code, not from the interpreter it falls back to.
    assert generated(client, runtime_key) and client.status().fast_path_fallbacks == 0


UNIT = "user-7"
SALT = "edges"
AT = bucket(SALT, UNIT)


def test_bucket_ranges_and_split_arms_at_their_edges() -> None:
    """A bucket range is [lo, hi): a unit at lo is in, at hi is out; a split
    arm covers up to its `upper`, exclusive."""
    assert 1 < AT < 99_998  # room on both sides of the unit's bucket
    ranges = {(AT, AT + 1): True, (AT - 1, AT): False, (AT + 1, AT + 2): False, (0, AT + 1): True, (0, AT): False}
    splits = {AT: 2, AT + 1: 1}  # first arm's upper bound -> the value index the unit gets
    flags = []
    for i, (lo, hi) in enumerate(ranges):
        for dim in ("unit", "static_unit"):
            flags.append(b.flag(f"{dim}.range{i}", "bool", [False, True], [b.rule(b.bucket(dim, SALT, lo, hi), 1)]))
    for i, upper in enumerate(splits):
        for dim in ("unit", "static_unit"):
            rule = b.rule(b.const(True), split=b.split(dim, SALT, [(1, upper), (2, 100_000)]), reason="split")
            flags.append(b.flag(f"{dim}.split{i}", "int", [0, 1, 2], [rule]))
    data = b.data(flags)
    client = Evaluator.from_bytes(data)
    pinned = Evaluator.from_bytes(data, static={"static_unit": UNIT})
    for i, ((lo, hi), expected) in enumerate(ranges.items()):
        case = f"bucket {AT} in [{lo}, {hi}) is {expected}"
        assert eval_expr(b.bucket("unit", SALT, lo, hi), {"unit": UNIT}, ENV) is expected, f"interpreter: {case}"
        for _ in range(2):
            assert client.get_bool(f"unit.range{i}", None, {"unit": UNIT}) is expected, f"generated code: {case}"
        d = pinned.details(f"static_unit.range{i}", None, {})
        assert (d.value, d.reason) == (expected, Reason.STATIC), f"pre-evaluated: {case}"
        assert generated(client, f"unit.range{i}")
    for i, (upper, index) in enumerate(splits.items()):
        case = f"bucket {AT} with a first arm up to {upper} gets value {index}"
        flag = client.snapshot.flags[f"unit.split{i}"]
        assert client.snapshot.reference(flag, {"unit": UNIT}).value_index == index, f"interpreter: {case}"
        for _ in range(2):
            assert client.get_int(f"unit.split{i}", None, {"unit": UNIT}) == index, f"generated code: {case}"
        d = pinned.details(f"static_unit.split{i}", None, {})
        assert (d.value, d.reason) == (index, Reason.STATIC), f"pre-evaluated: {case}"
        assert generated(client, f"unit.split{i}")
    assert client.status().fast_path_fallbacks == 0
