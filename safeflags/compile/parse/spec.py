"""Stage 2: a flag file's JSON -> the semantic `FlagSpec` protobuf.

Checks structure (model.py), then types every value against the flag type
and every condition against the dimension catalog, collecting all errors
with their file, field path and traced line.
"""
from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from safeflags.compile.config import DimType, RepoConfig
from safeflags.compile.parse import model as m
from safeflags.compile.parse import regex
from safeflags.compile.parse.locate import Locator
from safeflags.compile.suggest import did_you_mean
from safeflags.sdk.kernel import semver, timestamps
from safeflags.source.errors import SourceError
from safeflags.v1 import common_pb2, spec_pb2

FLAG_TYPES = {
    "bool": common_pb2.FLAG_TYPE_BOOL,
    "string": common_pb2.FLAG_TYPE_STRING,
    "int": common_pb2.FLAG_TYPE_INT,
    "float": common_pb2.FLAG_TYPE_FLOAT,
    "json": common_pb2.FLAG_TYPE_JSON,
}
KINDS = {
    "release": common_pb2.FLAG_KIND_RELEASE,
    "operational": common_pb2.FLAG_KIND_OPERATIONAL,
    "experiment": common_pb2.FLAG_KIND_EXPERIMENT,
    "migration": common_pb2.FLAG_KIND_MIGRATION,
    "config": common_pb2.FLAG_KIND_CONFIG,
}
C = spec_pb2.Condition
OPS = {
    "always": C.OP_ALWAYS, "never": C.OP_NEVER, "in": C.OP_IN, "not_in": C.OP_NOT_IN,
    "lt": C.OP_LT, "le": C.OP_LE, "gt": C.OP_GT, "ge": C.OP_GE,
    "prefix": C.OP_PREFIX, "suffix": C.OP_SUFFIX, "contains": C.OP_CONTAINS, "regex": C.OP_REGEX,
    "present": C.OP_PRESENT, "all": C.OP_ALL, "any": C.OP_ANY, "not": C.OP_NOT,
    "percent": C.OP_PERCENT, "flag": C.OP_FLAG,
}

FieldPath = tuple[str | int, ...]

# What each literal kind accepts (safeflags/sdk/kernel/timestamps.py and semver.py).
DATE_HINT = "write a real day as YYYY-MM-DD, e.g. 2027-03-01"
# A stage's bake: whole seconds, minutes, hours or days (what `safeflags schedule` reads), or 0.
DURATION = re.compile(r"(0|[0-9]+[smhd])\Z")
DURATION_HINT = "write a whole number and a unit, e.g. 30m, 24h, 7d (s, m, h, d), or 0"
TIMESTAMP_HINT = "write RFC 3339 with its offset, e.g. 2027-03-01T09:00:00Z, or a date alone (midnight UTC)"
SEMVER_HINT = "write semver 2.0.0 in full, e.g. 2.14.0 or 2.14.0-rc.1 (no leading zeros, no 'v', all three parts)"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_value(flag_type: str, value: Any) -> common_pb2.Value:
    if flag_type == "json":
        return common_pb2.Value(json_value=canonical_json(value))
    if isinstance(value, bool):
        return common_pb2.Value(bool_value=value)
    if isinstance(value, str):
        return common_pb2.Value(string_value=value)
    if flag_type == "int" or (isinstance(value, int) and flag_type != "float"):
        return common_pb2.Value(int_value=int(value))
    return common_pb2.Value(float_value=float(value))


def type_ok(flag_type: str, value: Any) -> bool:
    if flag_type == "bool":
        return isinstance(value, bool)
    if flag_type == "string":
        return isinstance(value, str)
    if flag_type == "int":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer() and abs(value) < 2**63
        )
    if flag_type == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


