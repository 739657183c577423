"""The closed set of expression node kinds, read from the schema, and the
one way every walker over `Expr` dispatches on them.

`KINDS` comes from the `node` oneof of `safeflags.v1.Expr`'s descriptor, so
it is exactly what the generated code can hold. A walker declares one handler
per kind in a `Dispatch` table; the table is checked when it is built (at
import), so adding a node to the schema makes every walker that does not yet
handle it fail to import instead of silently skipping the new node.

A node whose oneof is unset, or set to a kind from a newer schema (protobuf
keeps it as an unknown field, so `WhichOneof` says None), raises the single
`UnknownNode` in every walker. It is a `FlagError`: in the SDK the flag that
holds it is broken and serves the code default (PARSE_ERROR), the rest of the
bundle keeps serving; on the compile side it is a bug of the lowering.
A walker that decides a node before reading all of its children (an `all`
with a false child, in evaluation or simplification) does not read the rest;
`check.py` reads every node, so a prepared flag never holds one.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from safeflags.sdk.details import FlagError
from safeflags.v1 import bundle_pb2

Expr = bundle_pb2.Expr

KINDS: tuple[str, ...] = tuple(f.name for f in Expr.DESCRIPTOR.oneofs_by_name["node"].fields)
"""Every node kind, in field-number order."""

H = TypeVar("H", bound=Callable[..., object], covariant=True)


class UnknownNode(FlagError):
    """An expression node no walker can read: its kind is unset, or is one
    this schema does not know (a bundle from a newer compiler)."""

    def __init__(self, expr: Expr, where: str = "") -> None:
        # An Expr holds nothing but the oneof: any bytes left are a newer kind.
        what = "expression node of a kind this schema does not know" if expr.ByteSize() else "empty expression node"
        super().__init__(f"{where}: {what}" if where else what)


def kind_of(expr: Expr) -> str:
    """The kind of `expr`, one of KINDS; UnknownNode when it has none."""
    kind = expr.WhichOneof("node")
    if kind is None:
        raise UnknownNode(expr)
    return kind


class Dispatch(Generic[H]):
    """One walker's handler for each node kind.

    Built with exactly the kinds in KINDS, or TypeError: a table is built at
    import, so a forgotten or misspelt kind stops the import. Dispatching is
    one dict lookup; generated code never sees it (codegen dispatches while
    it writes the source)."""

    __slots__ = ("_table", "kinds", "walker")

    def __init__(self, walker: str, handlers: Mapping[str, H]) -> None:
        missing = [k for k in KINDS if handlers.get(k) is None]
        extra = sorted(k for k in handlers if k not in KINDS)
        if missing or extra:
            raise TypeError(f"{walker}: handler table does not match the schema's node kinds "
                            f"(missing {missing}, unknown {extra})")
        self.walker = walker
        self.kinds: tuple[str, ...] = tuple(handlers)  # as the walker wrote them
        self._table: dict[str | None, H] = {k: h for k, h in handlers.items()}

    def of(self, expr: Expr) -> H:
        """The handler for `expr`'s kind; UnknownNode when it has none."""
        handler = self._table.get(expr.WhichOneof("node"))
        if handler is None:
            raise UnknownNode(expr)
        return handler

    def __repr__(self) -> str:
        return f"Dispatch({self.walker!r})"
