"""How much traffic a flag change exposes, before and after, per static scope.

Two measures per cell of contexts, weighted by traffic:

- *changed*: the value served before differs from the value served after,
  whatever the flag's kind (a config value tuned, a migration moved, a unit
  that switches experiment arm, a re-bucketed rollout);
- *exposed*: served something other than the baseline, and *newly exposed*:
  moved by the change to a value that is neither what it had nor the
  baseline, so a rollback or a ramp-down never counts.

The baseline is the config default of the flag before the change. A flag the
change adds was served nothing before: services read their code default,
which for a release or experiment flag is *off* (`false` for a bool, else
its first variant), for a migration its first state, and for any other kind
its own default. So a new release flag created on for everyone is exposure
0 → 100 %, a skipped ramp, not 0 → 0.

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
from safeflags.v1 import bundle_pb2, common_pb2, spec_pb2
from safeflags.validation.domain import Cell, Space, Tree


@dataclass(frozen=True)
class ScopeExposure:
    dim: str  # "" for all traffic
    values: tuple[str, ...]  # the scope's values of `dim`; () for all traffic
    before: float
    after: float
    newly: float
    changed: float = 0.0

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
    changed: bool


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
    changed: float = 0.0
    baseline: bytes = b""  # the serialized Value exposure is measured from

    def newly_where(self, where: Mapping[str, frozenset[str]]) -> float:
        """Share of the traffic inside `where` (static dim -> allowed values)
        that is newly exposed."""
        return self.share_where(where, "newly")

    def share_where(self, where: Mapping[str, frozenset[str]], measure: str) -> float:
        """Share of the traffic inside `where` for which `measure` (a point
        attribute: newly, changed, exposed_before, exposed_after) holds."""
        total = hit = 0.0
        for p in self.points:
            frac = p.weight * self._inside(p.cell, where)
            total += frac
            hit += frac if getattr(p, measure) else 0.0
        return hit / total if total else 0.0

    def transitions(self) -> dict[tuple[bytes | None, bytes | None], float]:
        """Share of traffic per (served before, served after) pair of
        serialized Values; None where the flag does not exist on that side."""
        out: dict[tuple[bytes | None, bytes | None], float] = {}
        total = sum(p.weight for p in self.points)
        for p in self.points:
            out[(p.before, p.after)] = out.get((p.before, p.after), 0.0) + (p.weight / total if total else 0.0)
        return out

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
    spec: spec_pb2.FlagSpec | None = None,
) -> Exposure:
    """`before` and `after` are the flag as the compiler lowered it on each
    side (None where it does not exist); their gates are left out, as met.
    `spec` is the head's spec of an added flag (its kind sets the baseline)."""
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
    if before is not None:
        baseline = before.body.values[before.body.fallback].SerializeToString(deterministic=True)
    else:
        assert after is not None and spec is not None, "an added flag is judged from its spec's kind"
        baseline = starting_value(spec).SerializeToString(deterministic=True)
    points = []
    for cell, weight in space.cells():
        served = [_serve(space, f, n, cell) if f is not None else None for f, n in (x or (None, []) for x in flags)]
        b, a = served
        if b is None and a is not None:
            b = baseline  # a new flag: services served their code default
        eb, ea = b is not None and b != baseline, a is not None and a != baseline
        changed = b != a if a is not None else eb  # a removed flag: its units go back to the default
        points.append(_Point(cell, weight, b, a, eb, ea, ea and a != b, changed))
    static = tuple(sorted(d for d in space.dims if catalog.get(d) and catalog[d].static and catalog[d].type == "enum"))
    def share(attr: str, pts: list[_Point]) -> float:
        tot = sum(p.weight for p in pts)
        return sum(p.weight for p in pts if getattr(p, attr)) / tot if tot else 0.0

    def scope(dim: str, values: tuple[str, ...], pts: list[_Point]) -> ScopeExposure:
        before, after, newly, changed = (share(attr, pts)
                                         for attr in ("exposed_before", "exposed_after", "newly", "changed"))
        return ScopeExposure(dim, values, before, after, newly, changed)

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
    top = scopes[0]
    return Exposure(top.before, top.after, top.newly, tuple(scopes), tuple(points), static, catalog, top.changed,
                    baseline)


RELEASE_LIKE = (common_pb2.FLAG_KIND_RELEASE, common_pb2.FLAG_KIND_EXPERIMENT, common_pb2.FLAG_KIND_UNSPECIFIED)


def starting_value(spec: spec_pb2.FlagSpec) -> common_pb2.Value:
    """What services served before a new flag existed, as far as the flag
    says: off for a release or experiment flag (`false`, or its first
    variant), the first state of a migration, else its own default."""
    if spec.kind in RELEASE_LIKE or spec.kind == common_pb2.FLAG_KIND_MIGRATION:
        if spec.type == common_pb2.FLAG_TYPE_BOOL:
            return common_pb2.Value(bool_value=False)
        if spec.variants:
            return spec.variants[0].value
    return spec.default
