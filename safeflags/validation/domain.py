"""Abstract evaluation of expression trees over a finite partition of contexts.

Validators ask questions no single request answers: can this condition ever
be true? does an earlier rule cover this one? what share of traffic does a
change expose? Each dimension a set of trees mentions is cut into the few
classes the trees can tell apart (an enum's mentioned values and "the rest",
the intervals between the constants of an ordered dimension, the bucket
ranges of each salt, absent), so enumerating the product of classes
visits every behaviour the trees have. Leaves the partition cannot decide
(a string pattern on an unnamed value, another flag's value) become free
booleans.

Two modes: *possible* keeps every class (for logic: no false positives,
since every real context falls in some cell); *weighted* keeps classes that
carry traffic, weighted by the catalog's per-value weights (uniform where
none), for exposure estimates.
"""
from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safeflags.compile.config import DimensionConfig
from safeflags.sdk.kernel import semver
from safeflags.sdk.kernel.bucketing import BUCKETS
from safeflags.v1 import bundle_pb2

Expr = bundle_pb2.Expr
CMP = bundle_pb2.Compare
ABSENT = ("absent",)
ORDERED = ("int", "float", "semver", "timestamp")
# More cells than this and a logic check is skipped (never guessed);
# an exposure estimate falls back to a seeded sample.
MAX_CELLS = 200_000
SAMPLES = 20_000

State = tuple[Any, ...]
Cell = dict[Any, State]


@dataclass
class _Dim:
    name: str
    dtype: str
    mentioned: set[Any] = field(default_factory=set)  # enum/string/bool literals; ordered constants


@dataclass(frozen=True)
class Tree:
    """An expression with the catalog order its dimension indexes refer to."""

    expr: Expr
    names: Sequence[str]


