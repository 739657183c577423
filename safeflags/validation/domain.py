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
import operator
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safeflags.compile.config import DimensionConfig
from safeflags.sdk.kernel import regex, semver
from safeflags.sdk.kernel.bucketing import BUCKETS
from safeflags.sdk.nodes import Dispatch, kind_of
from safeflags.v1 import bundle_pb2

Expr = bundle_pb2.Expr
CMP = bundle_pb2.Compare
_COMPARE: dict[int, Callable[[Any, Any], object]] = {
    CMP.OP_LT: operator.lt, CMP.OP_LE: operator.le, CMP.OP_GT: operator.gt, CMP.OP_GE: operator.ge,
    CMP.OP_EQ: operator.eq,
}
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
        self._COLLECT.of(e)(self, e, names)

    def _collect_items(self, e: Expr, names: Sequence[str]) -> None:
        for item in getattr(e, kind_of(e)).items:
            self._walk(item, names)

    def _collect_in(self, e: Expr, names: Sequence[str]) -> None:
        d = self._dim(names[getattr(e, "in").dim])
        d.mentioned.update(_plain(v, d.dtype) for v in getattr(e, "in").values)

    def _collect_compare(self, e: Expr, names: Sequence[str]) -> None:
        self._dim(names[e.compare.dim]).mentioned.add(_operand(e.compare))

    def _collect_match(self, e: Expr, names: Sequence[str]) -> None:
        d = self._dim(names[e.match.dim])
        self.free[("match", e.match.SerializeToString(deterministic=True), d.name)] = (1.0, 0.0)

    def _collect_present(self, e: Expr, names: Sequence[str]) -> None:
        self._dim(names[e.present.dim])

    def _collect_bucket(self, e: Expr, names: Sequence[str]) -> None:
        unit = names[e.bucket.unit]
        self._dim(unit)
        self.buckets.setdefault((unit, e.bucket.salt), set()).update((e.bucket.lo, e.bucket.hi))

    def _collect_flag(self, e: Expr, names: Sequence[str]) -> None:
        # Another flag's value: assume it serves what is asked (an upper bound).
        self.free[("flag", e.flag.SerializeToString(deterministic=True))] = (0.0, 1.0)

    _COLLECT: Dispatch[Callable[[Space, Expr, Sequence[str]], None]] = Dispatch("domain.collect", {
        "constant": lambda self, e, names: None,
        "all": _collect_items,
        "any": _collect_items,
        "not": lambda self, e, names: self._walk(getattr(e, "not"), names),
        "in": _collect_in,
        "compare": _collect_compare,
        "match": _collect_match,
        "present": _collect_present,
        "bucket": _collect_bucket,
        "flag": _collect_flag,
    })

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
                ranges = [(("range", lo, hi), (hi - lo) / BUCKETS) for lo, hi in itertools.pairwise(bounds) if hi > lo]
                vars_.append((("bucket", *key), ranges))
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
                    yield {k: s for k, (s, _) in zip(keys, combo, strict=True)}, (weight if self.weighted else 1.0)
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

        def leaf(e: Expr) -> int:
            keys = self._reads(e, names)
            mask = 0
            for combo in itertools.product(*(range(len(strides[k][1])) for k in keys)):
                cell = {k: strides[k][1][i] for k, i in zip(keys, combo, strict=True)}
                if self.holds(e, names, cell):
                    part = full
                    for k, i in zip(keys, combo, strict=True):
                        part &= indicator(k, i)
                    mask |= part
            return mask

        def walk(e: Expr) -> int:
            return self._TRUTH.of(e)(e, walk, leaf, full)

        return [walk(e) for e in exprs]

    @staticmethod
    def _truth_all(e: Expr, walk: Callable[[Expr], int], leaf: Callable[[Expr], int], full: int) -> int:
        out = full
        for x in e.all.items:
            out &= walk(x)
        return out

    @staticmethod
    def _truth_any(e: Expr, walk: Callable[[Expr], int], leaf: Callable[[Expr], int], full: int) -> int:
        out = 0
        for x in e.any.items:
            out |= walk(x)
        return out

    # (node, walk, leaf, all cells) -> the node's cells: combinators combine bit sets, leaves go cell by cell.
    _TRUTH: Dispatch[Callable[[Expr, Callable[[Expr], int], Callable[[Expr], int], int], int]] = Dispatch(
        "domain.truth", {
            "constant": lambda e, walk, leaf, full: full if e.constant else 0,
            "all": _truth_all,
            "any": _truth_any,
            "not": lambda e, walk, leaf, full: full ^ walk(getattr(e, "not")),
            "in": lambda e, walk, leaf, full: leaf(e),
            "compare": lambda e, walk, leaf, full: leaf(e),
            "match": lambda e, walk, leaf, full: leaf(e),
            "present": lambda e, walk, leaf, full: leaf(e),
            "bucket": lambda e, walk, leaf, full: leaf(e),
            "flag": lambda e, walk, leaf, full: leaf(e),
        })

    @staticmethod
    def _reads(e: Expr, names: Sequence[str]) -> list[Any]:
        """The cell variables `holds` reads for `e`, each once."""
        return Space._READS.of(e)(e, names)

    @staticmethod
    def _reads_items(e: Expr, names: Sequence[str]) -> list[Any]:
        return list(dict.fromkeys(k for x in getattr(e, kind_of(e)).items for k in Space._reads(x, names)))

    @staticmethod
    def _reads_match(e: Expr, names: Sequence[str]) -> list[Any]:
        name = names[e.match.dim]
        return [name, ("match", e.match.SerializeToString(deterministic=True), name)]

    _READS: Dispatch[Callable[[Expr, Sequence[str]], list[Any]]] = Dispatch("domain.reads", {
        "constant": lambda e, names: [],
        "all": _reads_items,
        "any": _reads_items,
        "not": lambda e, names: Space._reads(getattr(e, "not"), names),
        "in": lambda e, names: [names[getattr(e, "in").dim]],
        "compare": lambda e, names: [names[e.compare.dim]],
        "match": _reads_match,
        "present": lambda e, names: [names[e.present.dim]],
        "bucket": lambda e, names: [names[e.bucket.unit], ("bucket", names[e.bucket.unit], e.bucket.salt)],
        "flag": lambda e, names: [("flag", e.flag.SerializeToString(deterministic=True))],
    })

    # --- evaluation -------------------------------------------------------
    def holds(self, e: Expr, names: Sequence[str], cell: Cell) -> bool:
        return self._HOLDS.of(e)(self, e, names, cell)

    def _holds_bucket(self, e: Expr, names: Sequence[str], cell: Cell) -> bool:
        unit = names[e.bucket.unit]
        if cell[unit] == ABSENT:
            return False
        lo = cell[("bucket", unit, e.bucket.salt)][1]
        return bool(e.bucket.lo <= lo < e.bucket.hi)

    def _holds_in(self, e: Expr, names: Sequence[str], cell: Cell) -> bool:
        node = getattr(e, "in")
        name = names[node.dim]
        state = cell[name]
        if state == ABSENT:
            return False
        dtype = self.dims[name].dtype
        if state[0] == "pos":
            return any(self._order[name][_plain(v, dtype)] == state[1] for v in node.values)
        return state[0] == "value" and state[1] in {_plain(v, dtype) for v in node.values}

    def _holds_compare(self, e: Expr, names: Sequence[str], cell: Cell) -> bool:
        node = e.compare
        name = names[node.dim]
        state = cell[name]
        if state == ABSENT:
            return False
        here, there = state[1], self._order[name][_operand(node)]
        compare = _COMPARE.get(node.op)
        return compare is not None and bool(compare(here, there))

    def _holds_match(self, e: Expr, names: Sequence[str], cell: Cell) -> bool:
        node = e.match
        name = names[node.dim]
        state = cell[name]
        if state == ABSENT:
            return False
        if state[0] == "value" and isinstance(state[1], str):
            return _match(node, state[1])
        return bool(cell[("match", node.SerializeToString(deterministic=True), name)][1])

    _HOLDS: Dispatch[Callable[[Space, Expr, Sequence[str], Cell], bool]] = Dispatch("domain.holds", {
        "constant": lambda self, e, names, cell: e.constant,
        "all": lambda self, e, names, cell: all(self.holds(x, names, cell) for x in e.all.items),
        "any": lambda self, e, names, cell: any(self.holds(x, names, cell) for x in e.any.items),
        "not": lambda self, e, names, cell: not self.holds(getattr(e, "not"), names, cell),
        "in": _holds_in,
        "compare": _holds_compare,
        "match": _holds_match,
        "present": lambda self, e, names, cell: cell[names[e.present.dim]] != ABSENT,
        "bucket": _holds_bucket,
        "flag": lambda self, e, names, cell: bool(cell[("flag", e.flag.SerializeToString(deterministic=True))][1]),
    })

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
        return regex.compiled(m.pattern, m.ignore_case).search(value)  # what the SDK answers, in linear time
    except regex.RegexError:
        return False