class _Checker:
    def __init__(self, rel: str, key: str, config: RepoConfig, loc: Locator):
        self.rel, self.key, self.config, self.loc = rel, key, config, loc
        self.errors: list[SourceError] = []

    def error(self, path: FieldPath, message: str, code: str, value: Any = None, hint: str | None = None) -> None:
        line, col = self.loc.locate(path, value)
        self.errors.append(
            SourceError(self.rel, line, col, message, stage="parse", code=code, hint=hint, field_path=_fmt(path))
        )

    # -- values ------------------------------------------------------------
    def value(self, path: FieldPath, flag_type: str, value: Any) -> None:
        if not type_ok(flag_type, value):
            self.error(path, f"{_show(value)} is not {_article(flag_type)} {flag_type} value "
                             f"(the flag's type is {flag_type})", "SF103", value)

    # -- conditions --------------------------------------------------------
    def dim(self, path: FieldPath, name: str) -> DimType | None:
        d = self.config.dimensions.get(name)
        if d is None:
            hint = did_you_mean(name, self.config.dimensions)
            self.error(
                (*path, "dim"), f"undeclared dimension {name!r}", "SF104", name,
                hint=f"did you mean {hint!r}?" if hint else "declare it under dimensions: in safeflags.yaml",
            )
            return None
        return d.type

    def dim_value(self, path: FieldPath, name: str, value: Any) -> None:
        d = self.config.dimensions[name]
        ok = {
            "string": isinstance(value, str),
            "enum": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "semver": isinstance(value, str) and semver.is_strict(value),
            "timestamp": timestamps.to_epoch(value) is not None and not isinstance(value, bool),
        }[d.type]
        if not ok:
            self.error(path, f"{_show(value)} is not {_article(d.type)} {d.type} value, as dimension {name!r} needs",
                       "SF103", value, hint={"semver": SEMVER_HINT, "timestamp": TIMESTAMP_HINT}.get(d.type))
        elif d.type == "enum" and value not in d.values:
            hint = did_you_mean(value, d.values)
            self.error(
                path, f"{value!r} is not a value of dimension {name!r}", "SF105", value,
                hint=f"did you mean {hint!r}?" if hint else "values: " + ", ".join(d.values),
            )

    def condition(self, path: FieldPath, c: Any) -> None:
        if isinstance(c, (m.AllAnyCond, m.NotCond)):
            for i, sub in enumerate(c.of):
                self.condition((*path, "of", i), sub)
            return
        if isinstance(c, m.FlagCond):
            if not re.match(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", c.flag):
                self.error((*path, "flag"), f"{c.flag!r} is not a flag key", "SF102", c.flag)
            return
        if isinstance(c, m.ConstCond):
            return
        dtype = self.dim(path, c.dim)
        if dtype is None:
            return
        if isinstance(c, m.InCond):
            for i, v in enumerate(c.values):
                self.dim_value((*path, "values", i), c.dim, v)
        elif isinstance(c, m.CompareCond):
            if dtype not in ("int", "float", "semver", "timestamp"):
                self.error((*path, "op"), f"{c.op!r} needs an ordered dimension; {c.dim!r} is {dtype}", "SF103", c.op)
            else:
                self.dim_value((*path, "value"), c.dim, c.value)
        elif isinstance(c, m.MatchCond):
            if dtype not in ("string", "enum"):
                self.error((*path, "op"), f"{c.op!r} needs a string dimension; {c.dim!r} is {dtype}", "SF103", c.op)
            if c.op == "regex":
                why = regex.check(c.value, c.ignore_case)
                if why is not None:
                    self.error((*path, "value"), f"regex {c.value!r} refused: {why}", "SF109", c.value)
        elif isinstance(c, m.PercentCond):
            self.unit((*path, "dim"), c.dim)

    def unit(self, path: FieldPath, name: str) -> None:
        dtype = self.dim(path[:-1], name) if path[-1] == "dim" else self.dim(path, name)
        if dtype is not None and dtype not in ("string", "enum", "int"):
            self.error(path, f"bucketing unit {name!r} must be a string or int dimension, not {dtype}", "SF103", name)

    def serve(self, path: FieldPath, flag: m.FlagModel, serve: Any) -> None:
        names = {v.name for v in flag.variants}
        if isinstance(serve, m.ServeValue):
            self.value((*path, "value"), flag.type, serve.value)
        elif isinstance(serve, m.ServeVariant):
            if serve.variant not in names:
                self._unknown_variant((*path, "variant"), serve.variant, names)
        else:
            self.unit((*path, "split", "unit"), serve.split.unit)
            for i, arm in enumerate(serve.split.arms):
                if arm.variant not in names:
                    self._unknown_variant((*path, "split", "arms", i, "variant"), arm.variant, names)
            total = sum(a.weight for a in serve.split.arms)
            if abs(total - 100) > 1e-9:
                self.error((*path, "split", "arms"), f"split weights sum to {total:g} %, not 100 %", "SF204")

    def _unknown_variant(self, path: FieldPath, name: str, names: set[str]) -> None:
        hint = did_you_mean(name, names)
        self.error(
            path, f"unknown variant {name!r}", "SF102", name,
            hint=f"did you mean {hint!r}?" if hint else (
                "variants: " + ", ".join(sorted(names)) if names else "declare variants first"),
        )

    def dates(self, flag: m.FlagModel) -> None:
        """The date fields name real days (not month 13, not February 30th)."""
        for name in ("expires", "fully_rolled_out_since"):
            text = getattr(flag, name)
            if text is not None and timestamps.calendar_date(text) is None:
                self.error((name,), f"{text!r} is not a calendar date", "SF109", text, hint=DATE_HINT)

    def flag(self, flag: m.FlagModel) -> None:
        if flag.key is not None and flag.key != self.key:
            self.error(("key",), f"key {flag.key!r} does not match the file's path (which makes it {self.key!r})",
                       "SF106", flag.key)
        self.value(("default",), flag.type, flag.default)
        self.dates(flag)
        seen_names: set[str] = set()
        seen_values: set[str] = set()
        for i, v in enumerate(flag.variants):
            self.value(("variants", i, "value"), flag.type, v.value)
            if v.name in seen_names:
                self.error(("variants", i, "name"), f"duplicate variant name {v.name!r}", "SF102", v.name)
            canon = canonical_json(v.value)
            if canon in seen_values:
                self.error(("variants", i, "value"), f"variant {v.name!r} repeats the value of another variant",
                           "SF102", v.value)
            seen_names.add(v.name)
            seen_values.add(canon)
        for i, o in enumerate(flag.overrides):
            self.condition(("overrides", i, "when"), o.when)
            self.serve(("overrides", i, "serve"), flag, o.serve)
        if flag.rollout is not None:
            r = flag.rollout
            if r.stage > len(r.stages):
                self.error(("rollout", "stage"),
                           f"stage {r.stage} does not exist: the rollout has {len(r.stages)} stages", "SF102", r.stage)
            self.unit(("rollout", "unit"), r.unit)
            for i, st in enumerate(r.stages):
                if st.scope is not None:
                    self.condition(("rollout", "stages", i, "scope"), st.scope)
                if st.not_before is not None and timestamps.to_epoch(st.not_before) is None:
                    self.error(("rollout", "stages", i, "not_before"), f"{st.not_before!r} is not a timestamp",
                               "SF109", st.not_before, hint=TIMESTAMP_HINT)
                if st.bake is not None and not DURATION.match(st.bake):
                    self.error(("rollout", "stages", i, "bake"), f"{st.bake!r} is not a duration", "SF109",
                               st.bake, hint=DURATION_HINT)
            if r.serve is None:
                if flag.type != "bool":
                    self.error(("rollout", "serve"),
                               f"a {flag.type} flag's rollout must say what it serves (serve: {{value: ...}})", "SF102")
            else:
                self.serve(("rollout", "serve"), flag, r.serve)
        for i, p in enumerate(flag.prerequisites):
            if not re.match(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", p.flag):
                self.error(("prerequisites", i, "flag"), f"{p.flag!r} is not a flag key", "SF102", p.flag)
            if p.flag == self.key:
                self.error(("prerequisites", i, "flag"), "a flag cannot be its own prerequisite", "SF203", p.flag)
        for i, req in enumerate(flag.requires):
            if not semver.is_strict(req.min_version):
                self.error(("requires", i, "min_version"), f"{req.min_version!r} is not a semantic version",
                           "SF109", req.min_version, hint=SEMVER_HINT)
        for dim in ("service", "service_version"):
            if flag.requires and dim not in self.config.dimensions:
                self.error(("requires",), f"'requires' needs the dimension {dim!r} in safeflags.yaml", "SF104")
        if flag.bounds is not None and flag.type not in ("int", "float"):
            self.error(("bounds",), f"bounds apply to int and float flags, not {flag.type}", "SF102")
        if flag.schema_ is not None and flag.type != "json":
            self.error(("schema",), f"schema applies to json flags, not {flag.type}", "SF102")


def parse_flag(rel: str, key: str, data: Any, source: str, config: RepoConfig, *,
               locator: Locator | None = None) -> tuple[spec_pb2.FlagSpec | None, list[SourceError]]:
    """Check one flag's JSON and build its FlagSpec; all errors, located.
    `locator`, when given, is `Locator(source)` already made (the caller keeps
    it for the validators, so the file is indexed once)."""
    loc = locator if locator is not None else Locator(source)
    checker = _Checker(rel, key, config, loc)
    if not isinstance(data, dict):
        checker.error((), f"a flag file must evaluate to an object, not {type(data).__name__}", "SF102")
        return None, checker.errors
    try:
        flag = m.FlagModel.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(p for p in err["loc"]
                         if not (isinstance(p, str) and p.startswith(("function-after", "function-before"))))
            path = _clean_union_path(path)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                hint = did_you_mean(str(path[-1]), _FIELDS.get(len(path), ()))
                checker.error(path, f"unknown field {path[-1]!r}", "SF102",
                              hint=f"did you mean {hint!r}?" if hint else None)
            elif err["type"] == "missing":
                checker.error(path, f"missing required field {path[-1]!r}", "SF102")
            elif err["type"] == "union_tag_invalid":
                given = err["input"]
                checker.error(path, f"unknown condition op {given.get('op')!r}" if isinstance(given, dict) else msg,
                              "SF102")
            else:
                given = err.get("input")
                checker.error(path, msg, "SF102", None if isinstance(given, (dict, list)) else given)
        return None, checker.errors
    checker.flag(flag)
    if checker.errors:
        return None, checker.errors
    return build_spec(rel, key, flag, loc), []


_FIELDS: dict[int, tuple[str, ...]] = {1: (*m.FlagModel.model_fields, "schema")}


def _clean_union_path(path: tuple[Any, ...]) -> FieldPath:
    """Drop the union member names pydantic puts in error paths
    (`overrides.0.when.in.values` -> `overrides.0.when.values`)."""
    tags = {"ServeValue", "ServeVariant", "ServeSplit"} | set(OPS)
    out: list[str | int] = []
    for i, p in enumerate(path):
        prev = path[i - 1] if i else None
        after_of = isinstance(prev, int) and i >= 2 and path[i - 2] == "of"
        if isinstance(p, str) and p in tags and (prev in ("when", "scope", "serve") or after_of):
            continue
        out.append(p)
    return tuple(out)


def _fmt(path: FieldPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) < 60 else text[:57] + "..."


# --- to protobuf ------------------------------------------------------------

def build_spec(rel: str, key: str, flag: m.FlagModel, loc: Locator) -> spec_pb2.FlagSpec:
    t = flag.type
    line, col = loc.start()
    spec = spec_pb2.FlagSpec(
        key=key, type=FLAG_TYPES[t], kind=KINDS[flag.kind], owner=flag.owner, co_owners=flag.co_owners,
        description=flag.description, expires=flag.expires or "", tags=flag.tags, enabled=flag.enabled,
        default=to_value(t, flag.default), location=common_pb2.Location(file=rel, line=line, column=col),
        fully_rolled_out_since=flag.fully_rolled_out_since or "",
    )
    for v in flag.variants:
        spec.variants.add(name=v.name, value=to_value(t, v.value), description=v.description)
    for i, o in enumerate(flag.overrides):
        ln, cl = loc.locate(("overrides", i))
        spec.overrides.add(
            when=_condition(t, o.when, loc, rel), serve=_serve(t, o.serve), description=o.description,
            location=common_pb2.Location(file=rel, line=ln, column=cl),
        )
    if flag.rollout is not None:
        r = flag.rollout
        ln, cl = loc.locate(("rollout",))
        serve = _serve(t, r.serve) if r.serve is not None else spec_pb2.Serve(value=common_pb2.Value(bool_value=True))
        ro = spec.rollout
        ro.template, ro.stage, ro.unit, ro.salt = r.template, r.stage, r.unit, r.salt or ""
        ro.serve.CopyFrom(serve)
        ro.location.CopyFrom(common_pb2.Location(file=rel, line=ln, column=cl))
        sl, sc = loc.find_field("stage") or (ln, cl)
        ro.stage_location.CopyFrom(common_pb2.Location(file=rel, line=sl, column=sc))
        for st in r.stages:
            stage = ro.stages.add(name=st.name, percent=st.percent, not_before=st.not_before or "",
                                  bake=st.bake or "")
            if st.scope is not None:
                stage.scope.CopyFrom(_condition(t, st.scope, loc, rel))
            # A ramp template writes its stages; the flag file names only the
            # ramp, so a stage is located at its scope, else at the rollout.
            where = stage.scope.location if st.scope is not None else ro.location
            stage.location.CopyFrom(where)
    for i, p in enumerate(flag.prerequisites):
        ln, cl = loc.locate(("prerequisites", i, "flag"), p.flag)
        spec.prerequisites.add(flag=p.flag, value=_loose_value(p.value),
                               location=common_pb2.Location(file=rel, line=ln, column=cl))
    for i, req in enumerate(flag.requires):
        ln, cl = loc.locate(("requires", i, "service"), req.service)
        spec.requires.add(service=req.service, min_version=req.min_version,
                          location=common_pb2.Location(file=rel, line=ln, column=cl))
    if flag.bounds is not None:
        b = flag.bounds
        spec.bounds.CopyFrom(spec_pb2.Bounds(has_min=b.min is not None, min=b.min or 0.0,
                                             has_max=b.max is not None, max=b.max or 0.0))
    if flag.schema_ is not None:
        spec.json_schema = canonical_json(flag.schema_)
    for s in flag.suppress:
        spec.suppressions.add(code=s.code, reason=s.reason)
    return spec


def _condition_location(c: Any, loc: Locator, rel: str) -> common_pb2.Location:
    """A leaf is where its first value or its dimension is written; a
    combination is where its first located leaf is."""
    found: tuple[int, int] | None = None
    if isinstance(c, (m.AllAnyCond, m.NotCond)):
        for sub in c.of:
            inner = _condition_location(sub, loc, rel)
            if inner.line:
                return inner
    elif isinstance(c, m.InCond):
        found = loc.find_literal(c.values[0]) or loc.find_dim(c.dim)
    elif isinstance(c, (m.CompareCond, m.MatchCond)):
        found = loc.find_literal(c.value) or loc.find_dim(c.dim)
    elif isinstance(c, (m.PresentCond, m.PercentCond)):
        found = loc.find_dim(c.dim)
    elif isinstance(c, m.FlagCond):
        found = loc.find_literal(c.flag)
    line, col = found or (0, 0)
    return common_pb2.Location(file=rel, line=line, column=col)


def _loose_value(value: Any) -> common_pb2.Value:
    """A value whose type is the other flag's, not known here."""
    if isinstance(value, (dict, list)) or value is None:
        return common_pb2.Value(json_value=canonical_json(value))
    if isinstance(value, float) and value.is_integer():
        return common_pb2.Value(int_value=int(value))
    return to_value("", value)


def _serve(flag_type: str, serve: Any) -> spec_pb2.Serve:
    if isinstance(serve, m.ServeValue):
        return spec_pb2.Serve(value=to_value(flag_type, serve.value))
    if isinstance(serve, m.ServeVariant):
        return spec_pb2.Serve(variant=serve.variant)
    s = serve.split
    return spec_pb2.Serve(
        split=spec_pb2.Split(unit=s.unit, salt=s.salt or "",
                             arms=[spec_pb2.SplitArm(variant=a.variant, weight=a.weight) for a in s.arms])
    )


def _condition(flag_type: str, c: Any, loc: Locator, rel: str) -> spec_pb2.Condition:
    out = spec_pb2.Condition(op=OPS[c.op])
    out.location.CopyFrom(_condition_location(c, loc, rel))
    if isinstance(c, (m.AllAnyCond, m.NotCond)):
        out.of.extend(_condition(flag_type, sub, loc, rel) for sub in c.of)
    elif isinstance(c, m.InCond):
        out.dim = c.dim
        out.values.extend(_loose_value(v) for v in c.values)
    elif isinstance(c, m.CompareCond):
        out.dim = c.dim
        out.value.CopyFrom(_loose_value(c.value))
    elif isinstance(c, m.MatchCond):
        out.dim, out.ignore_case = c.dim, c.ignore_case
        out.value.CopyFrom(common_pb2.Value(string_value=c.value))
    elif isinstance(c, m.PresentCond):
        out.dim = c.dim
    elif isinstance(c, m.PercentCond):
        out.dim, out.percent, out.salt = c.dim, c.percent, c.salt or ""
    elif isinstance(c, m.FlagCond):
        out.flag = c.flag
        out.value.CopyFrom(_loose_value(c.value))
    return out
