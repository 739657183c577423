"""A reference interpreter over the semantic FlagSpec.

It reads the flag the way its author wrote it (overrides, rollout stages,
prerequisites, requirements) and follows docs/flag-schema.md's evaluation
order directly, without the lowering. Tests check that the compiled trees
agree with it on random flags and contexts; it is deliberately simple.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import re2  # type: ignore[import-untyped]

from safeflags.compile.config import DimensionConfig
from safeflags.sdk.kernel import semver, timestamps
from safeflags.sdk.kernel.bucketing import bucket, percent_to_bound, unit_key
from safeflags.v1 import common_pb2, spec_pb2

C = spec_pb2.Condition
MAX_DEPTH = 32


def py_value(v: common_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind is None:
        return None
    raw = getattr(v, kind)
    return json.loads(raw) if kind == "json_value" else raw


def _same(a: Any, b: Any) -> bool:
    """Equality that never confuses bool with int (True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


class Reference:
    def __init__(self, specs: Mapping[str, spec_pb2.FlagSpec], dims: Mapping[str, DimensionConfig]):
        self.specs = specs
        self.dims = dims

    def evaluate(self, key: str, ctx: Mapping[str, Any], depth: int = 0) -> tuple[Any, str]:
        """(value, reason) with reason one of DISABLED, DEFAULT, TARGETING_MATCH, SPLIT."""
        spec = self.specs[key]
        default = py_value(spec.default)
        if not spec.enabled:
            return default, "DISABLED"
        for p in spec.prerequisites:
            if not self._flag_is(p.flag, py_value(p.value), ctx, depth):
                return default, "DEFAULT"
        for req in spec.requires:
            # Met in a process of another (known) service, or where the
            # version is new enough; an unknown service with an old or
            # unknown version keeps the gate closed.
            service = ctx.get("service")
            other = service is not None and not (isinstance(service, str) and service == req.service)
            have = ctx.get("service_version")
            have_key = semver.parse(have) if isinstance(have, str) else None
            want_key = semver.parse(req.min_version)
            new_enough = have_key is not None and want_key is not None and have_key >= want_key
            if not (other or new_enough):
                return default, "DEFAULT"
        for o in spec.overrides:
            if self.cond(o.when, spec.key, ctx, depth):
                served = self._serve(spec, o.serve, ctx)
                if served is not None:
                    return served[0], ("SPLIT" if served[1] else "TARGETING_MATCH")
        if spec.HasField("rollout") and spec.rollout.stage > 0:
            r = spec.rollout
            stage = r.stages[r.stage - 1]
            in_scope = not stage.HasField("scope") or self.cond(stage.scope, spec.key, ctx, depth)
            if in_scope and (stage.percent >= 100
                             or self._bucket_below(r.salt or spec.key, ctx.get(r.unit), stage.percent)):
                served = self._serve(spec, r.serve, ctx)
                if served is not None:
                    return served[0], "SPLIT"
        return default, "DEFAULT"

    def _flag_is(self, key: str, want: Any, ctx: Mapping[str, Any], depth: int) -> bool:
        if key not in self.specs or depth >= MAX_DEPTH:
            return False
        got, _ = self.evaluate(key, ctx, depth + 1)
        return _same(got, want)

    def _bucket_below(self, salt: str, unit: Any, percent: float) -> bool:
        u = unit_key(unit)
        return u is not None and bucket(salt, u) < percent_to_bound(percent)

    def _serve(self, spec: spec_pb2.FlagSpec, serve: spec_pb2.Serve, ctx: Mapping[str, Any]) -> tuple[Any, bool] | None:
        """(value, was_split), or None when a split has no unit in ctx."""
        variants = {v.name: py_value(v.value) for v in spec.variants}
        kind = serve.WhichOneof("kind")
        if kind == "value":
            return py_value(serve.value), False
        if kind == "variant":
            return variants[serve.variant], False
        s = serve.split
        u = unit_key(ctx.get(s.unit))
        if u is None:
            return None
        b = bucket(s.salt or spec.key, u)
        upper = 0.0
        for arm in s.arms:
            upper += arm.weight
            if b < percent_to_bound(upper):
                return variants[arm.variant], True
        return variants[s.arms[-1].variant], True

    def cond(self, c: spec_pb2.Condition, flag_key: str, ctx: Mapping[str, Any], depth: int) -> bool:
        op = c.op
        if op == C.OP_ALWAYS:
            return True
        if op == C.OP_NEVER:
            return False
        if op == C.OP_ALL:
            return all(self.cond(x, flag_key, ctx, depth) for x in c.of)
        if op == C.OP_ANY:
            return any(self.cond(x, flag_key, ctx, depth) for x in c.of)
        if op == C.OP_NOT:
            return not self.cond(c.of[0], flag_key, ctx, depth)
        if op == C.OP_FLAG:
            return self._flag_is(c.flag, py_value(c.value), ctx, depth)
        got = ctx.get(c.dim)
        if got is None:
            return False
        dtype = self.dims[c.dim].type
        if op == C.OP_PRESENT:
            return True
        if op == C.OP_PERCENT:
            return self._bucket_below(c.salt or flag_key, got, c.percent)
        if op in (C.OP_IN, C.OP_NOT_IN):
            member = any(self._equal(dtype, got, py_value(v)) for v in c.values)
            # not_in: present and not a member (a wrongly typed value is a non-member)
            return member if op == C.OP_IN else not member
        if op in (C.OP_LT, C.OP_LE, C.OP_GT, C.OP_GE):
            a, b = self._ordered(dtype, got), self._ordered(dtype, py_value(c.value))
            if a is None or b is None:
                return False
            return {C.OP_LT: a < b, C.OP_LE: a <= b, C.OP_GT: a > b, C.OP_GE: a >= b}[op]
        if not isinstance(got, str):
            return False
        pattern = c.value.string_value
        text, pat = (got.casefold(), pattern.casefold()) if c.ignore_case else (got, pattern)
        if op == C.OP_PREFIX:
            return text.startswith(pat)
        if op == C.OP_SUFFIX:
            return text.endswith(pat)
        if op == C.OP_CONTAINS:
            return pat in text
        options = re2.Options()
        options.case_sensitive = not c.ignore_case  # regexes have RE2's semantics (docs/flag-schema.md)
        return re2.search(pattern, got, options) is not None

    def _equal(self, dtype: str, got: Any, want: Any) -> bool:
        if dtype in ("semver", "timestamp"):
            a, b = self._ordered(dtype, got), self._ordered(dtype, want)
            return a is not None and a == b
        return _same(got, want)

    def _ordered(self, dtype: str, value: Any) -> Any:
        if dtype in ("int", "float"):
            return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if dtype == "semver":
            return semver.parse(value) if isinstance(value, str) else None
        if dtype == "timestamp":
            return None if isinstance(value, bool) else timestamps.to_epoch(value)
        return None
