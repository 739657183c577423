"""`DIM=VALUE` options (`--static`, `--ctx`) read against a bundle's catalog.

Each value is typed as its dimension reads it (ints, floats and bools are
parsed, the rest stay strings); an undeclared name is an error with a
did-you-mean, never a guess; an enum value outside the catalog is an error.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from safeflags.compile.suggest import did_you_mean
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.v1 import common_pb2

_NUMBERS = {common_pb2.DIMENSION_TYPE_INT: int, common_pb2.DIMENSION_TYPE_FLOAT: float}


class ContextError(SafeflagsError):
    """A `DIM=VALUE` option that does not fit the catalog (exit 2)."""


def parse_pairs(pairs: Iterable[str], dims: Mapping[str, common_pb2.Dimension], what: str, *,
                static_only: bool = False) -> dict[str, object]:
    """`pairs` as a context; with `static_only`, only static dimensions may be named."""
    out: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ContextError(f"{what} {pair!r}: expected NAME=VALUE")
        dim = dims.get(name)
        if dim is None:
            hint = did_you_mean(name, dims)
            raise ContextError(f"{what} {pair!r}: {name!r} is not a declared dimension"
                               + (f" (did you mean {hint!r}?)" if hint else ""))
        if static_only and not dim.static:
            known = ", ".join(sorted(d.name for d in dims.values() if d.static)) or "none"
            raise ContextError(f"{what} {pair!r}: {name!r} is not a static dimension (static dimensions: {known})")
        if dim.type == common_pb2.DIMENSION_TYPE_ENUM and dim.values and raw not in dim.values:
            hint = did_you_mean(raw, dim.values)
            raise ContextError(f"{what} {pair!r}: not one of {', '.join(dim.values)}"
                               + (f" (did you mean {hint!r}?)" if hint else ""))
        value: object = raw
        try:
            if dim.type in _NUMBERS:
                value = _NUMBERS[dim.type](raw)
            elif dim.type == common_pb2.DIMENSION_TYPE_BOOL:
                if raw not in ("true", "false"):
                    raise ValueError(raw)
                value = raw == "true"
        except ValueError:
            raise ContextError(f"{what} {pair!r}: {raw!r} is not a valid value for {name!r}") from None
        out[name] = value
    return out
