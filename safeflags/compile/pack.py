"""Stage 4: optimise and pack compiled flags into deterministic bundle bytes.

Rules are simplified (constants folded, all/any flattened, duplicates
dropped); a rule that can never match is removed and nothing after an
always-matching rule is kept. Strings used in set membership are interned
into one sorted table. Same sources, same bytes, same SHA-256.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from safeflags.sdk.nodes import Dispatch, kind_of
from safeflags.sdk.simplify import is_constant, simplify

# The format this compiler writes is the one the SDK of the same release reads.
from safeflags.sdk.snapshot import FORMAT_VERSION
from safeflags.v1 import bundle_pb2, common_pb2

Expr = bundle_pb2.Expr
StringSets = list[tuple[bundle_pb2.InSet, list[str]]]
"""Set-membership nodes holding string values, each with those values."""


def optimise(flag: bundle_pb2.CompiledFlag) -> bundle_pb2.CompiledFlag:
    out = bundle_pb2.CompiledFlag()
    out.CopyFrom(flag)
    del out.rules[:]
    for rule in flag.rules:
        when = simplify(rule.when)
        if is_constant(when, False):
            continue
        new = out.rules.add()
        new.CopyFrom(rule)
        new.when.CopyFrom(when)
        if kind_of(when) == "constant" and rule.WhichOneof("outcome") == "value":
            break  # always matches: later rules are unreachable
    return out


def _string_sets(flags: list[bundle_pb2.CompiledFlag]) -> StringSets:
    """Every set-membership node holding string values, with those values."""
    found: StringSets = []
    for flag in flags:
        for rule in flag.rules:
            stack = [rule.when]
            while stack:
                e = stack.pop()
                STRING_SETS.of(e)(e, stack, found)
    return found


def _in_strings(e: Expr, stack: list[Expr], found: StringSets) -> None:
    inset = getattr(e, "in")
    strings = [v.string_value for v in inset.values if v.WhichOneof("kind") == "string_value"]
    if strings:
        found.append((inset, strings))


def _no_strings(e: Expr, stack: list[Expr], found: StringSets) -> None:
    pass  # a leaf that holds no set of strings


STRING_SETS: Dispatch[Callable[[Expr, list[Expr], StringSets], None]] = Dispatch("pack.string_sets", {
    "constant": _no_strings,
    "all": lambda e, stack, found: stack.extend(e.all.items),
    "any": lambda e, stack, found: stack.extend(e.any.items),
    "not": lambda e, stack, found: stack.append(getattr(e, "not")),
    "in": _in_strings,
    "compare": _no_strings,
    "match": _no_strings,
    "present": _no_strings,
    "bucket": _no_strings,
    "flag": _no_strings,
})


def intern_strings(flags: list[bundle_pb2.CompiledFlag]) -> list[str]:
    """Move string set members into one table; returns the table. One walk
    over the trees: the nodes to rewrite are noted on the way."""
    sets = _string_sets(flags)
    table = sorted({s for _, strings in sets for s in strings})
    index = {s: i for i, s in enumerate(table)}
    for node, strings in sets:
        keep: list[common_pb2.Value] = [v for v in node.values if v.WhichOneof("kind") != "string_value"]
        ids = sorted(set(list(node.strings) + [index[s] for s in strings]))
        del node.values[:]
        node.values.extend(keep)
        del node.strings[:]
        node.strings.extend(ids)
    return table


def pack(
    flags: Iterable[bundle_pb2.CompiledFlag],
    dimensions: list[common_pb2.Dimension],
    source_revision: str,
    compiler_version: str,
    *,
    optimised: bool = False,
) -> tuple[bundle_pb2.Bundle, bytes, str]:
    """The bundle, its bytes and its digest (`sha256-<hex>`). `optimised`:
    the flags come from `optimise` already (the compiler does it per flag,
    in its workers, and caches the result); their string sets are then
    interned in place."""
    ordered = sorted(flags if optimised else (optimise(f) for f in flags), key=lambda f: f.key)
    strings = intern_strings(ordered)
    bundle = bundle_pb2.Bundle(
        format_version=FORMAT_VERSION,
        source_revision=source_revision,
        compiler_version=compiler_version,
        dimensions=dimensions,
        flags=ordered,
        strings=strings,
    )
    data = bundle.SerializeToString(deterministic=True)
    return bundle, data, "sha256-" + hashlib.sha256(data).hexdigest()
