"""Numbered test bundles for delivery tests, built with the SDK tests'
protobuf builder (tests/sdk/bundles.py) so no compiler is needed."""
from __future__ import annotations

from tests.helpers.builder import Builder, Json


def numbered(n: int, *, revision: str | None = None, format_version: int = 1) -> bytes:
    """Bundle number n: `t.n` serves n, `t.name` serves "v<n>", so a test can
    tell versions apart; one flag of every type."""
    b = Builder()
    flags = [
        b.flag("t.n", "int", [n]),
        b.flag("t.on", "bool", [True]),
        b.flag("t.name", "string", [f"v{n}"]),
        b.flag("t.ratio", "float", [n / 2]),
        b.flag("t.cfg", "json", [Json({"n": n})]),
    ]
    return b.data(flags, format_version=format_version, source_revision=revision or f"rev-{n}")
