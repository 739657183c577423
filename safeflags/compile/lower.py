"""Stage 3: lower a semantic FlagSpec to a CompiledFlag of boolean expression trees.

The evaluation order (docs/flag-schema.md, "Evaluation order") becomes an
ordered rule list:

    gate (unmet prerequisite / version requirement) -> fallback, DEFAULT
    override 1..n                                   -> value or split
    current rollout stage (scope and bucket range)  -> rollout value, SPLIT
    otherwise                                       -> fallback (the config default)

`enabled: false` marks the flag disabled; the SDK then serves the fallback.

`Lowerer.lower` does the work once and keeps the parts apart (`LoweredFlag`):
the rules without the gate, the gate, and each condition as written. The
bundle's form is put together from them; validators read the parts.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from safeflags.compile.config import DimensionConfig, dimension_index, dimension_names
from safeflags.sdk.kernel import timestamps
from safeflags.sdk.kernel.bucketing import percent_to_bound
from safeflags.v1 import bundle_pb2, common_pb2, spec_pb2

C = spec_pb2.Condition
E = bundle_pb2.Expr
CMP = bundle_pb2.Compare
MATCH = bundle_pb2.Match
_CMP_OPS = {C.OP_LT: CMP.OP_LT, C.OP_LE: CMP.OP_LE, C.OP_GT: CMP.OP_GT, C.OP_GE: CMP.OP_GE}
_MATCH_OPS = {
    C.OP_PREFIX: MATCH.OP_PREFIX, C.OP_SUFFIX: MATCH.OP_SUFFIX,
    C.OP_CONTAINS: MATCH.OP_CONTAINS, C.OP_REGEX: MATCH.OP_REGEX,
}


def const(value: bool) -> bundle_pb2.Expr:
    return E(constant=value)


def all_of(items: list[bundle_pb2.Expr]) -> bundle_pb2.Expr:
    return items[0] if len(items) == 1 else E(all=bundle_pb2.ExprList(items=items))


def any_of(items: list[bundle_pb2.Expr]) -> bundle_pb2.Expr:
    return items[0] if len(items) == 1 else E(any=bundle_pb2.ExprList(items=items))


def not_(item: bundle_pb2.Expr) -> bundle_pb2.Expr:
    return E(**{"not": item})


@dataclass(frozen=True)
class LoweredFlag:
    """One flag lowered once, in parts.

    `body` has the value table and the rules of the overrides and of the
    current rollout stage, lowered whether or not the flag is switched on
    (`body.disabled` says which), and no gate. `gate` is the rule an unmet
    prerequisite or version requirement matches first (None without one, or
    when the flag is switched off). `overrides` and `scopes` are each
    override's `when` and each rollout stage's `scope` (None where a stage has
    none), as written. Dimension indexes refer to `names`."""

    body: bundle_pb2.CompiledFlag
    gate: bundle_pb2.Rule | None
    overrides: tuple[bundle_pb2.Expr, ...]
    scopes: tuple[bundle_pb2.Expr | None, ...]
    names: tuple[str, ...]

    def compiled(self) -> bundle_pb2.CompiledFlag:
        """The flag as the bundle carries it, before optimisation: the gate
        first; switched off, no rules and only the default in its table."""
        body = self.body
        if body.disabled:
            out = bundle_pb2.CompiledFlag(key=body.key, type=body.type, fallback=0, disabled=True,
                                          file=body.file, line=body.line)
            out.values.append(body.values[body.fallback])
            out.variants.append(body.variants[body.fallback])
            return out
        out = bundle_pb2.CompiledFlag()
        out.CopyFrom(body)
        if self.gate is not None:
            del out.rules[:]
            out.rules.append(self.gate)
            out.rules.extend(body.rules)
        return out


class Lowerer:
    """Lowers flags against one dimension catalog (name -> index, type)."""

    def __init__(self, dimensions: Mapping[str, DimensionConfig]):
        self.dims = dimensions
        self.names = dimension_names(dimensions)
        self.index = dimension_index(dimensions)

    def condition(self, c: spec_pb2.Condition, flag_key: str) -> bundle_pb2.Expr:
        op = c.op
        if op == C.OP_ALWAYS:
            return const(True)
        if op == C.OP_NEVER:
            return const(False)
        if op == C.OP_ALL:
            return E(all=bundle_pb2.ExprList(items=[self.condition(x, flag_key) for x in c.of]))
        if op == C.OP_ANY:
            return E(any=bundle_pb2.ExprList(items=[self.condition(x, flag_key) for x in c.of]))
        if op == C.OP_NOT:
            return not_(self.condition(c.of[0], flag_key))
        if op == C.OP_FLAG:
            return E(flag=bundle_pb2.FlagIs(key=c.flag, value=c.value))
        dim = self.index[c.dim]
        dtype = self.dims[c.dim].type
        if op in (C.OP_IN, C.OP_NOT_IN):
            expr = self.member(dim, dtype, list(c.values))
            return expr if op == C.OP_IN else all_of([E(present=bundle_pb2.Present(dim=dim)), not_(expr)])
        if op in _CMP_OPS:
            return self.compare(dim, dtype, _CMP_OPS[op], c.value)
        if op in _MATCH_OPS:
            return E(match=bundle_pb2.Match(
                dim=dim, op=_MATCH_OPS[op], pattern=c.value.string_value, ignore_case=c.ignore_case))
        if op == C.OP_PRESENT:
            return E(present=bundle_pb2.Present(dim=dim))
        if op == C.OP_PERCENT:
            return self.bucket(dim, c.salt or flag_key, c.percent)
        raise AssertionError(f"unknown condition op {op}")  # the parser admits no other

    def member(self, dim: int, dtype: str, values: list[common_pb2.Value]) -> bundle_pb2.Expr:
        if dtype in ("semver", "timestamp"):
            # Equality of versions/instants is by meaning ("2.1" == "2.1.0"), not by text.
            return any_of([self.compare(dim, dtype, CMP.OP_EQ, v) for v in values])
        if dtype == "float":
            values = [common_pb2.Value(float_value=float(getattr(v, v.WhichOneof("kind")))) for v in values]
        return E(**{"in": bundle_pb2.InSet(dim=dim, values=values)})

    def compare(self, dim: int, dtype: str, op: int, value: common_pb2.Value) -> bundle_pb2.Expr:
        if dtype == "semver":
            return E(compare=bundle_pb2.Compare(dim=dim, op=op, kind=CMP.KIND_SEMVER, text=value.string_value))  # type: ignore[arg-type]
        if dtype == "timestamp":
            raw = getattr(value, value.WhichOneof("kind"))
            epoch = timestamps.to_epoch(raw)
            return E(compare=bundle_pb2.Compare(dim=dim, op=op, kind=CMP.KIND_TIMESTAMP, number=epoch or 0.0))  # type: ignore[arg-type]
        number = float(getattr(value, value.WhichOneof("kind")))
        return E(compare=bundle_pb2.Compare(dim=dim, op=op, kind=CMP.KIND_NUMBER, number=number))  # type: ignore[arg-type]

    def bucket(self, dim: int, salt: str, percent: float) -> bundle_pb2.Expr:
        hi = percent_to_bound(percent)
        if hi == 0:
            return const(False)
        return E(bucket=bundle_pb2.Bucket(unit=dim, salt=salt, lo=0, hi=hi))

    # --- whole flags ------------------------------------------------------
    def flag(self, spec: spec_pb2.FlagSpec) -> bundle_pb2.CompiledFlag:
        return self.lower(spec).compiled()

    def lower(self, spec: spec_pb2.FlagSpec) -> LoweredFlag:
        table = _ValueTable(spec)
        body = bundle_pb2.CompiledFlag(
            key=spec.key, type=spec.type, fallback=table.index(spec.default), disabled=not spec.enabled,
            file=spec.location.file, line=spec.location.line,
        )
        overrides = tuple(self.condition(o.when, spec.key) for o in spec.overrides)
        for i, (o, when) in enumerate(zip(spec.overrides, overrides, strict=True)):
            self.rule(body, spec, table, when, o.serve, bundle_pb2.RULE_REASON_TARGETING_MATCH,
                      o.location.line, f"override {i + 1}" + (f": {o.description}" if o.description else ""))
        r = spec.rollout
        scopes = tuple(self.condition(st.scope, spec.key) if st.HasField("scope") else None for st in r.stages)
        if spec.HasField("rollout") and r.stage > 0:
            stage, scope = r.stages[r.stage - 1], scopes[r.stage - 1]
            parts = [scope] if scope is not None else []
            if stage.percent < 100:
                parts.append(self.bucket(self.index[r.unit], r.salt or spec.key, stage.percent))
            when = all_of(parts) if parts else const(True)
            name = f" ({stage.name})" if stage.name else ""
            self.rule(body, spec, table, when, r.serve, bundle_pb2.RULE_REASON_SPLIT, r.location.line,
                      f"rollout stage {r.stage}/{len(r.stages)}{name}", split_reason=True)
        body.values.extend(table.values)
        body.variants.extend(table.variants)
        gate = self.gate(spec) if spec.enabled else None  # switched off, the flag serves its default anyway
        rule = None if gate is None else bundle_pb2.Rule(
            when=not_(gate), value=body.fallback, reason=bundle_pb2.RULE_REASON_DEFAULT,
            line=_line(spec.prerequisites, spec.requires), label="prerequisites/requires")
        return LoweredFlag(body, rule, overrides, scopes, self.names)

    def gate(self, spec: spec_pb2.FlagSpec) -> bundle_pb2.Expr | None:
        parts = [E(flag=bundle_pb2.FlagIs(key=p.flag, value=p.value)) for p in spec.prerequisites]
        if spec.requires:
            service, version = self.index["service"], self.index["service_version"]
            for req in spec.requires:
                svc = self.member(service, self.dims["service"].type, [common_pb2.Value(string_value=req.service)])
                other = all_of([E(present=bundle_pb2.Present(dim=service)), not_(svc)])
                new_enough = E(compare=bundle_pb2.Compare(
                    dim=version, op=CMP.OP_GE, kind=CMP.KIND_SEMVER, text=req.min_version))
                parts.append(any_of([other, new_enough]))
        return all_of(parts) if parts else None

    def rule(self, out: bundle_pb2.CompiledFlag, spec: spec_pb2.FlagSpec, table: _ValueTable, when: bundle_pb2.Expr,
             serve: spec_pb2.Serve, reason: int, line: int, label: str, split_reason: bool = False) -> None:
        kind = serve.WhichOneof("kind")
        if kind == "split":
            s = serve.split
            unit = self.index[s.unit]
            arms, upper = [], 0.0
            for arm in s.arms:
                upper += arm.weight
                arms.append(bundle_pb2.SplitArmOutcome(value=table.variant(arm.variant), upper=percent_to_bound(upper)))
            arms[-1].upper = percent_to_bound(100)
            when = all_of([when, E(present=bundle_pb2.Present(dim=unit))])
            out.rules.add(when=when, split=bundle_pb2.SplitOutcome(unit=unit, salt=s.salt or spec.key, arms=arms),
                          reason=bundle_pb2.RULE_REASON_SPLIT, line=line, label=label)
            return
        idx = table.index(serve.value) if kind == "value" else table.variant(serve.variant)
        out.rules.add(when=when, value=idx, reason=bundle_pb2.RULE_REASON_SPLIT if split_reason else reason,
                      line=line, label=label)


class _ValueTable:
    """Distinct values in first-use order, each with its variant name."""

    def __init__(self, spec: spec_pb2.FlagSpec):
        self.values: list[common_pb2.Value] = []
        self.variants: list[str] = []
        self._index: dict[bytes, int] = {}
        self._by_name = {v.name: v.value for v in spec.variants}
        self._name_of = {v.value.SerializeToString(deterministic=True): v.name for v in spec.variants}

    def index(self, value: common_pb2.Value) -> int:
        raw = value.SerializeToString(deterministic=True)
        idx = self._index.get(raw)
        if idx is None:
            idx = self._index[raw] = len(self.values)
            self.values.append(value)
            self.variants.append(self._name_of.get(raw, ""))
        return idx

    def variant(self, name: str) -> int:
        return self.index(self._by_name[name])


def _line(*groups: object) -> int:
    for group in groups:
        for item in group:  # type: ignore[attr-defined]
            if item.location.line:
                return int(item.location.line)
    return 0
