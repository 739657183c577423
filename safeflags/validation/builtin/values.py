"""SF107 and SF108: every value a flag can serve satisfies its declared
bounds or JSON Schema. The compiler checks types; these check meaning."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from safeflags.sdk.values import decoded
from safeflags.validation.api import Context, FlagSpec, FlagValidator
from safeflags.validation.finding import Finding


@dataclass(frozen=True)
class Served:
    what: str  # "default", "variant 'x'", "override 2", "the rollout"
    value: Any
    line: int | tuple[int, int]


def served_values(flag: FlagSpec, ctx: Context, *, base: bool = False) -> Iterator[Served]:
    """Every literal value the flag can serve, with the best line for it.
    Variants served by name are checked once, as variants."""
    yield Served("the default", decoded(flag.default), ctx.field(flag, "default", base=base))
    for v in flag.variants:
        value = decoded(v.value)
        # A structured value has no one literal to point at: its variant entry stands in.
        line = (ctx.field(flag, "variants", base=base) if isinstance(value, (dict, list))
                else ctx.literal(flag, value, base=base))
        yield Served(f"variant {v.name!r}", value, line)
    for i, o in enumerate(flag.overrides):
        if o.serve.WhichOneof("kind") == "value":
            yield Served(f"override {i + 1}", decoded(o.serve.value), int(o.location.line))
    if flag.HasField("rollout") and flag.rollout.serve.WhichOneof("kind") == "value":
        yield Served("the rollout", decoded(flag.rollout.serve.value), int(flag.rollout.location.line))


class OutOfBounds(FlagValidator):
    """Numeric bounds violated: a config value outside its declared `bounds`.

    **What it catches**: an int or float flag with `bounds: {min, max}` whose
    default, variant, override or rollout value lies outside them, and
    bounds whose `min` exceeds `max`.

    **Why**: bounds are the flag owner's statement of what the code can
    take (a timeout of 0 ms, a batch of a million); a value outside them is
    a typo or an unreviewed risk.

    **How to fix**: change the value, or widen the bounds in the same
    reviewed change if the new value is really safe.

    **Example**: `bounds: sf.bounds(min=100, max=30000)` with an override
    serving `50`.
    """

    code = "SF107"
    name = "out-of-bounds"

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        if not flag.HasField("bounds"):
            return
        b = flag.bounds
        if b.has_min and b.has_max and b.min > b.max:
            yield self.at(flag, f"bounds are empty: min {b.min:g} is above max {b.max:g}", ctx.field(flag, "bounds"))
            return
        for s in served_values(flag, ctx):
            if not isinstance(s.value, (int, float)) or isinstance(s.value, bool):
                continue
            if b.has_min and s.value < b.min:
                yield self.at(flag, f"{s.what} {s.value:g} is below the minimum {b.min:g}", s.line,
                              hint="change the value or the flag's bounds")
            elif b.has_max and s.value > b.max:
                yield self.at(flag, f"{s.what} {s.value:g} is above the maximum {b.max:g}", s.line,
                              hint="change the value or the flag's bounds")


class JsonSchemaViolation(FlagValidator):
    """JSON Schema violated: a json flag's value fails its declared `schema`.

    **What it catches**: a json flag with a `schema` whose default, variant,
    override or rollout value does not validate (Draft 2020-12), and a
    `schema` that is not itself a valid JSON Schema.

    **Why**: the schema is the contract with the code that parses the
    value; a violating value fails there, at run time, in production.

    **How to fix**: make the value conform, or change the schema together
    with the code that reads it.

    **Example**: `sample_rate: 2` against `{type: 'number', maximum: 1}`.
    """

    code = "SF108"
    name = "json-schema-violation"

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        if not flag.json_schema:
            return
        import jsonschema  # type: ignore[import-untyped]  # only repositories with json flags pay for it

        schema = json.loads(flag.json_schema)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            yield self.at(flag, f"the schema is not a valid JSON Schema: {exc.message}", ctx.field(flag, "schema"))
            return
        validator = cls(schema)
        for s in served_values(flag, ctx):
            errors = sorted(validator.iter_errors(s.value), key=lambda e: list(e.absolute_path))
            if errors:
                first = errors[0]
                where = "/".join(str(p) for p in first.absolute_path) or "(root)"
                more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                yield self.at(flag, f"{s.what} fails the flag's schema at {where}: {first.message}{more}", s.line)
