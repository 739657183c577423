"""Build bundles straight from the protobuf schema, the way the compiler
emits them, so SDK tests need no compiler."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from safeflags.v1 import bundle_pb2, common_pb2

Expr = bundle_pb2.Expr
C = bundle_pb2.Compare
M = bundle_pb2.Match
D = common_pb2

DIM_TYPES = {
    "string": D.DIMENSION_TYPE_STRING, "enum": D.DIMENSION_TYPE_ENUM, "int": D.DIMENSION_TYPE_INT,
    "float": D.DIMENSION_TYPE_FLOAT, "bool": D.DIMENSION_TYPE_BOOL, "semver": D.DIMENSION_TYPE_SEMVER,
    "timestamp": D.DIMENSION_TYPE_TIMESTAMP,
}
FLAG_TYPES = {"bool": D.FLAG_TYPE_BOOL, "string": D.FLAG_TYPE_STRING, "int": D.FLAG_TYPE_INT,
              "float": D.FLAG_TYPE_FLOAT, "json": D.FLAG_TYPE_JSON}
OPS = {"<": C.OP_LT, "<=": C.OP_LE, ">": C.OP_GT, ">=": C.OP_GE, "==": C.OP_EQ}
KINDS = {"number": C.KIND_NUMBER, "semver": C.KIND_SEMVER, "timestamp": C.KIND_TIMESTAMP}
MATCH_OPS = {"prefix": M.OP_PREFIX, "suffix": M.OP_SUFFIX, "contains": M.OP_CONTAINS, "regex": M.OP_REGEX}
REASONS = {"match": bundle_pb2.RULE_REASON_TARGETING_MATCH, "split": bundle_pb2.RULE_REASON_SPLIT,
           "default": bundle_pb2.RULE_REASON_DEFAULT, "": bundle_pb2.RULE_REASON_UNSPECIFIED}

# (name, type, static): the catalog most tests use.
CATALOG: list[tuple[str, str, bool]] = [
    ("country", "enum", False),
    ("plan", "string", False),
    ("age", "int", False),
    ("score", "float", False),
    ("beta", "bool", False),
    ("app_version", "semver", False),
    ("signup", "timestamp", False),
    ("user_id", "string", False),
    ("region", "string", True),
    ("env", "enum", True),
    ("service_version", "semver", True),
    ("tier", "int", True),
]


class Json:
    """Marks a value as a JSON value (stored as canonical text)."""

    def __init__(self, value: object):
        self.value = value


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def val(x: object) -> common_pb2.Value:
    if isinstance(x, Json):
        return common_pb2.Value(json_value=canonical(x.value))
    if type(x) is bool:
        return common_pb2.Value(bool_value=x)
    if type(x) is str:
        return common_pb2.Value(string_value=x)
    if type(x) is int:
        return common_pb2.Value(int_value=x)
    if type(x) is float:
        return common_pb2.Value(float_value=x)
    raise TypeError(f"no Value for {x!r}")


class Builder:
    """Expressions and flags over one catalog, with an interned string table."""

    def __init__(self, catalog: Sequence[tuple[str, str, bool]] = CATALOG):
        self.dims = [common_pb2.Dimension(name=n, type=DIM_TYPES[t], static=s) for n, t, s in catalog]
        self.index = {d.name: i for i, d in enumerate(self.dims)}
        self.strings: list[str] = []

    def intern(self, s: str) -> int:
        if s not in self.strings:
            self.strings.append(s)
        return self.strings.index(s)

    # -- expressions --------------------------------------------------------
    def const(self, value: bool) -> Expr:
        return Expr(constant=value)

    def all_(self, *items: Expr) -> Expr:
        e = Expr()
        e.all.items.extend(items)
        return e

    def any_(self, *items: Expr) -> Expr:
        e = Expr()
        e.any.items.extend(items)
        return e

    def not_(self, item: Expr) -> Expr:
        e = Expr()
        getattr(e, "not").CopyFrom(item)
        return e

    def in_(self, dim: str, *members: object) -> Expr:
        s = bundle_pb2.InSet(dim=self.index[dim])
        for m in members:
            if type(m) is str:
                s.strings.append(self.intern(m))
            else:
                s.values.append(val(m))
        return Expr(**{"in": s})

    def cmp(self, dim: str, op: str, operand: float | str, kind: str = "number") -> Expr:
        c = C(dim=self.index[dim], op=OPS[op], kind=KINDS[kind])
        if kind == "semver":
            c.text = str(operand)
        else:
            c.number = float(operand)
        return Expr(compare=c)

    def match(self, dim: str, op: str, pattern: str, ignore_case: bool = False) -> Expr:
        return Expr(match=M(dim=self.index[dim], op=MATCH_OPS[op], pattern=pattern, ignore_case=ignore_case))

    def present(self, dim: str) -> Expr:
        return Expr(present=bundle_pb2.Present(dim=self.index[dim]))

    def bucket(self, unit: str, salt: str, lo: int, hi: int) -> Expr:
        return Expr(bucket=bundle_pb2.Bucket(unit=self.index[unit], salt=salt, lo=lo, hi=hi))

    def flag_is(self, key: str, value: object) -> Expr:
        return Expr(flag=bundle_pb2.FlagIs(key=key, value=val(value)))

    # -- flags --------------------------------------------------------------
    def rule(self, when: Expr, value: int | None = None, split: bundle_pb2.SplitOutcome | None = None,
             reason: str = "match", label: str = "", line: int = 0) -> bundle_pb2.Rule:
        r = bundle_pb2.Rule(when=when, reason=REASONS[reason], label=label, line=line)
        if split is not None:
            r.split.CopyFrom(split)
        else:
            r.value = value or 0
        return r

    def split(self, unit: str, salt: str, arms: Iterable[tuple[int, int]]) -> bundle_pb2.SplitOutcome:
        return bundle_pb2.SplitOutcome(
            unit=self.index[unit], salt=salt,
            arms=[bundle_pb2.SplitArmOutcome(value=v, upper=u) for v, u in arms])

    def flag(self, key: str, type: str, values: Sequence[object], rules: Iterable[bundle_pb2.Rule] = (),
             fallback: int = 0, disabled: bool = False, variants: Sequence[str] = (),
             file: str = "", line: int = 0) -> bundle_pb2.CompiledFlag:
        return bundle_pb2.CompiledFlag(
            key=key, type=FLAG_TYPES[type], values=[val(v) for v in values], variants=list(variants),
            rules=list(rules), fallback=fallback, disabled=disabled, file=file, line=line)

    def bundle(self, flags: Iterable[bundle_pb2.CompiledFlag], format_version: int = 1,
               source_revision: str = "abc123", compiler_version: str = "0.1.0") -> bundle_pb2.Bundle:
        return bundle_pb2.Bundle(
            format_version=format_version, source_revision=source_revision, compiler_version=compiler_version,
            dimensions=self.dims, flags=sorted(flags, key=lambda f: f.key), strings=self.strings)

    def data(self, flags: Iterable[bundle_pb2.CompiledFlag], **kw: object) -> bytes:
        return self.bundle(flags, **kw).SerializeToString(deterministic=True)  # type: ignore[arg-type]
