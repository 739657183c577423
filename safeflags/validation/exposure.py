"""How much traffic a flag change exposes, before and after, per static scope.

"Exposed" means served something other than the baseline: the config default
of the flag before the change (of the new flag, for an added one). A unit is
*newly exposed* when the change moves it to a value that is neither what it
had nor the baseline, so a rollback or a ramp-down never counts.

The estimate evaluates both compiled trees over a weighted partition of
contexts (safeflags.validation.domain): static enum dimensions by the
catalog's traffic weights (uniform where none), bucket ranges exactly (ramps
are sticky, so 5 % -> 25 % newly exposes 20 %, not 19 %). Assumptions, all
upper bounds or neutral: prerequisites and version requirements are met;
rules naming explicit units (an allow list, a pattern) reach a negligible
share; an ordered runtime dimension is equally likely in each interval its
rules cut out.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from safeflags.compile.config import DimensionConfig
from safeflags.compile.lower import LoweredFlag
from safeflags.v1 import bundle_pb2
from safeflags.validation.domain import Cell, Space, Tree


@dataclass(frozen=True)
class ScopeExposure:
    dim: str  # "" for all traffic
    values: tuple[str, ...]  # the scope's values of `dim`; () for all traffic
    before: float
    after: float
    newly: float

    @property
    def label(self) -> str:
        if not self.dim:
            return "all traffic"
        shown = ", ".join(self.values[:4]) + (f" +{len(self.values) - 4}" if len(self.values) > 4 else "")
        return f"{self.dim}: {shown}"


@dataclass(frozen=True)
class _Point:
    cell: Cell
    weight: float
    before: bytes | None
    after: bytes | None
    exposed_before: bool
    exposed_after: bool
    newly: bool


@dataclass(frozen=True)
class Exposure:
    """Shares of traffic in [0, 1]."""

    before: float
    after: float
    newly: float
    scopes: tuple[ScopeExposure, ...]
    points: tuple[_Point, ...]
    static_dims: tuple[str, ...]
    catalog: Mapping[str, DimensionConfig]

    def newly_where(self, where: Mapping[str, frozenset[str]]) -> float:
        """Share of the traffic inside `where` (static dim -> allowed values)
        that is newly exposed."""
        total = hit = 0.0
        for p in self.points:
            frac = p.weight * self._inside(p.cell, where)
            total += frac
            hit += frac if p.newly else 0.0
        return hit / total if total else 0.0

    def _inside(self, cell: Cell, where: Mapping[str, frozenset[str]]) -> float:
        frac = 1.0
        for dim, allowed in where.items():
            state = cell.get(dim)
            conf = self.catalog.get(dim)
            if state is None:  # the flag does not look at `dim`: spread evenly by weight
                frac *= _share(conf, allowed, None)
            elif state[0] == "value":
                frac *= 1.0 if state[1] in allowed else 0.0
            elif state[0] == "other":
                frac *= _share(conf, allowed, state[1])
        return frac


def _share(conf: DimensionConfig | None, allowed: frozenset[str], among: frozenset[str] | None) -> float:
    if conf is None or not conf.values:
        return 1.0
    values = [v for v in conf.values if among is None or v in among]
    total = sum(conf.weights.values())
    w = {v: (conf.weights.get(v, 0.0) if total else 1.0) for v in values}
    denom = sum(w.values())
    return sum(w[v] for v in values if v in allowed) / denom if denom else 0.0


def _serve(space: Space, flag: bundle_pb2.CompiledFlag, names: Sequence[str], cell: Cell) -> bytes:
    index = flag.fallback
    if not flag.disabled:
        for rule in flag.rules:
            if space.holds(rule.when, names, cell):
                if rule.HasField("split"):
                    b = space.bucket_of(rule.split, names, cell)
                    index = next((a.value for a in rule.split.arms if b < a.upper), rule.split.arms[-1].value)
                else:
                    index = rule.value
                break
    return flag.values[index].SerializeToString(deterministic=True)


def estimate(
    before: LoweredFlag | None,
    after: LoweredFlag | None,
    before_dims: Mapping[str, DimensionConfig],
    after_dims: Mapping[str, DimensionConfig],
) -> Exposure:
    """`before` and `after` are the flag as the compiler lowered it on each
    side (None where it does not exist); their gates are left out, as met."""
    catalog = {**before_dims, **after_dims}
    space = Space(catalog, weighted=True)
    flags: list[tuple[bundle_pb2.CompiledFlag, Sequence[str]] | None] = []
    for lowered in (before, after):
        if lowered is None:
            flags.append(None)
            continue
        flag, names = lowered.body, lowered.names
        flags.append((flag, names))
        if flag.disabled:
            continue  # it serves its default whatever its rules say
        for rule in flag.rules:
            space.add(Tree(rule.when, names))
            if rule.HasField("split"):
                space.add_split(rule.split, names)
    first = before if before is not None else after
    assert first is not None
    baseline = first.body.values[first.body.fallback].SerializeToString(deterministic=True)
    points = []
    for cell, weight in space.cells():
        served = [_serve(space, f, n, cell) if f is not None else None for f, n in (x or (None, []) for x in flags)]
        b, a = served
        eb, ea = b is not None and b != baseline, a is not None and a != baseline
        points.append(_Point(cell, weight, b, a, eb, ea, ea and a != b))
    static = tuple(sorted(d for d in space.dims if catalog.get(d) and catalog[d].static and catalog[d].type == "enum"))
    def share(attr: str, pts: list[_Point]) -> float:
        tot = sum(p.weight for p in pts)
        return sum(p.weight for p in pts if getattr(p, attr)) / tot if tot else 0.0

    def scope(dim: str, values: tuple[str, ...], pts: list[_Point]) -> ScopeExposure:
        before, after, newly = (share(attr, pts) for attr in ("exposed_before", "exposed_after", "newly"))
        return ScopeExposure(dim, values, before, after, newly)

    scopes = [scope("", (), points)]
    for dim in static:
        groups: dict[tuple[str, ...], list[_Point]] = {}
        for p in points:
            state = p.cell[dim]
            values = (state[1],) if state[0] == "value" else tuple(v for v in catalog[dim].values if v in state[1])
            groups.setdefault(values, []).append(p)
        order = catalog[dim].values
        for values in sorted(groups, key=lambda vs: order.index(vs[0]) if vs and vs[0] in order else 0):
            scopes.append(scope(dim, values, groups[values]))
    return Exposure(scopes[0].before, scopes[0].after, scopes[0].newly, tuple(scopes), tuple(points), static, catalog)