class Space:
    """The partition of contexts that a set of trees can distinguish."""

    def __init__(self, catalog: Mapping[str, DimensionConfig], *, weighted: bool) -> None:
        self.catalog = catalog
        self.weighted = weighted
        self.dims: dict[str, _Dim] = {}
        self.buckets: dict[tuple[str, str], set[int]] = {}
        self.free: dict[Any, tuple[float, float]] = {}  # key -> (weight false, weight true)
        self._order: dict[str, dict[Any, int]] = {}
        self._vars: list[tuple[Any, list[tuple[State, float]]]] | None = None

    # --- collecting -------------------------------------------------------
    def _dim(self, name: str) -> _Dim:
        d = self.dims.get(name)
        if d is None:
            conf = self.catalog.get(name)
            d = self.dims[name] = _Dim(name, conf.type if conf else "string")
        return d

    def add(self, tree: Tree) -> None:
        self._walk(tree.expr, tree.names)

    def add_split(self, split: bundle_pb2.SplitOutcome, names: Sequence[str]) -> None:
        unit = names[split.unit]
        self._dim(unit)
        self.buckets.setdefault((unit, split.salt), set()).update(a.upper for a in split.arms)

    def _walk(self, e: Expr, names: Sequence[str]) -> None:
        kind = e.WhichOneof("node")
        if kind in ("all", "any"):
            for item in getattr(e, kind).items:
                self._walk(item, names)
        elif kind == "not":
            self._walk(getattr(e, "not"), names)
        elif kind == "in":
            d = self._dim(names[getattr(e, "in").dim])
            d.mentioned.update(_plain(v, d.dtype) for v in getattr(e, "in").values)
        elif kind == "compare":
            d = self._dim(names[e.compare.dim])
            d.mentioned.add(_operand(e.compare))
        elif kind == "match":
            d = self._dim(names[e.match.dim])
            self.free[("match", e.match.SerializeToString(deterministic=True), d.name)] = (1.0, 0.0)
        elif kind == "present":
            self._dim(names[e.present.dim])
        elif kind == "bucket":
            unit = names[e.bucket.unit]
            self._dim(unit)
            self.buckets.setdefault((unit, e.bucket.salt), set()).update((e.bucket.lo, e.bucket.hi))
        elif kind == "flag":
            # Another flag's value: assume it serves what is asked (an upper bound).
            self.free[("flag", e.flag.SerializeToString(deterministic=True))] = (0.0, 1.0)

    # --- the partition ----------------------------------------------------
    def _states(self, d: _Dim) -> list[tuple[State, float]]:
        conf = self.catalog.get(d.name)
        out: list[tuple[State, float]] = [(ABSENT, 0.0)]
        if d.dtype == "enum" and conf is not None:
            total = sum(conf.weights.values())
            weight = {v: (conf.weights.get(v, 0.0) / total if total else 1 / len(conf.values)) for v in conf.values}
            for v in conf.values:
                if v in d.mentioned:
                    out.append((("value", v), weight[v]))
            rest = frozenset(v for v in conf.values if v not in d.mentioned)
            if rest:
                out.append((("other", rest), sum(weight[v] for v in rest)))
        elif d.dtype == "bool":
            w = conf.weights if conf is not None else {}
            t, f = w.get("true", 1.0), w.get("false", 1.0)
            out += [(("value", True), t / (t + f) if t + f else 0.5), (("value", False), f / (t + f) if t + f else 0.5)]
        elif d.dtype in ORDERED:
            consts = sorted(d.mentioned, key=_sort_key(d.dtype))
            self._order[d.name] = {c: 2 * i + 1 for i, c in enumerate(consts)}
            # Positions: 2i+1 is constant i, 2i the open interval below it.
            gaps = len(consts) + 1
            for pos in range(2 * len(consts) + 1):
                out.append((("pos", pos), 0.0 if pos % 2 else 1 / gaps))
        else:  # string (and enum values outside the catalog): named values are a negligible share
            for v in sorted(d.mentioned, key=repr):
                out.append((("value", v), 0.0))
            out.append((("other", frozenset()), 1.0))
        return out

    def variables(self) -> list[tuple[Any, list[tuple[State, float]]]]:
        if self._vars is None:
            vars_: list[tuple[Any, list[tuple[State, float]]]] = []
            for name in sorted(self.dims):
                vars_.append((name, self._states(self.dims[name])))
            for key in sorted(self.buckets):
                bounds = sorted(self.buckets[key] | {0, BUCKETS})
                vars_.append((("bucket",) + key, [(("range", lo, hi), (hi - lo) / BUCKETS) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]))
            for key in sorted(self.free, key=repr):
                wf, wt = self.free[key]
                vars_.append((key, [(("bool", False), wf), (("bool", True), wt)]))
            if self.weighted:
                vars_ = [(k, [(s, w) for s, w in states if w > 0]) for k, states in vars_]
            self._vars = vars_
        return self._vars

    def size(self) -> int:
        n = 1
        for _, states in self.variables():
            n *= max(1, len(states))
        return n

    def cells(self) -> Iterator[tuple[Cell, float]]:
        """Every cell with its weight (1.0 each in possible mode). Raises
        `TooLarge` past MAX_CELLS in possible mode; samples in weighted mode."""
        vars_ = self.variables()
        if any(not states for _, states in vars_):
            return
        if self.size() <= MAX_CELLS:
            keys = [k for k, _ in vars_]
            for combo in itertools.product(*(states for _, states in vars_)):
                weight = 1.0
                for _, w in combo:
                    weight *= w
                if weight > 0 or not self.weighted:
                    yield {k: s for k, (s, _) in zip(keys, combo)}, (weight if self.weighted else 1.0)
            return
        if not self.weighted:
            raise TooLarge(self.size())
        rng = random.Random(0)  # seeded: the same inputs give the same estimate
        for _ in range(SAMPLES):
            cell = {}
            for key, states in vars_:
                cell[key] = rng.choices([s for s, _ in states], weights=[w for _, w in states])[0]
            yield cell, 1.0 / SAMPLES

    # --- whole-partition evaluation ----------------------------------------
    def truth(self, exprs: Sequence[Expr], names: Sequence[str]) -> list[int] | None:
        """For each expression, the cells where it holds, as a bit set over
        `cells()` (bit i is the i-th cell, possible mode); None past
        MAX_CELLS. Each leaf reads one or two variables, so it is evaluated
        once per combination of their states (with `holds`, the same
        semantics) and spread over the product by repeating bit patterns:
        far cheaper than evaluating every rule in every cell."""
        vars_ = self.variables()
        if self.size() > MAX_CELLS:
            return None
        if any(not states for _, states in vars_):
            return [0 for _ in exprs]
        total = self.size()
        full = (1 << total) - 1
        # Cell index = sum(state index * stride), the last variable varying fastest (itertools.product).
        strides: dict[Any, tuple[int, list[State]]] = {}
        stride = 1
        for key, states in reversed(vars_):
            strides[key] = (stride, [s for s, _ in states])
            stride *= len(states)
        indicators: dict[tuple[Any, int], int] = {}

        def indicator(key: Any, i: int) -> int:
            got = indicators.get((key, i))
            if got is None:
                step, states = strides[key]
                period = step * len(states)
                pattern, width = ((1 << step) - 1) << (i * step), period
                while width < total:  # repeat the pattern across all periods by doubling
                    pattern |= pattern << width
                    width *= 2
                got = indicators[(key, i)] = pattern & full
            return got

        def leaf(e: Expr, kind: str) -> int:
            keys = self._reads(e, kind, names)
            mask = 0
            for combo in itertools.product(*(range(len(strides[k][1])) for k in keys)):
                cell = {k: strides[k][1][i] for k, i in zip(keys, combo)}
                if self.holds(e, names, cell):
                    part = full
                    for k, i in zip(keys, combo):
                        part &= indicator(k, i)
                    mask |= part
            return mask

        def walk(e: Expr) -> int:
            kind = e.WhichOneof("node")
            if kind == "constant":
                return full if e.constant else 0
            if kind == "all":
                out = full
                for x in e.all.items:
                    out &= walk(x)
                return out
            if kind == "any":
                out = 0
                for x in e.any.items:
                    out |= walk(x)
                return out
            if kind == "not":
                return full ^ walk(getattr(e, "not"))
            return leaf(e, kind)

        return [walk(e) for e in exprs]

    @staticmethod
    def _reads(e: Expr, kind: str, names: Sequence[str]) -> list[Any]:
        """The cell variables `holds` reads for the leaf `e`."""
        if kind == "flag":
            return [("flag", e.flag.SerializeToString(deterministic=True))]
        if kind == "bucket":
            unit = names[e.bucket.unit]
            return [unit, ("bucket", unit, e.bucket.salt)]
        node = getattr(e, kind)
        name = names[node.dim]
        if kind == "match":
            return [name, ("match", node.SerializeToString(deterministic=True), name)]
        return [name]

    # --- evaluation -------------------------------------------------------
    def holds(self, e: Expr, names: Sequence[str], cell: Cell) -> bool:
        kind = e.WhichOneof("node")
        if kind == "constant":
            return e.constant
        if kind == "all":
            return all(self.holds(x, names, cell) for x in e.all.items)
        if kind == "any":
            return any(self.holds(x, names, cell) for x in e.any.items)
        if kind == "not":
            return not self.holds(getattr(e, "not"), names, cell)
        if kind == "flag":
            return bool(cell[("flag", e.flag.SerializeToString(deterministic=True))][1])
        if kind == "bucket":
            unit = names[e.bucket.unit]
            if cell[unit] == ABSENT:
                return False
            lo = cell[("bucket", unit, e.bucket.salt)][1]
            return bool(e.bucket.lo <= lo < e.bucket.hi)
        node = getattr(e, kind)
        name = names[node.dim]
        state = cell[name]
        if state == ABSENT:
            return False
        if kind == "present":
            return True
        dtype = self.dims[name].dtype
        if kind == "in":
            if state[0] == "pos":
                return any(self._order[name][_plain(v, dtype)] == state[1] for v in node.values)
            return state[0] == "value" and state[1] in {_plain(v, dtype) for v in node.values}
        if kind == "compare":
            here, there = state[1], self._order[name][_operand(node)]
            return {CMP.OP_LT: here < there, CMP.OP_LE: here <= there, CMP.OP_GT: here > there,
                    CMP.OP_GE: here >= there, CMP.OP_EQ: here == there}.get(node.op, False)
        if kind == "match":
            if state[0] == "value" and isinstance(state[1], str):
                return _match(node, state[1])
            return bool(cell[("match", node.SerializeToString(deterministic=True), name)][1])
        return False

    def bucket_of(self, split: bundle_pb2.SplitOutcome, names: Sequence[str], cell: Cell) -> int:
        return int(cell[("bucket", names[split.unit], split.salt)][1])


class TooLarge(Exception):
    """The partition has more cells than a logic check may enumerate."""


def _plain(v: Any, dtype: str) -> Any:
    kind = v.WhichOneof("kind")
    raw = getattr(v, kind) if kind else None
    if dtype in ("int", "float", "timestamp") and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    return raw


def _operand(c: bundle_pb2.Compare) -> Any:
    return c.text if c.kind == CMP.KIND_SEMVER else float(c.number)


def _sort_key(dtype: str) -> Any:
    if dtype == "semver":
        return lambda t: semver.parse(t) or (0, 0, 0, 0, ())
    return lambda x: (float(x) if isinstance(x, (int, float)) else float("inf"), repr(x))


def _match(m: bundle_pb2.Match, value: str) -> bool:
    pattern, text = (m.pattern.lower(), value.lower()) if m.ignore_case else (m.pattern, value)
    if m.op == bundle_pb2.Match.OP_PREFIX:
        return text.startswith(pattern)
    if m.op == bundle_pb2.Match.OP_SUFFIX:
        return text.endswith(pattern)
    if m.op == bundle_pb2.Match.OP_CONTAINS:
        return pattern in text
    try:
        return re.search(m.pattern, value, re.IGNORECASE if m.ignore_case else 0) is not None
    except re.error:
        return False
